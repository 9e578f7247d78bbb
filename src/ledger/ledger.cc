#include "mesh/ledger/ledger.h"

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "sqlite_util.h"

namespace mesh::ledger {
namespace {

using internal::Bind;
using internal::BindBlob;
using internal::QueryInt;
using internal::Text;

constexpr std::string_view kStore = "ledger";
constexpr int64_t kSchemaVersion = 1;
constexpr size_t kMaxNameBytes = 512;
constexpr size_t kMaxMemoBytes = 4096;

// Version 1. The entries and postings tables are the ledger; balances, escrows and regen are
// caches of what the entries imply (Verify() recomputes balances and escrows), kept so an
// operation reads one row instead of replaying the chain.
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

// Names are DIDs and job ids (CIDs): printable ASCII without spaces or '|', which separates the
// parts of a payment's key so that no two payments can share one.
absl::Status CheckName(std::string_view what, std::string_view name, bool allow_empty = false) {
  if (name.empty() && allow_empty) return absl::OkStatus();
  if (name.empty() || name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        mesh::StrCat(what, " must be 1 to ", kMaxNameBytes, " bytes, not ", name.size()));
  }
  for (char c : name) {
    if (c <= ' ' || c > '~' || c == '|') {
      return absl::InvalidArgumentError(mesh::StrCat(
          what, " \"", name, "\" holds a space, '|' or a non-printable or non-ASCII byte"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDid(std::string_view what, std::string_view did) {
  MESH_RETURN_IF_ERROR(CheckName(what, did));
  if (!IsDidAccount(did)) {
    return absl::InvalidArgumentError(
        mesh::StrCat(what, " \"", did, "\" is not a DID (did:method:id)"));
  }
  return absl::OkStatus();
}

absl::Status CheckMemo(std::string_view memo) {
  if (memo.size() > kMaxMemoBytes || !IsValidUtf8(memo)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("memo must be UTF-8 of at most ", kMaxMemoBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(std::string_view what, int64_t amount) {
  if (amount <= 0) {
    return absl::InvalidArgumentError(
        mesh::StrCat(what, " must be a positive number of credits, not ", amount));
  }
  return absl::OkStatus();
}

std::string PayKey(std::string_view job, std::string_view executor, std::string_view assignment) {
  return mesh::StrCat("pay:", job, "|", executor, "|", assignment);
}

}  // namespace

// Rolls back on destruction unless committed, so every early return leaves nothing behind.
class Ledger::Transaction {
 public:
  explicit Transaction(Ledger& ledger) : ledger_(ledger) {}
  ~Transaction() {
    if (open_) (void)ledger_.Exec("ROLLBACK");
  }
  // IMMEDIATE takes the write lock now: the head read next cannot be overtaken by another
  // process's append.
  absl::Status Begin() {
    MESH_RETURN_IF_ERROR(ledger_.Exec("BEGIN IMMEDIATE"));
    open_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() {
    if (ledger_.options_.before_commit) MESH_RETURN_IF_ERROR(ledger_.options_.before_commit());
    MESH_RETURN_IF_ERROR(ledger_.Exec("COMMIT"));
    open_ = false;
    return absl::OkStatus();
  }

 private:
  Ledger& ledger_;
  bool open_ = false;
};

Ledger::Ledger(sqlite3* db, const crypto::KeyPair* signer, const Clock& clock,
               LedgerOptions options)
    : db_(db), signer_(signer), clock_(clock), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::filesystem::path& path,
                                                     const crypto::KeyPair* signer,
                                                     const Clock& clock, LedgerOptions options) {
  if (options.regen.credits_per_hour < 0 || options.regen.cap < 0 || options.network_fee_bps < 0 ||
      options.network_fee_flat < 0) {
    return absl::InvalidArgumentError(
        "ledger options: regeneration rate and cap and network fees must not be negative");
  }
  // Reading must not leave an empty ledger behind where someone mistyped a path.
  std::error_code ec;
  if (signer == nullptr && !std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(mesh::StrCat("no ledger at ", path.string()));
  }
  MESH_ASSIGN_OR_RETURN(sqlite3 * db, internal::OpenDatabase(path.string(), kStore));
  std::unique_ptr<Ledger> ledger(new Ledger(db, signer, clock, std::move(options)));
  MESH_RETURN_IF_ERROR(ledger->Init(path));
  return ledger;
}

Ledger::~Ledger() {
  absl::MutexLock lock(&mu_);
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

absl::Status Ledger::Init(const std::filesystem::path& path) {
  absl::MutexLock lock(&mu_);
  Transaction txn(*this);
  MESH_RETURN_IF_ERROR(txn.Begin());
  MESH_RETURN_IF_ERROR(
      Exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)"
           " WITHOUT ROWID"));
  std::optional<std::string> version, owner;
  {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT k, v FROM meta WHERE k IN ('version', 'owner')", -1, &s,
                           nullptr) != SQLITE_OK) {
      return Error("read meta");
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      (Text(s, 0) == "version" ? version : owner) = Text(s, 1);
    }
    sqlite3_finalize(s);
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
  MESH_RETURN_IF_ERROR(internal::Run(db_, set, kStore, "write schema version"));
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
    MESH_RETURN_IF_ERROR(internal::Run(db_, set, kStore, "write owner"));
  }
  // Plain Commit: the crash hook is for appends, not for opening.
  MESH_RETURN_IF_ERROR(Exec("COMMIT"));
  return absl::OkStatus();
}

absl::Status Ledger::Exec(const char* sql) { return internal::ExecSql(db_, sql, kStore); }

absl::Status Ledger::Error(std::string_view what) const {
  return internal::SqlError(db_, kStore, what);
}

absl::Status Ledger::Writable() const {
  if (signer_ == nullptr) {
    return absl::FailedPreconditionError(
        "ledger is open read-only (no signing key); only the node that keeps it can append");
  }
  return absl::OkStatus();
}

sqlite3_stmt* Ledger::Prepared(Stmt which) {
  static constexpr const char* kSql[kNumStmts] = {
      // kHead
      "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1",
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
      // kGetBalance
      "SELECT amount FROM balances WHERE account = ?1",
      // kFindKey
      "SELECT seq FROM entries WHERE op_key = ?1",
      // kGetEscrow
      "SELECT e.submitter, e.amount, e.opened_seq, e.closed_seq, COALESCE(b.amount, 0)"
      " FROM escrows e LEFT JOIN balances b ON b.account = 'escrow:' || e.job_id"
      " WHERE e.job_id = ?1",
      // kInsertEscrow
      "INSERT INTO escrows (job_id, submitter, amount, opened_seq) VALUES (?1, ?2, ?3, ?4)",
      // kCloseEscrow
      "UPDATE escrows SET closed_seq = ?2 WHERE job_id = ?1 AND closed_seq = 0",
      // kGetRegen
      "SELECT last_us FROM regen WHERE did = ?1",
      // kSetRegen
      "INSERT INTO regen (did, last_us) VALUES (?1, ?2) ON CONFLICT(did) DO UPDATE"
      " SET last_us = excluded.last_us",
      // kHeld
      "SELECT COALESCE(SUM(b.amount), 0) FROM escrows e JOIN balances b"
      " ON b.account = 'escrow:' || e.job_id WHERE e.submitter = ?1 AND e.closed_seq = 0",
      // kGetEntry
      "SELECT seq, time_us, kind, job_id, COALESCE(op_key, ''), memo, prev_hash, signer,"
      " signature FROM entries WHERE seq = ?1",
      // kGetPostings
      "SELECT account, amount FROM postings WHERE seq = ?1 ORDER BY idx",
  };
  sqlite3_stmt*& s = stmts_[which];
  if (s == nullptr && sqlite3_prepare_v2(db_, kSql[which], -1, &s, nullptr) != SQLITE_OK) {
    return nullptr;
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

int64_t Ledger::NetworkFee(int64_t price) const {
  if (price <= 0) return options_.network_fee_flat;
  const __int128 fee =
      static_cast<__int128>(price) * options_.network_fee_bps / 10000 + options_.network_fee_flat;
  return fee > INT64_MAX ? INT64_MAX : static_cast<int64_t>(fee);
}

absl::StatusOr<Ledger::Head> Ledger::HeadLocked() {
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

absl::StatusOr<int64_t> Ledger::AccountLocked(std::string_view account) {
  sqlite3_stmt* s = Prepared(kGetBalance);
  if (s == nullptr) return Error("prepare balance");
  Bind(s, 1, account);
  MESH_ASSIGN_OR_RETURN(std::optional<int64_t> v, QueryInt(db_, s, kStore, "read balance"));
  return v.value_or(0);
}

absl::StatusOr<std::optional<int64_t>> Ledger::SeqForKeyLocked(std::string_view key) {
  sqlite3_stmt* s = Prepared(kFindKey);
  if (s == nullptr) return Error("prepare key lookup");
  Bind(s, 1, key);
  return QueryInt(db_, s, kStore, "look up operation key");
}

absl::StatusOr<std::optional<EscrowInfo>> Ledger::EscrowLocked(std::string_view job_id) {
  sqlite3_stmt* s = Prepared(kGetEscrow);
  if (s == nullptr) return Error("prepare escrow");
  Bind(s, 1, job_id);
  const int rc = sqlite3_step(s);
  std::optional<EscrowInfo> info;
  if (rc == SQLITE_ROW) {
    info.emplace();
    info->job_id = std::string(job_id);
    info->submitter = Text(s, 0);
    info->escrowed = sqlite3_column_int64(s, 1);
    info->opened_seq = sqlite3_column_int64(s, 2);
    info->closed_seq = sqlite3_column_int64(s, 3);
    info->remaining = sqlite3_column_int64(s, 4);
    info->open = info->closed_seq == 0;
  } else if (rc != SQLITE_DONE) {
    absl::Status error = Error("read escrow");
    sqlite3_reset(s);
    return error;
  }
  sqlite3_reset(s);
  return info;
}

absl::StatusOr<int64_t> Ledger::AppendLocked(Entry e) {
  MESH_ASSIGN_OR_RETURN(Head head, HeadLocked());
  e.seq = head.seq + 1;
  e.prev_hash = head.hash;
  e.time = absl::FromUnixMicros(absl::ToUnixMicros(clock_.Now()));
  MESH_RETURN_IF_ERROR(CheckWellFormed(e));
  SignEntry(*signer_, e);
  const std::string hash = HashOf(e);

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
  Bind(s, 10, hash);
  MESH_RETURN_IF_ERROR(internal::Run(db_, s, kStore, mesh::StrCat("append entry ", e.seq)));
  for (size_t i = 0; i < e.postings.size(); ++i) {
    const Posting& p = e.postings[i];
    sqlite3_stmt* ps = Prepared(kInsertPosting);
    if (ps == nullptr) return Error("prepare posting");
    Bind(ps, 1, e.seq);
    Bind(ps, 2, static_cast<int64_t>(i));
    Bind(ps, 3, p.account);
    Bind(ps, 4, p.amount);
    MESH_RETURN_IF_ERROR(internal::Run(db_, ps, kStore, "append posting"));
    sqlite3_stmt* b = Prepared(kAddBalance);
    if (b == nullptr) return Error("prepare balance update");
    Bind(b, 1, p.account);
    Bind(b, 2, p.amount);
    MESH_ASSIGN_OR_RETURN(std::optional<int64_t> now,
                          QueryInt(db_, b, kStore, mesh::StrCat("update balance of ", p.account)));
    // The operations check before they post; this is the invariant's last line of defence.
    if (p.account != kMintAccount && now.value_or(0) < 0) {
      return absl::FailedPreconditionError(
          mesh::StrCat("ledger entry ", e.seq, " would leave ", p.account, " at ", *now,
                       " credits; only the mint account may go negative"));
    }
  }
  sqlite3_stmt* m = Prepared(kSetMeta);
  if (m == nullptr) return Error("prepare meta");
  Bind(m, 1, std::string_view("head"));
  Bind(m, 2, mesh::StrCat(e.seq, " ", hash));
  MESH_RETURN_IF_ERROR(internal::Run(db_, m, kStore, "record chain head"));
  return e.seq;
}

absl::StatusOr<Posted> Ledger::Grant(std::string_view did, int64_t amount, std::string_view memo) {
  MESH_RETURN_IF_ERROR(CheckDid("grant recipient", did));
  MESH_RETURN_IF_ERROR(CheckPositive("grant", amount));
  MESH_RETURN_IF_ERROR(CheckMemo(memo));
  MESH_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&mu_);
  Transaction txn(*this);
  MESH_RETURN_IF_ERROR(txn.Begin());
  Entry e;
  e.kind = EntryKind::kGrant;
  e.postings = {{std::string(kMintAccount), -amount}, {std::string(did), amount}};
  e.memo = std::string(memo);
  MESH_ASSIGN_OR_RETURN(int64_t seq, AppendLocked(std::move(e)));
  MESH_RETURN_IF_ERROR(txn.Commit());
  return Posted{seq, false, amount};
}

absl::StatusOr<Posted> Ledger::Escrow(const EscrowRequest& r) {
  MESH_RETURN_IF_ERROR(CheckName("job id", r.job_id));
  MESH_RETURN_IF_ERROR(CheckDid("submitter", r.submitter));
  MESH_RETURN_IF_ERROR(CheckPositive("max price", r.max_price));
  MESH_RETURN_IF_ERROR(CheckPositive("replicas", r.replicas));
  if (r.submit_fee < 0) {
    return absl::InvalidArgumentError(
        mesh::StrCat("submit fee must not be negative, not ", r.submit_fee));
  }
  int64_t held = 0, total = 0;
  if (__builtin_mul_overflow(r.max_price, r.replicas, &held) ||
      __builtin_add_overflow(held, r.submit_fee, &total)) {
    return absl::InvalidArgumentError(mesh::StrCat("max price ", r.max_price, " × ", r.replicas,
                                                   " replicas overflows 64-bit credits"));
  }
  MESH_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&mu_);
  Transaction txn(*this);
  MESH_RETURN_IF_ERROR(txn.Begin());
  const std::string key = mesh::StrCat("escrow:", r.job_id);
  MESH_ASSIGN_OR_RETURN(std::optional<int64_t> prior, SeqForKeyLocked(key));
  if (prior.has_value()) {
    MESH_ASSIGN_OR_RETURN(std::optional<EscrowInfo> info, EscrowLocked(r.job_id));
    MESH_ASSIGN_OR_RETURN(int64_t fee_paid, [&]() -> absl::StatusOr<int64_t> {
      MESH_ASSIGN_OR_RETURN(Entry first, LoadEntryLocked(*prior));
      for (const Posting& p : first.postings) {
        if (p.account == kFeesAccount) return p.amount;
      }
      return 0;
    }());
    if (info.has_value() && info->submitter == r.submitter && info->escrowed == held &&
        fee_paid == r.submit_fee) {
      return Posted{*prior, true, held};
    }
    return absl::AlreadyExistsError(
        mesh::StrCat("job ", r.job_id, " already has an escrow (entry ", *prior, ": ",
                     info.has_value() ? info->escrowed : 0, " credits from ",
                     info.has_value() ? info->submitter : "?",
                     "); a job is escrowed once: resubmit it as a "
                     "new job to change its price"));
  }
  int64_t regen_seq = 0;
  MESH_RETURN_IF_ERROR(RegenLocked(r.submitter, &regen_seq).status());
  MESH_ASSIGN_OR_RETURN(int64_t available, AccountLocked(r.submitter));
  if (available < total) {
    std::string fee_text = r.submit_fee > 0 ? mesh::StrCat(" + submit fee ", r.submit_fee) : "";
    std::string regen_text =
        options_.regen.credits_per_hour > 0
            ? mesh::StrCat(", or wait: credits regenerate at ", options_.regen.credits_per_hour,
                           "/hour up to ", options_.regen.cap)
            : "";
    return absl::FailedPreconditionError(mesh::StrCat(
        "insufficient credit: ", r.submitter, " has ", available, " available, job ", r.job_id,
        " needs ", total, " (max price ", r.max_price, " × ", r.replicas, " replica",
        r.replicas == 1 ? "" : "s", fee_text,
        "); lower --max-price or the replicas of --verify, or get credits", regen_text));
  }
  Entry e;
  e.kind = EntryKind::kEscrow;
  e.job_id = r.job_id;
  e.key = key;
  e.postings = {{r.submitter, -total}, {EscrowAccount(r.job_id), held}};
  if (r.submit_fee > 0) e.postings.push_back({std::string(kFeesAccount), r.submit_fee});
  e.memo = mesh::StrCat("max price ", r.max_price, " x ", r.replicas);
  MESH_ASSIGN_OR_RETURN(int64_t seq, AppendLocked(std::move(e)));
  sqlite3_stmt* s = Prepared(kInsertEscrow);
  if (s == nullptr) return Error("prepare escrow");
  Bind(s, 1, r.job_id);
  Bind(s, 2, r.submitter);
  Bind(s, 3, held);
  Bind(s, 4, seq);
  MESH_RETURN_IF_ERROR(internal::Run(db_, s, kStore, mesh::StrCat("record escrow of ", r.job_id)));
  MESH_RETURN_IF_ERROR(txn.Commit());
  return Posted{seq, false, held};
}

absl::StatusOr<Posted> Ledger::Pay(std::string_view job_id, std::string_view executor,
                                   int64_t amount, int64_t fee, std::string_view assignment) {
  MESH_RETURN_IF_ERROR(CheckName("job id", job_id));
  MESH_RETURN_IF_ERROR(CheckDid("executor", executor));
  MESH_RETURN_IF_ERROR(CheckName("assignment", assignment, /*allow_empty=*/true));
  MESH_RETURN_IF_ERROR(CheckPositive("payment", amount));
  int64_t total = 0;
  if (fee < 0 || __builtin_add_overflow(amount, fee, &total)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("network fee must be >= 0 and fit beside the payment, not ", fee));
  }
  MESH_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&mu_);
  Transaction txn(*this);
  MESH_RETURN_IF_ERROR(txn.Begin());
  // The key before the escrow's state: a duplicate of a payment made before the refund is
  // still a duplicate (OK), not a late receipt.
  const std::string key = PayKey(job_id, executor, assignment);
  MESH_ASSIGN_OR_RETURN(std::optional<int64_t> prior, SeqForKeyLocked(key));
  if (prior.has_value()) return Posted{*prior, true, amount};
  MESH_ASSIGN_OR_RETURN(std::optional<EscrowInfo> info, EscrowLocked(job_id));
  if (!info.has_value()) {
    return absl::NotFoundError(
        mesh::StrCat("job ", job_id, " has no escrow on this ledger; nothing to pay from"));
  }
  if (!info->open) {
    return absl::FailedPreconditionError(
        mesh::StrCat("late receipt: job ", job_id, "'s escrow was closed by entry ",
                     info->closed_seq, "; nothing paid to ", executor));
  }
  if (info->remaining < total) {
    return absl::FailedPreconditionError(
        mesh::StrCat("escrow of job ", job_id, " holds ", info->remaining, " credits but paying ",
                     executor, " needs ", total, " (price ", amount, " + network fee ", fee,
                     "); the price exceeds what was escrowed"));
  }
  Entry e;
  e.kind = EntryKind::kPay;
  e.job_id = std::string(job_id);
  e.key = key;
  e.postings = {{EscrowAccount(job_id), -total}, {std::string(executor), amount}};
  if (fee > 0) e.postings.push_back({std::string(kFeesAccount), fee});
  if (!assignment.empty()) e.memo = mesh::StrCat("assignment ", assignment);
  MESH_ASSIGN_OR_RETURN(int64_t seq, AppendLocked(std::move(e)));
  MESH_RETURN_IF_ERROR(txn.Commit());
  return Posted{seq, false, amount};
}

absl::StatusOr<Posted> Ledger::Refund(std::string_view job_id, std::string_view memo) {
  MESH_RETURN_IF_ERROR(CheckName("job id", job_id));
  MESH_RETURN_IF_ERROR(CheckMemo(memo));
  MESH_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&mu_);
  Transaction txn(*this);
  MESH_RETURN_IF_ERROR(txn.Begin());
  MESH_ASSIGN_OR_RETURN(std::optional<EscrowInfo> info, EscrowLocked(job_id));
  if (!info.has_value()) {
    return absl::NotFoundError(
        mesh::StrCat("job ", job_id, " has no escrow on this ledger; nothing to refund"));
  }
  if (!info->open) {
    MESH_ASSIGN_OR_RETURN(Entry closing, LoadEntryLocked(info->closed_seq));
    int64_t returned = 0;
    for (const Posting& p : closing.postings) {
      if (p.account == info->submitter) returned = p.amount;
    }
    return Posted{info->closed_seq, true, returned};
  }
  // The refund entry always exists, even with nothing left to return: it is what closes the
  // escrow in the chain, so Verify() can refuse any later payment from it.
  Entry e;
  e.kind = EntryKind::kRefund;
  e.job_id = std::string(job_id);
  e.key = mesh::StrCat("refund:", job_id);
  if (info->remaining > 0) {
    e.postings = {{EscrowAccount(job_id), -info->remaining}, {info->submitter, info->remaining}};
  }
  e.memo = std::string(memo);
  MESH_ASSIGN_OR_RETURN(int64_t seq, AppendLocked(std::move(e)));
  sqlite3_stmt* s = Prepared(kCloseEscrow);
  if (s == nullptr) return Error("prepare escrow close");
  Bind(s, 1, job_id);
  Bind(s, 2, seq);
  MESH_RETURN_IF_ERROR(internal::Run(db_, s, kStore, mesh::StrCat("close escrow of ", job_id)));
  MESH_RETURN_IF_ERROR(txn.Commit());
  return Posted{seq, false, info->remaining};
}

absl::StatusOr<Posted> Ledger::Regenerate(std::string_view did) {
  MESH_RETURN_IF_ERROR(CheckDid("account", did));
  MESH_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&mu_);
  Transaction txn(*this);
  MESH_RETURN_IF_ERROR(txn.Begin());
  int64_t seq = 0;
  MESH_ASSIGN_OR_RETURN(int64_t added, RegenLocked(did, &seq));
  MESH_RETURN_IF_ERROR(txn.Commit());
  return Posted{seq, false, added};
}

}  // namespace mesh::ledger
