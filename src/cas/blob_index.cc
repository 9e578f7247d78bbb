#include "mesh/cas/blob_index.h"

#include <sqlite3.h>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/sqlite/sqlite.h"

namespace mesh::cas {
namespace {

// Owns a prepared statement for the duration of one call.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void BindText(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void BindInt(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  int Step() { return sqlite3_step(stmt_); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

BlobRecord ReadRow(sqlite3_stmt* stmt) {
  BlobRecord r;
  r.cid = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  r.size = static_cast<uint64_t>(sqlite3_column_int64(stmt, 1));
  r.stored_at = absl::FromUnixMicros(sqlite3_column_int64(stmt, 2));
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlobIndex>> BlobIndex::Open(const std::filesystem::path& db_path) {
  // A lost index row is repaired by BlobStore's reindex from the files.
  MESH_ASSIGN_OR_RETURN(sqlite3 * db, sqlite::OpenDatabase(db_path.string(), "blob index"));
  std::unique_ptr<BlobIndex> index(new BlobIndex(db));
  absl::MutexLock lock(&index->mu_);
  MESH_RETURN_IF_ERROR(index->Exec(
      "CREATE TABLE IF NOT EXISTS blobs ("
      " cid TEXT PRIMARY KEY, size INTEGER NOT NULL, stored_at INTEGER NOT NULL) WITHOUT ROWID"));
  MESH_ASSIGN_OR_RETURN(index->checkpointer_,
                        sqlite::BackgroundCheckpointer::Start(db, db_path.string(), "blob index"));
  return index;
}

BlobIndex::~BlobIndex() {
  checkpointer_.reset();
  absl::MutexLock lock(&mu_);
  sqlite3_finalize(find_);
  sqlite3_close(db_);
}

absl::Status BlobIndex::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = mesh::StrCat("blob index: ", err ? err : "error", " in: ", sql);
    sqlite3_free(err);
    return absl::InternalError(msg);
  }
  return absl::OkStatus();
}

absl::Status BlobIndex::Error(const char* what) {
  const int code = sqlite3_errcode(db_);
  std::string msg = mesh::StrCat("blob index ", what, ": ", sqlite3_errmsg(db_));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(msg);
  if (code == SQLITE_FULL) return absl::ResourceExhaustedError(msg);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return absl::DataLossError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::optional<BlobRecord>> BlobIndex::Find(const std::string& cid) {
  absl::MutexLock lock(&mu_);
  // Prepared once: a node looks blobs up several times per job (module, inputs, output).
  if (find_ == nullptr &&
      sqlite3_prepare_v3(db_, "SELECT cid, size, stored_at FROM blobs WHERE cid = ?", -1,
                         SQLITE_PREPARE_PERSISTENT, &find_, nullptr) != SQLITE_OK) {
    return Error("find");
  }
  sqlite3_bind_text(find_, 1, cid.data(), static_cast<int>(cid.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(find_);
  std::optional<BlobRecord> found;
  if (rc == SQLITE_ROW) found = ReadRow(find_);
  sqlite3_reset(find_);  // never hold a read snapshot between calls (it pins the WAL)
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return found;
  return Error("find");
}

absl::StatusOr<bool> BlobIndex::Insert(const BlobRecord& record) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "INSERT OR IGNORE INTO blobs (cid, size, stored_at) VALUES (?, ?, ?)");
  if (!st.ok()) return Error("insert");
  st.BindText(1, record.cid);
  st.BindInt(2, static_cast<int64_t>(record.size));
  st.BindInt(3, absl::ToUnixMicros(record.stored_at));
  if (st.Step() != SQLITE_DONE) return Error("insert");
  return sqlite3_changes(db_) > 0;
}

absl::StatusOr<bool> BlobIndex::Remove(const std::string& cid) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "DELETE FROM blobs WHERE cid = ?");
  if (!st.ok()) return Error("remove");
  st.BindText(1, cid);
  if (st.Step() != SQLITE_DONE) return Error("remove");
  return sqlite3_changes(db_) > 0;
}

absl::StatusOr<std::vector<BlobRecord>> BlobIndex::List(const std::string& after, size_t limit) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT cid, size, stored_at FROM blobs WHERE cid > ? ORDER BY cid LIMIT ?");
  if (!st.ok()) return Error("list");
  st.BindText(1, after);
  st.BindInt(2, static_cast<int64_t>(limit));
  std::vector<BlobRecord> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadRow(st.get()));
  if (rc != SQLITE_DONE) return Error("list");
  return out;
}

absl::StatusOr<uint64_t> BlobIndex::TotalBytes() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT COALESCE(SUM(size), 0) FROM blobs");
  if (!st.ok() || st.Step() != SQLITE_ROW) return Error("sum");
  return static_cast<uint64_t>(sqlite3_column_int64(st.get(), 0));
}

absl::StatusOr<uint64_t> BlobIndex::Count() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT COUNT(*) FROM blobs");
  if (!st.ok() || st.Step() != SQLITE_ROW) return Error("count");
  return static_cast<uint64_t>(sqlite3_column_int64(st.get(), 0));
}

}  // namespace mesh::cas
