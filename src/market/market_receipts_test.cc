// The market's receipts, verification and settlement at the core level (see
// market_core_test.cc): liars outvoted, stalls caught by the deadline, outputs that cannot be
// fetched, receipts over the fuel limit, duplicate and late receipts. Each mirrors an
// in-process test in src/node (market_trust_test.cc, market_tamper_test.cc) where there is one.
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

// What a liar writes: other stdout, or the same stdout and other files in its output tree.
enum class Lie { kOutput, kFiles };

// replicate(3) with a cheap liar among the executors: the liar is outvoted, penalised and never
// paid; the two agreeing executors are paid once each; the accepted result is the honest one.
void ExpectALiarOutvotedAndNeverPaid(Lie lie) {
  MarketHarness h;
  const int a = h.AddNode();
  const int b = h.AddNode();
  const int c = h.AddNode();
  NodeConfig liar_config = Cheap();
  (lie == Lie::kOutput ? liar_config.liar : liar_config.files_liar) = true;
  const int liar = h.AddNode(liar_config);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    JobOptions job;
    job.inputs = {"replicated " + std::to_string(i)};
    job.verification = "replicate(3)";
    if (lie == Lie::kFiles) job.output_dir = "/out";
    ids.push_back(h.Submit(a, job));
  }
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(60)));
  int caught = 0;
  for (const std::string& id : ids) {
    const JobLog& log = h.job(id);
    const JobResult& r = log.finishes.at(0);
    ASSERT_EQ(r.state, job::JobState::kSucceeded) << r.reason;
    EXPECT_EQ(r.output_cid, MarketHarness::HonestOutput(log.spec)) << "a lie was accepted";
    if (lie == Lie::kFiles) {
      EXPECT_EQ(r.files_cid, MarketHarness::HonestFiles(log.spec)) << "other files were accepted";
    }
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

// market_trust_test.cc ReplicateThreeCatchesALiarEveryTimeAndNeverPaysIt.
TEST(MarketCoreTest, ReplicateThreeCatchesALiarAndPaysOnlyTheAgreeingOnes) {
  ExpectALiarOutvotedAndNeverPaid(Lie::kOutput);
}

// Issue 17: replicas vote on stdout and the output tree together, so an executor with the same
// stdout but other files is outvoted and not paid.
TEST(MarketCoreTest, AnExecutorThatWroteOtherFilesIsOutvoted) {
  ExpectALiarOutvotedAndNeverPaid(Lie::kFiles);
}

// market_trust_test.cc AStallingExecutorIsReplacedAndOnlyTheOneThatDeliveredIsPaid: the
// cheapest executor takes the job and never delivers; at its deadline the job goes to the other
// bidder of its auction (which holds the lease with it: no new announcement) and runs there;
// only the deliverer is paid, the staller is penalised for a timeout, and the rest of the
// escrow is refunded.
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
  EXPECT_EQ(SentOf<job::Announce>(h, "announce").size(), 2u) << "one auction, to both";
  const std::vector<const Block*> assigned = log.BlocksOf("assigned");
  ASSERT_EQ(assigned.size(), 2u);
  EXPECT_THAT(assigned[1]->detail.value("lease", ""), HasSubstr(id + "/0"));
  EXPECT_GE(assigned[1]->detail.value("round", 0), 1);
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

}  // namespace
}  // namespace mesh::market

namespace mesh::market {
namespace {

using ::mesh::market::testing::Cheap;
using ::mesh::market::testing::JobLog;
using ::mesh::market::testing::JobOptions;
using ::mesh::market::testing::MarketHarness;
using ::mesh::market::testing::NodeConfig;

// Issue 17: a job with mounted trees and an output directory. Replicas agree on the stdout and
// the output tree together; the tree is fetched (by CID) with the output and kept on the job.
TEST(MarketCoreTest, ReplicasAgreeOnTheOutputTreeToo) {
  MarketHarness h;
  const int a = h.AddNode();
  h.AddNode();
  h.AddNode();
  JobOptions job;
  job.verification = "replicate(2)";
  job.output_dir = "/out";
  job.mounts = {"a tree"};
  const std::string id = h.Submit(a, job);
  ASSERT_TRUE(h.RunUntilAllFinished(absl::Seconds(60)));
  const JobLog& log = h.job(id);
  const JobResult& r = log.finishes.at(0);
  ASSERT_EQ(r.state, job::JobState::kSucceeded) << r.reason;
  EXPECT_EQ(r.files_cid, MarketHarness::HonestFiles(log.spec));
  ASSERT_EQ(log.BlocksOf("verified").size(), 1u);
  const nlohmann::json& verified = log.BlocksOf("verified")[0]->detail;
  EXPECT_EQ(verified.value("output_cid", ""), r.output_cid);
  EXPECT_EQ(verified.value("files_cid", ""), r.files_cid);
  for (const Block* receipt : log.BlocksOf("receipt")) {
    EXPECT_EQ(receipt->detail.value("files_cid", ""), r.files_cid);
  }
}

}  // namespace
}  // namespace mesh::market
