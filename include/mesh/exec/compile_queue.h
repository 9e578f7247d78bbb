// CompileQueue: the worker pool's background aot compiles, and the tiering decision of each
// job (which engine runs it). Policy, per module id:
//  - compiled (in this pool's memory, or verified in the aot cache): aot;
//  - failed before (in memory for the pool's life, and on disk as the cache's <key>.failed
//    marker written with the limits it failed under, so a restarted node does not retry a
//    hostile module; changing the compile limits retries it): interp;
//  - otherwise the compile is started (or joined) and the job waits for it at most `max_wait`
//    (the pool passes min(a quarter of the job's wall limit, a cap)), and not at all while the
//    compile is queued behind others; then it runs on interp while the compile continues, and
//    later jobs use the compiled code.
// At most `max_concurrent` compiles run at once, each in a ModuleBuilder compile process; the
// rest wait in FIFO order. Cancel(tag) ends the waits of the jobs with that tag at once and
// kills (or unqueues) a compile that such a job started, unless another job waits on it;
// Shutdown kills every compile process group at once and answers every wait with Unavailable.
// Thread-safe; owns its compile threads (joined by Shutdown or the destructor).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/exec/module_builder.h"
#include "mesh/wasm/aot_engine.h"
#include "mesh/wasm/engine.h"

namespace mesh::exec {

struct CompileStats {
  uint64_t started = 0;   // compile processes run
  uint64_t compiled = 0;  // of them, succeeded
  uint64_t failed = 0;    // of them, failed within their limits (remembered)
  uint64_t killed = 0;    // of them, killed by a cancel or shutdown (not remembered)
  int running = 0;
  int queued = 0;
};

class CompileQueue {
 public:
  // `builder` runs the compiles; `cache` (allow_compile false is enough) answers what the aot
  // cache holds and keeps the failure markers. Both must outlive the queue.
  CompileQueue(const ModuleBuilder* builder, const wasm::AotEngine* cache, int max_concurrent);
  ~CompileQueue();
  CompileQueue(const CompileQueue&) = delete;
  CompileQueue& operator=(const CompileQueue&) = delete;

  // The engine for a job of `module_id` (kAot or kInterp), per the policy above. Cancelled when
  // Cancel(tag) came during the wait (tag 0: not cancellable), Unavailable once shut down.
  // `before_wait` (may be empty) is called, without the queue's lock, just before the job
  // starts to wait for the compile; not at all when it does not wait.
  absl::StatusOr<wasm::EngineKind> Choose(const std::string& module_id,
                                          std::shared_ptr<const wasm::InstrumentedModule> module,
                                          absl::Duration max_wait, uint64_t tag,
                                          const std::function<void()>& before_wait = {});
  // The module was believed compiled but a worker could not load it (deleted from the cache):
  // forget that, so the next job compiles it again.
  void Forget(const std::string& module_id);
  bool Cancel(uint64_t tag);
  void Shutdown();

  CompileStats stats() const;
  // The pids of running compile processes (tests check their groups are gone).
  std::vector<pid_t> RunningPidsForTesting() const;

 private:
  enum class State { kQueued, kRunning, kDone, kFailed, kDropped };
  struct Entry {
    std::string module_id;
    std::shared_ptr<const wasm::InstrumentedModule> module;
    State state = State::kQueued;
    uint64_t starter_tag = 0;  // the job that asked first
    int waiters = 0;
    KillSwitch kill;
  };
  struct Waiter {
    uint64_t tag = 0;
    Entry* entry = nullptr;
    bool cancelled = false;
  };

  void Loop();
  std::string LimitsLine() const;

  const ModuleBuilder* const builder_;
  const wasm::AotEngine* const cache_;
  const int max_concurrent_;

  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);  // queued/running
  std::deque<std::shared_ptr<Entry>> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> known_ ABSL_GUARDED_BY(mu_);  // module id -> compiled (else failed)
  std::vector<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  CompileStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::exec
