// TaskPool: a fixed set of threads running posted tasks in FIFO order — the one task queue of
// Mesh's services (the transports' reply callbacks, the split coordinator's work, the mesh
// shell's blob fetches). Thread-safe.
//
// Stop(kRun) runs every task already posted (including tasks they post) and joins; Stop(kDrop)
// drops the tasks not yet started and joins. After Stop, Post drops its task. The destructor
// is Stop(kRun).
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mesh {

class TaskPool {
 public:
  enum class Pending { kRun, kDrop };

  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void Post(std::function<void()> task);
  // Waits until every task posted so far has run (not from a pool thread).
  void Drain();
  // Idempotent; not from a pool thread.
  void Stop(Pending pending);
  // Tasks posted and not yet started.
  size_t pending();

 private:
  void Loop();
  bool Ready() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }
  bool Idle() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return queue_.empty() && running_ == 0; }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;    // Stop was called
  bool dropping_ ABSL_GUARDED_BY(mu_) = false;  // ...with kDrop: posts are dropped
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

}  // namespace mesh
