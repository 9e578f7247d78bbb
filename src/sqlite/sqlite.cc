#include "mesh/sqlite/sqlite.h"

#include <sys/stat.h>

#include "mesh/common/strings.h"
#include "wal_write_batching.h"

namespace mesh::sqlite {

absl::StatusOr<sqlite3*> OpenDatabase(const std::string& path, std::string_view store,
                                      OpenOptions options) {
  // A database created now has nothing to lose: switching it to WAL (a rollback-journal
  // transaction) and writing the WAL's header need no fsync, which would cost six per database
  // (journal, directory, journal, file; WAL header, directory) on a node's first start.
  struct stat st;
  const bool fresh = ::stat(path.c_str(), &st) != 0 || st.st_size == 0;
  sqlite3* db = nullptr;
  // A commit's frames reach the WAL in one write (see wal_write_batching.h).
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 internal::WalWriteBatchingVfs());
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(mesh::StrCat("cannot open ", store, " ", path, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  // Exclusive locking must come before WAL for the WAL to need no shared memory.
  // A fresh file: synchronous=OFF until its first WAL frame (user_version=0 writes page 1) is
  // written, so neither the switch nor the WAL's header is synced. A process crash loses
  // nothing (the page cache has the writes); a power loss in those milliseconds loses only the
  // empty database: usually an empty file is left (SQLite drops a WAL beside a zero-page
  // database, and the stores' CREATE ... IF NOT EXISTS run again). Later commits are as any.
  const std::string pragmas = mesh::StrCat(
      options.exclusive ? "PRAGMA locking_mode=EXCLUSIVE; " : "",
      fresh ? "PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL; PRAGMA user_version=0; "
            : "PRAGMA journal_mode=WAL; ",
      // Statement journals (the pages a statement inside a transaction changed, kept until it
      // ends) in memory: SQLite writes one to a temporary file once it passes 64 KiB, and
      // under exclusive locking keeps writing to that file (two writes per page) for every
      // later statement of the connection.
      "PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;");
  absl::Status status = ExecSql(db, pragmas.c_str(), store);
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
