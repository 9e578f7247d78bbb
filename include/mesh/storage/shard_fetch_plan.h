// Which shards of one segment to fetch, and when: any k of the k+m will do, so a get asks the k
// fastest holders first (their round trips; a data shard before a parity shard at equal speed,
// since k data shards need no decoding), replaces a failed fetch with the next holder, and
// hedges: a fetch still running past the hedge delay gets a spare started beside it, and
// whichever k arrive first win. The delay is learnt: a few times the typical fetch so far
// (Typical() carries it to the next segment), or `first_hedge` before any fetch finished.
//
// Pure: the caller passes the time in and starts the fetches it is told to. Not thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "absl/time/time.h"

namespace mesh::storage {

struct ShardFetchOptions {
  absl::Duration first_hedge = absl::Seconds(2);      // before any fetch finished
  absl::Duration min_hedge = absl::Milliseconds(50);  // never hedge sooner than this
  double hedge_factor = 3;                            // x the typical fetch
};

class SegmentFetchPlan {
 public:
  // `rtt[i]`: shard i's holder's round trip (unknown: after every known one); k+m entries.
  // `unavailable[i]`: shard i has no holder to ask. `typical`: the typical fetch of an earlier
  // segment, if any.
  SegmentFetchPlan(int k, const std::vector<std::optional<absl::Duration>>& rtt,
                   const std::vector<bool>& unavailable, ShardFetchOptions options,
                   std::optional<absl::Duration> typical = std::nullopt);

  // The first k shards to fetch (fewer if fewer are available).
  std::vector<int> Start(absl::Time now);
  // A fetch ended. Returns the shards to start in its place (a failure's replacement).
  std::vector<int> Finished(int shard, bool ok, absl::Time now);
  // Returns a spare for each fetch running past the hedge delay (once per fetch).
  std::vector<int> Tick(absl::Time now);
  // When Tick next has something to do; InfiniteFuture when nothing could be hedged.
  absl::Time next_tick() const;

  bool done() const { return arrived_ >= k_; }
  // Fewer than k can still arrive: every shard not arrived has failed or has no holder.
  bool failed() const;
  // Shards that arrived (the caller keeps their bytes).
  const std::vector<int>& arrived() const { return arrived_list_; }
  // The median of the fetches that succeeded, if any (hedge delays of the next segment).
  std::optional<absl::Duration> Typical() const;

 private:
  enum class State { kWaiting, kRunning, kArrived, kFailed, kNoHolder };
  struct Shard {
    State state = State::kWaiting;
    absl::Time started;
    bool hedged = false;  // a spare was started for it
  };
  std::optional<int> NextWaiting();  // in order_, and marks it running
  absl::Duration HedgeDelay() const;

  const int k_;
  const ShardFetchOptions options_;
  std::vector<Shard> shards_;
  std::vector<int> order_;  // fastest first
  std::optional<absl::Duration> prior_typical_;
  std::vector<absl::Duration> took_;  // successful fetches
  std::vector<int> arrived_list_;
  int arrived_ = 0;
};

}  // namespace mesh::storage
