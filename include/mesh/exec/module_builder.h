// ModuleBuilder: runs a module's untrusted build steps in one-shot mesh-worker build processes
// (build_worker.h), never in the caller's process: Instrument (decode, validate, meter) in a
// seccomp-confined prepare process, Compile (wasm2c + the C compiler into the aot cache) in a
// compile process. Each process gets RLIMIT_AS and RLIMIT_CPU from BuildLimits and a wall-time
// deadline enforced here: past it, or on KillSwitch::Kill, the process's whole group (the
// compiler's processes included) gets SIGKILL and is reaped before the call returns. One
// process per call: its start-up costs a few milliseconds, and callers cache the results per
// module (module_cache.h, the aot cache), so a module is built once.
//
// Thread-safe: calls may run concurrently (each has its own process). KillSwitch is
// thread-safe; the caller owns it and keeps it alive for the call.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/exec/frame.h"
#include "mesh/wasm/instrumenter.h"

namespace mesh::exec {

class WorkerProcess;

struct BuildLimits {
  absl::Duration cpu_time;  // RLIMIT_CPU, rounded up to whole seconds (per process)
  absl::Duration wall_time;
  uint64_t memory_bytes;  // RLIMIT_AS
};

struct BuildOptions {
  std::string worker_path;       // the mesh-worker executable
  std::vector<std::string> env;  // compile processes' environment (e.g. PATH for the compiler)
  std::string aot_cache_dir;
  std::string aot_compiler;
  std::string aot_compiler_version;  // the pool's; empty: compile processes ask the compiler
  BuildLimits prepare{absl::Seconds(10), absl::Seconds(15), 1ull << 30};
  BuildLimits compile{absl::Seconds(60), absl::Seconds(120), 2ull << 30};
  uint64_t max_frame_bytes = kDefaultMaxFrameBytes;
};

// Stops a build from another thread: Kill() ends the running build process (and its group) at
// once, and any build started with this switch afterwards ends before it starts.
class KillSwitch {
 public:
  void Kill();
  bool killed() const;
  pid_t pid() const;  // the running build process, 0 when none

 private:
  friend class ModuleBuilder;
  bool Arm(WorkerProcess* process);  // false when already killed
  void Disarm();

  mutable absl::Mutex mu_;
  WorkerProcess* process_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool killed_ ABSL_GUARDED_BY(mu_) = false;
};

class ModuleBuilder {
 public:
  explicit ModuleBuilder(BuildOptions options) : options_(std::move(options)) {}

  // The instrumented module. InvalidArgument / Unimplemented as wasm::Instrument reports them;
  // ResourceExhausted naming the limit when the module needs more time or memory than
  // BuildLimits allow, Internal when the process crashed; Cancelled after `kill` (may be null)
  // fired; Unavailable when no process could be started.
  absl::StatusOr<wasm::InstrumentedModule> Instrument(std::string_view wasm,
                                                      KillSwitch* kill) const;
  // Compiles `module` into the aot cache. Errors as Instrument's; a compiler failure is
  // Internal with the compiler's message; FailedPrecondition when the compiler or cache
  // cannot be set up at all (not the module's fault).
  absl::Status Compile(const wasm::InstrumentedModule& module, KillSwitch* kill) const;

  const BuildOptions& options() const { return options_; }

 private:
  absl::StatusOr<std::string> Exchange(bool compile, std::string frame, KillSwitch* kill) const;

  const BuildOptions options_;
};

}  // namespace mesh::exec
