// Ledger: the facade that joins the book (rules, in memory) and the store (the SQLite file).
#include "mesh/ledger/ledger.h"

#include "ledger_store.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::ledger {
namespace {

BookOptions BookOptionsOf(const LedgerOptions& o) {
  return BookOptions{o.regen, o.network_fee_bps, o.network_fee_flat};
}

}  // namespace

Ledger::Ledger(std::unique_ptr<LedgerStore> store, bool writable, const Clock& clock,
               LedgerOptions options)
    : store_(std::move(store)),
      clock_(clock),
      options_(std::move(options)),
      book_options_(BookOptionsOf(options_)),
      book_(book_options_),
      writable_(writable) {}

Ledger::~Ledger() = default;

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::filesystem::path& path,
                                                     const crypto::KeyPair* signer,
                                                     const Clock& clock, LedgerOptions options) {
  MESH_RETURN_IF_ERROR(Validate(BookOptionsOf(options)));
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<LedgerStore> store,
                        LedgerStore::Open(path, signer, options.before_commit));
  std::string owner = store->owner();
  std::unique_ptr<Ledger> ledger(
      new Ledger(std::move(store), signer != nullptr, clock, std::move(options)));
  ledger->owner_ = std::move(owner);
  if (signer != nullptr) {
    // The node's ledger loads its book now, so a damaged chain is found at start-up. A reader
    // (`mesh ledger verify`, the API's verify) may never need the book.
    absl::MutexLock lock(&ledger->mu_);
    MESH_RETURN_IF_ERROR(ledger->SyncForReadLocked());
  }
  return ledger;
}

absl::Status Ledger::Writable() const {
  if (!writable_) {
    return absl::FailedPreconditionError(
        "ledger is open read-only (no signing key); only the node that keeps it can append");
  }
  return absl::OkStatus();
}

int64_t Ledger::NetworkFee(int64_t price) const { return ledger::NetworkFee(book_options_, price); }

absl::Status Ledger::SyncLocked(bool check_head) {
  MESH_ASSIGN_OR_RETURN(const int64_t version, store_->DataVersion());
  if (loaded_ && version == synced_version_ && !check_head) return absl::OkStatus();
  MESH_ASSIGN_OR_RETURN(LedgerStore::Head head, store_->ReadHead());
  const bool same_head = loaded_ && head.seq == seen_seq_ && head.hash == seen_hash_;
  if (same_head && version == synced_version_) return absl::OkStatus();
  if (!same_head) {
    // Appended to (by another process, or by us before a failure hid the outcome): replay what
    // is new. Anything else (a first load, a chain rewritten under us) replays from the start.
    bool extends = loaded_ && head.seq > seen_seq_;
    if (extends) {
      MESH_ASSIGN_OR_RETURN(std::string hash, store_->HashAt(seen_seq_));
      extends = hash == seen_hash_;
    }
    if (!extends) book_ = LedgerBook(book_options_);
    loaded_ = false;  // until the replay is whole
    MESH_RETURN_IF_ERROR(store_->ReplayInto(book_, extends ? seen_seq_ : 0));
  }
  // Another process may have moved a regeneration clock without appending an entry.
  MESH_RETURN_IF_ERROR(store_->LoadRegenTimes(book_));
  loaded_ = true;
  seen_seq_ = head.seq;
  seen_hash_ = std::move(head.hash);
  synced_version_ = version;
  return absl::OkStatus();
}

absl::Status Ledger::SyncForReadLocked() {
  // Outside a transaction data_version is the file's latest: one cheap step when nobody wrote.
  MESH_ASSIGN_OR_RETURN(const int64_t version, store_->DataVersion());
  if (loaded_ && version == synced_version_) return absl::OkStatus();
  LedgerStore::Transaction read(*store_);
  MESH_RETURN_IF_ERROR(read.BeginRead());
  return SyncLocked(/*check_head=*/false);
}

absl::StatusOr<Posted> Ledger::Run(const Decide& decide) {
  Waiting self{&decide};
  queue_.Run(self, [this](std::span<Waiting* const> batch) {
    std::vector<const Decide*> decides;
    decides.reserve(batch.size());
    for (const Waiting* w : batch) decides.push_back(w->decide);
    std::vector<absl::StatusOr<Posted>> results = RunEach(decides);
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
  });
  return *std::move(self.result);
}

std::vector<absl::StatusOr<Posted>> Ledger::RunAll(std::span<const Decide> decides) {
  std::vector<const Decide*> each;
  each.reserve(decides.size());
  for (const Decide& d : decides) each.push_back(&d);
  return RunEach(each);
}

std::vector<absl::StatusOr<Posted>> Ledger::RunEach(std::span<const Decide* const> decides) {
  std::vector<absl::StatusOr<Posted>> results;
  auto fail_all = [&](const absl::Status& status) {
    results.assign(decides.size(), status);
    return results;
  };
  if (decides.empty()) return results;
  absl::MutexLock lock(&mu_);
  LedgerStore::Transaction txn(*store_);
  if (absl::Status s = txn.BeginWrite(); !s.ok()) return fail_all(s);
  if (absl::Status s = SyncLocked(/*check_head=*/true); !s.ok()) return fail_all(s);
  const absl::Time now = clock_.Now();
  const int64_t version = synced_version_;
  std::optional<LedgerStore::Head> head;
  results.reserve(decides.size());
  for (const Decide* decide : decides) {
    absl::StatusOr<Decision> decision = (*decide)(book_, now);
    if (!decision.ok() || decision->writes_nothing()) {  // refused, a duplicate, nothing due
      results.push_back(decision.ok() ? absl::StatusOr<Posted>(decision->posted)
                                      : absl::StatusOr<Posted>(decision.status()));
      continue;
    }
    // From the first append on, the book may differ from the file until the commit is known
    // (a failed COMMIT need not say whether it committed): any failure below makes the next
    // call reload it.
    synced_version_ = -1;
    absl::StatusOr<LedgerStore::Head> appended = store_->Append(*decision);
    if (!appended.ok()) {
      loaded_ = false;
      return fail_all(appended.status());
    }
    // Applied before the commit: the next decision sees this one.
    if (absl::Status applied = book_.Apply(*decision); !applied.ok()) {
      loaded_ = false;  // a bug: nothing is committed, and the book is reloaded from the file
      return fail_all(absl::InternalError(
          mesh::StrCat("ledger book refused what it decided: ", applied.message())));
    }
    head = *std::move(appended);
    results.push_back(decision->posted);
  }
  if (!head.has_value()) return results;  // nothing to write: the transaction rolls back
  if (absl::Status committed = txn.Commit(/*appended=*/true); !committed.ok()) {
    loaded_ = false;
    return fail_all(committed);
  }
  seen_seq_ = head->seq;
  seen_hash_ = std::move(head->hash);
  synced_version_ = version;  // our own commit does not change data_version
  return results;
}

absl::StatusOr<Posted> Ledger::Grant(std::string_view did, int64_t amount, std::string_view memo) {
  MESH_RETURN_IF_ERROR(CheckGrant(did, amount, memo));
  MESH_RETURN_IF_ERROR(Writable());
  return Run([&](const LedgerBook& book, absl::Time now) {
    return book.DecideGrant(did, amount, memo, now);
  });
}

absl::StatusOr<Posted> Ledger::Escrow(const EscrowRequest& request) {
  MESH_RETURN_IF_ERROR(CheckEscrow(request));
  MESH_RETURN_IF_ERROR(Writable());
  return Run(
      [&](const LedgerBook& book, absl::Time now) { return book.DecideEscrow(request, now); });
}

absl::StatusOr<Posted> Ledger::Pay(std::string_view job_id, std::string_view executor,
                                   int64_t amount, int64_t fee, std::string_view assignment) {
  MESH_RETURN_IF_ERROR(CheckPay(job_id, executor, amount, fee, assignment));
  MESH_RETURN_IF_ERROR(Writable());
  return Run([&](const LedgerBook& book, absl::Time now) {
    return book.DecidePay(job_id, executor, amount, fee, assignment, now);
  });
}

absl::StatusOr<Posted> Ledger::Refund(std::string_view job_id, std::string_view memo) {
  MESH_RETURN_IF_ERROR(CheckRefund(job_id, memo));
  MESH_RETURN_IF_ERROR(Writable());
  return Run(
      [&](const LedgerBook& book, absl::Time now) { return book.DecideRefund(job_id, memo, now); });
}

std::vector<absl::StatusOr<Posted>> Ledger::Settle(std::span<const SettleOrder> orders) {
  if (absl::Status writable = Writable(); !writable.ok()) {
    return std::vector<absl::StatusOr<Posted>>(orders.size(), writable);
  }
  std::vector<Decide> decides;
  decides.reserve(orders.size());
  for (const SettleOrder& order : orders) {
    decides.push_back([&order](const LedgerBook& book, absl::Time now) {
      return std::visit(
          [&](const auto& o) -> absl::StatusOr<Decision> {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, PayOrder>) {
              MESH_RETURN_IF_ERROR(CheckPay(o.job_id, o.executor, o.amount, o.fee, o.assignment));
              return book.DecidePay(o.job_id, o.executor, o.amount, o.fee, o.assignment, now);
            } else {
              MESH_RETURN_IF_ERROR(CheckRefund(o.job_id, o.memo));
              return book.DecideRefund(o.job_id, o.memo, now);
            }
          },
          order);
    });
  }
  return RunAll(decides);
}

absl::StatusOr<Posted> Ledger::Transfer(std::string_view from, std::string_view to, int64_t amount,
                                        std::string_view key, std::string_view memo) {
  MESH_RETURN_IF_ERROR(CheckTransfer(from, to, amount, key, memo));
  MESH_RETURN_IF_ERROR(Writable());
  return Run([&](const LedgerBook& book, absl::Time now) {
    return book.DecideTransfer(from, to, amount, key, memo, now);
  });
}

absl::StatusOr<Posted> Ledger::Regenerate(std::string_view did) {
  MESH_RETURN_IF_ERROR(CheckRegenerate(did));
  MESH_RETURN_IF_ERROR(Writable());
  return Run(
      [&](const LedgerBook& book, absl::Time now) { return book.DecideRegenerate(did, now); });
}

absl::StatusOr<Balance> Ledger::BalanceOf(std::string_view did) {
  if (!IsDidAccount(did)) {
    return absl::InvalidArgumentError(mesh::StrCat("\"", did, "\" is not a DID"));
  }
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  MESH_RETURN_IF_ERROR(SyncForReadLocked());
  return book_.BalanceOf(did, now);
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> Ledger::Accounts() {
  absl::MutexLock lock(&mu_);
  MESH_RETURN_IF_ERROR(SyncForReadLocked());
  return book_.Accounts();
}

absl::StatusOr<EscrowInfo> Ledger::GetEscrow(std::string_view job_id) {
  absl::MutexLock lock(&mu_);
  MESH_RETURN_IF_ERROR(SyncForReadLocked());
  std::optional<EscrowInfo> info = book_.FindEscrow(job_id);
  if (!info.has_value()) {
    return absl::NotFoundError(mesh::StrCat("job ", job_id, " has no escrow on this ledger"));
  }
  return *std::move(info);
}

absl::StatusOr<LedgerBook> Ledger::Book() {
  absl::MutexLock lock(&mu_);
  MESH_RETURN_IF_ERROR(SyncForReadLocked());
  return book_;
}

absl::StatusOr<std::vector<Entry>> Ledger::History(std::string_view did, size_t limit,
                                                   int64_t before_seq) {
  absl::MutexLock lock(&mu_);
  return store_->History(did, limit, before_seq);
}

absl::StatusOr<VerifyReport> Ledger::Verify() {
  absl::MutexLock lock(&mu_);
  return store_->Verify();
}

}  // namespace mesh::ledger
