#include "mesh/node/compute_service.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "mesh/cas/cid.h"
#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/envelope.h"
#include "mesh/node/job_files.h"
#include "mesh/node/settlement.h"
#include "mesh/node/stored_inputs.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

using job::JobRole;
using job::JobState;

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// How a run's result reads as a job state and reason.
void ApplyReport(const wasm::RunReport& report, JobRecord& job) {
  job.outcome = std::string(wasm::OutcomeName(report.outcome));
  job.exit_code = report.exit_code;
  job.fuel_used = report.fuel_used;
  job.report_json =
      wasm::ToJson(report).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (report.ok()) {
    job.state = JobState::kSucceeded;
  } else if (report.outcome == wasm::Outcome::kOk) {
    job.state = JobState::kFailed;
    job.reason = mesh::StrCat("the module exited with status ", report.exit_code);
  } else {
    job.state = JobState::kFailed;
    job.reason = mesh::StrCat(wasm::OutcomeName(report.outcome), ": ", report.message);
  }
}

}  // namespace

// The service's Prometheus series.
class ComputeService::Metrics {
 public:
  explicit Metrics(MetricsRegistry& r)
      : submitted(r.AddCounter("mesh_jobs_submitted_total", "Jobs accepted by this node")),
        finished(
            r.AddCounter("mesh_jobs_finished_total", "Jobs that reached a final state", {"state"})),
        requeued(r.AddCounter("mesh_jobs_requeued_total",
                              "Running jobs put back in the queue (restart or drain)")),
        fuel(r.AddCounter("mesh_fuel_used_total", "Fuel used by finished jobs")),
        queue_wait(r.AddHistogram("mesh_job_queue_wait_seconds",
                                  "Time from submission to the start of the job's run",
                                  ExponentialBuckets(0.0001, 4, 12))),
        run_time(r.AddHistogram("mesh_job_run_seconds", "Wall time of job runs",
                                ExponentialBuckets(0.0001, 4, 12))),
        job_fuel(r.AddHistogram("mesh_job_fuel", "Fuel used per job run",
                                ExponentialBuckets(1000, 10, 9))) {}

  Counter* submitted;
  Counter* finished;
  Counter* requeued;
  Counter* fuel;
  Histogram* queue_wait;
  Histogram* run_time;
  Histogram* job_fuel;
};

ComputeService::ComputeService(ComputeOptions options, NodeEnv env)
    : options_(std::move(options)),
      env_(env),
      modules_(env.blobs, options_.module_cache_bytes, options_.max_module_bytes),
      metrics_(std::make_unique<Metrics>(*env.metrics)) {
  env_.metrics->AddGaugeCallback("mesh_jobs_queued", "Jobs waiting to run", [this] {
    absl::MutexLock lock(&mu_);
    return static_cast<double>(queue_.size());
  });
  env_.metrics->AddGaugeCallback("mesh_jobs_running", "Jobs running now", [this] {
    absl::MutexLock lock(&mu_);
    return static_cast<double>(running_.size());
  });
  env_.metrics->AddGaugeCallback("mesh_jobs_max_concurrent", "Most jobs this node runs at once",
                                 [this] { return static_cast<double>(options_.max_concurrent); });
  if (env_.runner != nullptr) {
    env_.metrics->AddGaugeCallback(
        "mesh_compiles_queued", "aot compiles waiting to start (their jobs run on the interpreter)",
        [this] { return static_cast<double>(env_.runner->compiles().queued); });
    env_.metrics->AddGaugeCallback(
        "mesh_compiles_running", "aot compile processes running now",
        [this] { return static_cast<double>(env_.runner->compiles().running); });
  }
}

ComputeService::~ComputeService() { Drain(absl::ZeroDuration()); }

std::string NotRetriedReason() {
  return mesh::StrCat("the node stopped while running this job (", kMaxInterruptedRuns,
                      " times); not retried");
}

bool EndedByRestart(const JobRecord& job) {
  return job.state == JobState::kFailed &&
         job.outcome == wasm::OutcomeName(wasm::Outcome::kCrashed) && job.output_cid.empty();
}

bool ComputeService::RunsElsewhere(const JobRecord& job) const {
  return (job.role == JobRole::kDelegated && delegator_ != nullptr) ||
         (job.role == JobRole::kSplit && split_handler_ != nullptr);
}

std::string ComputeService::ModuleRefusal(const std::string& module) const {
  const absl::Time now = env_.clock->Now();
  absl::MutexLock lock(&mu_);
  return ModuleRefusalLocked(module, now);
}

std::string ComputeService::ModuleRefusalLocked(const std::string& module, absl::Time now) const {
  auto it = module_crashes_.find(module);
  if (it == module_crashes_.end() || it->second.crashes < kMaxInterruptedRuns) return "";
  const absl::Time until = it->second.last + options_.module_refusal;
  if (now >= until) return "";
  return mesh::StrCat("module ", module, " crashed this node ", it->second.crashes,
                      " times (the node stopped while it ran, last at ",
                      absl::FormatTime(absl::RFC3339_sec, it->second.last, absl::UTCTimeZone()),
                      "); this node refuses it until ",
                      absl::FormatTime(absl::RFC3339_sec, until, absl::UTCTimeZone()));
}

absl::StatusOr<std::vector<JobRecord>> ComputeService::RecoverInterrupted(
    std::vector<JobRecord>& unfinished) {
  const absl::Time now = env_.clock->Now();
  MESH_ASSIGN_OR_RETURN(std::vector<ModuleCrashes> known, env_.jobs->ListModuleCrashes());
  absl::flat_hash_map<std::string, ModuleCrashes> crashes;
  for (ModuleCrashes& m : known) {
    std::string key = m.module;
    crashes[std::move(key)] = std::move(m);
  }
  // Each module that ran here when the process died gets one more death, however many of its
  // jobs were running: two chunks of one split job are one crash, not two. A count older than
  // the refusal period starts again.
  std::vector<ModuleCrashes> changed;
  absl::flat_hash_set<std::string> counted;
  for (const JobRecord& job : unfinished) {
    if (job.state != JobState::kRunning || RunsElsewhere(job)) continue;
    if (!counted.insert(job.spec.module).second) continue;
    ModuleCrashes& m = crashes[job.spec.module];
    m.module = job.spec.module;
    if (now - m.last >= options_.module_refusal) m.crashes = 0;
    ++m.crashes;
    m.last = now;
    changed.push_back(m);
  }
  {
    absl::MutexLock lock(&mu_);
    module_crashes_ = crashes;  // ModuleRefusalLocked below reads the new counts
  }
  std::vector<Recovery> recoveries;
  for (const JobRecord& job : unfinished) {
    if (RunsElsewhere(job)) continue;
    const bool was_running = job.state == JobState::kRunning;
    Recovery r;
    r.id = job.id;
    r.interrupted = job.interrupted + (was_running ? 1 : 0);
    std::string refusal;
    if (job.role == JobRole::kAssigned) {
      // Another node's job: this node no longer runs its module (the market hears why).
      absl::MutexLock lock(&mu_);
      refusal = ModuleRefusalLocked(job.spec.module, now);
    }
    if (was_running && job.interrupted >= kMaxInterruptedRuns) {
      r.fail = true;
      r.reason = NotRetriedReason();
    } else if (!refusal.empty()) {
      r.fail = true;
      r.reason = std::move(refusal);
    } else if (was_running) {
      r.reason = "the node restarted while the job ran";
    } else {
      continue;  // queued: it stays queued
    }
    if (r.fail) {
      r.outcome = std::string(wasm::OutcomeName(wasm::Outcome::kCrashed));
      r.report_json = nlohmann::json{
          {"outcome", r.outcome},
          {"message", r.reason},
          {"interrupted_runs",
           r.interrupted}}.dump();
    }
    recoveries.push_back(std::move(r));
  }
  if (recoveries.empty() && changed.empty()) return std::vector<JobRecord>();
  MESH_RETURN_IF_ERROR(env_.jobs->RecoverInterrupted(changed, recoveries, now));
  absl::flat_hash_map<std::string, const Recovery*> by_id;
  for (const Recovery& r : recoveries) by_id[r.id] = &r;
  std::vector<JobRecord> failed, kept;
  for (JobRecord& job : unfinished) {
    auto it = by_id.find(job.id);
    if (it == by_id.end()) {
      kept.push_back(std::move(job));
      continue;
    }
    const Recovery& r = *it->second;
    job.interrupted = r.interrupted;
    if (!r.fail) {
      job.state = JobState::kQueued;
      metrics_->requeued->Inc();
      Publish(job, "job.requeued", {{"reason", r.reason}, {"interrupted", r.interrupted}});
      kept.push_back(std::move(job));
      continue;
    }
    spdlog::warn("job {}: {}", job.id, r.reason);
    job.state = JobState::kFailed;
    job.reason = r.reason;
    job.outcome = r.outcome;
    job.report_json = r.report_json;
    job.finished_at = now;
    failed.push_back(std::move(job));
  }
  unfinished = std::move(kept);
  return failed;
}

absl::Status ComputeService::Start() {
  {
    absl::MutexLock lock(&mu_);
    // Checked first: a second Start would take this one's running jobs for interrupted ones.
    if (started_) return absl::FailedPreconditionError("the compute service is already started");
  }
  MESH_ASSIGN_OR_RETURN(std::vector<JobRecord> unfinished, env_.jobs->Unfinished());
  // Read before the recovery: Finished() below counts the jobs it fails.
  MESH_ASSIGN_OR_RETURN(JobCounts counts, env_.jobs->Counts());
  MESH_ASSIGN_OR_RETURN(std::vector<JobRecord> failed, RecoverInterrupted(unfinished));
  std::vector<JobRecord> delegated, split;
  for (JobRecord& job : unfinished) {
    // A delegated job ran elsewhere: the delegator resumes it (without one it runs here); a
    // split job is its chunks: the split handler resumes it.
    if (RunsElsewhere(job)) continue;
    if (job.attempts > 0 || job.role == JobRole::kAssigned) {
      // It ran before (or another executor did): it resumes from its latest checkpoint.
      absl::StatusOr<std::vector<HistoryBlock>> history = env_.jobs->History(job.id);
      if (std::string cp = history.ok() ? LatestCheckpoint(*history) : ""; !cp.empty()) {
        absl::MutexLock lock(&mu_);
        resume_[job.id] = std::move(cp);
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("the compute service is already started");
    started_ = true;
    counts_ = counts;
    for (JobRecord& job : unfinished) {
      if (RunsElsewhere(job)) {
        delegated_[job.id] = job.state == JobState::kRunning;
        (job.role == JobRole::kSplit ? split : delegated).push_back(std::move(job));
      } else {
        Enqueue(job);
      }
    }
    // Twice the slots: a runner whose job waits for its module's compile lends its slot.
    for (int i = 0; i < 2 * std::max(1, options_.max_concurrent); ++i) {
      runners_.emplace_back([this] { RunnerLoop(); });
    }
  }
  if (!unfinished.empty()) {
    spdlog::info("resuming {} unfinished job(s) from the job database", unfinished.size());
  }
  for (const JobRecord& job : delegated) delegator_->Take(job);
  for (const JobRecord& job : split) split_handler_->Take(job);
  // After the handlers took their jobs: a failed chunk is news to its split job's handler.
  for (const JobRecord& job : failed) Finished(job);
  return absl::OkStatus();
}

void ComputeService::Enqueue(const JobRecord& job) {
  Queued key{job.spec.priority, job.seq};
  queue_.emplace(key, job);
  queued_ids_[job.id] = key;
}

wasm::Limits LimitsFor(const job::JobSpec& spec, const wasm::Limits& defaults) {
  wasm::Limits limits = defaults;
  if (spec.limits.fuel != 0) limits.fuel = spec.limits.fuel;
  if (spec.limits.memory_bytes != 0) limits.memory_bytes = spec.limits.memory_bytes;
  if (spec.limits.wall_time_ms != 0) {
    limits.wall_time = absl::Milliseconds(static_cast<int64_t>(spec.limits.wall_time_ms));
  }
  if (spec.limits.max_output_bytes != 0) limits.max_output_bytes = spec.limits.max_output_bytes;
  // What the job may write to its files (mounts and output directory): its storage requirement.
  if (spec.requirements.storage_bytes != 0) limits.fs_bytes = spec.requirements.storage_bytes;
  return limits;
}

absl::StatusOr<SubmitResult> ComputeService::Submit(SubmitRequest request) {
  {
    absl::MutexLock lock(&mu_);
    if (draining_ || !started_) {
      return absl::UnavailableError(
          "this node is shutting down and takes no new jobs; retry once it is back");
    }
  }
  absl::StatusOr<job::SignedJobSpec> opened = absl::UnknownError("unset");
  if (!request.envelope.empty()) {
    opened = job::OpenSpecThrough(env_.specs, request.envelope);
  } else {
    job::JobSpec& spec = request.spec;
    // The signed spec carries the limits the job will run with, not "node default".
    const wasm::Limits limits = LimitsFor(spec, options_.default_limits);
    spec.limits = {limits.fuel, limits.memory_bytes,
                   static_cast<uint64_t>(absl::ToInt64Milliseconds(limits.wall_time)),
                   limits.max_output_bytes};
    spec.created_at_ms = absl::ToUnixMillis(env_.clock->Now());
    const uint64_t a = env_.rng->Next64(), b = env_.rng->Next64();
    spec.nonce = HexEncode(std::string_view(reinterpret_cast<const char*>(&a), 8)) +
                 HexEncode(std::string_view(reinterpret_cast<const char*>(&b), 8));
    // Checked as a parsed spec is (a spec built in process may not be): what is stored must
    // read back, or the job could never be loaded again to end it.
    opened = job::CheckAndSignJobSpec(std::move(spec),
                                      request.signer != nullptr ? *request.signer : *env_.key);
  }
  MESH_RETURN_IF_ERROR(opened.status());
  job::SignedJobSpec& signed_spec = *opened;
  for (size_t i = 0; i <= signed_spec.spec.inputs.size(); ++i) {
    const bool is_module = i == signed_spec.spec.inputs.size();
    const std::string& cid = is_module ? signed_spec.spec.module : signed_spec.spec.inputs[i];
    MESH_ASSIGN_OR_RETURN(cas::Cid parsed, cas::Cid::Parse(cid));
    MESH_ASSIGN_OR_RETURN(bool present, env_.blobs->Has(parsed));
    if (!present) {
      return absl::FailedPreconditionError(
          mesh::StrCat(is_module ? "module " : "input ", cid,
                       " is not in this node's blob store; upload it first (POST /v1/blobs, "
                       "or `mesh submit`, which uploads for you)"));
    }
  }
  for (const job::JobMount& mount : signed_spec.spec.mounts) {
    // The mount itself (a manifest or a file); a manifest's files are checked when it runs.
    MESH_ASSIGN_OR_RETURN(cas::Cid parsed, cas::Cid::Parse(mount.cid));
    MESH_ASSIGN_OR_RETURN(bool present, env_.blobs->Has(parsed));
    if (!present) {
      return absl::FailedPreconditionError(mesh::StrCat(
          "the mount at ", mount.path, " (", mount.cid,
          ") is not in this node's blob store; upload it first (POST /v1/blobs/dir, or "
          "`mesh submit --mount DIR:",
          mount.path, "`, which uploads for you)"));
    }
  }
  JobRecord job;
  job.id = signed_spec.id.ToString();
  job.envelope = std::move(signed_spec.envelope);
  job.spec = std::move(signed_spec.spec);
  job.idempotency_key = std::move(request.idempotency_key);
  job.submitted_at = env_.clock->Now();
  job.role = request.role;
  job.peer = std::move(request.peer);
  job.peer_address = std::move(request.peer_address);
  job.round = request.round;
  const bool split = job.spec.split.has_value() && job.role == JobRole::kLocal;
  if (split && split_handler_ == nullptr) {
    return absl::FailedPreconditionError("this node does not run split jobs");
  }
  if (split) job.role = JobRole::kSplit;
  const bool delegate =
      job.role == JobRole::kLocal && delegator_ != nullptr && delegator_->ShouldDelegate(job);
  if (delegate) job.role = JobRole::kDelegated;
  // A job for the market holds its price first: too little credit is refused before anything
  // is stored or announced.
  if (delegate && env_.settlement != nullptr) {
    MESH_RETURN_IF_ERROR(env_.settlement->Escrow(job.id, job.spec, request.payer));
  }
  absl::StatusOr<std::optional<std::string>> existing = env_.jobs->Insert(job);
  if (delegate && env_.settlement != nullptr && (!existing.ok() || existing->has_value())) {
    // Not stored (an error, or the idempotency key names an earlier job): nothing to pay for.
    env_.settlement->Close(job.id, "the job was not stored");
  }
  MESH_RETURN_IF_ERROR(existing.status());
  if (existing->has_value()) {
    MESH_ASSIGN_OR_RETURN(JobRecord earlier, env_.jobs->Get(**existing));
    return SubmitResult{std::move(earlier), false};
  }
  if (!request.resume_checkpoint.empty()) {
    // Recorded before the job can run, so a restart resumes from it too.
    MESH_RETURN_IF_ERROR(
        env_.jobs
            ->AppendHistory(job.id, "resume", env_.clock->Now(),
                            {{"checkpoint", request.resume_checkpoint}, {"from", job.peer}})
            .status());
    absl::MutexLock lock(&mu_);
    resume_[job.id] = request.resume_checkpoint;
  }
  metrics_->submitted->Inc();
  if (split || delegate) {
    // Run elsewhere: its chunks (the split handler) or another node (the delegator).
    {
      absl::MutexLock lock(&mu_);
      delegated_[job.id] = false;
    }
    Publish(job, "job.queued",
            {{"priority", job.spec.priority},
             {"module", job.spec.module},
             {"labels", job.spec.labels},
             {"placement", split ? "split" : "market"}});
    if (split) {
      split_handler_->Take(job);
    } else {
      delegator_->Take(job);
    }
    return SubmitResult{std::move(job), true};
  }
  {
    absl::MutexLock lock(&mu_);
    Enqueue(job);
    ++counts_.queued;
    // Published under mu_: once the job is in the queue an idle runner may take it at once, and
    // its job.running must not come before this job.queued (the bus never takes mu_).
    Publish(job, "job.queued",
            {{"priority", job.spec.priority},
             {"module", job.spec.module},
             {"labels", job.spec.labels}});
  }
  return SubmitResult{std::move(job), true};
}

absl::StatusOr<JobRecord> ComputeService::Get(const std::string& id) {
  {
    // A job that just ended is what long polls and clients ask for next; its record is final.
    absl::MutexLock lock(&mu_);
    if (auto it = finished_.find(id); it != finished_.end()) return it->second;
  }
  return env_.jobs->Get(id);
}

void ComputeService::RememberFinished(const JobRecord& job) {
  if (finished_.size() >= kFinishedCacheSize) {
    finished_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
  finished_.emplace(job.id, job);
  finished_order_.push_back(job.id);
}

absl::StatusOr<std::vector<JobRecord>> ComputeService::List(const JobFilter& filter, size_t limit,
                                                            int64_t before_seq) {
  return env_.jobs->List(filter, limit, before_seq);
}

absl::StatusOr<JobRecord> ComputeService::Cancel(const std::string& id) {
  std::optional<uint64_t> running_tag;
  bool was_queued = false, delegated = false;
  {
    absl::MutexLock lock(&mu_);
    delegated = delegated_.contains(id);
  }
  if (delegated && split_handler_ != nullptr && split_handler_->Cancel(id)) {
    return env_.jobs->Get(id);
  }
  if (delegated && delegator_ != nullptr && delegator_->Cancel(id)) return env_.jobs->Get(id);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = queued_ids_.find(id); it != queued_ids_.end()) {
      queue_.erase(it->second);
      queued_ids_.erase(it);
      --counts_.queued;
      was_queued = true;
    } else if (auto r = running_.find(id); r != running_.end()) {
      r->second.cancel_requested = true;
      running_tag = r->second.tag;
    }
  }
  if (was_queued) return CancelNotRunning(id);
  if (running_tag.has_value()) StopRunning({*running_tag}, absl::Seconds(10));
  MESH_ASSIGN_OR_RETURN(JobRecord job, env_.jobs->Get(id));
  if (running_tag.has_value()) return job;
  if (job::IsTerminal(job.state)) {
    return absl::FailedPreconditionError(
        mesh::StrCat("job ", id, " has already ", job::JobStateName(job.state)));
  }
  // Unfinished on disk but neither queued nor running here (put back by a drain, or left by an
  // error path): ending it on disk is what the caller asked for.
  return CancelNotRunning(id);
}

absl::StatusOr<JobRecord> ComputeService::CancelNotRunning(const std::string& id) {
  MESH_ASSIGN_OR_RETURN(JobRecord job, env_.jobs->Get(id));
  job.state = JobState::kCancelled;
  job.reason = "cancelled by request before it ran";
  job.finished_at = env_.clock->Now();
  MESH_ASSIGN_OR_RETURN(bool changed, env_.jobs->Finish(job, &job.history_head));
  if (changed) {
    job.phase = std::string(EndPhase(job.state));
    Finished(job, /*stored_head=*/true);
  }
  return env_.jobs->Get(id);
}

absl::Status ComputeService::MarkDelegatedRunning(const std::string& id, absl::Time at,
                                                  int attempt) {
  MESH_RETURN_IF_ERROR(env_.jobs->MarkRunning(id, at, attempt));
  MESH_ASSIGN_OR_RETURN(JobRecord job, env_.jobs->Get(id));
  {
    absl::MutexLock lock(&mu_);
    delegated_[id] = true;
  }
  Publish(job, "job.running", {{"attempt", attempt}, {"executor", job.peer}});
  return absl::OkStatus();
}

absl::Status ComputeService::TakeBack(const std::string& id, std::string_view reason) {
  MESH_ASSIGN_OR_RETURN(JobRecord job, env_.jobs->Get(id));
  if (job.role != JobRole::kDelegated || job::IsTerminal(job.state) ||
      job.state == JobState::kRunning) {
    return absl::FailedPreconditionError(
        mesh::StrCat("job ", id, " is not a delegated job waiting for the market"));
  }
  MESH_RETURN_IF_ERROR(env_.jobs->SetMarket(id, JobRole::kLocal, "", "", 0));
  job.role = JobRole::kLocal;
  job.peer.clear();
  job.peer_address.clear();
  job.round = 0;
  absl::MutexLock lock(&mu_);
  delegated_.erase(id);
  if (draining_) return absl::OkStatus();  // stored as local: the next start runs it
  Enqueue(job);
  ++counts_.queued;
  Publish(job, "job.queued",
          {{"priority", job.spec.priority},
           {"module", job.spec.module},
           {"labels", job.spec.labels},
           {"placement", "here"},
           {"reason", reason}});
  return absl::OkStatus();
}

absl::StatusOr<bool> ComputeService::FinishDelegated(JobRecord job) {
  if (job.finished_at == absl::UnixEpoch()) job.finished_at = env_.clock->Now();
  MESH_ASSIGN_OR_RETURN(bool changed, env_.jobs->Finish(job, &job.history_head));
  if (changed) {
    job.phase = std::string(EndPhase(job.state));
    metrics_->fuel->Inc(static_cast<double>(job.fuel_used));
    Finished(job, /*stored_head=*/true);
  }
  return changed;
}

void ComputeService::Finished(const JobRecord& job, bool stored_head) {
  // Unless the caller has them from JobStore::Finish, `job` predates the history block it
  // appended: cache the stored head and phase, or GET /v1/jobs/{id}, /history and /explain
  // would name the "submitted" block (phase "submitted") until the job leaves the cache.
  JobRecord cached = job;
  if (!stored_head) {
    if (absl::StatusOr<JobRecord> stored = env_.jobs->Get(job.id); stored.ok()) {
      cached.history_head = std::move(stored->history_head);
      cached.phase = std::move(stored->phase);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    delegated_.erase(job.id);
    resume_.erase(job.id);
    RememberFinished(cached);
    if (job.state == JobState::kSucceeded) ++counts_.succeeded;
    if (job.state == JobState::kFailed) ++counts_.failed;
    if (job.state == JobState::kCancelled) ++counts_.cancelled;
    RecordFuel(job.fuel_used);
  }
  metrics_->finished->WithLabels({std::string(job::JobStateName(job.state))})->Inc();
  nlohmann::json data = {{"outcome", job.outcome},
                         {"exit_code", job.exit_code},
                         {"fuel_used", job.fuel_used},
                         {"output_cid", job.output_cid},
                         {"attempts", job.attempts}};
  if (!job.files_cid.empty()) data["files_cid"] = job.files_cid;
  if (job.started_at != absl::UnixEpoch()) {
    data["wall_ms"] = absl::ToDoubleMilliseconds(job.finished_at - job.started_at);
  }
  if (!job.reason.empty()) data["reason"] = job.reason;
  if (!job.peer.empty()) data[job.role == JobRole::kAssigned ? "origin" : "executor"] = job.peer;
  Publish(job, mesh::StrCat("job.", job::JobStateName(job.state)), std::move(data));
  if (delegator_ != nullptr) delegator_->OnFinished(job);
  if (split_handler_ != nullptr) split_handler_->OnFinished(job);
  if (output_storer_ && job.state == JobState::kSucceeded && !job.spec.store_output.empty() &&
      job.role != JobRole::kAssigned) {
    output_storer_(job);
  }
}

absl::Status ComputeService::RecordStoredOutput(const std::string& id,
                                                const absl::StatusOr<std::string>& cid) {
  if (cid.ok()) MESH_RETURN_IF_ERROR(env_.jobs->SetStoredOutput(id, *cid));
  MESH_ASSIGN_OR_RETURN(JobRecord job, env_.jobs->Get(id));
  if (!cid.ok()) {
    Publish(job, "job.output_store_failed", {{"reason", std::string(cid.status().message())}});
    return absl::OkStatus();
  }
  {
    absl::MutexLock lock(&mu_);
    if (auto it = finished_.find(id); it != finished_.end()) it->second.stored_output = *cid;
  }
  Publish(job, "job.output_stored", {{"stored_output", *cid}});
  return absl::OkStatus();
}

ServiceStats ComputeService::Stats() {
  ServiceStats s;
  // The pool's counts under the pool's own lock, before this service's is taken: no nesting.
  if (env_.runner != nullptr) s.compiles = env_.runner->compiles();
  absl::MutexLock lock(&mu_);
  s.queued = queue_.size();
  s.running = running_.size();
  s.succeeded = counts_.succeeded;
  s.failed = counts_.failed;
  s.cancelled = counts_.cancelled;
  s.max_concurrent = options_.max_concurrent;
  s.load = options_.max_concurrent > 0
               ? static_cast<double>(running_.size()) / options_.max_concurrent
               : 0;
  const int64_t now = absl::ToUnixSeconds(env_.clock->Now());
  uint64_t recent = 0;
  for (const auto& [second, fuel] : fuel_window_) {
    if (second > now - 60) recent += fuel;
  }
  s.fuel_per_second = static_cast<double>(recent) / 60.0;
  s.fuel_used_total = fuel_total_;
  s.delegated = delegated_.size();
  s.draining = draining_;
  return s;
}

void ComputeService::RecordFuel(uint64_t fuel) {
  fuel_total_ += fuel;
  const int64_t now = absl::ToUnixSeconds(env_.clock->Now());
  if (fuel_window_.empty() || fuel_window_.back().first != now) fuel_window_.emplace_back(now, 0);
  fuel_window_.back().second += fuel;
  std::erase_if(fuel_window_, [now](const auto& e) { return e.first <= now - 60; });
}

void ComputeService::RunnerLoop() {
  const int slots = std::max(1, options_.max_concurrent);
  auto ready = [this, slots]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return draining_ || (!queue_.empty() && busy_slots_ < slots);
  };
  while (true) {
    JobRecord job;
    uint64_t tag;
    {
      absl::MutexLock lock(&mu_, absl::Condition(&ready));
      if (draining_) return;
      auto first = queue_.begin();
      job = std::move(first->second);  // the queue holds the record: no read back from disk
      queue_.erase(first);
      queued_ids_.erase(job.id);
      tag = next_tag_++;
      running_[job.id] = Running{tag};
      --counts_.queued;
      ++counts_.running;
      ++busy_slots_;
    }
    // The slot is this job's from here until its worker's run returns (or it ends without
    // one): storing its output, recording its end and sending its receipt then overlap the next
    // job's run, so a node with one slot runs a split job's chunks back to back.
    bool holding = true;
    const std::function<void()> release = [this, &holding] {
      absl::MutexLock lock(&mu_);
      if (!holding) return;
      holding = false;
      --busy_slots_;
    };
    RunOne(std::move(job), tag, release);
    release();
  }
}

absl::StatusOr<std::vector<wasm::StdinPiece>> ComputeService::InputsOf(
    const JobRecord& job, const std::vector<std::string>& inputs) {
  const std::optional<uint32_t> segment = job.spec.segment;  // of the first input
  if (!segment.has_value() &&
      (stored_inputs_ == nullptr ||
       std::none_of(inputs.begin(), inputs.end(), &StoredInputs::MayBeStoredFile))) {
    return modules_.InputPieces(inputs, options_.max_input_bytes);
  }
  if (stored_inputs_ == nullptr) {
    return absl::FailedPreconditionError("this node does not read stored files");
  }
  std::vector<wasm::StdinPiece> pieces;
  uint64_t left = options_.max_input_bytes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& cid = inputs[i];
    const std::optional<uint32_t> only = i == 0 ? segment : std::nullopt;
    MESH_ASSIGN_OR_RETURN(std::optional<std::string> plain,
                          stored_inputs_->Read(job.id, cid, left, only));
    if (!plain.has_value() && only.has_value()) {
      return absl::FailedPreconditionError(mesh::StrCat("the job reads segment ", *only,
                                                        " of its first input, ", cid,
                                                        ", which is not a stored file"));
    }
    if (plain.has_value()) {
      left -= plain->size();
      // Unnamed: a worker caches named pieces, and a stored file's bytes outlive no job.
      pieces.push_back(wasm::StdinPiece::Owned("", *std::move(plain)));
      continue;
    }
    MESH_ASSIGN_OR_RETURN(std::vector<wasm::StdinPiece> blob, modules_.InputPieces({cid}, left));
    for (wasm::StdinPiece& p : blob) {
      left -= p.bytes.size();
      pieces.push_back(std::move(p));
    }
  }
  return pieces;
}

absl::StatusOr<exec::RunRequest> ComputeService::BuildRequest(const JobRecord& job, uint64_t tag) {
  exec::RunRequest request;
  request.module_id = job.spec.module;
  MESH_ASSIGN_OR_RETURN(request.module_wasm, modules_.Module(job.spec.module));
  // Pieces by CID, not one concatenated copy: a cached input (a split job's broadcast input)
  // is shared, and the pool hands large ones to its workers as shared memory.
  MESH_ASSIGN_OR_RETURN(request.input.stdin_pieces, InputsOf(job, job.spec.inputs));
  if (!job.spec.mounts.empty()) {
    MESH_ASSIGN_OR_RETURN(request.input.mounts, MountsFor(*env_.blobs, modules_, job.spec.mounts,
                                                          options_.max_input_bytes));
  }
  request.input.output_dir = job.spec.output_dir;
  request.input.args = job.spec.args;
  request.input.env = job.spec.env;
  MESH_ASSIGN_OR_RETURN(cas::Cid id, cas::Cid::Parse(job.id));
  request.input.seed = id.digest();
  request.input.deterministic = job.spec.deterministic;
  request.limits = LimitsFor(job.spec, options_.default_limits);
  request.tag = tag;
  request.on_build_wait = [this](bool waiting) {
    absl::MutexLock lock(&mu_);
    busy_slots_ += waiting ? -1 : 1;
  };
  std::string resume;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = resume_.find(job.id); it != resume_.end()) resume = it->second;
  }
  if (!resume.empty()) {
    MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(resume));
    absl::StatusOr<std::string> bytes = env_.blobs->Get(cid, request.limits->max_output_bytes);
    if (bytes.ok()) {
      request.input.resume_checkpoint = *std::move(bytes);
    } else {
      spdlog::warn("job {}: cannot read its checkpoint {} ({}); it runs from the start", job.id,
                   resume, bytes.status().ToString());
    }
  }
  return request;
}

void ComputeService::RunOne(JobRecord job, uint64_t tag,
                            const std::function<void()>& release_slot) {
  job.attempts += 1;
  job.started_at = env_.clock->Now();
  if (absl::Status s = env_.jobs->MarkRunning(job.id, job.started_at, job.attempts); !s.ok()) {
    spdlog::error("cannot mark job {} running: {}", job.id, s.ToString());
    Complete(job, s, tag);
    return;
  }
  job.state = JobState::kRunning;
  metrics_->queue_wait->Observe(Seconds(job.started_at - job.submitted_at));
  Publish(job, "job.running", {{"attempt", job.attempts}});
  absl::StatusOr<exec::RunRequest> request = BuildRequest(job, tag);
  if (!request.ok()) {
    Complete(job, request.status(), tag);
    return;
  }
  bool cancelled = false, stopped = false;
  {
    // A cancel or drain that came while the job was being loaded: the runner has not seen its
    // tag yet, so it is stopped here.
    absl::MutexLock lock(&mu_);
    const Running& r = running_[job.id];
    cancelled = r.cancel_requested;
    stopped = r.stop_requested;
  }
  if (cancelled || stopped) {
    Complete(job, cancelled ? absl::CancelledError("cancelled") : absl::AbortedError("drained"),
             tag);
    return;
  }
  request->input.on_progress = [this, &job](const wasm::ProgressRecord& p) {
    nlohmann::json data = {{"percent", p.percent}, {"message", p.message}, {"fuel", p.fuel}};
    if (std::optional<int64_t> eta = job::EtaMillis(job.started_at, env_.clock->Now(), p.percent)) {
      data["eta_ms"] = *eta;
    }
    Publish(job, "job.progress", std::move(data));
    if (delegator_ != nullptr) delegator_->OnProgress(job, p);
  };
  uint32_t checkpoints = 0, partials = 0;
  request->input.on_checkpoint = [this, &job, &checkpoints](std::string_view bytes, uint64_t fuel) {
    StoreArtifact(job, "checkpoint", checkpoints++, bytes, fuel);
  };
  request->input.on_partial = [this, &job, &partials](std::string_view bytes, uint64_t fuel) {
    StoreArtifact(job, "partial", partials++, bytes, fuel);
  };
  absl::StatusOr<wasm::RunResult> result = env_.runner->Run(*std::move(request));
  release_slot();
  Complete(job, std::move(result), tag);
}

void ComputeService::Complete(JobRecord& job, absl::StatusOr<wasm::RunResult> result,
                              uint64_t tag) {
  bool cancel_requested = false, draining = false;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = running_.find(job.id); it != running_.end()) {
      cancel_requested = it->second.cancel_requested;
    }
    draining = draining_;
  }
  bool requeue = false;
  if (result.ok()) {
    // The pool named the output as it received it (report.output_cid): hashed once.
    absl::StatusOr<cas::Cid> named = cas::Cid::Parse(result->report.output_cid);
    absl::StatusOr<cas::Cid> output = named.ok()
                                          ? env_.blobs->PutHashedBytes(result->output, *named)
                                          : env_.blobs->PutBytes(result->output);
    ApplyReport(result->report, job);
    if (output.ok()) {
      job.output_cid = output->ToString();
      if (absl::Status s = StoreFiles(job, *result); !s.ok()) {
        job.state = JobState::kFailed;
        job.reason =
            mesh::StrCat("the job ran but its output files could not be stored: ", s.message());
      }
    } else {
      job.state = JobState::kFailed;
      job.reason = mesh::StrCat("the job ran but its output could not be stored: ",
                                output.status().message());
    }
    ForgiveModule(job.spec.module);
    metrics_->run_time->Observe(Seconds(result->report.wall_time));
    metrics_->job_fuel->Observe(static_cast<double>(result->report.fuel_used));
    metrics_->fuel->Inc(static_cast<double>(result->report.fuel_used));
  } else if (absl::IsCancelled(result.status()) && cancel_requested) {
    job.state = JobState::kCancelled;
    job.reason = "cancelled by request while it ran";
  } else if (absl::IsCancelled(result.status()) || absl::IsAborted(result.status()) ||
             (absl::IsUnavailable(result.status()) && draining)) {
    requeue = true;  // stopped by the node's shutdown, not by anything the job did
  } else {
    job.state = JobState::kFailed;
    job.reason = std::string(result.status().message());
  }
  job.finished_at = env_.clock->Now();
  bool changed = false;
  if (requeue) {
    if (absl::Status s =
            env_.jobs->Requeue(job.id, job.finished_at, "the node stopped while the job ran");
        !s.ok()) {
      spdlog::error("cannot requeue job {}: {}", job.id, s.ToString());
    }
  } else {
    absl::StatusOr<bool> finished = env_.jobs->Finish(job, &job.history_head);
    if (!finished.ok()) {
      // Still "running" on disk: the next start runs it again.
      spdlog::error("cannot record the end of job {}: {}", job.id, finished.status().ToString());
    }
    changed = finished.value_or(false);
    if (changed) job.phase = std::string(EndPhase(job.state));
  }
  {
    absl::MutexLock lock(&mu_);
    running_.erase(job.id);
    --counts_.running;
  }
  if (requeue) {
    metrics_->requeued->Inc();
    job.state = JobState::kQueued;
    Publish(job, "job.requeued", {{"reason", "the node stopped while the job ran"}});
    return;
  }
  if (changed) Finished(job, /*stored_head=*/true);
}

absl::Status ComputeService::StoreFiles(JobRecord& job, const wasm::RunResult& result) {
  if (job.spec.output_dir.empty()) return absl::OkStatus();
  // A job that ran to an end has an output tree, even an empty one: the same on every executor.
  MESH_ASSIGN_OR_RETURN(cas::Cid files, StoreOutputTree(*env_.blobs, result.files));
  job.files_cid = files.ToString();
  nlohmann::json report = nlohmann::json::parse(job.report_json, nullptr, false);
  if (report.is_object()) {
    report["files_cid"] = job.files_cid;
    job.report_json = report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return absl::OkStatus();
}

void ComputeService::ForgiveModule(const std::string& module) {
  {
    absl::MutexLock lock(&mu_);
    auto it = module_crashes_.find(module);
    // A refused module stays refused for its period, whatever runs here locally meanwhile.
    if (it == module_crashes_.end() || it->second.crashes >= kMaxInterruptedRuns) return;
    module_crashes_.erase(it);
  }
  if (absl::Status s = env_.jobs->ForgetModuleCrashes(module); !s.ok()) {
    spdlog::warn("module {}: cannot forget its crashes: {}", module, s.ToString());
  }
}

void ComputeService::StoreArtifact(const JobRecord& job, std::string_view kind, uint32_t index,
                                   std::string_view bytes, uint64_t fuel) {
  absl::StatusOr<cas::Cid> cid = env_.blobs->PutBytes(bytes);
  if (!cid.ok()) {
    spdlog::warn("job {}: cannot store its {} {}: {}", job.id, kind, index,
                 cid.status().ToString());
    return;
  }
  nlohmann::json detail = {{"index", index},
                           {"cid", cid->ToString()},
                           {"bytes", bytes.size()},
                           {"fuel", fuel},
                           {"attempt", job.attempts}};
  if (kind == "checkpoint") {
    // This node's signed word that the job, at this fuel, checkpointed these bytes.
    const nlohmann::json claim = {{"job", job.id},  {"attempt", job.attempts},
                                  {"index", index}, {"checkpoint", cid->ToString()},
                                  {"fuel", fuel},   {"node", env_.key->did().ToString()}};
    const std::string envelope =
        crypto::Envelope::Seal(*env_.key, kCheckpointPayloadType, claim.dump()).Serialize();
    if (absl::StatusOr<cas::Cid> signed_cid = env_.blobs->PutBytes(envelope); signed_cid.ok()) {
      detail["signed"] = signed_cid->ToString();
    }
    absl::MutexLock lock(&mu_);
    resume_[job.id] = cid->ToString();
  }
  if (absl::Status s = env_.jobs->AppendHistory(job.id, kind, env_.clock->Now(), detail).status();
      !s.ok()) {
    spdlog::warn("job {}: cannot record its {} {}: {}", job.id, kind, index, s.ToString());
  }
  Publish(job, mesh::StrCat("job.", kind), detail);
  if (delegator_ != nullptr) {
    delegator_->OnArtifact(job, kind, index, cid->ToString(), bytes.size(), fuel);
  }
}

void ComputeService::Publish(const JobRecord& job, std::string type, nlohmann::json data) {
  if (!data.is_object()) data = nlohmann::json::object();
  data["state"] = job::JobStateName(job.state);
  env_.events->Publish(std::move(type), job.id, env_.clock->Now(), std::move(data));
}

void ComputeService::StopRunning(const std::vector<uint64_t>& tags, absl::Duration timeout) {
  // The runner may not have the job yet (it is being loaded) or may be finishing it: ask
  // until each job is gone from running_, which Complete() does however the job ended.
  const absl::Time deadline = absl::Now() + timeout;
  auto any_left = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [id, r] : running_) {
      if (std::find(tags.begin(), tags.end(), r.tag) != tags.end()) return true;
    }
    return false;
  };
  while (true) {
    for (uint64_t tag : tags) env_.runner->Cancel(tag);
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !any_left(); };
    if (mu_.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(20))) return;
    if (absl::Now() > deadline) return;
  }
}

void ComputeService::Drain(absl::Duration grace) {
  std::vector<uint64_t> to_stop;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&idle), grace)) {
      for (auto& [id, r] : running_) {
        r.stop_requested = true;
        to_stop.push_back(r.tag);
      }
    }
  }
  // Past the grace period: stop what still runs; those jobs go back in the queue on disk.
  StopRunning(to_stop, absl::Seconds(10));
  for (std::thread& t : runners_) t.join();
  runners_.clear();
}

}  // namespace mesh::node
