// MeshService, the executor's side: answer announcements with bids or declines, take
// assignments, fetch their blobs by CID from peers, run them here, and deliver progress and
// the signed receipt. Also the blob fetch both sides use.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"
#include "mesh/node/mesh_service.h"
#include "mesh_internal.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

// Blobs up to this size are fetched into memory; larger ones into a temp file.
constexpr size_t kInMemoryFetch = 8 << 20;

}  // namespace

absl::StatusOr<std::string> MeshService::OnAnnounce(const crypto::DidKey& from,
                                                    const job::Announce& an,
                                                    const crypto::Envelope& envelope, int ttl) {
  const std::string self = env_.key->did().ToString();
  if (an.origin == self) return std::string();  // our own, come back through a relay
  const bool direct = from.ToString() == an.origin;
  const std::string key = mesh::StrCat(an.job_id, "/", an.round);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = answers_.find(key); it != answers_.end()) {
      // Seen before (through a relay, or the origin asked twice): the origin gets the same
      // answer; anyone else gets nothing.
      return direct ? it->second : std::string();
    }
  }
  // The relay copy keeps the origin's signature (OpenMessage checked signer == origin); the
  // replay check is here rather than in OpenChecked, because a relayed copy is not a replay.
  const absl::Time now = env_.clock->Now();
  if (absl::Status s = replay_.Check(an.header, now); !s.ok() && !absl::IsAlreadyExists(s)) {
    Refused("stale");
    return s;
  }
  if (ttl > 1) Relay(from, an, envelope.Serialize(), ttl - 1);

  std::variant<job::Bid, job::Decline> decision =
      sched::DecideBid(an, Capacity(), options_.pricing, now);
  if (std::string refusal = compute_->ModuleRefusal(an.module_cid); !refusal.empty()) {
    // The node died with this module running too often: no bid, whatever it would pay.
    job::Decline decline;
    decline.job_id = an.job_id;
    decline.round = an.round;
    decline.executor = self;
    decline.code = std::string(kModuleRefusedCode);
    decline.message = std::move(refusal);
    decision = std::move(decline);
  }
  job::Message reply;
  if (auto* bid = std::get_if<job::Bid>(&decision)) {
    metrics_->bids_sent->Inc();
    reply = std::move(*bid);
  } else {
    auto& decline = std::get<job::Decline>(decision);
    metrics_->declines_sent->WithLabels({decline.code})->Inc();
    reply = std::move(decline);
  }
  const bool is_bid = std::holds_alternative<job::Bid>(reply);
  std::string sealed = Seal(std::move(reply));
  {
    absl::MutexLock lock(&mu_);
    if (!answers_.emplace(key, sealed).second) return direct ? answers_[key] : std::string();
    answer_order_.push_back(key);
    if (answer_order_.size() > 50000) {
      answers_.erase(answer_order_.front());
      answer_order_.pop_front();
    }
  }
  if (direct) return sealed;
  // Relayed. A bid goes straight to the origin, unless the origin is our peer too and will
  // ask us itself (then it gets the same answer, and no bid arrives twice).
  std::optional<Peer> origin = peers_->Find(an.origin);
  if (is_bid && (!origin.has_value() || origin->state != PeerState::kAlive)) {
    net::Endpoint to{an.origin_address, std::nullopt};
    if (absl::StatusOr<crypto::DidKey> did = crypto::DidKey::Parse(an.origin); did.ok()) {
      to.did = *did;
    }
    transport_->Send(to, std::move(sealed), 1, absl::Seconds(5),
                     [](absl::StatusOr<std::string>) {});
  }
  return std::string();
}

void MeshService::Relay(const crypto::DidKey& from, const job::Announce& an, std::string envelope,
                        int ttl) {
  // Peers the origin reaches itself (its heartbeats list them) get the announcement from it.
  std::optional<Peer> origin = peers_->Find(an.origin);
  auto origin_knows = [&](const std::string& did) {
    if (!origin.has_value()) return false;
    for (const job::PeerInfo& p : origin->heartbeat.peers) {
      if (p.did == did) return true;
    }
    return false;
  };
  for (const Peer& p : peers_->Alive()) {
    if (p.did == an.origin || p.did == from.ToString() || origin_knows(p.did)) continue;
    net::Endpoint to{p.address, std::nullopt};
    if (absl::StatusOr<crypto::DidKey> did = crypto::DidKey::Parse(p.did); did.ok()) to.did = *did;
    transport_->Send(to, envelope, ttl, absl::Seconds(5), [](absl::StatusOr<std::string>) {});
  }
}

absl::StatusOr<std::string> MeshService::OnAssignment(const job::Assignment& as,
                                                      const crypto::Envelope& envelope) {
  const std::string self = env_.key->did().ToString();
  auto ack = [&](bool accepted, std::string reason) {
    job::AssignmentAck a;
    a.job_id = as.job_id;
    a.round = as.round;
    a.executor = self;
    a.accepted = accepted;
    a.reason = std::move(reason);
    return Seal(std::move(a));
  };
  if (as.executor != self) return ack(false, "the assignment names another executor");
  absl::StatusOr<job::SignedJobSpec> spec = job::OpenJobSpec(as.spec_envelope);
  if (!spec.ok())
    return ack(false, mesh::StrCat("the job spec does not verify: ", spec.status().message()));
  if (spec->id.ToString() != as.job_id) {
    return ack(false,
               mesh::StrCat("the job spec's id is ", spec->id.ToString(), ", not ", as.job_id));
  }
  if (compute_->Stats().draining) return ack(false, "this node is shutting down");
  if (std::string refusal = compute_->ModuleRefusal(spec->spec.module); !refusal.empty()) {
    return ack(false, refusal);
  }
  const std::string assignment_cid = cas::Cid::Of(envelope.Serialize()).ToString();
  absl::StatusOr<JobRecord> existing = env_.jobs->Get(as.job_id);
  if (existing.ok()) {
    // Assigned again (a new round, or the ack was lost): the job is here already.
    {
      absl::MutexLock lock(&mu_);
      assignments_[as.job_id] = assignment_cid;
    }
    (void)env_.jobs->SetMarket(as.job_id, "assigned", as.origin, as.origin_address, as.round);
    if (job::IsTerminal(existing->state)) {
      JobRecord done = *existing;
      done.peer = as.origin;
      done.peer_address = as.origin_address;
      done.round = as.round;
      Post([this, done, assignment_cid] { SendReceipt(done, assignment_cid, "", ""); });
    }
    return ack(true, "");
  }
  // A bid is not a reservation: several auctions that closed together may all pick this node.
  // Beyond its slots and queue it refuses, and the submitter goes to its next candidate.
  const ServiceStats stats = compute_->Stats();
  const uint32_t slots = uint32_t(std::max(1, stats.max_concurrent));
  {
    absl::MutexLock lock(&mu_);
    const uint32_t waiting = uint32_t(stats.queued) + starting_;
    if (uint32_t(stats.running) + waiting >= slots + options_.pricing.max_queue) {
      return ack(false, mesh::StrCat(kNoCapacityRefusal, ": ", stats.running, " of ", slots,
                                     " slots busy and ", waiting, " jobs queued (max_queue ",
                                     options_.pricing.max_queue, ")"));
    }
    ++starting_;
    assignments_[as.job_id] = assignment_cid;
  }
  metrics_->assignments->Inc();
  Post([this, as, assignment_cid] { RunAssignment(as, assignment_cid); });
  return ack(true, "");
}

void MeshService::RunAssignment(job::Assignment as, std::string assignment_cid) {
  // Once handed to the compute service (or refused), the job counts in its queue, not here.
  struct Started {
    MeshService* self;
    ~Started() {
      absl::MutexLock lock(&self->mu_);
      --self->starting_;
    }
  } started{this};
  absl::StatusOr<job::SignedJobSpec> spec = job::OpenJobSpec(as.spec_envelope);
  std::vector<Peer> sources;
  Peer origin;
  origin.did = as.origin;
  origin.address = as.origin_address;
  sources.push_back(origin);
  for (const Peer& p : peers_->Alive()) {
    if (p.did != as.origin) sources.push_back(p);
  }
  absl::Status status = spec.status();
  if (status.ok()) {
    std::vector<std::string> needed = spec->spec.inputs;
    needed.insert(needed.begin(), spec->spec.module);
    if (!as.resume_checkpoint.empty()) needed.push_back(as.resume_checkpoint);
    for (const std::string& cid : needed) {
      status = FetchBlob(cid, sources);
      if (!status.ok()) break;
    }
  }
  if (status.ok()) {
    SubmitRequest request;
    request.envelope = as.spec_envelope;
    request.role = "assigned";
    request.peer = as.origin;
    request.peer_address = as.origin_address;
    request.round = as.round;
    request.resume_checkpoint = as.resume_checkpoint;
    absl::StatusOr<SubmitResult> submitted = compute_->Submit(std::move(request));
    status = submitted.status();
    if (absl::IsAlreadyExists(status)) return;  // a second assignment raced the first
    if (status.ok() && options_.fault.die_mid_job) DieOnceRunning(as.job_id);
  }
  if (!status.ok()) {
    spdlog::warn("job {} assigned by {}: cannot run it: {}", as.job_id, as.origin,
                 status.ToString());
    JobRecord job;
    job.id = as.job_id;
    job.peer = as.origin;
    job.peer_address = as.origin_address;
    job.round = as.round;
    SendReceipt(job, assignment_cid, "error", std::string(status.message()));
  }
}

void MeshService::DieOnceRunning(const std::string& id) {
  // --fault die (meshd only: it ends the whole process, as a crash or SIGKILL would).
  std::thread([this, id] {
    while (true) {
      absl::StatusOr<JobRecord> job = compute_->Get(id);
      if (!job.ok() || job::IsTerminal(job->state)) return;
      if (job->state == job::JobState::kRunning) {
        spdlog::critical("job {}: --fault die: exiting mid-job", id);
        std::_Exit(137);
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }).detach();
}

absl::Status MeshService::FetchBlob(const std::string& text, const std::vector<Peer>& sources) {
  MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(text));
  MESH_ASSIGN_OR_RETURN(bool have, env_.blobs->Has(cid));
  if (have) return absl::OkStatus();
  const uint64_t limit = std::max(max_module_bytes_, max_input_bytes_);
  absl::Status last = absl::NotFoundError(mesh::StrCat("no peer to fetch ", text, " from"));
  for (const Peer& source : sources) {
    job::BlobRequest request;
    request.requester = env_.key->did().ToString();
    request.cid = text;
    net::Endpoint from{source.address, std::nullopt};
    if (absl::StatusOr<crypto::DidKey> did = crypto::DidKey::Parse(source.did); did.ok()) {
      from.did = *did;
    }
    crypto::Sha256 hash;
    std::string memory;
    ScopedFd file;
    std::filesystem::path temp;
    uint64_t size = 0;
    auto sink = [&](std::string_view chunk) -> absl::Status {
      size += chunk.size();
      if (size > limit) {
        return absl::ResourceExhaustedError(
            mesh::StrCat("blob ", text, " from ", source.address, " is over ", limit, " bytes"));
      }
      hash.Update(chunk);
      if (!file.valid() && memory.size() + chunk.size() <= kInMemoryFetch) {
        memory.append(chunk);
        return absl::OkStatus();
      }
      if (!file.valid()) {
        std::string pattern = (env_.blobs->root() / ".fetch-XXXXXX").string();
        const int fd = mkstemp(pattern.data());
        if (fd < 0) return absl::InternalError(mesh::StrCat("cannot create ", pattern));
        file = ScopedFd(fd);
        temp = pattern;
        MESH_RETURN_IF_ERROR(WriteAll(file.get(), memory));
        memory.clear();
      }
      return WriteAll(file.get(), chunk);
    };
    last = transport_->FetchBlob(from, Seal(std::move(request)), absl::Minutes(5), sink);
    if (last.ok() && cas::Cid::FromDigest(hash.Finish(), cid.codec()) != cid) {
      last = absl::DataLossError(mesh::StrCat("peer ", source.did, " at ", source.address,
                                              " sent bytes that do not hash to ", text));
      Refused("bad_blob");
    }
    if (last.ok()) {
      absl::StatusOr<cas::Cid> stored = file.valid() ? env_.blobs->PutFile(temp, cid.codec())
                                                     : env_.blobs->PutBytes(memory, cid.codec());
      last = stored.status();
      metrics_->blob_bytes->Inc(double(size));
    }
    if (!temp.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
    }
    if (last.ok()) return last;
  }
  return last;
}

absl::StatusOr<std::string> MeshService::OnCancel(const job::CancelJob& c) {
  absl::StatusOr<JobRecord> job = env_.jobs->Get(c.job_id);
  if (!job.ok() || job->role != "assigned" || job->peer != c.origin ||
      job::IsTerminal(job->state)) {
    return std::string();
  }
  spdlog::info("job {}: cancelled by its submitter {}: {}", c.job_id, c.origin, c.reason);
  Post([this, id = c.job_id] { (void)compute_->Cancel(id); });
  return std::string();
}

void MeshService::OnProgress(const JobRecord& job, const wasm::ProgressRecord& p) {
  if (job.role != "assigned") return;
  job::Progress progress;
  progress.job_id = job.id;
  progress.round = job.round;
  progress.executor = env_.key->did().ToString();
  progress.fraction = std::clamp(p.percent / 100.0, 0.0, 1.0);
  progress.message = p.message;
  Peer origin;
  origin.did = job.peer;
  origin.address = job.peer_address;
  SendTo(origin, std::move(progress), 1, nullptr);
}

void MeshService::OnArtifact(const JobRecord& job, std::string_view kind, uint32_t index,
                             const std::string& cid, uint64_t bytes, uint64_t fuel) {
  if (job.role != "assigned") return;
  job::Artifact a;
  a.job_id = job.id;
  a.round = job.round;
  a.executor = env_.key->did().ToString();
  a.kind = std::string(kind);
  a.index = index;
  a.cid = cid;
  a.bytes = bytes;
  a.fuel = fuel;
  Peer origin;
  origin.did = job.peer;
  origin.address = job.peer_address;
  SendTo(origin, std::move(a), 1, nullptr);
}

void MeshService::OnFinished(const JobRecord& job) {
  if (job.role != "assigned") return;
  std::string assignment_cid;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = assignments_.find(job.id); it != assignments_.end()) {
      assignment_cid = it->second;
      assignments_.erase(it);
    }
  }
  if (EndedByRestart(job)) {
    // Failed by a restart of this node, not by a run: an executor's error, so the submitter
    // goes to its next candidate (or fails the job) rather than fetch an output there is none of.
    SendReceipt(job, assignment_cid, "error", job.reason);
    return;
  }
  SendReceipt(job, assignment_cid, "", "");
}

void MeshService::SendReceipt(const JobRecord& job, std::string assignment_cid, std::string outcome,
                              std::string message) {
  job::Receipt r;
  r.job_id = job.id;
  r.round = job.round;
  r.executor = env_.key->did().ToString();
  r.assignment_cid = std::move(assignment_cid);
  if (!outcome.empty()) {
    r.outcome = std::move(outcome);  // "error": this node could not run the job at all
    r.report = {{"message", message}};
  } else {
    r.outcome = job.outcome.empty()
                    ? (job.state == job::JobState::kCancelled ? "cancelled" : "error")
                    : job.outcome;
    r.exit_code = job.exit_code;
    r.output_cid = job.output_cid;
    r.fuel_used = job.fuel_used;
    r.report = nlohmann::json::parse(job.report_json, nullptr, false);
    if (r.report.is_discarded() || !r.report.is_object()) r.report = nlohmann::json::object();
    if (!job.reason.empty()) r.report["message"] = job.reason;
    if (absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(job.output_cid); cid.ok()) {
      if (absl::StatusOr<cas::BlobInfo> info = env_.blobs->Stat(*cid); info.ok()) {
        r.output_bytes = info->size;
      }
    }
    r.started_at_ms = absl::ToUnixMillis(job.started_at);
    r.finished_at_ms = absl::ToUnixMillis(job.finished_at);
  }
  if (options_.fault.stall) {
    spdlog::warn("job {}: --fault stall: its receipt is withheld", job.id);
    return;
  }
  if (options_.fault.lie_rate > 0 && r.outcome == "ok" &&
      env_.rng->UniformDouble() < options_.fault.lie_rate) {
    // A plausible lie: a real blob the submitter can fetch, whose bytes differ from the output.
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(r.output_cid);
    absl::StatusOr<std::string> bytes =
        cid.ok() ? env_.blobs->Get(*cid) : absl::StatusOr<std::string>(cid.status());
    if (bytes.ok()) {
      bytes->append("(altered by --fault lie)\n");
      if (absl::StatusOr<cas::Cid> altered = env_.blobs->PutBytes(*bytes); altered.ok()) {
        spdlog::warn("job {}: --fault lie: reporting {} instead of {}", job.id, altered->ToString(),
                     r.output_cid);
        r.output_cid = altered->ToString();
        r.output_bytes = bytes->size();
      }
    }
  }
  auto pending = std::make_unique<PendingReceipt>();
  pending->envelope = Seal(std::move(r));
  pending->address = job.peer_address;
  pending->origin = job.peer;
  {
    absl::MutexLock lock(&mu_);
    receipts_[job.id] = std::move(pending);
    TickReceipts(env_.clock->Now());
  }
  RunDeferred();
}

void MeshService::TickReceipts(absl::Time now) {
  for (auto& [id, p] : receipts_) {
    if (now < p->next_try) continue;
    // Delivered receipts are erased by the reply; until then retry with backoff for a while.
    p->next_try =
        now + std::min(absl::Seconds(10), absl::Milliseconds(200) * (1 << std::min(p->tries, 6)));
    ++p->tries;
    net::Endpoint to{p->address, std::nullopt};
    if (absl::StatusOr<crypto::DidKey> did = crypto::DidKey::Parse(p->origin); did.ok())
      to.did = *did;
    const std::string job_id = id;
    const std::string envelope = p->envelope;
    const int tries = p->tries;
    Defer([this, to, envelope, job_id, tries] {
      transport_->Send(to, envelope, 1, absl::Seconds(5),
                       [this, job_id, tries](absl::StatusOr<std::string> reply) {
                         absl::MutexLock lock(&mu_);
                         if (reply.ok() || tries >= 30) {
                           if (!reply.ok()) {
                             spdlog::warn("job {}: giving up delivering its receipt: {}", job_id,
                                          reply.status().ToString());
                           }
                           receipts_.erase(job_id);
                         }
                       });
    });
  }
}

}  // namespace mesh::node
