// ComputeService: the node's local compute — a persistent, prioritised job queue in front of
// the sandboxed runner. Submit() signs and records a job (JobStore) before it answers, so an
// accepted job survives a crash; Start() takes up again every job a previous run left queued
// or running. Up to max_concurrent jobs run at once, each on one of the service's runner
// threads; the queue orders by priority (higher first) and then by submission (FIFO). A job
// waiting for its module's build (exec::RunRequest's on_build_wait) gives its slot to the
// next job meanwhile, so a module that keeps the compiler busy never holds the node (both then
// count as running); there are twice as many runner threads as slots for that.
//
// Every state change is written to the JobStore first, then published on the EventBus and
// counted in the metrics. Outputs go to the BlobStore before the job is marked finished, so a
// finished job's output is always there.
//
// Drain() is the SIGTERM path: new submissions are refused (Unavailable), queued jobs stay
// queued on disk, running jobs get the grace period and are then stopped and put back in the
// queue for the next start. Thread-safe; the injected objects must outlive the service.
//
// Poison jobs. A job found running at Start() was in flight when the process died (a drain puts
// its jobs back in the queue first). Each such run is counted in jobs.db, in the transaction
// that takes the job up again, so a job that kills the node is retried at most
// kMaxInterruptedRuns times and then fails; and each module running at such a death is counted
// once, so that this node refuses, for options.module_refusal, a module that was running at
// kMaxInterruptedRuns deaths (ModuleRefusal: the market's executor side declines it, and a job
// other nodes assigned here with it fails at once). A module that later runs to an end here
// has its count forgotten: it was not the culprit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/blob_store.h"
#include "mesh/common/clock.h"
#include "mesh/common/metrics.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/verified_specs.h"
#include "mesh/node/event_bus.h"
#include "mesh/node/job_runner.h"
#include "mesh/node/job_store.h"
#include "mesh/node/module_loader.h"
#include "mesh/wasm/limits.h"
#include "mesh/wasm/stdin_piece.h"

namespace mesh::node {

class Settlement;
class HostProbe;
class StoredInputs;

// The payload type of a checkpoint's signed record (a blob: {job, attempt, index, checkpoint,
// fuel, node}).
inline constexpr std::string_view kCheckpointPayloadType =
    "application/vnd.mesh.checkpoint.v1+json";

struct ComputeOptions {
  int max_concurrent = 1;
  wasm::Limits default_limits;
  uint64_t max_input_bytes = 256ull << 20;  // all of a job's inputs together (its stdin)
  uint64_t module_cache_bytes = 256ull << 20;
  uint64_t max_module_bytes = 64ull << 20;
  // How long a module that was running at kMaxInterruptedRuns deaths of the node is refused.
  absl::Duration module_refusal = absl::Hours(7 * 24);
};

// Runs of one job (or deaths of the node with one module running) that a start forgives.
inline constexpr int kMaxInterruptedRuns = 2;

// The reason of a job failed at a start because the node stopped while running it more often
// than kMaxInterruptedRuns: "the node stopped while running this job (2 times); not retried".
std::string NotRetriedReason();

// True for a job that a start failed, without running it, because the node died under it (too
// often, or its module is refused): its outcome is "crashed" and it has no output.
bool EndedByRestart(const JobRecord& job);

// The services' shared environment; nothing here is a global (DESIGN.md, conventions).
struct NodeEnv {
  const Clock* clock = nullptr;
  Rng* rng = nullptr;
  const crypto::KeyPair* key = nullptr;
  cas::BlobStore* blobs = nullptr;
  JobStore* jobs = nullptr;
  EventBus* events = nullptr;
  MetricsRegistry* metrics = nullptr;
  JobRunner* runner = nullptr;
  Settlement* settlement = nullptr;  // credits and reputation of market jobs; null: free
  const HostProbe* host = nullptr;   // cores, memory, free disk (the mesh needs it)
  // Signed specs verified lately, shared by every reader of a peer's spec; null: each reader
  // verifies with job::OpenJobSpec.
  job::VerifiedSpecs* specs = nullptr;
};

struct SubmitRequest {
  job::JobSpec spec;     // the node signs it (submitter = the node), unless...
  std::string envelope;  // ...a spec already signed by its submitter is given here
  // Signs `spec` instead of the node (an API user's own key); must outlive Submit.
  const crypto::KeyPair* signer = nullptr;
  std::string idempotency_key;
  // Set by the market for a job another node assigned to this one: JobRole::kAssigned, peer =
  // the submitter's node. Such a job always runs here. kLocal (the default) lets the service
  // decide: kSplit if the spec has a split, kDelegated if the Delegator takes it, else kLocal.
  job::JobRole role = job::JobRole::kLocal;
  std::string peer;
  std::string peer_address;
  uint32_t round = 0;
  // CID of a checkpoint (in the blob store) the job resumes from: mesh.restore hands it to
  // the module. Set by the market when an earlier executor checkpointed the job.
  std::string resume_checkpoint;
  // Whose credits a market job escrows; empty = the spec's submitter. Set by the split
  // coordinator: a chunk is signed by this node but paid for by the split job's submitter.
  std::string payer;
};

// The market's side of the compute service (node/mesh_service.h). The service asks it where
// each new or resumed job runs; a job it takes runs elsewhere until it calls FinishDelegated.
// It also hears when a job run here progresses or ends (to send progress and receipts).
class Delegator {
 public:
  virtual ~Delegator() = default;
  // True: the job goes to the market (the service stores it with role "delegated"). Sets
  // job.placement_reason, which the job's first history block keeps.
  virtual bool ShouldDelegate(JobRecord& job) = 0;
  // The delegator now owns the stored job (a new one, or one a restart resumes).
  virtual void Take(const JobRecord& job) = 0;
  // Cancels a job the delegator owns; false if it owns no such job.
  virtual bool Cancel(const std::string& id) = 0;
  virtual void OnProgress(const JobRecord& job, const wasm::ProgressRecord& progress) = 0;
  // A job run here made a checkpoint or a partial output (`kind` "checkpoint" or "partial",
  // the index-th of its kind in this run), stored as blob `cid`.
  virtual void OnArtifact(const JobRecord& job, std::string_view kind, uint32_t index,
                          const std::string& cid, uint64_t bytes, uint64_t fuel) = 0;
  virtual void OnFinished(const JobRecord& job) = 0;
};

// The split coordinator's side of the compute service (node/split_coordinator.h). A job whose
// spec has a split is stored with role "split" and owned by the handler until it calls
// FinishDelegated; the handler also hears when any job ends (its chunks among them).
class SplitHandler {
 public:
  virtual ~SplitHandler() = default;
  // The handler now owns the stored split job (a new one, or one a restart resumes).
  virtual void Take(const JobRecord& job) = 0;
  // Cancels a split job the handler owns (and its chunks); false if it owns no such job.
  virtual bool Cancel(const std::string& id) = 0;
  // Any job reached a terminal state (called outside every lock of the service).
  virtual void OnFinished(const JobRecord& job) = 0;
};

struct SubmitResult {
  JobRecord job;
  bool created = true;  // false: the idempotency key named an earlier job, returned instead
};

struct ServiceStats {
  uint64_t queued = 0, running = 0, succeeded = 0, failed = 0, cancelled = 0;
  int max_concurrent = 0;
  double load = 0;             // running / max_concurrent
  double fuel_per_second = 0;  // fuel of jobs that finished in the last minute, per second
  uint64_t fuel_used_total = 0;
  uint64_t delegated = 0;  // jobs submitted here and running (or being placed) elsewhere
  bool draining = false;
  exec::CompileStats compiles;  // the aot compile queue (compile_queue.h)
};

// The limits a job runs with: the spec's, and `defaults` (the node's) for each it leaves at 0.
wasm::Limits LimitsFor(const job::JobSpec& spec, const wasm::Limits& defaults);

class ComputeService {
 public:
  ComputeService(ComputeOptions options, NodeEnv env);
  ~ComputeService();  // drains with no grace period if Drain was not called
  ComputeService(const ComputeService&) = delete;
  ComputeService& operator=(const ComputeService&) = delete;

  // Requeues jobs found running, queues every unfinished job, starts the runners.
  absl::Status Start();

  absl::StatusOr<SubmitResult> Submit(SubmitRequest request);
  absl::StatusOr<JobRecord> Get(const std::string& id);
  absl::StatusOr<std::vector<JobRecord>> List(const JobFilter& filter, size_t limit,
                                              int64_t before_seq = 0);
  // Cancels a queued or running job; FailedPrecondition if it has already ended.
  absl::StatusOr<JobRecord> Cancel(const std::string& id);
  ServiceStats Stats();

  void Drain(absl::Duration grace);

  // Before Start(); `delegator` must outlive the service.
  void SetDelegator(Delegator* delegator) { delegator_ = delegator; }
  // Before Start(); without one, a job with a split is refused.
  void SetSplitHandler(SplitHandler* handler) { split_handler_ = handler; }
  // Before Start(); without it, an input is always a blob (a stored file's manifest included).
  void SetStoredInputs(StoredInputs* stored) { stored_inputs_ = stored; }
  StoredInputs* stored_inputs() const { return stored_inputs_; }
  // Before Start(): called for a job submitted here that succeeded and names store_output (on
  // the thread that finished it; it must not block).
  void SetOutputStorer(std::function<void(const JobRecord&)> store) {
    output_storer_ = std::move(store);
  }
  // Records where a finished job's output was stored (the job store, the cache of finished
  // jobs and the event job.output_stored), or why it was not (job.output_store_failed).
  absl::Status RecordStoredOutput(const std::string& id, const absl::StatusOr<std::string>& cid);
  // Stdin of `job`: its inputs in order, a stored file's as its plain bytes (stored_inputs.h).
  absl::StatusOr<std::vector<wasm::StdinPiece>> InputsOf(const JobRecord& job,
                                                         const std::vector<std::string>& inputs);
  // Why this node refuses to run `module` (it was running when the node died
  // kMaxInterruptedRuns times, within options.module_refusal), or "" if it does not.
  std::string ModuleRefusal(const std::string& module) const;

  // A delegated job started on its executor.
  absl::Status MarkDelegatedRunning(const std::string& id, absl::Time at, int attempt);
  // A delegated (or split) job ended: `job` carries the terminal state and result fields (its
  // output already in the blob store). False if the job had already ended (a late duplicate).
  absl::StatusOr<bool> FinishDelegated(JobRecord job);
  // A delegated job comes back to run here (market::RunAtHome): stored as a local job and
  // queued. FailedPrecondition if it has ended or is not a delegated one (nothing changes).
  absl::Status TakeBack(const std::string& id, std::string_view reason);

 private:
  struct Queued {
    int priority;
    int64_t seq;
    bool operator<(const Queued& o) const {
      return priority != o.priority ? priority > o.priority : seq < o.seq;
    }
  };
  struct Running {
    uint64_t tag;
    bool cancel_requested = false;  // by a user: the job ends cancelled
    bool stop_requested = false;    // by Drain: the job goes back in the queue
  };
  class Metrics;

  void RunnerLoop();
  // Runs one dequeued job. `release_slot` gives its slot back (idempotent): RunOne calls it as
  // soon as the worker's run returns, so the next job runs while this one's end is recorded.
  void RunOne(JobRecord job, uint64_t tag, const std::function<void()>& release_slot);
  absl::StatusOr<exec::RunRequest> BuildRequest(const JobRecord& job, uint64_t tag);
  void Complete(JobRecord& job, absl::StatusOr<wasm::RunResult> result, uint64_t tag);
  // Stores the files the job left in its output directory as a tree (job.files_cid), if its
  // spec names one.
  absl::Status StoreFiles(JobRecord& job, const wasm::RunResult& result);
  void StopRunning(const std::vector<uint64_t>& tags, absl::Duration timeout);
  // Ends a job that is in neither the queue nor a runner as cancelled, on disk.
  absl::StatusOr<JobRecord> CancelNotRunning(const std::string& id);
  void Publish(const JobRecord& job, std::string type, nlohmann::json data = {});
  // Start()'s part for the jobs the previous process left running (it died under them): counts
  // the deaths per job and per module in jobs.db, requeues or fails those jobs (`unfinished` is
  // updated to match) and returns the failed ones.
  absl::StatusOr<std::vector<JobRecord>> RecoverInterrupted(std::vector<JobRecord>& unfinished);
  // A delegated job runs on another node (its delegator's), a split job is its chunks.
  bool RunsElsewhere(const JobRecord& job) const;
  // A run of `module` ended here (the node survived it): its crash count, below the refusal
  // limit, is forgotten.
  void ForgiveModule(const std::string& module) ABSL_LOCKS_EXCLUDED(mu_);
  std::string ModuleRefusalLocked(const std::string& module, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts, caches and announces a job that just reached a terminal state on disk.
  // `stored_head`: job.history_head and job.phase are those JobStore::Finish just wrote (else
  // they are read back from the store).
  void Finished(const JobRecord& job, bool stored_head = false) ABSL_LOCKS_EXCLUDED(mu_);
  void Enqueue(const JobRecord& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberFinished(const JobRecord& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordFuel(uint64_t fuel) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores a checkpoint or partial output the running job made: a blob, a history block, an
  // event (job.checkpoint / job.partial); a checkpoint is also signed by this node (a blob of
  // its own) and becomes what the job resumes from if it runs again.
  void StoreArtifact(const JobRecord& job, std::string_view kind, uint32_t index,
                     std::string_view bytes, uint64_t fuel);

  const ComputeOptions options_;
  const NodeEnv env_;
  ModuleLoader modules_;
  std::unique_ptr<Metrics> metrics_;

  mutable absl::Mutex mu_;
  std::map<Queued, JobRecord> queue_ ABSL_GUARDED_BY(mu_);
  // The last jobs that ended, as stored: Get() answers them without a database read.
  static constexpr size_t kFinishedCacheSize = 256;
  absl::flat_hash_map<std::string, JobRecord> finished_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> finished_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Queued> queued_ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Running> running_ ABSL_GUARDED_BY(mu_);
  uint64_t next_tag_ ABSL_GUARDED_BY(mu_) = 1;
  // Jobs taken from the queue and not waiting for their module's compile: a runner takes the
  // next job only while this is below max_concurrent.
  int busy_slots_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  JobCounts counts_ ABSL_GUARDED_BY(mu_);
  uint64_t fuel_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<int64_t, uint64_t>> fuel_window_ ABSL_GUARDED_BY(mu_);  // (second, fuel)
  absl::flat_hash_map<std::string, bool> delegated_ ABSL_GUARDED_BY(mu_);       // id -> running
  // Deaths of the node with each module running (jobs.db's module_crashes, loaded by Start).
  absl::flat_hash_map<std::string, ModuleCrashes> module_crashes_ ABSL_GUARDED_BY(mu_);
  // Jobs that resume from a checkpoint when they run: id -> checkpoint CID.
  absl::flat_hash_map<std::string, std::string> resume_ ABSL_GUARDED_BY(mu_);
  Delegator* delegator_ = nullptr;
  SplitHandler* split_handler_ = nullptr;
  StoredInputs* stored_inputs_ = nullptr;
  std::function<void(const JobRecord&)> output_storer_;
  std::vector<std::thread> runners_;
};

}  // namespace mesh::node
