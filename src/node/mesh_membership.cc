// MeshService's membership: the membership core (HyParView views, bounded) decides whom this
// node pings, gossips to and hears as dead; this file carries its actions. A ping is a heartbeat
// (capacity, load and the active view ride on it; the reply is the peer's heartbeat), every other
// membership message a signed job::Gossip. Bootstrap addresses are greeted (a hello heartbeat)
// until one answers with its DID; the core then joins through it. The market core hears of each
// active peer's heartbeat and of each peer that leaves the active view (PeerChanged), and of this
// node's capacity when it changed.
#include <algorithm>
#include <atomic>
#include <memory>

#include "mesh/common/strings.h"
#include "mesh/node/gossip_wire.h"
#include "mesh/node/mesh_service.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

// peers.json changes with the views; it is written at most this often.
constexpr absl::Duration kSavePeersEvery = absl::Seconds(5);
// An unanswered bootstrap address is greeted again this often.
constexpr int kHelloEveryBeats = 5;
// How long a stopping node waits for its active peers to take its leave.
constexpr absl::Duration kLeaveWait = absl::Milliseconds(500);

market::PeerView ViewOf(const Peer& p) {
  market::PeerView v;
  v.did = p.did;
  v.address = p.address;
  v.alive = p.state == PeerState::kAlive;
  v.draining = p.heartbeat.draining;
  v.max_concurrent = p.heartbeat.max_concurrent;
  v.running = p.heartbeat.running;
  v.queued = p.heartbeat.queued;
  v.rtt = p.rtt;
  for (const job::PeerInfo& q : p.heartbeat.peers) v.peers.push_back(q.did);
  return v;
}

}  // namespace

void MeshService::Beat() {
  const absl::Time now = env_.clock->Now();
  RefreshCapacity();
  bool alone = false;
  {
    absl::MutexLock lock(&members_mu_);
    alone = members_ != nullptr && members_->known() == 0;
  }
  // Alone (every peer it knew died or left): the bootstrap addresses are greeted again.
  if (alone) {
    for (const std::string& address : options_.peers) peers_->AddAddress(address);
  }
  if (alone || ++beats_ % kHelloEveryBeats == 1) {
    for (const std::string& address : peers_->Unresolved()) SayHello(address);
  }
  if (now - peers_saved_ >= kSavePeersEvery) {
    peers_saved_ = now;
    if (absl::Status s = peers_->Save(); !s.ok()) {
      spdlog::warn("mesh: cannot save the peer table: {}", s.ToString());
    }
  }
  scheduler_->RunAt(now + options_.heartbeat, [this] { Beat(); });
}

void MeshService::StepMembers(membership::Input input) {
  std::vector<membership::Send> sends;
  {
    absl::MutexLock lock(&members_mu_);
    if (members_ == nullptr) return;
    StepMembersLocked(std::move(input), sends);
  }
  // Sends leave after the lock: a failed one steps the core again (SendFailed). The pings of
  // one step (a probe of every active peer) carry one heartbeat, made once.
  std::optional<job::Heartbeat> beat;
  for (const membership::Send& send : sends) {
    if (std::holds_alternative<membership::Ping>(send.message) && !beat.has_value()) {
      beat = MakeHeartbeat();
    }
    SendMembership(send, beat);
  }
}

void MeshService::StepMembersLocked(membership::Input input, std::vector<membership::Send>& sends) {
  const absl::Time now = env_.clock->Now();
  std::vector<membership::Action> actions = members_->Step(now, std::move(input));
  known_ = members_->known();
  peers_->SetViews(members_->active(), members_->passive(), now);
  for (membership::Action& action : actions) {
    if (auto* send = std::get_if<membership::Send>(&action)) {
      sends.push_back(std::move(*send));
    } else if (auto* up = std::get_if<membership::PeerUp>(&action)) {
      spdlog::info("mesh: peer {} at {} joined the active view", up->peer.id.str(),
                   up->peer.address);
      // The market hears of it with its first heartbeat (its capacity), unless it had one.
      if (std::optional<Peer> p = peers_->Find(up->peer.id.str()); p.has_value() && p->heard()) {
        Feed(market::PeerChanged{ViewOf(*p)});
      }
    } else if (auto* down = std::get_if<membership::PeerDown>(&action)) {
      if (down->alive) {
        spdlog::info("mesh: peer {} left the active view", down->id.str());
      } else {
        spdlog::warn("mesh: peer {} is dead (silent for {} or unreachable)", down->id.str(),
                     absl::FormatDuration(options_.dead_after));
      }
      market::PeerView view;
      view.did = down->id.str();
      view.alive = false;
      view.disconnected = down->alive;
      Feed(market::PeerChanged{std::move(view)});
    } else if (auto* timer = std::get_if<membership::SetTimer>(&action)) {
      // The core names its next tick after every step; most steps do not move it.
      if (timer->at == members_timer_at_) continue;
      members_timer_at_ = timer->at;
      scheduler_->RunAt(timer->at, [this, generation = ++members_timer_] {
        {
          absl::MutexLock lock(&members_mu_);
          if (members_timer_ != generation) return;
          members_timer_at_ = absl::InfinitePast();
        }
        StepMembers(membership::TimerFired{});
      });
    }
  }
}

void MeshService::SendMembership(const membership::Send& send,
                                 const std::optional<job::Heartbeat>& beat) {
  const net::Endpoint to = EndpointOf(send.to.id.str(), send.to.address);
  const bool ping = std::holds_alternative<membership::Ping>(send.message);
  std::string bytes =
      ping ? envelopes_.Seal(*beat) : envelopes_.Seal(GossipOf(send.message, Self()));
  transport_->Send(to, std::move(bytes), 1, options_.send_timeout,
                   [this, to, id = send.to.id, ping,
                    sent = env_.clock->Now()](absl::StatusOr<std::string> reply) {
                     if (!reply.ok()) {
                       peers_->Failed(to.address);
                       StepMembers(membership::SendFailed{id});
                       return;
                     }
                     if (!ping) return;
                     if (std::optional<job::Heartbeat> hb = HeartbeatIn(*reply, to.did)) {
                       const absl::Time now = env_.clock->Now();
                       OnHeartbeat(*hb, now, now - sent);
                     }
                   });
}

void MeshService::Leave() {
  std::vector<membership::Send> sends;
  {
    absl::MutexLock lock(&members_mu_);
    if (members_ == nullptr) return;
    StepMembersLocked(membership::Leave{}, sends);
  }
  // The active peers hear of it now, not dead_after later; a stop waits for that a little.
  struct Pending {
    std::atomic<size_t> left;
    absl::Notification done;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = sends.size();
  if (sends.empty()) return;
  const membership::Contact self = Self();
  for (const membership::Send& send : sends) {
    transport_->Send(EndpointOf(send.to.id.str(), send.to.address),
                     envelopes_.Seal(GossipOf(send.message, self)), 1, kLeaveWait,
                     [pending](absl::StatusOr<std::string>) {
                       if (pending->left.fetch_sub(1) == 1) pending->done.Notify();
                     });
  }
  pending->done.WaitForNotificationWithTimeout(kLeaveWait);
}

void MeshService::SayHello(const std::string& address) {
  job::Heartbeat hello = MakeHeartbeat();
  hello.hello = true;
  const net::Endpoint to = EndpointOf("", address);
  transport_->Send(to, envelopes_.Seal(std::move(hello)), 1, options_.send_timeout,
                   [this, address](absl::StatusOr<std::string> reply) {
                     if (!reply.ok() || reply->empty()) {
                       peers_->Failed(address);
                       return;
                     }
                     std::optional<job::Heartbeat> hb = HeartbeatIn(*reply, std::nullopt);
                     if (!hb.has_value()) return;
                     peers_->Heard(*hb, env_.clock->Now(), std::nullopt);
                     StepMembers(membership::Discovered{{{hb->node, address}}});
                   });
}

std::optional<job::Heartbeat> MeshService::HeartbeatIn(std::string_view reply,
                                                       const std::optional<crypto::DidKey>& from) {
  absl::StatusOr<job::OpenedMessage> opened = envelopes_.Open(reply, from);
  if (!opened.ok()) return std::nullopt;
  auto* hb = std::get_if<job::Heartbeat>(&opened->message);
  if (hb == nullptr) return std::nullopt;
  return std::move(*hb);
}

membership::Contact MeshService::Self() const {
  return {env_.key->did().ToString(), transport_->address()};
}

MeshService::HostFigures MeshService::Host() {
  const absl::Time now = env_.clock->Now();
  absl::MutexLock lock(&host_mu_);
  if (!host_.has_value() || now - host_read_ >= kHostFiguresFor || now < host_read_) {
    host_ = HostFigures{env_.host->Host(), env_.host->FreeBytes(env_.blobs->root())};
    host_read_ = now;
  }
  return *host_;
}

sched::LocalCapacity MeshService::Capacity() {
  const ServiceStats stats = compute_->Stats();
  sched::LocalCapacity c;
  c.did = env_.key->did().ToString();
  c.address = transport_->address();
  const HostFigures host = Host();
  c.cpu_cores = std::max(1u, host.host.cpu_cores);
  c.max_concurrent = uint32_t(std::max(1, stats.max_concurrent));
  c.memory_bytes = host.host.memory_bytes / c.max_concurrent;  // the most one job may ask for
  c.storage_free = host.storage_free;
  c.running = uint32_t(stats.running);
  c.queued = uint32_t(stats.queued);  // the core adds the assignments whose blobs it fetches
  c.draining = stats.draining;
  c.max_module_bytes = max_module_bytes_;
  c.capabilities = options_.capabilities;
  c.federations = options_.federations;
  absl::MutexLock lock(&profile_mu_);
  // The configured ones first; derived ones while the wire has room (a peer refuses more).
  for (const std::string& derived : profile_capabilities_) {
    if (c.capabilities.size() >= job::kMaxAdvertisedNames) break;
    if (std::find(c.capabilities.begin(), c.capabilities.end(), derived) == c.capabilities.end()) {
      c.capabilities.push_back(derived);
    }
  }
  c.fuel_per_second = fuel_per_second_;
  return c;
}

void MeshService::SetProfile(std::vector<std::string> capabilities, uint64_t fuel_per_second) {
  {
    absl::MutexLock lock(&profile_mu_);
    profile_capabilities_ = std::move(capabilities);
    fuel_per_second_ = fuel_per_second;
  }
  RefreshCapacity();
}

void MeshService::RefreshCapacity(const std::string& module) {
  // The runs handed to the compute service but not yet in its queue count as queued (the core
  // has stopped counting them). Read before the service's figures: a run that moves between
  // the two reads is counted twice (safe), never not at all. The service is asked outside mu_.
  uint32_t submitting = 0;
  {
    absl::MutexLock lock(&mu_);
    submitting = submitting_;
  }
  market::CapacityChanged news{Capacity(), {}};
  news.capacity.queued += submitting;
  const std::string refusal = module.empty() ? "" : compute_->ModuleRefusal(module);
  absl::MutexLock lock(&mu_);
  if (!module.empty()) {
    if (refusal.empty()) {
      refused_.erase(module);
    } else {
      refused_[module] = refusal;
    }
  }
  news.refused_modules = refused_;
  if (told_.has_value() && told_->capacity == news.capacity &&
      told_->refused_modules == news.refused_modules) {
    return;
  }
  told_ = news;
  FeedLocked(std::move(news), nullptr);
}

job::Heartbeat MeshService::MakeHeartbeat() {
  const sched::LocalCapacity c = Capacity();
  job::Heartbeat hb;
  hb.node = c.did;
  hb.address = c.address;
  hb.cpu_cores = c.cpu_cores;
  hb.memory_bytes = c.memory_bytes;
  hb.max_concurrent = c.max_concurrent;
  hb.running = c.running;
  hb.queued = c.queued;
  {
    // Assignments accepted whose blobs are still being fetched are as good as queued.
    absl::MutexLock lock(&mu_);
    hb.queued += submitting_;
    if (market_ != nullptr) hb.queued += uint32_t(market_->Stats().starting);
  }
  hb.draining = c.draining;
  hb.capabilities = c.capabilities;
  hb.federations = c.federations;
  hb.fuel_per_second = c.fuel_per_second;
  if (holder_ != nullptr) hb.storage_free = holder_->free_bytes();
  hb.zone = zone_;
  // The active view: the peers this node relays announcements to (the market's relay choice).
  for (const Peer& p : peers_->Alive()) hb.peers.push_back({p.did, p.address});
  return hb;
}

void MeshService::OnHeartbeat(const job::Heartbeat& hb, absl::Time now,
                              std::optional<absl::Duration> rtt) {
  if (!hb.hello) {  // a hello greets a bootstrap address: it is no ping
    StepMembers(membership::Received{{hb.node, hb.address}, PingOf(hb)});
  }
  if (!peers_->Heard(hb, now, rtt) || hb.hello) return;
  if (std::optional<Peer> p = peers_->Find(hb.node);
      p.has_value() && p->state == PeerState::kAlive) {
    Feed(market::PeerChanged{ViewOf(*p)});
  }
}

}  // namespace mesh::node
