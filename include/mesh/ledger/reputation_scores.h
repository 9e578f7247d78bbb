// ReputationScores: the reputation model's rules, in memory, with no storage and no clock (time
// is a parameter). ReputationBook (reputation.h) puts it behind a mutex, a Clock and an optional
// SQLite table; the market core and the simulator can use it alone.
//
// The model is a Beta estimate with forgetting: per DID, `good` and `bad` are decayed sums of
// event weights, and score = (prior × prior_weight + good) / (prior_weight + good + bad), in
// [0, 1]. A new DID has no evidence and scores exactly the prior. A verified success adds to
// good; a failure or timeout adds to bad; a result outvoted by the majority adds
// outvoted_weight (4 by default) to bad, because a wrong answer that looked right costs more
// than an honest failure. Both sums halve every half_life, so old behaviour fades and the score
// drifts back to the prior — a node cannot bank good behaviour forever, nor is punished forever.
// Lifetime counts are kept apart and never decay, so "new" (no events) and "trusted" (many
// events, high score) can be told apart.
//
// Not thread-safe; a value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace mesh::ledger {

enum class ReputationEvent { kSuccess, kFailure, kTimeout, kOutvoted };
std::string_view ReputationEventName(ReputationEvent event);

struct ReputationOptions {
  double prior = 0.5;         // score of a DID with no evidence
  double prior_weight = 2.0;  // how many events the prior is worth
  double success_weight = 1.0;
  double failure_weight = 1.0;
  double timeout_weight = 1.0;
  double outvoted_weight = 4.0;
  absl::Duration half_life = absl::Hours(24 * 7);
};
// InvalidArgument unless prior is in [0,1], weights are finite and > 0, half-life > 0.
absl::Status Validate(const ReputationOptions& options);

struct Reputation {
  std::string did;
  double score = 0.5;
  double evidence = 0;  // decayed weight behind the score (good + bad)
  int64_t successes = 0, failures = 0, timeouts = 0, outvoted = 0;  // lifetime, never decay
  absl::Time updated = absl::InfinitePast();                        // last event

  int64_t events() const { return successes + failures + timeouts + outvoted; }
  bool is_new() const { return events() == 0; }
};

// What is kept per DID (and stored): the decayed sums as of `at`, and the lifetime counts.
struct ReputationState {
  double good = 0, bad = 0;
  absl::Time at = absl::InfinitePast();  // when good and bad were last decayed
  int64_t counts[4] = {0, 0, 0, 0};      // by ReputationEvent
  absl::Time updated = absl::InfinitePast();
  friend bool operator==(const ReputationState&, const ReputationState&) = default;
};

class ReputationScores {
 public:
  explicit ReputationScores(ReputationOptions options = {});

  // The DID's state after `event` at `now` (decided, not applied).
  ReputationState After(std::string_view did, ReputationEvent event, absl::Time now) const;
  // `current` after `event` at `now`: After for a state not (yet) in this book.
  ReputationState Next(const ReputationState& current, ReputationEvent event, absl::Time now) const;
  // The DID's stored state, or null for a DID never seen.
  const ReputationState* Find(std::string_view did) const;
  void Set(std::string_view did, const ReputationState& state);
  // After + Set; returns the DID's reputation then.
  Reputation Record(std::string_view did, ReputationEvent event, absl::Time now);

  // Decayed to `now`; a DID never seen is new, at the prior.
  Reputation Get(std::string_view did, absl::Time now) const;
  // Every known DID's score at `now`, for selection.
  absl::flat_hash_map<std::string, double> Scores(absl::Time now) const;
  // Every known DID, sorted by DID.
  std::vector<Reputation> All(absl::Time now) const;

  const ReputationOptions& options() const { return options_; }
  friend bool operator==(const ReputationScores& a, const ReputationScores& b) {
    return a.states_ == b.states_;
  }

 private:
  ReputationState DecayedTo(const ReputationState& s, absl::Time now) const;
  Reputation View(std::string_view did, const ReputationState& s, absl::Time now) const;

  ReputationOptions options_;
  absl::flat_hash_map<std::string, ReputationState> states_;
};

// For adaptive verification: enough track record and a high enough score to verify this
// executor's work by spot checks instead of replication.
bool IsTrusted(const Reputation& r, int64_t min_events = 10, double min_score = 0.8);

// The submit cost priced by the submitter's reputation: base × (1.5 − score), rounded up, so a
// new DID (prior 0.5) pays base, a perfect one half, and one at 0 half again as much.
int64_t SubmitFee(int64_t base_fee, const Reputation& submitter);

}  // namespace mesh::ledger
