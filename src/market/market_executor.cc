// Market, the executor's side: answer announcements with bids or declines (and relay them),
// take or refuse assignments against the slots and queue, have their blobs fetched and the job
// run here, and deliver progress, artifacts and the receipt (retried with backoff).
#include <algorithm>

#include "market_state.h"
#include "mesh/common/strings.h"

namespace mesh::market {

uint32_t Market::State::Starting() const {
  uint32_t n = 0;
  for (const auto& [id, run] : runs) n += run.starting ? 1 : 0;
  return n;
}

void Market::State::OnAnnounce(const job::Announce& an, const Received& r) {
  if (an.origin == options.self) return;  // our own, come back through a relay
  const bool direct = r.from == an.origin;
  const std::string key = mesh::StrCat(an.job_id, "/", an.round);
  if (auto it = answers.find(key); it != answers.end()) {
    // Seen before (through a relay, or the origin asked twice): the origin gets the same
    // answer; anyone else gets nothing.
    if (direct) Emit(Send{r.from, an.origin_address, it->second, {}, 1, true, 0});
    return;
  }
  if (r.ttl > 1) Relay(an, r);

  // Assignments taken whose blobs are still being fetched are as good as queued (counted in
  // for the decision only: a copy of the capacity cost its strings and lists per announcement).
  const uint32_t queued = capacity.queued;
  capacity.queued += Starting();
  std::variant<job::Bid, job::Decline> decision =
      sched::DecideBid(an, capacity, options.pricing, now);
  capacity.queued = queued;
  if (auto refused = refused_modules.find(an.module_cid); refused != refused_modules.end()) {
    // The node died with this module running too often: no bid, whatever it would pay.
    job::Decline decline;
    decline.job_id = an.job_id;
    decline.round = an.round;
    decline.executor = options.self;
    decline.code = std::string(kModuleRefusedCode);
    decline.message = refused->second;
    decision = std::move(decline);
  }
  job::Message reply;
  if (auto* bid = std::get_if<job::Bid>(&decision)) {
    Bump(Counter::kBidsSent);
    reply = std::move(*bid);
  } else {
    auto& decline = std::get<job::Decline>(decision);
    Bump(Counter::kDeclinesSent, decline.code);
    reply = std::move(decline);
  }
  answers.emplace(key, reply);
  answer_order.emplace_back(now, key);
  // Copies of an announcement arrive within seconds of each other: an answer is kept for
  // answers_ttl, and at most answers_kept of them.
  while (!answer_order.empty() && (answer_order.size() > options.answers_kept ||
                                   now - answer_order.front().first > options.answers_ttl)) {
    answers.erase(answer_order.front().second);
    answer_order.pop_front();
  }
  if (direct) {
    Emit(Send{r.from, an.origin_address, std::move(reply), {}, 1, true, 0});
    return;
  }
  // Relayed. A bid goes straight to the origin, unless the origin is our peer too and will
  // ask us itself (then it gets the same answer, and no bid arrives twice).
  const PeerView* origin = FindPeer(an.origin);
  if (std::holds_alternative<job::Bid>(reply) && (origin == nullptr || !origin->alive)) {
    Emit(Send{an.origin, an.origin_address, std::move(reply), {}, 1, false, 0});
  }
}

void Market::State::Relay(const job::Announce& an, const Received& r) {
  // Peers the origin reaches itself (its heartbeats list them) get the announcement from it.
  const PeerView* origin = FindPeer(an.origin);
  auto origin_knows = [&](const std::string& did) {
    return origin != nullptr &&
           std::find(origin->peers.begin(), origin->peers.end(), did) != origin->peers.end();
  };
  for (const PeerView* p : AlivePeers()) {
    if (p->did == an.origin || p->did == r.from || origin_knows(p->did)) continue;
    Emit(Send{p->did, p->address, std::nullopt, r.envelope, r.ttl - 1, false, 0});
  }
}

void Market::State::OnAssignment(const job::Assignment& as, const Received& r) {
  auto ack = [&](bool accepted, std::string reason) {
    job::AssignmentAck a;
    a.job_id = as.job_id;
    a.round = as.round;
    a.executor = options.self;
    a.accepted = accepted;
    a.reason = std::move(reason);
    Emit(Send{r.from, as.origin_address, std::move(a), {}, 1, true, 0});
  };
  if (as.executor != options.self) return ack(false, "the assignment names another executor");
  absl::StatusOr<job::SignedJobSpec> spec = trust != nullptr
                                                ? trust->OpenSpec(as.spec_envelope, as.job_id)
                                                : job::OpenJobSpec(as.spec_envelope);
  if (!spec.ok()) {
    return ack(false, mesh::StrCat("the job spec does not verify: ", spec.status().message()));
  }
  if (spec->id.ToString() != as.job_id) {
    return ack(false,
               mesh::StrCat("the job spec's id is ", spec->id.ToString(), ", not ", as.job_id));
  }
  if (capacity.draining) return ack(false, "this node is shutting down");
  if (auto refused = refused_modules.find(spec->spec.module); refused != refused_modules.end()) {
    return ack(false, refused->second);
  }
  if (auto done = delivered.find(as.job_id); done != delivered.end() && !runs.contains(as.job_id)) {
    // Run here and reported before: it is not run again (below: its receipt goes again).
    runs[as.job_id] =
        Run{as.origin, as.origin_address, as.round, r.envelope_cid, false, done->second};
  }
  if (auto it = runs.find(as.job_id); it != runs.end()) {
    // Assigned again (a new round, or the ack was lost): the job is here already.
    Run& run = it->second;
    run.origin = as.origin;
    run.origin_address = as.origin_address;
    run.round = as.round;
    run.assignment_cid = r.envelope_cid;
    PersistFor(as.job_id).market =
        MarketState{job::JobRole::kAssigned, as.origin, as.origin_address, as.round};
    if (run.receipt.has_value()) {
      job::Receipt receipt = *run.receipt;
      receipt.round = as.round;
      receipt.assignment_cid = r.envelope_cid;
      QueueReceipt(std::move(receipt), as.origin, as.origin_address);
    }
    return ack(true, "");
  }
  // A bid is not a reservation: several auctions that closed together may all pick this node.
  // Beyond its slots and queue it refuses, and the submitter goes to its next candidate.
  const uint32_t slots = std::max<uint32_t>(1, capacity.max_concurrent);
  const uint32_t waiting = capacity.queued + Starting();
  if (capacity.running + waiting >= slots + options.pricing.max_queue) {
    return ack(false, mesh::StrCat(kNoCapacityRefusal, ": ", capacity.running, " of ", slots,
                                   " slots busy and ", waiting, " jobs queued (max_queue ",
                                   options.pricing.max_queue, ")"));
  }
  runs[as.job_id] = Run{as.origin, as.origin_address, as.round, r.envelope_cid, true, {}};
  Bump(Counter::kAssignments);
  std::vector<std::string> needed = spec->spec.inputs;
  needed.insert(needed.begin(), spec->spec.module);
  // A mounted tree's manifest; the shell fetches the files a fetched manifest names with it.
  for (const job::JobMount& mount : spec->spec.mounts) needed.push_back(mount.cid);
  if (!as.resume_checkpoint.empty()) needed.push_back(as.resume_checkpoint);
  std::vector<FetchSource> sources = {{as.origin, as.origin_address}};
  for (const PeerView* p : AlivePeers()) {
    if (p->did != as.origin) sources.push_back({p->did, p->address});
  }
  const uint64_t token = Token();
  fetches[token] = {FetchContext::Kind::kAssignmentBlobs, as.job_id, as.round, as, {}};
  Emit(Fetch{token, as.job_id, std::move(needed), std::move(sources)});
  ack(true, "");
}

void Market::State::OnAssignmentBlobs(const FetchContext& c, const absl::Status& fetched) {
  auto it = runs.find(c.job_id);
  if (it == runs.end() || !it->second.starting) return;  // cancelled meanwhile
  Run& run = it->second;
  run.starting = false;
  if (!fetched.ok()) {
    LocalRunEnd end;
    end.job_id = c.job_id;
    end.origin = run.origin;
    end.origin_address = run.origin_address;
    end.round = run.round;
    end.error = true;
    end.message = std::string(fetched.message());
    Warn(mesh::StrCat("job ", c.job_id, " assigned by ", run.origin,
                      ": cannot run it: ", fetched.ToString()));
    OnLocalEnded(end);
    return;
  }
  // The latest assignment (a new round may have come while the blobs were fetched).
  job::Assignment as = c.assignment;
  as.round = run.round;
  as.origin = run.origin;
  as.origin_address = run.origin_address;
  Emit(RunHere{std::move(as), run.assignment_cid});
}

void Market::State::OnCancelJob(const job::CancelJob& c) {
  auto it = runs.find(c.job_id);
  if (it != runs.end()) {
    if (it->second.origin != c.origin || it->second.receipt.has_value()) return;
    if (it->second.starting) {
      runs.erase(it);  // its blobs are still coming: it never runs
      return;
    }
  }
  // Unknown here (this node restarted since): the shell checks the stored job is an assigned
  // one of that origin and still running before it stops it.
  Emit(Log{Log::Level::kInfo, mesh::StrCat("job ", c.job_id, ": cancelled by its submitter ",
                                           c.origin, ": ", c.reason)});
  Emit(CancelRun{c.job_id, c.origin, c.reason});
}

void Market::State::OnLocalProgress(const LocalProgress& p) {
  job::Progress progress;
  progress.job_id = p.job_id;
  progress.round = p.round;
  progress.executor = options.self;
  progress.fraction = std::clamp(p.percent / 100.0, 0.0, 1.0);
  progress.message = p.message;
  Emit(Send{p.origin, p.origin_address, std::move(progress), {}, 1, false, 0});
}

void Market::State::OnLocalArtifact(const LocalArtifact& l) {
  job::Artifact a;
  a.job_id = l.job_id;
  a.round = l.round;
  a.executor = options.self;
  a.kind = l.kind;
  a.index = l.index;
  a.cid = l.cid;
  a.bytes = l.bytes;
  a.fuel = l.fuel;
  Emit(Send{l.origin, l.origin_address, std::move(a), {}, 1, false, 0});
}

void Market::State::OnLocalEnded(const LocalRunEnd& run) {
  auto it = runs.find(run.job_id);
  job::Receipt r;
  r.job_id = run.job_id;
  r.round = run.round;
  r.executor = options.self;
  if (it != runs.end()) r.assignment_cid = it->second.assignment_cid;
  if (run.error) {
    // This node could not run the job at all.
    r.outcome = "error";
    r.report = {{"message", run.message}};
  } else {
    r.outcome = !run.outcome.empty()                     ? run.outcome
                : run.state == job::JobState::kCancelled ? "cancelled"
                                                         : "error";
    r.exit_code = run.exit_code;
    r.output_cid = run.output_cid;
    r.output_bytes = run.output_bytes;
    r.files_cid = run.files_cid;
    r.fuel_used = run.fuel_used;
    r.report = nlohmann::json::parse(run.report_json, nullptr, false);
    if (r.report.is_discarded() || !r.report.is_object()) r.report = nlohmann::json::object();
    if (!run.reason.empty()) r.report["message"] = run.reason;
    r.started_at_ms = absl::ToUnixMillis(run.started_at);
    r.finished_at_ms = absl::ToUnixMillis(run.finished_at);
  }
  if (it != runs.end()) {
    it->second.starting = false;
    it->second.receipt = r;
  }
  QueueReceipt(std::move(r), run.origin, run.origin_address);
}

void Market::State::QueueReceipt(job::Receipt receipt, const std::string& origin,
                                 const std::string& address) {
  PendingReceipt& p = receipts[receipt.job_id];
  p = PendingReceipt{std::move(receipt), origin, address, now, 0, 0};
  SendReceipts();
}

void Market::State::SendReceipts() {
  std::vector<std::string> due;
  for (const auto& [id, p] : receipts) {
    if (p.in_flight == 0 && now >= p.next_try) due.push_back(id);
  }
  std::sort(due.begin(), due.end());
  for (const std::string& id : due) {
    PendingReceipt& p = receipts[id];
    p.in_flight = Token();
    ++p.tries;
    sends[p.in_flight] = {SendContext::Kind::kReceipt, id, p.receipt.round, p.origin};
    Emit(Send{p.origin, p.address, p.receipt, {}, 1, false, p.in_flight});
  }
}

void Market::State::OnReceiptSent(const SendContext& c, const SendResult& r) {
  auto it = receipts.find(c.job_id);
  if (it == receipts.end() || it->second.in_flight != r.token) return;  // replaced meanwhile
  PendingReceipt& p = it->second;
  p.in_flight = 0;
  if (r.status.ok()) {
    // Delivered: the run is over here; its receipt is remembered for a while (not an error's:
    // the job did not run, and may run if assigned again).
    if (p.receipt.outcome != "error" && delivered.insert_or_assign(c.job_id, p.receipt).second) {
      delivered_order.push_back(c.job_id);
      if (delivered_order.size() > options.answers_kept) {
        delivered.erase(delivered_order.front());
        delivered_order.pop_front();
      }
    }
    receipts.erase(it);
    runs.erase(c.job_id);
    return;
  }
  if (p.tries >= options.receipt_tries) {
    Warn(mesh::StrCat("job ", c.job_id,
                      ": giving up delivering its receipt: ", r.status.ToString()));
    receipts.erase(it);
    return;
  }
  // Retried with backoff: 200 ms, doubling, at most 10 s.
  p.next_try = now + sched::Backoff(absl::Milliseconds(200), absl::Seconds(10), p.tries - 1);
}

}  // namespace mesh::market
