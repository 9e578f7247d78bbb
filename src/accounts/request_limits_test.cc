#include "mesh/accounts/request_limits.h"

#include <gtest/gtest.h>

namespace mesh::accounts {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(RequestLimitsTest, ABucketHoldsOneSecondAndRefillsAtTheRate) {
  RequestLimits limits;
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(limits.TakeRequest("alice", 4, kT0)) << i;
  std::optional<absl::Duration> wait = limits.TakeRequest("alice", 4, kT0);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, absl::Milliseconds(250));
  // Another user has its own bucket.
  EXPECT_FALSE(limits.TakeRequest("bob", 4, kT0));
  // A quarter second later, one more request.
  EXPECT_FALSE(limits.TakeRequest("alice", 4, kT0 + absl::Milliseconds(250)));
  EXPECT_TRUE(limits.TakeRequest("alice", 4, kT0 + absl::Milliseconds(250)));
  // Idle for a minute: never more than one second's worth.
  const absl::Time later = kT0 + absl::Minutes(1);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(limits.TakeRequest("alice", 4, later)) << i;
  EXPECT_TRUE(limits.TakeRequest("alice", 4, later));
}

TEST(RequestLimitsTest, ZeroIsUnlimitedAndTimeGoingBackwardsRefillsNothing) {
  RequestLimits limits;
  for (int i = 0; i < 10'000; ++i) ASSERT_FALSE(limits.TakeRequest("admin", 0, kT0));
  EXPECT_FALSE(limits.TakeRequest("alice", 1, kT0));
  EXPECT_TRUE(limits.TakeRequest("alice", 1, kT0 - absl::Hours(1)));
}

TEST(RequestLimitsTest, JobsInFlightCountUntilTheyEnd) {
  RequestLimits limits;
  EXPECT_TRUE(limits.CanSubmit("alice", 2));
  limits.Submitted("alice", "j1");
  limits.Submitted("alice", "j2");
  limits.Submitted("bob", "j3");
  EXPECT_FALSE(limits.CanSubmit("alice", 2));
  EXPECT_TRUE(limits.CanSubmit("alice", 0));
  EXPECT_TRUE(limits.CanSubmit("bob", 2));
  limits.Ended("j1");
  limits.Ended("j1");       // twice: harmless
  limits.Ended("unknown");  // someone else's or untracked: harmless
  EXPECT_TRUE(limits.CanSubmit("alice", 2));
  EXPECT_EQ(limits.InFlight("alice"), 1u);
  EXPECT_EQ(limits.JobsOf("alice"), std::vector<std::string>{"j2"});
  limits.Ended("j2");
  EXPECT_EQ(limits.InFlight("alice"), 0u);
  EXPECT_EQ(limits.InFlight("bob"), 1u);
}

}  // namespace
}  // namespace mesh::accounts
