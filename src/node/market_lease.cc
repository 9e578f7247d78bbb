// MeshService, the submitter's side for split jobs: the chunks of one split job share a lease.
// The first chunk to need an executor opens a normal auction; every executor ranked in it holds
// the lease and gets chunk after chunk, up to its slots, each by a signed assignment (priced at
// its lease bid, verified and paid like any job), without another auction. A holder that fails
// a chunk is lost to the lease; when no holder is left, the next waiting chunk auctions again.
#include <algorithm>

#include "mesh/common/strings.h"
#include "mesh/node/mesh_service.h"
#include "mesh_internal.h"

namespace mesh::node {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

void MeshService::PlaceChunk(Auction& a, absl::Time now) {
  if (a.stage != Auction::Stage::kWaiting) return;  // assigned or bidding already
  std::unique_ptr<Lease>& slot = leases_[a.lease];
  if (slot == nullptr) slot = std::make_unique<Lease>();
  Lease& lease = *slot;
  lease.chunks[a.chunk] = a.job.id;
  const bool usable = std::any_of(lease.holders.begin(), lease.holders.end(), [&](const auto& h) {
    std::optional<Peer> p = peers_->Find(h.bid.executor);
    return !h.lost && !Contains(a.excluded, h.bid.executor) && p.has_value() &&
           p->state == PeerState::kAlive;
  });
  if (usable) {
    a.retry_at = now;
    a.waiting_reason = "waiting for a free slot on its split job's lease";
    AssignFromLease(a.lease, now);
    return;
  }
  auto bidder = auctions_.find(lease.bidder);
  if (bidder != auctions_.end() && bidder->second.get() != &a &&
      bidder->second->stage == Auction::Stage::kBidding) {
    a.retry_at = now + options_.no_bid_retry;
    a.waiting_reason = mesh::StrCat("waiting for the auction of chunk ", bidder->second->chunk,
                                    " to win its split job's lease");
    return;
  }
  lease.bidder = a.job.id;
  OpenRound(a.job.id);
}

void MeshService::WinLease(Auction& a) {
  auto it = leases_.find(a.lease);
  if (it == leases_.end() || !a.selection.has_value()) return;
  Lease& lease = *it->second;
  if (lease.bidder == a.job.id) lease.bidder.clear();
  nlohmann::json holders = nlohmann::json::array();
  for (const sched::ScoredBid& bid : a.selection->ranked) {
    // One chunk more than the executor runs at once: the next one is fetched and queued
    // while the current one runs, so no slot idles for a receipt and an assignment.
    uint32_t slots = 2;
    if (std::optional<Peer> p = peers_->Find(bid.executor); p.has_value()) {
      slots = std::max<uint32_t>(p->heartbeat.max_concurrent, 1) + 1;
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
          {{"chunk", a.chunk}, {"job", a.job.id}, {"round", a.round}, {"holders", holders}});
  // The chunks that waited for this auction may go now (AssignFromLease takes those due).
  const absl::Time now = env_.clock->Now();
  for (const auto& [index, id] : lease.chunks) {
    auto c = auctions_.find(id);
    if (c != auctions_.end() && c->second->stage == Auction::Stage::kWaiting &&
        c->second->failures == 0) {
      c->second->retry_at = std::min(c->second->retry_at, now);
    }
  }
}

void MeshService::LoseHolder(const Auction& a) {
  if (a.lease.empty() || a.executor.empty()) return;
  auto it = leases_.find(a.lease);
  if (it == leases_.end()) return;
  for (Lease::Holder& h : it->second->holders) {
    if (h.bid.executor == a.executor) h.lost = true;
  }
}

void MeshService::AssignFromLease(const std::string& split_job, absl::Time now) {
  auto it = leases_.find(split_job);
  if (it == leases_.end()) return;
  Lease& lease = *it->second;
  absl::flat_hash_map<std::string, uint32_t> busy;
  std::vector<Auction*> waiting;
  for (auto c = lease.chunks.begin(); c != lease.chunks.end();) {
    auto a = auctions_.find(c->second);
    if (a == auctions_.end()) {  // finished, failed or cancelled
      c = lease.chunks.erase(c);
      continue;
    }
    const Auction& x = *a->second;
    if (!x.executor.empty() &&
        (x.stage == Auction::Stage::kAssigning || x.stage == Auction::Stage::kExecuting ||
         x.stage == Auction::Stage::kCollecting)) {
      ++busy[x.executor];
    }
    if (a->second->stage == Auction::Stage::kWaiting && a->second->retry_at <= now) {
      waiting.push_back(a->second.get());
    }
    ++c;
  }
  if (lease.chunks.empty()) {
    leases_.erase(it);
    return;
  }
  for (Auction* a : waiting) {
    const Lease::Holder* pick = nullptr;
    for (const Lease::Holder& h : lease.holders) {
      if (h.lost || busy[h.bid.executor] >= h.slots || Contains(a->excluded, h.bid.executor))
        continue;
      std::optional<Peer> p = peers_->Find(h.bid.executor);
      if (!p.has_value() || p->state != PeerState::kAlive) continue;
      pick = &h;
      break;
    }
    if (pick == nullptr) continue;
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
    AssignNext(*a, now);
  }
}

}  // namespace mesh::node
