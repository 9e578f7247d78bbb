// LedgerBook: the ledger's rules, in memory, with no storage. It holds what the chain of Entries
// implies (every account's balance, each job's escrow, the operation keys already used, when each
// DID last regenerated) and decides operations against it: escrow, pay once per assignment,
// refund, regeneration, grants and the network fee, with the checks and messages of the ledger.
//
// Deciding reads only and returns a Decision: the entries to append, numbered from the book's
// next seq and timed `now`, but neither linked nor signed (a store does that), plus regeneration
// times to record. Applying the Decision (or, when loading, each Entry of the chain in order)
// updates the book. A repeated operation decides nothing to append and reports
// Posted::duplicate; the same key with different terms is AlreadyExists (see ledger.h).
//
// No I/O, no clock (time is a parameter), no threads: the simulator uses it alone, and Ledger
// (ledger.h) puts it in front of a SQLite store. Not thread-safe; a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/ledger/ledger_entry.h"

namespace mesh::ledger {

struct RegenPolicy {
  int64_t credits_per_hour = 0;  // 0 = no regeneration
  int64_t cap = 0;               // regeneration never lifts available credits above this
  bool start_full = false;       // a DID seen for the first time starts at `cap`
};

struct BookOptions {
  RegenPolicy regen;
  // The network fee on each payment: price × bps / 10000 + flat (see NetworkFee()).
  int64_t network_fee_bps = 0;
  int64_t network_fee_flat = 0;
};
// InvalidArgument when a rate, cap or fee is negative.
absl::Status Validate(const BookOptions& options);
// price × bps / 10000 + flat, saturating at INT64_MAX; flat alone for a price <= 0.
int64_t NetworkFee(const BookOptions& options, int64_t price);

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

// A DID's regeneration clock: the time its regenerated credits are counted from.
struct RegenMark {
  std::string did;
  int64_t at_us = 0;  // Unix microseconds
};

struct Decision {
  Posted posted;                       // what the caller is told once this is applied
  std::vector<Entry> entries;          // to append in order; empty for a duplicate
  std::vector<RegenMark> regen_marks;  // to record with them
  bool writes_nothing() const { return entries.empty() && regen_marks.empty(); }
};

// The input checks of each operation, which need no state: InvalidArgument naming the problem.
// Decide* runs them first; a read-only Ledger runs them before refusing to write.
absl::Status CheckGrant(std::string_view did, int64_t amount, std::string_view memo);
absl::Status CheckEscrow(const EscrowRequest& request);
absl::Status CheckPay(std::string_view job_id, std::string_view executor, int64_t amount,
                      int64_t fee, std::string_view assignment);
absl::Status CheckRefund(std::string_view job_id, std::string_view memo);
absl::Status CheckRegenerate(std::string_view did);
absl::Status CheckTransfer(std::string_view from, std::string_view to, int64_t amount,
                           std::string_view key, std::string_view memo);

class LedgerBook {
 public:
  explicit LedgerBook(BookOptions options = {});

  // New credits from mint; never a duplicate.
  absl::StatusOr<Decision> DecideGrant(std::string_view did, int64_t amount, std::string_view memo,
                                       absl::Time now) const;
  // Regenerates the submitter first (in the same decision), then holds max_price × replicas
  // (+ submit fee). FailedPrecondition naming the amounts and the fix when that is too much.
  absl::StatusOr<Decision> DecideEscrow(const EscrowRequest& request, absl::Time now) const;
  // NotFound without an escrow; FailedPrecondition when it is closed (late) or holds too little;
  // a duplicate when (job, executor, assignment) was paid before, even after the refund.
  absl::StatusOr<Decision> DecidePay(std::string_view job_id, std::string_view executor,
                                     int64_t amount, int64_t fee, std::string_view assignment,
                                     absl::Time now) const;
  // Returns what is left and closes the escrow (an entry even when nothing is left); a duplicate
  // once closed.
  absl::StatusOr<Decision> DecideRefund(std::string_view job_id, std::string_view memo,
                                        absl::Time now) const;
  // `amount` from one DID to another (regenerating the payer first), once per `key`: a repeated
  // key with the same terms is a duplicate, with others AlreadyExists. FailedPrecondition when
  // the payer has too little available.
  absl::StatusOr<Decision> DecideTransfer(std::string_view from, std::string_view to,
                                          int64_t amount, std::string_view key,
                                          std::string_view memo, absl::Time now) const;
  // What has regenerated by `now`; posted.amount 0 and no entry when nothing is due.
  absl::StatusOr<Decision> DecideRegenerate(std::string_view did, absl::Time now) const;

  // Applies a decision made against this book's current state (entries, then regen marks).
  absl::Status Apply(const Decision& decision);
  // Applies the next entry of a chain (seq must be next_seq()). FailedPrecondition, changing
  // nothing, when it breaks the rules a chain keeps: an unknown or reused key, an escrow opened
  // twice, a posting to or refund of an escrow that is not open, an account other than mint
  // below zero.
  absl::Status Apply(const Entry& entry);
  void SetRegenTime(std::string_view did, int64_t at_us);
  // Decide + Apply, for a caller with no store (the simulator).
  absl::StatusOr<Posted> Post(absl::StatusOr<Decision> decision);

  // Includes what has regenerated by `now` without recording it. InvalidArgument for a non-DID.
  absl::StatusOr<Balance> BalanceOf(std::string_view did, absl::Time now) const;
  // Any account's balance; 0 if never posted to.
  int64_t AccountBalance(std::string_view account) const;
  // Every account ever posted to, sorted by name.
  std::vector<std::pair<std::string, int64_t>> Accounts() const;
  std::optional<EscrowInfo> FindEscrow(std::string_view job_id) const;
  int64_t NetworkFee(int64_t price) const;

  int64_t last_seq() const { return next_seq_ - 1; }
  int64_t next_seq() const { return next_seq_; }
  const BookOptions& options() const { return options_; }
  friend bool operator==(const LedgerBook& a, const LedgerBook& b);

 private:
  struct Escrow {
    std::string submitter;
    int64_t escrowed = 0;
    int64_t submit_fee = 0;
    int64_t remaining = 0;
    int64_t refunded = 0;
    int64_t opened_seq = 0;
    int64_t closed_seq = 0;
    friend bool operator==(const Escrow&, const Escrow&) = default;
  };
  struct RegenDue {
    int64_t add = 0;      // credits regenerated by now
    int64_t next_us = 0;  // the regen time to record with them
    bool record = false;  // false: nothing to write (no policy, no time passed, < 1 credit)
  };
  RegenDue RegenDueAt(std::string_view did, int64_t now_us) const;
  // Adds the regeneration due by `now` to `decision` (an entry numbered `seq` if credits are due).
  int64_t AddRegen(std::string_view did, absl::Time now, int64_t seq, Decision& decision) const;
  const Escrow* EscrowOf(std::string_view job_id) const;

  BookOptions options_;
  int64_t next_seq_ = 1;
  absl::flat_hash_map<std::string, int64_t> balances_;  // every account ever posted to
  absl::flat_hash_map<std::string, int64_t> held_;      // per submitter, in open escrows
  absl::flat_hash_map<std::string, Escrow> escrows_;    // by job id
  absl::flat_hash_map<std::string, int64_t> keys_;      // operation key → seq
  absl::flat_hash_map<std::string, int64_t> regen_us_;  // DID → regen time
};

}  // namespace mesh::ledger
