#include "mesh/sqlite/sqlite.h"

namespace mesh::sqlite {

absl::StatusOr<sqlite3*> OpenDatabase(const std::string& path, std::string_view store,
                                      OpenOptions options) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(mesh::StrCat("cannot open ", store, " ", path, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  // Exclusive locking must come before WAL for the WAL to need no shared memory.
  absl::Status status = ExecSql(
      db,
      options.exclusive
          ? "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
          : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
      store);
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
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
      return absl::DataLossError(mesh::StrCat(text, "; ", kDamagedHint));
    }
    if (code == SQLITE_FULL) return absl::ResourceExhaustedError(text);
    return absl::InternalError(text);
  }
  return absl::OkStatus();
}

}  // namespace mesh::sqlite
