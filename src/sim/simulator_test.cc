// The simulator's loop on small scenarios (tens of nodes, a few hundred jobs): each runs in well
// under a second of wall time.
#include "mesh/sim/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mesh::sim {
namespace {

Scenario Small(uint32_t nodes = 30, uint64_t jobs = 300) {
  Scenario s;
  s.name = "test";
  s.nodes = nodes;
  s.jobs = jobs;
  s.workload.rate_per_s = 20;
  s.workload.fuel = {1e9, 0.5, 1e8, 5e9};
  s.membership.active_size = 4;
  s.membership.passive_size = 16;
  s.sample_every_s = 5;
  return s;
}

TEST(SimulatorTest, TheSameSeedGivesTheSameSummaryByte_ForByte) {
  Scenario s = Small();
  s.adversaries.liars = 0.1;
  s.churn.crashes = 0.5;
  const std::string a = ToJson(Simulator(s).Run()).dump();
  const std::string b = ToJson(Simulator(s).Run()).dump();
  EXPECT_EQ(a, b);
  s.seed = 2;
  EXPECT_NE(ToJson(Simulator(s).Run()).dump(), a);
}

TEST(SimulatorTest, WithoutAdversariesAndWithCapacityEveryJobCompletesOnceAndQuickly) {
  const Summary r = Simulator(Small()).Run();
  EXPECT_EQ(r.jobs_submitted, 300u);
  EXPECT_EQ(r.jobs_completed, 300u);
  EXPECT_EQ(r.jobs_failed, 0u);
  EXPECT_EQ(r.jobs_waiting, 0u);
  EXPECT_EQ(r.jobs_completed_twice, 0u);
  EXPECT_EQ(r.wrong_results_accepted, 0u);
  // A job of at most 5e9 fuel on a node of at least 0.5e9 fuel/s runs for <= 10 s; the auction
  // (a 200 ms window at most), fetches and messages add well under 2 s.
  EXPECT_LT(r.latency_ms.max, 12'000);
  EXPECT_GT(r.latency_ms.p50, 200);
  EXPECT_GT(r.credits_paid, 0);
  EXPECT_EQ(r.credits_paid_to_adversaries, 0);
  EXPECT_LE(r.max_active_view, 4);
  EXPECT_GT(r.messages_per_job, 3);
}

TEST(SimulatorTest, JobsAskingACapabilityOrAFederationRunOnlyWhereItIsOffered) {
  // One node in five has a GPU, half are in the lab federation; partial views of four peers
  // often hold neither, so those jobs widen their announcements until they find one. Enough
  // nodes offer both for a job asking both never to depend on one node: a node never bids on
  // its own job (meshsim's jobs are "remote"), so a job asking what only its submitter offers
  // would wait for ever, as it would in meshd.
  Scenario s = Small(60, 400);
  s.node.capabilities = {{"gpu", 0.2}};
  s.node.federations = {{"lab", 0.5}};
  s.workload.require = {{"gpu", 0.2}};
  s.workload.federation = {{"lab", 0.2}};
  const Summary r = Simulator(s).Run();
  EXPECT_EQ(r.jobs_completed, 400u);
  ASSERT_TRUE(r.by_requirement.contains("capability:gpu")) << ToText(r);
  ASSERT_TRUE(r.by_requirement.contains("federation:lab")) << ToText(r);
  uint64_t asked = 0;
  for (const auto& [requirement, jobs] : r.by_requirement) {
    EXPECT_EQ(jobs.completed, jobs.submitted) << requirement;
    EXPECT_EQ(jobs.misplaced, 0u) << requirement;
    asked += jobs.submitted;
  }
  EXPECT_GT(asked, 100u);  // about 36% of 400
  EXPECT_LT(asked, 200u);
}

TEST(SimulatorTest, ACapabilityOnlyAFewFarNodesOfferIsFoundBeyondTheView) {
  // Two GPU nodes in 500 and views of four: the widest relayed round (four hops) reaches a
  // hundred-odd nodes, the same ones every round, and often neither. Without asking beyond the
  // view such jobs wait for ever (here: until the run's end); with it they complete.
  Scenario s = Small(500, 200);
  s.node.capabilities = {{"gpu", 0.004}};
  s.workload.require = {{"gpu", 0.2}};
  s.max_sim_s = 120;
  s.beyond_fanout = 0;
  const Summary off = Simulator(s).Run();
  ASSERT_TRUE(off.by_requirement.contains("capability:gpu")) << ToText(off);
  EXPECT_GT(off.jobs_waiting, 0u) << "the neighbourhood alone found every GPU: " << ToText(off);
  EXPECT_EQ(off.announcements_beyond, 0u);
  s.beyond_fanout = 8;
  const Summary on = Simulator(s).Run();
  EXPECT_EQ(on.jobs_completed, 200u) << ToText(on);
  const RequirementJobs& gpu = on.by_requirement.at("capability:gpu");
  EXPECT_EQ(gpu.completed, gpu.submitted);
  EXPECT_EQ(gpu.misplaced, 0u);
  EXPECT_GT(on.announcements_beyond, 0u);
  EXPECT_LT(on.messages_per_job, off.messages_per_job) << "no more rounds of the widest relay";
}

TEST(SimulatorTest, SplitJobsRunTheirChunksOnOneLeaseAcrossExecutorsAndEndOnce) {
  Scenario s = Small(30, 200);
  s.workload.split_share = 0.25;
  s.workload.split_chunks = 6;
  const Summary r = Simulator(s).Run();
  EXPECT_EQ(r.jobs_submitted, 200u);
  EXPECT_EQ(r.jobs_completed, 200u) << ToText(r);
  EXPECT_EQ(r.jobs_completed_twice, 0u);
  EXPECT_GT(r.split.submitted, 30u);  // about a quarter of 200
  EXPECT_LT(r.split.submitted, 70u);
  EXPECT_EQ(r.split.completed, r.split.submitted);
  EXPECT_EQ(r.split.chunks, 6 * r.split.submitted);
  // One auction per split job wins the lease; the other five chunks go on it (a few more
  // auctions when a lease's holders are all busy or gone).
  EXPECT_GE(r.split.chunk_auctions, r.split.submitted);
  EXPECT_LT(r.split.chunk_auctions, 2 * r.split.submitted) << ToText(r);
  EXPECT_GT(r.split.executors_mean, 1.5) << "chunks run in parallel on several executors";
  EXPECT_GT(r.split.latency_ms.p50, 0);
}

TEST(SimulatorTest, ASplitJobWhoseChunkFailsFailsOnceAndCancelsTheRest) {
  // Most executors crash when a job starts or never deliver, and a job may take 6 attempts: some
  // chunks fail, and each split job ends once, failed, naming the chunk, with its other chunks
  // cancelled (none left waiting, none ending a job twice).
  Scenario s = Small(30, 200);
  s.workload.split_share = 0.5;
  s.workload.split_chunks = 4;
  s.workload.wall_time_s = 5;
  s.receipt_grace_s = 1;
  s.adversaries.crashers = 0.5;
  s.adversaries.stallers = 0.3;
  s.churn.crashes = 2;
  const Summary r = Simulator(s).Run();
  EXPECT_EQ(r.jobs_waiting, 0u) << ToText(r);
  EXPECT_EQ(r.jobs_completed_twice, 0u);
  EXPECT_EQ(r.jobs_completed + r.jobs_failed, 200u);
  EXPECT_EQ(r.split.completed + r.split.failed, r.split.submitted);
  EXPECT_GT(r.split.failed, 0u) << "no chunk failed: make the adversaries harsher. " << ToText(r);
  uint64_t named = 0;
  for (const auto& [reason, n] : r.failure_reasons) {
    if (reason.starts_with("a chunk ")) named += n;
  }
  EXPECT_EQ(named, r.split.failed) << ToText(r);
}

TEST(SimulatorTest, LiarsAreOutvotedUnderReplicationAndNeverPaidForAWrongResult) {
  Scenario s = Small();
  s.adversaries.liars = 0.1;
  s.workload.verification = {{"replicate(3)", 1}};
  const Summary r = Simulator(s).Run();
  EXPECT_EQ(r.jobs_completed + r.jobs_failed, r.jobs_submitted);
  EXPECT_EQ(r.wrong_results_accepted, 0u);
  EXPECT_GT(r.jobs_completed, r.jobs_submitted * 9 / 10);
  EXPECT_EQ(r.credits_paid_by_role.count("liar"), 0u);
}

TEST(SimulatorTest, HashVerificationAloneLetsLiarsThrough) {
  // The counterpart of the test above: it shows the summary does see wrong results.
  Scenario s = Small();
  s.adversaries.liars = 0.2;
  const Summary r = Simulator(s).Run();
  EXPECT_GT(r.wrong_results_accepted, 0u);
  EXPECT_GT(r.credits_paid_to_adversaries, 0);
}

TEST(SimulatorTest, StallersAndUnderbiddersCostTimeNotResults) {
  Scenario s = Small();
  s.adversaries.stallers = 0.1;
  s.adversaries.underbidders = 0.1;
  s.receipt_grace_s = 2;
  const Summary r = Simulator(s).Run();
  EXPECT_EQ(r.jobs_completed + r.jobs_failed, r.jobs_submitted);
  EXPECT_EQ(r.jobs_completed_twice, 0u);
  EXPECT_GT(r.jobs_completed, r.jobs_submitted * 9 / 10);
  EXPECT_EQ(r.credits_paid_by_role.count("staller"), 0u);
  EXPECT_EQ(r.credits_paid_by_role.count("underbidder"), 0u);
}

TEST(SimulatorTest, UnderChurnAndCrashersEveryJobEndsAndNoneTwice) {
  Scenario s = Small(40, 300);
  s.churn.crashes = 2;  // per node per hour: several crashes in the run
  s.churn.downtime_s = 5;
  s.adversaries.crashers = 0.05;
  s.max_sim_s = 3600;
  const Summary r = Simulator(s).Run();
  EXPECT_GT(r.crashes, 2u);
  EXPECT_EQ(r.jobs_waiting, 0u);
  EXPECT_EQ(r.jobs_completed_twice, 0u);
  EXPECT_GT(r.jobs_completed, r.jobs_submitted * 8 / 10);
}

TEST(SimulatorTest, AJobWhoseSubmitterLeftBeforeItEndedFailsAndTheRunStillEnds) {
  // Runs of 15 to 40 minutes: a leaving submitter waits 10 minutes for its jobs, then goes (or
  // crashes on the way) with some still running. They fail; until then they were counted as
  // waiting for ever and the run went on to max_sim_s.
  Scenario s = Small(40, 40);
  s.workload.fuel = {1.2e12, 0.2, 9e11, 2.4e12};
  s.workload.wall_time_s = 3000;
  s.churn.leaves = 2;
  s.churn.crashes = 0.5;
  s.churn.downtime_s = 30;
  s.max_sim_s = 6 * 3600;
  const Summary r = Simulator(s).Run();
  EXPECT_GT(r.leaves, 0u);
  EXPECT_EQ(r.jobs_waiting, 0u);
  EXPECT_EQ(r.jobs_completed_twice, 0u);
  EXPECT_GT(r.failure_reasons.count("its submitter left the mesh before it ended"), 0u);
  EXPECT_LT(r.sim_seconds, s.max_sim_s);
}

TEST(SimulatorTest, APartitionHealsAndTheJobsStillEnd) {
  Scenario s = Small();
  s.network.regions = {"eu", "us"};
  s.network.latency_ms = {{5, 40}, {40, 5}};
  s.network.partitions.push_back({15, 30, {"us"}});
  const Summary r = Simulator(s).Run();
  EXPECT_EQ(r.jobs_waiting, 0u);
  EXPECT_EQ(r.jobs_completed_twice, 0u);
  EXPECT_GT(r.jobs_completed, r.jobs_submitted * 9 / 10);
}

TEST(SimulatorTest, SignedMessagesGiveTheSameOutcomes) {
  Scenario s = Small(12, 60);
  const Summary plain = Simulator(s).Run();
  s.sign_messages = true;
  const Summary sealed = Simulator(s).Run();
  EXPECT_TRUE(sealed.signed_messages);
  EXPECT_EQ(sealed.jobs_completed, plain.jobs_completed);
  EXPECT_EQ(sealed.jobs_completed, 60u);
  // Signed runs count the envelopes' bytes: every market message is at least a signature, a
  // key and a nonce (over 100 bytes), and a job takes several.
  EXPECT_GT(sealed.message_bytes_per_job, 100 * sealed.messages_per_job);
  EXPECT_LT(sealed.message_bytes_per_job, 4096 * sealed.messages_per_job);
  EXPECT_EQ(plain.message_bytes_per_job, 0);
  EXPECT_FALSE(ToJson(plain).contains("message_bytes_per_job"));
  EXPECT_TRUE(ToJson(sealed).contains("message_bytes_per_job"));
}

}  // namespace
}  // namespace mesh::sim
