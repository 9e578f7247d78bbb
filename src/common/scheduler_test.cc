#include "mesh/common/scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace mesh {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

// ---------------------------------------------------------------------------------------------
// ManualScheduler

TEST(ManualSchedulerTest, RunsPostsInOrderOnlyWhenAsked) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) scheduler.Post([&order, i] { order.push_back(i); });
  EXPECT_TRUE(order.empty());  // Nothing runs by itself.
  EXPECT_EQ(scheduler.RunPending(), 5u);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(scheduler.RunPending(), 0u);
  EXPECT_EQ(clock.Now(), kStart);  // RunPending never moves time.
}

TEST(ManualSchedulerTest, PostsFromTasksRunInTheSamePass) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  std::vector<std::string> order;
  scheduler.Post([&] {
    order.push_back("a");
    scheduler.Post([&] { order.push_back("c"); });
  });
  scheduler.Post([&] { order.push_back("b"); });
  EXPECT_EQ(scheduler.RunPending(), 3u);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ManualSchedulerTest, PostsRunBeforeDueTimersAndTimersInTimeThenSetOrder) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  std::vector<std::string> order;
  scheduler.RunAt(kStart, [&] { order.push_back("t-now-first"); });
  scheduler.RunAt(kStart - absl::Seconds(1), [&] { order.push_back("t-past"); });
  scheduler.RunAt(kStart, [&] { order.push_back("t-now-second"); });
  scheduler.RunAt(kStart + absl::Seconds(1), [&] { order.push_back("t-future"); });
  scheduler.Post([&] { order.push_back("post"); });
  EXPECT_EQ(scheduler.RunPending(), 4u);
  EXPECT_EQ(order, (std::vector<std::string>{"post", "t-past", "t-now-first", "t-now-second"}));
  EXPECT_EQ(scheduler.NextTimer(), kStart + absl::Seconds(1));
}

TEST(ManualSchedulerTest, AdvanceFiresEachTimerAtItsOwnTimeInOrder) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  std::vector<std::pair<int, absl::Time>> fired;  // (which, clock.Now() inside the task)
  // Set out of order on purpose.
  for (int seconds : {7, 3, 9, 1, 3}) {
    scheduler.RunAt(kStart + absl::Seconds(seconds),
                    [&, seconds] { fired.emplace_back(seconds, clock.Now()); });
  }
  scheduler.RunAt(kStart + absl::Seconds(11), [&] { fired.emplace_back(11, clock.Now()); });

  EXPECT_EQ(scheduler.Advance(absl::Seconds(10)), 5u);
  ASSERT_EQ(fired.size(), 5u);
  const std::vector<int> expected_order = {1, 3, 3, 7, 9};
  for (size_t i = 0; i < fired.size(); ++i) {
    EXPECT_EQ(fired[i].first, expected_order[i]);
    EXPECT_EQ(fired[i].second, kStart + absl::Seconds(fired[i].first)) << "timer " << i;
  }
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(10));  // Ends at now + d, not at the last timer.
  EXPECT_EQ(scheduler.NextTimer(), kStart + absl::Seconds(11));

  EXPECT_EQ(scheduler.Advance(absl::Seconds(1)), 1u);  // A timer exactly at the end runs.
  EXPECT_EQ(fired.back(), std::make_pair(11, kStart + absl::Seconds(11)));
  EXPECT_FALSE(scheduler.NextTimer().has_value());
}

TEST(ManualSchedulerTest, AdvanceRunsTimersSetByTimersWhenTheyFallDue) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  std::vector<absl::Time> fired;
  scheduler.RunAt(kStart + absl::Seconds(2), [&] {
    fired.push_back(clock.Now());
    // One due inside the same Advance, one for right now, one beyond it.
    scheduler.RunAt(clock.Now() + absl::Seconds(1), [&] { fired.push_back(clock.Now()); });
    scheduler.RunAt(clock.Now(), [&] { fired.push_back(clock.Now()); });
    scheduler.RunAt(clock.Now() + absl::Seconds(100), [&] { fired.push_back(clock.Now()); });
  });
  EXPECT_EQ(scheduler.Advance(absl::Seconds(5)), 3u);
  EXPECT_EQ(fired, (std::vector<absl::Time>{kStart + absl::Seconds(2), kStart + absl::Seconds(2),
                                            kStart + absl::Seconds(3)}));
  EXPECT_EQ(scheduler.NextTimer(), kStart + absl::Seconds(102));
}

TEST(ManualSchedulerTest, AdvanceByZeroRunsWhatIsDueNow) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  int runs = 0;
  scheduler.Post([&] { ++runs; });
  scheduler.RunAt(kStart, [&] { ++runs; });
  scheduler.RunAt(kStart + absl::Nanoseconds(1), [&] { ++runs; });
  EXPECT_EQ(scheduler.Advance(absl::ZeroDuration()), 2u);
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(clock.Now(), kStart);
}

TEST(ManualSchedulerTest, CancelStopsATimerOnlyBeforeItRuns) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  std::vector<int> fired;
  const Scheduler::TimerId a =
      scheduler.RunAt(kStart + absl::Seconds(1), [&] { fired.push_back(1); });
  const Scheduler::TimerId b =
      scheduler.RunAt(kStart + absl::Seconds(2), [&] { fired.push_back(2); });
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(scheduler.Cancel(a));
  EXPECT_FALSE(scheduler.Cancel(a));         // Already cancelled.
  EXPECT_FALSE(scheduler.Cancel(0));         // 0 is never a timer.
  EXPECT_FALSE(scheduler.Cancel(b + 1000));  // Never set.
  scheduler.Advance(absl::Seconds(5));
  EXPECT_EQ(fired, std::vector<int>{2});
  EXPECT_FALSE(scheduler.Cancel(b));  // Already ran.
}

TEST(ManualSchedulerTest, ATaskCanCancelALaterTimer) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  bool later_ran = false;
  const Scheduler::TimerId later =
      scheduler.RunAt(kStart + absl::Seconds(2), [&] { later_ran = true; });
  bool cancelled = false;
  scheduler.RunAt(kStart + absl::Seconds(1), [&] { cancelled = scheduler.Cancel(later); });
  scheduler.Advance(absl::Seconds(3));
  EXPECT_TRUE(cancelled);
  EXPECT_FALSE(later_ran);
}

TEST(ManualSchedulerTest, APeriodicTaskFiresOncePerPeriod) {
  FakeClock clock(kStart);
  ManualScheduler scheduler(clock);
  std::vector<absl::Time> ticks;
  const absl::Duration period = absl::Seconds(1);
  std::function<void()> tick = [&] {
    ticks.push_back(clock.Now());
    scheduler.RunAt(clock.Now() + period, tick);
  };
  scheduler.RunAt(kStart + period, tick);

  EXPECT_EQ(scheduler.Advance(absl::Seconds(10)), 10u);
  ASSERT_EQ(ticks.size(), 10u);
  for (size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_EQ(ticks[i], kStart + period * static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(scheduler.Advance(absl::Milliseconds(2500)), 2u);  // 11 s and 12 s; 13 s not yet.
  EXPECT_EQ(ticks.size(), 12u);
  EXPECT_EQ(scheduler.NextTimer(), kStart + absl::Seconds(13));
}

TEST(ManualSchedulerTest, DestroyingWithPendingWorkRunsNothing) {
  FakeClock clock(kStart);
  auto ran = std::make_shared<int>(0);
  {
    ManualScheduler scheduler(clock);
    scheduler.Post([ran] { ++*ran; });
    scheduler.RunAt(kStart, [ran] { ++*ran; });
  }
  EXPECT_EQ(*ran, 0);
  EXPECT_EQ(ran.use_count(), 1);  // The dropped tasks were destroyed, not leaked.
}

// ---------------------------------------------------------------------------------------------
// RealScheduler. Only orderings and generous bounds: these run on loaded 2-core machines.

// A latch the test thread waits on, with a deadline far above any expected delay.
class Recorder {
 public:
  void Add(std::string what) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(what));
  }
  // True once `n` events were recorded, false after 30 s.
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
  }
  std::vector<std::string> Events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

TEST(RealSchedulerTest, RunsPostsInOrder) {
  SystemClock clock;
  RealScheduler scheduler(clock);
  Recorder recorder;
  for (int i = 0; i < 100; ++i) scheduler.Post([&, i] { recorder.Add(std::to_string(i)); });
  ASSERT_TRUE(recorder.WaitFor(100));
  const std::vector<std::string> events = recorder.Events();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(events[i], std::to_string(i));
}

TEST(RealSchedulerTest, RunsATimerAtOrAfterItsTime) {
  SystemClock clock;
  RealScheduler scheduler(clock);
  Recorder recorder;
  const absl::Time at = clock.Now() + absl::Milliseconds(50);
  absl::Time ran_at;
  scheduler.RunAt(at, [&] {
    ran_at = clock.Now();
    recorder.Add("timer");
  });
  ASSERT_TRUE(recorder.WaitFor(1));  // Within 30 s: a generous bound for "soon after 50 ms".
  EXPECT_GE(ran_at, at);             // Never early.
}

TEST(RealSchedulerTest, TimersRunInTimeOrderAndAfterPostsThatAreDueWithThem) {
  SystemClock clock;
  RealScheduler scheduler(clock);
  Recorder recorder;
  absl::Notification entered;
  absl::Notification gate;
  // Hold the scheduler's thread inside a task so everything below is due by the time it looks
  // again. Waiting for `entered` matters: a pass takes the posted tasks and then the timers due at
  // that moment, so a timer added before the thread took the gate task could share its pass.
  scheduler.Post([&] {
    entered.Notify();
    gate.WaitForNotification();
    recorder.Add("gate");
  });
  entered.WaitForNotification();
  const absl::Time now = clock.Now();
  scheduler.RunAt(now, [&] { recorder.Add("t2"); });
  scheduler.RunAt(now - absl::Seconds(1), [&] { recorder.Add("t1"); });
  scheduler.Post([&] { recorder.Add("p1"); });
  scheduler.Post([&] { recorder.Add("p2"); });
  gate.Notify();
  ASSERT_TRUE(recorder.WaitFor(5));
  EXPECT_EQ(recorder.Events(), (std::vector<std::string>{"gate", "p1", "p2", "t1", "t2"}));
}

TEST(RealSchedulerTest, CancelAndReArmFromInsideTasks) {
  SystemClock clock;
  RealScheduler scheduler(clock);
  Recorder recorder;
  const Scheduler::TimerId far =
      scheduler.RunAt(clock.Now() + absl::Hours(1), [&] { recorder.Add("far"); });
  int ticks = 0;
  std::function<void()> tick = [&] {
    if (++ticks == 3) {
      recorder.Add(scheduler.Cancel(far) ? "cancelled" : "not cancelled");
      return;
    }
    scheduler.RunAt(clock.Now() + absl::Milliseconds(1), tick);
  };
  scheduler.Post(tick);
  ASSERT_TRUE(recorder.WaitFor(1));
  EXPECT_EQ(recorder.Events(), std::vector<std::string>{"cancelled"});
  EXPECT_FALSE(scheduler.Cancel(far));
}

// Calls a function when the last copy of the task holding it is destroyed.
class OnDestroy {
 public:
  explicit OnDestroy(std::function<void()> f) : f_(std::move(f)) {}
  ~OnDestroy() { f_(); }

 private:
  std::function<void()> f_;
};

TEST(RealSchedulerTest, StopWithPendingWorkReturnsAndDropsIt) {
  SystemClock clock;
  RealScheduler scheduler(clock);
  auto ran = std::make_shared<int>(0);
  absl::Notification running;
  absl::Notification dropped;
  scheduler.Post([&] {
    running.Notify();
    // Held until Stop() has dropped the work queued behind this task, so none of it can run.
    dropped.WaitForNotification();
  });
  running.WaitForNotification();
  {
    // Pending behind the running task: a post and two timers, one due and one far away.
    auto guard = std::make_shared<OnDestroy>([&] { dropped.Notify(); });
    scheduler.Post([ran, guard] { ++*ran; });
    scheduler.RunAt(clock.Now(), [ran, guard] { ++*ran; });
    scheduler.RunAt(clock.Now() + absl::Hours(1), [ran, guard] { ++*ran; });
  }
  scheduler.Stop();  // Drops the three (which releases the running task), then joins.
  EXPECT_EQ(*ran, 0);
  EXPECT_EQ(ran.use_count(), 1);  // Destroyed, not leaked.
  // After Stop nothing runs, and calls still return.
  scheduler.Post([ran] { ++*ran; });
  EXPECT_NE(scheduler.RunAt(clock.Now(), [ran] { ++*ran; }), 0u);
  scheduler.Stop();
  EXPECT_EQ(*ran, 0);
  EXPECT_EQ(ran.use_count(), 1);
}

TEST(RealSchedulerTest, StopFromInsideATaskEndsTheLoop) {
  SystemClock clock;
  auto scheduler = std::make_unique<RealScheduler>(clock);
  auto ran_after = std::make_shared<int>(0);
  absl::Notification stopped;
  scheduler->Post([&] {
    scheduler->Stop();
    stopped.Notify();
  });
  scheduler->Post([ran_after] { ++*ran_after; });
  ASSERT_TRUE(stopped.WaitForNotificationWithTimeout(absl::Seconds(30)));
  scheduler.reset();  // Joins the thread.
  EXPECT_EQ(*ran_after, 0);
}

TEST(RealSchedulerTest, DestructorWithAFarTimerReturns) {
  SystemClock clock;
  auto scheduler = std::make_unique<RealScheduler>(clock);
  scheduler->RunAt(clock.Now() + absl::Hours(24), [] {});
  scheduler.reset();  // Must not wait a day.
}

}  // namespace
}  // namespace mesh
