// Poison jobs (issue 13, finding 2): a job or module that kills the node is not taken up again
// forever. The node's death is what it leaves in jobs.db: a job marked running (RunOne marks it
// before the worker gets it) and no end. Each test "restarts" by closing the service and the
// store and opening them again on the same file, as a new process would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <set>

#include "compute_test_util.h"
#include "mesh/common/testing.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/job_store.h"

namespace mesh::node {
namespace {

using job::JobState;
using ::testing::HasSubstr;

class PoisonJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(blobs_, cas::BlobStore::Open({.root = root_ / "store"}, clock_));
    ASSERT_OK_AND_ASSIGN(module_, blobs_->PutBytes("the poison module (the fake ignores it)"));
    ASSERT_OK_AND_ASSIGN(other_, blobs_->PutBytes("an innocent module"));
    OpenJobs();
  }
  void TearDown() override {
    service_.reset();
    metrics_.reset();
    jobs_.reset();
  }
  void OpenJobs() { ASSERT_OK_AND_ASSIGN(jobs_, JobStore::Open(root_ / "jobs.db")); }
  void StartService() {
    service_.reset();
    // A new process has new metrics (the registry refuses a series registered twice).
    metrics_ = std::make_unique<MetricsRegistry>();
    service_ = std::make_unique<ComputeService>(
        ComputeOptions{}, NodeEnv{&clock_, &rng_, &key_, blobs_.get(), jobs_.get(), &events_,
                                  metrics_.get(), &runner_});
    ASSERT_OK(service_->Start());
  }
  // A new process on the same data: the old one's service and store are gone.
  void Restart() {
    service_.reset();
    jobs_.reset();
    OpenJobs();
    StartService();
  }
  // The node dies while `id` runs: RunOne marked it running, nothing ended it. (The service in
  // the test, if any, is closed first; its drain put the job back in the queue, as a clean stop
  // would, and the mark below is the dead process's.)
  void DieWhileRunning(const std::string& id) {
    service_.reset();
    ASSERT_OK_AND_ASSIGN(JobRecord job, jobs_->Get(id));
    ASSERT_EQ(job.state, JobState::kQueued);
    ASSERT_OK(jobs_->MarkRunning(id, clock_.Now(), job.attempts + 1));
  }
  // A job stored as a node would (not run): kLocal = submitted here, kAssigned = run here for
  // another node.
  JobRecord Record(const cas::Cid& module, const std::string& nonce,
                   job::JobRole role = job::JobRole::kLocal) {
    job::JobSpec spec;
    spec.module = module.ToString();
    spec.inputs = {blobs_->PutBytes("input " + nonce)->ToString()};
    spec.created_at_ms = 1;
    spec.nonce = nonce;
    job::SignedJobSpec s = job::SignJobSpec(spec, key_);
    JobRecord r;
    r.id = s.id.ToString();
    r.envelope = s.envelope;
    r.spec = s.spec;
    r.submitted_at = clock_.Now();
    r.role = role;
    if (r.role != job::JobRole::kLocal) r.peer = "did:key:zsubmitter";
    EXPECT_TRUE(jobs_->Insert(r).ok());
    return r;
  }
  JobRecord AwaitEnd(const std::string& id) { return computetest::AwaitEnd(*service_, id); }
  std::vector<std::string> EventTypes(const std::string& id) {
    return computetest::EventTypes(events_, id);
  }

  ScopedTempDir tmp_;
  const std::filesystem::path root_ = tmp_.path();
  FakeClock clock_;
  SeededRng rng_{7};
  crypto::KeyPair key_ = crypto::KeyPair::Generate();
  std::unique_ptr<cas::BlobStore> blobs_;
  std::unique_ptr<JobStore> jobs_;
  EventBus events_;
  std::unique_ptr<MetricsRegistry> metrics_;
  computetest::HoldingRunner runner_;
  cas::Cid module_ = cas::Cid::Of("");
  cas::Cid other_ = cas::Cid::Of("");
  std::unique_ptr<ComputeService> service_;
};

TEST_F(PoisonJobTest, AJobTheNodeDiesUnderIsRetriedTwiceThenFails) {
  runner_.Hold(true);
  JobRecord job = Record(module_, "poison");
  ASSERT_OK(jobs_->MarkRunning(job.id, clock_.Now(), 1));  // the first death
  for (int death = 1; death <= 2; ++death) {
    Restart();
    runner_.AwaitRunning(1);  // retried
    ASSERT_OK_AND_ASSIGN(JobRecord now, jobs_->Get(job.id));
    EXPECT_EQ(now.interrupted, death);
    EXPECT_EQ(now.state, JobState::kRunning);
    DieWhileRunning(job.id);
  }
  const int runs = runner_.runs();
  Restart();
  JobRecord failed = AwaitEnd(job.id);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.reason, "the node stopped while running this job (2 times); not retried");
  EXPECT_EQ(failed.outcome, "crashed");
  EXPECT_EQ(failed.interrupted, 3);
  EXPECT_TRUE(EndedByRestart(failed));
  EXPECT_EQ(runner_.runs(), runs) << "not run a third time";
  EXPECT_EQ(EventTypes(job.id).back(), "job.failed");
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> history, jobs_->History(job.id));
  EXPECT_EQ(history.back().phase, "failed");
  EXPECT_EQ(history.back().detail["interrupted"], 3);
  EXPECT_EQ(service_->Stats().failed, 1u);

  // The failure is final on disk, and the node goes on serving.
  Restart();
  ASSERT_OK_AND_ASSIGN(JobRecord stored, jobs_->Get(job.id));
  EXPECT_EQ(stored.state, JobState::kFailed);
  runner_.Hold(false);
  JobRecord hello = Record(other_, "hello");
  Restart();
  EXPECT_EQ(AwaitEnd(hello.id).state, JobState::kSucceeded);
}

TEST_F(PoisonJobTest, ADrainThatRequeuesIsNotADeath) {
  runner_.Hold(true);
  JobRecord job = Record(other_, "long");
  for (int stop = 0; stop < 4; ++stop) {
    Restart();
    runner_.AwaitRunning(1);
    service_->Drain(absl::ZeroDuration());  // SIGTERM past the grace period: back to the queue
  }
  ASSERT_OK_AND_ASSIGN(JobRecord requeued, jobs_->Get(job.id));
  EXPECT_EQ(requeued.state, JobState::kQueued);
  EXPECT_EQ(requeued.interrupted, 0);
  EXPECT_EQ(requeued.attempts, 4);
  runner_.Hold(false);
  Restart();
  EXPECT_EQ(AwaitEnd(job.id).state, JobState::kSucceeded);
  ASSERT_OK_AND_ASSIGN(std::vector<ModuleCrashes> crashes, jobs_->ListModuleCrashes());
  EXPECT_TRUE(crashes.empty());
}

TEST_F(PoisonJobTest, AnExecutorRefusesAModuleItDiedWithTwice) {
  runner_.Hold(true);
  const std::string module = module_.ToString();
  JobRecord assigned = Record(module_, "assigned", job::JobRole::kAssigned);
  JobRecord queued_behind = Record(module_, "behind", job::JobRole::kAssigned);
  JobRecord local = Record(other_, "local");
  ASSERT_OK(jobs_->MarkRunning(assigned.id, clock_.Now(), 1));
  ASSERT_OK(jobs_->MarkRunning(local.id, clock_.Now(), 1));
  Restart();
  runner_.AwaitRunning(1);
  EXPECT_EQ(service_->ModuleRefusal(module), "") << "one death is forgiven";
  ASSERT_OK_AND_ASSIGN(std::vector<ModuleCrashes> crashes, jobs_->ListModuleCrashes());
  ASSERT_EQ(crashes.size(), 2u);  // each module running at the death, once
  EXPECT_EQ(crashes[0].crashes, 1);

  DieWhileRunning(assigned.id);
  clock_.Advance(absl::Hours(1));
  Restart();
  const std::string refusal = service_->ModuleRefusal(module);
  EXPECT_THAT(refusal, HasSubstr("module " + module + " crashed this node 2 times"));
  EXPECT_THAT(refusal, HasSubstr("refuses it until"));
  // The job it was running fails with that reason, and so does the one queued behind it.
  for (const JobRecord& j : {assigned, queued_behind}) {
    JobRecord failed = AwaitEnd(j.id);
    EXPECT_EQ(failed.state, JobState::kFailed);
    EXPECT_EQ(failed.reason, refusal);
    EXPECT_TRUE(EndedByRestart(failed));
  }
  EXPECT_EQ(service_->ModuleRefusal(other_.ToString()), "");

  // Persisted: a later start still refuses it, until the refusal period has passed.
  Restart();
  EXPECT_EQ(service_->ModuleRefusal(module), refusal);
  clock_.Advance(ComputeOptions{}.module_refusal);
  EXPECT_EQ(service_->ModuleRefusal(module), "");
}

TEST_F(PoisonJobTest, TwoJobsOfOneModuleAtOneDeathCountOnce) {
  JobRecord a = Record(module_, "a", job::JobRole::kAssigned);
  JobRecord b = Record(module_, "b", job::JobRole::kAssigned);
  ASSERT_OK(jobs_->MarkRunning(a.id, clock_.Now(), 1));
  ASSERT_OK(jobs_->MarkRunning(b.id, clock_.Now(), 1));
  runner_.Hold(true);
  Restart();
  EXPECT_EQ(service_->ModuleRefusal(module_.ToString()), "");
  ASSERT_OK_AND_ASSIGN(std::vector<ModuleCrashes> crashes, jobs_->ListModuleCrashes());
  ASSERT_EQ(crashes.size(), 1u);
  EXPECT_EQ(crashes[0].crashes, 1);
  // A run of the module that ends (the node survived it) clears its count: it was not the
  // culprit.
  runner_.Hold(false);
  EXPECT_EQ(AwaitEnd(a.id).state, JobState::kSucceeded);
  EXPECT_EQ(AwaitEnd(b.id).state, JobState::kSucceeded);
  ASSERT_OK_AND_ASSIGN(crashes, jobs_->ListModuleCrashes());
  EXPECT_TRUE(crashes.empty());
}

TEST_F(PoisonJobTest, RecoveryIsOneTransactionThatSurvivesReopen) {
  JobRecord a = Record(module_, "a");
  JobRecord b = Record(module_, "b");
  ASSERT_OK(jobs_->MarkRunning(a.id, clock_.Now(), 1));
  ASSERT_OK(jobs_->MarkRunning(b.id, clock_.Now(), 1));
  const absl::Time at = clock_.Now();
  ASSERT_OK(jobs_->RecoverInterrupted(
      {{module_.ToString(), 1, at}},
      {{.id = a.id, .interrupted = 1, .reason = "the node restarted while the job ran"},
       {.id = b.id,
        .fail = true,
        .interrupted = 3,
        .reason = "stopped",
        .outcome = "crashed",
        .report_json = "{}"}},
      at));
  jobs_.reset();
  OpenJobs();
  ASSERT_OK_AND_ASSIGN(JobRecord ra, jobs_->Get(a.id));
  ASSERT_OK_AND_ASSIGN(JobRecord rb, jobs_->Get(b.id));
  EXPECT_EQ(ra.state, JobState::kQueued);
  EXPECT_EQ(ra.interrupted, 1);
  EXPECT_EQ(ra.phase, "requeued");
  EXPECT_EQ(rb.state, JobState::kFailed);
  EXPECT_EQ(rb.reason, "stopped");
  EXPECT_EQ(rb.outcome, "crashed");
  EXPECT_EQ(rb.interrupted, 3);
  EXPECT_EQ(rb.phase, "failed");
  ASSERT_OK_AND_ASSIGN(std::vector<ModuleCrashes> crashes, jobs_->ListModuleCrashes());
  ASSERT_EQ(crashes.size(), 1u);
  EXPECT_EQ(crashes[0].module, module_.ToString());
  EXPECT_EQ(crashes[0].last, at);
  // A job that already ended is left alone (and the rest of the recovery still applies).
  ASSERT_OK(jobs_->RecoverInterrupted(
      {}, {{.id = b.id, .interrupted = 9, .reason = "again"}, {.id = a.id, .fail = true}}, at));
  ASSERT_OK_AND_ASSIGN(rb, jobs_->Get(b.id));
  EXPECT_EQ(rb.reason, "stopped");
  ASSERT_OK_AND_ASSIGN(ra, jobs_->Get(a.id));
  EXPECT_EQ(ra.state, JobState::kFailed) << "a queued job can be failed by a recovery";
  ASSERT_OK(jobs_->ForgetModuleCrashes(module_.ToString()));
  ASSERT_OK_AND_ASSIGN(crashes, jobs_->ListModuleCrashes());
  EXPECT_TRUE(crashes.empty());
}

TEST_F(PoisonJobTest, AnOlderJobsDatabaseIsMigrated) {
  // jobs.db as the release before this one wrote it: no interrupted column, no module_crashes
  // table, and a job the node was running when it died.
  JobRecord job = Record(module_, "old");
  ASSERT_OK(jobs_->MarkRunning(job.id, clock_.Now(), 1));
  jobs_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ / "jobs.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE module_crashes; ALTER TABLE jobs DROP COLUMN interrupted;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  OpenJobs();
  ASSERT_OK_AND_ASSIGN(JobRecord migrated, jobs_->Get(job.id));
  EXPECT_EQ(migrated.state, JobState::kRunning);
  EXPECT_EQ(migrated.interrupted, 0);
  runner_.Hold(true);
  StartService();
  runner_.AwaitRunning(1);
  ASSERT_OK_AND_ASSIGN(migrated, jobs_->Get(job.id));
  EXPECT_EQ(migrated.interrupted, 1);
  ASSERT_OK_AND_ASSIGN(std::vector<ModuleCrashes> crashes, jobs_->ListModuleCrashes());
  EXPECT_EQ(crashes.size(), 1u);
}

}  // namespace
}  // namespace mesh::node
