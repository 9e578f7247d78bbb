#include "mesh/node/job_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <thread>

#include "absl/synchronization/notification.h"
#include "job_store_test_util.h"
#include "mesh/common/file_util.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"

namespace mesh::node {
namespace {

using job::JobRole;
using job::JobState;

using JobStoreTest = jobstoretest::JobStoreFixture;

TEST_F(JobStoreTest, InsertGetAndLifecycle) {
  JobRecord r = Make(1, 7);
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> existing, store_->Insert(r));
  EXPECT_FALSE(existing.has_value());
  EXPECT_GT(r.seq, 0);
  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(r.id));
  EXPECT_EQ(got.state, JobState::kQueued);
  EXPECT_EQ(got.spec.priority, 7);
  EXPECT_EQ(got.envelope, r.envelope);
  EXPECT_EQ(got.submitted_at, r.submitted_at);

  ASSERT_OK(store_->MarkRunning(r.id, absl::FromUnixSeconds(1700000100), 1));
  EXPECT_EQ(store_->MarkRunning(r.id, absl::FromUnixSeconds(1700000100), 1).code(),
            absl::StatusCode::kFailedPrecondition);
  r.state = JobState::kSucceeded;
  r.outcome = "ok";
  r.fuel_used = 1234;
  r.output_cid = cas::Cid::Of("out").ToString();
  r.report_json = "{\"outcome\":\"ok\"}";
  r.finished_at = absl::FromUnixSeconds(1700000200);
  ASSERT_OK_AND_ASSIGN(bool moved, store_->Finish(r));
  EXPECT_TRUE(moved);
  // Exactly once: a second end (a re-run after a restart, a late cancel) changes nothing.
  r.state = JobState::kCancelled;
  ASSERT_OK_AND_ASSIGN(bool again, store_->Finish(r));
  EXPECT_FALSE(again);
  ASSERT_OK_AND_ASSIGN(got, store_->Get(r.id));
  EXPECT_EQ(got.state, JobState::kSucceeded);
  EXPECT_EQ(got.fuel_used, 1234u);
  EXPECT_EQ(got.attempts, 1);
  EXPECT_EQ(got.report_json, "{\"outcome\":\"ok\"}");
  EXPECT_EQ(store_->Get("bafkreimissing").status().code(), absl::StatusCode::kNotFound);
  r.state = JobState::kRunning;
  EXPECT_EQ(store_->Finish(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, IdempotencyKeysAreUnique) {
  JobRecord a = Make(1, 0, "retry-me");
  JobRecord b = Make(2, 0, "retry-me");
  ASSERT_OK(store_->Insert(a).status());
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> existing, store_->Insert(b));
  ASSERT_TRUE(existing.has_value());
  EXPECT_EQ(*existing, a.id);
  EXPECT_EQ(store_->Get(b.id).status().code(), absl::StatusCode::kNotFound);
  JobRecord c = Make(3);
  ASSERT_OK(store_->Insert(c).status());
  EXPECT_EQ(store_->Insert(c).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(JobStoreTest, ListFiltersAndPagesNewestFirst) {
  std::vector<JobRecord> all;
  for (int i = 0; i < 10; ++i) {
    JobRecord r = Make(i);
    ASSERT_OK(store_->Insert(r).status());
    all.push_back(r);
  }
  for (int i = 0; i < 10; i += 2) ASSERT_OK(store_->MarkRunning(all[i].id, absl::Now(), 1));
  ASSERT_OK_AND_ASSIGN(auto page1, store_->List({}, 4));
  ASSERT_EQ(page1.size(), 4u);
  EXPECT_EQ(page1[0].id, all[9].id);
  ASSERT_OK_AND_ASSIGN(auto page2, store_->List({}, 4, page1.back().seq));
  ASSERT_EQ(page2.size(), 4u);
  EXPECT_EQ(page2[0].id, all[5].id);
  ASSERT_OK_AND_ASSIGN(auto running, store_->List({.state = JobState::kRunning}, 100));
  EXPECT_EQ(running.size(), 5u);
  for (const JobRecord& r : running) EXPECT_EQ(r.state, JobState::kRunning);
  ASSERT_OK_AND_ASSIGN(auto unfinished, store_->Unfinished());
  ASSERT_EQ(unfinished.size(), 10u);
  EXPECT_EQ(unfinished[0].id, all[0].id);  // submission order
  ASSERT_OK(store_->Requeue(all[0].id, absl::Now(), "test"));
  ASSERT_OK_AND_ASSIGN(JobCounts counts, store_->Counts());
  EXPECT_EQ(counts.queued, 6u);
  EXPECT_EQ(counts.running, 4u);
}

// Labels and the submitter are read from the stored spec, over every job (not a page of them);
// a key is a bound value whatever it holds, quotes and dots included.
TEST_F(JobStoreTest, ListKeepsJobsByLabelAndSubmitter) {
  const crypto::KeyPair other = crypto::KeyPair::Generate();
  std::vector<std::string> nightly, odd;
  for (int i = 0; i < 12; ++i) {
    job::JobSpec spec;
    spec.module = cas::Cid::Of("module").ToString();
    spec.created_at_ms = i;
    spec.nonce = std::to_string(i);
    spec.labels = {{"batch", i % 3 == 0 ? "nightly" : "adhoc"}};
    if (i == 7) spec.labels["we\"ird.key"] = "v=1";
    const job::SignedJobSpec s = job::SignJobSpec(spec, i < 6 ? key_ : other);
    JobRecord r;
    r.id = s.id.ToString();
    r.envelope = s.envelope;
    r.spec = s.spec;
    r.submitted_at = absl::FromUnixSeconds(1700000000 + i);
    ASSERT_OK(store_->Insert(r).status());
    if (i % 3 == 0) nightly.insert(nightly.begin(), r.id);  // newest first
    if (i == 7) odd.push_back(r.id);
  }
  auto ids = [](const std::vector<JobRecord>& rows) {
    std::vector<std::string> out;
    for (const JobRecord& r : rows) out.push_back(r.id);
    return out;
  };
  ASSERT_OK_AND_ASSIGN(auto by_value,
                       store_->List({.label_key = "batch", .label_value = "nightly"}, 100));
  EXPECT_EQ(ids(by_value), nightly);
  ASSERT_OK_AND_ASSIGN(auto by_key, store_->List({.label_key = "batch"}, 100));
  EXPECT_EQ(by_key.size(), 12u);
  ASSERT_OK_AND_ASSIGN(auto weird,
                       store_->List({.label_key = "we\"ird.key", .label_value = "v=1"}, 100));
  EXPECT_EQ(ids(weird), odd);
  ASSERT_OK_AND_ASSIGN(auto none,
                       store_->List({.label_key = "batch", .label_value = "weekly"}, 100));
  EXPECT_TRUE(none.empty());
  ASSERT_OK_AND_ASSIGN(auto mine, store_->List({.submitter = other.did().ToString()}, 100));
  EXPECT_EQ(mine.size(), 6u);
  for (const JobRecord& r : mine) EXPECT_EQ(r.spec.submitter, other.did().ToString());
  // Filters combine, and page: two nightly jobs of `other` per page (i = 6 and 9).
  ASSERT_OK_AND_ASSIGN(auto page, store_->List({.label_key = "batch",
                                                .label_value = "nightly",
                                                .submitter = other.did().ToString()},
                                               1));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, nightly[0]);
  ASSERT_OK_AND_ASSIGN(auto next, store_->List({.label_key = "batch",
                                                .label_value = "nightly",
                                                .submitter = other.did().ToString()},
                                               10, page[0].seq));
  EXPECT_EQ(ids(next), std::vector<std::string>{nightly[1]});
}

TEST_F(JobStoreTest, SurvivesReopen) {
  JobRecord r = Make(1);
  ASSERT_OK(store_->Insert(r).status());
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(root_ / "jobs.db"));
  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(r.id));
  EXPECT_EQ(got.envelope, r.envelope);
}

TEST_F(JobStoreTest, DamagedDatabaseIsReportedNotOverwritten) {
  store_.reset();
  std::filesystem::remove(root_ / "jobs.db-wal");
  std::filesystem::remove(root_ / "jobs.db-shm");
  const std::string garbage(8192, 'x');
  ASSERT_OK(WriteFileAtomically(root_ / "jobs.db", garbage, 0600, true));
  absl::StatusOr<std::unique_ptr<JobStore>> opened = JobStore::Open(root_ / "jobs.db");
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(std::string(opened.status().message()).find("move it aside"), std::string::npos)
      << opened.status();
  ASSERT_OK_AND_ASSIGN(std::string still, ReadFileToString(root_ / "jobs.db", 1 << 20));
  EXPECT_EQ(still, garbage);
}

}  // namespace
}  // namespace mesh::node

namespace mesh::node {
namespace {

TEST_F(JobStoreTest, EveryStepIsAHashLinkedHistoryBlock) {
  JobRecord r = Make(1);
  r.role = JobRole::kDelegated;
  r.placement_reason = "remote: requested";
  ASSERT_OK(store_->Insert(r).status());
  ASSERT_OK(
      store_->AppendHistory(r.id, "bidding_open", absl::FromUnixSeconds(1700000001), {{"round", 0}})
          .status());
  ASSERT_OK(store_->SetMarket(r.id, JobRole::kDelegated, "did:key:exec", "127.0.0.1:1", 0));
  ASSERT_OK(store_->MarkRunning(r.id, absl::FromUnixSeconds(1700000002), 1));
  ASSERT_OK(store_->Requeue(r.id, absl::FromUnixSeconds(1700000003), "executor died"));
  ASSERT_OK(store_->MarkRunning(r.id, absl::FromUnixSeconds(1700000004), 2));
  r.state = JobState::kSucceeded;
  r.finished_at = absl::FromUnixSeconds(1700000005);
  ASSERT_OK(store_->Finish(r).status());
  r.state = JobState::kFailed;
  ASSERT_OK(store_->Finish(r).status());  // a late duplicate adds no block

  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, store_->History(r.id));
  std::vector<std::string> phases;
  for (const HistoryBlock& b : blocks) phases.push_back(b.phase);
  EXPECT_EQ(phases, (std::vector<std::string>{"submitted", "bidding_open", "executing", "requeued",
                                              "executing", "completed"}));
  EXPECT_EQ(blocks[0].prev, "");
  EXPECT_EQ(blocks[0].detail["placement"], "remote: requested");
  EXPECT_EQ(blocks[0].detail["role"], "delegated");
  for (size_t i = 1; i < blocks.size(); ++i) EXPECT_EQ(blocks[i].prev, blocks[i - 1].cid);
  EXPECT_EQ(blocks[3].detail["reason"], "executor died");
  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(r.id));
  EXPECT_EQ(got.history_head, blocks.back().cid);
  EXPECT_EQ(got.phase, "completed");
  EXPECT_EQ(got.peer, "did:key:exec");
  EXPECT_EQ(got.role, JobRole::kDelegated);
  EXPECT_EQ(store_->AppendHistory("bafkreimissing", "x", absl::Now(), {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobStoreTest, AMarketStepIsOneTransaction) {
  JobRecord a = Make(1), b = Make(2);
  ASSERT_OK(store_->Insert(a).status());
  ASSERT_OK(store_->Insert(b).status());
  const absl::Time at = absl::FromUnixSeconds(1700000100);
  ASSERT_OK(store_->MarkRunning(a.id, at, 1));

  MarketWrite requeue;  // a: back in the queue, then given to executor "x" in round 2
  requeue.job_id = a.id;
  requeue.requeue = "executor died";
  requeue.market = MarketWrite::Market{job::JobRole::kDelegated, "did:x", "10.0.0.1:7421", 2};
  requeue.blocks = {{"bidding_closed", {{"round", 2}}}, {"assigned", {{"executor", "did:x"}}}};
  MarketWrite unknown;  // not a job of this store: skipped, the rest still commits
  unknown.job_id = "bafy-not-here";
  unknown.blocks = {{"assigned", nlohmann::json::object()}};
  MarketWrite other;
  other.job_id = b.id;
  other.requeue = "not running: nothing to put back";
  other.blocks = {{"bidding_open", {{"round", 0}}}};
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> cids,
                       store_->ApplyMarketStep({requeue, unknown, other}, at));
  ASSERT_EQ(cids.size(), 4u);
  EXPECT_FALSE(cids[0].empty());
  EXPECT_TRUE(cids[2].empty());

  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(a.id));
  EXPECT_EQ(got.state, JobState::kQueued);
  EXPECT_EQ(got.role, job::JobRole::kDelegated);
  EXPECT_EQ(got.peer, "did:x");
  EXPECT_EQ(got.peer_address, "10.0.0.1:7421");
  EXPECT_EQ(got.round, 2u);
  EXPECT_EQ(got.history_head, cids[1]);
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> history, store_->History(a.id));
  std::vector<std::string> phases;
  for (const HistoryBlock& h : history) phases.push_back(h.phase);
  EXPECT_THAT(phases, ::testing::ElementsAre("submitted", "executing", "requeued", "bidding_closed",
                                             "assigned"));
  EXPECT_EQ(history[2].detail["reason"], "executor died");
  EXPECT_EQ(history[3].cid, cids[0]);

  ASSERT_OK_AND_ASSIGN(JobRecord queued, store_->Get(b.id));
  EXPECT_EQ(queued.state, JobState::kQueued);
  ASSERT_OK_AND_ASSIGN(history, store_->History(b.id));
  ASSERT_EQ(history.size(), 2u);  // no "requeued" block for a job that was not running
  EXPECT_EQ(history[1].cid, cids[3]);
}

TEST_F(JobStoreTest, AnAlteredHistoryBlockIsFound) {
  JobRecord r = Make(2);
  ASSERT_OK(store_->Insert(r).status());
  ASSERT_OK(store_->MarkRunning(r.id, absl::FromUnixSeconds(1700000002), 1));
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ / "jobs.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE history SET body = replace(body, '\"attempt\":1', "
                         "'\"attempt\":9') WHERE body LIKE '%executing%'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(root_ / "jobs.db"));
  absl::StatusOr<std::vector<HistoryBlock>> blocks = store_->History(r.id);
  EXPECT_EQ(blocks.status().code(), absl::StatusCode::kDataLoss) << blocks.status();
  EXPECT_THAT(std::string(blocks.status().message()),
              ::testing::HasSubstr("does not match its CID"));
}

TEST_F(JobStoreTest, ADatabaseFromBeforeTheMeshGainsItsColumns) {
  store_.reset();
  std::filesystem::remove(root_ / "jobs.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ / "jobs.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL "
                   "UNIQUE, envelope BLOB NOT NULL, spec_json TEXT NOT NULL, priority INTEGER "
                   "NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', "
                   "idempotency_key TEXT UNIQUE, submitted_us INTEGER NOT NULL, started_us "
                   "INTEGER NOT NULL DEFAULT 0, finished_us INTEGER NOT NULL DEFAULT 0, "
                   "attempts INTEGER NOT NULL DEFAULT 0, outcome TEXT NOT NULL DEFAULT '', "
                   "exit_code INTEGER NOT NULL DEFAULT 0, fuel_used INTEGER NOT NULL DEFAULT "
                   "0, output_cid TEXT NOT NULL DEFAULT '', report_json TEXT NOT NULL DEFAULT "
                   "'')",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(root_ / "jobs.db"));
  JobRecord r = Make(3);
  ASSERT_OK(store_->Insert(r).status());
  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(r.id));
  EXPECT_EQ(got.phase, "submitted");
  EXPECT_EQ(got.role, JobRole::kLocal);
  EXPECT_EQ(got.files_cid, "");  // the output tree's column, added too
}

TEST_F(JobStoreTest, AnOutputTreeIsStoredAndInTheFinalBlock) {
  JobRecord r = Make(4);
  ASSERT_OK(store_->Insert(r).status());
  r.state = JobState::kSucceeded;
  r.outcome = "ok";
  r.output_cid = cas::Cid::Of("out").ToString();
  r.files_cid = cas::Cid::Of("tree", cas::Codec::kDagJson).ToString();
  r.finished_at = absl::FromUnixSeconds(1700000200);
  ASSERT_OK_AND_ASSIGN(bool moved, store_->Finish(r));
  ASSERT_TRUE(moved);
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(root_ / "jobs.db"));
  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(r.id));
  EXPECT_EQ(got.files_cid, r.files_cid);
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, store_->History(r.id));
  EXPECT_EQ(blocks.back().detail.value("files_cid", ""), r.files_cid);
  // A job without a tree keeps the old shape of its final block.
  JobRecord plain = Make(5);
  ASSERT_OK(store_->Insert(plain).status());
  plain.state = JobState::kSucceeded;
  plain.finished_at = absl::FromUnixSeconds(1700000200);
  ASSERT_OK(store_->Finish(plain).status());
  ASSERT_OK_AND_ASSIGN(blocks, store_->History(plain.id));
  EXPECT_FALSE(blocks.back().detail.contains("files_cid"));
}

// The raw role column of a job, as SQLite holds it.
std::string StoredRole(const std::filesystem::path& db_path, const std::string& id) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT role FROM jobs WHERE id = ?1", -1, &s, nullptr),
            SQLITE_OK);
  sqlite3_bind_text(s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  std::string role = "<no row>";
  if (sqlite3_step(s) == SQLITE_ROW) {
    role = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return role;
}

void SetStoredRole(const std::filesystem::path& db_path, const std::string& id,
                   const std::string& role) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE jobs SET role = ?2 WHERE id = ?1", -1, &s, nullptr),
            SQLITE_OK);
  sqlite3_bind_text(s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, role.c_str(), -1, SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(s), SQLITE_DONE);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_F(JobStoreTest, RolesAreStoredByNameAndReadBack) {
  std::vector<std::string> ids;
  int n = 10;
  for (JobRole role : {JobRole::kLocal, JobRole::kDelegated, JobRole::kAssigned, JobRole::kSplit}) {
    JobRecord r = Make(n++);
    r.role = role;
    ASSERT_OK(store_->Insert(r).status());
    ids.push_back(r.id);
  }
  // SetMarket changes the role (a resumed job handed to the market, say).
  ASSERT_OK(store_->SetMarket(ids[0], JobRole::kDelegated, "did:key:exec", "127.0.0.1:1", 2));
  store_.reset();
  const std::filesystem::path db = root_ / "jobs.db";
  EXPECT_EQ(StoredRole(db, ids[0]), "delegated");
  EXPECT_EQ(StoredRole(db, ids[1]), "delegated");
  EXPECT_EQ(StoredRole(db, ids[2]), "assigned");
  EXPECT_EQ(StoredRole(db, ids[3]), "split");
  ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(db));
  const std::vector<JobRole> expected = {JobRole::kDelegated, JobRole::kDelegated,
                                         JobRole::kAssigned, JobRole::kSplit};
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(ids[i]));
    EXPECT_EQ(got.role, expected[i]) << job::JobRoleName(got.role);
  }
  ASSERT_OK_AND_ASSIGN(JobRecord moved, store_->Get(ids[0]));
  EXPECT_EQ(moved.peer, "did:key:exec");
  EXPECT_EQ(moved.round, 2u);
}

TEST_F(JobStoreTest, ALocalJobIsStoredAsLocalAndAnEmptyRoleReadsAsLocal) {
  JobRecord r = Make(20);
  ASSERT_OK(store_->Insert(r).status());
  store_.reset();
  const std::filesystem::path db = root_ / "jobs.db";
  EXPECT_EQ(StoredRole(db, r.id), "local");
  // How a local job was stored before roles were an enum.
  SetStoredRole(db, r.id, "");
  ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(db));
  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(r.id));
  EXPECT_EQ(got.role, JobRole::kLocal);
  // Its first history block names no role, as before.
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, store_->History(r.id));
  ASSERT_FALSE(blocks.empty());
  EXPECT_FALSE(blocks[0].detail.contains("role"));
}

TEST_F(JobStoreTest, AnUnknownRoleInTheDatabaseIsAnErrorNotACrash) {
  JobRecord bad = Make(30);
  JobRecord good = Make(31);
  ASSERT_OK(store_->Insert(bad).status());
  ASSERT_OK(store_->Insert(good).status());
  store_.reset();
  SetStoredRole(root_ / "jobs.db", bad.id, "Delegated");  // names are case-sensitive
  ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(root_ / "jobs.db"));

  absl::StatusOr<JobRecord> got = store_->Get(bad.id);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_THAT(
      std::string(got.status().message()),
      ::testing::HasSubstr(mesh::StrCat("job ", bad.id, " has unknown role \"Delegated\"")));
  EXPECT_THAT(std::string(got.status().message()),
              ::testing::HasSubstr("known: local, delegated, assigned, split"));
  // Lists that include it say so too; the other job still reads.
  EXPECT_EQ(store_->Unfinished().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->List({}, 10, 0).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_OK_AND_ASSIGN(JobRecord fine, store_->Get(good.id));
  EXPECT_EQ(fine.role, JobRole::kLocal);
}

// Group commit: the first writer's transaction is held in the hook while `steps` queue behind
// it; they are then written as one batch, which `second` decides (OK or a failed COMMIT).
class GroupCommitTest : public JobStoreTest {
 protected:
  // Runs `first` alone, then every step of `steps` in one batch whose COMMIT `second` decides.
  void RunBatched(std::function<void()> first, std::vector<std::function<void()>> steps,
                  absl::Status second) {
    absl::Notification held, release;
    int commits = 0;
    store_->SetBeforeGroupCommitForTest([&]() -> absl::Status {
      if (++commits == 1) {
        held.Notify();
        release.WaitForNotification();
        return absl::OkStatus();
      }
      return commits == 2 ? second : absl::OkStatus();
    });
    std::thread leader(std::move(first));
    held.WaitForNotification();
    std::vector<std::thread> threads;
    for (auto& step : steps) threads.emplace_back(std::move(step));
    // Not a timing assertion: waits (however long it takes) until all of them have queued.
    while (store_->queued_writes_for_test() < steps.size()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    release.Notify();
    leader.join();
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(commits, 2) << "the queued steps were not written as one batch";
    store_->SetBeforeGroupCommitForTest(nullptr);
  }
};

TEST_F(GroupCommitTest, AFailedBatchCommitStoresNoneOfItsStepsAndFailsEveryCaller) {
  JobRecord queued = Make(1), first = Make(2), b = Make(3), c = Make(4);
  ASSERT_OK(store_->Insert(queued).status());
  absl::Status first_status, b_status, c_status, running_status;
  RunBatched(
      [&] { first_status = store_->Insert(first).status(); },
      {[&] { b_status = store_->Insert(b).status(); },
       [&] { c_status = store_->Insert(c).status(); },
       [&] { running_status = store_->MarkRunning(queued.id, absl::FromUnixSeconds(1), 1); }},
      absl::DataLossError("the disk is on fire"));
  // The step committed before the failure is stored.
  ASSERT_OK(first_status);
  ASSERT_OK(store_->Get(first.id).status());
  // Every caller of the failed batch hears of it, and nothing of it is on disk: a job whose
  // submission failed is not there, a job whose start failed is still queued.
  EXPECT_EQ(b_status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(c_status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(running_status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->Get(b.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(c.id).status().code(), absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(queued.id));
  EXPECT_EQ(got.state, JobState::kQueued);
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, store_->History(queued.id));
  EXPECT_EQ(blocks.size(), 1u);
  // The store goes on: the same steps succeed when tried again.
  ASSERT_OK(store_->Insert(b).status());
  ASSERT_OK(store_->MarkRunning(queued.id, absl::FromUnixSeconds(1), 1));
  ASSERT_OK_AND_ASSIGN(blocks, store_->History(queued.id));
  EXPECT_EQ(blocks.size(), 2u);
}

TEST_F(GroupCommitTest, OneStepsErrorInABatchUndoesThatStepOnly) {
  JobRecord done = Make(1), first = Make(2), fresh = Make(3);
  ASSERT_OK(store_->Insert(done).status());
  JobRecord duplicate = done;
  absl::StatusOr<std::optional<std::string>> duplicate_result = absl::UnknownError("unset");
  absl::Status fresh_status, missing_status;
  absl::StatusOr<bool> finished = absl::UnknownError("unset");
  done.state = JobState::kSucceeded;
  done.outcome = "ok";
  done.finished_at = absl::FromUnixSeconds(1700000200);
  RunBatched([&] { ASSERT_OK(store_->Insert(first).status()); },
             {[&] { duplicate_result = store_->Insert(duplicate); },
              [&] { fresh_status = store_->Insert(fresh).status(); },
              [&] { missing_status = store_->MarkRunning("bafkreimissing", absl::Now(), 1); },
              [&] { finished = store_->Finish(done); }},
             absl::OkStatus());
  EXPECT_EQ(duplicate_result.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(missing_status.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_OK(fresh_status);
  EXPECT_GT(fresh.seq, first.seq);
  ASSERT_OK_AND_ASSIGN(JobRecord got, store_->Get(fresh.id));
  EXPECT_EQ(got.state, JobState::kQueued);
  EXPECT_EQ(got.history_head, fresh.history_head);
  ASSERT_OK_AND_ASSIGN(bool moved, finished);
  EXPECT_TRUE(moved);
  ASSERT_OK_AND_ASSIGN(got, store_->Get(done.id));
  EXPECT_EQ(got.state, JobState::kSucceeded);
  // The failed duplicate left no second "submitted" block in the chain.
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, store_->History(done.id));
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].phase, "submitted");
  EXPECT_EQ(blocks[1].phase, "completed");
}

TEST_F(GroupCommitTest, ConcurrentStepsAllLandWithIntactHistories) {
  constexpr int kThreads = 8, kJobs = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<JobRecord>> made(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kJobs; ++i) {
        JobRecord r = Make(1000 * (t + 1) + i, 0, mesh::StrCat("key-", t, "-", i));
        ASSERT_OK(store_->Insert(r).status());
        ASSERT_OK(store_->MarkRunning(r.id, absl::FromUnixSeconds(1700000001), 1));
        r.state = JobState::kSucceeded;
        r.finished_at = absl::FromUnixSeconds(1700000002);
        ASSERT_OK_AND_ASSIGN(bool moved, store_->Finish(r));
        ASSERT_TRUE(moved);
        made[t].push_back(r);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_OK_AND_ASSIGN(JobCounts counts, store_->Counts());
  EXPECT_EQ(counts.succeeded, uint64_t{kThreads * kJobs});
  for (const auto& jobs : made) {
    for (const JobRecord& r : jobs) {
      ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, store_->History(r.id));
      ASSERT_EQ(blocks.size(), 3u);
      EXPECT_EQ(blocks[2].phase, "completed");
    }
  }
}

}  // namespace
}  // namespace mesh::node
