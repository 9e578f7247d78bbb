// LedgerStore: the ledger's SQLite file (WAL), private to src/ledger. It keeps the signed hash
// chain (entries, postings) and the tables derived from it (balances, escrows, regeneration
// times), written in the same transaction as the entries, and replays the chain into a
// LedgerBook. It decides nothing: the book decides and Ledger (ledger.h) joins the two.
//
// Not thread-safe: Ledger's mutex guards every call. Does not own the signer.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/ledger/ledger.h"
#include "mesh/ledger/ledger_book.h"
#include "mesh/sqlite/background_checkpoint.h"

namespace mesh::ledger {

class LedgerStore {
 public:
  struct Head {
    int64_t seq = 0;
    std::string hash;  // "" before the first entry
    friend bool operator==(const Head&, const Head&) = default;
  };

  // Rolls back on destruction unless committed, so every early return leaves nothing behind.
  class Transaction {
   public:
    explicit Transaction(LedgerStore& store) : store_(store) {}
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    // IMMEDIATE takes the write lock now: the head read next cannot be overtaken by another
    // process's append. A read transaction is a snapshot.
    absl::Status BeginWrite();
    absl::Status BeginRead();
    // Runs the before_commit hook first when `appended` (the crash tests' point of failure).
    absl::Status Commit(bool appended);

   private:
    LedgerStore& store_;
    bool open_ = false;
  };

  // Creates or migrates the schema and checks or records the owner (see Ledger::Open).
  static absl::StatusOr<std::unique_ptr<LedgerStore>> Open(
      const std::filesystem::path& path, const crypto::KeyPair* signer,
      std::function<absl::Status()> before_commit);
  ~LedgerStore();
  LedgerStore(const LedgerStore&) = delete;
  LedgerStore& operator=(const LedgerStore&) = delete;

  // Changes when another connection (process) commits to the file; not for our own commits.
  absl::StatusOr<int64_t> DataVersion();
  absl::StatusOr<Head> ReadHead();
  // The stored hash of entry `seq`, or "" when there is none.
  absl::StatusOr<std::string> HashAt(int64_t seq);
  // Applies the chain's entries after `after_seq`, in order, to `book`. DataLoss when the chain
  // breaks the book's rules (Verify() says more).
  absl::Status ReplayInto(LedgerBook& book, int64_t after_seq);
  absl::Status LoadRegenTimes(LedgerBook& book);

  // Inside a write transaction: links to the head, signs and stores `decision`'s entries (filling
  // their prev_hash, signer and signature), their effects on the derived tables and its regen
  // marks. Returns the new head. Aborted if the entries are not numbered from the head.
  absl::StatusOr<Head> Append(Decision& decision);

  absl::StatusOr<std::vector<Entry>> History(std::string_view did, size_t limit,
                                             int64_t before_seq);
  absl::StatusOr<VerifyReport> Verify();

  bool writable() const { return signer_ != nullptr; }
  const std::string& owner() const { return owner_; }

 private:
  enum Stmt {
    kHead,
    kHashAt,
    kDataVersion,
    kSetMeta,
    kInsertEntry,
    kInsertPosting,
    kAddBalance,
    kInsertEscrow,
    kCloseEscrow,
    kSetRegen,
    kGetEntry,
    kGetPostings,
    kBeginImmediate,
    kBeginRead,
    kCommit,
    kRollback,
    kNumStmts
  };

  LedgerStore(sqlite3* db, const crypto::KeyPair* signer,
              std::function<absl::Status()> before_commit);
  absl::Status Init(const std::filesystem::path& path);
  absl::Status Exec(const char* sql);
  // Steps the prepared statement `which` (one without rows: the transaction's own).
  absl::Status Step(Stmt which, std::string_view what);
  absl::Status Error(std::string_view what) const;
  sqlite3_stmt* Prepared(Stmt which);
  absl::Status AppendEntry(const Entry& entry, const Head& head);
  absl::Status UpdateEscrowRow(const Entry& entry);
  absl::StatusOr<Entry> LoadEntry(int64_t seq);

  sqlite3* db_;
  // A writer's checkpoints run beside its commits (not for `mesh ledger verify`, a reader).
  std::unique_ptr<sqlite::BackgroundCheckpointer> checkpointer_;
  std::array<sqlite3_stmt*, kNumStmts> stmts_{};
  const crypto::KeyPair* const signer_;
  const std::function<absl::Status()> before_commit_;
  std::string owner_;  // set once in Open
};

}  // namespace mesh::ledger
