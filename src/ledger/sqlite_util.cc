#include "sqlite_util.h"

namespace mesh::ledger::internal {

absl::StatusOr<sqlite3*> OpenDatabase(const std::string& path, std::string_view store) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(mesh::StrCat("cannot open ", store, " ", path, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  // WAL: readers (verify, balance) proceed during writes. synchronous=NORMAL: a commit survives
  // the process being killed (the case the ledger's crash tests exercise); only a power loss
  // can drop the last commits, and then never half of one.
  absl::Status status = ExecSql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", store);
  if (!status.ok()) {
    sqlite3_close(db);
    return status;
  }
  return db;
}

absl::Status ExecSql(sqlite3* db, const char* sql, std::string_view store) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    const int code = sqlite3_errcode(db);
    std::string text = mesh::StrCat(store, ": ", msg, " (in: ", sql, ")");
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(text);
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return absl::DataLossError(text);
    if (code == SQLITE_FULL) return absl::ResourceExhaustedError(text);
    return absl::InternalError(text);
  }
  return absl::OkStatus();
}

}  // namespace mesh::ledger::internal
