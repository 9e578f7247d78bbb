#include "mesh/storage/upkeep_planner.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mesh::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

UpkeepOptions Options() {
  UpkeepOptions o;
  o.audit_interval = absl::Minutes(10);
  o.grace = absl::Hours(1);
  o.max_failures = 3;
  o.repair_bytes_per_second = 1 << 20;
  o.max_repairs = 1;
  return o;
}

FileState File(std::string cid, int k, int m, uint64_t bytes = 1 << 20) {
  FileState f{std::move(cid), k, m, bytes, {}};
  for (int i = 0; i < k + m; ++i) f.holders.push_back({kT0, kT0, 0});
  return f;
}

TEST(UpkeepPlannerTest, TheDefaultThresholdIsAboveKAndBelowN) {
  UpkeepPlanner planner(Options());
  EXPECT_EQ(planner.RepairThreshold(4, 2), 5);
  EXPECT_EQ(planner.RepairThreshold(10, 4), 12);
  EXPECT_EQ(planner.RepairThreshold(29, 31), 45);
  EXPECT_EQ(planner.RepairThreshold(1, 1), 1);
  UpkeepOptions o = Options();
  o.repair_threshold = 99;  // clamped below n
  EXPECT_EQ(UpkeepPlanner(o).RepairThreshold(4, 2), 5);
  o.repair_threshold = 2;  // clamped to k
  EXPECT_EQ(UpkeepPlanner(o).RepairThreshold(4, 2), 4);
}

TEST(UpkeepPlannerTest, AuditsEachHolderOncePerInterval) {
  UpkeepPlanner planner(Options());
  FileState f = File("f", 2, 1);
  f.holders[1].last_audit = kT0 + absl::Minutes(5);
  UpkeepPlan plan = planner.Plan(kT0 + absl::Minutes(10), {f}, 0);
  ASSERT_EQ(plan.audits.size(), 2u);
  EXPECT_EQ(plan.audits[0].shard, 0);
  EXPECT_EQ(plan.audits[1].shard, 2);
  EXPECT_THAT(plan.repairs, IsEmpty());
  // Inline files have no holders to audit.
  EXPECT_THAT(planner.Plan(kT0 + absl::Hours(9), {File("inline", 0, 0)}, 0).audits, IsEmpty());
}

TEST(UpkeepPlannerTest, AHolderIsLostAfterFailuresOrSilencePastTheGrace) {
  UpkeepPlanner planner(Options());
  EXPECT_FALSE(planner.Lost({kT0, kT0, 2}, kT0));
  EXPECT_TRUE(planner.Lost({kT0, kT0, 3}, kT0));
  EXPECT_FALSE(planner.Lost({kT0, kT0, 0}, kT0 + absl::Hours(1)));
  EXPECT_TRUE(planner.Lost({kT0, kT0, 0}, kT0 + absl::Hours(1) + absl::Seconds(1)));
}

TEST(UpkeepPlannerTest, RepairsAtTheThresholdNotBefore) {
  // 10+4 repairs at 12 healthy: one loss waits, two losses repair both.
  UpkeepPlanner planner(Options());
  FileState f = File("f", 10, 4);
  f.holders[3].failures = 3;
  UpkeepPlan one = planner.Plan(kT0, {f}, 0);
  EXPECT_THAT(one.repairs, IsEmpty());
  f.holders[7].failures = 5;
  UpkeepPlan two = planner.Plan(kT0, {f}, 0);
  ASSERT_EQ(two.repairs.size(), 1u);
  EXPECT_THAT(two.repairs[0].shards, ElementsAre(3, 7));
  EXPECT_EQ(two.repairs[0].healthy, 12);
  // Lost holders are audited too, once per interval, after the others (a dead one's audit may
  // take its whole timeout): one that answers again counts again.
  const std::vector<AuditAction> audits = planner.Plan(kT0 + absl::Minutes(10), {f}, 0).audits;
  ASSERT_EQ(audits.size(), 14u);
  EXPECT_EQ(audits[12].shard, 3);
  EXPECT_EQ(audits[13].shard, 7);
}

TEST(UpkeepPlannerTest, BelowKTheFileIsLost) {
  UpkeepPlanner planner(Options());
  FileState f = File("f", 2, 1);
  f.holders[0].failures = 3;
  f.holders[1].failures = 3;
  UpkeepPlan plan = planner.Plan(kT0 + absl::Minutes(10), {f}, 0);
  EXPECT_THAT(plan.lost, ElementsAre("f"));
  EXPECT_THAT(plan.repairs, IsEmpty());
  // Both are still challenged; once one passes (an overload that passed), the file is whole
  // again and has a repair planned for the other.
  ASSERT_EQ(plan.audits.size(), 3u);
  f.holders[0] = {kT0 + absl::Minutes(10), kT0 + absl::Minutes(10), 0};
  plan = planner.Plan(kT0 + absl::Minutes(11), {f}, 0);
  EXPECT_THAT(plan.lost, IsEmpty());
  ASSERT_EQ(plan.repairs.size(), 1u);
  EXPECT_THAT(plan.repairs[0].shards, ElementsAre(1));
}

TEST(UpkeepPlannerTest, RepairsAreRateLimitedAndTheMostAtRiskGoFirst) {
  UpkeepPlanner planner(Options());  // 1 MiB/s, one at a time
  FileState safe = File("safe", 4, 2, 10 << 20);
  safe.holders[0].failures = 3;  // 5 healthy: at the threshold
  FileState risky = File("risky", 4, 2, 10 << 20);
  risky.holders[0].failures = 3;
  risky.holders[1].failures = 3;  // 4 healthy: one more loss and it is gone
  UpkeepPlan plan = planner.Plan(kT0, {safe, risky}, 0);
  ASSERT_EQ(plan.repairs.size(), 1u);
  EXPECT_EQ(plan.repairs[0].file, "risky");
  EXPECT_THAT(plan.deferred, ElementsAre("safe"));
  // The first repair finished at once, but its 10 MiB hold the budget for 10 s.
  EXPECT_THAT(planner.Plan(kT0 + absl::Seconds(9), {safe}, 0).repairs, IsEmpty());
  EXPECT_EQ(planner.Plan(kT0 + absl::Seconds(10), {safe}, 0).repairs.size(), 1u);
  // One running repair fills the one slot, whatever the budget.
  UpkeepPlanner fresh(Options());
  EXPECT_THAT(fresh.Plan(kT0, {safe}, 1).repairs, IsEmpty());
}

}  // namespace
}  // namespace mesh::storage
