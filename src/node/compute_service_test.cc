#include "mesh/node/compute_service.h"
#include "compute_test_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>

#include "mesh/common/strings.h"
#include "mesh/common/testing.h"

namespace mesh::node {
namespace {

using job::JobState;

class ComputeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(blobs_, cas::BlobStore::Open({.root = root_ / "store"}, clock_));
    ASSERT_OK_AND_ASSIGN(module_, blobs_->PutBytes("not really wasm; the fake runner ignores it"));
    OpenJobs();
  }
  void TearDown() override {
    service_.reset();
    jobs_.reset();
  }
  void OpenJobs() { ASSERT_OK_AND_ASSIGN(jobs_, JobStore::Open(root_ / "jobs.db")); }
  void StartService(int max_concurrent = 1) {
    ComputeOptions options;
    options.max_concurrent = max_concurrent;
    service_ = std::make_unique<ComputeService>(
        options,
        NodeEnv{&clock_, &rng_, &key_, blobs_.get(), jobs_.get(), &events_, &metrics_, &runner_});
    ASSERT_OK(service_->Start());
  }
  // A job whose stdin (and so its output) is `input`.
  absl::StatusOr<SubmitResult> Submit(const std::string& input, int priority = 0,
                                      std::string idempotency_key = "") {
    MESH_ASSIGN_OR_RETURN(cas::Cid in, blobs_->PutBytes(input));
    SubmitRequest request;
    request.spec.module = module_.ToString();
    request.spec.inputs = {in.ToString()};
    request.spec.priority = priority;
    request.idempotency_key = std::move(idempotency_key);
    return service_->Submit(std::move(request));
  }
  // The job's end is in the store before the service counts and announces it: waits for its
  // final event too, after which the service's counts and metrics include it.
  JobRecord AwaitEnd(const std::string& id) {
    JobRecord job = computetest::AwaitEnd(*service_, id);
    const std::string final_event = mesh::StrCat("job.", job::JobStateName(job.state));
    for (int i = 0; i < 2000; ++i) {
      std::vector<std::string> types = EventTypes(id);
      if (!types.empty() && types.back() == final_event) return job;
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << "job " << id << " ended without its " << final_event << " event";
    return job;
  }
  std::vector<std::string> EventTypes(const std::string& id) {
    return computetest::EventTypes(events_, id);
  }

  ScopedTempDir tmp_;
  const std::filesystem::path root_ = tmp_.path();
  FakeClock clock_;
  SeededRng rng_{42};
  crypto::KeyPair key_ = crypto::KeyPair::Generate();
  std::unique_ptr<cas::BlobStore> blobs_;
  std::unique_ptr<JobStore> jobs_;
  EventBus events_;
  MetricsRegistry metrics_;
  computetest::HoldingRunner runner_;
  cas::Cid module_ = cas::Cid::Of("");
  std::unique_ptr<ComputeService> service_;
};

TEST_F(ComputeServiceTest, JobRunsAndKeepsItsOutput) {
  StartService();
  ASSERT_OK_AND_ASSIGN(SubmitResult submitted, Submit("hello"));
  EXPECT_TRUE(submitted.created);
  EXPECT_EQ(submitted.job.spec.submitter, key_.did().ToString());
  EXPECT_EQ(submitted.job.spec.limits.fuel, wasm::Limits{}.fuel);  // defaults are signed in
  JobRecord done = AwaitEnd(submitted.job.id);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.attempts, 1);
  EXPECT_EQ(done.fuel_used, 100u);
  ASSERT_OK_AND_ASSIGN(cas::Cid out, cas::Cid::Parse(done.output_cid));
  ASSERT_OK_AND_ASSIGN(std::string bytes, blobs_->Get(out));
  EXPECT_EQ(bytes, "hello");
  EXPECT_EQ(EventTypes(done.id), (std::vector<std::string>{"job.queued", "job.running",
                                                           "job.progress", "job.succeeded"}));
  ServiceStats stats = service_->Stats();
  EXPECT_EQ(stats.succeeded, 1u);
  EXPECT_EQ(stats.fuel_used_total, 100u);
  EXPECT_NE(metrics_.RenderText().find("mesh_jobs_finished_total{state=\"succeeded\"} 1"),
            std::string::npos);
}

TEST_F(ComputeServiceTest, FailuresCarryTheirReason) {
  StartService();
  ASSERT_OK_AND_ASSIGN(SubmitResult trap, Submit("trap"));
  ASSERT_OK_AND_ASSIGN(SubmitResult error, Submit("error"));
  JobRecord t = AwaitEnd(trap.job.id);
  EXPECT_EQ(t.state, JobState::kFailed);
  EXPECT_EQ(t.outcome, "trap");
  EXPECT_NE(t.reason.find("unreachable executed"), std::string::npos) << t.reason;
  JobRecord e = AwaitEnd(error.job.id);
  EXPECT_EQ(e.state, JobState::kFailed);
  EXPECT_EQ(e.reason, "engine exploded");
  EXPECT_EQ(service_->Stats().failed, 2u);
}

TEST_F(ComputeServiceTest, HigherPriorityRunsFirstAndFifoWithinOne) {
  StartService(1);
  runner_.Hold(true);
  ASSERT_OK_AND_ASSIGN(SubmitResult blocker, Submit("blocker"));
  runner_.AwaitRunning(1);
  ASSERT_OK_AND_ASSIGN(SubmitResult low1, Submit("low1", 0));
  ASSERT_OK_AND_ASSIGN(SubmitResult high, Submit("high", 5));
  ASSERT_OK_AND_ASSIGN(SubmitResult low2, Submit("low2", 0));
  ASSERT_OK_AND_ASSIGN(SubmitResult urgent, Submit("urgent", 100));
  EXPECT_EQ(service_->Stats().queued, 4u);
  runner_.Hold(false);
  AwaitEnd(low2.job.id);
  AwaitEnd(low1.job.id);
  EXPECT_EQ(runner_.started(),
            (std::vector<std::string>{"blocker", "urgent", "high", "low1", "low2"}));
}

// Hears of every job's end on the thread that records it, and holds the end of the job whose
// input is `hold_input` there until a second run has started (at most 10 s).
class HoldingSplitHandler final : public SplitHandler {
 public:
  HoldingSplitHandler(computetest::HoldingRunner* runner, cas::Cid hold_input)
      : runner_(runner), hold_input_(hold_input.ToString()) {}
  void Take(const JobRecord&) override {}
  bool Cancel(const std::string&) override { return false; }
  void OnFinished(const JobRecord& job) override {
    if (job.spec.inputs != std::vector<std::string>{hold_input_}) return;
    for (int i = 0; i < 2000 && runner_->runs() < 2; ++i) absl::SleepFor(absl::Milliseconds(5));
    second_ran_during_the_end = runner_->runs() >= 2;
    heard = true;
  }
  std::atomic<bool> second_ran_during_the_end{false};
  std::atomic<bool> heard{false};  // of the held job's end (after the job.succeeded event)

 private:
  computetest::HoldingRunner* const runner_;
  const std::string hold_input_;
};

// One slot: the next job runs as soon as the worker's run of the previous one returns, while
// that one's end is still being recorded (its output stored, its history written, its receipt
// sent), so a node runs jobs back to back. Before, the slot was held to the end of the record.
TEST_F(ComputeServiceTest, TheNextJobRunsWhileTheLastOnesEndIsRecorded) {
  HoldingSplitHandler handler(&runner_, cas::Cid::Of("first"));
  ComputeOptions options;
  options.max_concurrent = 1;
  service_ = std::make_unique<ComputeService>(
      options,
      NodeEnv{&clock_, &rng_, &key_, blobs_.get(), jobs_.get(), &events_, &metrics_, &runner_});
  service_->SetSplitHandler(&handler);
  ASSERT_OK(service_->Start());
  ASSERT_OK_AND_ASSIGN(SubmitResult first, Submit("first"));
  ASSERT_OK_AND_ASSIGN(SubmitResult second, Submit("second"));
  EXPECT_EQ(AwaitEnd(second.job.id).state, JobState::kSucceeded);
  EXPECT_EQ(AwaitEnd(first.job.id).state, JobState::kSucceeded);
  for (int i = 0; i < 2000 && !handler.heard; ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(handler.heard);
  EXPECT_TRUE(handler.second_ran_during_the_end);
  EXPECT_EQ(runner_.started(), (std::vector<std::string>{"first", "second"}));
  service_.reset();  // before the handler it points to
}

TEST_F(ComputeServiceTest, CancelQueuedAndRunningJobs) {
  StartService(1);
  runner_.Hold(true);
  ASSERT_OK_AND_ASSIGN(SubmitResult running, Submit("running"));
  runner_.AwaitRunning(1);
  ASSERT_OK_AND_ASSIGN(SubmitResult queued, Submit("queued"));
  ASSERT_OK_AND_ASSIGN(JobRecord q, service_->Cancel(queued.job.id));
  EXPECT_EQ(q.state, JobState::kCancelled);
  ASSERT_OK_AND_ASSIGN(JobRecord r, service_->Cancel(running.job.id));
  EXPECT_EQ(r.state, JobState::kCancelled);
  EXPECT_EQ(r.reason, "cancelled by request while it ran");
  // Ended jobs cannot be cancelled; unknown ones are not found.
  EXPECT_EQ(service_->Cancel(queued.job.id).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_->Cancel("bafkreinope").status().code(), absl::StatusCode::kNotFound);
  runner_.Hold(false);
  ASSERT_OK_AND_ASSIGN(SubmitResult next, Submit("next"));
  EXPECT_EQ(AwaitEnd(next.job.id).state, JobState::kSucceeded);
  EXPECT_EQ(runner_.started(), (std::vector<std::string>{"running", "next"}));
  EXPECT_EQ(service_->Stats().cancelled, 2u);
  EXPECT_EQ(EventTypes(queued.job.id), (std::vector<std::string>{"job.queued", "job.cancelled"}));
}

TEST_F(ComputeServiceTest, IdempotencyKeyReturnsTheFirstJob) {
  StartService();
  ASSERT_OK_AND_ASSIGN(SubmitResult first, Submit("x", 0, "key-1"));
  ASSERT_OK_AND_ASSIGN(SubmitResult again, Submit("x", 0, "key-1"));
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.job.id, first.job.id);
  ASSERT_OK_AND_ASSIGN(SubmitResult other, Submit("x", 0, "key-2"));
  EXPECT_NE(other.job.id, first.job.id);
}

TEST_F(ComputeServiceTest, RefusesMissingBlobsAndBadEnvelopes) {
  StartService();
  SubmitRequest request;
  request.spec.module = cas::Cid::Of("never uploaded").ToString();
  absl::StatusOr<SubmitResult> missing = service_->Submit(request);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(missing.status().message()).find("not in this node's blob store"),
            std::string::npos);

  // A spec signed by its own submitter is accepted as is; a tampered one is not.
  crypto::KeyPair alice = crypto::KeyPair::Generate();
  job::JobSpec spec;
  spec.module = module_.ToString();
  spec.created_at_ms = 1;
  spec.nonce = "aa";
  job::SignedJobSpec signed_spec = job::SignJobSpec(spec, alice);
  SubmitRequest by_alice;
  by_alice.envelope = signed_spec.envelope;
  ASSERT_OK_AND_ASSIGN(SubmitResult ok, service_->Submit(by_alice));
  EXPECT_EQ(ok.job.id, signed_spec.id.ToString());
  EXPECT_EQ(ok.job.spec.submitter, alice.did().ToString());
  by_alice.envelope[by_alice.envelope.size() - 1] ^= 1;
  EXPECT_FALSE(service_->Submit(by_alice).ok());
}

TEST_F(ComputeServiceTest, RestartRunsUnfinishedJobsExactlyOnce) {
  // What a killed node leaves behind: one job marked running, one queued, one finished.
  auto record = [this](const std::string& input, const std::string& nonce) {
    job::JobSpec spec;
    spec.module = module_.ToString();
    spec.inputs = {blobs_->PutBytes(input)->ToString()};
    spec.created_at_ms = 1;
    spec.nonce = nonce;
    job::SignedJobSpec s = job::SignJobSpec(spec, key_);
    JobRecord r;
    r.id = s.id.ToString();
    r.envelope = s.envelope;
    r.spec = s.spec;
    r.submitted_at = clock_.Now();
    EXPECT_TRUE(jobs_->Insert(r).ok());
    return r;
  };
  JobRecord running = record("was running", "01");
  JobRecord queued = record("was queued", "02");
  JobRecord finished = record("was finished", "03");
  ASSERT_OK(jobs_->MarkRunning(running.id, clock_.Now(), 1));
  ASSERT_OK(jobs_->MarkRunning(finished.id, clock_.Now(), 1));
  finished.state = JobState::kSucceeded;
  ASSERT_OK_AND_ASSIGN(bool moved, jobs_->Finish(finished));
  EXPECT_TRUE(moved);

  StartService(1);
  JobRecord a = AwaitEnd(running.id);
  JobRecord b = AwaitEnd(queued.id);
  EXPECT_EQ(a.state, JobState::kSucceeded);
  EXPECT_EQ(a.attempts, 2);
  EXPECT_EQ(b.state, JobState::kSucceeded);
  EXPECT_EQ(b.attempts, 1);
  EXPECT_EQ(runner_.started(), (std::vector<std::string>{"was running", "was queued"}));
  EXPECT_EQ(EventTypes(running.id).front(), "job.requeued");
  // A finished job is never finished again.
  finished.state = JobState::kFailed;
  ASSERT_OK_AND_ASSIGN(bool again, jobs_->Finish(finished));
  EXPECT_FALSE(again);
  ASSERT_OK_AND_ASSIGN(JobCounts counts, jobs_->Counts());
  EXPECT_EQ(counts.succeeded, 3u);
}

TEST_F(ComputeServiceTest, DrainRequeuesWhatOutlivesTheGracePeriod) {
  StartService(1);
  runner_.Hold(true);
  ASSERT_OK_AND_ASSIGN(SubmitResult a, Submit("a"));
  runner_.AwaitRunning(1);
  ASSERT_OK_AND_ASSIGN(SubmitResult b, Submit("b"));
  service_->Drain(absl::Milliseconds(10));
  EXPECT_EQ(service_->Submit(SubmitRequest{}).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_OK_AND_ASSIGN(JobRecord a_after, jobs_->Get(a.job.id));
  ASSERT_OK_AND_ASSIGN(JobRecord b_after, jobs_->Get(b.job.id));
  EXPECT_EQ(a_after.state, JobState::kQueued);
  EXPECT_EQ(b_after.state, JobState::kQueued);
  EXPECT_EQ(EventTypes(a.job.id).back(), "job.requeued");
}

TEST(EtaTest, TheRestGoesAsFastAsThePartDone) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_EQ(job::EtaMillis(t0, t0 + absl::Seconds(10), 25), 30000);
  EXPECT_EQ(job::EtaMillis(t0, t0 + absl::Seconds(10), 50), 10000);
  EXPECT_EQ(job::EtaMillis(t0, t0 + absl::Seconds(10), 100), 0);
  EXPECT_EQ(job::EtaMillis(t0, t0 + absl::Seconds(10), 0), std::nullopt) << "no progress, no ETA";
  EXPECT_EQ(job::EtaMillis(t0, t0 - absl::Seconds(1), 50), std::nullopt) << "clock went back";
}

}  // namespace
}  // namespace mesh::node
