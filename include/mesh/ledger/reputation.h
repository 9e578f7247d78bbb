// ReputationBook: how far each executor DID has earned trust, for selection (sched's
// BidView::reputation), adaptive verification (replicate a new or doubtful executor's work,
// spot-check a trusted one's) and pricing (SubmitFee).
//
// The model is a Beta estimate with forgetting: per DID, `good` and `bad` are decayed sums of
// event weights, and score = (prior × prior_weight + good) / (prior_weight + good + bad), in
// [0, 1]. A new DID has no evidence and scores exactly the prior. A verified success adds to
// good; a failure or timeout adds to bad; a result outvoted by the majority adds
// outvoted_weight (4 by default) to bad, because a wrong answer that looked right costs more
// than an honest failure. Both sums halve every half_life, so old behaviour fades and the score
// drifts back to the prior — a node cannot bank good behaviour forever, nor is punished forever.
// Lifetime counts are kept apart and never decay, so "new" (no events) and "trusted" (many
// events, high score) can be told apart. Time comes only from the injected Clock.
//
// In memory, or persisted to a table "reputation" in a SQLite file (it may be the ledger's
// file): every Record writes its row before it returns. Thread-safe (internally synchronized).
// The clock must outlive the book.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/common/clock.h"

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

class ReputationBook {
 public:
  // In memory only.
  explicit ReputationBook(const Clock& clock, ReputationOptions options = {});
  // Persisted in `path` (created if missing), loaded now.
  static absl::StatusOr<std::unique_ptr<ReputationBook>> Open(const std::filesystem::path& path,
                                                              const Clock& clock,
                                                              ReputationOptions options = {});
  ~ReputationBook();
  ReputationBook(const ReputationBook&) = delete;
  ReputationBook& operator=(const ReputationBook&) = delete;

  // Returns the DID's reputation after the event. Errors only from persistence (the in-memory
  // state is not changed then) or for an empty DID.
  absl::StatusOr<Reputation> Record(std::string_view did, ReputationEvent event);
  // Decayed to now; a DID never seen is new, at the prior.
  Reputation Get(std::string_view did) const;
  // Every known DID's score now, for selection.
  absl::flat_hash_map<std::string, double> Scores() const;
  // Every known DID, sorted by DID.
  std::vector<Reputation> All() const;

  const ReputationOptions& options() const { return options_; }

 private:
  struct State {
    double good = 0, bad = 0;
    absl::Time at = absl::InfinitePast();  // when good and bad were last decayed
    int64_t counts[4] = {0, 0, 0, 0};      // by ReputationEvent
    absl::Time updated = absl::InfinitePast();
  };
  ReputationBook(const Clock& clock, ReputationOptions options, sqlite3* db);
  absl::Status Load() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Save(std::string_view did, const State& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  State DecayedTo(const State& s, absl::Time now) const;
  Reputation View(std::string_view did, const State& s, absl::Time now) const;

  const Clock& clock_;
  const ReputationOptions options_;
  mutable absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;  // null = in memory
  absl::flat_hash_map<std::string, State> states_ ABSL_GUARDED_BY(mu_);
};

// For adaptive verification: enough track record and a high enough score to verify this
// executor's work by spot checks instead of replication.
bool IsTrusted(const Reputation& r, int64_t min_events = 10, double min_score = 0.8);

// The submit cost priced by the submitter's reputation: base × (1.5 − score), rounded up, so a
// new DID (prior 0.5) pays base, a perfect one half, and one at 0 half again as much.
int64_t SubmitFee(int64_t base_fee, const Reputation& submitter);

}  // namespace mesh::ledger
