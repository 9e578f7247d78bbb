#include "mesh/common/malloc_tuning.h"

#include <cstdlib>  // Defines __GLIBC__ on glibc.

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mesh {

bool TuneMalloc() {
#if defined(__GLIBC__)
  const bool trim = mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1;
  const bool mmap = mallopt(M_MMAP_THRESHOLD, 4 << 20) == 1;
  return trim && mmap;
#else
  return true;  // Other allocators manage this themselves.
#endif
}

}  // namespace mesh
