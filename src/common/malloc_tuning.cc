#include "mesh/common/malloc_tuning.h"

#include <cstdlib>  // Defines __GLIBC__ on glibc.

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mesh {

bool UseOneMallocArena() {
#if defined(__GLIBC__)
  return mallopt(M_ARENA_MAX, 1) == 1;
#else
  return true;  // Other allocators do not keep glibc's per-thread arenas.
#endif
}

}  // namespace mesh
