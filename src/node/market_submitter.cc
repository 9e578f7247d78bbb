// MeshService, the submitter's side: announce, collect bids, select, assign, take the
// receipt, fetch and check the output, and recover from executors that fail.
#include <algorithm>
#include <cstdlib>

#include "mesh/common/base64.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/node/mesh_service.h"
#include "mesh/node/settlement.h"
#include "mesh/node/split_coordinator.h"
#include "mesh_internal.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

uint64_t InputBytes(cas::BlobStore& blobs, const job::JobSpec& spec) {
  uint64_t total = 0;
  for (const std::string& input : spec.inputs) {
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(input);
    if (!cid.ok()) continue;
    if (absl::StatusOr<cas::BlobInfo> info = blobs.Stat(*cid); info.ok()) total += info->size;
  }
  return total;
}

uint64_t BlobSize(cas::BlobStore& blobs, const std::string& text) {
  absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(text);
  if (!cid.ok()) return 0;
  absl::StatusOr<cas::BlobInfo> info = blobs.Stat(*cid);
  return info.ok() ? info->size : 0;
}

std::string Short(const std::string& did) {
  return did.size() > 20 ? mesh::StrCat(did.substr(0, 14), "…", did.substr(did.size() - 6)) : did;
}

}  // namespace

bool MeshService::ShouldDelegate(JobRecord& job) {
  absl::StatusOr<sched::PlacementMode> mode = sched::ParsePlacementMode(job.spec.placement);
  const double complexity =
      sched::ComplexityScore(BlobSize(*env_.blobs, job.spec.module), job.spec.limits.fuel,
                             InputBytes(*env_.blobs, job.spec));
  const sched::Placement placement =
      sched::Place(mode.value_or(sched::PlacementMode::kAuto), job.spec.requirements,
                   job.spec.limits.memory_bytes, complexity, Capacity(), peers_->alive_count(),
                   options_.placement);
  job.placement_reason = placement.reason;
  return !placement.local;
}

void MeshService::Take(const JobRecord& job) {
  const absl::Time now = env_.clock->Now();
  {
    absl::MutexLock lock(&mu_);
    auto a = std::make_unique<Auction>();
    a->job = job;
    // A resumed job continues after the round it had reached, so its old executor's late
    // messages are recognisable.
    a->round = job.round;
    a->opened = !job.peer.empty();
    a->stage = Auction::Stage::kWaiting;
    a->retry_at = now;
    a->verification = Settlement::VerificationOf(job.spec);
    if (job.attempts > 0 || job.state == job::JobState::kRunning) {
      // Resumed after a restart: a checkpoint an executor sent before is where it goes on.
      if (absl::StatusOr<std::vector<HistoryBlock>> history = env_.jobs->History(job.id);
          history.ok()) {
        a->checkpoint = LatestCheckpoint(*history);
      }
    }
    a->replicas = a->verification.mode == verify::Mode::kReplicate ? a->verification.replicas : 1;
    if (auto label = job.spec.labels.find(std::string(kSplitJobLabel));
        label != job.spec.labels.end()) {
      a->lease = label->second;
      auto chunk = job.spec.labels.find(std::string(kSplitChunkLabel));
      if (chunk != job.spec.labels.end()) {
        a->chunk = static_cast<uint32_t>(std::strtoul(chunk->second.c_str(), nullptr, 10));
      }
    }
    Auction& ref = *a;
    auctions_[job.id] = std::move(a);
    if (job.state == job::JobState::kRunning) {
      // Resumed after a restart while an executor ran it: we no longer know whether that run
      // will report, so the job goes back to the market (a late receipt is ignored).
      (void)env_.jobs->Requeue(job.id, now, "the submitter restarted while the job ran");
      ref.job.state = job::JobState::kQueued;
    }
    if (ref.lease.empty()) {
      OpenRound(job.id);
    } else {
      PlaceChunk(ref, now);
    }
  }
  RunDeferred();
}

void MeshService::History(const std::string& id, std::string_view phase, nlohmann::json detail) {
  const absl::Time now = env_.clock->Now();
  absl::StatusOr<std::string> cid = env_.jobs->AppendHistory(id, phase, now, detail);
  if (!cid.ok()) {
    spdlog::error("job {}: cannot record {} in its history: {}", id, phase,
                  cid.status().ToString());
    return;
  }
  detail["phase"] = std::string(phase);
  detail["block"] = *cid;
  env_.events->Publish("job.phase", id, now, std::move(detail));
}

void MeshService::OpenRound(const std::string& id) {
  auto it = auctions_.find(id);
  if (it == auctions_.end() || stopping_) return;
  Auction& a = *it->second;
  const absl::Time now = env_.clock->Now();
  if (a.opened) ++a.round;
  a.opened = true;
  a.bids.clear();
  a.declines = nlohmann::json::array();
  a.unanswered = nlohmann::json::array();
  a.selection.reset();
  a.next = 0;
  a.executor.clear();

  const job::JobSpec& spec = a.job.spec;
  job::Announce& an = a.announce;
  an = job::Announce{};
  an.job_id = id;
  an.origin = env_.key->did().ToString();
  an.origin_address = transport_->address();
  an.round = a.round;
  an.module_cid = spec.module;
  an.module_bytes = BlobSize(*env_.blobs, spec.module);
  an.input_bytes = InputBytes(*env_.blobs, spec);
  an.fuel = spec.limits.fuel;
  an.memory_bytes = spec.limits.memory_bytes;
  an.wall_time_ms = spec.limits.wall_time_ms;
  an.requirements = spec.requirements;
  // The escrow holds this much per replica: no bid above it can be paid.
  if (env_.settlement != nullptr) {
    an.requirements.max_price = static_cast<uint64_t>(env_.settlement->MaxPrice(spec));
  }
  an.exclude = a.excluded;
  an.bid_deadline_ms = absl::ToUnixMillis(now + options_.bid_window);

  std::vector<Peer> asked;
  for (const Peer& p : peers_->Alive()) {
    if (p.heartbeat.draining) continue;
    if (std::find(a.excluded.begin(), a.excluded.end(), p.did) != a.excluded.end()) continue;
    asked.push_back(p);
  }
  a.asked = asked.size();
  if (asked.empty()) {
    WaitForBids(a,
                peers_->alive_count() == 0 ? "no live peers to ask"
                                           : "every live peer is draining or excluded",
                now);
    return;
  }
  a.stage = Auction::Stage::kBidding;
  a.deadline = now + options_.bid_window;
  metrics_->announced->Inc();
  if (a.waits == 0) {
    nlohmann::json dids = nlohmann::json::array();
    for (const Peer& p : asked) dids.push_back(p.did);
    History(id, "bidding_open",
            {{"round", a.round}, {"asked", dids}, {"deadline_ms", an.bid_deadline_ms}});
  }
  const uint32_t round = a.round;
  const job::Announce announce = an;
  const int ttl = options_.announce_ttl;
  Defer([this, asked, announce, ttl, id, round] {
    for (const Peer& p : asked) {
      SendTo(p, announce, ttl,
             [this, id, round, did = p.did](absl::StatusOr<job::OpenedMessage> reply) {
               OnBidReply(id, round, did, std::move(reply));
             });
    }
  });
}

void MeshService::OnBidReply(const std::string& id, uint32_t round, const std::string& asked,
                             absl::StatusOr<job::OpenedMessage> reply) {
  const absl::Time now = env_.clock->Now();
  absl::MutexLock lock(&mu_);
  auto it = auctions_.find(id);
  if (it == auctions_.end()) return;
  Auction& a = *it->second;
  if (a.stage != Auction::Stage::kBidding || a.round != round) return;  // a late answer
  if (!reply.ok()) {
    // NotFound: the peer had the announcement already (it came through a relay) and bids by
    // its own message. Anything else: the peer could not answer.
    a.unanswered.push_back({{"executor", asked}, {"error", std::string(reply.status().message())}});
  } else if (const auto* bid = std::get_if<job::Bid>(&reply->message)) {
    AddBid(a, *bid, reply->envelope);
  } else if (const auto* decline = std::get_if<job::Decline>(&reply->message)) {
    metrics_->declines->WithLabels({decline->code})->Inc();
    a.declines.push_back(
        {{"executor", decline->executor}, {"code", decline->code}, {"message", decline->message}});
  } else {
    a.unanswered.push_back(
        {{"executor", asked}, {"error", "answered with neither bid nor decline"}});
  }
  MaybeClose(a, now);
}

void MeshService::AddBid(Auction& a, const job::Bid& bid, const crypto::Envelope& envelope) {
  for (const sched::BidView& b : a.bids) {
    if (b.bid.executor == bid.executor) return;  // one bid per executor and round
  }
  metrics_->bids->Inc();
  sched::BidView view;
  view.bid = bid;
  view.bid_cid = cas::Cid::Of(envelope.Serialize()).ToString();
  if (std::optional<Peer> p = peers_->Find(bid.executor); p.has_value()) {
    view.rtt = p->rtt;
    view.known_peer = true;
  }
  if (env_.settlement != nullptr) view.reputation = env_.settlement->ReputationOf(bid.executor);
  a.bids.push_back(std::move(view));
}

void MeshService::SetAssignedLoad(Auction& a) {
  absl::flat_hash_map<std::string, int> assigned;
  for (const auto& [id, other] : auctions_) {
    if (other.get() == &a || other->executor.empty()) continue;
    if (other->stage == Auction::Stage::kAssigning || other->stage == Auction::Stage::kExecuting ||
        other->stage == Auction::Stage::kCollecting) {
      ++assigned[other->executor];
    }
  }
  for (sched::BidView& view : a.bids) {
    auto it = assigned.find(view.bid.executor);
    if (it == assigned.end()) continue;
    uint32_t slots = 1;
    if (std::optional<Peer> p = peers_->Find(view.bid.executor); p.has_value()) {
      slots = std::max<uint32_t>(p->heartbeat.max_concurrent, 1);
    }
    view.assigned_load = static_cast<double>(it->second) / slots;
  }
}

void MeshService::MaybeClose(Auction& a, absl::Time now) {
  if (a.stage != Auction::Stage::kBidding) return;
  const size_t declined = a.declines.size() + a.unanswered.size();
  if (!sched::ShouldClose({a.deadline, a.asked, options_.enough_bids}, a.bids.size(), declined,
                          now)) {
    return;
  }
  SetAssignedLoad(a);
  a.selection = sched::Select(a.announce, a.bids, options_.selection, now);
  const bool won = a.selection->has_winner();
  metrics_->closed->WithLabels({won ? "winner" : "no_winner"})->Inc();
  nlohmann::json detail = {{"round", a.round},
                           {"selection", sched::ToJson(*a.selection)},
                           {"declines", a.declines},
                           {"unanswered", a.unanswered},
                           {"asked", a.asked}};
  if (!won) {
    std::string why =
        mesh::StrCat("no usable bid in round ", a.round, ": ", a.bids.size(), " bid(s), ",
                     a.declines.size(), " decline(s), ", a.unanswered.size(), " without answer");
    for (const nlohmann::json& d : a.declines) {
      why += mesh::StrCat("; ", Short(d["executor"].get<std::string>()), " declined (",
                          d["code"].get<std::string>(), ": ", d["message"].get<std::string>(), ")");
    }
    for (const sched::Rejection& r : a.selection->rejected) {
      why += mesh::StrCat("; ", Short(r.executor), " filtered (", r.code, ": ", r.message, ")");
    }
    detail["outcome"] = why;
    if (a.waits == 0 || why != a.waiting_reason) History(a.job.id, "bidding_closed", detail);
    WaitForBids(a, why, now);
    return;
  }
  detail["outcome"] = a.selection->summary;
  History(a.job.id, "bidding_closed", detail);
  a.waits = 0;
  if (a.lease.empty()) {
    AssignNext(a, now);
    return;
  }
  // A chunk: every ranked bidder holds its split job's lease, and the chunks waiting for it go
  // out at once.
  const std::string lease = a.lease;
  WinLease(a);
  AssignNext(a, now);
  AssignFromLease(lease, now);
}

void MeshService::AssignNext(Auction& a, absl::Time now) {
  const std::vector<sched::ScoredBid>& ranked = a.selection->ranked;
  while (a.next < ranked.size() && std::find(a.excluded.begin(), a.excluded.end(),
                                             ranked[a.next].executor) != a.excluded.end()) {
    ++a.next;
  }
  if (a.next >= ranked.size()) {
    // Every bidder of this round refused or failed: a new round, after a pause.
    a.stage = Auction::Stage::kWaiting;
    a.retry_at = now + sched::Backoff(options_.retry, a.failures, *env_.rng);
    a.waiting_reason = "every bidder of the last round refused or failed the assignment";
    return;
  }
  const sched::ScoredBid& pick = ranked[a.next];
  a.stage = Auction::Stage::kAssigning;
  a.executor = pick.executor;
  a.executor_address = pick.executor_address;
  a.price = pick.price;
  const absl::Duration run_limit =
      absl::Milliseconds(int64_t(a.job.spec.limits.wall_time_ms)) + options_.receipt_grace;
  a.deadline = now + run_limit;

  job::Assignment as;
  as.job_id = a.job.id;
  as.round = a.round;
  as.origin = env_.key->did().ToString();
  as.origin_address = transport_->address();
  as.executor = pick.executor;
  as.bid_cid = pick.bid_cid;
  as.spec_envelope = a.job.envelope;
  as.deadline_ms = absl::ToUnixMillis(a.deadline);
  as.resume_checkpoint = a.checkpoint;
  (void)env_.jobs->SetMarket(a.job.id, "delegated", pick.executor, pick.executor_address, a.round);
  a.job.peer = pick.executor;
  a.job.peer_address = pick.executor_address;
  a.job.round = a.round;
  History(a.job.id, "assigned",
          {{"round", a.round},
           {"executor", pick.executor},
           {"address", pick.executor_address},
           {"price", pick.price},
           {"score", pick.score},
           {"bid", pick.bid_cid},
           {"deadline_ms", as.deadline_ms},
           {"resume_checkpoint", a.checkpoint}});
  Peer to;
  to.did = pick.executor;
  to.address = pick.executor_address;
  const std::string id = a.job.id;
  const uint32_t round = a.round;
  Defer([this, to, as = std::move(as), id, round]() mutable {
    SendTo(to, std::move(as), 1,
           [this, id, round, executor = to.did](absl::StatusOr<job::OpenedMessage> reply) {
             OnAck(id, round, executor, std::move(reply));
           });
  });
}

void MeshService::OnAck(const std::string& id, uint32_t round, const std::string& executor,
                        absl::StatusOr<job::OpenedMessage> reply) {
  const absl::Time now = env_.clock->Now();
  absl::MutexLock lock(&mu_);
  auto it = auctions_.find(id);
  if (it == auctions_.end()) return;
  Auction& a = *it->second;
  if (a.stage != Auction::Stage::kAssigning || a.round != round || a.executor != executor) return;
  const auto* ack = reply.ok() ? std::get_if<job::AssignmentAck>(&reply->message) : nullptr;
  if (ack == nullptr || !ack->accepted || ack->job_id != id) {
    const std::string why = !reply.ok() ? std::string(reply.status().message())
                            : ack == nullptr
                                ? "it answered the assignment with something else than an ack"
                            : !ack->accepted ? mesh::StrCat("it refused: ", ack->reason)
                                             : "its ack names another job";
    History(id, "requeued", {{"round", round}, {"executor", executor}, {"reason", why}});
    // A full executor may take the job in a later round; one that refused for any other reason
    // (or did not answer) is not asked again for this job.
    const bool full =
        ack != nullptr && !ack->accepted && ack->reason.rfind(kNoCapacityRefusal, 0) == 0;
    if (!full) a.excluded.push_back(executor);
    ++a.next;
    AssignNext(a, now);
    return;
  }
  a.stage = Auction::Stage::kExecuting;
  const int attempt = ++a.job.attempts;
  Defer([this, id, now, attempt] {
    // FailedPrecondition: the receipt overtook this ack and CollectOutput recorded it.
    if (absl::Status s = compute_->MarkDelegatedRunning(id, now, attempt);
        !s.ok() && !absl::IsFailedPrecondition(s)) {
      spdlog::warn("job {}: cannot mark it running: {}", id, s.ToString());
    }
  });
}

void MeshService::ExecutorFailed(Auction& a, const std::string& why, absl::Time now,
                                 ledger::ReputationEvent penalty) {
  metrics_->executor_failures->Inc();
  spdlog::warn("job {}: {}; re-announcing without that executor", a.job.id, why);
  const std::string executor = a.executor;
  LoseHolder(a);
  if (!executor.empty()) a.excluded.push_back(executor);
  if (!executor.empty() && env_.settlement != nullptr) {
    Defer([settlement = env_.settlement, executor, penalty] {
      settlement->Record(executor, penalty);
    });
  }
  ++a.failures;
  if (a.job.state == job::JobState::kRunning || a.stage == Auction::Stage::kExecuting ||
      a.stage == Auction::Stage::kCollecting) {
    (void)env_.jobs->Requeue(a.job.id, now, why);
    a.job.state = job::JobState::kQueued;
  } else {
    History(a.job.id, "requeued", {{"round", a.round}, {"executor", executor}, {"reason", why}});
  }
  if (!executor.empty()) {
    // Best effort: if it is alive but late, it should stop spending its fuel on this job.
    Peer to;
    to.did = executor;
    to.address = a.executor_address;
    job::CancelJob cancel;
    cancel.job_id = a.job.id;
    cancel.round = a.round;
    cancel.origin = env_.key->did().ToString();
    cancel.reason = why;
    Defer([this, to, cancel] { SendTo(to, cancel, 1, nullptr); });
  }
  if (a.failures > options_.retry.max_rounds) {
    FailDelegated(a, mesh::StrCat("no executor completed the job in ", a.failures,
                                  " attempts; the last: ", why));
    return;
  }
  a.executor.clear();
  a.stage = Auction::Stage::kWaiting;
  a.retry_at = now + sched::Backoff(options_.retry, a.failures, *env_.rng);
  a.waiting_reason = why;
}

void MeshService::WaitForBids(Auction& a, std::string reason, absl::Time now) {
  a.stage = Auction::Stage::kWaiting;
  // Not a failure: the job waits, asking again less and less often (up to RetryPolicy::max),
  // and at once when a peer with a free slot appears.
  const absl::Duration wait =
      std::min(options_.retry.max, options_.no_bid_retry * (int64_t{1} << std::min(a.waits, 4)));
  ++a.waits;
  a.retry_at = now + wait;
  if (reason != a.waiting_reason) {
    env_.events->Publish("job.waiting", a.job.id, now,
                         {{"reason", reason}, {"retry_in_ms", absl::ToInt64Milliseconds(wait)}});
  }
  a.waiting_reason = std::move(reason);
}

void MeshService::FailDelegated(Auction& a, std::string reason) {
  JobRecord job = a.job;
  job.state = job::JobState::kFailed;
  job.reason = std::move(reason);
  job.finished_at = env_.clock->Now();
  auctions_.erase(job.id);  // `a` is gone from here on
  Defer([this, job = std::move(job)] {
    (void)compute_->FinishDelegated(job);
    if (env_.settlement != nullptr) env_.settlement->Close(job.id, job.reason);
  });
}

void MeshService::TickAuctions(absl::Time now) {
  std::vector<std::string> reopen;
  for (auto& [id, a] : auctions_) {
    switch (a->stage) {
      case Auction::Stage::kBidding:
        MaybeClose(*a, now);
        break;
      case Auction::Stage::kWaiting:
        if (now >= a->retry_at) reopen.push_back(id);
        break;
      case Auction::Stage::kAssigning:
      case Auction::Stage::kExecuting:
        if (now >= a->deadline) {
          ExecutorFailed(
              *a,
              mesh::StrCat("executor ", a->executor, " sent no receipt by the deadline (",
                           absl::FormatTime(a->deadline), ")"),
              now, ledger::ReputationEvent::kTimeout);
        }
        break;
      case Auction::Stage::kCollecting:
        break;
    }
  }
  // Failing a job erases it from auctions_, so rounds reopen after the loop. A chunk may have
  // left its wait during the loop (an auction that closed gave it a lease slot): only those
  // still waiting reopen.
  for (const std::string& id : reopen) {
    auto it = auctions_.find(id);
    if (it == auctions_.end() || it->second->stage != Auction::Stage::kWaiting) continue;
    if (it->second->lease.empty()) {
      OpenRound(id);
    } else {
      PlaceChunk(*it->second, now);
    }
  }
}

bool MeshService::Cancel(const std::string& id) {
  JobRecord job;
  {
    absl::MutexLock lock(&mu_);
    auto it = auctions_.find(id);
    if (it == auctions_.end()) return false;
    Auction& a = *it->second;
    if (!a.executor.empty()) {
      Peer to;
      to.did = a.executor;
      to.address = a.executor_address;
      job::CancelJob cancel;
      cancel.job_id = id;
      cancel.round = a.round;
      cancel.origin = env_.key->did().ToString();
      cancel.reason = "cancelled by the submitter";
      Defer([this, to, cancel] { SendTo(to, cancel, 1, nullptr); });
    }
    job = a.job;
    auctions_.erase(it);
  }
  RunDeferred();
  job.state = job::JobState::kCancelled;
  job.reason = "cancelled by request";
  job.finished_at = env_.clock->Now();
  (void)compute_->FinishDelegated(job);
  if (env_.settlement != nullptr) env_.settlement->Close(id, "cancelled");
  return true;
}

absl::StatusOr<std::string> MeshService::OnReceipt(const job::Receipt& receipt,
                                                   const crypto::Envelope& envelope) {
  const absl::Time now = env_.clock->Now();
  absl::MutexLock lock(&mu_);
  auto it = auctions_.find(receipt.job_id);
  if (it == auctions_.end() || it->second->executor != receipt.executor ||
      it->second->round != receipt.round ||
      (it->second->stage != Auction::Stage::kExecuting &&
       it->second->stage != Auction::Stage::kAssigning)) {
    // Finished already, or from an executor (or round) this node no longer waits for.
    metrics_->receipts->WithLabels({"late"})->Inc();
    return std::string();
  }
  Auction& a = *it->second;
  if (receipt.outcome == "error") {
    metrics_->receipts->WithLabels({"executor_error"})->Inc();
    ExecutorFailed(a,
                   mesh::StrCat("executor ", receipt.executor, " could not run the job: ",
                                receipt.report.value("message", std::string("no reason"))),
                   now);
    return std::string();
  }
  if (receipt.fuel_used > a.job.spec.limits.fuel && a.job.spec.limits.fuel > 0) {
    metrics_->receipts->WithLabels({"invalid"})->Inc();
    ExecutorFailed(a,
                   mesh::StrCat("receipt claims ", receipt.fuel_used, " fuel, over the limit ",
                                a.job.spec.limits.fuel),
                   now);
    return std::string();
  }
  // A receipt can overtake the ack of its assignment: it acknowledges it too.
  if (a.stage == Auction::Stage::kAssigning) ++a.job.attempts;
  a.stage = Auction::Stage::kCollecting;
  Post([this, receipt, bytes = envelope.Serialize()] { CollectOutput(receipt, bytes); });
  return std::string();
}

void MeshService::CollectOutput(job::Receipt receipt, std::string receipt_envelope) {
  Peer executor;
  int attempt = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = auctions_.find(receipt.job_id);
    if (it == auctions_.end()) return;
    executor.address = it->second->executor_address;
    attempt = it->second->job.attempts;
  }
  executor.did = receipt.executor;
  const absl::Status fetched = FetchBlob(receipt.output_cid, {executor});
  // The ack's "executing" is recorded off the lock and the receipt may have overtaken it:
  // whichever comes first records it (the other finds the job no longer queued), so the history
  // always reads executing before receipt.
  if (absl::Status s = compute_->MarkDelegatedRunning(
          receipt.job_id, absl::FromUnixMillis(receipt.started_at_ms), attempt);
      !s.ok() && !absl::IsFailedPrecondition(s)) {
    spdlog::warn("job {}: cannot mark it running: {}", receipt.job_id, s.ToString());
  }
  const absl::Time now = env_.clock->Now();
  std::optional<JobRecord> done;
  {
    absl::MutexLock lock(&mu_);
    auto it = auctions_.find(receipt.job_id);
    if (it == auctions_.end() || it->second->stage != Auction::Stage::kCollecting) return;
    Auction& a = *it->second;
    if (!fetched.ok()) {
      metrics_->receipts->WithLabels({"bad_output"})->Inc();
      ExecutorFailed(a,
                     mesh::StrCat("the output of executor ", receipt.executor,
                                  " could not be fetched and checked: ", fetched.message()),
                     now);
      return;
    }
    metrics_->receipts->WithLabels({"accepted"})->Inc();
    // The signed receipt itself goes into the hash-linked history (not a blob of its own: no
    // file and fsyncs on the hot path), so the proof of what the executor claimed stays with the
    // job and can be checked again later.
    History(a.job.id, "receipt",
            {{"round", receipt.round},
             {"executor", receipt.executor},
             {"receipt", cas::Cid::Of(receipt_envelope).ToString()},
             {"envelope", Base64Encode(receipt_envelope)},
             {"output_cid", receipt.output_cid},
             {"fuel_used", receipt.fuel_used}});
    a.results.push_back({receipt, mesh::StrCat(a.job.id, "/", receipt.round), a.price});
    const absl::Time submitted = a.job.submitted_at;
    const std::string lease = a.lease;
    done = Judge(a, now);  // may erase `a`
    if (done.has_value()) {
      metrics_->delegated_seconds->Observe(absl::ToDoubleSeconds(now - submitted));
    }
    // The chunk's slot is free (or it needs another replica): the lease's next chunk goes out.
    if (!lease.empty()) AssignFromLease(lease, now);
  }
  if (done.has_value()) (void)compute_->FinishDelegated(*std::move(done));
}

void MeshService::OnRemoteProgress(const job::Progress& p) {
  absl::Time started;
  {
    absl::MutexLock lock(&mu_);
    auto it = auctions_.find(p.job_id);
    if (it == auctions_.end() || it->second->executor != p.executor) return;
    // The run began about when it was assigned (the deadline is set from that moment).
    started = it->second->deadline -
              absl::Milliseconds(int64_t(it->second->job.spec.limits.wall_time_ms)) -
              options_.receipt_grace;
  }
  const absl::Time now = env_.clock->Now();
  nlohmann::json data = {{"percent", p.fraction * 100},
                         {"message", p.message},
                         {"executor", p.executor},
                         {"state", "running"}};
  if (std::optional<int64_t> eta = EtaMillis(started, now, p.fraction * 100)) data["eta_ms"] = *eta;
  env_.events->Publish("job.progress", p.job_id, now, std::move(data));
}

void MeshService::OnRemoteArtifact(const job::Artifact& m) {
  Peer executor;
  {
    absl::MutexLock lock(&mu_);
    auto it = auctions_.find(m.job_id);
    if (it == auctions_.end() || it->second->executor != m.executor ||
        it->second->round != m.round) {
      return;  // not (or no longer) this executor's run
    }
    executor.did = m.executor;
    executor.address = it->second->executor_address;
  }
  Post([this, m, executor] {
    // Fetched now, while its executor is alive: the point of a checkpoint is to outlive it.
    if (absl::Status s = FetchBlob(m.cid, {executor}); !s.ok()) {
      spdlog::warn("job {}: cannot fetch {} {} from {}: {}", m.job_id, m.kind, m.index, m.executor,
                   s.ToString());
      return;
    }
    nlohmann::json detail = {{"index", m.index}, {"cid", m.cid},           {"bytes", m.bytes},
                             {"fuel", m.fuel},   {"executor", m.executor}, {"round", m.round}};
    {
      absl::MutexLock lock(&mu_);
      auto it = auctions_.find(m.job_id);
      if (it == auctions_.end()) return;
      if (m.kind == "checkpoint") it->second->checkpoint = m.cid;
      History(m.job_id, m.kind, detail);
    }
    env_.events->Publish(mesh::StrCat("job.", m.kind), m.job_id, env_.clock->Now(),
                         std::move(detail));
  });
}

}  // namespace mesh::node
