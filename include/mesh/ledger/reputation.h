// ReputationBook: how far each executor DID has earned trust, for selection (sched's
// BidView::reputation), adaptive verification (replicate a new or doubtful executor's work,
// spot-check a trusted one's) and pricing (SubmitFee). The model and its rules are
// ReputationScores (reputation_scores.h); this adds the Clock, a mutex and persistence.
//
// In memory, or persisted to a table "reputation" in a SQLite file (it may be the ledger's
// file): every Record writes its row before it returns, and the in-memory scores change only
// once it is written. Get() answers from memory (the market reads it for every bid).
// Thread-safe (internally synchronized). The clock must outlive the book.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/common/clock.h"
#include "mesh/ledger/reputation_scores.h"

namespace mesh::ledger {

class ReputationStore;  // src/ledger/reputation_store.h

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
  // Records the events in order (a DID may appear more than once) with one write: as Record for
  // each, in one transaction. InvalidArgument for an empty DID and an error from persistence
  // change nothing.
  absl::Status RecordAll(std::span<const std::pair<std::string, ReputationEvent>> events);
  // Decayed to now; a DID never seen is new, at the prior.
  Reputation Get(std::string_view did) const;
  // Every known DID's score now, for selection.
  absl::flat_hash_map<std::string, double> Scores() const;
  // Every known DID, sorted by DID.
  std::vector<Reputation> All() const;

  const ReputationOptions& options() const { return options_; }

 private:
  ReputationBook(const Clock& clock, ReputationOptions options,
                 std::unique_ptr<ReputationStore> store);

  const Clock& clock_;
  const ReputationOptions options_;
  mutable absl::Mutex mu_;
  const std::unique_ptr<ReputationStore> store_ ABSL_PT_GUARDED_BY(mu_);  // null = in memory
  ReputationScores scores_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::ledger
