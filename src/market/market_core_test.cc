// The market's scenarios at the core level: market::Market on a few nodes, driven by a harness
// with a virtual clock and an in-memory network (testing/market_harness.h). Each mirrors an
// in-process mesh test in src/node (mesh_test.cc, market_trust_test.cc, split_test.cc,
// long_job_test.cc) and asserts on what the core asked the shell to do: history phases,
// payments, refunds, standings and the one Finish of each job. No sockets, no sleeps.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/job_spec.h"
#include "testing/market_harness.h"

namespace mesh::market {
namespace {

using ::mesh::market::testing::JobLog;
using ::mesh::market::testing::JobOptions;
using ::mesh::market::testing::MarketHarness;
using ::mesh::market::testing::NodeConfig;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The executors a job was assigned to, in order (from its "assigned" blocks).
std::vector<std::string> Assigned(const JobLog& log) {
  std::vector<std::string> out;
  for (const Block* b : log.BlocksOf("assigned")) out.push_back(b->detail.value("executor", ""));
  return out;
}

template <typename T>
std::vector<T> SentOf(const MarketHarness& h, std::string_view name) {
  std::vector<T> out;
  for (const job::Message& m : h.Sent(name)) out.push_back(std::get<T>(m));
  return out;
}

// Every job handed ended once, was paid at most once per assignment and had its escrow
// refunded exactly once; the harness saw nothing a correct core never does.
void ExpectBooksBalance(const MarketHarness& h) {
  EXPECT_THAT(h.anomalies(), IsEmpty());
  for (const auto& [id, log] : h.jobs()) {
    EXPECT_EQ(log.finishes.size(), 1u) << id;
    EXPECT_EQ(log.refunds, 1) << id << ": the escrow is closed once";
    EXPECT_THAT(log.escrow_errors, IsEmpty()) << id;
    EXPECT_FALSE(h.market(log.submitter).Holds(id)) << id;
    const std::optional<ledger::EscrowInfo> escrow = h.book().FindEscrow(id);
    ASSERT_TRUE(escrow.has_value()) << id;
    EXPECT_FALSE(escrow->open) << id;
    EXPECT_EQ(escrow->remaining, 0) << id << ": the rest was refunded";
  }
  for (size_t i = 0; i < h.size(); ++i) {
    absl::StatusOr<ledger::Balance> balance = h.book().BalanceOf(h.did(int(i)), h.now());
    ASSERT_TRUE(balance.ok()) << balance.status();
    EXPECT_EQ(balance->held, 0) << "n" << i << " still holds credits in escrow";
  }
}

NodeConfig Cheap(NodeConfig c = {}) {
  c.base_fee = 0;
  return c;
}
NodeConfig Dear(NodeConfig c = {}) {
  c.base_fee = 50;
  return c;
}

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
TEST(MarketCoreTest, AnExecutorThatDiesMidJobIsReplacedAndNotPaid) {
  MarketHarness h;
  const int a = h.AddNode();
  NodeConfig slow;
  slow.run_time = absl::Seconds(3);
  h.AddNode(slow);
  h.AddNode(slow);
  JobOptions job;
  job.wall_time_ms = 600'000;  // its deadline is far: only the death can requeue it
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(h.RunUntil([&] { return h.job(id).running; }, absl::Seconds(5)));
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

// market_trust_test.cc ReplicateThreeCatchesALiarEveryTimeAndNeverPaysIt: replicate(3) with a
// cheap liar among the executors: the liar is outvoted, penalised and never paid; the two
// agreeing executors are paid once each; the accepted output is the honest one.
TEST(MarketCoreTest, ReplicateThreeCatchesALiarAndPaysOnlyTheAgreeingOnes) {
  MarketHarness h;
  const int a = h.AddNode();
  const int b = h.AddNode();
  const int c = h.AddNode();
  NodeConfig liar_config = Cheap();
  liar_config.liar = true;
  const int liar = h.AddNode(liar_config);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    JobOptions job;
    job.inputs = {"replicated " + std::to_string(i)};
    job.verification = "replicate(3)";
    ids.push_back(h.Submit(a, job));
  }
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(60)));
  int caught = 0;
  for (const std::string& id : ids) {
    const JobLog& log = h.job(id);
    const JobResult& r = log.finishes.at(0);
    ASSERT_EQ(r.state, job::JobState::kSucceeded) << r.reason;
    EXPECT_EQ(r.output_cid, MarketHarness::HonestOutput(log.spec)) << "a lie was accepted";
    EXPECT_NE(r.peer, h.did(liar));
    ASSERT_EQ(log.BlocksOf("verified").size(), 1u) << id;
    const nlohmann::json& verified = log.BlocksOf("verified")[0]->detail;
    EXPECT_EQ(verified.value("output_cid", ""), r.output_cid);
    EXPECT_EQ(verified["agreeing"].size(), 2u) << verified.dump();
    std::set<std::string> ran;
    for (const Block* receipt : log.BlocksOf("receipt")) {
      ran.insert(receipt->detail.value("executor", ""));
    }
    if (ran.contains(h.did(liar))) {
      ++caught;
      ASSERT_EQ(verified["outvoted"].size(), 1u) << verified.dump();
      EXPECT_EQ(verified["outvoted"][0].value("executor", ""), h.did(liar));
    }
    EXPECT_EQ(log.PaymentsTo(h.did(liar)), 0);
    EXPECT_EQ(log.payments.size(), 2u) << "each agreeing replica paid once";
    std::set<std::string> paid;
    for (const Pay& p : log.payments) paid.insert(p.assignment);
    EXPECT_EQ(paid.size(), 2u) << "two assignments, two payments";
    EXPECT_EQ(log.escrowed, 3 * (1000 + 11));
  }
  EXPECT_GE(caught, 1) << "the cheapest bidder never ran a replica";
  const auto& standings = h.standings(a);
  ASSERT_TRUE(standings.contains(h.did(liar)));
  EXPECT_EQ(std::count(standings.at(h.did(liar)).begin(), standings.at(h.did(liar)).end(),
                       Standing::kOutvoted),
            caught);
  EXPECT_THAT(standings.at(h.did(liar)), Not(Contains(Standing::kSuccess)));
  int successes = 0;
  for (int n : {b, c}) {
    if (standings.contains(h.did(n))) {
      successes += std::count(standings.at(h.did(n)).begin(), standings.at(h.did(n)).end(),
                              Standing::kSuccess);
    }
  }
  EXPECT_EQ(successes, 8);
  EXPECT_EQ(h.Counted(a, Counter::kOutvoted), caught);
  ExpectBooksBalance(h);
}

// market_trust_test.cc AStallingExecutorIsReplacedAndOnlyTheOneThatDeliveredIsPaid: the
// cheapest executor takes the job and never delivers; at its deadline the job is re-announced
// without it and runs elsewhere; only the deliverer is paid, the staller is penalised for a
// timeout, and the rest of the escrow is refunded.
TEST(MarketCoreTest, AStallIsCaughtByTheDeadlineAndTheRestRefunded) {
  MarketHarness h;
  NodeConfig submitter;
  submitter.market = [](MarketOptions& o) { o.receipt_grace = absl::Milliseconds(300); };
  const int a = h.AddNode(submitter);
  NodeConfig staller_config = Cheap();
  staller_config.staller = true;
  const int staller = h.AddNode(staller_config);
  const int honest = h.AddNode(Dear());
  JobOptions job;
  job.wall_time_ms = 1000;
  job.max_price = 500;
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_EQ(log.finishes[0].peer, h.did(honest));
  EXPECT_THAT(Assigned(log), ElementsAre(h.did(staller), h.did(honest)));
  // Not before the deadline: wall time plus the grace.
  EXPECT_GE(log.finishes[0].finished_at - log.submitted_at, absl::Milliseconds(1300));
  const std::vector<job::Announce> announces = SentOf<job::Announce>(h, "announce");
  ASSERT_FALSE(announces.empty());
  EXPECT_THAT(announces.back().exclude, Contains(h.did(staller)));
  EXPECT_GE(announces.back().round, 1u);
  EXPECT_EQ(log.PaymentsTo(h.did(staller)), 0);
  EXPECT_EQ(log.PaymentsTo(h.did(honest)), 1);
  EXPECT_LE(log.spent, 500 + 6);
  EXPECT_GT(log.spent, 0);
  EXPECT_THAT(h.standings(a).at(h.did(staller)), ElementsAre(Standing::kTimeout));
  // The staller was told to stop.
  bool cancelled = false;
  for (const job::CancelJob& cancel : SentOf<job::CancelJob>(h, "cancel")) {
    cancelled = cancelled || cancel.job_id == id;
  }
  EXPECT_TRUE(cancelled);
  ExpectBooksBalance(h);
}

// market_tamper_test.cc AlteredOutputBytesAreCaughtAndTheJobRunsElsewhere: the cheapest
// executor's receipt names an output whose bytes it cannot serve (they do not match the CID);
// the submitter's fetch fails, the executor is penalised and excluded, and the job runs
// elsewhere. Nothing is paid for the bad output.
TEST(MarketCoreTest, AnOutputThatCannotBeFetchedIsCaughtAndTheJobRunsElsewhere) {
  MarketHarness h;
  const int a = h.AddNode();
  NodeConfig tamperer = Cheap();
  tamperer.tamperer = true;
  const int bad = h.AddNode(tamperer);
  const int good = h.AddNode(Dear());
  const std::string id = h.Submit(a);
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.at(0).state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_EQ(log.finishes[0].peer, h.did(good));
  EXPECT_THAT(Assigned(log), ElementsAre(h.did(bad), h.did(good)));
  EXPECT_EQ(h.Counted(a, Counter::kReceipts, "bad_output"), 1);
  EXPECT_EQ(log.BlocksOf("receipt").size(), 1u) << "a bad output is not a result";
  EXPECT_EQ(log.PaymentsTo(h.did(bad)), 0);
  EXPECT_THAT(h.standings(a).at(h.did(bad)), ElementsAre(Standing::kFailure));
  ExpectBooksBalance(h);
}

// A receipt that claims more fuel than the job's limit is refused (the executor failed it) and
// the job runs elsewhere; the executor's real receipt, when it comes, is late.
TEST(MarketCoreTest, AReceiptOverTheFuelLimitIsRefusedAndTheJobRunsElsewhere) {
  MarketHarness h;
  const int a = h.AddNode();
  NodeConfig slow = Cheap();
  slow.run_time = absl::Seconds(1);
  const int first = h.AddNode(slow);
  const int second = h.AddNode(Dear());
  JobOptions job;
  job.fuel = 10'000'000;
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(h.RunUntil([&] { return h.job(id).running; }, absl::Seconds(5)));
  ASSERT_EQ(h.job(id).market->peer, h.did(first));
  job::Receipt greedy;
  greedy.job_id = id;
  greedy.round = h.job(id).market->round;
  greedy.executor = h.did(first);
  greedy.outcome = "ok";
  greedy.output_cid = MarketHarness::HonestOutput(h.job(id).spec);
  greedy.fuel_used = 10'000'001;
  greedy.report = nlohmann::json::object();
  h.SendMessage(first, a, greedy);
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(30)));
  h.Advance(absl::Seconds(2));  // the first executor's own receipt arrives, late
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.size(), 1u);
  ASSERT_EQ(log.finishes[0].state, job::JobState::kSucceeded) << log.finishes[0].reason;
  EXPECT_EQ(log.finishes[0].peer, h.did(second));
  EXPECT_EQ(h.Counted(a, Counter::kReceipts, "invalid"), 1);
  EXPECT_GE(h.Counted(a, Counter::kReceipts, "late"), 1);
  EXPECT_EQ(log.PaymentsTo(h.did(first)), 0);
  EXPECT_EQ(log.payments.size(), 1u);
  ExpectBooksBalance(h);
}

// split_test.cc ChunksOfADeadExecutorAreReassignedToTheOtherHolder: the chunks of a split job
// share one auction (the lease); its holders get chunk after chunk; when a holder dies, its
// chunks go to the other holder, without a new auction while a holder is left.
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

// A receipt that arrives twice (a retry whose first copy got through) is taken once; a
// receipt of an earlier round (an executor the job has moved on from) is counted late and
// changes nothing. Nothing is paid twice.
TEST(MarketCoreTest, ADuplicateReceiptIsIgnoredAndAnOldRoundsReceiptIsLate) {
  MarketHarness h;
  const int a = h.AddNode();
  const int b = h.AddNode();
  JobOptions job;
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(h.RunUntil([&] { return !h.Sent("receipt").empty(); }, absl::Seconds(5)));
  const job::Receipt receipt = std::get<job::Receipt>(h.Sent("receipt").front());
  // The same receipt again, right behind the first.
  h.SendMessage(b, a, receipt);
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(10)));
  h.Advance(absl::Seconds(1));
  // And once more after the job ended, and one of a round that never was hers.
  h.SendMessage(b, a, receipt);
  job::Receipt old = receipt;
  old.round = receipt.round + 5;
  h.SendMessage(b, a, old);
  h.Advance(absl::Seconds(1));
  const JobLog& log = h.job(id);
  ASSERT_EQ(log.finishes.size(), 1u);
  EXPECT_EQ(log.finishes[0].state, job::JobState::kSucceeded);
  EXPECT_EQ(log.BlocksOf("receipt").size(), 1u);
  EXPECT_EQ(log.payments.size(), 1u);
  EXPECT_EQ(h.Counted(a, Counter::kReceipts, "accepted"), 1);
  EXPECT_GE(h.Counted(a, Counter::kReceipts, "late"), 2);
  ExpectBooksBalance(h);
}

TEST(MarketCoreTest, AReceiptOfAnEarlierRoundIsLateWhileTheJobRunsElsewhere) {
  MarketHarness h;
  NodeConfig submitter;
  submitter.market = [](MarketOptions& o) { o.receipt_grace = absl::Milliseconds(300); };
  const int a = h.AddNode(submitter);
  NodeConfig staller_config = Cheap();
  staller_config.staller = true;
  const int staller = h.AddNode(staller_config);
  NodeConfig honest_config = Dear();
  honest_config.run_time = absl::Seconds(1);
  const int honest = h.AddNode(honest_config);
  JobOptions job;
  job.wall_time_ms = 1000;
  const std::string id = h.Submit(a, job);
  // The deadline passed, the job runs on the honest executor in a later round.
  ASSERT_TRUE(h.RunUntil(
      [&] {
        const JobLog& log = h.job(id);
        return log.running && log.market && log.market->peer == h.did(honest);
      },
      absl::Seconds(10)));
  ASSERT_GE(h.job(id).market->round, 1u);
  // Now the staller's round-0 receipt turns up, with the right output even.
  job::Receipt late;
  late.job_id = id;
  late.round = 0;
  late.executor = h.did(staller);
  late.outcome = "ok";
  late.output_cid = MarketHarness::HonestOutput(h.job(id).spec);
  late.fuel_used = 5'000'000;
  late.report = nlohmann::json::object();
  const double late_before = h.Counted(a, Counter::kReceipts, "late");
  h.SendMessage(staller, a, late);
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(10)));
  const JobLog& log = h.job(id);
  EXPECT_EQ(h.Counted(a, Counter::kReceipts, "late"), late_before + 1);
  ASSERT_EQ(log.finishes.size(), 1u);
  EXPECT_EQ(log.finishes[0].peer, h.did(honest));
  EXPECT_EQ(log.BlocksOf("receipt").size(), 1u);
  EXPECT_EQ(log.PaymentsTo(h.did(staller)), 0);
  EXPECT_EQ(log.PaymentsTo(h.did(honest)), 1);
  ExpectBooksBalance(h);
}

// A submitter that restarts while an executor runs its job takes the job up again from what
// it persisted (a Ticket with its round, peer and was_running): that run is written off, the
// job is re-announced in a later round, and the receipt of the old round is ignored.
TEST(MarketCoreTest, ARestartedSubmitterReannouncesInALaterRoundAndIgnoresTheOldReceipt) {
  MarketHarness h;
  const int a = h.AddNode();
  NodeConfig slow;
  slow.run_time = absl::Seconds(2);
  h.AddNode(slow);
  h.AddNode(slow);
  JobOptions job;
  job.wall_time_ms = 600'000;
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(h.RunUntil([&] { return h.job(id).running; }, absl::Seconds(5)));
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

// The executor's side alone, stepped by hand (no harness): one Market that a submitter's
// messages reach directly.
class ExecutorAloneTest : public ::testing::Test {
 protected:
  ExecutorAloneTest()
      : origin_key_(*crypto::KeyPair::FromSeed(std::string(32, 'o'))),
        executor_key_(*crypto::KeyPair::FromSeed(std::string(32, 'x'))),
        origin_(origin_key_.did().ToString()),
        self_(executor_key_.did().ToString()),
        rng_(1),
        spec_(SignedSpec(origin_key_, now_)) {
    MarketOptions options;
    options.self = self_;
    options.address = "executor:1";
    market_ = std::make_unique<Market>(options, nullptr, &rng_);
    CapacityChanged capacity;
    capacity.capacity.did = self_;
    capacity.capacity.max_concurrent = 1;
    capacity.capacity.memory_bytes = 1 << 30;
    market_->Step(now_, capacity);
    PeerChanged peer;
    peer.peer.did = origin_;
    peer.peer.address = "origin:1";
    peer.peer.alive = true;
    market_->Step(now_, peer);
  }

  static job::SignedJobSpec SignedSpec(const crypto::KeyPair& key, absl::Time now) {
    job::JobSpec spec;
    spec.module = MarketHarness::CidOf("module");
    spec.inputs = {MarketHarness::CidOf("input")};
    spec.limits.fuel = 1000;
    spec.created_at_ms = absl::ToUnixMillis(now);
    spec.nonce = std::string(32, 'a');
    return job::SignJobSpec(spec, key);
  }

  job::Assignment MakeAssignment(uint32_t round) const {
    job::Assignment as;
    as.job_id = spec_.id.ToString();
    as.round = round;
    as.origin = origin_;
    as.origin_address = "origin:1";
    as.executor = self_;
    as.spec_envelope = spec_.envelope;
    return as;
  }
  std::vector<Action> Deliver(const job::Assignment& as) {
    Received r;
    r.from = origin_;
    r.message = as;
    r.envelope = "assignment " + std::to_string(as.round);
    r.envelope_cid = MarketHarness::CidOf(r.envelope);
    return market_->Step(now_, std::move(r));
  }
  template <typename T>
  static std::vector<T> Of(const std::vector<Action>& actions) {
    std::vector<T> out;
    for (const Action& a : actions) {
      if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
    }
    return out;
  }
  // The ack among the actions (a reply), or nullopt.
  static std::optional<job::AssignmentAck> AckIn(const std::vector<Action>& actions) {
    for (const Send& s : Of<Send>(actions)) {
      if (const auto* ack = std::get_if<job::AssignmentAck>(&*s.message); ack && s.reply) {
        return *ack;
      }
    }
    return std::nullopt;
  }

  crypto::KeyPair origin_key_, executor_key_;
  std::string origin_, self_;
  SeededRng rng_;
  absl::Time now_ = absl::FromUnixSeconds(1'780'000'000);
  std::unique_ptr<Market> market_;
  job::SignedJobSpec spec_;
};

// A job it ran and reported, assigned to it again in a later round (its submitter restarted
// and found it idle), is not fetched and run a second time: its receipt goes again, for the
// new round (as node/market_executor.cc did when it found the job in its store).
TEST_F(ExecutorAloneTest, AJobAssignedAgainAfterItsReceiptIsReportedAgainNotRunAgain) {
  std::vector<Action> out = Deliver(MakeAssignment(0));
  const std::vector<Fetch> fetches = Of<Fetch>(out);
  ASSERT_EQ(fetches.size(), 1u);
  out = market_->Step(now_, FetchResult{fetches[0].token, absl::OkStatus()});
  ASSERT_EQ(Of<RunHere>(out).size(), 1u);
  LocalRunEnd end;
  end.job_id = spec_.id.ToString();
  end.origin = origin_;
  end.origin_address = "origin:1";
  end.round = 0;
  end.state = job::JobState::kSucceeded;
  end.outcome = "ok";
  end.output_cid = MarketHarness::CidOf("output");
  end.fuel_used = 500;
  now_ += absl::Seconds(1);
  out = market_->Step(now_, LocalEnded{end});
  std::vector<Send> sends = Of<Send>(out);
  ASSERT_EQ(sends.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<job::Receipt>(*sends[0].message));
  market_->Step(now_, SendResult{sends[0].token, absl::OkStatus(), std::nullopt, ""});
  EXPECT_EQ(market_->Stats().assigned, 0u);

  now_ += absl::Seconds(1);
  out = Deliver(MakeAssignment(3));
  EXPECT_TRUE(Of<Fetch>(out).empty()) << "the job is fetched to run a second time";
  EXPECT_TRUE(AckIn(out).has_value() && AckIn(out)->accepted);
  bool receipt = false;
  for (const Send& s : Of<Send>(out)) {
    if (const auto* r = std::get_if<job::Receipt>(&*s.message)) {
      receipt = true;
      EXPECT_EQ(r->round, 3u);
      EXPECT_EQ(r->output_cid, end.output_cid);
      EXPECT_EQ(r->assignment_cid, MarketHarness::CidOf("assignment 3"));
    }
  }
  EXPECT_TRUE(receipt) << "the receipt is not sent again for the new round";
}

// Bad assignments are refused with the reason, and nothing is fetched or run.
TEST_F(ExecutorAloneTest, BadAssignmentsAreRefusedWithTheirReason) {
  job::Assignment other = MakeAssignment(0);
  other.executor = origin_;
  job::Assignment forged = MakeAssignment(0);
  forged.spec_envelope = "not an envelope";
  job::Assignment renamed = MakeAssignment(0);
  renamed.job_id = MarketHarness::CidOf("another job");
  const std::vector<std::pair<job::Assignment, std::string>> cases = {
      {other, "another executor"}, {forged, "does not verify"}, {renamed, "id is"}};
  for (const auto& [as, why] : cases) {
    const std::vector<Action> out = Deliver(as);
    const std::optional<job::AssignmentAck> ack = AckIn(out);
    ASSERT_TRUE(ack.has_value()) << why;
    EXPECT_FALSE(ack->accepted) << why;
    EXPECT_THAT(ack->reason, HasSubstr(why));
    EXPECT_TRUE(Of<Fetch>(out).empty()) << why;
    EXPECT_TRUE(Of<RunHere>(out).empty()) << why;
  }
  EXPECT_EQ(market_->Stats().assigned, 0u);
  // Draining: no new work.
  CapacityChanged draining;
  draining.capacity.did = self_;
  draining.capacity.max_concurrent = 1;
  draining.capacity.draining = true;
  market_->Step(now_, draining);
  const std::optional<job::AssignmentAck> ack = AckIn(Deliver(MakeAssignment(0)));
  ASSERT_TRUE(ack.has_value());
  EXPECT_FALSE(ack->accepted);
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
