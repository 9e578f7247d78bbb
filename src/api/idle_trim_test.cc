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

TEST(IdleTrimTest, TrimsOnceAfterABurstWhenIdleForAWholePeriod) {
  IdleTrim trim;
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 0)));    // a fresh node: nothing ran
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 0)));    // idle, but nothing to give back
  EXPECT_FALSE(trim.Observe(Stats(40, 2, 10)));  // busy
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 52)));   // the burst just ended: idle for part of a period
  EXPECT_TRUE(trim.Observe(Stats(0, 0, 52)));    // idle for a whole one: trim
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 52)));   // once
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 52)));
}

TEST(IdleTrimTest, ABriefLullBetweenJobsIsNotIdle) {
  IdleTrim trim;
  EXPECT_FALSE(trim.Observe(Stats(0, 1, 5)));
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 6)));
  // Idle again, but a job ended between the two looks: it was not idle all along.
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 7)));
  EXPECT_TRUE(trim.Observe(Stats(0, 0, 7)));
}

TEST(IdleTrimTest, JobsRunningElsewhereKeepTheNodeBusy) {
  IdleTrim trim;
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 3, /*delegated=*/1)));
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 3, /*delegated=*/1)));
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 4)));
  EXPECT_TRUE(trim.Observe(Stats(0, 0, 4)));
}

TEST(IdleTrimTest, EachNewBurstIsTrimmedAgain) {
  IdleTrim trim;
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 10)));
  EXPECT_TRUE(trim.Observe(Stats(0, 0, 10)));
  EXPECT_FALSE(trim.Observe(Stats(3, 1, 12)));
  EXPECT_FALSE(trim.Observe(Stats(0, 0, 16)));
  EXPECT_TRUE(trim.Observe(Stats(0, 0, 16)));
}

}  // namespace
}  // namespace mesh::api
