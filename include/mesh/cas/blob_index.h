// BlobIndex: the SQLite (WAL mode) catalogue of the blob store: which CIDs are present, their
// sizes and when they were stored. The files are the truth for content, the index for
// membership and accounting. Thread-safe: one connection behind a mutex.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/sqlite/background_checkpoint.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mesh::cas {

struct BlobRecord {
  std::string cid;
  uint64_t size = 0;
  absl::Time stored_at;
};

class BlobIndex {
 public:
  static absl::StatusOr<std::unique_ptr<BlobIndex>> Open(const std::filesystem::path& db_path);
  ~BlobIndex();

  absl::StatusOr<std::optional<BlobRecord>> Find(const std::string& cid);
  // Inserts; an existing row is left as it is. Returns true when a row was added.
  absl::StatusOr<bool> Insert(const BlobRecord& record);
  // Returns true when a row was removed.
  absl::StatusOr<bool> Remove(const std::string& cid);
  // Rows ordered by CID, starting after `after` (exclusive), at most `limit`.
  absl::StatusOr<std::vector<BlobRecord>> List(const std::string& after, size_t limit);
  absl::StatusOr<uint64_t> TotalBytes();
  absl::StatusOr<uint64_t> Count();

 private:
  explicit BlobIndex(sqlite3* db) : db_(db) {}
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(const char* what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  sqlite3_stmt* find_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<sqlite::BackgroundCheckpointer> checkpointer_;  // checkpoints beside commits
};

}  // namespace mesh::cas
