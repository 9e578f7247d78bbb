// Scheduler: the one way Mesh code gets time and deferred work — now, post (run soon, in order),
// and run-at (run at or after a time). Everything a scheduler runs runs on its one serial
// executor, one task at a time, in order of time and then of posting, so code driven by it
// needs no lock against itself.
//
// RealScheduler runs tasks on one thread of its own, against a Clock (normally SystemClock).
// ManualScheduler runs nothing by itself: RunPending() runs what is due now, and Advance(d)
// moves its FakeClock forward, firing every timer that falls due, in time order, each at its
// own time (Seastar's manual_clock::advance). Tests and meshsim drive time with it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "mesh/common/clock.h"

namespace mesh {

class Scheduler {
 public:
  using Task = std::function<void()>;
  using TimerId = uint64_t;  // 0 is never a timer

  virtual ~Scheduler() = default;
  virtual absl::Time Now() const = 0;
  // Runs `task` soon, after the tasks posted before it.
  virtual void Post(Task task) = 0;
  // Runs `task` at `at` (at once if `at` has passed). Thread-safe, like everything here.
  virtual TimerId RunAt(absl::Time at, Task task) = 0;
  // A timer that has not run will not; false if it ran, is running, or was never set.
  virtual bool Cancel(TimerId id) = 0;
};

// Owns its thread; the destructor (or Stop) drops the tasks not yet run and joins it. Each pass
// runs the tasks posted so far, then the timers due by then, so neither can starve the other.
// Timers wait in real time for `at - clock.Now()`: meant for SystemClock. Stop() may be called
// from a task (the loop ends when the task returns); destroying it from a task is a bug.
class RealScheduler final : public Scheduler {
 public:
  explicit RealScheduler(const Clock& clock);
  ~RealScheduler() override;
  void Stop();

  absl::Time Now() const override;
  void Post(Task task) override;
  TimerId RunAt(absl::Time at, Task task) override;
  bool Cancel(TimerId id) override;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

class ManualScheduler final : public Scheduler {
 public:
  explicit ManualScheduler(FakeClock& clock);
  ~ManualScheduler() override;

  absl::Time Now() const override;
  void Post(Task task) override;
  TimerId RunAt(absl::Time at, Task task) override;
  bool Cancel(TimerId id) override;

  // Runs every task due now (posted ones, then timers at or before now), including those they
  // post or set for now. Returns how many ran.
  size_t RunPending();
  // Moves the clock forward by `d`, stopping at each timer's time to run it (and what is due
  // then), and ends at now + d with RunPending(). Returns how many tasks ran.
  size_t Advance(absl::Duration d);
  // The time of the earliest timer, if any.
  std::optional<absl::Time> NextTimer() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace mesh
