#include "mesh/common/task_pool.h"

#include <utility>

#include "mesh/common/check.h"

namespace mesh {

TaskPool::TaskPool(int threads) {
  MESH_CHECK(threads >= 1);
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

TaskPool::~TaskPool() { Stop(Pending::kRun); }

void TaskPool::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  // While it stops with kRun, tasks its own tasks post still run; after Stop returned, or
  // once it stops with kDrop, nothing more does.
  if (dropping_ || (closed_ && threads_.empty())) return;
  queue_.push_back(std::move(task));
}

void TaskPool::Drain() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &TaskPool::Idle));
}

size_t TaskPool::pending() {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void TaskPool::Stop(Pending pending) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    stopping_ = true;
    if (pending == Pending::kDrop) {
      dropping_ = true;
      queue_.clear();
    }
  }
  for (std::thread& t : threads_) t.join();
  absl::MutexLock lock(&mu_);
  threads_.clear();
  queue_.clear();
}

void TaskPool::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &TaskPool::Ready));
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    task();
    task = nullptr;  // before it counts as done: its captures may be the poster's state
    absl::MutexLock lock(&mu_);
    --running_;
  }
}

}  // namespace mesh
