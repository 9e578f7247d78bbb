// PeerTable: the nodes this node knows — the membership's views (membership/membership.h: the
// active view, whose peers exchange heartbeats with this node, and the passive view) plus the
// bootstrap addresses (--peer) whose DID no heartbeat has told yet — with each active peer's
// capacity and load from its last heartbeat. Bounded: SetViews forgets whatever left both views.
// The table is persisted (peers.json, written atomically) so a restarted node finds its mesh
// again without its bootstrap flags. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/job/market.h"
#include "mesh/market/market_types.h"
#include "mesh/membership/membership.h"
#include "nlohmann/json.hpp"

namespace mesh::node {

// kAlive: in the active view. kPassive: in the passive view (known, not probed). kUnknown: a
// bootstrap or saved address not (yet) in a view.
enum class PeerState { kUnknown, kAlive, kPassive };
std::string_view PeerStateName(PeerState state);

struct Peer {
  std::string did;  // empty for a bootstrap address not yet heard from
  std::string address;
  PeerState state = PeerState::kUnknown;
  absl::Time first_seen = absl::UnixEpoch();
  absl::Time last_seen = absl::UnixEpoch();  // last signed message from it
  std::optional<absl::Duration> rtt;         // smoothed heartbeat round trip
  int failures = 0;                          // calls failed since last heard
  job::Heartbeat heartbeat;                  // capacity, load, its peers
  bool has_free_slot() const { return heartbeat.running < heartbeat.max_concurrent; }
  bool heard() const { return !heartbeat.node.empty(); }  // its capacity and load are known
};

nlohmann::json ToJson(const Peer& peer, absl::Time now);

class PeerTable {
 public:
  // Loads `path` if it exists (a damaged file is set aside with a warning, not fatal).
  static absl::StatusOr<std::unique_ptr<PeerTable>> Open(std::filesystem::path path,
                                                         std::string self_did);

  // A bootstrap address; ignored if known (or our own).
  void AddAddress(const std::string& address, const std::string& did = "");
  // The membership's views after a step: their peers are alive (active) or passive, in the
  // table; a peer with a DID in neither is forgotten.
  void SetViews(const std::vector<membership::Contact>& active,
                const std::vector<membership::Contact>& passive, absl::Time now);
  // A signed heartbeat from `hb.node` (at `address`, round trip `rtt` if it was a reply): its
  // capacity and load. A bootstrap address that answers learns its DID here. Returns false, and
  // records nothing, for a node the table does not hold.
  bool Heard(const job::Heartbeat& hb, absl::Time now, std::optional<absl::Duration> rtt);
  // Any other signed message from `did`.
  void Touch(const std::string& did, absl::Time now);
  // A call to `address` failed.
  void Failed(const std::string& address);

  std::vector<Peer> All() const;
  std::vector<Peer> Alive() const;
  // The peers known by DID (for membership's seed list), and the addresses whose DID is not.
  std::vector<membership::Contact> Contacts() const;
  std::vector<std::string> Unresolved() const;
  // The passive view's peers (known, not asked): the market's Directory.
  std::vector<market::KnownNode> Passive() const;
  std::optional<Peer> Find(const std::string& did) const;
  // Active peers whose heartbeat told their capacity (the ones the market can ask).
  size_t alive_count() const;

  // Writes the table if it changed since the last save.
  absl::Status Save();

 private:
  PeerTable(std::filesystem::path path, std::string self_did)
      : path_(std::move(path)), self_(std::move(self_did)) {}
  absl::Status Load();
  Peer* FindLocked(const std::string& did, const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::filesystem::path path_;
  const std::string self_;
  mutable absl::Mutex mu_;
  std::vector<Peer> peers_ ABSL_GUARDED_BY(mu_);
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mesh::node
