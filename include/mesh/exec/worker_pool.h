// WorkerPool: runs jobs in a pool of pre-spawned, sandboxed mesh-worker processes, reused
// across jobs (worker.h, sandbox.h, worker_process.h).
//
// Run() is blocking and may be called from many threads at once; when every worker is busy,
// callers wait for one. The calling thread talks to the worker itself (no dispatcher thread),
// so a tiny job costs one request/answer round trip on a Unix socket. RunAsync() queues the job
// for a few pool-owned threads and calls back when it is done.
//
// Untrusted build work never runs in the pool's process (module_builder.h): a module is
// decoded, validated and instrumented once per module id in a sandboxed, one-shot mesh-worker
// prepare process (CPU, memory and wall limits; a module that breaks them ends its job as
// kInvalidModule and is remembered), then sent to a worker only the first time it needs it.
// With the aot engine, compiling (wasm2c + the C compiler) runs in background compile
// processes, at most `compile_concurrency` at once, and jobs tier (compile_queue.h): a module
// runs on aot once compiled and on the interpreter until then (an aot worker runs both); a job
// waits for its module's compile at most min(a quarter of its wall limit, max_compile_wait),
// and not at all while that compile is queued; a module that fails to compile within its
// limits stays on the interpreter (remembered in the aot cache as <key>.failed). The run
// report's `engine` says which engine ran.
//
// Limits are enforced around each job: the wall-time deadline is the pool's (on expiry the
// worker gets SIGKILL, is reaped and replaced, and the job ends as kTimeout); the CPU-time
// budget is the worker's RLIMIT_CPU (a backstop for when the pool cannot act: SIGXCPU ends the
// worker, kTimeout). A worker that dies or breaks the protocol ends its job as kCrashed, naming
// the signal or exit status, and is replaced; callers never hang on a dead worker.
//
// Progress: a request whose input has an on_progress callback gets the job's progress reports
// while it runs, on the calling thread (for RunAsync, the pool thread that will call back),
// always before Run returns. The worker sends at most one report per 50 ms, but always the
// first and the first at 100%; the RunResult's report holds them all (up to JobHost's cap).
//
// Cancellation: a request with a non-zero tag can be cancelled with Cancel(tag). A job still
// queued (RunAsync), being prepared (its prepare process is killed), waiting for a compile (a
// compile it started is killed unless another job waits for it) or waiting for a worker ends
// with Cancelled ("before it started") at once; a running job's worker gets SIGKILL, is reaped and
// replaced, and the job ends with Cancelled ("while running"). A cancel that crosses the job's
// normal end is harmless: the caller gets the result, and the worker is replaced if the kill may
// have reached it.
//
// Shutdown() stops taking work, kills every prepare and compile process group at once, lets
// running jobs finish within a grace period, kills what is left and reaps every worker. The
// destructor shuts down with no grace period. The pool owns its worker processes and never leaves
// one unreaped. Thread-safe; do not call Shutdown or destroy the pool from a RunAsync callback.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/exec/compile_queue.h"
#include "mesh/exec/frame.h"
#include "mesh/exec/protocol.h"
#include "mesh/exec/sandbox.h"
#include "mesh/wasm/engine.h"
#include "mesh/wasm/job_host.h"
#include "mesh/wasm/limits.h"

namespace mesh::exec {

struct PoolOptions {
  std::string worker_path;  // the mesh-worker executable (required)
  int workers = 0;          // 0 = std::thread::hardware_concurrency()
  // kAuto: aot when a C compiler is available, else interp (engine_factory.h).
  wasm::EngineKind engine = wasm::EngineKind::kAuto;
  std::string aot_cache_dir;    // empty: engine_factory.h's DefaultAotCacheDir()
  std::string aot_compiler;     // empty: $CC, else cc
  wasm::Limits default_limits;  // for requests without limits
  // Worker rlimits (sandbox.h explains the defaults).
  uint64_t address_space_bytes = kDefaultAddressSpaceBytes;
  uint64_t max_open_files = kDefaultMaxOpenFiles;
  // Per-job CPU-time budget (RLIMIT_CPU, whole seconds, rounded up). Zero: the job's wall time
  // plus one second, so the pool's wall-time kill normally comes first.
  absl::Duration cpu_time_limit = absl::ZeroDuration();
  uint64_t max_frame_bytes = kDefaultMaxFrameBytes;
  uint64_t worker_module_cache_bytes = 256ull << 20;
  // Large job inputs go to workers as shared memory (shared_input.h): the pool's memfds, and
  // what each worker keeps mapped, by CID.
  uint64_t shared_input_bytes = 256ull << 20;
  uint64_t worker_input_cache_bytes = 128ull << 20;
  uint64_t module_cache_bytes = 512ull << 20;  // the pool's instrumented modules
  absl::Duration startup_timeout = absl::Seconds(10);
  bool inherit_stderr = true;  // workers' stderr: the pool's (start-up errors) or /dev/null
  bool enable_test_hooks = false;
  // Build processes (module_builder.h). Preparing (decode, validate, instrument) a module:
  absl::Duration prepare_cpu_time = absl::Seconds(10);
  absl::Duration prepare_wall_time = absl::Seconds(15);
  uint64_t prepare_memory_bytes = 1ull << 30;
  // Compiling a module for aot (wasm2c + the C compiler; the CPU budget is per process):
  absl::Duration compile_cpu_time = absl::Seconds(60);
  absl::Duration compile_wall_time = absl::Seconds(120);
  uint64_t compile_memory_bytes = 2ull << 30;
  int compile_concurrency = 0;  // compiles at once; 0 = max(1, cores / 2)
  // The longest a job waits for its module's compile before running on the interpreter (it
  // also waits at most a quarter of its wall limit).
  absl::Duration max_compile_wait = absl::Seconds(10);
};

struct RunRequest {
  std::string module_id;  // the module's CID: names it in the caches
  // The module's bytes. Shared: the caller and the queued or running job read the same
  // immutable bytes, and the pool touches them only when it has not instrumented the id yet.
  // The pool trusts that `module_id` names these bytes (it does not re-hash per job).
  std::shared_ptr<const std::string> module_wasm;
  wasm::JobInput input;
  std::optional<wasm::Limits> limits;  // nullopt: PoolOptions::default_limits
  // kAuto: the pool's engine. Naming another engine than the pool runs is InvalidArgument.
  wasm::EngineKind engine = wasm::EngineKind::kAuto;
  // The caller's name for the job, for Cancel(); 0 = not cancellable. Tags should be unique
  // among the jobs in the pool at one time: Cancel ends every job with the tag.
  uint64_t tag = 0;
  // Called on the calling thread with true when the job starts waiting for its module's aot
  // compile (compile_queue.h) or for the preparation of a large new module (128 KiB or more;
  // smaller ones take milliseconds), and with false once, before it waits for a worker, when
  // that wait is over. Such a job holds no worker: a caller that bounds how many jobs it runs
  // at once may start another meanwhile (the compute service does, so a module that keeps the
  // compiler busy never holds a node's slot).
  std::function<void(bool waiting)> on_build_wait;
};

struct PoolStats {
  int workers = 0;            // live worker processes
  int busy = 0;               // workers running a job now
  uint64_t jobs_started = 0;  // requests delivered to a worker
  uint64_t jobs_finished = 0;
  uint64_t timeouts = 0;
  uint64_t crashes = 0;
  uint64_t cancelled = 0;        // jobs ended by Cancel(), queued, waiting or running (not crashes)
  uint64_t workers_spawned = 0;  // including the initial ones
  CompileStats compiles;         // aot pools
};

class WorkerPool {
 public:
  using Callback = std::function<void(absl::StatusOr<wasm::RunResult>)>;

  // Spawns every worker and waits for each to report its sandbox in place. Fails with the
  // first worker's reason if they cannot start.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Start(PoolOptions options);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs one job. What the job did is in the RunResult (outcome, message); a Status error
  // means the job could not be run: InvalidArgument (bad request), Unavailable (shut down, or
  // no worker could be started), or the engine's own error.
  absl::StatusOr<wasm::RunResult> Run(RunRequest request);
  // Runs `request` on a pool thread and calls `done` there, once. After Shutdown, `done` is
  // called at once with Unavailable; for a job cancelled while queued, in Cancel().
  void RunAsync(RunRequest request, Callback done);

  // Cancels the jobs tagged `tag` (RunRequest::tag): a queued RunAsync job is taken off the
  // queue and its callback called here, with Cancelled; a job being prepared or waiting for a
  // worker returns Cancelled from its Run once it notices (at once if it is waiting); a running
  // job's worker is killed, and its Run returns Cancelled. False if no job with the tag is
  // queued, waiting or running (tag 0 never is). Does not wait for a running job to end.
  bool Cancel(uint64_t tag);

  // Idempotent; concurrent callers all return once the pool is down.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

  wasm::EngineKind engine() const { return engine_; }
  PoolStats stats() const;
  std::vector<pid_t> WorkerPids() const;
  // The running compile processes (each leads a process group with its compiler).
  std::vector<pid_t> CompilePidsForTesting() const;

  // Sends a test hook (protocol.h) to an idle worker; needs enable_test_hooks.
  absl::StatusOr<wasm::RunResult> RunTestHookForTesting(TestHook hook);

 private:
  class Impl;
  explicit WorkerPool(std::unique_ptr<Impl> impl, wasm::EngineKind engine);

  std::unique_ptr<Impl> impl_;
  wasm::EngineKind engine_;
};

}  // namespace mesh::exec
