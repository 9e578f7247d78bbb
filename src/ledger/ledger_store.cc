// LedgerStore: opening, transactions and appends. The reads (replay, history, Verify) are in
// ledger_query.cc.
#include "ledger_store.h"

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/sqlite/sqlite.h"

namespace mesh::ledger {
namespace {

using sqlite::Bind;
using sqlite::BindBlob;
using sqlite::QueryInt;
using sqlite::Text;

constexpr std::string_view kStore = "ledger";
constexpr int64_t kSchemaVersion = 1;

// Version 1. The entries and postings tables are the ledger; balances, escrows and regen are
// caches of what the entries imply (Verify() recomputes balances and escrows), kept for SQL
// readers and so the tables can be checked against the chain.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  seq INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  kind TEXT NOT NULL,
  job_id TEXT NOT NULL,
  op_key TEXT UNIQUE,
  memo TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  signer TEXT NOT NULL,
  signature BLOB NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS postings (
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  account TEXT NOT NULL,
  amount INTEGER NOT NULL,
  PRIMARY KEY (seq, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS postings_by_account ON postings(account, seq);
CREATE TABLE IF NOT EXISTS balances (account TEXT PRIMARY KEY, amount INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS escrows (
  job_id TEXT PRIMARY KEY,
  submitter TEXT NOT NULL,
  amount INTEGER NOT NULL,
  opened_seq INTEGER NOT NULL,
  closed_seq INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS escrows_by_submitter ON escrows(submitter, closed_seq);
CREATE TABLE IF NOT EXISTS regen (did TEXT PRIMARY KEY, last_us INTEGER NOT NULL) WITHOUT ROWID;
)sql";

}  // namespace

LedgerStore::Transaction::~Transaction() {
  if (open_) (void)store_.Step(kRollback, "ROLLBACK");
}

absl::Status LedgerStore::Transaction::BeginWrite() {
  MESH_RETURN_IF_ERROR(store_.Step(kBeginImmediate, "BEGIN IMMEDIATE"));
  open_ = true;
  return absl::OkStatus();
}

absl::Status LedgerStore::Transaction::BeginRead() {
  MESH_RETURN_IF_ERROR(store_.Step(kBeginRead, "BEGIN"));
  open_ = true;
  return absl::OkStatus();
}

absl::Status LedgerStore::Transaction::Commit(bool appended) {
  if (appended && store_.before_commit_) MESH_RETURN_IF_ERROR(store_.before_commit_());
  MESH_RETURN_IF_ERROR(store_.Step(kCommit, "COMMIT"));
  open_ = false;
  return absl::OkStatus();
}

LedgerStore::LedgerStore(sqlite3* db, const crypto::KeyPair* signer,
                         std::function<absl::Status()> before_commit)
    : db_(db), signer_(signer), before_commit_(std::move(before_commit)) {}

absl::StatusOr<std::unique_ptr<LedgerStore>> LedgerStore::Open(
    const std::filesystem::path& path, const crypto::KeyPair* signer,
    std::function<absl::Status()> before_commit) {
  // Reading must not leave an empty ledger behind where someone mistyped a path.
  std::error_code ec;
  if (signer == nullptr && !std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(mesh::StrCat("no ledger at ", path.string()));
  }
  MESH_ASSIGN_OR_RETURN(sqlite3 * db, sqlite::OpenDatabase(path.string(), kStore));
  std::unique_ptr<LedgerStore> store(new LedgerStore(db, signer, std::move(before_commit)));
  MESH_RETURN_IF_ERROR(store->Init(path));
  if (signer != nullptr) {
    MESH_ASSIGN_OR_RETURN(store->checkpointer_,
                          sqlite::BackgroundCheckpointer::Start(db, path.string(), kStore));
  }
  return store;
}

LedgerStore::~LedgerStore() {
  checkpointer_.reset();
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

absl::Status LedgerStore::Init(const std::filesystem::path& path) {
  Transaction txn(*this);
  MESH_RETURN_IF_ERROR(txn.BeginWrite());
  MESH_RETURN_IF_ERROR(
      Exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)"
           " WITHOUT ROWID"));
  std::optional<std::string> version, owner;
  {
    sqlite::Statement s(db_, "SELECT k, v FROM meta WHERE k IN ('version', 'owner')");
    if (!s.ok()) return Error("read meta");
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
      (Text(s.get(), 0) == "version" ? version : owner) = Text(s.get(), 1);
    }
  }
  // Migrations run in order from the stored version; a newer file is refused rather than
  // misread.
  const int64_t have = version.has_value() ? std::atoll(version->c_str()) : 0;
  if (have > kSchemaVersion) {
    return absl::FailedPreconditionError(
        mesh::StrCat("ledger ", path.string(), " has schema version ", have,
                     " but this build knows ", kSchemaVersion, "; upgrade Mesh"));
  }
  if (have < 1) MESH_RETURN_IF_ERROR(Exec(kSchemaV1));
  sqlite3_stmt* set = Prepared(kSetMeta);
  if (set == nullptr) return Error("prepare meta");
  Bind(set, 1, std::string_view("version"));
  Bind(set, 2, std::to_string(kSchemaVersion));
  MESH_RETURN_IF_ERROR(sqlite::Run(db_, set, kStore, "write schema version"));
  if (owner.has_value()) {
    if (signer_ != nullptr && signer_->did().ToString() != *owner) {
      return absl::FailedPreconditionError(mesh::StrCat(
          "ledger ", path.string(), " belongs to ", *owner, ", not to this node's key ",
          signer_->did().ToString(), "; open it with the key that created it"));
    }
    owner_ = *owner;
  } else if (signer_ != nullptr) {
    owner_ = signer_->did().ToString();
    set = Prepared(kSetMeta);
    Bind(set, 1, std::string_view("owner"));
    Bind(set, 2, owner_);
    MESH_RETURN_IF_ERROR(sqlite::Run(db_, set, kStore, "write owner"));
  }
  // No crash hook: it is for appends, not for opening.
  return txn.Commit(/*appended=*/false);
}

absl::Status LedgerStore::Exec(const char* sql) { return sqlite::ExecSql(db_, sql, kStore); }

absl::Status LedgerStore::Step(Stmt which, std::string_view what) {
  sqlite3_stmt* s = Prepared(which);
  if (s == nullptr) return Error(mesh::StrCat("prepare ", what));
  return sqlite::Run(db_, s, kStore, what);
}

absl::Status LedgerStore::Error(std::string_view what) const {
  return sqlite::SqlError(db_, kStore, what);
}

sqlite3_stmt* LedgerStore::Prepared(Stmt which) {
  static constexpr const char* kSql[kNumStmts] = {
      // kHead
      "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1",
      // kHashAt
      "SELECT hash FROM entries WHERE seq = ?1",
      // kDataVersion
      "PRAGMA data_version",
      // kSetMeta
      "INSERT INTO meta (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
      // kInsertEntry
      "INSERT INTO entries (seq, time_us, kind, job_id, op_key, memo, prev_hash, signer,"
      " signature, hash) VALUES (?1, ?2, ?3, ?4, NULLIF(?5, ''), ?6, ?7, ?8, ?9, ?10)",
      // kInsertPosting
      "INSERT INTO postings (seq, idx, account, amount) VALUES (?1, ?2, ?3, ?4)",
      // kAddBalance
      "INSERT INTO balances (account, amount) VALUES (?1, ?2) ON CONFLICT(account) DO UPDATE"
      " SET amount = amount + excluded.amount RETURNING amount",
      // kInsertEscrow
      "INSERT INTO escrows (job_id, submitter, amount, opened_seq) VALUES (?1, ?2, ?3, ?4)",
      // kCloseEscrow
      "UPDATE escrows SET closed_seq = ?2 WHERE job_id = ?1 AND closed_seq = 0",
      // kSetRegen
      "INSERT INTO regen (did, last_us) VALUES (?1, ?2) ON CONFLICT(did) DO UPDATE"
      " SET last_us = excluded.last_us",
      // kGetEntry
      "SELECT seq, time_us, kind, job_id, COALESCE(op_key, ''), memo, prev_hash, signer,"
      " signature FROM entries WHERE seq = ?1",
      // kGetPostings
      "SELECT account, amount FROM postings WHERE seq = ?1 ORDER BY idx",
      // kBeginImmediate, kBeginRead, kCommit, kRollback: prepared once, as the job store's,
      // since every escrow and settlement runs a transaction (sqlite3_exec parsed them each
      // time; no change in mesh_bench's delegated figures within this machine's noise)
      "BEGIN IMMEDIATE",
      "BEGIN",
      "COMMIT",
      "ROLLBACK",
  };
  sqlite3_stmt*& s = stmts_[which];
  if (s == nullptr && sqlite3_prepare_v2(db_, kSql[which], -1, &s, nullptr) != SQLITE_OK) {
    return nullptr;
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

absl::StatusOr<int64_t> LedgerStore::DataVersion() {
  sqlite3_stmt* s = Prepared(kDataVersion);
  if (s == nullptr) return Error("prepare data_version");
  MESH_ASSIGN_OR_RETURN(std::optional<int64_t> v, QueryInt(db_, s, kStore, "read data_version"));
  return v.value_or(0);
}

absl::StatusOr<LedgerStore::Head> LedgerStore::ReadHead() {
  sqlite3_stmt* s = Prepared(kHead);
  if (s == nullptr) return Error("prepare head");
  Head head;
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    head.seq = sqlite3_column_int64(s, 0);
    head.hash = Text(s, 1);
  } else if (rc != SQLITE_DONE) {
    absl::Status error = Error("read chain head");
    sqlite3_reset(s);
    return error;
  }
  sqlite3_reset(s);
  return head;
}

absl::StatusOr<std::string> LedgerStore::HashAt(int64_t seq) {
  sqlite3_stmt* s = Prepared(kHashAt);
  if (s == nullptr) return Error("prepare hash");
  Bind(s, 1, seq);
  const int rc = sqlite3_step(s);
  std::string hash = rc == SQLITE_ROW ? Text(s, 0) : "";
  absl::Status status =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? absl::OkStatus() : Error("read entry hash");
  sqlite3_reset(s);
  MESH_RETURN_IF_ERROR(status);
  return hash;
}

absl::Status LedgerStore::LoadRegenTimes(LedgerBook& book) {
  sqlite::Statement s(db_, "SELECT did, last_us FROM regen");
  if (!s.ok()) return Error("prepare regen");
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    book.SetRegenTime(Text(s.get(), 0), sqlite3_column_int64(s.get(), 1));
  }
  return rc == SQLITE_DONE ? absl::OkStatus() : Error("read regen");
}

absl::StatusOr<LedgerStore::Head> LedgerStore::Append(Decision& decision) {
  if (signer_ == nullptr) return absl::FailedPreconditionError("ledger is open read-only");
  MESH_ASSIGN_OR_RETURN(Head head, ReadHead());
  for (Entry& e : decision.entries) {
    if (e.seq != head.seq + 1) {
      return absl::AbortedError(mesh::StrCat("ledger entry ", e.seq,
                                             " was decided against a stale book: the chain ends "
                                             "at entry ",
                                             head.seq));
    }
    e.prev_hash = head.hash;
    MESH_RETURN_IF_ERROR(CheckWellFormed(e));
    SignEntry(*signer_, e);
    head.hash = HashOf(e);
    head.seq = e.seq;
    MESH_RETURN_IF_ERROR(AppendEntry(e, head));
    MESH_RETURN_IF_ERROR(UpdateEscrowRow(e));
  }
  for (const RegenMark& m : decision.regen_marks) {
    sqlite3_stmt* s = Prepared(kSetRegen);
    if (s == nullptr) return Error("prepare regen update");
    Bind(s, 1, m.did);
    Bind(s, 2, m.at_us);
    MESH_RETURN_IF_ERROR(sqlite::Run(db_, s, kStore, "record regen time"));
  }
  return head;
}

// Stores one signed entry whose hash is head.hash, its postings and balances, and the head.
absl::Status LedgerStore::AppendEntry(const Entry& e, const Head& head) {
  sqlite3_stmt* s = Prepared(kInsertEntry);
  if (s == nullptr) return Error("prepare entry");
  Bind(s, 1, e.seq);
  Bind(s, 2, absl::ToUnixMicros(e.time));
  Bind(s, 3, EntryKindName(e.kind));
  Bind(s, 4, e.job_id);
  Bind(s, 5, e.key);
  Bind(s, 6, e.memo);
  Bind(s, 7, e.prev_hash);
  Bind(s, 8, e.signer);
  BindBlob(s, 9, e.signature);
  Bind(s, 10, head.hash);
  MESH_RETURN_IF_ERROR(sqlite::Run(db_, s, kStore, mesh::StrCat("append entry ", e.seq)));
  for (size_t i = 0; i < e.postings.size(); ++i) {
    const Posting& p = e.postings[i];
    sqlite3_stmt* ps = Prepared(kInsertPosting);
    if (ps == nullptr) return Error("prepare posting");
    Bind(ps, 1, e.seq);
    Bind(ps, 2, static_cast<int64_t>(i));
    Bind(ps, 3, p.account);
    Bind(ps, 4, p.amount);
    MESH_RETURN_IF_ERROR(sqlite::Run(db_, ps, kStore, "append posting"));
    sqlite3_stmt* b = Prepared(kAddBalance);
    if (b == nullptr) return Error("prepare balance update");
    Bind(b, 1, p.account);
    Bind(b, 2, p.amount);
    MESH_ASSIGN_OR_RETURN(std::optional<int64_t> now,
                          QueryInt(db_, b, kStore, mesh::StrCat("update balance of ", p.account)));
    // The book checks before it decides; this is the invariant's last line of defence.
    if (p.account != kMintAccount && now.value_or(0) < 0) {
      return absl::FailedPreconditionError(
          mesh::StrCat("ledger entry ", e.seq, " would leave ", p.account, " at ", *now,
                       " credits; only the mint account may go negative"));
    }
  }
  sqlite3_stmt* m = Prepared(kSetMeta);
  if (m == nullptr) return Error("prepare meta");
  Bind(m, 1, std::string_view("head"));
  Bind(m, 2, mesh::StrCat(e.seq, " ", head.hash));
  return sqlite::Run(db_, m, kStore, "record chain head");
}

// The escrows table follows the entries: an escrow entry opens a row, a refund closes it.
absl::Status LedgerStore::UpdateEscrowRow(const Entry& e) {
  if (e.kind == EntryKind::kEscrow) {
    std::string submitter;
    int64_t held = 0;
    for (const Posting& p : e.postings) {
      if (p.amount < 0) submitter = p.account;
      if (IsEscrowAccount(p.account)) held = p.amount;
    }
    sqlite3_stmt* s = Prepared(kInsertEscrow);
    if (s == nullptr) return Error("prepare escrow");
    Bind(s, 1, e.job_id);
    Bind(s, 2, submitter);
    Bind(s, 3, held);
    Bind(s, 4, e.seq);
    return sqlite::Run(db_, s, kStore, mesh::StrCat("record escrow of ", e.job_id));
  }
  if (e.kind == EntryKind::kRefund) {
    sqlite3_stmt* s = Prepared(kCloseEscrow);
    if (s == nullptr) return Error("prepare escrow close");
    Bind(s, 1, e.job_id);
    Bind(s, 2, e.seq);
    return sqlite::Run(db_, s, kStore, mesh::StrCat("close escrow of ", e.job_id));
  }
  return absl::OkStatus();
}

}  // namespace mesh::ledger
