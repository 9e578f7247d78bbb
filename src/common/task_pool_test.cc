#include "mesh/common/task_pool.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace mesh {
namespace {

TEST(TaskPoolTest, OneThreadRunsTasksInPostOrder) {
  std::vector<int> order;
  {
    TaskPool pool(1);
    for (int i = 0; i < 100; ++i) pool.Post([&order, i] { order.push_back(i); });
    pool.Drain();
    ASSERT_EQ(order.size(), 100u);
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(TaskPoolTest, StopWithRunFinishesPendingWorkIncludingWhatItPosts) {
  std::atomic<int> ran{0};
  TaskPool pool(2);
  absl::Notification go;
  pool.Post([&] { go.WaitForNotification(); });
  for (int i = 0; i < 10; ++i) {
    pool.Post([&] {
      ++ran;
      pool.Post([&] { ++ran; });
    });
  }
  go.Notify();
  pool.Stop(TaskPool::Pending::kRun);
  EXPECT_EQ(ran.load(), 20);
  pool.Post([&] { ++ran; });  // after Stop: dropped, not run
  EXPECT_EQ(ran.load(), 20);
}

TEST(TaskPoolTest, StopWithDropSkipsWhatHasNotStarted) {
  std::atomic<int> ran{0};
  TaskPool pool(1);
  absl::Notification started, go;
  pool.Post([&] {
    started.Notify();
    go.WaitForNotification();
    ++ran;
  });
  for (int i = 0; i < 10; ++i) pool.Post([&] { ++ran; });
  started.WaitForNotification();
  EXPECT_EQ(pool.pending(), 10u);
  std::thread stopper([&] { pool.Stop(TaskPool::Pending::kDrop); });
  // Only Stop empties the queue while the one task blocks the only thread.
  while (pool.pending() > 0) absl::SleepFor(absl::Milliseconds(1));
  go.Notify();  // the running task finishes; the ten queued ones never start
  stopper.join();
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace mesh
