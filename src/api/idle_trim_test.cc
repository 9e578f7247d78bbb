#include "idle_trim.h"

#include <gtest/gtest.h>

namespace mesh::api {
namespace {

node::ServiceStats Stats(uint64_t queued, uint64_t running, uint64_t ended,
                         uint64_t delegated = 0) {
  node::ServiceStats s;
  s.queued = queued;
  s.running = running;
  s.succeeded = ended;
  s.delegated = delegated;
  return s;
}

// Observations one second apart, from a fixed start.
class IdleTrimTest : public ::testing::Test {
 protected:
  bool Observe(const node::ServiceStats& stats) {
    now_ += absl::Seconds(1);
    return trim_.Observe(stats, now_);
  }
  IdleTrim trim_{absl::Minutes(5)};
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(IdleTrimTest, TrimsOnceAfterABurstWhenIdleForAWholePeriod) {
  EXPECT_FALSE(Observe(Stats(40, 2, 10)));  // busy
  EXPECT_FALSE(Observe(Stats(0, 0, 52)));   // the burst just ended: idle for part of a period
  EXPECT_TRUE(Observe(Stats(0, 0, 52)));    // idle for a whole one: trim
  EXPECT_FALSE(Observe(Stats(0, 0, 52)));   // once
  EXPECT_FALSE(Observe(Stats(0, 0, 52)));
}

TEST_F(IdleTrimTest, ABriefLullBetweenJobsIsNotIdle) {
  EXPECT_FALSE(Observe(Stats(0, 1, 5)));
  EXPECT_FALSE(Observe(Stats(0, 0, 6)));
  // Idle again, but a job ended between the two looks: it was not idle all along.
  EXPECT_FALSE(Observe(Stats(0, 0, 7)));
  EXPECT_TRUE(Observe(Stats(0, 0, 7)));
}

TEST_F(IdleTrimTest, JobsRunningElsewhereKeepTheNodeBusy) {
  EXPECT_FALSE(Observe(Stats(0, 0, 3, /*delegated=*/1)));
  EXPECT_FALSE(Observe(Stats(0, 0, 3, /*delegated=*/1)));
  EXPECT_FALSE(Observe(Stats(0, 0, 4)));
  EXPECT_TRUE(Observe(Stats(0, 0, 4)));
}

TEST_F(IdleTrimTest, EachNewBurstIsTrimmedAgain) {
  EXPECT_FALSE(Observe(Stats(0, 0, 10)));
  EXPECT_TRUE(Observe(Stats(0, 0, 10)));
  EXPECT_FALSE(Observe(Stats(3, 1, 12)));
  EXPECT_FALSE(Observe(Stats(0, 0, 16)));
  EXPECT_TRUE(Observe(Stats(0, 0, 16)));
}

TEST_F(IdleTrimTest, AnIdleNodeIsTrimmedEveryQuietPeriodWhateverEnded) {
  // A node that runs no job here (it serves blobs or shards to peers) is trimmed now and then.
  EXPECT_FALSE(Observe(Stats(0, 0, 0)));
  EXPECT_TRUE(Observe(Stats(0, 0, 0)));
  for (int i = 0; i < 299; ++i) EXPECT_FALSE(Observe(Stats(0, 0, 0))) << i;
  EXPECT_TRUE(Observe(Stats(0, 0, 0)));  // 5 minutes after the last trim
  EXPECT_FALSE(Observe(Stats(0, 0, 0)));
  // Busy all along: never, however long.
  now_ += absl::Hours(1);
  EXPECT_FALSE(Observe(Stats(0, 1, 0)));
  EXPECT_FALSE(Observe(Stats(0, 1, 0)));
}

}  // namespace
}  // namespace mesh::api
