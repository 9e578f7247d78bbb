// ReputationStore: the "reputation" table of a SQLite file, private to src/ledger. One row per
// DID holding its ReputationState; it decides nothing. Not thread-safe: ReputationBook's mutex
// guards it.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "mesh/ledger/reputation_scores.h"
#include "mesh/sqlite/background_checkpoint.h"

namespace mesh::ledger {

class ReputationStore {
 public:
  // Opens (creating) the file and the table.
  static absl::StatusOr<std::unique_ptr<ReputationStore>> Open(const std::filesystem::path& path);
  ~ReputationStore();
  ReputationStore(const ReputationStore&) = delete;
  ReputationStore& operator=(const ReputationStore&) = delete;

  // Sets every stored DID's state in `scores`.
  absl::Status LoadInto(ReputationScores& scores);
  absl::Status Save(std::string_view did, const ReputationState& state);
  // Saves each row in one transaction: all or none.
  absl::Status SaveAll(std::span<const std::pair<std::string, ReputationState>> rows);

 private:
  explicit ReputationStore(sqlite3* db) : db_(db) {}

  sqlite3* const db_;
  std::unique_ptr<sqlite::BackgroundCheckpointer> checkpointer_;  // checkpoints beside commits
};

}  // namespace mesh::ledger
