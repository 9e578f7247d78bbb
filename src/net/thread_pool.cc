#include "thread_pool.h"

#include <utility>

#include "mesh/common/check.h"

namespace mesh::net::internal {

ThreadPool::ThreadPool(int threads) {
  MESH_CHECK(threads >= 1);
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
}

void ThreadPool::Drain() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &ThreadPool::Idle));
}

void ThreadPool::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &ThreadPool::Ready));
      if (queue_.empty()) return;  // Stopping and drained.
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    task();
    task = nullptr;  // Before it counts as done: its captures may be the poster's state.
    absl::MutexLock lock(&mu_);
    --running_;
  }
}

}  // namespace mesh::net::internal
