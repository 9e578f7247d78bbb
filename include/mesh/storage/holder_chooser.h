// Where a stored file's shards go: HolderChooser ranks the peers that could hold them and hands
// them out one at a time, each next one from the failure domain (zone) holding the fewest of
// the file's shards so far, so losing a zone loses as few shards as possible. A peer that
// refuses (over its quota, unreachable) is set aside with the reason, and the next is asked.
// Every peer left out carries a reason: `mesh store put` says why it found too few holders.
//
// Pure: no I/O, no clock. Not thread-safe (one put owns one chooser).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mesh::storage {

struct HolderCandidate {
  std::string did;
  std::string address;
  bool alive = false;                  // in the active view with a heartbeat in
  std::optional<uint64_t> free_bytes;  // room it advertised; unknown for a passive peer
  double reputation = 0.5;             // 0..1
  std::string zone;                    // empty: a zone of its own
};

struct LeftOut {
  std::string did;
  std::string reason;
};

class HolderChooser {
 public:
  // `bytes_per_holder`: what one holder is asked to keep (one shard of every segment).
  HolderChooser(std::vector<HolderCandidate> candidates, uint64_t bytes_per_holder,
                double min_reputation);

  // Peers still untried that passed the filters.
  size_t available() const { return ranked_.size() - next_tried_; }
  // The best untried peer of the least used zone, or none when every peer was tried.
  std::optional<HolderCandidate> Next();
  // The outcome of asking the peer Next() gave.
  void Accepted(const HolderCandidate& holder);
  void Refused(const HolderCandidate& holder, std::string reason);

  // Filtered out or refused, with the reason.
  const std::vector<LeftOut>& left_out() const { return left_out_; }
  // "did: reason; did: reason" (at most `max` of them).
  std::string Explain(size_t max = 8) const;

 private:
  std::vector<HolderCandidate> ranked_;  // best first; [0, next_tried_) are no longer offered
  size_t next_tried_ = 0;
  std::map<std::string, int> zone_use_;  // accepted holders per zone
  std::vector<LeftOut> left_out_;
};

}  // namespace mesh::storage
