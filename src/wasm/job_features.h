// The WASM features a job may use, shared by everything that decodes a job module (the
// instrumenter, both engines, the fuzzer) so they can never disagree. SIMD, threads,
// exceptions, tail calls, memory64 and multi-memory are off: they are nondeterministic across
// hosts or not supported by both engines. Private to the wasm module; header-only.
#pragma once

#include <wabt/feature.h>

namespace mesh::wasm {

inline wabt::Features JobFeatures() {
  wabt::Features f;
  f.disable_simd();
  f.disable_threads();
  f.disable_exceptions();
  f.disable_tail_call();
  f.disable_memory64();
  f.disable_multi_memory();
  return f;
}

}  // namespace mesh::wasm
