// A job's verification mode (JobSpec.verification) and the adaptive policy that decides, per
// job, how many replicas to run.
//
//   none          the executor's result is taken as is (its signed receipt still binds it)
//   hash          the output is fetched and checked against the CID the receipt names
//   replicate(k)  k executors run the job; a strict majority of k must agree (quorum.h)
//   adaptive      replicas as the executor's record and the job's value warrant (below)
//
// Adaptive is BOINC's adaptive replication carried into a market. Replicating everything
// triples the cost of honest work; replicating nothing pays cheaters. What an executor has
// earned decides: an executor with a track record of verified results and a high reputation
// runs low-value jobs alone, and a random fraction of those (spot_check_rate) is re-run on a
// second executor anyway. The executor cannot tell which jobs are checked, so a liar is caught
// after about 1/spot_check_rate lies, its reputation collapses, and from then on every one of its
// jobs is replicated, so lying stops paying. Unknown executors are replicated until they have a
// record (one cannot buy trust by arriving), suspect ones always, and a job worth more than a
// spot check can protect is replicated whoever runs it. Fewer replicas never follow
// from a lower reputation, fewer verified results or a higher value (tested).
//
// Pure functions and value types; thread-safe. Randomness is injected (a uniform double).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mesh::verify {

enum class Mode { kNone, kHash, kReplicate, kAdaptive };

inline constexpr int kMaxReplicas = 9;      // replicate(k) accepts 1..kMaxReplicas
inline constexpr int kDefaultReplicas = 3;  // "replicate" alone

struct Verification {
  Mode mode = Mode::kNone;
  // kReplicate: k. 1 for the other modes (adaptive decides per job with PlanAdaptive).
  int replicas = 1;

  friend bool operator==(const Verification&, const Verification&) = default;
};

// "none", "hash", "replicate(k)" with k in 1..9 written without leading zeros, "replicate"
// (= replicate(3)) or "adaptive"; lower case, no spaces: one spelling per value, so that
// ToString(Parse(x)) == x for canonical specs. Even k is allowed (replicate(2) needs both to
// agree; a 1-1 split adds a replica), odd k is recommended: it decides without adding one.
absl::StatusOr<Verification> ParseVerification(std::string_view text);
std::string ToString(const Verification& verification);  // "replicate(3)", "adaptive", ...

struct AdaptiveInput {
  double executor_reputation = 0;  // 0..1 from the ledger; 0 for an unknown executor
  uint64_t verified_results = 0;   // its results confirmed by a quorum or a spot check
  int64_t job_value = 0;           // credits at stake (the job's max_price)
};

// Thresholds. The defaults are what verify_bench measured (bench/README.md): with 5% lying
// executors (always or on 10% of their jobs, colluding or not) adaptive accepted no more wrong
// results than replicate(3) for 1.34-1.48x the fuel of none (replicate(3): 3x).
struct AdaptivePolicy {
  // Fewer verified results than this: unknown, replicated (unknown_replicas) whatever its
  // reputation. Twenty agreements cost an honest newcomer twenty double runs, once; with ten, a
  // liar that lies on one job in ten slips through the record 35% of the time (0.9^10), with
  // twenty 12%, and verify_bench's occasional liars then beat replicate(3).
  uint64_t min_track_record = 20;
  // Reputation at or above which an executor with a track record runs low-value jobs alone.
  double trusted_reputation = 0.9;
  // Below this the executor has been outvoted recently: suspect_replicas for every job.
  double suspect_reputation = 0.5;
  // Jobs worth at most this may run alone. Above it, a spot check's deterrence (an expected
  // loss of reputation) is too small against the gain of one lie: unknown_replicas.
  int64_t low_value = 1'000;
  // Jobs worth at least this get high_value_replicas (at least) whoever runs them.
  int64_t high_value = 100'000;
  // Two replicas, not three, for unknown and suspect executors: a 1-1 split makes DecideQuorum
  // add a third, so a lone liar is outvoted exactly as with three, and the chance that the
  // others include a colluding liar is the same (1 - (1 - liars)^2 either way); an honest
  // executor that is agreed with costs two runs instead of three. Three from the start is for
  // high-value jobs, where the second round's latency is worth avoiding.
  int unknown_replicas = 2;
  int suspect_replicas = 2;
  int high_value_replicas = 3;
  // Probability that a job run alone gets a second replica anyway. 10%: a liar's expected run
  // of undetected lies is (1 - rate) / rate = 9, for 10% more fuel on trusted work.
  double spot_check_rate = 0.1;
};

// InvalidArgument when thresholds are out of range or inconsistent (suspect > trusted, low_value
// > high_value, replicas outside 1..kMaxReplicas, unknown above suspect or high-value replicas,
// rate outside [0, 1]).
absl::Status ValidateAdaptivePolicy(const AdaptivePolicy& policy);

struct AdaptivePlan {
  int replicas = 1;
  double spot_check_rate = 0;  // > 0 only when replicas == 1
  // "trusted executor (reputation 0.97, 42 verified results), job worth 120 credits: 1
  // replica, spot check 10%"
  std::string reason;
};

// Reputation outside [0, 1] is clamped; a negative value counts as 0.
AdaptivePlan PlanAdaptive(const AdaptiveInput& input, const AdaptivePolicy& policy = {});

// The most replicas a job of this verification may need, which its escrow must hold:
// replicate(k): k; adaptive: the policy's largest replica count; none and hash: 1.
int EscrowReplicas(const Verification& verification, const AdaptivePolicy& policy);

// Whether this job gets its spot-check replica; `uniform` is a draw in [0, 1) from the caller's
// Rng (the decision must be replayable, and unpredictable to the executor).
bool ShouldSpotCheck(const AdaptivePlan& plan, double uniform);

}  // namespace mesh::verify
