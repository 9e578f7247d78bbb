// Market, the submitter's side for split jobs: the chunks of one split job share a lease. The
// first chunk to need an executor opens a normal auction; every executor ranked in it holds
// the lease and gets chunk after chunk, up to its slots, each by a signed assignment (priced at
// its lease bid, verified and paid like any job), without another auction. A holder that fails
// a chunk is lost to the lease; when no holder is left, the next waiting chunk auctions again.
#include <algorithm>

#include "market_state.h"
#include "mesh/common/strings.h"

namespace mesh::market {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

void Market::State::PlaceChunk(Auction& a) {
  if (a.stage != Auction::Stage::kWaiting) return;  // assigned or bidding already
  std::unique_ptr<Lease>& slot = leases[a.lease];
  if (slot == nullptr) slot = std::make_unique<Lease>();
  Lease& lease = *slot;
  lease.chunks[a.chunk] = a.ticket.id;
  const bool usable = std::any_of(lease.holders.begin(), lease.holders.end(), [&](const auto& h) {
    const PeerView* p = FindPeer(h.bid.executor);
    return !h.lost && !Contains(a.excluded, h.bid.executor) && p != nullptr && p->alive;
  });
  if (usable) {
    a.retry_at = now;
    a.on_lease_slot = true;
    a.waiting_reason = "waiting for a free slot on its split job's lease";
    AssignFromLease(a.lease);
    return;
  }
  auto bidder = auctions.find(lease.bidder);
  if (bidder != auctions.end() && bidder->second.get() != &a &&
      bidder->second->stage == Auction::Stage::kBidding) {
    a.retry_at = now + options.no_bid_retry;
    a.waiting_reason = mesh::StrCat("waiting for the auction of chunk ", bidder->second->chunk,
                                    " to win its split job's lease");
    return;
  }
  lease.bidder = a.ticket.id;
  OpenRound(a);
}

void Market::State::WinLease(Auction& a) {
  auto it = leases.find(a.lease);
  if (it == leases.end() || !a.selection.has_value()) return;
  Lease& lease = *it->second;
  if (lease.bidder == a.ticket.id) lease.bidder.clear();
  nlohmann::json holders = nlohmann::json::array();
  for (const sched::ScoredBid& bid : a.selection->ranked) {
    // One chunk more than the executor runs at once: the next one is fetched and queued
    // while the current one runs, so no slot idles for a receipt and an assignment.
    uint32_t slots = 2;
    if (const PeerView* p = FindPeer(bid.executor); p != nullptr) {
      slots = std::max<uint32_t>(p->max_concurrent, 1) + 1;
    }
    auto h = std::find_if(lease.holders.begin(), lease.holders.end(),
                          [&](const Lease::Holder& x) { return x.bid.executor == bid.executor; });
    if (h == lease.holders.end()) h = lease.holders.insert(lease.holders.end(), Lease::Holder{});
    h->bid = bid;
    h->slots = slots;
    h->lost = false;
    holders.push_back({{"executor", bid.executor},
                       {"price", bid.price},
                       {"score", bid.score},
                       {"slots", slots},
                       {"bid", bid.bid_cid}});
  }
  History(a.lease, "lease",
          {{"chunk", a.chunk}, {"job", a.ticket.id}, {"round", a.round}, {"holders", holders}});
  // The chunks that waited for this auction may go now (AssignFromLease takes those due).
  for (const auto& [index, id] : lease.chunks) {
    auto c = auctions.find(id);
    if (c != auctions.end() && c->second->stage == Auction::Stage::kWaiting &&
        c->second->failures == 0) {
      c->second->retry_at = std::min(c->second->retry_at, now);
    }
  }
}

void Market::State::LoseHolder(const Auction& a) {
  if (a.lease.empty() || a.executor.empty()) return;
  auto it = leases.find(a.lease);
  if (it == leases.end()) return;
  for (Lease::Holder& h : it->second->holders) {
    if (h.bid.executor == a.executor) h.lost = true;
  }
}

void Market::State::AssignFromLease(const std::string& split_job) {
  auto it = leases.find(split_job);
  if (it == leases.end()) return;
  Lease& lease = *it->second;
  absl::flat_hash_map<std::string, uint32_t> busy;
  std::vector<Auction*> waiting;
  for (auto c = lease.chunks.begin(); c != lease.chunks.end();) {
    auto a = auctions.find(c->second);
    if (a == auctions.end()) {  // finished, failed or cancelled
      c = lease.chunks.erase(c);
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
  if (lease.chunks.empty()) {
    leases.erase(it);
    return;
  }
  for (Auction* a : waiting) {
    const Lease::Holder* pick = nullptr;
    bool usable = false;
    for (const Lease::Holder& h : lease.holders) {
      if (h.lost || Contains(a->excluded, h.bid.executor)) continue;
      const PeerView* p = FindPeer(h.bid.executor);
      if (p == nullptr || !p->alive) continue;
      usable = true;
      if (busy[h.bid.executor] >= h.slots) continue;
      pick = &h;
      break;
    }
    if (pick == nullptr) {
      if (!usable && a->on_lease_slot) {
        // No holder can take it any more: it looks again at once (and auctions if need be).
        a->on_lease_slot = false;
        a->retry_at = now;
      }
      continue;
    }
    ++busy[pick->bid.executor];
    // Each assignment is a round of its own, so a late receipt of an earlier one is known.
    if (a->opened) ++a->round;
    a->opened = true;
    sched::Selection selection;
    sched::ScoredBid bid = pick->bid;
    bid.won = true;
    bid.reason = mesh::StrCat("holds the lease of split job ", split_job, " (bid ", bid.bid_cid,
                              ", price ", bid.price, ")");
    selection.ranked.push_back(bid);
    selection.summary = mesh::StrCat("chunk ", a->chunk, " on the lease of split job ", split_job,
                                     ": ", bid.executor);
    a->selection = std::move(selection);
    a->next = 0;
    a->waits = 0;
    AssignNext(*a);
  }
}

}  // namespace mesh::market
