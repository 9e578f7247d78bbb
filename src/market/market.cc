// Market: the entry point (Step), the peers the core knows, the timer, and the answers to sends
// and fetches, each routed to the side that asked.
#include "mesh/market/market.h"

#include <algorithm>

#include "market_state.h"
#include "mesh/common/strings.h"

namespace mesh::market {

std::string Short(const std::string& did) {
  return did.size() > 20 ? mesh::StrCat(did.substr(0, 14), "…", did.substr(did.size() - 6)) : did;
}

std::string_view CounterName(Counter counter) {
  switch (counter) {
    case Counter::kAnnounced:
      return "announced";
    case Counter::kBids:
      return "bids";
    case Counter::kDeclines:
      return "declines";
    case Counter::kClosed:
      return "closed";
    case Counter::kExecutorFailures:
      return "executor_failures";
    case Counter::kReceipts:
      return "receipts";
    case Counter::kBidsSent:
      return "bids_sent";
    case Counter::kDeclinesSent:
      return "declines_sent";
    case Counter::kAssignments:
      return "assignments";
    case Counter::kLeaseAssigned:
      return "lease_assigned";
    case Counter::kOutvoted:
      return "outvoted";
    case Counter::kAskedBeyond:
      return "asked_beyond";
    case Counter::kRunAtHome:
      return "run_at_home";
  }
  return "unknown";
}

Market::Market(MarketOptions options, const TrustView* trust, Rng* rng, const Directory* directory)
    : s_(std::make_unique<State>(std::move(options), trust, rng, directory)) {
  s_->capacity.did = s_->options.self;
  s_->capacity.address = s_->options.address;
}

Market::~Market() = default;

std::vector<Action> Market::Step(absl::Time now, Input input) {
  State& s = *s_;
  s.now = now;
  s.out.clear();
  std::visit(
      [&](auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, Received>) {
          s.OnReceived(in);
        } else if constexpr (std::is_same_v<T, SendResult>) {
          s.OnSendResult(in);
        } else if constexpr (std::is_same_v<T, FetchResult>) {
          s.OnFetchResult(in);
        } else if constexpr (std::is_same_v<T, TimerFired>) {
          s.timer.reset();  // it fired: the next one is set anew
          s.OnTimer();
        } else if constexpr (std::is_same_v<T, CapacityChanged>) {
          s.capacity = std::move(in.capacity);
          s.capacity_told = true;
          s.capacity.did = s.options.self;
          s.capacity.address = s.options.address;
          s.refused_modules = std::move(in.refused_modules);
        } else if constexpr (std::is_same_v<T, PeerChanged>) {
          s.OnPeer(in.peer);
        } else if constexpr (std::is_same_v<T, JobHanded>) {
          s.Take(std::move(in.ticket));
        } else if constexpr (std::is_same_v<T, JobCancelled>) {
          s.Cancel(in);
        } else if constexpr (std::is_same_v<T, LocalProgress>) {
          s.OnLocalProgress(in);
        } else if constexpr (std::is_same_v<T, LocalArtifact>) {
          s.OnLocalArtifact(in);
        } else if constexpr (std::is_same_v<T, LocalEnded>) {
          s.OnLocalEnded(in.run);
        }
      },
      input);
  s.BringHome();
  std::optional<absl::Time> next = s.NextTimer();
  if (next != s.timer && next.has_value()) s.out.push_back(SetTimer{*next});
  s.timer = next;
  return std::move(s.out);
}

int64_t MaxPriceOf(const job::JobSpec& spec, int64_t default_max_price) {
  return spec.requirements.max_price > 0
             ? static_cast<int64_t>(std::min<uint64_t>(spec.requirements.max_price, 1ull << 52))
             : default_max_price;
}

sched::Placement Market::Place(const job::JobSpec& spec, uint64_t module_bytes,
                               uint64_t input_bytes) const {
  absl::StatusOr<sched::PlacementMode> mode = sched::ParsePlacementMode(spec.placement);
  const double complexity = sched::ComplexityScore(module_bytes, spec.limits.fuel, input_bytes);
  return sched::Place(mode.value_or(sched::PlacementMode::kAuto), spec.requirements,
                      spec.limits.memory_bytes, complexity, s_->capacity, alive_peers(),
                      s_->options.placement);
}

bool Market::Holds(const std::string& job_id) const { return s_->auctions.contains(job_id); }

MarketStats Market::Stats() const {
  MarketStats stats;
  for (const auto& [id, a] : s_->auctions) {
    if (a->stage == Auction::Stage::kExecuting || a->stage == Auction::Stage::kCollecting) {
      ++stats.delegated_running;
    } else {
      ++stats.auctions_open;
    }
  }
  for (const auto& [id, run] : s_->runs) {
    if (run.receipt.has_value()) continue;
    ++stats.assigned;
    if (run.starting) ++stats.starting;
  }
  return stats;
}

size_t Market::alive_peers() const { return s_->AlivePeers().size(); }

const sched::LocalCapacity& Market::capacity() const { return s_->capacity; }

std::optional<absl::Time> Market::next_timer() const { return s_->NextTimer(); }

// --- State: shared helpers ----------------------------------------------------------------

Persist& Market::State::PersistFor(const std::string& job_id) {
  // The step's writes for one job go in one Persist, kept in the order they were made.
  for (Action& action : out) {
    if (auto* p = std::get_if<Persist>(&action); p != nullptr && p->job_id == job_id) return *p;
  }
  Persist p;
  p.job_id = job_id;
  out.push_back(std::move(p));
  return std::get<Persist>(out.back());
}

void Market::State::History(const std::string& job_id, std::string phase, nlohmann::json detail) {
  PersistFor(job_id).blocks.push_back({std::move(phase), std::move(detail)});
}

const PeerView* Market::State::FindPeer(const std::string& did) const {
  auto it = peers.find(did);
  return it == peers.end() ? nullptr : &it->second;
}

std::vector<const PeerView*> Market::State::AlivePeers() const {
  std::vector<const PeerView*> alive;
  for (const auto& [did, p] : peers) {
    if (p.alive) alive.push_back(&p);
  }
  // In DID order, so that what the core does never depends on the hash map's order.
  std::sort(alive.begin(), alive.end(),
            [](const PeerView* a, const PeerView* b) { return a->did < b->did; });
  return alive;
}

void Market::State::OnPeer(const PeerView& peer) {
  if (peer.did.empty() || peer.did == options.self) return;
  PeerView& known = peers[peer.did];
  const bool was_alive = known.alive;
  known = peer;
  if (!peer.alive) {
    if (was_alive && !peer.disconnected) PeerDied(peer.did);
    return;
  }
  // Capacity is there (a peer came back, or has an idle slot): auctions that found no bidder
  // try again now rather than at the end of their backoff.
  if (peer.has_free_slot()) CapacityAppeared();
}

void Market::State::OnReceived(Received& r) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, job::Announce>) {
          OnAnnounce(m, r);
        } else if constexpr (std::is_same_v<T, job::Bid>) {
          // A bid sent on its own: the announcement reached its executor through a relay.
          auto it = auctions.find(m.job_id);
          if (it != auctions.end() && it->second->stage == Auction::Stage::kBidding &&
              it->second->round == m.round) {
            AddBid(*it->second, m, r.envelope_cid);
            MaybeClose(*it->second);
          }
        } else if constexpr (std::is_same_v<T, job::Assignment>) {
          OnAssignment(m, r);
        } else if constexpr (std::is_same_v<T, job::Receipt>) {
          OnReceipt(m, r);
        } else if constexpr (std::is_same_v<T, job::Progress>) {
          OnRemoteProgress(m);
        } else if constexpr (std::is_same_v<T, job::Artifact>) {
          OnRemoteArtifact(m);
        } else if constexpr (std::is_same_v<T, job::CancelJob>) {
          OnCancelJob(m);
        }
        // Anything else (a reply type sent as a request) is not the market's: no answer.
      },
      r.message);
}

void Market::State::OnSendResult(SendResult& r) {
  auto it = sends.find(r.token);
  if (it == sends.end()) return;
  const SendContext c = std::move(it->second);
  sends.erase(it);
  if (c.kind == SendContext::Kind::kReceipt) {
    OnReceiptSent(c, r);
    return;
  }
  auto a = auctions.find(c.job_id);
  if (a == auctions.end() || a->second->round != c.round) return;  // a late answer
  if (c.kind == SendContext::Kind::kAnnounce) {
    OnBidReply(*a->second, c.peer, r);
  } else {
    OnAck(*a->second, c.peer, r);
  }
}

void Market::State::OnFetchResult(const FetchResult& r) {
  auto it = fetches.find(r.token);
  if (it == fetches.end()) return;
  const FetchContext c = std::move(it->second);
  fetches.erase(it);
  switch (c.kind) {
    case FetchContext::Kind::kAssignmentBlobs:
      OnAssignmentBlobs(c, r.status);
      break;
    case FetchContext::Kind::kOutput: {
      auto a = auctions.find(c.job_id);
      if (a == auctions.end() || a->second->stage != Auction::Stage::kCollecting ||
          a->second->round != c.round) {
        return;
      }
      OnOutputFetched(*a->second, r.status);
      break;
    }
    case FetchContext::Kind::kArtifact:
      OnArtifactFetched(c, r.status);
      break;
  }
}

void Market::State::OnTimer() {
  TickAuctions();
  SendReceipts();
}

std::optional<absl::Time> Market::State::NextTimer() const {
  std::optional<absl::Time> next;
  auto consider = [&](absl::Time t) {
    if (t == absl::InfiniteFuture()) return;
    if (!next.has_value() || t < *next) next = t;
  };
  for (const auto& [id, a] : auctions) {
    switch (a->stage) {
      case Auction::Stage::kBidding:
      case Auction::Stage::kAssigning:
      case Auction::Stage::kExecuting:
        consider(a->deadline);
        break;
      case Auction::Stage::kWaiting:
        // A chunk waiting for a free slot on its lease is woken by the slot, not by time.
        if (!a->on_lease_slot) consider(a->retry_at);
        break;
      case Auction::Stage::kCollecting:
        break;
    }
  }
  for (const auto& [id, p] : receipts) {
    if (p.in_flight == 0) consider(p.next_try);
  }
  // A time already past is due now.
  if (next.has_value() && *next < now) next = now;
  return next;
}

}  // namespace mesh::market
