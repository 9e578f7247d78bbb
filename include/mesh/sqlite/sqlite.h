// The one SQLite set-up of Mesh's stores (the job store, the blob index, the ledger and the
// reputation book): opening a database (WAL, synchronous=NORMAL, a busy timeout, optionally
// exclusive locking), binding, reading columns, and turning SQLite errors into absl::Status
// with the canonical codes Mesh uses. For the stores' .cc files and private headers only: no
// public header of another module includes it. Stateless functions; the caller holds whatever
// lock guards the connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mesh/common/strings.h"

namespace mesh::sqlite {

// What a DataLoss error from a store says to do.
inline constexpr std::string_view kDamagedHint =
    "the file is damaged: move it aside (the store starts empty) or restore it from a backup";

inline void Bind(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
inline void Bind(sqlite3_stmt* s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
inline void BindBlob(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

inline std::string Text(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s, col));
  return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(s, col));
}

inline absl::Status SqlError(sqlite3* db, std::string_view store, std::string_view what) {
  const int code = sqlite3_errcode(db);
  std::string msg = mesh::StrCat(store, ": ", what, ": ", sqlite3_errmsg(db));
  if (code == SQLITE_FULL) return absl::ResourceExhaustedError(msg + "; free disk space");
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(msg);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
    return absl::DataLossError(mesh::StrCat(msg, "; ", kDamagedHint));
  }
  return absl::InternalError(msg);
}

// Steps a statement expected to yield at most one row and reads its first column as an
// integer; resets it at once so no read snapshot or pending write outlives the call.
inline absl::StatusOr<std::optional<int64_t>> QueryInt(sqlite3* db, sqlite3_stmt* s,
                                                       std::string_view store,
                                                       std::string_view what) {
  const int rc = sqlite3_step(s);
  std::optional<int64_t> value;
  if (rc == SQLITE_ROW) value = sqlite3_column_int64(s, 0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    absl::Status error = SqlError(db, store, what);
    sqlite3_reset(s);
    return error;
  }
  sqlite3_reset(s);
  return value;
}

// Steps a statement that returns no rows.
inline absl::Status Run(sqlite3* db, sqlite3_stmt* s, std::string_view store,
                        std::string_view what) {
  const int rc = sqlite3_step(s);
  absl::Status status = rc == SQLITE_DONE ? absl::OkStatus() : SqlError(db, store, what);
  sqlite3_reset(s);
  return status;
}

// Owns a statement prepared for one call (the reads that are too rare to cache).
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Statement() { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

struct OpenOptions {
  // One process owns the file (meshd holds the data dir's lock): exclusive locking drops the
  // per-transaction file locks and the WAL's shared-memory index. Off where another process
  // may read the file while meshd writes it (`mesh ledger verify`).
  bool exclusive = false;
};
// Opens (creating) a database in WAL mode with synchronous=NORMAL: readers proceed during
// writes, and a commit survives the process being killed; only a power loss can drop the last
// commits, and never half of one. `store` names it in errors ("job database").
absl::StatusOr<sqlite3*> OpenDatabase(const std::string& path, std::string_view store,
                                      OpenOptions options = {});
absl::Status ExecSql(sqlite3* db, const char* sql, std::string_view store);

}  // namespace mesh::sqlite
