// MESH_CHECK: aborts with a message on a broken invariant (a bug, never bad input: bad input
// returns a Status). Debian's abseil 20220623 predates absl/log, hence this small macro.
#pragma once

#include <cstdio>
#include <cstdlib>

#define MESH_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)
