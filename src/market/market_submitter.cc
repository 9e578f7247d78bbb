// Market, the submitter's side: announce, collect bids, select, assign, take the receipt, have
// its output fetched and checked, and recover from executors that fail.
#include <algorithm>
#include <cstdlib>

#include "market_state.h"
#include "mesh/common/base64.h"
#include "mesh/common/strings.h"

namespace mesh::market {
namespace {

verify::Verification VerificationOf(const job::JobSpec& spec) {
  absl::StatusOr<verify::Verification> v = verify::ParseVerification(spec.verification);
  // The spec parser refused anything else; a spec built in code with a typo gets the default.
  return v.ok() ? *v : verify::Verification{verify::Mode::kHash, 1};
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

void Market::State::Take(Ticket ticket) {
  auto a = std::make_unique<Auction>();
  // A resumed job continues after the round it had reached, so its old executor's late
  // messages are recognisable.
  a->round = ticket.round;
  a->opened = !ticket.peer.empty();
  a->attempts = ticket.attempts;
  a->stage = Auction::Stage::kWaiting;
  a->retry_at = now;
  a->verification = VerificationOf(ticket.spec);
  a->replicas = a->verification.mode == verify::Mode::kReplicate ? a->verification.replicas : 1;
  if (auto label = ticket.spec.labels.find(std::string(kSplitJobLabel));
      label != ticket.spec.labels.end()) {
    a->lease = label->second;
    a->split_chunk = true;
    auto chunk = ticket.spec.labels.find(std::string(kSplitChunkLabel));
    if (chunk != ticket.spec.labels.end()) {
      a->chunk = static_cast<uint32_t>(std::strtoul(chunk->second.c_str(), nullptr, 10));
    }
    a->lease_order = a->chunk;
  } else if (options.lease_ttl > absl::ZeroDuration() &&
             (a->verification.mode == verify::Mode::kNone ||
              a->verification.mode == verify::Mode::kHash)) {
    // Not for jobs whose results are checked by replicas: drawn from one auction's few
    // bidders for a while, their replicas would share liars more often (meshsim's liars
    // scenario: twice the jobs failed for replicas that disagreed).
    SweepLeases();
    const uint64_t max_price =
        trust != nullptr ? static_cast<uint64_t>(trust->MaxPrice(ticket.spec)) : 0;
    a->lease = LeaseKeyOf(ticket, max_price);
    a->lease_order = arrivals++;
  }
  if (ticket.was_running) {
    // Resumed after a restart while an executor ran it: we no longer know whether that run
    // will report, so the job goes back to the market (a late receipt is ignored).
    PersistFor(ticket.id).requeue = "the submitter restarted while the job ran";
  }
  a->ticket = std::move(ticket);
  Auction& ref = *a;
  auctions[ref.ticket.id] = std::move(a);
  if (ref.lease.empty()) {
    OpenRound(ref);
  } else {
    PlaceOnLease(ref);
  }
}

job::Announce Market::State::AnnounceOf(const Auction& a) const {
  const job::JobSpec& spec = a.ticket.spec;
  job::Announce an;
  an.job_id = a.ticket.id;
  an.origin = options.self;
  an.origin_address = options.address;
  an.round = a.round;
  an.module_cid = spec.module;
  an.module_bytes = a.ticket.module_bytes;
  an.input_bytes = a.ticket.input_bytes;
  an.fuel = spec.limits.fuel;
  an.memory_bytes = spec.limits.memory_bytes;
  an.wall_time_ms = spec.limits.wall_time_ms;
  an.requirements = spec.requirements;
  // The escrow holds this much per replica: no bid above it can be paid.
  if (trust != nullptr) an.requirements.max_price = static_cast<uint64_t>(trust->MaxPrice(spec));
  an.exclude = a.excluded;
  return an;
}

absl::Duration Market::State::BidWindow(const std::vector<const PeerView*>& asked) const {
  // A bid cannot come back sooner than a round trip: a window shorter than the slowest asked
  // peer's round trip (plus half of it for its decision and jitter) would close every round
  // of a far-away submitter empty, and its jobs would wait for ever. Bounded by kMaxBidWindow.
  absl::Duration slowest = absl::ZeroDuration();
  for (const PeerView* p : asked) {
    if (p->rtt.has_value()) slowest = std::max(slowest, *p->rtt);
  }
  return std::clamp(slowest * 3 / 2, options.bid_window,
                    std::max(options.bid_window, kMaxBidWindow));
}

void Market::State::OpenRound(Auction& a) {
  if (a.opened) ++a.round;
  a.opened = true;
  a.on_lease_slot = false;
  a.from_lease = false;
  a.bids.clear();
  a.declines.clear();
  a.unanswered.clear();
  a.selection.reset();
  a.next = 0;
  a.executor.clear();

  job::Announce& an = a.announce;
  an = AnnounceOf(a);

  std::vector<const PeerView*> asked;
  const std::vector<const PeerView*> alive = AlivePeers();
  for (const PeerView* p : alive) {
    if (p->draining || Contains(a.excluded, p->did)) continue;
    asked.push_back(p);
  }
  a.asked = asked.size();
  const absl::Duration window = BidWindow(asked);
  an.bid_deadline_ms = absl::ToUnixMillis(now + window);
  if (asked.empty()) {
    const bool excluded_all = std::any_of(alive.begin(), alive.end(), [&](const PeerView* p) {
      return !p->draining && Contains(a.excluded, p->did);
    });
    // Every live peer failed, refused or already ran this job: a round lost, like a failure, so
    // the job ends (after RetryPolicy::max_rounds) unless a new peer turns up meanwhile.
    if (excluded_all && ++a.failures > options.retry.max_rounds) {
      FailDelegated(a, mesh::StrCat("every live peer failed, refused or already ran the job (",
                                    a.excluded.size(), " excluded) in ", a.failures,
                                    " rounds; more peers are needed"));
      return;
    }
    WaitForBids(a,
                alive.empty() ? "no live peers to ask" : "every live peer is draining or excluded");
    return;
  }
  a.stage = Auction::Stage::kBidding;
  a.deadline = now + window;
  Bump(Counter::kAnnounced);
  if (a.waits == 0) {
    nlohmann::json dids = nlohmann::json::array();
    for (const PeerView* p : asked) dids.push_back(p->did);
    History(a.ticket.id, "bidding_open",
            {{"round", a.round}, {"asked", dids}, {"deadline_ms", an.bid_deadline_ms}});
  }
  // A job whose earlier rounds found no bid asks more widely: each such round relays the
  // announcement one hop further (at most kMaxWidening more than announce_ttl).
  const int ttl = options.announce_ttl + std::min(a.waits, kMaxWidening);
  // Whether the relays reach executors we do not reach ourselves (a partial view: the peers'
  // heartbeats list peers that are not live peers of ours; a relay skips the ones we list). In
  // a full mesh they do not, and a round closes as soon as every peer answered.
  a.relayed = false;
  for (size_t i = 0; ttl > 1 && i < asked.size() && !a.relayed; ++i) {
    for (const std::string& q : asked[i]->peers) {
      const PeerView* known = FindPeer(q);
      if (q != options.self && (known == nullptr || !known->alive) && !Contains(a.excluded, q)) {
        a.relayed = true;
        break;
      }
    }
  }
  for (const PeerView* p : asked) {
    const uint64_t token = Token();
    sends[token] = {SendContext::Kind::kAnnounce, a.ticket.id, a.round, p->did};
    Emit(Send{p->did, p->address, an, {}, ttl, false, token});
  }
  // The widest round found no bid either: what the job needs (a capability, a federation,
  // capacity) is not near us. From now on each round also asks a fresh random sample of the
  // nodes known beyond the neighbourhood, which relay it into theirs and answer like peers.
  if (a.waits <= kMaxWidening) return;
  const std::vector<KnownNode> beyond = SampleBeyond(a);
  if (beyond.empty()) return;
  a.relayed = true;
  const int beyond_ttl = options.announce_ttl + 1;
  if (!a.asked_beyond) {
    a.asked_beyond = true;
    nlohmann::json dids = nlohmann::json::array();
    for (const KnownNode& k : beyond) dids.push_back(k.did);
    History(a.ticket.id, "asked_beyond",
            {{"round", a.round},
             {"asked", dids},
             {"ttl", beyond_ttl},
             {"why", mesh::StrCat("no bid in ", a.waits,
                                  " rounds from the neighbourhood, the widest relaying ",
                                  options.announce_ttl + kMaxWidening, " hops")}});
  }
  for (const KnownNode& k : beyond) {
    const uint64_t token = Token();
    sends[token] = {SendContext::Kind::kAnnounce, a.ticket.id, a.round, k.did};
    Bump(Counter::kAskedBeyond);
    Emit(Send{k.did, k.address, an, {}, beyond_ttl, false, token});
  }
}

std::vector<KnownNode> Market::State::SampleBeyond(const Auction& a) const {
  if (directory == nullptr || options.beyond_fanout == 0) return {};
  std::vector<KnownNode> known = directory->Beyond();
  std::erase_if(known, [&](const KnownNode& k) {
    const PeerView* p = FindPeer(k.did);
    return k.did.empty() || k.address.empty() || k.did == options.self ||
           (p != nullptr && p->alive) || Contains(a.excluded, k.did);
  });
  // The first beyond_fanout of a partial Fisher-Yates shuffle: a uniform draw.
  const size_t n = std::min(known.size(), options.beyond_fanout);
  for (size_t i = 0; rng != nullptr && i < n; ++i) {
    std::swap(known[i], known[i + rng->Next64() % (known.size() - i)]);
  }
  known.resize(n);
  return known;
}

void Market::State::OnBidReply(Auction& a, const std::string& asked, SendResult& r) {
  if (a.stage != Auction::Stage::kBidding) return;  // a late answer
  if (!r.status.ok()) {
    a.unanswered.push_back({asked, std::string(r.status.message())});
  } else if (!r.reply.has_value()) {
    // The peer had the announcement already (it came through a relay) and bids by its own
    // message, or it had nothing to say.
    a.unanswered.push_back({asked, "no reply"});
  } else if (const auto* bid = std::get_if<job::Bid>(&*r.reply)) {
    AddBid(a, *bid, r.reply_envelope_cid);
  } else if (const auto* decline = std::get_if<job::Decline>(&*r.reply)) {
    Bump(Counter::kDeclines, decline->code);
    a.declines.push_back({decline->executor, decline->code, decline->message});
  } else {
    a.unanswered.push_back({asked, "answered with neither bid nor decline"});
  }
  MaybeClose(a);
}

void Market::State::AddBid(Auction& a, const job::Bid& bid, const std::string& bid_cid) {
  for (const sched::BidView& b : a.bids) {
    if (b.bid.executor == bid.executor) return;  // one bid per executor and round
  }
  Bump(Counter::kBids);
  sched::BidView view;
  view.bid = bid;
  view.bid_cid = bid_cid;
  if (const PeerView* p = FindPeer(bid.executor); p != nullptr) {
    view.rtt = p->rtt;
    view.known_peer = true;
  }
  if (trust != nullptr) {
    const ExecutorStanding standing = trust->Standing(bid.executor);
    if (!standing.is_new) view.reputation = standing.score;
  }
  if (auto it = speed_trust.find(bid.executor); it != speed_trust.end()) {
    view.speed_trust = it->second;
  }
  a.bids.push_back(std::move(view));
}

void Market::State::SetAssignedLoad(Auction& a) {
  absl::flat_hash_map<std::string, int> assigned;
  for (const auto& [id, other] : auctions) {
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
    if (const PeerView* p = FindPeer(view.bid.executor); p != nullptr) {
      slots = std::max<uint32_t>(p->max_concurrent, 1);
    }
    view.assigned_load = static_cast<double>(it->second) / slots;
  }
}

void Market::State::MaybeClose(Auction& a) {
  if (a.stage != Auction::Stage::kBidding) return;
  const size_t declined = a.declines.size() + a.unanswered.size();
  // Relayed executors bid straight to us and never decline: when the announcement went beyond
  // our own peers, the round waits for enough bids or its window, not for the direct answers.
  const size_t awaited = a.relayed ? 0 : a.asked;
  if (!sched::ShouldClose({a.deadline, awaited, options.enough_bids}, a.bids.size(), declined,
                          now)) {
    return;
  }
  SetAssignedLoad(a);
  a.selection = sched::Select(a.announce, a.bids, options.selection, now);
  const bool won = a.selection->has_winner();
  Bump(Counter::kClosed, won ? "winner" : "no_winner");
  nlohmann::json detail;
  if (options.history_details) {
    nlohmann::json declines = nlohmann::json::array();
    for (const DeclineSeen& d : a.declines) {
      declines.push_back({{"executor", d.executor}, {"code", d.code}, {"message", d.message}});
    }
    nlohmann::json unanswered = nlohmann::json::array();
    for (const Unanswered& u : a.unanswered) {
      unanswered.push_back({{"executor", u.executor}, {"error", u.error}});
    }
    detail = {{"round", a.round},
              {"selection", sched::ToJson(*a.selection)},
              {"declines", declines},
              {"unanswered", unanswered},
              {"asked", a.asked}};
  }
  if (!won) {
    // No round number in it: a job that keeps waiting for the same reason records it once (the
    // block's detail has the round).
    std::string why = mesh::StrCat("no usable bid: ", a.bids.size(), " bid(s), ", a.declines.size(),
                                   " decline(s), ", a.unanswered.size(), " without answer");
    for (const DeclineSeen& d : a.declines) {
      why += mesh::StrCat("; ", Short(d.executor), " declined (", d.code, ": ", d.message, ")");
    }
    for (const sched::Rejection& r : a.selection->rejected) {
      why += mesh::StrCat("; ", Short(r.executor), " filtered (", r.code, ": ", r.message, ")");
    }
    if (options.history_details) detail["outcome"] = why;
    if (a.waits == 0 || why != a.waiting_reason) History(a.ticket.id, "bidding_closed", detail);
    WaitForBids(a, why);
    return;
  }
  if (options.history_details) detail["outcome"] = a.selection->summary;
  History(a.ticket.id, "bidding_closed", std::move(detail));
  a.waits = 0;
  if (a.lease.empty()) {
    AssignNext(a);
    return;
  }
  // Every ranked bidder holds the lease (its split job's, or that of the jobs like it), and the
  // jobs waiting for it go out at once.
  const std::string lease = a.lease;
  WinLease(a);
  AssignNext(a);
  AssignFromLease(lease);
}

void Market::State::AssignNext(Auction& a) {
  const std::vector<sched::ScoredBid>& ranked = a.selection->ranked;
  while (a.next < ranked.size() && Contains(a.excluded, ranked[a.next].executor)) ++a.next;
  if (a.next >= ranked.size()) {
    // Every bidder of this round refused or failed: a new round, after a pause.
    a.stage = Auction::Stage::kWaiting;
    a.retry_at = now + sched::Backoff(options.retry, a.failures, *rng);
    a.waiting_reason = "every bidder of the last round refused or failed the assignment";
    return;
  }
  const sched::ScoredBid& pick = ranked[a.next];
  a.stage = Auction::Stage::kAssigning;
  a.on_lease_slot = false;
  a.executor = pick.executor;
  a.executor_address = pick.executor_address;
  a.price = pick.price;
  a.assigned_at = now;
  a.promised_finish_ms = pick.expected_finish_ms;
  a.promised_run_ms = std::max<int64_t>(0, pick.expected_finish_ms - pick.expected_start_ms);
  a.deadline =
      now + absl::Milliseconds(int64_t(a.ticket.spec.limits.wall_time_ms)) + options.receipt_grace;

  job::Assignment as;
  as.job_id = a.ticket.id;
  as.round = a.round;
  as.origin = options.self;
  as.origin_address = options.address;
  as.executor = pick.executor;
  as.bid_cid = pick.bid_cid;
  as.spec_envelope = a.ticket.envelope;
  as.deadline_ms = absl::ToUnixMillis(a.deadline);
  as.resume_checkpoint = a.ticket.checkpoint;
  a.ticket.peer = pick.executor;
  PersistFor(a.ticket.id).market =
      MarketState{job::JobRole::kDelegated, pick.executor, pick.executor_address, a.round};
  nlohmann::json assigned = {{"round", a.round},
                             {"executor", pick.executor},
                             {"address", pick.executor_address},
                             {"price", pick.price},
                             {"score", pick.score},
                             {"bid", pick.bid_cid},
                             {"deadline_ms", as.deadline_ms},
                             {"resume_checkpoint", a.ticket.checkpoint}};
  if (a.from_lease) assigned["lease"] = pick.reason;  // why no auction of its own
  History(a.ticket.id, "assigned", std::move(assigned));
  const uint64_t token = Token();
  sends[token] = {SendContext::Kind::kAssignment, a.ticket.id, a.round, pick.executor};
  Emit(Send{pick.executor, pick.executor_address, std::move(as), {}, 1, false, token});
}

void Market::State::OnAck(Auction& a, const std::string& executor, SendResult& r) {
  if (a.stage != Auction::Stage::kAssigning || a.executor != executor) return;
  const auto* ack =
      r.status.ok() && r.reply.has_value() ? std::get_if<job::AssignmentAck>(&*r.reply) : nullptr;
  const std::string& id = a.ticket.id;
  if (ack == nullptr || !ack->accepted || ack->job_id != id) {
    const std::string why = !r.status.ok()         ? std::string(r.status.message())
                            : !r.reply.has_value() ? "no reply"
                            : ack == nullptr
                                ? "it answered the assignment with something else than an ack"
                            : !ack->accepted ? mesh::StrCat("it refused: ", ack->reason)
                                             : "its ack names another job";
    History(id, "requeued", {{"round", a.round}, {"executor", executor}, {"reason", why}});
    // A full executor may take the job in a later round; one that refused for any other reason
    // (or did not answer) is not asked again for this job.
    const bool full =
        ack != nullptr && !ack->accepted && ack->reason.rfind(kNoCapacityRefusal, 0) == 0;
    if (!full) a.excluded.push_back(executor);
    ++a.next;
    AssignNext(a);
    return;
  }
  a.stage = Auction::Stage::kExecuting;
  a.running = true;
  Emit(MarkRunning{id, now, ++a.attempts});
}

void Market::State::SendCancel(const Auction& a, const std::string& reason) {
  job::CancelJob cancel;
  cancel.job_id = a.ticket.id;
  cancel.round = a.round;
  cancel.origin = options.self;
  cancel.reason = reason;
  Emit(Send{a.executor, a.executor_address, std::move(cancel), {}, 1, false, 0});
}

void Market::State::ExecutorFailed(Auction& a, const std::string& why, Standing penalty) {
  Bump(Counter::kExecutorFailures);
  Warn(mesh::StrCat("job ", a.ticket.id, ": ", why, "; re-announcing without that executor"));
  const std::string executor = a.executor;
  LoseHolder(a.lease, executor);
  if (!executor.empty()) {
    a.excluded.push_back(executor);
    if (trust != nullptr) Emit(RecordStanding{executor, penalty});
  }
  ++a.failures;
  if (a.running || a.stage == Auction::Stage::kExecuting ||
      a.stage == Auction::Stage::kCollecting) {
    PersistFor(a.ticket.id).requeue = why;
    a.running = false;
  } else {
    History(a.ticket.id, "requeued", {{"round", a.round}, {"executor", executor}, {"reason", why}});
  }
  // Best effort: if it is alive but late, it should stop spending its fuel on this job.
  if (!executor.empty()) SendCancel(a, why);
  a.collecting.reset();
  if (a.failures > options.retry.max_rounds) {
    FailDelegated(a, mesh::StrCat("no executor completed the job in ", a.failures,
                                  " attempts; the last: ", why));
    return;
  }
  a.executor.clear();
  a.stage = Auction::Stage::kWaiting;
  a.retry_at = now + sched::Backoff(options.retry, a.failures, *rng);
  a.waiting_reason = why;
  // Its slot on the lease is free for the jobs waiting there.
  if (!a.lease.empty()) AssignFromLease(a.lease);
}

void Market::State::WaitForBids(Auction& a, std::string reason) {
  a.stage = Auction::Stage::kWaiting;
  // Not a failure: the job waits, asking again less and less often (up to RetryPolicy::max),
  // and at once when a peer with a free slot appears.
  const absl::Duration wait = sched::Backoff(
      options.no_bid_retry, std::min(options.retry.max, options.no_bid_retry * 16), a.waits);
  ++a.waits;
  a.retry_at = now + wait;
  if (reason != a.waiting_reason) {
    Emit(Publish{"job.waiting",
                 a.ticket.id,
                 {{"reason", reason}, {"retry_in_ms", absl::ToInt64Milliseconds(wait)}}});
  }
  a.waiting_reason = std::move(reason);
}

void Market::State::FailDelegated(Auction& a, std::string reason) {
  std::string why = reason;
  EndUnpaid(a, job::JobState::kFailed, std::move(reason), std::move(why));
}

void Market::State::EndUnpaid(Auction& a, job::JobState state, std::string reason,
                              std::string refund_why) {
  JobResult result;
  result.job_id = a.ticket.id;
  result.state = state;
  result.reason = std::move(reason);
  result.peer = a.ticket.peer;
  result.round = a.round;
  result.attempts = a.attempts;
  result.finished_at = now;
  const std::string lease = a.lease;
  Emit(Finish{result});
  Emit(Refund{result.job_id, std::move(refund_why)});
  auctions.erase(result.job_id);  // `a` is gone from here on
  if (!lease.empty()) AssignFromLease(lease);
}

void Market::State::TickAuctions() {
  std::vector<std::string> reopen;
  std::vector<std::string> late;
  for (auto& [id, a] : auctions) {
    switch (a->stage) {
      case Auction::Stage::kBidding:
        if (now >= a->deadline) reopen.push_back(id);  // closes below
        break;
      case Auction::Stage::kWaiting:
        if (now >= a->retry_at && !a->on_lease_slot) reopen.push_back(id);
        break;
      case Auction::Stage::kAssigning:
      case Auction::Stage::kExecuting:
        if (now >= a->deadline) late.push_back(id);
        break;
      case Auction::Stage::kCollecting:
        break;
    }
  }
  // In id order, so that what the core does never depends on the hash map's order. Failing a
  // job erases it, so each is looked up again.
  std::sort(reopen.begin(), reopen.end());
  std::sort(late.begin(), late.end());
  for (const std::string& id : late) {
    auto it = auctions.find(id);
    if (it == auctions.end()) continue;
    Auction& a = *it->second;
    if ((a.stage != Auction::Stage::kAssigning && a.stage != Auction::Stage::kExecuting) ||
        now < a.deadline) {
      continue;
    }
    ExecutorFailed(a,
                   mesh::StrCat("executor ", a.executor, " sent no receipt by the deadline (",
                                FormatUtc(a.deadline), ")"),
                   Standing::kTimeout);
  }
  // A job may have left its wait meanwhile (an auction that closed gave it a lease slot):
  // only those still due go on.
  for (const std::string& id : reopen) {
    auto it = auctions.find(id);
    if (it == auctions.end()) continue;
    Auction& a = *it->second;
    if (a.stage == Auction::Stage::kBidding) {
      MaybeClose(a);
    } else if (a.stage == Auction::Stage::kWaiting && now >= a.retry_at && !a.on_lease_slot) {
      if (a.lease.empty()) {
        OpenRound(a);
      } else {
        PlaceOnLease(a);
      }
    }
  }
}

void Market::State::Cancel(const JobCancelled& c) {
  auto it = auctions.find(c.job_id);
  if (it == auctions.end()) return;
  Auction& a = *it->second;
  if (!a.executor.empty()) SendCancel(a, "cancelled by the submitter");
  EndUnpaid(a, job::JobState::kCancelled, c.reason, "cancelled");
}

void Market::State::OnReceipt(const job::Receipt& receipt, const Received& r) {
  auto it = auctions.find(receipt.job_id);
  if (it == auctions.end() || it->second->executor != receipt.executor ||
      it->second->round != receipt.round ||
      (it->second->stage != Auction::Stage::kExecuting &&
       it->second->stage != Auction::Stage::kAssigning)) {
    // Finished already, or from an executor (or round) this node no longer waits for.
    Bump(Counter::kReceipts, "late");
    return;
  }
  Auction& a = *it->second;
  if (receipt.outcome == "error") {
    Bump(Counter::kReceipts, "executor_error");
    ExecutorFailed(a, mesh::StrCat("executor ", receipt.executor, " could not run the job: ",
                                   receipt.report.value("message", std::string("no reason"))));
    return;
  }
  if (receipt.fuel_used > a.ticket.spec.limits.fuel && a.ticket.spec.limits.fuel > 0) {
    Bump(Counter::kReceipts, "invalid");
    ExecutorFailed(a, mesh::StrCat("receipt claims ", receipt.fuel_used, " fuel, over the limit ",
                                   a.ticket.spec.limits.fuel));
    return;
  }
  JudgeSpeed(a);
  if (!a.running) {
    // The receipt overtook the ack of its assignment: it acknowledges it too, and the history
    // reads executing before receipt.
    a.running = true;
    Emit(MarkRunning{a.ticket.id, absl::FromUnixMillis(receipt.started_at_ms), ++a.attempts});
  }
  a.stage = Auction::Stage::kCollecting;
  a.collecting = receipt;
  a.collecting_envelope = r.envelope;
  a.collecting_envelope_cid = r.envelope_cid;
  const uint64_t token = Token();
  fetches[token] = {FetchContext::Kind::kOutput, a.ticket.id, a.round, {}, {}};
  // The output and, when there is one, the output tree (the shell fetches a manifest's files
  // with it): a result is checked by CID, its files included.
  std::vector<std::string> cids = {receipt.output_cid};
  if (!receipt.files_cid.empty()) cids.push_back(receipt.files_cid);
  Emit(Fetch{token, a.ticket.id, std::move(cids), {{receipt.executor, a.executor_address}}});
}

void Market::State::OnOutputFetched(Auction& a, const absl::Status& fetched) {
  const job::Receipt receipt = *a.collecting;
  if (!fetched.ok()) {
    Bump(Counter::kReceipts, "bad_output");
    ExecutorFailed(a, mesh::StrCat("the output of executor ", receipt.executor,
                                   " could not be fetched and checked: ", fetched.message()));
    return;
  }
  if (!a.ticket.spec.output_dir.empty() && receipt.outcome == "ok" && receipt.files_cid.empty()) {
    Bump(Counter::kReceipts, "bad_output");
    ExecutorFailed(a, mesh::StrCat("executor ", receipt.executor,
                                   " sent no output tree, though the job names an output_dir"));
    return;
  }
  Bump(Counter::kReceipts, "accepted");
  // The signed receipt itself goes into the hash-linked history, so the proof of what the
  // executor claimed stays with the job and can be checked again later.
  nlohmann::json detail = {{"round", receipt.round},
                           {"executor", receipt.executor},
                           {"receipt", a.collecting_envelope_cid},
                           {"envelope", Base64Encode(a.collecting_envelope)},
                           {"output_cid", receipt.output_cid},
                           {"fuel_used", receipt.fuel_used}};
  if (!receipt.files_cid.empty()) detail["files_cid"] = receipt.files_cid;
  History(a.ticket.id, "receipt", std::move(detail));
  a.results.push_back({receipt, mesh::StrCat(a.ticket.id, "/", receipt.round), a.price});
  a.collecting.reset();
  a.collecting_envelope.clear();
  const std::string lease = a.lease;
  Judge(a);  // may erase `a`
  // Its slot is free (or it needs another replica): the next job on the lease goes out.
  if (!lease.empty()) AssignFromLease(lease);
}

void Market::State::OnRemoteProgress(const job::Progress& p) {
  auto it = auctions.find(p.job_id);
  if (it == auctions.end() || it->second->executor != p.executor) return;
  nlohmann::json data = {{"percent", p.fraction * 100},
                         {"message", p.message},
                         {"executor", p.executor},
                         {"state", "running"}};
  // The run began about when it was assigned.
  if (std::optional<int64_t> eta = job::EtaMillis(it->second->assigned_at, now, p.fraction * 100)) {
    data["eta_ms"] = *eta;
  }
  Emit(Publish{"job.progress", p.job_id, std::move(data)});
}

void Market::State::OnRemoteArtifact(const job::Artifact& m) {
  auto it = auctions.find(m.job_id);
  if (it == auctions.end() || it->second->executor != m.executor || it->second->round != m.round) {
    return;  // not (or no longer) this executor's run
  }
  // Fetched now, while its executor is alive: the point of a checkpoint is to outlive it.
  const uint64_t token = Token();
  fetches[token] = {FetchContext::Kind::kArtifact, m.job_id, m.round, {}, m};
  Emit(Fetch{token, m.job_id, {m.cid}, {{m.executor, it->second->executor_address}}});
}

void Market::State::OnArtifactFetched(const FetchContext& c, const absl::Status& fetched) {
  const job::Artifact& m = c.artifact;
  if (!fetched.ok()) {
    Warn(mesh::StrCat("job ", m.job_id, ": cannot fetch ", m.kind, " ", m.index, " from ",
                      m.executor, ": ", fetched.ToString()));
    return;
  }
  auto it = auctions.find(m.job_id);
  if (it == auctions.end()) return;
  if (m.kind == "checkpoint") it->second->ticket.checkpoint = m.cid;
  nlohmann::json detail = {{"index", m.index}, {"cid", m.cid},           {"bytes", m.bytes},
                           {"fuel", m.fuel},   {"executor", m.executor}, {"round", m.round}};
  History(m.job_id, m.kind, detail);
  Emit(Publish{mesh::StrCat("job.", m.kind), m.job_id, std::move(detail)});
}

void Market::State::PeerDied(const std::string& did) {
  // Collecting too: its output is fetched from it, a fetch that would only fail when the
  // connection's keepalive gives up; a late answer finds the job moved on and is ignored.
  std::vector<std::string> lost;
  for (const auto& [id, a] : auctions) {
    if ((a->stage == Auction::Stage::kAssigning || a->stage == Auction::Stage::kExecuting ||
         a->stage == Auction::Stage::kCollecting) &&
        a->executor == did) {
      lost.push_back(id);
    }
  }
  std::sort(lost.begin(), lost.end());
  for (const std::string& id : lost) {
    auto it = auctions.find(id);
    if (it == auctions.end()) continue;
    ExecutorFailed(*it->second, mesh::StrCat("executor ", did, " died (no heartbeat for ",
                                             absl::FormatDuration(options.dead_after), ")"));
  }
  // Chunks waiting for a slot on a lease it held may have no usable holder left: they look
  // again (and auction if so).
  for (auto& [id, a] : auctions) {
    if (a->stage == Auction::Stage::kWaiting && a->on_lease_slot) {
      a->on_lease_slot = false;
      a->retry_at = now;
    }
  }
}

void Market::State::JudgeSpeed(const Auction& a) {
  if (a.promised_finish_ms <= 0) return;
  // From the assignment to the receipt here: the queue, the blobs' fetch, the run and the
  // network. The promise covered the queue and the whole fuel limit, so an honest executor
  // keeps it; a run slower than twice the promise, past a second of slack, did not. The
  // promise is read on the executor's clock: at least its run (finish - start), which no
  // clock skew between the two nodes shortens.
  const int64_t promised = std::max<int64_t>(
      {1, a.promised_finish_ms - absl::ToUnixMillis(a.assigned_at), a.promised_run_ms});
  const int64_t took = absl::ToInt64Milliseconds(now - a.assigned_at);
  const double kept = took > 2 * promised + 1000 ? double(promised) / double(took) : 1.0;
  auto it = speed_trust.find(a.executor);
  const double before = it == speed_trust.end() ? 1.0 : it->second;
  // A broken promise counts at once, in full; trust comes back halfway with each one kept.
  const double trust = kept < 1.0 ? std::min(before, kept) : 0.5 * before + 0.5;
  if (trust >= 0.9) {
    if (it != speed_trust.end()) speed_trust.erase(it);
  } else {
    speed_trust[a.executor] = trust;
  }
}

void Market::State::BringHome() {
  if (!capacity_told || capacity.draining || !options.placement.execute_locally) return;
  const uint32_t slots = std::max<uint32_t>(capacity.max_concurrent, 1);
  if (capacity.running + capacity.queued >= slots) return;
  std::vector<std::string> home;
  for (const auto& [id, a] : auctions) {
    // Only a job that asked and found no usable bid, holds no executor, result or lease slot.
    if (a->stage != Auction::Stage::kWaiting || a->waits == 0 || a->on_lease_slot ||
        !a->executor.empty() || a->running || !a->results.empty()) {
      continue;
    }
    const job::JobSpec& spec = a->ticket.spec;
    if (sched::ParsePlacementMode(spec.placement).value_or(sched::PlacementMode::kRemote) !=
        sched::PlacementMode::kAuto) {
      continue;  // "remote" means elsewhere, however long it takes
    }
    // As if no peer were live: runs here when this node meets what it needs.
    if (!sched::Place(sched::PlacementMode::kAuto, spec.requirements, spec.limits.memory_bytes, 0,
                      capacity, 0, options.placement)
             .local) {
      continue;
    }
    home.push_back(id);
  }
  std::sort(home.begin(), home.end());
  for (const std::string& id : home) {
    if (capacity.running + capacity.queued >= slots) break;
    ++capacity.queued;  // until the shell's next CapacityChanged counts it
    Auction& a = *auctions.at(id);
    const std::string why =
        mesh::StrCat("no usable bid in ", a.waits, a.waits == 1 ? " round" : " rounds", " (",
                     a.waiting_reason, "), and this node has a free slot and meets its needs");
    History(id, "run_here", {{"round", a.round}, {"reason", why}});
    Bump(Counter::kRunAtHome);
    Emit(RunAtHome{id, why});
    Emit(Refund{id, "runs on its own node: no peer bid"});
    auctions.erase(id);
  }
}

void Market::State::CapacityAppeared() {
  for (auto& [id, a] : auctions) {
    if (a->stage == Auction::Stage::kWaiting && a->waits > 0) a->retry_at = now;
  }
}

}  // namespace mesh::market
