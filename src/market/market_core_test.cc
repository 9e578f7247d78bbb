// The market's scenarios at the core level: market::Market on a few nodes, driven by a harness
// with a virtual clock and an in-memory network (testing/market_harness.h). Each mirrors an
// in-process mesh test in src/node (mesh_test.cc, split_test.cc, long_job_test.cc) and asserts
// on what the core asked the shell to do: history phases, payments, refunds, standings and the
// one Finish of each job. No sockets, no sleeps. Placement and recovery here; verification,
// settlement and receipts in market_receipts_test.cc; the executor alone in
// market_executor_test.cc.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/market_harness.h"
#include "testing/scenario_util.h"

namespace mesh::market {
namespace {

using ::mesh::market::testing::Assigned;
using ::mesh::market::testing::Cheap;
using ::mesh::market::testing::Dear;
using ::mesh::market::testing::ExpectBooksBalance;
using ::mesh::market::testing::JobLog;
using ::mesh::market::testing::JobOptions;
using ::mesh::market::testing::MarketHarness;
using ::mesh::market::testing::NodeConfig;
using ::mesh::market::testing::SentOf;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// mesh_test.cc ABurstOfJobsIsSpreadAndNoExecutorTakesMoreThanItCanQueue: eight auctions close
// together on idle bids; the submitter counts what it assigned since and spreads them, and no
// executor holds more than its slot and queue allow. Full executors refuse ("no capacity") and
// are asked again: no job is refused for good.
TEST(MarketCoreTest, ABurstOfJobsIsSpreadAndNoneIsRefusedForGood) {
  MarketHarness h;
  const int a = h.AddNode();
  const int b = h.AddNode();
  const int c = h.AddNode();
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    JobOptions job;
    job.inputs = {"burst " + std::to_string(i)};
    ids.push_back(h.Submit(a, job));
  }
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(60)));
  std::map<std::string, int> per_executor;
  for (const std::string& id : ids) {
    const JobResult& r = h.job(id).finishes.at(0);
    ASSERT_EQ(r.state, job::JobState::kSucceeded) << r.reason;
    EXPECT_EQ(r.output_cid, MarketHarness::HonestOutput(h.job(id).spec));
    ++per_executor[r.peer];
    EXPECT_EQ(h.RunsOf(id), 1) << "a job ran on an executor that did not deliver it";
    EXPECT_EQ(h.job(id).payments.size(), 1u);
  }
  for (int n : {b, c}) {
    EXPECT_GE(per_executor[h.did(n)], 3) << "uneven spread";
    EXPECT_LE(per_executor[h.did(n)], 5) << "past 1 slot + max_queue 4";
  }
  EXPECT_EQ(per_executor.count(h.did(a)), 0u);
  ExpectBooksBalance(h);
}

// Found by meshsim: a submitter whose peers are all a 220 ms round trip away closed every
// 200 ms bid window empty and its jobs waited for ever. The window now covers the slowest asked
// peer's round trip (measured by membership), so the first round gets its bids.
TEST(MarketCoreTest, FarPeersBidWithinTheWindowTheirRoundTripNeeds) {
  testing::HarnessOptions options;
  options.latency = absl::Milliseconds(110);  // one way: bids come back after 220 ms
  MarketHarness h(options);
  const int a = h.AddNode();
  h.AddNode();
  h.AddNode();
  const std::string id = h.Submit(a, {});
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  const JobLog& job = h.job(id);
  ASSERT_EQ(job.finishes.at(0).state, job::JobState::kSucceeded) << job.finishes.at(0).reason;
  const std::vector<const Block*> closed = job.BlocksOf("bidding_closed");
  ASSERT_FALSE(closed.empty());
  EXPECT_EQ(closed.front()->detail.at("selection").at("ranked").size(), 2u)
      << closed.front()->detail.dump();
  EXPECT_EQ(h.Published(a, "job.waiting").size(), 0u);
}

// mesh_test.cc AnExecutorThatWasFullIsAskedAgainLater: the only executor has one slot and no
// queue; it wins three auctions that close together and refuses two assignments for "no
// capacity". Those jobs are offered to it again once it has room: it is not excluded.
TEST(MarketCoreTest, AnExecutorThatWasFullIsAskedAgainLater) {
  MarketHarness h;
  const int a = h.AddNode();
  NodeConfig one;
  one.max_queue = 0;
  const int b = h.AddNode(one);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    JobOptions job;
    job.inputs = {"one at a time " + std::to_string(i)};
    ids.push_back(h.Submit(a, job));
  }
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(60)));
  int refused = 0;
  for (const std::string& id : ids) {
    const JobLog& log = h.job(id);
    ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
    EXPECT_EQ(log.finishes[0].peer, h.did(b));
    for (const Block* r : log.BlocksOf("requeued")) {
      EXPECT_THAT(r->detail.dump(), HasSubstr(std::string(kNoCapacityRefusal)));
      ++refused;
    }
    EXPECT_THAT(Assigned(log), Each(h.did(b)));
  }
  EXPECT_GE(refused, 2) << "three assignments at once on one slot without a queue";
  for (const job::Announce& an : SentOf<job::Announce>(h, "announce")) {
    EXPECT_THAT(an.exclude, Not(Contains(h.did(b)))) << "a full executor was excluded";
  }
  ExpectBooksBalance(h);
}

// mesh_test.cc AnExecutorThatDiesMidJobIsReplaced: the executor dies while it runs the job;
// when membership declares it dead the job is requeued and runs elsewhere; the dead one is
// not paid and loses standing.
// Node 0 submits one job with a far deadline to two executors whose runs take `run_time`;
// returns its id once it runs.
std::string SubmitToTwoSlowExecutors(MarketHarness& h, absl::Duration run_time) {
  const int a = h.AddNode();
  NodeConfig slow;
  slow.run_time = run_time;
  h.AddNode(slow);
  h.AddNode(slow);
  JobOptions job;
  job.wall_time_ms = 600'000;  // its deadline is far: only what the test does can requeue it
  const std::string id = h.Submit(a, job);
  EXPECT_TRUE(h.RunUntil([&] { return h.job(id).running; }, absl::Seconds(5)));
  return id;
}

TEST(MarketCoreTest, AnExecutorThatDiesMidJobIsReplacedAndNotPaid) {
  MarketHarness h;
  const int a = 0;
  const std::string id = SubmitToTwoSlowExecutors(h, absl::Seconds(3));
  ASSERT_TRUE(h.job(id).running);
  const std::string victim = h.job(id).market->peer;
  const absl::Time killed = h.now();
  h.Kill(h.IndexOf(victim));
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_NE(log.finishes[0].peer, victim);
  EXPECT_THAT(log.Phases(), Contains("requeued"));
  EXPECT_LT(log.finishes[0].finished_at - killed, absl::Seconds(15));
  EXPECT_EQ(log.PaymentsTo(victim), 0);
  EXPECT_EQ(log.PaymentsTo(log.finishes[0].peer), 1);
  EXPECT_THAT(h.standings(a).at(victim), Contains(Standing::kFailure));
  EXPECT_EQ(Assigned(log).front(), victim);
  ExpectBooksBalance(h);
}

// Membership reshuffles views: an executor that leaves the submitter's active view (a
// Disconnect, not a death) keeps the job it runs, and is paid for it.
TEST(MarketCoreTest, AnExecutorThatOnlyLeftTheActiveViewKeepsItsJob) {
  MarketHarness h;
  const int a = 0;
  const std::string id = SubmitToTwoSlowExecutors(h, absl::Seconds(3));
  ASSERT_TRUE(h.job(id).running);
  const std::string executor = h.job(id).market->peer;
  PeerView left;
  left.did = executor;
  left.alive = false;
  left.disconnected = true;
  h.Inject(a, PeerChanged{left});
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_EQ(log.finishes[0].peer, executor);
  EXPECT_THAT(log.Phases(), Not(Contains("requeued")));
  EXPECT_EQ(log.PaymentsTo(executor), 1);
  EXPECT_EQ(h.RunsOf(id), 1);
  ExpectBooksBalance(h);
}

// A refusal other than "no capacity" (here: the executor refuses the module since it bid)
// excludes that executor from the job: the next candidate of the same auction takes it.
TEST(MarketCoreTest, ARefusedAssignmentExcludesTheExecutorFromTheJob) {
  MarketHarness h;
  const int a = h.AddNode();
  const int refuser = h.AddNode(Cheap());
  const int other = h.AddNode(Dear());
  JobOptions job;
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(h.RunUntil([&] { return !h.Sent("assignment").empty(); }, absl::Seconds(5)));
  ASSERT_EQ(std::get<job::Assignment>(h.Sent("assignment").front()).executor, h.did(refuser));
  // The assignment is on the wire; the executor's node died with this module meanwhile.
  h.RefuseModules(refuser, {{h.job(id).spec.module, "the node died 3 times running it"}});
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_EQ(log.finishes[0].peer, h.did(other));
  EXPECT_THAT(Assigned(log), ElementsAre(h.did(refuser), h.did(other)));
  ASSERT_EQ(log.BlocksOf("requeued").size(), 1u);
  EXPECT_THAT(log.BlocksOf("requeued")[0]->detail.dump(), HasSubstr("died 3 times"));
  EXPECT_TRUE(h.runs(refuser).empty());
  for (const job::AssignmentAck& ack : SentOf<job::AssignmentAck>(h, "assignment_ack")) {
    if (ack.executor == h.did(refuser)) {
      EXPECT_FALSE(ack.accepted);
    }
  }
  EXPECT_EQ(log.PaymentsTo(h.did(refuser)), 0);
  ExpectBooksBalance(h);
}

// Found by the property test: when every live peer has failed, refused or already run the
// job, it is excluded from every round and the job used to wait for another peer forever
// (exclusions are for good, even those a lost ack caused). Such rounds now count as failures:
// after RetryPolicy::max_rounds the job ends, failed, and its escrow is refunded.
TEST(MarketCoreTest, AJobEveryLivePeerIsExcludedFromEndsInsteadOfWaitingForever) {
  MarketHarness h;
  const int a = h.AddNode();
  const int b = h.AddNode();
  JobOptions job;
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(h.RunUntil([&] { return !h.Sent("assignment").empty(); }, absl::Seconds(5)));
  h.RefuseModules(b, {{h.job(id).spec.module, "the node died 3 times running it"}});
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(300))) << "it waits for ever";
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.size(), 1u);
  EXPECT_EQ(log.finishes[0].state, job::JobState::kFailed);
  EXPECT_THAT(log.finishes[0].reason, HasSubstr("excluded"));
  EXPECT_TRUE(log.payments.empty());
  EXPECT_TRUE(h.runs(b).empty());
  ExpectBooksBalance(h);
}

// mesh_test.cc AJobNobodyCanTakeWaitsWithItsReasonUntilCapacityAppears: no bid leaves the job
// waiting (not failed) with its reason; a peer that can take it appears and it is placed at
// once, not at the end of its backoff.
TEST(MarketCoreTest, AJobNobodyCanTakeWaitsWithItsReasonUntilCapacityAppears) {
  MarketHarness h;
  const int a = h.AddNode();
  const int b = h.AddNode();
  JobOptions job;
  job.capabilities = {"gpu"};
  const std::string id = h.Submit(a, job);
  h.Advance(absl::Seconds(3));
  const JobLog& log = h.job(id);
  EXPECT_THAT(log.finishes, IsEmpty()) << "no bids must not fail the job";
  EXPECT_TRUE(h.market(a).Holds(id));
  ASSERT_GE(log.blocks.size(), 2u);
  EXPECT_EQ(log.blocks[0].phase, "bidding_open");
  EXPECT_EQ(log.blocks[1].phase, "bidding_closed");
  EXPECT_THAT(log.blocks[1].detail.dump(), HasSubstr("capability"));
  const std::vector<Publish> waiting = h.Published(a, "job.waiting");
  ASSERT_FALSE(waiting.empty());
  EXPECT_EQ(waiting.front().job_id, id);
  EXPECT_THAT(waiting.front().data.value("reason", ""), HasSubstr("capability"));
  EXPECT_EQ(h.market(a).Stats().auctions_open, 1u);
  EXPECT_EQ(log.BlocksOf("bidding_open").size(), 1u) << "waiting is not a new auction";
  // The idle peer's heartbeats wake the job every second; each round ends as the last did, and
  // the history says so once, not once a round.
  EXPECT_GE(h.Counted(a, Counter::kAnnounced), 3);
  EXPECT_EQ(log.BlocksOf("bidding_closed").size(), 1u);
  EXPECT_EQ(h.Published(a, "job.waiting").size(), 1u);

  // The only peer goes away: the job waits for peers, asking less and less often (its
  // backoff grows to RetryPolicy::max, 10 s), with nobody to wake it.
  h.Kill(b);
  h.Advance(absl::Seconds(60));
  EXPECT_THAT(log.finishes, IsEmpty());
  EXPECT_THAT(h.Published(a, "job.waiting").back().data.value("reason", ""),
              HasSubstr("no live peers"));

  NodeConfig gpu;
  gpu.capabilities = {"gpu"};
  const absl::Time joined = h.now();
  const int g = h.AddNode(gpu);
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_EQ(log.finishes[0].peer, h.did(g));
  EXPECT_LT(log.finishes[0].finished_at - joined, absl::Milliseconds(500))
      << "capacity appeared: the job must not wait out its backoff";
  ExpectBooksBalance(h);
}

// split_test.cc ChunksOfADeadExecutorAreReassignedToTheOtherHolder: the chunks of a split job
// share one auction (the lease); its holders get chunk after chunk; when a holder dies, its
// chunks go to the other holder, without a new auction while a holder is left.
// Found by meshsim's capability scenario: a job asking what only its own submitter offers (the
// mesh's one GPU) got declines from every peer and waited for ever. An "auto" job that finds no
// usable bid comes home once its node has a free slot: here after the run that kept the GPU
// node busy ends. Its escrow is refunded, the history says why; a "remote" job keeps waiting.
TEST(MarketCoreTest, AnAutoJobNoPeerCanRunComesHomeWhenItsNodeHasASlot) {
  MarketHarness h;
  NodeConfig gpu;
  gpu.capabilities = {"gpu"};
  gpu.run_time = absl::Seconds(3);
  const int a = h.AddNode(gpu);
  const int b = h.AddNode();
  // a's one slot runs b's job for 3 s.
  JobOptions busy;
  busy.inputs = {"keeps the gpu node busy"};
  const std::string theirs = h.Submit(b, busy);
  ASSERT_TRUE(h.RunUntil([&] { return h.RunsOf(theirs) > 0; }, absl::Seconds(5)));
  const absl::Time busy_from = h.now();
  JobOptions needs_gpu;
  needs_gpu.capabilities = {"gpu"};
  needs_gpu.placement = "auto";
  const std::string ours = h.Submit(a, needs_gpu);
  JobOptions elsewhere = needs_gpu;
  elsewhere.placement = "remote";
  elsewhere.inputs = {"must run elsewhere"};
  const std::string remote = h.Submit(a, elsewhere);

  ASSERT_TRUE(h.RunUntil([&] { return !h.job(ours).at_home.empty(); }, absl::Seconds(30)));
  const JobLog& home = h.job(ours);
  EXPECT_GE(h.now() - busy_from, gpu.run_time) << "it came home while the slot was busy";
  EXPECT_THAT(home.finishes, IsEmpty());
  EXPECT_EQ(home.refunds, 1);
  EXPECT_THAT(home.escrow_errors, IsEmpty());
  ASSERT_EQ(home.at_home.size(), 1u);
  EXPECT_THAT(home.at_home[0], HasSubstr("capability 'gpu'"));
  ASSERT_EQ(home.BlocksOf("run_here").size(), 1u);
  EXPECT_THAT(home.BlocksOf("run_here")[0]->detail.dump(), HasSubstr("free slot"));
  EXPECT_EQ(h.Counted(a, Counter::kRunAtHome), 1);
  EXPECT_EQ(h.RunsOf(ours), 0);

  // The remote job only ever waits (the harness's run ends when nothing is left to do but it).
  h.RunUntil([] { return false; }, absl::Seconds(20));
  EXPECT_THAT(h.job(remote).at_home, IsEmpty());
  EXPECT_THAT(h.job(remote).finishes, IsEmpty());
  EXPECT_EQ(h.job(ours).at_home.size(), 1u);
  EXPECT_THAT(h.anomalies(), IsEmpty());
}

// A speed score is the executor's claim. One that bids a hundred times its real speed wins the
// first auction on its promised finish, takes 3 s for a run it promised in well under a second,
// and from then on its expected runs are stretched by the promise it broke: the honest executor
// wins the rest.
TEST(MarketCoreTest, AnExecutorWhoseRunsBreakItsSpeedPromiseStopsWinningOnSpeed) {
  MarketHarness h;
  const int a = h.AddNode();
  NodeConfig honest;
  honest.fuel_per_second = 100'000'000;  // 10^7 fuel in its 100 ms run: as promised
  const int b = h.AddNode(honest);
  NodeConfig boaster;
  boaster.fuel_per_second = 10'000'000'000;  // promises 1 ms
  boaster.run_time = absl::Seconds(3);
  const int c = h.AddNode(boaster);
  std::vector<std::string> winners;
  for (int i = 0; i < 5; ++i) {
    JobOptions job;
    job.inputs = {"one after the other " + std::to_string(i)};
    job.fuel = 10'000'000;
    const std::string id = h.Submit(a, job);
    ASSERT_TRUE(h.RunUntil([&] { return !h.job(id).finishes.empty(); }, absl::Seconds(30)));
    ASSERT_EQ(h.job(id).finishes[0].state, job::JobState::kSucceeded);
    winners.push_back(h.job(id).finishes[0].peer);
  }
  EXPECT_EQ(winners[0], h.did(c)) << "the promise wins the first auction";
  for (size_t i = 1; i < winners.size(); ++i) {
    EXPECT_EQ(winners[i], h.did(b))
        << "job " << i << " went to the executor that broke its promise";
  }
  EXPECT_THAT(h.anomalies(), IsEmpty());
}

TEST(MarketCoreTest, ChunksOfADeadLeaseHolderGoToTheOtherHolder) {
  MarketHarness h;
  const int a = h.AddNode();
  NodeConfig slow;
  slow.run_time = absl::Seconds(1);
  const int b = h.AddNode(slow);
  const int c = h.AddNode(slow);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    JobOptions chunk;
    chunk.inputs = {"chunk " + std::to_string(i)};
    chunk.wall_time_ms = 600'000;
    chunk.labels = {{std::string(kSplitJobLabel), "split-job-1"},
                    {std::string(kSplitChunkLabel), std::to_string(i)}};
    ids.push_back(h.Submit(a, chunk));
  }
  ASSERT_TRUE(h.RunUntil(
      [&] {
        int ran = 0;
        for (const std::string& id : ids) ran += h.job(id).running ? 1 : 0;
        return ran >= 2;
      },
      absl::Seconds(10)));
  std::set<std::string> auctioned;
  for (const job::Announce& an : SentOf<job::Announce>(h, "announce")) auctioned.insert(an.job_id);
  EXPECT_EQ(auctioned.size(), 1u) << "one auction for all the chunks";
  // Both holders got a chunk.
  std::set<std::string> holders;
  for (const job::Assignment& as : SentOf<job::Assignment>(h, "assignment")) {
    holders.insert(as.executor);
  }
  EXPECT_EQ(holders, (std::set<std::string>{h.did(b), h.did(c)}));

  h.Kill(b);
  const size_t assignments_before = h.Sent("assignment").size();
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(60)));
  const std::vector<job::Assignment> assignments = SentOf<job::Assignment>(h, "assignment");
  for (size_t i = assignments_before; i < assignments.size(); ++i) {
    EXPECT_EQ(assignments[i].executor, h.did(c)) << "a chunk went to the dead holder";
  }
  auctioned.clear();
  for (const job::Announce& an : SentOf<job::Announce>(h, "announce")) auctioned.insert(an.job_id);
  EXPECT_EQ(auctioned.size(), 1u) << "a holder is left: no new auction";
  int on_dead = 0;
  for (const std::string& id : ids) {
    const JobLog& log = h.job(id);
    ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
    EXPECT_EQ(log.finishes[0].output_cid, MarketHarness::HonestOutput(log.spec));
    if (log.finishes[0].peer == h.did(b)) ++on_dead;
    // Paid to whoever delivered, once.
    EXPECT_EQ(log.payments.size(), 1u);
    EXPECT_EQ(log.payments.at(0).executor, log.finishes[0].peer);
  }
  EXPECT_LT(on_dead, 6);
  bool requeued = false;
  for (const std::string& id : ids) {
    requeued = requeued || !h.job(id).BlocksOf("requeued").empty();
  }
  EXPECT_TRUE(requeued) << "the dead holder had a chunk";
  ExpectBooksBalance(h);
}

// long_job_test.cc ADelegatedJobResumesFromItsCheckpointOnAnotherExecutor: the executor sends
// checkpoints as it runs and dies; the submitter had fetched the latest, and the next
// assignment resumes from it.
TEST(MarketCoreTest, AJobResumesFromItsLatestCheckpointOnAnotherExecutor) {
  MarketHarness h;
  const int a = h.AddNode();
  NodeConfig checkpointing = Cheap();
  checkpointing.run_time = absl::Seconds(3);
  checkpointing.checkpoint_every = absl::Milliseconds(400);
  const int first = h.AddNode(checkpointing);
  NodeConfig other = Dear();
  other.run_time = absl::Seconds(1);
  other.progress = true;
  const int second = h.AddNode(other);
  JobOptions job;
  job.wall_time_ms = 600'000;
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(
      h.RunUntil([&] { return h.job(id).BlocksOf("checkpoint").size() >= 2; }, absl::Seconds(10)));
  const std::string latest = h.job(id).BlocksOf("checkpoint").back()->detail.value("cid", "");
  ASSERT_FALSE(latest.empty());
  h.Kill(first);
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_EQ(log.finishes[0].peer, h.did(second));
  const std::vector<job::Assignment> assignments = SentOf<job::Assignment>(h, "assignment");
  ASSERT_EQ(assignments.size(), 2u);
  EXPECT_EQ(assignments[0].resume_checkpoint, "");
  EXPECT_EQ(assignments[1].executor, h.did(second));
  EXPECT_EQ(assignments[1].resume_checkpoint, latest);
  ASSERT_EQ(h.runs(second).size(), 1u);
  EXPECT_EQ(h.runs(second)[0].resume_checkpoint, latest);
  const std::vector<const Block*> assigned = log.BlocksOf("assigned");
  ASSERT_EQ(assigned.size(), 2u);
  EXPECT_EQ(assigned[1]->detail.value("resume_checkpoint", ""), latest);
  EXPECT_FALSE(h.Published(a, "job.checkpoint").empty());
  const std::vector<Publish> progress = h.Published(a, "job.progress");
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress[0].data.value("executor", ""), h.did(second));
  EXPECT_EQ(progress[0].data.value("percent", 0.0), 50.0);
  EXPECT_EQ(log.PaymentsTo(h.did(first)), 0);
  ExpectBooksBalance(h);
}

// A submitter that restarts while an executor runs its job takes the job up again from what
// it persisted (a Ticket with its round, peer and was_running): that run is written off, the
// job is re-announced in a later round, and the receipt of the old round is ignored.
TEST(MarketCoreTest, ARestartedSubmitterReannouncesInALaterRoundAndIgnoresTheOldReceipt) {
  MarketHarness h;
  const int a = 0;
  const std::string id = SubmitToTwoSlowExecutors(h, absl::Seconds(2));
  ASSERT_TRUE(h.job(id).running);
  const uint32_t round = h.job(id).market->round;
  const std::string first = h.job(id).market->peer;
  h.Kill(a);
  h.Advance(absl::Milliseconds(100));
  const size_t announces_before = h.Sent("announce").size();
  h.Restart(a);
  EXPECT_TRUE(h.market(a).Holds(id));
  // The first executor's receipt of the old round (whenever it comes) is late.
  job::Receipt old;
  old.job_id = id;
  old.round = round;
  old.executor = first;
  old.outcome = "ok";
  old.output_cid = MarketHarness::HonestOutput(h.job(id).spec);
  old.fuel_used = 5'000'000;
  old.report = nlohmann::json::object();
  const double late_before = h.Counted(a, Counter::kReceipts, "late");
  h.SendMessage(h.IndexOf(first), a, old);
  h.Advance(absl::Milliseconds(20));
  EXPECT_EQ(h.Counted(a, Counter::kReceipts, "late"), late_before + 1);
  EXPECT_TRUE(h.job(id).finishes.empty()) << "the written-off run's receipt ended the job";
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(60)));
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.size(), 1u);
  ASSERT_EQ(log.finishes[0].state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_GT(log.finishes[0].round, round);
  const std::vector<job::Announce> announces = SentOf<job::Announce>(h, "announce");
  ASSERT_GT(announces.size(), announces_before) << "it was not re-announced";
  for (size_t i = announces_before; i < announces.size(); ++i) {
    EXPECT_GT(announces[i].round, round);
  }
  EXPECT_THAT(log.Phases(), Contains("requeued"));
  ASSERT_EQ(log.payments.size(), 1u);
  EXPECT_NE(log.payments[0].assignment, id + "/" + std::to_string(round))
      << "the written-off run was paid";
  ExpectBooksBalance(h);
}

// The harness itself: a run is a function of its seed.
TEST(MarketCoreTest, TheSameSeedGivesTheSameTrace) {
  auto run = [](uint64_t seed) {
    testing::HarnessOptions o;
    o.seed = seed;
    o.jitter = absl::Milliseconds(3);
    MarketHarness h(o);
    const int a = h.AddNode();
    h.AddNode();
    h.AddNode();
    for (int i = 0; i < 4; ++i) {
      JobOptions job;
      job.inputs = {"same " + std::to_string(i)};
      h.Submit(a, job);
    }
    EXPECT_TRUE(h.RunUntilAllFinished(absl::Seconds(60)));
    return h.TraceHash();
  };
  EXPECT_EQ(run(7), run(7));
}

}  // namespace
}  // namespace mesh::market
