#include "mesh/common/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace mesh {
namespace {

struct Item {
  int id = 0;
  int batch = -1;  // which write call took it
};

// Items that arrive while a batch is written go together into the next one, oldest first, at
// most max_batch at a time; every caller returns with its item written.
TEST(GroupCommitQueueTest, CallersThatArriveDuringAWriteShareTheNextBatchInOrder) {
  GroupCommit<Item> queue(3);
  std::atomic<bool> leading = false, release = false;
  std::vector<std::vector<int>> batches;  // written by one leader at a time
  auto write = [&](std::span<Item* const> batch) {
    if (batches.empty()) {
      leading = true;
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::vector<int> ids;
    for (Item* item : batch) {
      item->batch = static_cast<int>(batches.size());
      ids.push_back(item->id);
    }
    batches.push_back(ids);
  };
  std::vector<Item> items(6);
  for (int i = 0; i < 6; ++i) items[i].id = i;
  std::vector<std::thread> threads;
  threads.emplace_back([&] { queue.Run(items[0], write); });  // leads the first batch, held
  while (!leading.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The others queue one by one behind it, in a known order.
  for (int i = 1; i < 6; ++i) {
    while (queue.queued() != static_cast<size_t>(i - 1)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    threads.emplace_back([&, i] { queue.Run(items[i], write); });
  }
  while (queue.queued() != 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  release = true;
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0], std::vector<int>({0}));
  EXPECT_EQ(batches[1], std::vector<int>({1, 2, 3}));  // at most 3
  EXPECT_EQ(batches[2], std::vector<int>({4, 5}));
  for (const Item& item : items) EXPECT_GE(item.batch, 0) << item.id;
  EXPECT_EQ(queue.queued(), 0u);
}

}  // namespace
}  // namespace mesh
