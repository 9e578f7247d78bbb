#include "mesh/node/store_db.h"

#include <sqlite3.h>

#include <utility>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/sqlite/sqlite.h"

namespace mesh::node {
namespace {

constexpr std::string_view kStore = "storage database";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS held_shards (
  owner TEXT NOT NULL,
  file TEXT NOT NULL,
  cid TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  preexisting INTEGER NOT NULL,
  held_at_ms INTEGER NOT NULL,
  PRIMARY KEY (owner, file, cid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS held_shards_by_cid ON held_shards (cid);
CREATE TABLE IF NOT EXISTS stored_files (
  cid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  user TEXT NOT NULL,
  size INTEGER NOT NULL,
  k INTEGER NOT NULL,
  m INTEGER NOT NULL,
  encrypted INTEGER NOT NULL,
  segments INTEGER NOT NULL,
  stored_bytes INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shard_holders (
  file TEXT NOT NULL,
  shard INTEGER NOT NULL,
  did TEXT NOT NULL,
  address TEXT NOT NULL,
  last_ok_ms INTEGER NOT NULL,
  last_audit_ms INTEGER NOT NULL,
  failures INTEGER NOT NULL,
  paid_until_ms INTEGER NOT NULL,
  PRIMARY KEY (file, shard)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audits (
  file TEXT NOT NULL,
  shard INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (file, shard, segment, offset, length)
) WITHOUT ROWID;
)sql";

int64_t Signed(uint64_t v) { return static_cast<int64_t>(v); }

// Runs `body` in one transaction (rolled back on error).
template <typename Fn>
absl::Status InTransaction(sqlite3* db, std::string_view what, Fn body) {
  MESH_RETURN_IF_ERROR(sqlite::ExecSql(db, "BEGIN IMMEDIATE", kStore));
  absl::Status status = body();
  if (!status.ok()) {
    sqlite::ExecSql(db, "ROLLBACK", kStore).IgnoreError();
    return status;
  }
  if (absl::Status commit = sqlite::ExecSql(db, "COMMIT", kStore); !commit.ok()) {
    sqlite::ExecSql(db, "ROLLBACK", kStore).IgnoreError();
    return absl::Status(commit.code(), mesh::StrCat(what, ": ", commit.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreDb>> StoreDb::Open(const std::filesystem::path& path) {
  MESH_ASSIGN_OR_RETURN(sqlite3 * db,
                        sqlite::OpenDatabase(path.string(), kStore, {.exclusive = true}));
  std::unique_ptr<StoreDb> store(new StoreDb(db));
  MESH_RETURN_IF_ERROR(sqlite::ExecSql(db, kSchema, kStore));
  return store;
}

StoreDb::~StoreDb() { sqlite3_close(db_); }

absl::StatusOr<uint64_t> StoreDb::HeldBytes() {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_, "SELECT COALESCE(SUM(bytes), 0) FROM held_shards");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare held bytes");
  MESH_ASSIGN_OR_RETURN(std::optional<int64_t> sum,
                        sqlite::QueryInt(db_, s.get(), kStore, "held bytes"));
  return static_cast<uint64_t>(sum.value_or(0));
}

absl::Status StoreDb::Hold(const std::string& owner, const std::string& file,
                           const std::vector<HeldShard>& shards, absl::Time now) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_,
                      "INSERT OR IGNORE INTO held_shards (owner, file, cid, bytes, preexisting,"
                      " held_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare hold");
  return InTransaction(db_, "hold shards", [&]() -> absl::Status {
    for (const HeldShard& shard : shards) {
      sqlite::Bind(s.get(), 1, owner);
      sqlite::Bind(s.get(), 2, file);
      sqlite::Bind(s.get(), 3, shard.cid);
      sqlite::Bind(s.get(), 4, Signed(shard.bytes));
      sqlite::Bind(s.get(), 5, int64_t{shard.preexisting});
      sqlite::Bind(s.get(), 6, absl::ToUnixMillis(now));
      MESH_RETURN_IF_ERROR(sqlite::Run(db_, s.get(), kStore, "hold a shard"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> StoreDb::IsHeld(const std::string& cid) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_, "SELECT 1 FROM held_shards WHERE cid = ?1 LIMIT 1");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare is held");
  sqlite::Bind(s.get(), 1, cid);
  MESH_ASSIGN_OR_RETURN(std::optional<int64_t> row,
                        sqlite::QueryInt(db_, s.get(), kStore, "is held"));
  return row.has_value();
}

absl::StatusOr<std::vector<HeldShard>> StoreDb::HeldFor(const std::string& owner,
                                                        const std::string& file) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_,
                      "SELECT cid, bytes, preexisting FROM held_shards WHERE owner = ?1 AND"
                      " file = ?2 ORDER BY cid");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare held shards");
  sqlite::Bind(s.get(), 1, owner);
  sqlite::Bind(s.get(), 2, file);
  std::vector<HeldShard> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    out.push_back({sqlite::Text(s.get(), 0),
                   static_cast<uint64_t>(sqlite3_column_int64(s.get(), 1)),
                   sqlite3_column_int64(s.get(), 2) != 0});
  }
  if (rc != SQLITE_DONE) return sqlite::SqlError(db_, kStore, "read held shards");
  return out;
}

absl::StatusOr<std::vector<std::string>> StoreDb::Release(const std::string& owner,
                                                          const std::string& file,
                                                          const std::vector<std::string>& cids) {
  std::vector<HeldShard> held;
  { MESH_ASSIGN_OR_RETURN(held, HeldFor(owner, file)); }
  absl::MutexLock lock(&mu_);
  sqlite::Statement del(db_, "DELETE FROM held_shards WHERE owner = ?1 AND file = ?2 AND cid = ?3");
  sqlite::Statement still(db_, "SELECT COUNT(*) FROM held_shards WHERE cid = ?1");
  if (!del.ok() || !still.ok()) return sqlite::SqlError(db_, kStore, "prepare release");
  std::vector<std::string> unreferenced;
  MESH_RETURN_IF_ERROR(InTransaction(db_, "release shards", [&]() -> absl::Status {
    for (const HeldShard& shard : held) {
      if (!cids.empty() && std::find(cids.begin(), cids.end(), shard.cid) == cids.end()) continue;
      sqlite::Bind(del.get(), 1, owner);
      sqlite::Bind(del.get(), 2, file);
      sqlite::Bind(del.get(), 3, shard.cid);
      MESH_RETURN_IF_ERROR(sqlite::Run(db_, del.get(), kStore, "release a shard"));
      sqlite::Bind(still.get(), 1, shard.cid);
      MESH_ASSIGN_OR_RETURN(std::optional<int64_t> left,
                            sqlite::QueryInt(db_, still.get(), kStore, "shard references"));
      if (left.value_or(0) == 0 && !shard.preexisting) unreferenced.push_back(shard.cid);
    }
    return absl::OkStatus();
  }));
  return unreferenced;
}

absl::Status StoreDb::AddFile(const StoredFileRecord& file) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement add(db_,
                        "INSERT OR REPLACE INTO stored_files (cid, name, user, size, k, m,"
                        " encrypted, segments, stored_bytes, created_ms)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  sqlite::Statement clear(db_, "DELETE FROM shard_holders WHERE file = ?1");
  sqlite::Statement holder(db_,
                           "INSERT INTO shard_holders (file, shard, did, address, last_ok_ms,"
                           " last_audit_ms, failures, paid_until_ms)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!add.ok() || !clear.ok() || !holder.ok()) {
    return sqlite::SqlError(db_, kStore, "prepare add file");
  }
  return InTransaction(db_, "add a stored file", [&]() -> absl::Status {
    sqlite::Bind(add.get(), 1, file.cid);
    sqlite::Bind(add.get(), 2, file.name);
    sqlite::Bind(add.get(), 3, file.user);
    sqlite::Bind(add.get(), 4, Signed(file.size));
    sqlite::Bind(add.get(), 5, int64_t{file.k});
    sqlite::Bind(add.get(), 6, int64_t{file.m});
    sqlite::Bind(add.get(), 7, int64_t{file.encrypted});
    sqlite::Bind(add.get(), 8, Signed(file.segments));
    sqlite::Bind(add.get(), 9, Signed(file.stored_bytes));
    sqlite::Bind(add.get(), 10, absl::ToUnixMillis(file.created));
    MESH_RETURN_IF_ERROR(sqlite::Run(db_, add.get(), kStore, "add a stored file"));
    sqlite::Bind(clear.get(), 1, file.cid);
    MESH_RETURN_IF_ERROR(sqlite::Run(db_, clear.get(), kStore, "clear holders"));
    for (const ShardPlacement& p : file.holders) {
      sqlite::Bind(holder.get(), 1, file.cid);
      sqlite::Bind(holder.get(), 2, int64_t{p.index});
      sqlite::Bind(holder.get(), 3, p.did);
      sqlite::Bind(holder.get(), 4, p.address);
      sqlite::Bind(holder.get(), 5, absl::ToUnixMillis(p.last_ok));
      sqlite::Bind(holder.get(), 6, absl::ToUnixMillis(p.last_audit));
      sqlite::Bind(holder.get(), 7, int64_t{p.failures});
      sqlite::Bind(holder.get(), 8, absl::ToUnixMillis(p.paid_until));
      MESH_RETURN_IF_ERROR(sqlite::Run(db_, holder.get(), kStore, "add a holder"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ShardPlacement>> StoreDb::HoldersLocked(const std::string& cid) {
  sqlite::Statement s(db_,
                      "SELECT shard, did, address, last_ok_ms, last_audit_ms, failures,"
                      " paid_until_ms FROM shard_holders WHERE file = ?1 ORDER BY shard");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare holders");
  sqlite::Bind(s.get(), 1, cid);
  std::vector<ShardPlacement> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    out.push_back({static_cast<int>(sqlite3_column_int64(s.get(), 0)), sqlite::Text(s.get(), 1),
                   sqlite::Text(s.get(), 2), absl::FromUnixMillis(sqlite3_column_int64(s.get(), 3)),
                   absl::FromUnixMillis(sqlite3_column_int64(s.get(), 4)),
                   static_cast<int>(sqlite3_column_int64(s.get(), 5)),
                   absl::FromUnixMillis(sqlite3_column_int64(s.get(), 6))});
  }
  if (rc != SQLITE_DONE) return sqlite::SqlError(db_, kStore, "read holders");
  return out;
}

namespace {

constexpr const char* kFileColumns =
    "SELECT cid, name, user, size, k, m, encrypted, segments, stored_bytes, created_ms"
    " FROM stored_files";

StoredFileRecord ReadFile(sqlite3_stmt* s) {
  StoredFileRecord f;
  f.cid = sqlite::Text(s, 0);
  f.name = sqlite::Text(s, 1);
  f.user = sqlite::Text(s, 2);
  f.size = static_cast<uint64_t>(sqlite3_column_int64(s, 3));
  f.k = static_cast<int>(sqlite3_column_int64(s, 4));
  f.m = static_cast<int>(sqlite3_column_int64(s, 5));
  f.encrypted = sqlite3_column_int64(s, 6) != 0;
  f.segments = static_cast<uint64_t>(sqlite3_column_int64(s, 7));
  f.stored_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 8));
  f.created = absl::FromUnixMillis(sqlite3_column_int64(s, 9));
  return f;
}

}  // namespace

absl::StatusOr<std::optional<StoredFileRecord>> StoreDb::File(const std::string& cid) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_, mesh::StrCat(kFileColumns, " WHERE cid = ?1").c_str());
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare file");
  sqlite::Bind(s.get(), 1, cid);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE) return std::optional<StoredFileRecord>();
  if (rc != SQLITE_ROW) return sqlite::SqlError(db_, kStore, "read a file");
  StoredFileRecord f = ReadFile(s.get());
  MESH_ASSIGN_OR_RETURN(f.holders, HoldersLocked(cid));
  return std::optional<StoredFileRecord>(std::move(f));
}

absl::StatusOr<std::vector<StoredFileRecord>> StoreDb::Files(const std::string& user,
                                                             size_t limit) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(
      db_, mesh::StrCat(kFileColumns,
                        " WHERE ?1 = '' OR user = ?1 ORDER BY created_ms DESC, cid LIMIT ?2")
               .c_str());
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare files");
  sqlite::Bind(s.get(), 1, user);
  sqlite::Bind(s.get(), 2, Signed(limit));
  std::vector<StoredFileRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadFile(s.get()));
  if (rc != SQLITE_DONE) return sqlite::SqlError(db_, kStore, "list files");
  for (StoredFileRecord& f : out) {
    MESH_ASSIGN_OR_RETURN(f.holders, HoldersLocked(f.cid));
  }
  return out;
}

absl::Status StoreDb::RemoveFile(const std::string& cid) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement file(db_, "DELETE FROM stored_files WHERE cid = ?1");
  sqlite::Statement holders(db_, "DELETE FROM shard_holders WHERE file = ?1");
  sqlite::Statement audits(db_, "DELETE FROM audits WHERE file = ?1");
  if (!file.ok() || !holders.ok() || !audits.ok()) {
    return sqlite::SqlError(db_, kStore, "prepare remove");
  }
  return InTransaction(db_, "remove a stored file", [&]() -> absl::Status {
    sqlite::Bind(file.get(), 1, cid);
    MESH_RETURN_IF_ERROR(sqlite::Run(db_, file.get(), kStore, "remove a file"));
    sqlite::Bind(holders.get(), 1, cid);
    MESH_RETURN_IF_ERROR(sqlite::Run(db_, holders.get(), kStore, "remove its holders"));
    sqlite::Bind(audits.get(), 1, cid);
    return sqlite::Run(db_, audits.get(), kStore, "remove its audits");
  });
}

absl::Status StoreDb::ReplaceHolder(const std::string& file, const ShardPlacement& p) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_,
                      "UPDATE shard_holders SET did = ?3, address = ?4, last_ok_ms = ?5,"
                      " last_audit_ms = ?6, failures = ?7, paid_until_ms = ?8"
                      " WHERE file = ?1 AND shard = ?2");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare replace holder");
  sqlite::Bind(s.get(), 1, file);
  sqlite::Bind(s.get(), 2, int64_t{p.index});
  sqlite::Bind(s.get(), 3, p.did);
  sqlite::Bind(s.get(), 4, p.address);
  sqlite::Bind(s.get(), 5, absl::ToUnixMillis(p.last_ok));
  sqlite::Bind(s.get(), 6, absl::ToUnixMillis(p.last_audit));
  sqlite::Bind(s.get(), 7, int64_t{p.failures});
  sqlite::Bind(s.get(), 8, absl::ToUnixMillis(p.paid_until));
  return sqlite::Run(db_, s.get(), kStore, "replace a holder");
}

absl::Status StoreDb::SetPaidUntil(const std::string& file, int index, absl::Time until) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_,
                      "UPDATE shard_holders SET paid_until_ms = ?3 WHERE file = ?1 AND shard = ?2");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare paid until");
  sqlite::Bind(s.get(), 1, file);
  sqlite::Bind(s.get(), 2, int64_t{index});
  sqlite::Bind(s.get(), 3, absl::ToUnixMillis(until));
  return sqlite::Run(db_, s.get(), kStore, "record rent paid");
}

absl::Status StoreDb::RecordAudit(const std::string& file, int index, bool passed, absl::Time now) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_, passed ? "UPDATE shard_holders SET last_ok_ms = ?3, last_audit_ms = ?3,"
                                    " failures = 0 WHERE file = ?1 AND shard = ?2"
                                  : "UPDATE shard_holders SET last_audit_ms = ?3,"
                                    " failures = failures + 1 WHERE file = ?1 AND shard = ?2");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare record audit");
  sqlite::Bind(s.get(), 1, file);
  sqlite::Bind(s.get(), 2, int64_t{index});
  sqlite::Bind(s.get(), 3, absl::ToUnixMillis(now));
  return sqlite::Run(db_, s.get(), kStore, "record an audit");
}

absl::Status StoreDb::AddAudits(const std::string& file, const std::vector<AuditRecord>& audits) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_,
                      "INSERT OR IGNORE INTO audits (file, shard, segment, offset, length, sha256)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare add audits");
  return InTransaction(db_, "add audits", [&]() -> absl::Status {
    for (const AuditRecord& a : audits) {
      sqlite::Bind(s.get(), 1, file);
      sqlite::Bind(s.get(), 2, int64_t{a.shard});
      sqlite::Bind(s.get(), 3, int64_t{a.segment});
      sqlite::Bind(s.get(), 4, Signed(a.offset));
      sqlite::Bind(s.get(), 5, Signed(a.length));
      sqlite::Bind(s.get(), 6, a.sha256);
      MESH_RETURN_IF_ERROR(sqlite::Run(db_, s.get(), kStore, "add an audit"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<AuditRecord>> StoreDb::TakeAudit(const std::string& file, int index) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement pick(db_,
                         "SELECT segment, offset, length, sha256 FROM audits WHERE file = ?1 AND"
                         " shard = ?2 LIMIT 1");
  sqlite::Statement del(db_,
                        "DELETE FROM audits WHERE file = ?1 AND shard = ?2 AND segment = ?3 AND"
                        " offset = ?4 AND length = ?5");
  if (!pick.ok() || !del.ok()) return sqlite::SqlError(db_, kStore, "prepare take audit");
  sqlite::Bind(pick.get(), 1, file);
  sqlite::Bind(pick.get(), 2, int64_t{index});
  const int rc = sqlite3_step(pick.get());
  if (rc == SQLITE_DONE) return std::optional<AuditRecord>();
  if (rc != SQLITE_ROW) return sqlite::SqlError(db_, kStore, "take an audit");
  AuditRecord a;
  a.shard = index;
  a.segment = static_cast<uint32_t>(sqlite3_column_int64(pick.get(), 0));
  a.offset = static_cast<uint64_t>(sqlite3_column_int64(pick.get(), 1));
  a.length = static_cast<uint64_t>(sqlite3_column_int64(pick.get(), 2));
  a.sha256 = sqlite::Text(pick.get(), 3);
  sqlite3_reset(pick.get());
  sqlite::Bind(del.get(), 1, file);
  sqlite::Bind(del.get(), 2, int64_t{index});
  sqlite::Bind(del.get(), 3, int64_t{a.segment});
  sqlite::Bind(del.get(), 4, Signed(a.offset));
  sqlite::Bind(del.get(), 5, Signed(a.length));
  MESH_RETURN_IF_ERROR(sqlite::Run(db_, del.get(), kStore, "use an audit"));
  return std::optional<AuditRecord>(std::move(a));
}

absl::Status StoreDb::ForgetAudits(const std::string& file, int index) {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_, "DELETE FROM audits WHERE file = ?1 AND shard = ?2");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare forget audits");
  sqlite::Bind(s.get(), 1, file);
  sqlite::Bind(s.get(), 2, int64_t{index});
  return sqlite::Run(db_, s.get(), kStore, "forget audits");
}

}  // namespace mesh::node
