// TaskPool: a fixed number of threads running posted tasks, first posted first started, for
// work that blocks (blob transfers, waiting for a process) and so must not run on a serial
// executor (common/scheduler.h). Thread-safe. The destructor drops the tasks not yet started
// and waits for those running: whoever owns the pool must first unblock them (e.g. shut the
// transport they wait on).
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
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Ignored once the pool is being destroyed.
  void Post(std::function<void()> task);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace mesh
