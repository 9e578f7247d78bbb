// Where the exec module turns an EngineKind into engines: the single switch point between the
// WABT interpreter and the wasm2c (aot) engine.
//  - ResolveEngineKind: what kAuto means on this machine (the pool resolves it once at start);
//  - CreateEngine: the engine a worker process runs jobs with, created before its sandbox;
// Compiling for aot is not here: the pool runs it in build processes (module_builder.h).
// Free functions are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "mesh/wasm/engine.h"
#include "mesh/wasm/instrumenter.h"

namespace mesh::exec {

struct EngineOptions {
  // Where the aot engine keeps compiled modules. The pool fills in DefaultAotCacheDir() when
  // empty: workers have no environment to find a default from.
  std::string aot_cache_dir;
  // The C compiler command for aot; empty: $CC, else cc. Workers must see the same compiler as
  // the pool (it is part of the cache key), so the pool passes its own choice on.
  std::string aot_compiler;
  // Its `--version` line as the pool asked it (empty: ask the compiler): one exec per node.
  std::string aot_compiler_version;
};

// The aot engine's default cache directory: $XDG_CACHE_HOME/mesh/aot, else
// $HOME/.cache/mesh/aot; empty when neither is set.
std::string DefaultAotCacheDir();

// kAuto becomes aot when a C compiler is available, else interp; other kinds are unchanged.
wasm::EngineKind ResolveEngineKind(wasm::EngineKind kind, const EngineOptions& options);

// Whether `kind` (resolved) maps executable code and opens files read-only at run time (the aot
// engine dlopen()s compiled modules); the worker's seccomp filter follows this.
bool EngineLoadsNativeCode(wasm::EngineKind kind);

// The engine of a worker process. For aot it only loads modules the pool prepared.
// FailedPrecondition naming the fix when the engine cannot work here (e.g. no C compiler).
absl::StatusOr<std::unique_ptr<wasm::Engine>> CreateEngine(wasm::EngineKind kind,
                                                           const EngineOptions& options);

// The mesh-worker executable: $MESH_WORKER, else next to the running executable (mesh, meshd).
absl::StatusOr<std::string> DefaultWorkerPath();

}  // namespace mesh::exec
