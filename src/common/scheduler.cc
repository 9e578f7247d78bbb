#include "mesh/common/scheduler.h"

#include <deque>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "mesh/common/check.h"

namespace mesh {
namespace {

// The work both schedulers keep: a FIFO of posted tasks and timers ordered by (time, id). Ids
// grow with every RunAt, so equal times run in the order they were set. Not thread-safe: each
// scheduler guards it with its own mutex and runs the tasks it takes out with the lock released.
class TaskQueues {
 public:
  void Post(Scheduler::Task task) { posted_.push_back(std::move(task)); }

  Scheduler::TimerId RunAt(absl::Time at, Scheduler::Task task) {
    const Scheduler::TimerId id = next_id_++;
    timers_.emplace(Key{at, id}, std::move(task));
    time_of_.emplace(id, at);
    return id;
  }

  bool Cancel(Scheduler::TimerId id) {
    auto it = time_of_.find(id);
    if (it == time_of_.end()) return false;
    // The task is destroyed by the caller, outside any lock (its captures may post).
    cancelled_.push_back(std::move(timers_.at(Key{it->second, id})));
    timers_.erase(Key{it->second, id});
    time_of_.erase(it);
    return true;
  }

  std::optional<Scheduler::Task> TakePosted() {
    if (posted_.empty()) return std::nullopt;
    Scheduler::Task task = std::move(posted_.front());
    posted_.pop_front();
    return task;
  }

  // The earliest timer due at `now`, removed (so Cancel of it returns false from now on).
  std::optional<Scheduler::Task> TakeDueTimer(absl::Time now) {
    if (timers_.empty() || timers_.begin()->first.at > now) return std::nullopt;
    auto node = timers_.extract(timers_.begin());
    time_of_.erase(node.key().id);
    return std::move(node.mapped());
  }

  std::optional<absl::Time> NextTimer() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->first.at;
  }

  bool HasPosted() const { return !posted_.empty(); }

  // Everything not yet run, handed out so it can be destroyed outside the lock.
  std::vector<Scheduler::Task> TakeAll() {
    std::vector<Scheduler::Task> all = std::move(cancelled_);
    cancelled_.clear();
    for (auto& task : posted_) all.push_back(std::move(task));
    for (auto& [key, task] : timers_) all.push_back(std::move(task));
    posted_.clear();
    timers_.clear();
    time_of_.clear();
    return all;
  }

  std::vector<Scheduler::Task> TakeCancelled() {
    std::vector<Scheduler::Task> out = std::move(cancelled_);
    cancelled_.clear();
    return out;
  }

 private:
  struct Key {
    absl::Time at;
    Scheduler::TimerId id;
    bool operator<(const Key& other) const {
      return at != other.at ? at < other.at : id < other.id;
    }
  };

  std::deque<Scheduler::Task> posted_;
  std::map<Key, Scheduler::Task> timers_;
  absl::flat_hash_map<Scheduler::TimerId, absl::Time> time_of_;
  std::vector<Scheduler::Task> cancelled_;
  Scheduler::TimerId next_id_ = 1;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// RealScheduler

struct RealScheduler::State {
  explicit State(const Clock& c) : clock(c) {}

  // One pass: the tasks posted so far, then the timers due now. Taking a batch at a time means a
  // task that keeps posting cannot starve the timers, nor a burst of timers the posts.
  void Loop() {
    absl::MutexLock lock(&mu);
    while (!stopped) {
      if (!queues.HasPosted()) {
        const std::optional<absl::Time> next = queues.NextTimer();
        if (!next.has_value()) {
          cv.Wait(&mu);
          continue;
        }
        const absl::Duration wait = *next - clock.Now();
        if (wait > absl::ZeroDuration()) {
          // Real waiting: the clock is only read for Now(). A new post or earlier timer wakes us.
          cv.WaitWithTimeout(&mu, wait);
          continue;
        }
      }
      std::vector<Task> batch;
      while (auto task = queues.TakePosted()) batch.push_back(std::move(*task));
      const absl::Time now = clock.Now();
      while (auto task = queues.TakeDueTimer(now)) batch.push_back(std::move(*task));
      for (Task& task : batch) {
        if (stopped) break;  // Stop() from inside a task drops the rest of the batch too.
        mu.Unlock();
        task();
        task = nullptr;  // Its captures die outside the lock as well.
        mu.Lock();
      }
      // What Stop() left of the batch is destroyed unlocked: captures' destructors may post.
      mu.Unlock();
      batch.clear();
      mu.Lock();
    }
  }

  const Clock& clock;
  absl::Mutex mu;
  absl::CondVar cv;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  TaskQueues queues ABSL_GUARDED_BY(mu);
  std::thread thread;
};

RealScheduler::RealScheduler(const Clock& clock) : s_(std::make_unique<State>(clock)) {
  s_->thread = std::thread([state = s_.get()] { state->Loop(); });
}

RealScheduler::~RealScheduler() {
  // Destroying the scheduler from one of its own tasks would free the state under the running
  // loop: a bug in the caller.
  MESH_CHECK(std::this_thread::get_id() != s_->thread.get_id());
  Stop();
}

void RealScheduler::Stop() {
  std::vector<Task> dropped;
  {
    absl::MutexLock lock(&s_->mu);
    s_->stopped = true;
    dropped = s_->queues.TakeAll();
    s_->cv.SignalAll();
  }
  dropped.clear();
  // From inside a task the loop ends when the task returns; the destructor joins later.
  if (std::this_thread::get_id() == s_->thread.get_id()) return;
  if (s_->thread.joinable()) s_->thread.join();
}

absl::Time RealScheduler::Now() const { return s_->clock.Now(); }

void RealScheduler::Post(Task task) {
  absl::MutexLock lock(&s_->mu);
  if (s_->stopped) return;  // Dropped, like the tasks pending at Stop().
  s_->queues.Post(std::move(task));
  s_->cv.Signal();
}

Scheduler::TimerId RealScheduler::RunAt(absl::Time at, Task task) {
  std::vector<Task> dropped;  // Declared first: destroyed after the lock is released.
  absl::MutexLock lock(&s_->mu);
  const TimerId id = s_->queues.RunAt(at, std::move(task));
  if (s_->stopped) {
    // After Stop() nothing runs, but the id is still a real, unique one.
    s_->queues.Cancel(id);
    dropped = s_->queues.TakeCancelled();
    return id;
  }
  s_->cv.Signal();
  return id;
}

bool RealScheduler::Cancel(TimerId id) {
  std::vector<Task> cancelled;  // Declared first: destroyed after the lock is released.
  absl::MutexLock lock(&s_->mu);
  const bool found = s_->queues.Cancel(id);
  cancelled = s_->queues.TakeCancelled();
  return found;
}

// ---------------------------------------------------------------------------------------------
// ManualScheduler

struct ManualScheduler::State {
  explicit State(FakeClock& c) : clock(c) {}

  // Posted tasks first, then the earliest due timer, one at a time, so a timer's posts run
  // before the next timer: the same order a RealScheduler would give them.
  std::optional<Task> TakeNext() {
    absl::MutexLock lock(&mu);
    if (auto task = queues.TakePosted()) return task;
    return queues.TakeDueTimer(clock.Now());
  }

  FakeClock& clock;
  mutable absl::Mutex mu;
  TaskQueues queues ABSL_GUARDED_BY(mu);
};

ManualScheduler::ManualScheduler(FakeClock& clock) : s_(std::make_unique<State>(clock)) {}

ManualScheduler::~ManualScheduler() {
  std::vector<Task> dropped;  // Declared first: destroyed after the lock is released.
  absl::MutexLock lock(&s_->mu);
  dropped = s_->queues.TakeAll();
}

absl::Time ManualScheduler::Now() const { return s_->clock.Now(); }

void ManualScheduler::Post(Task task) {
  absl::MutexLock lock(&s_->mu);
  s_->queues.Post(std::move(task));
}

Scheduler::TimerId ManualScheduler::RunAt(absl::Time at, Task task) {
  absl::MutexLock lock(&s_->mu);
  return s_->queues.RunAt(at, std::move(task));
}

bool ManualScheduler::Cancel(TimerId id) {
  std::vector<Task> cancelled;  // Declared first: destroyed after the lock is released.
  absl::MutexLock lock(&s_->mu);
  const bool found = s_->queues.Cancel(id);
  cancelled = s_->queues.TakeCancelled();
  return found;
}

size_t ManualScheduler::RunPending() {
  size_t ran = 0;
  while (auto task = s_->TakeNext()) {
    (*task)();
    ++ran;
  }
  return ran;
}

size_t ManualScheduler::Advance(absl::Duration d) {
  const absl::Time end = s_->clock.Now() + d;
  size_t ran = RunPending();
  for (;;) {
    const std::optional<absl::Time> next = NextTimer();
    if (!next.has_value() || *next > end) break;
    // Never move the clock back: a timer set in the past runs at the current time.
    if (*next > s_->clock.Now()) s_->clock.Set(*next);
    ran += RunPending();
  }
  if (end > s_->clock.Now()) s_->clock.Set(end);
  return ran + RunPending();
}

std::optional<absl::Time> ManualScheduler::NextTimer() const {
  absl::MutexLock lock(&s_->mu);
  return s_->queues.NextTimer();
}

}  // namespace mesh
