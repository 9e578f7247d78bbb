// GroupCommit<T>: callers that arrive while a batch is being written wait in a queue, and the
// first of them, once the batch before has finished, writes the next one: up to `max_batch`
// queued items, oldest first (its own among them), in one call of `write`. The job store's steps
// and the ledger's operations use it, so that concurrent writers share one transaction and one
// commit rather than taking the write lock one by one.
//
// Each item lives on its caller's stack: `write` fills in its outcome, and the caller reads it
// after Run returns (its item was written in its own batch or in another caller's). Thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mesh {

template <class T>
class GroupCommit {
 public:
  explicit GroupCommit(size_t max_batch) : max_batch_(max_batch == 0 ? 1 : max_batch) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Returns once `item` is written. `write(std::span<T* const>)` runs on the thread that leads
  // the batch, without this queue's lock held.
  template <class Write>
  void Run(T& item, Write&& write) ABSL_LOCKS_EXCLUDED(mu_) {
    Waiting self{&item};
    std::vector<Waiting*> batch;
    {
      absl::MutexLock lock(&mu_);
      queue_.push_back(&self);
      auto my_turn = [this, &self]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return self.done || (!writing_ && !queue_.empty() && queue_.front() == &self);
      };
      mu_.Await(absl::Condition(&my_turn));
      if (self.done) return;  // written in another caller's batch
      writing_ = true;
      const size_t n = std::min(queue_.size(), max_batch_);
      batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    std::vector<T*> items;
    items.reserve(batch.size());
    for (const Waiting* w : batch) items.push_back(w->item);
    write(std::span<T* const>(items));
    absl::MutexLock lock(&mu_);
    // The others' items live on their stacks until they see done: not touched after.
    for (Waiting* w : batch) w->done = true;
    writing_ = false;
  }

  // Callers waiting, not counting the batch being written.
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  struct Waiting {
    T* item;
    bool done = false;
  };
  const size_t max_batch_;
  mutable absl::Mutex mu_;
  std::deque<Waiting*> queue_ ABSL_GUARDED_BY(mu_);  // oldest first
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mesh
