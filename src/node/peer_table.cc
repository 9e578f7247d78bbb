#include "mesh/node/peer_table.h"

#include <algorithm>
#include <system_error>

#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "spdlog/spdlog.h"

namespace mesh::node {

std::string_view PeerStateName(PeerState state) {
  switch (state) {
    case PeerState::kUnknown:
      return "unknown";
    case PeerState::kAlive:
      return "alive";
    case PeerState::kPassive:
      return "passive";
  }
  return "unknown";
}

nlohmann::json ToJson(const Peer& p, absl::Time now) {
  nlohmann::json j = {
      {"did", p.did},
      {"address", p.address},
      // Active, its first heartbeat not in yet: "joining".
      {"state", p.state == PeerState::kAlive && !p.heard() ? std::string_view("joining")
                                                           : PeerStateName(p.state)},
      {"failures", p.failures}};
  if (p.last_seen != absl::UnixEpoch()) {
    j["last_seen_ms"] = absl::ToUnixMillis(p.last_seen);
    j["seen_ago_ms"] = absl::ToInt64Milliseconds(now - p.last_seen);
  }
  if (p.rtt.has_value()) j["rtt_ms"] = absl::ToDoubleMilliseconds(*p.rtt);
  if (p.heard()) {
    j["capacity"] = {{"cpu_cores", p.heartbeat.cpu_cores},
                     {"memory_bytes", p.heartbeat.memory_bytes},
                     {"max_concurrent", p.heartbeat.max_concurrent},
                     {"fuel_per_second", p.heartbeat.fuel_per_second},
                     {"storage_free", p.heartbeat.storage_free}};
    j["load"] = {{"running", p.heartbeat.running},
                 {"queued", p.heartbeat.queued},
                 {"draining", p.heartbeat.draining}};
    j["capabilities"] = p.heartbeat.capabilities;
    j["federations"] = p.heartbeat.federations;
    if (!p.heartbeat.zone.empty()) j["zone"] = p.heartbeat.zone;
  }
  return j;
}

absl::StatusOr<std::unique_ptr<PeerTable>> PeerTable::Open(std::filesystem::path path,
                                                           std::string self_did) {
  std::unique_ptr<PeerTable> table(new PeerTable(std::move(path), std::move(self_did)));
  MESH_RETURN_IF_ERROR(table->Load());
  return table;
}

absl::Status PeerTable::Load() {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) return absl::OkStatus();
  absl::StatusOr<std::string> text = ReadFileToString(path_, 16 << 20);
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("peers") || !j["peers"].is_array()) {
    // The table is a cache of what heartbeats will tell again: keep the file for a look, and
    // start from the bootstrap addresses.
    std::filesystem::path aside = path_;
    aside += ".damaged";
    std::filesystem::rename(path_, aside, ec);
    spdlog::warn("peer table {} does not parse; moved to {} and starting without it",
                 path_.string(), aside.string());
    return absl::OkStatus();
  }
  absl::MutexLock lock(&mu_);
  for (const nlohmann::json& e : j["peers"]) {
    if (!e.is_object() || !e.contains("address") || !e["address"].is_string()) continue;
    Peer p;
    p.address = e["address"].get<std::string>();
    if (e.contains("did") && e["did"].is_string()) p.did = e["did"].get<std::string>();
    if (e.contains("last_seen_ms") && e["last_seen_ms"].is_number_integer()) {
      p.last_seen = absl::FromUnixMillis(e["last_seen_ms"].get<int64_t>());
      p.first_seen = p.last_seen;
    }
    if (p.did == self_ || p.address.empty()) continue;
    peers_.push_back(std::move(p));
  }
  return absl::OkStatus();
}

Peer* PeerTable::FindLocked(const std::string& did, const std::string& address) {
  if (!did.empty()) {
    for (Peer& p : peers_) {
      if (p.did == did) return &p;
    }
  }
  if (!address.empty()) {
    for (Peer& p : peers_) {
      if (p.address == address && (p.did.empty() || did.empty())) return &p;
    }
  }
  return nullptr;
}

void PeerTable::AddAddress(const std::string& address, const std::string& did) {
  if (address.empty() || (!did.empty() && did == self_)) return;
  absl::MutexLock lock(&mu_);
  if (FindLocked(did, address) != nullptr) return;
  Peer p;
  p.did = did;
  p.address = address;
  peers_.push_back(std::move(p));
  dirty_ = true;
}

void PeerTable::SetViews(const std::vector<membership::Contact>& active,
                         const std::vector<membership::Contact>& passive, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto in = [](const std::vector<membership::Contact>& view, const std::string& did) {
    return std::find_if(view.begin(), view.end(),
                        [&](const membership::Contact& c) { return c.id == did; }) != view.end();
  };
  const size_t before = peers_.size();
  std::erase_if(peers_, [&](const Peer& p) {
    return !p.did.empty() && !in(active, p.did) && !in(passive, p.did);
  });
  if (peers_.size() != before) dirty_ = true;
  auto place = [&](const membership::Contact& c, PeerState state) {
    if (c.id.empty() || c.id == self_) return;
    Peer* p = FindLocked(c.id.str(), c.address);
    if (p == nullptr) {
      peers_.push_back(Peer{});
      p = &peers_.back();
      p->first_seen = now;
    }
    if (p->did != c.id || (p->address != c.address && !c.address.empty())) dirty_ = true;
    p->did = c.id.str();
    if (!c.address.empty()) p->address = c.address;
    if (p->state != state) {
      // A passive peer's load is not followed: what it last told is stale.
      if (state != PeerState::kAlive) p->heartbeat = job::Heartbeat{};
      p->state = state;
    }
  };
  for (const membership::Contact& c : active) place(c, PeerState::kAlive);
  for (const membership::Contact& c : passive) place(c, PeerState::kPassive);
}

bool PeerTable::Heard(const job::Heartbeat& hb, absl::Time now, std::optional<absl::Duration> rtt) {
  if (hb.node == self_) return false;
  absl::MutexLock lock(&mu_);
  Peer* p = FindLocked(hb.node, hb.address);
  if (p == nullptr) return false;
  if (p->did != hb.node || p->address != hb.address) dirty_ = true;
  p->did = hb.node;
  p->address = hb.address;
  p->last_seen = now;
  p->failures = 0;
  if (rtt.has_value()) {
    // Smoothed like TCP's SRTT (RFC 6298): one slow reply does not swing the latency score.
    p->rtt = p->rtt.has_value() ? (*p->rtt * 7 + *rtt) / 8 : *rtt;
  }
  p->heartbeat = hb;
  // The same DID may have been known under an old address (a restart on a new port).
  std::erase_if(peers_,
                [&](const Peer& q) { return &q != p && q.did.empty() && q.address == hb.address; });
  return true;
}

void PeerTable::Touch(const std::string& did, absl::Time now) {
  absl::MutexLock lock(&mu_);
  Peer* p = FindLocked(did, "");
  if (p == nullptr || p->state != PeerState::kAlive) return;  // liveness comes from heartbeats
  p->last_seen = now;
  p->failures = 0;
}

void PeerTable::Failed(const std::string& address) {
  absl::MutexLock lock(&mu_);
  for (Peer& p : peers_) {
    if (p.address == address) ++p.failures;
  }
}

std::vector<Peer> PeerTable::All() const {
  absl::MutexLock lock(&mu_);
  return peers_;
}

std::vector<Peer> PeerTable::Alive() const {
  absl::MutexLock lock(&mu_);
  std::vector<Peer> alive;
  for (const Peer& p : peers_) {
    if (p.state == PeerState::kAlive) alive.push_back(p);
  }
  return alive;
}

std::vector<membership::Contact> PeerTable::Contacts() const {
  absl::MutexLock lock(&mu_);
  std::vector<membership::Contact> out;
  for (const Peer& p : peers_) {
    if (!p.did.empty()) out.push_back({p.did, p.address});
  }
  return out;
}

std::vector<market::KnownNode> PeerTable::Passive() const {
  absl::MutexLock lock(&mu_);
  std::vector<market::KnownNode> out;
  for (const Peer& p : peers_) {
    if (p.state == PeerState::kPassive && !p.did.empty()) out.push_back({p.did, p.address});
  }
  return out;
}

std::vector<std::string> PeerTable::Unresolved() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const Peer& p : peers_) {
    if (p.did.empty()) out.push_back(p.address);
  }
  return out;
}

std::optional<Peer> PeerTable::Find(const std::string& did) const {
  absl::MutexLock lock(&mu_);
  for (const Peer& p : peers_) {
    if (p.did == did) return p;
  }
  return std::nullopt;
}

size_t PeerTable::alive_count() const {
  absl::MutexLock lock(&mu_);
  return std::count_if(peers_.begin(), peers_.end(),
                       [](const Peer& p) { return p.state == PeerState::kAlive && p.heard(); });
}

absl::Status PeerTable::Save() {
  nlohmann::json peers = nlohmann::json::array();
  {
    absl::MutexLock lock(&mu_);
    if (!dirty_) return absl::OkStatus();
    for (const Peer& p : peers_) {
      nlohmann::json e = {{"did", p.did}, {"address", p.address}};
      if (p.last_seen != absl::UnixEpoch()) e["last_seen_ms"] = absl::ToUnixMillis(p.last_seen);
      peers.push_back(std::move(e));
    }
    dirty_ = false;
  }
  return WriteFileAtomically(path_, nlohmann::json{{"peers", peers}}.dump(2) + "\n", 0600,
                             /*overwrite=*/true);
}

}  // namespace mesh::node
