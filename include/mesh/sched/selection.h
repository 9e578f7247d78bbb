// Selection: the submitter's choice among bids. First every bid is filtered against the
// announcement (requirements, price, reputation, trust scope, freshness); a filtered bid keeps
// a reason. The rest are scored with a SelectionPolicy — a weighted sum of normalised price,
// reputation, resources, latency and finish-time scores, each in [0,1] — and ranked; ties break
// on lower price, then lower expected start, then the executor DID, so the same bids always
// give the same winner. Every losing bid keeps a reason that says how it compared with the winner.
// Pure functions of their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/job/market.h"
#include "nlohmann/json.hpp"

namespace mesh::sched {

struct SelectionPolicy {
  double price_weight = 0.4;
  double reputation_weight = 0.3;
  double resources_weight = 0.15;
  double latency_weight = 0.15;
  // Expected finish (the bid's start plus the fuel limit at its speed score). Counted only in
  // auctions where some bid names one: without speed scores the other weights decide alone.
  double finish_weight = 0.2;
  double default_reputation = 0.5;  // for an executor with no history
  // Latency at which the latency score falls to 0.5 (score = half / (half + rtt)).
  absl::Duration latency_half = absl::Milliseconds(20);
};

nlohmann::json ToJson(const SelectionPolicy& policy);
// Weights must be finite and >= 0 with a positive sum; unknown keys are errors naming the path.
absl::StatusOr<SelectionPolicy> SelectionPolicyFromJson(const nlohmann::json& json);

// A bid with what the submitter knows about its executor.
struct BidView {
  job::Bid bid;
  std::string bid_cid;                // CID of the bid's envelope
  std::optional<double> reputation;   // 0..1; nullopt = no history (policy default)
  std::optional<absl::Duration> rtt;  // measured round trip; nullopt = unknown (scores 0.5)
  bool known_peer = false;            // in the peer table (for trust_scope "known")
  // Jobs this submitter has assigned to the executor and not yet seen finish, per slot. A bid
  // reports the load its executor saw when it bid; auctions that close together all see the
  // same idle executor, so the submitter adds what it knows it sent since. The score uses
  // max(bid.load, assigned_load): in steady state the bid's load already counts these jobs.
  double assigned_load = 0;
  // How much of its earlier speed promises the executor kept for this submitter (0..1]: its
  // expected run (now to expected finish) is divided by it, so an overstated speed score stops
  // paying after a run or two.
  double speed_trust = 1.0;
};

// The load a bid is scored with: max(bid.load, assigned_load), at least 0.
double EffectiveLoad(const BidView& view);

struct Rejection {
  std::string executor;
  std::string code;     // "price", "reputation", "memory", "cpu", "storage", "capability",
                        // "federation", "trust_scope", "expired", "excluded", "wrong_job"
  std::string message;  // "price 120 exceeds max_price 100"
};

struct ScoredBid {
  std::string executor;
  std::string executor_address;
  std::string bid_cid;
  uint64_t price = 0;
  double score = 0;
  double price_score = 0, reputation_score = 0, resources_score = 0, latency_score = 0;
  // Shortest expected run among the bids / this bid's (from now to its finish); 0.5 without an
  // estimate when others have one; 0 and not counted when no bid has one.
  double finish_score = 0;
  int64_t expected_start_ms = 0;   // the bid's
  int64_t expected_finish_ms = 0;  // the bid's; 0 = none
  uint64_t fuel_per_second = 0;    // the bid's speed score; 0 = none
  double load = 0;                 // EffectiveLoad of the bid
  bool won = false;
  std::string reason;  // "selected: best score 0.81" / "lost: score 0.62 < 0.81 (price 130 vs 100)"
};

struct Selection {
  std::vector<ScoredBid> ranked;    // best first; the first `winners` with won = true
  std::vector<Rejection> rejected;  // filtered out, in the order the bids were given
  std::string summary;              // one line for logs and `mesh job --explain`
  bool has_winner() const { return !ranked.empty() && ranked.front().won; }
};

// Why `bid` cannot serve `announce`, or nullopt if it can. Checks, in order: job and round,
// exclusion, expiry (valid_until before `now`), max_price, min_reputation (an executor with no
// history counts as policy.default_reputation), cpu, memory (the larger of the requirement and
// the announced memory limit), storage, every required capability, the federations (at least
// one in common when any are required), and the trust scope: "known" needs known_peer;
// "federation" needs a federation in common with requirements.federations, which the origin
// fills with its own federations when the spec names none (an announcement with none passes no
// bid).
std::optional<Rejection> FilterBid(const job::Announce& announce, const BidView& bid,
                                   absl::Time now, const SelectionPolicy& policy = {});
// Filters, scores and ranks; marks the best `winners` (distinct executors) as won.
Selection Select(const job::Announce& announce, const std::vector<BidView>& bids,
                 const SelectionPolicy& policy, absl::Time now, size_t winners = 1);

nlohmann::json ToJson(const Selection& selection);

}  // namespace mesh::sched
