// MeshService carries out the core's actions, in step order, on its executor: the step's
// writes in one transaction, sealed sends, blob fetches (on the fetch pool), the compute
// service, the settlement, events, metrics and the core's timer. The test faults act here.
#include <cstdlib>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/node/blob_transfer.h"
#include "mesh/node/job_files.h"
#include "mesh/node/market_records.h"
#include "mesh/node/mesh_group_commit.h"
#include "mesh/node/mesh_service.h"
#include "mesh/node/settlement.h"
#include "mesh/node/stored_inputs.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
net::Endpoint MeshService::EndpointOf(const std::string& did, const std::string& address) {
  net::Endpoint to{address, std::nullopt};
  if (absl::StatusOr<crypto::DidKey> key = crypto::DidKey::Parse(did); key.ok()) to.did = *key;
  return to;
}

void MeshService::Drain() {
  std::vector<PendingStep> steps;
  {
    absl::MutexLock lock(&mu_);
    const size_t n = std::min(pending_.size(), kMaxStepsPerDrain);
    steps.assign(std::make_move_iterator(pending_.begin()),
                 std::make_move_iterator(pending_.begin() + ptrdiff_t(n)));
    pending_.erase(pending_.begin(), pending_.begin() + ptrdiff_t(n));
    if (pending_.empty()) {
      drain_queued_ = false;
    } else {
      scheduler_->Post([this] { Drain(); });  // the rest, after what is queued meanwhile
    }
  }
  std::vector<const Actions*> actions;
  actions.reserve(steps.size());
  for (const PendingStep& step : steps) actions.push_back(&step.actions);
  // Payments, refunds and reputation events wait for the end of the drain and are settled
  // together: one ledger transaction and one reputation write for all the drain's jobs (the
  // core emits them after the job's end, which they never delay).
  std::vector<market::Action> settling;
  const GroupCommitStats stats =
      CarryOutSteps(actions, StepHooks{
                                 .commit = [this](const auto& writes) { return Persist(writes); },
                                 .carry_out =
                                     [this, &settling](const market::Action& a) {
                                       if (Settlement::Settles(a)) {
                                         settling.push_back(a);
                                       } else {
                                         CarryOne(a);
                                       }
                                     },
                                 .dropped = [this](const market::Action& a) { Dropped(a); },
                             });
  metrics_.Committed(stats.commits, stats.failed_commits, stats.writes);
  if (!settling.empty() && env_.settlement != nullptr) env_.settlement->Settle(settling);
  for (const PendingStep& step : steps) {
    if (step.carried_out != nullptr) step.carried_out->Notify();
  }
}

void MeshService::Dropped(const market::Action& action) {
  // The core still waits for the outcome of a send or fetch it asked for: it failed.
  const absl::Status why = absl::AbortedError("the market step that made it was not recorded");
  if (const auto* send = std::get_if<market::Send>(&action); send != nullptr && send->token != 0) {
    Feed(market::SendResult{.token = send->token, .status = why});
  } else if (const auto* fetch = std::get_if<market::Fetch>(&action);
             fetch != nullptr && fetch->token != 0) {
    Feed(market::FetchResult{fetch->token, why});
  }
}

void MeshService::CarryOne(const market::Action& action) {
  std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, market::Send>) {
          SendMessage(a);
        } else if constexpr (std::is_same_v<T, market::Fetch>) {
          // Blobs already here (a module run before, our own input) need no trip to the pool.
          if (Stored(a.cids)) {
            Feed(market::FetchResult{a.token, absl::OkStatus()});
          } else {
            fetches_->Post([this, a] { Fetch(a); });
          }
        } else if constexpr (std::is_same_v<T, market::Persist>) {
          // Written by Drain's group commit, never one by one.
        } else if constexpr (std::is_same_v<T, market::MarkRunning>) {
          // FailedPrecondition: the job has moved on (a receipt overtook the ack).
          if (absl::Status s = compute_->MarkDelegatedRunning(a.job_id, a.at, a.attempts);
              !s.ok() && !absl::IsFailedPrecondition(s)) {
            spdlog::warn("job {}: cannot mark it running: {}", a.job_id, s.ToString());
          }
        } else if constexpr (std::is_same_v<T, market::Finish>) {
          Finish(a.result);
        } else if constexpr (std::is_same_v<T, market::RunHere>) {
          RunHere(a);
        } else if constexpr (std::is_same_v<T, market::RunAtHome>) {
          RunAtHome(a);
        } else if constexpr (std::is_same_v<T, market::CancelRun>) {
          // Stopping a run waits for its worker: not on the executor.
          fetches_->Post([this, a] { CancelRun(a); });
        } else if constexpr (std::is_same_v<T, market::Pay> || std::is_same_v<T, market::Refund> ||
                             std::is_same_v<T, market::RecordStanding>) {
          // Never carried one by one: Drain settles a drain's together.
        } else if constexpr (std::is_same_v<T, market::Publish>) {
          env_.events->Publish(a.topic, a.job_id, env_.clock->Now(), a.data);
        } else if constexpr (std::is_same_v<T, market::Count>) {
          metrics_.Count(a);
        } else if constexpr (std::is_same_v<T, market::Log>) {
          const auto level = a.level == market::Log::Level::kError     ? spdlog::level::err
                             : a.level == market::Log::Level::kWarning ? spdlog::level::warn
                                                                       : spdlog::level::info;
          spdlog::log(level, "{}", a.text);
        } else if constexpr (std::is_same_v<T, market::Observe>) {
          metrics_.Observe(a);
        } else if constexpr (std::is_same_v<T, market::SetTimer>) {
          SetTimer(a.at);
        }
      },
      action);
}

absl::Status MeshService::Persist(const std::vector<const market::Persist*>& writes) {
  const std::vector<MarketWrite> batch = WritesOf(writes);
  const absl::Time now = env_.clock->Now();
  absl::StatusOr<std::vector<std::string>> cids = env_.jobs->ApplyMarketStep(batch, now);
  if (!cids.ok()) {
    spdlog::error("job {}: cannot record the market's steps ({} writes, rolled back): {}",
                  writes.front()->job_id, writes.size(), cids.status().ToString());
    return cids.status();
  }
  size_t i = 0;
  for (const market::Persist* p : writes) {
    for (const market::Block& b : p->blocks) {
      const std::string& cid = (*cids)[i++];
      if (cid.empty()) continue;  // not a job of this node
      nlohmann::json detail = b.detail;
      detail["phase"] = b.phase;
      detail["block"] = cid;
      env_.events->Publish("job.phase", p->job_id, now, std::move(detail));
    }
  }
  return absl::OkStatus();
}

std::string MeshService::SealForPeer(job::Message message) {
  if (auto* as = std::get_if<job::Assignment>(&message); as != nullptr && stored_inputs_) {
    // The keys of the job's stored inputs, sealed to this executor alone.
    absl::StatusOr<std::vector<job::KeyGrant>> grants =
        stored_inputs_->GrantsFor(as->job_id, as->executor);
    if (grants.ok()) {
      as->key_grants = *std::move(grants);
    } else {
      spdlog::warn("job {}: no key grant for its stored inputs goes to {}: {}", as->job_id,
                   as->executor, grants.status().ToString());
    }
  }
  auto* r = std::get_if<job::Receipt>(&message);
  if (r != nullptr && options_.fault.lie_rate > 0 && r->outcome == "ok" &&
      env_.rng->UniformDouble() < options_.fault.lie_rate) {
    // --fault lie: a plausible lie, a real blob the submitter can fetch whose bytes differ.
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(r->output_cid);
    absl::StatusOr<std::string> bytes =
        cid.ok() ? env_.blobs->Get(*cid) : absl::StatusOr<std::string>(cid.status());
    if (bytes.ok()) {
      bytes->append("(altered by --fault lie)\n");
      if (absl::StatusOr<cas::Cid> altered = env_.blobs->PutBytes(*bytes); altered.ok()) {
        spdlog::warn("job {}: --fault lie: reporting {} instead of {}", r->job_id,
                     altered->ToString(), r->output_cid);
        r->output_cid = altered->ToString();
        r->output_bytes = bytes->size();
      }
    }
  }
  return envelopes_.Seal(std::move(message));
}

void MeshService::SendMessage(const market::Send& send) {
  const bool relay = !send.message.has_value();
  if (!relay && options_.fault.stall && std::holds_alternative<job::Receipt>(*send.message)) {
    spdlog::warn("job {}: --fault stall: its receipt is withheld",
                 std::get<job::Receipt>(*send.message).job_id);
    return;
  }
  const net::Endpoint to = EndpointOf(send.to, send.address);
  std::string bytes = relay ? send.raw : SealForPeer(*send.message);
  transport_->Send(to, std::move(bytes), send.ttl, options_.send_timeout,
                   [this, to, relay, token = send.token](absl::StatusOr<std::string> reply) {
                     if (!reply.ok() && !relay) peers_->Failed(to.address);
                     if (token == 0) return;
                     market::SendResult result{.token = token};
                     if (!reply.ok()) {
                       result.status = reply.status();
                     } else if (!reply->empty()) {  // empty: delivered, no answer
                       absl::StatusOr<job::OpenedMessage> opened = envelopes_.Open(*reply, to.did);
                       if (opened.ok()) {
                         result.reply = std::move(opened->message);
                         result.reply_envelope_cid =
                             cas::Cid::Of(opened->envelope.Serialize()).ToString();
                       } else {
                         result.status = opened.status();
                       }
                     }
                     Feed(std::move(result));
                   });
}

bool MeshService::Stored(const std::vector<std::string>& cids) {
  for (const std::string& text : cids) {
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(text);
    absl::StatusOr<bool> have = cid.ok() ? env_.blobs->Has(*cid) : absl::StatusOr<bool>(false);
    if (!have.ok() || !*have) return false;
  }
  // A tree is here when its manifest's files are too.
  absl::StatusOr<std::vector<std::string>> missing = MissingMountBlobs(*env_.blobs, cids);
  return missing.ok() && missing->empty();
}

void MeshService::Fetch(const market::Fetch& fetch) {
  absl::Status status;
  for (const std::string& cid : fetch.cids) {
    status = FetchBlob(cid, fetch.sources);
    if (status.ok()) status = FetchTreeFiles(cid, fetch.sources);
    if (!status.ok()) {
      spdlog::warn("job {}: cannot fetch {}: {}", fetch.job_id, cid, status.ToString());
      break;
    }
  }
  Feed(market::FetchResult{fetch.token, status});
}

absl::Status MeshService::FetchTreeFiles(const std::string& cid,
                                         const std::vector<market::FetchSource>& sources) {
  // A directory manifest (a mount, an output tree) is fetched with its files: the core names
  // the tree, the shell reads it (verified, parsed defensively) and fetches what it lists.
  MESH_ASSIGN_OR_RETURN(std::vector<std::string> missing, MissingMountBlobs(*env_.blobs, {cid}));
  for (const std::string& file : missing) {
    absl::Status s = FetchBlob(file, sources);
    if (!s.ok())
      return absl::Status(s.code(),
                          mesh::StrCat("file ", file, " of tree ", cid, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status MeshService::FetchBlob(const std::string& text,
                                    const std::vector<market::FetchSource>& sources) {
  MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(text));
  MESH_ASSIGN_OR_RETURN(bool have, env_.blobs->Has(cid));
  if (have) return absl::OkStatus();
  const uint64_t limit = std::max(max_module_bytes_, max_input_bytes_);
  absl::Status last = absl::NotFoundError(mesh::StrCat("no peer to fetch ", text, " from"));
  for (const market::FetchSource& source : sources) {
    job::BlobRequest request;
    request.requester = env_.key->did().ToString();
    request.cid = text;
    absl::StatusOr<uint64_t> bytes = FetchBlobFrom(
        *transport_, EndpointOf(source.did, source.address), envelopes_.Seal(std::move(request)),
        cid, limit, options_.fetch_timeout, *env_.blobs);
    if (bytes.ok()) {
      metrics_.BlobBytes(*bytes);
      return absl::OkStatus();
    }
    last = bytes.status();
    if (absl::IsDataLoss(last)) {
      envelopes_.Refused("bad_blob");
      last = absl::DataLossError(mesh::StrCat(source.did, ": ", last.message()));
    }
  }
  return last;
}

void MeshService::RunHere(const market::RunHere& run) {
  const job::Assignment& as = run.assignment;
  if (stored_inputs_ != nullptr) stored_inputs_->Accept(as.job_id, as.key_grants);
  SubmitRequest request;
  request.envelope = as.spec_envelope;
  request.role = job::JobRole::kAssigned;
  request.peer = as.origin;
  request.peer_address = as.origin_address;
  request.round = as.round;
  request.resume_checkpoint = as.resume_checkpoint;
  const absl::Status status = compute_->Submit(std::move(request)).status();
  {
    absl::MutexLock lock(&mu_);
    --submitting_;
  }
  if (absl::IsAlreadyExists(status)) {
    // Assigned again (a new round, or the ack was lost): the job is here already, and if it
    // has ended its receipt goes again.
    absl::StatusOr<JobRecord> job = env_.jobs->Get(as.job_id);
    if (job.ok() && !job::IsTerminal(job->state)) {
      (void)env_.jobs->SetMarket(as.job_id, job::JobRole::kAssigned, as.origin, as.origin_address,
                                 as.round);
    } else if (job.ok()) {
      job->peer = as.origin;
      job->peer_address = as.origin_address;
      job->round = as.round;
      Feed(market::LocalEnded{RunEndOf(*job, *env_.blobs)});
    }
    return;
  }
  if (status.ok()) {
    if (options_.fault.die_mid_job) DieOnceRunning(as.job_id);
    return;
  }
  spdlog::warn("job {} assigned by {}: cannot run it: {}", as.job_id, as.origin, status.ToString());
  if (stored_inputs_ != nullptr) stored_inputs_->Forget(as.job_id);
  market::LocalRunEnd end;
  end.job_id = as.job_id;
  end.origin = as.origin;
  end.origin_address = as.origin_address;
  end.round = as.round;
  end.error = true;
  end.message = std::string(status.message());
  Feed(market::LocalEnded{std::move(end)});
}

void MeshService::CancelRun(const market::CancelRun& cancel) {
  // Only a job run here for that submitter, and only while it runs.
  absl::StatusOr<JobRecord> job = env_.jobs->Get(cancel.job_id);
  if (!job.ok() || job->role != job::JobRole::kAssigned || job->peer != cancel.origin ||
      job::IsTerminal(job->state)) {
    return;
  }
  (void)compute_->Cancel(cancel.job_id);
}

void MeshService::RunAtHome(const market::RunAtHome& home) {
  // FailedPrecondition: it ended meanwhile (cancelled). Another error leaves it stored as
  // delegated: the next start hands it to the market again.
  if (absl::Status s = compute_->TakeBack(home.job_id, home.reason);
      !s.ok() && !absl::IsFailedPrecondition(s)) {
    spdlog::error("job {}: cannot run it here after all: {}", home.job_id, s.ToString());
    return;
  }
  spdlog::info("job {}: runs here after all: {}", home.job_id, home.reason);
}

void MeshService::Finish(const market::JobResult& r) {
  if (stored_inputs_ != nullptr) stored_inputs_->Forget(r.job_id);
  absl::StatusOr<JobRecord> stored = env_.jobs->Get(r.job_id);
  if (!stored.ok()) {
    spdlog::error("job {}: cannot record its end: {}", r.job_id, stored.status().ToString());
    return;
  }
  (void)compute_->FinishDelegated(WithResult(*std::move(stored), r));
}

void MeshService::SetTimer(absl::Time at) {
  if (timer_ != 0) scheduler_->Cancel(timer_);
  timer_ = scheduler_->RunAt(at, [this] {
    timer_ = 0;
    Feed(market::TimerFired{});
  });
}

void MeshService::DieOnceRunning(const std::string& id) {
  // --fault die (meshd only: it ends the whole process, as a crash or SIGKILL would).
  absl::StatusOr<JobRecord> job = compute_->Get(id);
  if (!job.ok() || job::IsTerminal(job->state)) return;
  if (job->state == job::JobState::kRunning) {
    spdlog::critical("job {}: --fault die: exiting mid-job", id);
    std::_Exit(137);
  }
  scheduler_->RunAt(env_.clock->Now() + absl::Milliseconds(5), [this, id] { DieOnceRunning(id); });
}

}  // namespace mesh::node
