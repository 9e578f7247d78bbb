#include "mesh/node/mesh_group_commit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "job_store_test_util.h"
#include "mesh/common/testing.h"
#include "mesh/node/job_store.h"
#include "mesh/node/market_records.h"

namespace mesh::node {
namespace {

using ::testing::ElementsAre;

market::Persist Write(std::string job_id, std::string phase) {
  market::Persist p;
  p.job_id = std::move(job_id);
  p.blocks.push_back({std::move(phase), nlohmann::json::object()});
  return p;
}
market::Send SendTo(std::string to, uint64_t token) {
  market::Send s;
  s.to = std::move(to);
  s.token = token;
  return s;
}
market::Log LogLine(std::string text) { return market::Log{market::Log::Level::kInfo, text}; }

// What the hooks saw, in order: "commit:<job>/<phase>,...", "do:<what>", "drop:<what>".
struct Recorder {
  std::vector<std::string> seen;
  bool fail_commits = false;

  static std::string Name(const market::Action& a) {
    if (const auto* s = std::get_if<market::Send>(&a)) return "send " + s->to;
    if (const auto* l = std::get_if<market::Log>(&a)) return "log " + l->text;
    if (const auto* f = std::get_if<market::Finish>(&a)) return "finish " + f->result.job_id;
    if (const auto* p = std::get_if<market::Pay>(&a)) return "pay " + p->job_id;
    return "other";
  }
  StepHooks Hooks() {
    return StepHooks{
        .commit =
            [this](const std::vector<const market::Persist*>& writes) {
              std::string line = "commit:";
              for (const market::Persist* p : writes) {
                for (const market::Block& b : p->blocks) line += p->job_id + "/" + b.phase + ",";
              }
              seen.push_back(line);
              return fail_commits ? absl::InternalError("disk full") : absl::OkStatus();
            },
        .carry_out = [this](const market::Action& a) { seen.push_back("do:" + Name(a)); },
        .dropped = [this](const market::Action& a) { seen.push_back("drop:" + Name(a)); },
    };
  }
};

TEST(MarketGroupCommitTest, TheWritesOfQueuedStepsShareOneCommitAndNothingLeavesBeforeIt) {
  // Step 1 sends before its write (as the core may order them); step 2 writes and sends.
  std::vector<market::Action> step1{SendTo("B", 1), Write("j1", "bidding_open"), LogLine("one")};
  std::vector<market::Action> step2{Write("j2", "bidding_open"), SendTo("C", 2)};
  Recorder r;
  const GroupCommitStats stats = CarryOutSteps({&step1, &step2}, r.Hooks());
  EXPECT_THAT(r.seen, ElementsAre("do:log one", "commit:j1/bidding_open,j2/bidding_open,",
                                  "do:send B", "do:send C"));
  EXPECT_EQ(stats.commits, 1u);
  EXPECT_EQ(stats.writes, 2u);
  EXPECT_EQ(stats.failed_commits, 0u);
}

TEST(MarketGroupCommitTest, AStoreWriteOfItsOwnIsABarrierThatKeepsTheOrder) {
  market::Finish finish;
  finish.result.job_id = "j1";
  market::Pay pay;
  pay.job_id = "j1";
  std::vector<market::Action> step1{Write("j1", "receipt"), SendTo("B", 0)};
  std::vector<market::Action> step2{finish, pay};
  std::vector<market::Action> step3{Write("j1", "late"), SendTo("C", 0)};
  Recorder r;
  const GroupCommitStats stats = CarryOutSteps({&step1, &step2, &step3}, r.Hooks());
  EXPECT_THAT(r.seen, ElementsAre("commit:j1/receipt,", "do:send B", "do:finish j1",
                                  "commit:j1/late,", "do:pay j1", "do:send C"));
  EXPECT_EQ(stats.commits, 2u);
}

TEST(MarketGroupCommitTest, AFailedCommitDropsEveryActionThatWaitedForIt) {
  market::Pay pay;
  pay.job_id = "j2";
  std::vector<market::Action> step1{Write("j1", "receipt"), SendTo("B", 7)};
  std::vector<market::Action> step2{pay, Write("j2", "completed"), LogLine("two")};
  Recorder r;
  r.fail_commits = true;
  const GroupCommitStats stats = CarryOutSteps({&step1, &step2}, r.Hooks());
  EXPECT_THAT(r.seen, ElementsAre("do:log two", "commit:j1/receipt,j2/completed,", "drop:send B",
                                  "drop:pay j2"));
  EXPECT_EQ(stats.failed_commits, 1u);
}

TEST(MarketGroupCommitTest, StepsWithoutWritesNeedNoCommit) {
  std::vector<market::Action> step1{SendTo("B", 1)};
  std::vector<market::Action> empty;
  Recorder r;
  const GroupCommitStats stats = CarryOutSteps({&step1, &empty}, r.Hooks());
  EXPECT_THAT(r.seen, ElementsAre("do:send B"));
  EXPECT_EQ(stats.commits, 0u);
}

TEST(MarketGroupCommitTest, KindsOfActions) {
  EXPECT_EQ(KindOf(Write("j", "x")), StepActionKind::kWrite);
  EXPECT_EQ(KindOf(SendTo("B", 0)), StepActionKind::kAfterCommit);
  EXPECT_EQ(KindOf(market::Pay{}), StepActionKind::kAfterCommit);
  EXPECT_EQ(KindOf(market::Publish{}), StepActionKind::kAfterCommit);
  EXPECT_EQ(KindOf(market::Fetch{}), StepActionKind::kAfterCommit);
  EXPECT_EQ(KindOf(market::Finish{}), StepActionKind::kBarrier);
  EXPECT_EQ(KindOf(market::MarkRunning{}), StepActionKind::kBarrier);
  EXPECT_EQ(KindOf(market::RunHere{}), StepActionKind::kBarrier);
  EXPECT_EQ(KindOf(LogLine("x")), StepActionKind::kImmediate);
  EXPECT_EQ(KindOf(market::SetTimer{}), StepActionKind::kImmediate);
}

// With the real store: a batch whose last write fails leaves no step of it recorded, and the
// send of the step whose write went fine is not made either.
class GroupCommitStoreTest : public jobstoretest::JobStoreFixture {
 protected:
  std::string Insert(int n) {
    JobRecord r = Make(n);
    EXPECT_OK(store_->Insert(r).status());
    return r.id;
  }
  std::vector<std::string> Phases(const std::string& id) {
    std::vector<std::string> phases;
    absl::StatusOr<std::vector<HistoryBlock>> history = store_->History(id);
    EXPECT_OK(history.status());
    if (history.ok()) {
      for (const HistoryBlock& h : *history) phases.push_back(h.phase);
    }
    return phases;
  }
  StepHooks Hooks(Recorder& r) {
    StepHooks hooks = r.Hooks();
    hooks.commit = [this](const std::vector<const market::Persist*>& writes) {
      return store_->ApplyMarketStep(WritesOf(writes), absl::FromUnixSeconds(1700000100)).status();
    };
    return hooks;
  }
};

TEST_F(GroupCommitStoreTest, AFailedBatchRollsBackEveryStepInItAndSendsNothing) {
  const std::string a = Insert(1), b = Insert(2);
  // A history block with "boom" in it cannot be written (as a full disk would refuse it).
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ / "jobs.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TRIGGER refuse_boom BEFORE INSERT ON history "
                         "WHEN NEW.body LIKE '%boom%' BEGIN SELECT RAISE(ABORT, 'refused'); END",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(root_ / "jobs.db"));

  std::vector<market::Action> step1{Write(a, "bidding_open"), SendTo("B", 1)};
  std::vector<market::Action> step2{Write(b, "boom"), SendTo("C", 2)};
  Recorder r;
  GroupCommitStats stats = CarryOutSteps({&step1, &step2}, Hooks(r));
  EXPECT_EQ(stats.failed_commits, 1u);
  EXPECT_THAT(r.seen, ElementsAre("drop:send B", "drop:send C"));
  EXPECT_THAT(Phases(a), ElementsAre("submitted"));  // step 1's block rolled back with step 2's
  EXPECT_THAT(Phases(b), ElementsAre("submitted"));

  // The same steps without the bad block: one commit holds both, then both sends go.
  std::vector<market::Action> step3{Write(b, "bidding_open"), SendTo("C", 3)};
  r.seen.clear();
  stats = CarryOutSteps({&step1, &step3}, Hooks(r));
  EXPECT_EQ(stats.commits, 1u);
  EXPECT_EQ(stats.failed_commits, 0u);
  EXPECT_THAT(r.seen, ElementsAre("do:send B", "do:send C"));
  EXPECT_THAT(Phases(a), ElementsAre("submitted", "bidding_open"));
  EXPECT_THAT(Phases(b), ElementsAre("submitted", "bidding_open"));
}

}  // namespace
}  // namespace mesh::node
