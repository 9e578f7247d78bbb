#include "mesh/common/task_pool.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"

namespace mesh {
namespace {

TEST(TaskPoolTest, RunsEveryTaskPosted) {
  std::atomic<int> ran{0};
  absl::Notification all;
  {
    TaskPool pool(3);
    for (int i = 0; i < 100; ++i) {
      pool.Post([&] {
        if (++ran == 100) all.Notify();
      });
    }
    all.WaitForNotification();
  }
  EXPECT_EQ(ran.load(), 100);
}

TEST(TaskPoolTest, ABlockedTaskDoesNotHoldTheOthers) {
  TaskPool pool(2);
  absl::Notification release, second_ran;
  pool.Post([&] { release.WaitForNotification(); });
  pool.Post([&] { second_ran.Notify(); });
  EXPECT_TRUE(second_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  release.Notify();
}

TEST(TaskPoolTest, DestructionWaitsForTheRunningTask) {
  std::atomic<int> ran{0};
  absl::Notification started, release;
  {
    TaskPool pool(1);
    pool.Post([&] {
      started.Notify();
      release.WaitForNotification();
      ++ran;
    });
    started.WaitForNotification();
    for (int i = 0; i < 5; ++i) pool.Post([&] { ran += 10; });
    release.Notify();  // the running task ends; the queued ones may or may not have started
  }
  EXPECT_EQ(ran.load() % 10, 1);  // the running one always finished
}

}  // namespace
}  // namespace mesh
