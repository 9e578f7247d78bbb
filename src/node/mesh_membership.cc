// MeshService's membership: heartbeats to every known peer carry this node's capacity, load and
// a sample of its peers (peer exchange); a peer silent for dead_after is dead. The core hears of
// each heartbeat and each death (PeerChanged), and of this node's capacity when it changed.
#include <algorithm>

#include "mesh/common/strings.h"
#include "mesh/node/mesh_service.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

// peers.json changes with every heartbeat's news; it is written at most this often.
constexpr absl::Duration kSavePeersEvery = absl::Seconds(5);

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
  for (const std::string& did : peers_->Sweep(now, options_.dead_after)) {
    spdlog::warn("mesh: peer {} missed its heartbeats for {}; marked dead", did,
                 absl::FormatDuration(options_.dead_after));
    if (std::optional<Peer> p = peers_->Find(did); p.has_value()) {
      Feed(market::PeerChanged{ViewOf(*p)});
    }
  }
  RefreshCapacity();
  SendHeartbeats(now);
  if (now - peers_saved_ >= kSavePeersEvery) {
    peers_saved_ = now;
    if (absl::Status s = peers_->Save(); !s.ok()) {
      spdlog::warn("mesh: cannot save the peer table: {}", s.ToString());
    }
  }
  scheduler_->RunAt(now + options_.heartbeat, [this] { Beat(); });
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
  return c;
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
  for (const Peer& p : peers_->Alive()) {
    if (hb.peers.size() >= 32) break;  // a sample is enough: exchange is repeated every beat
    hb.peers.push_back({p.did, p.address});
  }
  return hb;
}

void MeshService::SendHeartbeats(absl::Time now) {
  const job::Heartbeat hb = MakeHeartbeat();
  for (const Peer& p : peers_->All()) {
    // Dead peers are still tried (that is how they come back), but less often.
    if (p.state == PeerState::kDead && p.failures > 3 && (absl::ToUnixSeconds(now) % 5) != 0) {
      continue;
    }
    const net::Endpoint to = EndpointOf(p.did, p.address);
    transport_->Send(to, envelopes_.Seal(hb), 1, options_.send_timeout,
                     [this, to, sent = now](absl::StatusOr<std::string> reply) {
                       if (!reply.ok()) {
                         peers_->Failed(to.address);
                         return;
                       }
                       if (reply->empty()) return;
                       absl::StatusOr<job::OpenedMessage> opened = envelopes_.Open(*reply, to.did);
                       if (!opened.ok()) return;
                       const auto* hb = std::get_if<job::Heartbeat>(&opened->message);
                       if (hb == nullptr) return;
                       const absl::Time now = env_.clock->Now();
                       OnHeartbeat(*hb, now, now - sent);
                     });
  }
}

void MeshService::OnHeartbeat(const job::Heartbeat& hb, absl::Time now,
                              std::optional<absl::Duration> rtt) {
  if (peers_->Heard(hb, now, rtt)) {
    spdlog::info("mesh: peer {} at {} is alive", hb.node, hb.address);
  }
  for (const job::PeerInfo& p : hb.peers) peers_->AddAddress(p.address, p.did);
  if (std::optional<Peer> p = peers_->Find(hb.node); p.has_value()) {
    Feed(market::PeerChanged{ViewOf(*p)});
  }
}

}  // namespace mesh::node
