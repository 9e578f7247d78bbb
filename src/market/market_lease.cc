// Market, the submitter's side: leases. The chunks of one split job share a lease, and so do
// jobs alike (LeaseKeyOf) for MarketOptions::lease_ttl after an auction for one of them. The
// first job to need an executor opens a normal auction; every executor ranked in it holds the
// lease and gets job after job, up to its slots, each by a signed assignment (priced at its
// lease bid, verified and paid like any job), without another auction. A holder that fails a
// job, or is outvoted, is lost to the lease; when no holder is left, or a stream's lease has
// expired, the next waiting job auctions again. In a closed loop of small jobs this halves the
// messages of a delegated job (no announcement, no bids: the assignment and the receipt).
#include <algorithm>
#include <bit>
#include <limits>

#include "market_state.h"
#include "mesh/common/strings.h"

namespace mesh::market {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

std::string LeaseKeyOf(const Ticket& ticket, uint64_t max_price) {
  const job::JobSpec& spec = ticket.spec;
  // What an executor's bid depends on: whether it may bid (module, requirements, sizes, the
  // price cap) and its price (base fee + rate x fuel). Inputs within a power of two share one.
  return mesh::StrCat("jobs ", spec.module, " fuel ", spec.limits.fuel, " memory ",
                      spec.limits.memory_bytes, " wall ", spec.limits.wall_time_ms, " input <2^",
                      std::bit_width(ticket.input_bytes), " verification ", spec.verification,
                      " max_price ", max_price, " requirements ",
                      job::ToJson(spec.requirements).dump());
}

void Market::State::SweepLeases() {
  while (!lease_expiry.empty() && lease_expiry.front().first <= now) {
    auto it = leases.find(lease_expiry.front().second);
    if (it != leases.end() && it->second->stream && it->second->expires <= now &&
        it->second->jobs.empty()) {
      leases.erase(it);
    }
    lease_expiry.pop_front();
  }
}

void Market::State::PlaceOnLease(Auction& a) {
  if (a.stage != Auction::Stage::kWaiting) return;  // assigned or bidding already
  std::unique_ptr<Lease>& slot = leases[a.lease];
  if (slot == nullptr) {
    slot = std::make_unique<Lease>();
    slot->stream = !a.split_chunk;
  }
  Lease& lease = *slot;
  lease.jobs[a.lease_order] = a.ticket.id;
  if (lease.stream && now >= lease.expires) lease.holders.clear();  // asked again
  if (AnyHolderFor(a, lease)) {
    a.retry_at = now;
    a.on_lease_slot = true;
    a.waiting_reason = lease.stream ? "waiting for a free slot on the lease of the jobs like it"
                                    : "waiting for a free slot on its split job's lease";
    AssignFromLease(a.lease);
    return;
  }
  auto bidder = auctions.find(lease.bidder);
  if (bidder != auctions.end() && bidder->second.get() != &a &&
      bidder->second->stage == Auction::Stage::kBidding) {
    a.retry_at = now + options.no_bid_retry;
    a.waiting_reason =
        lease.stream ? mesh::StrCat("waiting for the auction of job ", bidder->second->ticket.id,
                                    " (a job like it) to win their lease")
                     : mesh::StrCat("waiting for the auction of chunk ", bidder->second->chunk,
                                    " to win its split job's lease");
    return;
  }
  lease.bidder = a.ticket.id;
  OpenRound(a);
}

const PeerView* Market::State::HolderFor(const Auction& a, const Lease::Holder& h) const {
  if (h.lost || Contains(a.excluded, h.bid.executor)) return nullptr;
  const PeerView* p = FindPeer(h.bid.executor);
  return p != nullptr && p->alive ? p : nullptr;
}

bool Market::State::AnyHolderFor(const Auction& a, const Lease& lease) const {
  return std::any_of(lease.holders.begin(), lease.holders.end(),
                     [&](const Lease::Holder& h) { return HolderFor(a, h) != nullptr; });
}

void Market::State::WinLease(Auction& a) {
  auto it = leases.find(a.lease);
  if (it == leases.end() || !a.selection.has_value()) return;
  Lease& lease = *it->second;
  if (lease.bidder == a.ticket.id) lease.bidder.clear();
  lease.won_by = mesh::StrCat(a.ticket.id, "/", a.round);
  if (lease.stream) {
    lease.expires = now + options.lease_ttl;
    lease_expiry.emplace_back(lease.expires, a.lease);
  }
  nlohmann::json holders = nlohmann::json::array();
  for (const sched::ScoredBid& bid : a.selection->ranked) {
    // One job more than the executor runs at once: the next one is fetched and queued while
    // the current one runs, so no slot idles for a receipt and an assignment.
    uint32_t slots = 2;
    if (const PeerView* p = FindPeer(bid.executor); p != nullptr) {
      slots = std::max<uint32_t>(p->max_concurrent, 1) + 1;
    }
    auto h = std::find_if(lease.holders.begin(), lease.holders.end(),
                          [&](const Lease::Holder& x) { return x.bid.executor == bid.executor; });
    if (h == lease.holders.end()) h = lease.holders.insert(lease.holders.end(), Lease::Holder{});
    h->bid = bid;
    for (const sched::BidView& view : a.bids) {
      if (view.bid.executor == bid.executor) h->view = view;
    }
    h->slots = slots;
    h->lost = false;
    if (!options.history_details) continue;
    holders.push_back({{"executor", bid.executor},
                       {"price", bid.price},
                       {"score", bid.score},
                       {"slots", slots},
                       {"bid", bid.bid_cid}});
  }
  if (!options.history_details) {
    History(lease.stream ? a.ticket.id : a.lease, "lease", {});
  } else if (lease.stream) {
    // Recorded with the job whose auction won it: the lease itself is no job of this node.
    History(a.ticket.id, "lease",
            {{"round", a.round},
             {"holders", holders},
             {"for", "jobs like this one"},
             {"until_ms", absl::ToUnixMillis(lease.expires)}});
  } else {
    History(a.lease, "lease",
            {{"chunk", a.chunk}, {"job", a.ticket.id}, {"round", a.round}, {"holders", holders}});
  }
  // The jobs that waited for this auction may go now (AssignFromLease takes those due).
  for (const auto& [order, id] : lease.jobs) {
    auto c = auctions.find(id);
    if (c != auctions.end() && c->second->stage == Auction::Stage::kWaiting &&
        c->second->failures == 0) {
      c->second->retry_at = std::min(c->second->retry_at, now);
    }
  }
}

void Market::State::LoseHolder(const std::string& key, const std::string& executor) {
  if (key.empty() || executor.empty()) return;
  auto it = leases.find(key);
  if (it == leases.end()) return;
  for (Lease::Holder& h : it->second->holders) {
    if (h.bid.executor == executor) h.lost = true;
  }
}

void Market::State::AssignFromLease(const std::string& key) {
  auto it = leases.find(key);
  if (it == leases.end()) return;
  Lease& lease = *it->second;
  if (lease.stream && now >= lease.expires) lease.holders.clear();  // the next job auctions
  absl::flat_hash_map<std::string, uint32_t> busy;
  std::vector<Auction*> waiting;
  for (auto c = lease.jobs.begin(); c != lease.jobs.end();) {
    auto a = auctions.find(c->second);
    if (a == auctions.end()) {  // finished, failed or cancelled
      c = lease.jobs.erase(c);
      continue;
    }
    Auction& x = *a->second;
    if (!x.executor.empty() &&
        (x.stage == Auction::Stage::kAssigning || x.stage == Auction::Stage::kExecuting ||
         x.stage == Auction::Stage::kCollecting)) {
      ++busy[x.executor];
    }
    if (x.stage == Auction::Stage::kWaiting && (x.retry_at <= now || x.on_lease_slot)) {
      waiting.push_back(&x);
    }
    ++c;
  }
  if (lease.jobs.empty()) {
    // A stream's lease outlives its jobs until it expires (SweepLeases), for the next one.
    if (!lease.stream || now >= lease.expires) leases.erase(it);
    return;
  }
  for (Auction* a : waiting) {
    // The holders' bids are scored again for this job, as its own auction would score them:
    // reputation and round trip as they are now, and the jobs each holder has from us now.
    const uint32_t round = a->opened ? a->round + 1 : a->round;
    std::vector<sched::BidView> views;
    bool usable = false;
    for (const Lease::Holder& h : lease.holders) {
      const PeerView* p = HolderFor(*a, h);
      if (p == nullptr) continue;
      usable = true;
      const uint32_t in_flight = busy[h.bid.executor];
      if (in_flight >= h.slots) continue;
      sched::BidView view = h.view;
      view.bid.job_id = a->ticket.id;
      view.bid.round = round;
      view.bid.valid_until_ms = std::numeric_limits<int64_t>::max();  // the lease's ttl rules
      const uint32_t slots = std::max<uint32_t>(p->max_concurrent, 1);
      view.bid.load = double(p->running) / slots;
      view.bid.queued = p->queued;
      view.assigned_load = double(in_flight) / slots;
      view.rtt = p->rtt;
      if (trust != nullptr) {
        const ExecutorStanding standing = trust->Standing(h.bid.executor);
        view.reputation = standing.is_new ? std::nullopt : std::optional<double>(standing.score);
      }
      // The holder's promised run, counted from now (its bid's times are the auction's).
      if (view.bid.expected_finish_ms > 0) {
        const int64_t run = view.bid.expected_finish_ms - view.bid.expected_start_ms;
        view.bid.expected_start_ms = absl::ToUnixMillis(now);
        view.bid.expected_finish_ms = view.bid.expected_start_ms + std::max<int64_t>(run, 1);
      }
      auto kept = speed_trust.find(h.bid.executor);
      view.speed_trust = kept == speed_trust.end() ? 1.0 : kept->second;
      views.push_back(std::move(view));
    }
    std::optional<sched::Selection> selection;
    if (!views.empty()) {
      job::Announce announce = AnnounceOf(*a);
      announce.round = round;
      selection = sched::Select(announce, views, options.selection, now);
      // A holder its own auction would filter now (its reputation fell below the jobs'
      // minimum...) holds the lease no more: it would be filtered for every job like this.
      for (const sched::Rejection& r : selection->rejected) LoseHolder(key, r.executor);
      if (!selection->has_winner()) {
        usable = AnyHolderFor(*a, lease);
        selection.reset();
      }
    }
    if (!selection.has_value()) {
      if (!usable && a->on_lease_slot) {
        // No holder can take it any more: it looks again at once (and auctions if need be).
        a->on_lease_slot = false;
        a->retry_at = now;
      }
      continue;
    }
    sched::ScoredBid& pick = selection->ranked.front();
    ++busy[pick.executor];
    // Each assignment is a round of its own, so a late receipt of an earlier one is known.
    a->round = round;
    a->opened = true;
    const std::string lease_bid = mesh::StrCat("bid ", pick.bid_cid, ", price ", pick.price);
    if (lease.stream) {
      pick.reason =
          mesh::StrCat("holds the lease of the jobs like this one, won by the auction of ",
                       lease.won_by, " (", lease_bid, "); ", pick.reason);
      selection->summary = mesh::StrCat("on the lease of the jobs like it: ", selection->summary);
    } else {
      pick.reason =
          mesh::StrCat("holds the lease of split job ", key, " (", lease_bid, "); ", pick.reason);
      selection->summary = mesh::StrCat("chunk ", a->chunk, " on the lease of split job ", key,
                                        ": ", selection->summary);
    }
    a->selection = std::move(selection);
    a->next = 0;
    a->waits = 0;
    a->from_lease = true;
    Bump(Counter::kLeaseAssigned, lease.stream ? "jobs" : "split");
    AssignNext(*a);
  }
}

}  // namespace mesh::market
