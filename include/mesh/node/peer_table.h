// PeerTable: the nodes this node knows — each peer's DID, address, liveness and the capacity
// and load its last heartbeat reported. Bootstrap addresses (--peer) start without a DID and
// get one from their first signed heartbeat; peer exchange adds the peers other nodes report.
// A peer not heard from for `dead_after` is dead: it is not asked to bid and its assigned jobs
// are re-announced. The table is persisted (peers.json, written atomically) so a restarted
// node finds its mesh again without its bootstrap flags. Thread-safe.
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
#include "nlohmann/json.hpp"

namespace mesh::node {

enum class PeerState { kUnknown, kAlive, kDead };
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
};

nlohmann::json ToJson(const Peer& peer, absl::Time now);

class PeerTable {
 public:
  // Loads `path` if it exists (a damaged file is set aside with a warning, not fatal).
  static absl::StatusOr<std::unique_ptr<PeerTable>> Open(std::filesystem::path path,
                                                         std::string self_did);

  // A bootstrap or exchanged address; ignored if known (or our own).
  void AddAddress(const std::string& address, const std::string& did = "");
  // A signed heartbeat from `hb.node` (at `address`, round trip `rtt` if it was a reply).
  // Returns true if the peer was not alive before (new, or back from the dead).
  bool Heard(const job::Heartbeat& hb, absl::Time now, std::optional<absl::Duration> rtt);
  // Any other signed message from `did`: it is alive.
  void Touch(const std::string& did, absl::Time now);
  // A call to `address` failed.
  void Failed(const std::string& address);
  // Marks peers silent for `dead_after` dead; returns the DIDs that just died.
  std::vector<std::string> Sweep(absl::Time now, absl::Duration dead_after);

  std::vector<Peer> All() const;
  std::vector<Peer> Alive() const;
  std::optional<Peer> Find(const std::string& did) const;
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
