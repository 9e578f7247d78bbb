#include "mesh/node/event_bus.h"

#include <gtest/gtest.h>

#include <atomic>

namespace mesh::node {
namespace {

TEST(EventBusTest, SequencesFiltersAndWakes) {
  EventBus bus(100);
  std::atomic<int> all_wakes = 0, job_wakes = 0;
  const uint64_t all = bus.Subscribe("", [&] { ++all_wakes; });
  bus.Subscribe("job-b", [&] { ++job_wakes; });
  EXPECT_EQ(bus.Publish("job.queued", "job-a", absl::UnixEpoch(), {{"x", 1}}), 1u);
  EXPECT_EQ(bus.Publish("job.queued", "job-b", absl::UnixEpoch(), {}), 2u);
  EXPECT_EQ(bus.Publish("job.running", "job-a", absl::UnixEpoch(), {}), 3u);
  EXPECT_EQ(all_wakes, 3);
  EXPECT_EQ(job_wakes, 1);
  bus.Unsubscribe(all);
  bus.Publish("job.succeeded", "job-a", absl::UnixEpoch(), {});
  EXPECT_EQ(all_wakes, 3);

  EventBatch a = bus.Since(0, "job-a");
  ASSERT_EQ(a.events.size(), 3u);
  EXPECT_EQ(a.events[0].type, "job.queued");
  EXPECT_EQ(a.events[0].ToJson()["x"], 1);
  EXPECT_EQ(a.events[2].seq, 4u);
  EXPECT_EQ(a.scanned_to, 4u);
  EXPECT_FALSE(a.gap);
  EXPECT_TRUE(bus.Since(4).events.empty());
  EXPECT_EQ(bus.Since(2).events.size(), 2u);
  nlohmann::json j = a.events[0].ToJson();
  EXPECT_EQ(j["seq"], 1);
  EXPECT_EQ(j["job_id"], "job-a");
  EXPECT_EQ(j["type"], "job.queued");
}

TEST(EventBusTest, ReportsAGapWhenEventsWereDropped) {
  EventBus bus(3);
  for (int i = 0; i < 10; ++i) bus.Publish("job.progress", "j", absl::UnixEpoch(), {});
  EventBatch batch = bus.Since(2);
  EXPECT_TRUE(batch.gap);
  ASSERT_EQ(batch.events.size(), 3u);
  EXPECT_EQ(batch.events.front().seq, 8u);
  EXPECT_FALSE(bus.Since(7).gap);
  EXPECT_EQ(bus.last_seq(), 10u);
}

TEST(EventBusTest, BatchesAreBounded) {
  EventBus bus(100);
  for (int i = 0; i < 50; ++i) bus.Publish("e", "", absl::UnixEpoch(), {});
  EventBatch first = bus.Since(0, "", 20);
  EXPECT_EQ(first.events.size(), 20u);
  EXPECT_EQ(first.scanned_to, 20u);
  EXPECT_EQ(bus.Since(first.scanned_to, "", 100).events.size(), 30u);
}

}  // namespace
}  // namespace mesh::node
