#include "mesh/storage/shard_fetch_plan.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mesh::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

std::vector<std::optional<absl::Duration>> Rtts(std::vector<int> ms) {
  std::vector<std::optional<absl::Duration>> out;
  for (int v : ms) {
    out.push_back(v < 0 ? std::nullopt : std::optional(absl::Milliseconds(v)));
  }
  return out;
}

TEST(SegmentFetchPlanTest, AsksTheFastestKWithDataShardsFirstOnTies) {
  // 4+2: shard 1's holder is slow, parity shard 5's is fast, shard 3's is unknown.
  SegmentFetchPlan plan(4, Rtts({5, 90, 5, -1, 5, 1}), {}, {});
  EXPECT_THAT(plan.Start(kT0), ElementsAre(5, 0, 2, 4));
}

TEST(SegmentFetchPlanTest, AFailureIsReplacedAndKArrivalsFinish) {
  SegmentFetchPlan plan(2, Rtts({1, 2, 3, 4}), {}, {});
  EXPECT_THAT(plan.Start(kT0), ElementsAre(0, 1));
  EXPECT_THAT(plan.Finished(0, false, kT0), ElementsAre(2));
  EXPECT_THAT(plan.Finished(1, true, kT0), IsEmpty());
  EXPECT_FALSE(plan.done());
  EXPECT_THAT(plan.Finished(2, true, kT0), IsEmpty());
  EXPECT_TRUE(plan.done());
  EXPECT_THAT(plan.arrived(), ElementsAre(1, 2));
  // A late result changes nothing.
  EXPECT_THAT(plan.Finished(3, true, kT0), IsEmpty());
  EXPECT_THAT(plan.arrived(), ElementsAre(1, 2));
}

TEST(SegmentFetchPlanTest, FailsOnceFewerThanKCanArrive) {
  SegmentFetchPlan plan(2, Rtts({1, 2, 3}), {false, false, true}, {});
  EXPECT_THAT(plan.Start(kT0), ElementsAre(0, 1));
  EXPECT_FALSE(plan.failed());
  EXPECT_THAT(plan.Finished(0, false, kT0), IsEmpty());  // shard 2 has no holder
  EXPECT_TRUE(plan.failed());
}

TEST(SegmentFetchPlanTest, AStragglerGetsOneSpareAfterTheLearntDelay) {
  ShardFetchOptions options;
  options.first_hedge = absl::Seconds(1);
  options.min_hedge = absl::Milliseconds(10);
  options.hedge_factor = 3;
  SegmentFetchPlan plan(2, Rtts({1, 1, 1, 1}), {}, options);
  EXPECT_THAT(plan.Start(kT0), ElementsAre(0, 1));
  // Nothing finished yet: the first delay applies.
  EXPECT_EQ(plan.next_tick(), kT0 + absl::Seconds(1));
  EXPECT_THAT(plan.Finished(0, true, kT0 + absl::Milliseconds(20)), IsEmpty());
  // The typical fetch is 20 ms: shard 1 is hedged 60 ms after it started.
  EXPECT_EQ(plan.next_tick(), kT0 + absl::Milliseconds(60));
  EXPECT_THAT(plan.Tick(kT0 + absl::Milliseconds(59)), IsEmpty());
  EXPECT_THAT(plan.Tick(kT0 + absl::Milliseconds(60)), ElementsAre(2));
  // Once per straggler (the spare itself would be hedged at 120 ms).
  EXPECT_THAT(plan.Tick(kT0 + absl::Milliseconds(100)), IsEmpty());
  EXPECT_EQ(plan.next_tick(), kT0 + absl::Milliseconds(120));
  // The spare wins; the straggler's late answer is ignored.
  EXPECT_THAT(plan.Finished(2, true, kT0 + absl::Milliseconds(70)), IsEmpty());
  EXPECT_TRUE(plan.done());
  EXPECT_THAT(plan.arrived(), ElementsAre(0, 2));
  EXPECT_EQ(plan.next_tick(), absl::InfiniteFuture());
}

TEST(SegmentFetchPlanTest, TheTypicalFetchCarriesToTheNextSegment) {
  ShardFetchOptions options;
  options.min_hedge = absl::Milliseconds(5);
  SegmentFetchPlan plan(1, Rtts({1, 1}), {}, options, absl::Milliseconds(10));
  EXPECT_THAT(plan.Start(kT0), ElementsAre(0));
  EXPECT_EQ(plan.next_tick(), kT0 + absl::Milliseconds(30));
  EXPECT_EQ(plan.Typical(), absl::Milliseconds(10));
}

TEST(SegmentFetchPlanTest, AFailedStragglerWithASpareRunningNeedsNoReplacement) {
  ShardFetchOptions options;
  options.first_hedge = absl::Milliseconds(100);
  SegmentFetchPlan plan(1, Rtts({1, 2, 3}), {}, options);
  EXPECT_THAT(plan.Start(kT0), ElementsAre(0));
  EXPECT_THAT(plan.Tick(kT0 + absl::Milliseconds(100)), ElementsAre(1));
  EXPECT_THAT(plan.Finished(0, false, kT0 + absl::Milliseconds(150)), IsEmpty());
  EXPECT_THAT(plan.Finished(1, false, kT0 + absl::Milliseconds(160)), ElementsAre(2));
  EXPECT_THAT(plan.Finished(2, true, kT0 + absl::Milliseconds(170)), IsEmpty());
  EXPECT_TRUE(plan.done());
}

}  // namespace
}  // namespace mesh::storage
