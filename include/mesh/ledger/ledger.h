// Ledger: the node's credit accounts, in SQLite (WAL), as a signed hash chain of double-entry
// Entries (ledger_entry.h) plus derived tables (balances, escrows, regeneration times) that are
// written in the same transaction as the entry, so a crash leaves the whole entry or none.
//
// Life of a job's credits: Escrow() holds max price × replicas (+ an optional submit fee, which
// is not refunded) from the submitter's available credits before anything is announced; each
// verified receipt Pay()s its executor the bid price plus the network fee out of that escrow;
// Refund() returns what is left and closes the escrow, after which every Pay() is refused as
// late. Failure and timeout are just Refund() without Pay().
//
// At most once: every operation carries a key that is unique in the ledger (escrow per job, pay
// per job + executor + assignment, refund per job). Repeating an operation that was recorded
// returns OK with Posted::duplicate set and writes nothing, so a retried call or a duplicate
// receipt never moves credits twice. Repeating it with different terms is AlreadyExists.
//
// Regenerating capacity (mana): with RegenPolicy set, a DID's available credits grow by
// credits_per_hour up to cap, applied lazily (when it escrows; a balance read only shows it) as a
// signed "regen" entry from mint. Time comes only from the injected Clock.
//
// Several processes may open the same file (e.g. `mesh ledger verify` beside meshd): every
// append reads the chain head inside a BEGIN IMMEDIATE transaction. Opened without a signer the
// ledger is read-only. Thread-safe: one connection behind a mutex. The Ledger does not own the
// signer or the clock; both must outlive it.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/common/clock.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/ledger/ledger_entry.h"

namespace mesh::ledger {

struct RegenPolicy {
  int64_t credits_per_hour = 0;  // 0 = no regeneration
  int64_t cap = 0;               // regeneration never lifts available credits above this
  bool start_full = false;       // a DID seen for the first time starts at `cap`
};

struct LedgerOptions {
  RegenPolicy regen;
  // The network fee on each payment: price × bps / 10000 + flat (see NetworkFee()).
  int64_t network_fee_bps = 0;
  int64_t network_fee_flat = 0;
  // For crash tests: runs inside every append's transaction after its rows are written, just
  // before COMMIT. A non-OK status rolls the entry back and is returned; a test may also end
  // the process here to leave an uncommitted transaction behind.
  std::function<absl::Status()> before_commit;
};

struct Balance {
  std::string did;
  int64_t available = 0;
  int64_t held = 0;  // in the open escrows of jobs this DID submitted
};

struct EscrowRequest {
  std::string job_id;
  std::string submitter;   // DID
  int64_t max_price = 0;   // per replica, > 0
  int64_t replicas = 1;    // > 0
  int64_t submit_fee = 0;  // >= 0, to "fees", not refunded (e.g. reputation-priced)
};

struct EscrowInfo {
  std::string job_id;
  std::string submitter;
  int64_t escrowed = 0;   // what Escrow() held
  int64_t remaining = 0;  // still in the escrow account
  bool open = false;
  int64_t opened_seq = 0;
  int64_t closed_seq = 0;  // 0 while open
};

// What an operation did.
struct Posted {
  int64_t seq = 0;         // the entry written, or the earlier one when `duplicate`
  bool duplicate = false;  // already recorded: nothing was written
  int64_t amount = 0;      // credits moved (Refund: returned to the submitter)
};

struct VerifyReport {
  bool ok = true;
  int64_t entries = 0;        // how many were checked
  int64_t first_bad_seq = 0;  // the first entry found wrong; 0 if none or not one entry's fault
  std::string problem;        // why, with names and numbers
  std::string owner;          // DID every entry must be signed by
  std::string head_hash;      // hash of the last good entry
  int64_t minted = 0;         // credits ever granted or regenerated (minus mint's balance)
};

class Ledger {
 public:
  // Creates or migrates the schema. With a signer the ledger is writable and belongs to the
  // signer's DID (FailedPrecondition if the file belongs to another); without, read-only, and
  // NotFound if there is no file.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::filesystem::path& path,
                                                      const crypto::KeyPair* signer,
                                                      const Clock& clock,
                                                      LedgerOptions options = {});
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // New credits from mint. Not idempotent: every call is a grant.
  absl::StatusOr<Posted> Grant(std::string_view did, int64_t amount, std::string_view memo = "");
  // FailedPrecondition, naming the amounts and the fix, when the submitter's available credits
  // (after regeneration) do not cover max_price × replicas + submit_fee.
  absl::StatusOr<Posted> Escrow(const EscrowRequest& request);
  // Pays `amount` to the executor and `fee` to "fees" from the job's escrow. NotFound for a job
  // never escrowed; FailedPrecondition when the escrow was closed (late receipt) or holds too
  // little. Duplicate when this (job, executor, assignment) was paid before.
  absl::StatusOr<Posted> Pay(std::string_view job_id, std::string_view executor, int64_t amount,
                             int64_t fee, std::string_view assignment = "");
  // Returns what is left in the job's escrow to its submitter and closes it. Idempotent.
  absl::StatusOr<Posted> Refund(std::string_view job_id, std::string_view memo = "");
  // Applies pending regeneration for `did` now; amount 0 (and no entry) when nothing is due.
  absl::StatusOr<Posted> Regenerate(std::string_view did);

  // Includes what has regenerated by now, without writing anything (a read must not grow the
  // chain); the regen entry is written when the DID next escrows or Regenerate() is called.
  absl::StatusOr<Balance> BalanceOf(std::string_view did);
  // Every account's cached balance (accounts that were never posted to are absent).
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> Accounts();
  absl::StatusOr<EscrowInfo> GetEscrow(std::string_view job_id);
  // Newest first. `did` empty = all entries; otherwise those posting to that account (a DID's
  // available credits, or "fees", "mint", "escrow:<job>").
  // `before_seq` > 0 pages back from there.
  absl::StatusOr<std::vector<Entry>> History(std::string_view did, size_t limit,
                                             int64_t before_seq = 0);
  // Walks the whole chain (links, signatures, owner, balance of each entry, no account but mint
  // ever negative, no posting to a closed escrow, head recorded in meta) and compares the replayed
  // balances and escrows with the cached tables. Errors only for I/O; corruption is a report.
  absl::StatusOr<VerifyReport> Verify();

  int64_t NetworkFee(int64_t price) const;
  const std::string& owner() const { return owner_; }

 private:
  enum Stmt {
    kHead,
    kSetMeta,
    kInsertEntry,
    kInsertPosting,
    kAddBalance,
    kGetBalance,
    kFindKey,
    kGetEscrow,
    kInsertEscrow,
    kCloseEscrow,
    kGetRegen,
    kSetRegen,
    kHeld,
    kGetEntry,
    kGetPostings,
    kNumStmts
  };
  struct Head {
    int64_t seq = 0;
    std::string hash;
  };
  class Transaction;

  Ledger(sqlite3* db, const crypto::KeyPair* signer, const Clock& clock, LedgerOptions options);
  absl::Status Init(const std::filesystem::path& path);
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(std::string_view what) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  sqlite3_stmt* Prepared(Stmt which) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Writable() const;

  absl::StatusOr<Head> HeadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> AccountLocked(std::string_view account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::optional<int64_t>> SeqForKeyLocked(std::string_view key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::optional<EscrowInfo>> EscrowLocked(std::string_view job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Entry> LoadEntryLocked(int64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inside a transaction: numbers, links, signs and stores `entry` and its effects on balances.
  absl::StatusOr<int64_t> AppendLocked(Entry entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct RegenDue {
    int64_t add = 0;      // credits regenerated by now
    int64_t next_us = 0;  // the regen time to record with them
    bool record = false;  // false: nothing to write (no policy, no time passed, < 1 credit)
  };
  absl::StatusOr<RegenDue> RegenDueLocked(std::string_view did) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> RegenLocked(std::string_view did, int64_t* seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::array<sqlite3_stmt*, kNumStmts> stmts_ ABSL_GUARDED_BY(mu_){};
  const crypto::KeyPair* const signer_;
  const Clock& clock_;
  const LedgerOptions options_;
  std::string owner_;  // set once in Open
};

// DataLoss carrying the report's problem, or OK.
absl::Status ToStatus(const VerifyReport& report);

}  // namespace mesh::ledger
