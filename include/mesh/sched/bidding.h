// Bidding: the executor's side of the market. DecideBid looks at an announcement and this
// node's capacity and either quotes a Bid or declines with a structured reason. Placement
// decides, on the submitter's node, whether a job runs here or goes to the market. The bid
// window decides when to stop waiting for bids. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/common/rng.h"
#include "mesh/job/market.h"
#include "nlohmann/json.hpp"

namespace mesh::sched {

// What this node can offer right now.
struct LocalCapacity {
  std::string did;
  std::string address;
  uint32_t cpu_cores = 1;
  uint64_t memory_bytes = 0;  // largest job memory it accepts
  uint64_t storage_free = 0;
  uint32_t max_concurrent = 1;
  uint32_t running = 0;
  uint32_t queued = 0;
  bool draining = false;
  uint64_t max_module_bytes = 64ull << 20;
  uint64_t max_fuel = 0;         // 0 = no limit
  uint64_t fuel_per_second = 0;  // the speed score (node/host_profile.h); 0 = not measured
  std::vector<std::string> capabilities;
  std::vector<std::string> federations;
  bool operator==(const LocalCapacity&) const = default;
};

struct PricingPolicy {
  uint64_t base_fee = 1;
  uint64_t rate_per_gfuel = 10;
  double load_markup = 0.5;  // price *= 1 + load_markup * load
  uint32_t max_queue = 4;    // jobs waiting beyond the slots; then "no_capacity"
  absl::Duration bid_validity = absl::Seconds(30);
};

nlohmann::json ToJson(const PricingPolicy& policy);
absl::StatusOr<PricingPolicy> PricingPolicyFromJson(const nlohmann::json& json);

// A Bid (header left empty: the caller seals it) or a Decline with a code and message.
// Declines, in order: "draining", "excluded", "too_large" (module or fuel limit), "memory",
// "storage", "cpu", "capability", "federation", "no_capacity" (running + queued jobs fill every
// slot and max_queue more), "price" (the quote exceeds max_price). Load is (running + queued) /
// slots. A bid quotes QuotePrice for the announced fuel times 1 + load_markup * load (rounded
// up), offers this node's resources, and expects to start now if a slot is free, else after
// the jobs ahead of it: ~100 ms each, or with a speed score (fuel per second) each as long as
// this one's fuel limit takes at that speed. With a speed score it also names its expected
// finish: the start plus this job's run (an upper bound: jobs seldom use all their fuel).
// Milliseconds `fuel` takes at `fuel_per_second` (> 0): rounded up, at least 1, capped at a
// year (a bid is untrusted input; its arithmetic must not overflow).
int64_t ExpectedRunMillis(uint64_t fuel, uint64_t fuel_per_second);

std::variant<job::Bid, job::Decline> DecideBid(const job::Announce& announce,
                                               const LocalCapacity& local,
                                               const PricingPolicy& pricing, absl::Time now);

// How heavy a job is, from what is known before it runs: module size, fuel limit, input size.
// In [0, 1]; 1 is "heavy". Logarithmic in each, weighted (fuel dominates): fuel 10^7..10^12
// weighs 0.9, input 64 KiB..4 GiB 0.07, module 16 KiB..64 MiB 0.03.
double ComplexityScore(uint64_t module_bytes, uint64_t fuel, uint64_t input_bytes);

enum class PlacementMode { kAuto, kLocal, kRemote };
std::string_view PlacementModeName(PlacementMode mode);  // "auto", "local", "remote"
absl::StatusOr<PlacementMode> ParsePlacementMode(std::string_view text);

struct PlacementPolicy {
  // In auto mode, jobs at least this complex go to the market when peers exist, even if this
  // node has a free slot (big jobs are worth an auction; tiny ones are not).
  double delegate_complexity = 0.9;
  bool execute_locally = true;  // false: this node never runs its own jobs
};

struct Placement {
  bool local = true;
  std::string reason;  // "local: free slot (1 of 2 running), complexity 0.12"
};

// kLocal and kRemote are obeyed (remote with no live peers waits for peers). kAuto runs here
// when this node runs its own jobs, meets the requirements, has a free slot and the job is below
// delegate_complexity (or no peer is live); otherwise it goes to the market when peers are
// live; with none, a job that merely lacks a slot queues here, and one this node cannot or
// must not run waits for peers.
Placement Place(PlacementMode mode, const job::Requirements& requirements, uint64_t memory_bytes,
                double complexity, const LocalCapacity& local, size_t live_peers,
                const PlacementPolicy& policy);

// When to close an auction: at the deadline, or as soon as every peer asked has answered
// (bid or decline), or once `enough_bids` bids are in. With asked == 0 it waits for the
// deadline (relayed announcements can still bring bids); enough_bids == 0 disables that rule.
struct BidWindow {
  absl::Time deadline;
  size_t asked = 0;
  size_t enough_bids = 3;
};
bool ShouldClose(const BidWindow& window, size_t bids, size_t declines, absl::Time now);

struct RetryPolicy {
  int max_rounds = 5;  // auctions per job after an executor failed (no-bid waits do not count)
  absl::Duration base = absl::Milliseconds(100);
  absl::Duration max = absl::Seconds(10);
};
// The one backoff: min(max, base * 2^attempt), or with `rng` full jitter, uniform in
// [0, that]. A negative attempt counts as 0.
absl::Duration Backoff(absl::Duration base, absl::Duration max, int attempt, Rng* rng = nullptr);
// A new round after an executor failed: with full jitter (policy.base, policy.max).
absl::Duration Backoff(const RetryPolicy& policy, int attempt, Rng& rng);

}  // namespace mesh::sched
