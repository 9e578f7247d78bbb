// The `aot` engine: a job module is translated to C by WABT's wasm2c, compiled by the system C
// compiler (-O2 -ffp-contract=off, never -ffast-math) into a shared object, loaded with dlopen
// and run natively. Gas metering is in the module (see instrumenter.h), so fuel and output are
// bit-identical to the `interp` engine; speed is within ~2x of a native build.
//
// Compiled objects are cached on disk under AotOptions::cache_dir, keyed by the instrumented
// module, the compiler and its version, the flags, the WABT version and the glue ABI. A module
// is compiled once even when many threads or processes ask for it at the same time (a mutex per
// key in the process, flock(2) across processes); a corrupted cache entry is detected by its
// SHA-256 and rebuilt. Whoever can write the cache directory can run code in the worker: it is
// created 0700 and must not be shared between users.
//
// Process-wide constraints, inherited from the wasm2c runtime (its trap jmp_buf and SIGSEGV
// handler are globals): one module instance runs at a time per process (runs are serialised);
// a linear memory reserves 8 GiB of address space (guard pages, so bounds checks cost nothing),
// which RLIMIT_AS must allow; the runtime's SIGSEGV/SIGBUS handler is installed only while a job
// runs. The executable must export the runtime's wasm_rt_* symbols, which linking mesh::wasm
// arranges (--dynamic-list). Loaded modules stay mapped until the process exits.
//
// Compiling is untrusted work (a small module can cost minutes and GiBs of wasm2c and gcc): the
// worker pool never calls Prepare in its own process; it runs it in a mesh-worker compile
// process under CPU, memory and wall limits (exec/build_worker.h), records modules that fail to
// compile as <key>.failed, and runs modules on the interpreter until their compile is done.
//
// AotEngine is thread-safe; Run calls from many threads serialise on the process-wide lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mesh/wasm/engine.h"

namespace mesh::wasm {

struct AotOptions {
  // Where compiled modules live, e.g. <data-dir>/cache/aot. Empty: $XDG_CACHE_HOME/mesh/aot or
  // $HOME/.cache/mesh/aot.
  std::string cache_dir;
  // The C compiler command (may carry arguments, e.g. "ccache gcc"). Empty: $CC, else `cc`.
  std::string compiler;
  // false: Run only loads modules already in the cache (FailedPrecondition otherwise). For
  // sandboxed workers, which may not spawn a compiler or write files, and for the pool, which
  // only asks the cache: compile processes (exec/build_worker.h) call Prepare().
  bool allow_compile = true;
  // The first line of `<compiler> --version` (part of the cache key), when a parent process
  // has asked it already: workers get the pool's, so a node execs `cc --version` once, and all
  // its processes agree on the keys. Empty: Create asks the compiler.
  std::string compiler_version;
};

struct AotStats {
  uint64_t compilations = 0;  // modules this engine translated and compiled
  uint64_t disk_hits = 0;     // modules found compiled in the cache directory
  uint64_t rebuilds = 0;      // cache entries found corrupted and compiled again
};

class AotEngine : public Engine {
 public:
  // FailedPrecondition naming the fix when no usable C compiler is found or the cache directory
  // cannot be created.
  static absl::StatusOr<std::unique_ptr<AotEngine>> Create(const AotOptions& options);

  // Compiles `module` into the cache unless it is there already, without running it, so a node
  // can warm the cache before jobs arrive. InvalidArgument when wasm2c rejects the module.
  virtual absl::Status Prepare(const InstrumentedModule& module) = 0;
  virtual AotStats stats() const = 0;
  // The compiler version in this engine's cache keys (AotOptions::compiler_version).
  virtual const std::string& compiler_version() const = 0;

  // Tiering support for the worker pool, which compiles in separate processes and asks the
  // cache only what is there: whether `module` is compiled (verified; never compiles), the
  // failure recorded for it (the text of <key>.failed, written by RecordCompileFailure), and
  // recording one.
  virtual bool IsCompiled(const InstrumentedModule& module) const = 0;
  virtual std::optional<std::string> RecordedFailure(const InstrumentedModule& module) const = 0;
  virtual absl::Status RecordCompileFailure(const InstrumentedModule& module,
                                            std::string_view reason) const = 0;
};

// True when a C compiler for `options` is on PATH: `auto` then means aot.
bool AotAvailable(const AotOptions& options);

// kInterp, kAot, or kAuto (aot when AotAvailable, else interp).
absl::StatusOr<std::unique_ptr<Engine>> MakeEngine(EngineKind kind, const AotOptions& options);

}  // namespace mesh::wasm
