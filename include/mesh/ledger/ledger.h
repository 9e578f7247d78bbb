// Ledger: the node's credit accounts, in SQLite (WAL), as a signed hash chain of double-entry
// Entries (ledger_entry.h) plus derived tables (balances, escrows, regeneration times) that are
// written in the same transaction as the entry, so a crash leaves the whole entry or none.
//
// A facade over two parts: the rules are a LedgerBook (ledger_book.h, in memory, no I/O), the
// file is a store private to src/ledger. Each operation: the book decides, the store appends the
// decided entries in one transaction, then the book applies them. Balances and escrows are read
// from the book; history and Verify() read the file.
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
// append reads the chain head inside a BEGIN IMMEDIATE transaction, and when it is not the head
// the book last saw (another process appended), the book catches up from the file before it
// decides. Reads catch up too when SQLite says another connection wrote. Opened without a signer
// the ledger is read-only, and its book is loaded at the first read that needs it. Thread-safe:
// one connection and one book behind a mutex. The Ledger does not own the signer or the clock;
// both must outlive it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/common/clock.h"
#include "mesh/common/group_commit.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/ledger/ledger_book.h"
#include "mesh/ledger/ledger_entry.h"

namespace mesh::ledger {

class LedgerStore;  // src/ledger/ledger_store.h

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

struct VerifyReport {
  bool ok = true;
  int64_t entries = 0;        // how many were checked
  int64_t first_bad_seq = 0;  // the first entry found wrong; 0 if none or not one entry's fault
  std::string problem;        // why, with names and numbers
  std::string owner;          // DID every entry must be signed by
  std::string head_hash;      // hash of the last good entry
  int64_t minted = 0;         // credits ever granted or regenerated (minus mint's balance)
};

// A payment (as Ledger::Pay) or a refund (as Ledger::Refund), for Ledger::Settle.
struct PayOrder {
  std::string job_id;
  std::string executor;
  int64_t amount = 0;
  int64_t fee = 0;
  std::string assignment;
};
struct RefundOrder {
  std::string job_id;
  std::string memo;
};
using SettleOrder = std::variant<PayOrder, RefundOrder>;

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
  // Payments and refunds in one transaction (one sync of the book and one commit, however many
  // orders), in order, each decided against the book as the orders before it left it: a job's
  // payment then its refund returns what the payment left. One result per order, as Pay or
  // Refund would give it; an order refused (a duplicate, a closed escrow) fails alone. An error
  // reading or writing the file fails every order and writes none.
  std::vector<absl::StatusOr<Posted>> Settle(std::span<const SettleOrder> orders);
  // Applies pending regeneration for `did` now; amount 0 (and no entry) when nothing is due.
  absl::StatusOr<Posted> Regenerate(std::string_view did);
  // LedgerBook::DecideTransfer, written.
  absl::StatusOr<Posted> Transfer(std::string_view from, std::string_view to, int64_t amount,
                                  std::string_view key, std::string_view memo);

  // Includes what has regenerated by now, without writing anything (a read must not grow the
  // chain); the regen entry is written when the DID next escrows or Regenerate() is called.
  absl::StatusOr<Balance> BalanceOf(std::string_view did);
  // Every account's balance (accounts that were never posted to are absent), by name.
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

  // A copy of the book as of the file's latest state: the rules over this ledger's state, to
  // decide without writing (what-if) or to compare (tests).
  absl::StatusOr<LedgerBook> Book();

  int64_t NetworkFee(int64_t price) const;
  const std::string& owner() const { return owner_; }

 private:
  Ledger(std::unique_ptr<LedgerStore> store, bool writable, const Clock& clock,
         LedgerOptions options);
  absl::Status Writable() const;
  // Brings the book up to the file, inside a transaction the caller holds: nothing to do when no
  // other connection wrote (and, with check_head, the chain head is the one the book last saw);
  // entries appended after that head are replayed into the book; a chain that no longer holds
  // that head is replayed from the start. Regeneration times are reloaded.
  absl::Status SyncLocked(bool check_head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // For reads: SyncLocked in a read transaction, only when another connection wrote.
  absl::Status SyncForReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  using Decide = std::function<absl::StatusOr<Decision>(const LedgerBook&, absl::Time)>;
  // The life of every operation: decide against the synced book, append, apply to the book,
  // commit. RunAll does it for several in one transaction, each deciding against the book as
  // the ones before it left it; a refused decision fails alone, a failure to append or commit
  // fails all and writes none. Run is a group commit: callers that arrive while a transaction
  // is being written queue, and the first of them runs the queue's decisions (up to 64, in
  // arrival order) as one RunAll for all of them. Concurrent submissions' escrows
  // share one transaction, one head read and one commit instead of one each.
  absl::StatusOr<Posted> Run(const Decide& decide) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<absl::StatusOr<Posted>> RunAll(std::span<const Decide> decides)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<absl::StatusOr<Posted>> RunEach(std::span<const Decide* const> decides)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A Run waiting for its batch; lives on its caller's stack.
  struct Waiting {
    const Decide* decide;
    std::optional<absl::StatusOr<Posted>> result;
  };
  GroupCommit<Waiting> queue_{64};  // its lock is never held with mu_

  absl::Mutex mu_;
  const std::unique_ptr<LedgerStore> store_ ABSL_PT_GUARDED_BY(mu_);
  const Clock& clock_;
  const LedgerOptions options_;
  const BookOptions book_options_;
  LedgerBook book_ ABSL_GUARDED_BY(mu_);
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;  // book_ holds the chain up to seen_seq_
  int64_t seen_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::string seen_hash_ ABSL_GUARDED_BY(mu_);
  int64_t synced_version_ ABSL_GUARDED_BY(mu_) = -1;  // the file's data_version book_ reflects
  const bool writable_;
  std::string owner_;  // set once in Open
};

// DataLoss carrying the report's problem, or OK.
absl::Status ToStatus(const VerifyReport& report);

}  // namespace mesh::ledger
