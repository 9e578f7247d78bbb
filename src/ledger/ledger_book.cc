#include "mesh/ledger/ledger_book.h"

#include <algorithm>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::ledger {
namespace {

constexpr size_t kMaxNameBytes = 512;
constexpr size_t kMaxMemoBytes = 4096;
constexpr int64_t kMicrosPerHour = int64_t{3600} * 1000 * 1000;

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

std::string EscrowKey(std::string_view job) { return mesh::StrCat("escrow:", job); }
std::string RefundKey(std::string_view job) { return mesh::StrCat("refund:", job); }
std::string PayKey(std::string_view job, std::string_view executor, std::string_view assignment) {
  return mesh::StrCat("pay:", job, "|", executor, "|", assignment);
}

// Entries carry whole microseconds, as the chain stores them.
absl::Time EntryTime(absl::Time now) { return absl::FromUnixMicros(absl::ToUnixMicros(now)); }

// Held = max price × replicas; total adds the submit fee. Both checked for overflow.
absl::StatusOr<std::pair<int64_t, int64_t>> EscrowAmounts(const EscrowRequest& r) {
  int64_t held = 0, total = 0;
  if (__builtin_mul_overflow(r.max_price, r.replicas, &held) ||
      __builtin_add_overflow(held, r.submit_fee, &total)) {
    return absl::InvalidArgumentError(mesh::StrCat("max price ", r.max_price, " × ", r.replicas,
                                                   " replicas overflows 64-bit credits"));
  }
  return std::make_pair(held, total);
}

}  // namespace

absl::Status Validate(const BookOptions& o) {
  if (o.regen.credits_per_hour < 0 || o.regen.cap < 0 || o.network_fee_bps < 0 ||
      o.network_fee_flat < 0) {
    return absl::InvalidArgumentError(
        "ledger options: regeneration rate and cap and network fees must not be negative");
  }
  return absl::OkStatus();
}

absl::Status CheckGrant(std::string_view did, int64_t amount, std::string_view memo) {
  MESH_RETURN_IF_ERROR(CheckDid("grant recipient", did));
  MESH_RETURN_IF_ERROR(CheckPositive("grant", amount));
  return CheckMemo(memo);
}

absl::Status CheckEscrow(const EscrowRequest& r) {
  MESH_RETURN_IF_ERROR(CheckName("job id", r.job_id));
  MESH_RETURN_IF_ERROR(CheckDid("submitter", r.submitter));
  MESH_RETURN_IF_ERROR(CheckPositive("max price", r.max_price));
  MESH_RETURN_IF_ERROR(CheckPositive("replicas", r.replicas));
  if (r.submit_fee < 0) {
    return absl::InvalidArgumentError(
        mesh::StrCat("submit fee must not be negative, not ", r.submit_fee));
  }
  return EscrowAmounts(r).status();
}

absl::Status CheckPay(std::string_view job_id, std::string_view executor, int64_t amount,
                      int64_t fee, std::string_view assignment) {
  MESH_RETURN_IF_ERROR(CheckName("job id", job_id));
  MESH_RETURN_IF_ERROR(CheckDid("executor", executor));
  MESH_RETURN_IF_ERROR(CheckName("assignment", assignment, /*allow_empty=*/true));
  MESH_RETURN_IF_ERROR(CheckPositive("payment", amount));
  int64_t total = 0;
  if (fee < 0 || __builtin_add_overflow(amount, fee, &total)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("network fee must be >= 0 and fit beside the payment, not ", fee));
  }
  return absl::OkStatus();
}

absl::Status CheckRefund(std::string_view job_id, std::string_view memo) {
  MESH_RETURN_IF_ERROR(CheckName("job id", job_id));
  return CheckMemo(memo);
}

absl::Status CheckRegenerate(std::string_view did) { return CheckDid("account", did); }

absl::Status CheckTransfer(std::string_view from, std::string_view to, int64_t amount,
                           std::string_view key, std::string_view memo) {
  MESH_RETURN_IF_ERROR(CheckDid("payer", from));
  MESH_RETURN_IF_ERROR(CheckDid("payee", to));
  if (from == to) return absl::InvalidArgumentError("a transfer needs two different accounts");
  MESH_RETURN_IF_ERROR(CheckPositive("transfer", amount));
  MESH_RETURN_IF_ERROR(CheckName("transfer key", key));
  return CheckMemo(memo);
}

LedgerBook::LedgerBook(BookOptions options) : options_(options) {}

int64_t NetworkFee(const BookOptions& options, int64_t price) {
  if (price <= 0) return options.network_fee_flat;
  const __int128 fee =
      static_cast<__int128>(price) * options.network_fee_bps / 10000 + options.network_fee_flat;
  return fee > INT64_MAX ? INT64_MAX : static_cast<int64_t>(fee);
}

int64_t LedgerBook::NetworkFee(int64_t price) const { return ledger::NetworkFee(options_, price); }

const LedgerBook::Escrow* LedgerBook::EscrowOf(std::string_view job_id) const {
  auto it = escrows_.find(mesh::ToAbsl(job_id));
  return it == escrows_.end() ? nullptr : &it->second;
}

int64_t LedgerBook::AccountBalance(std::string_view account) const {
  auto it = balances_.find(mesh::ToAbsl(account));
  return it == balances_.end() ? 0 : it->second;
}

// What `did` has regenerated since it was last topped up. Time that yields less than one whole
// credit is kept (next_us does not advance past it), so a slow rate still pays out; time spent at
// or above the cap is not banked.
LedgerBook::RegenDue LedgerBook::RegenDueAt(std::string_view did, int64_t now_us) const {
  RegenDue due;
  const RegenPolicy& p = options_.regen;
  if (p.credits_per_hour <= 0 || p.cap <= 0) return due;
  auto last = regen_us_.find(mesh::ToAbsl(did));
  const int64_t available = AccountBalance(did);
  due.next_us = now_us;
  if (last == regen_us_.end()) {
    if (p.start_full && available < p.cap) due.add = p.cap - available;
  } else if (now_us <= last->second) {
    return due;
  } else if (available < p.cap) {
    const __int128 owed =
        static_cast<__int128>(now_us - last->second) * p.credits_per_hour / kMicrosPerHour;
    if (owed == 0) return due;
    if (owed < p.cap - available) {
      due.add = static_cast<int64_t>(owed);
      // Consume only the time those whole credits took (rounded up: never over-credit).
      const __int128 used = (owed * kMicrosPerHour + p.credits_per_hour - 1) / p.credits_per_hour;
      due.next_us = last->second + static_cast<int64_t>(used);
    } else {
      due.add = p.cap - available;
    }
  }
  due.record = true;
  return due;
}

int64_t LedgerBook::AddRegen(std::string_view did, absl::Time now, int64_t seq,
                             Decision& decision) const {
  const RegenDue due = RegenDueAt(did, absl::ToUnixMicros(now));
  if (!due.record) return 0;
  if (due.add > 0) {
    Entry e;
    e.seq = seq;
    e.time = EntryTime(now);
    e.kind = EntryKind::kRegen;
    e.postings = {{std::string(kMintAccount), -due.add}, {std::string(did), due.add}};
    decision.entries.push_back(std::move(e));
  }
  decision.regen_marks.push_back({std::string(did), due.next_us});
  return due.add;
}

absl::StatusOr<Decision> LedgerBook::DecideGrant(std::string_view did, int64_t amount,
                                                 std::string_view memo, absl::Time now) const {
  MESH_RETURN_IF_ERROR(CheckGrant(did, amount, memo));
  Decision d;
  Entry e;
  e.seq = next_seq_;
  e.time = EntryTime(now);
  e.kind = EntryKind::kGrant;
  e.postings = {{std::string(kMintAccount), -amount}, {std::string(did), amount}};
  e.memo = std::string(memo);
  d.entries.push_back(std::move(e));
  d.posted = Posted{next_seq_, false, amount};
  return d;
}

absl::StatusOr<Decision> LedgerBook::DecideEscrow(const EscrowRequest& r, absl::Time now) const {
  MESH_RETURN_IF_ERROR(CheckEscrow(r));
  MESH_ASSIGN_OR_RETURN(auto amounts, EscrowAmounts(r));
  const auto [held, total] = amounts;
  const std::string key = EscrowKey(r.job_id);
  if (auto prior = keys_.find(key); prior != keys_.end()) {
    const Escrow* x = EscrowOf(r.job_id);
    if (x != nullptr && x->submitter == r.submitter && x->escrowed == held &&
        x->submit_fee == r.submit_fee) {
      return Decision{Posted{prior->second, true, held}, {}, {}};
    }
    return absl::AlreadyExistsError(mesh::StrCat(
        "job ", r.job_id, " already has an escrow (entry ", prior->second, ": ",
        x != nullptr ? x->escrowed : 0, " credits from ", x != nullptr ? x->submitter : "?",
        "); a job is escrowed once: resubmit it as a new job to change its price"));
  }
  Decision d;
  const int64_t available = AccountBalance(r.submitter) + AddRegen(r.submitter, now, next_seq_, d);
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
  e.seq = next_seq_ + static_cast<int64_t>(d.entries.size());
  e.time = EntryTime(now);
  e.kind = EntryKind::kEscrow;
  e.job_id = r.job_id;
  e.key = key;
  e.postings = {{r.submitter, -total}, {EscrowAccount(r.job_id), held}};
  if (r.submit_fee > 0) e.postings.push_back({std::string(kFeesAccount), r.submit_fee});
  e.memo = mesh::StrCat("max price ", r.max_price, " x ", r.replicas);
  d.posted = Posted{e.seq, false, held};
  d.entries.push_back(std::move(e));
  return d;
}

absl::StatusOr<Decision> LedgerBook::DecidePay(std::string_view job_id, std::string_view executor,
                                               int64_t amount, int64_t fee,
                                               std::string_view assignment, absl::Time now) const {
  MESH_RETURN_IF_ERROR(CheckPay(job_id, executor, amount, fee, assignment));
  const int64_t total = amount + fee;  // CheckPay ruled out overflow
  // The key before the escrow's state: a duplicate of a payment made before the refund is
  // still a duplicate (OK), not a late receipt.
  std::string key = PayKey(job_id, executor, assignment);
  if (auto prior = keys_.find(key); prior != keys_.end()) {
    return Decision{Posted{prior->second, true, amount}, {}, {}};
  }
  const Escrow* x = EscrowOf(job_id);
  if (x == nullptr) {
    return absl::NotFoundError(
        mesh::StrCat("job ", job_id, " has no escrow on this ledger; nothing to pay from"));
  }
  if (x->closed_seq != 0) {
    return absl::FailedPreconditionError(
        mesh::StrCat("late receipt: job ", job_id, "'s escrow was closed by entry ", x->closed_seq,
                     "; nothing paid to ", executor));
  }
  if (x->remaining < total) {
    return absl::FailedPreconditionError(
        mesh::StrCat("escrow of job ", job_id, " holds ", x->remaining, " credits but paying ",
                     executor, " needs ", total, " (price ", amount, " + network fee ", fee,
                     "); the price exceeds what was escrowed"));
  }
  Entry e;
  e.seq = next_seq_;
  e.time = EntryTime(now);
  e.kind = EntryKind::kPay;
  e.job_id = std::string(job_id);
  e.key = std::move(key);
  e.postings = {{EscrowAccount(job_id), -total}, {std::string(executor), amount}};
  if (fee > 0) e.postings.push_back({std::string(kFeesAccount), fee});
  if (!assignment.empty()) e.memo = mesh::StrCat("assignment ", assignment);
  Decision d;
  d.posted = Posted{e.seq, false, amount};
  d.entries.push_back(std::move(e));
  return d;
}

absl::StatusOr<Decision> LedgerBook::DecideTransfer(std::string_view from, std::string_view to,
                                                    int64_t amount, std::string_view key,
                                                    std::string_view memo, absl::Time now) const {
  MESH_RETURN_IF_ERROR(CheckTransfer(from, to, amount, key, memo));
  const std::string full_key = mesh::StrCat("transfer:", key);
  if (auto prior = keys_.find(full_key); prior != keys_.end()) {
    return Decision{Posted{prior->second, true, amount}, {}, {}};
  }
  Decision d;
  const int64_t available = AccountBalance(from) + AddRegen(from, now, next_seq_, d);
  if (available < amount) {
    return absl::FailedPreconditionError(mesh::StrCat("insufficient credit: ", from, " has ",
                                                      available, " available, ", amount,
                                                      " needed to pay ", to, " (", memo, ")"));
  }
  Entry e;
  e.seq = next_seq_ + static_cast<int64_t>(d.entries.size());
  e.time = EntryTime(now);
  e.kind = EntryKind::kTransfer;
  e.key = full_key;
  e.postings = {{std::string(from), -amount}, {std::string(to), amount}};
  e.memo = std::string(memo);
  d.posted = Posted{e.seq, false, amount};
  d.entries.push_back(std::move(e));
  return d;
}

absl::StatusOr<Decision> LedgerBook::DecideRefund(std::string_view job_id, std::string_view memo,
                                                  absl::Time now) const {
  MESH_RETURN_IF_ERROR(CheckRefund(job_id, memo));
  const Escrow* x = EscrowOf(job_id);
  if (x == nullptr) {
    return absl::NotFoundError(
        mesh::StrCat("job ", job_id, " has no escrow on this ledger; nothing to refund"));
  }
  if (x->closed_seq != 0) return Decision{Posted{x->closed_seq, true, x->refunded}, {}, {}};
  // The refund entry always exists, even with nothing left to return: it is what closes the
  // escrow in the chain, so Verify() can refuse any later payment from it.
  Entry e;
  e.seq = next_seq_;
  e.time = EntryTime(now);
  e.kind = EntryKind::kRefund;
  e.job_id = std::string(job_id);
  e.key = RefundKey(job_id);
  if (x->remaining > 0) {
    e.postings = {{EscrowAccount(job_id), -x->remaining}, {x->submitter, x->remaining}};
  }
  e.memo = std::string(memo);
  Decision d;
  d.posted = Posted{e.seq, false, x->remaining};
  d.entries.push_back(std::move(e));
  return d;
}

absl::StatusOr<Decision> LedgerBook::DecideRegenerate(std::string_view did, absl::Time now) const {
  MESH_RETURN_IF_ERROR(CheckRegenerate(did));
  Decision d;
  const int64_t added = AddRegen(did, now, next_seq_, d);
  d.posted = Posted{d.entries.empty() ? 0 : d.entries.front().seq, false, added};
  return d;
}

absl::Status LedgerBook::Apply(const Decision& decision) {
  for (const Entry& e : decision.entries) MESH_RETURN_IF_ERROR(Apply(e));
  for (const RegenMark& m : decision.regen_marks) SetRegenTime(m.did, m.at_us);
  return absl::OkStatus();
}

absl::Status LedgerBook::Apply(const Entry& e) {
  auto refuse = [&e](std::string why) {
    return absl::FailedPreconditionError(
        mesh::StrCat("ledger entry ", e.seq, " breaks the book's rules: ", why));
  };
  if (e.seq != next_seq_) return refuse(mesh::StrCat("the next entry is ", next_seq_));
  if (!e.key.empty() && keys_.contains(e.key)) {
    return refuse(mesh::StrCat("its key \"", e.key, "\" was used by entry ", keys_.at(e.key)));
  }
  // Check everything before changing anything, so a refused entry leaves the book as it was.
  const Escrow* x = e.job_id.empty() ? nullptr : EscrowOf(e.job_id);
  if (e.kind == EntryKind::kEscrow && e.job_id.empty()) return refuse("an escrow without a job");
  if (e.kind == EntryKind::kEscrow && x != nullptr) {
    return refuse(mesh::StrCat("job ", e.job_id, " is escrowed a second time"));
  }
  if (e.kind == EntryKind::kRefund && (x == nullptr || x->closed_seq != 0)) {
    return refuse(mesh::StrCat("it refunds job ", e.job_id, ", whose escrow is not open"));
  }
  Escrow opened;
  if (e.kind == EntryKind::kEscrow) opened.opened_seq = e.seq;
  std::vector<int64_t> after;
  after.reserve(e.postings.size());
  for (const Posting& p : e.postings) {
    if (IsEscrowAccount(p.account)) {
      const std::string_view job = std::string_view(p.account).substr(kEscrowPrefix.size());
      if (job != e.job_id) {
        return refuse(
            mesh::StrCat("it posts to the escrow of job ", job, " but is about job ", e.job_id));
      }
      if (e.kind != EntryKind::kEscrow && (x == nullptr || x->closed_seq != 0)) {
        return refuse(mesh::StrCat("it posts to the escrow of job ", job, ", which is not open"));
      }
    }
    int64_t balance = 0;
    if (__builtin_add_overflow(AccountBalance(p.account), p.amount, &balance)) {
      return refuse(mesh::StrCat("it overflows the balance of ", p.account));
    }
    if (balance < 0 && p.account != kMintAccount) {
      return refuse(mesh::StrCat("it leaves ", p.account, " at ", balance,
                                 " credits; only mint may be negative"));
    }
    after.push_back(balance);
    if (e.kind == EntryKind::kEscrow) {
      if (IsEscrowAccount(p.account)) opened.escrowed = p.amount;
      if (p.account == kFeesAccount) opened.submit_fee = p.amount;
      if (p.amount < 0) opened.submitter = p.account;
    }
  }

  Escrow* escrow = nullptr;  // the entry's job's escrow, where it has one
  if (e.kind == EntryKind::kEscrow) {
    escrow = &(escrows_[e.job_id] = std::move(opened));
  } else if (x != nullptr) {
    escrow = &escrows_.find(e.job_id)->second;
  }
  for (size_t i = 0; i < e.postings.size(); ++i) {
    const Posting& p = e.postings[i];
    balances_[p.account] = after[i];
    if (IsEscrowAccount(p.account)) {
      escrow->remaining += p.amount;
      held_[escrow->submitter] += p.amount;
    } else if (e.kind == EntryKind::kRefund && p.account == escrow->submitter) {
      escrow->refunded = p.amount;
    }
  }
  if (e.kind == EntryKind::kRefund) escrow->closed_seq = e.seq;
  if (!e.key.empty()) keys_[e.key] = e.seq;
  ++next_seq_;
  return absl::OkStatus();
}

void LedgerBook::SetRegenTime(std::string_view did, int64_t at_us) {
  regen_us_[std::string(did)] = at_us;
}

absl::StatusOr<Posted> LedgerBook::Post(absl::StatusOr<Decision> decision) {
  MESH_RETURN_IF_ERROR(decision.status());
  MESH_RETURN_IF_ERROR(Apply(*decision));
  return decision->posted;
}

absl::StatusOr<Balance> LedgerBook::BalanceOf(std::string_view did, absl::Time now) const {
  if (!IsDidAccount(did)) {
    return absl::InvalidArgumentError(mesh::StrCat("\"", did, "\" is not a DID"));
  }
  Balance b;
  b.did = std::string(did);
  b.available = AccountBalance(did) + RegenDueAt(did, absl::ToUnixMicros(now)).add;
  auto held = held_.find(mesh::ToAbsl(did));
  b.held = held == held_.end() ? 0 : held->second;
  return b;
}

std::vector<std::pair<std::string, int64_t>> LedgerBook::Accounts() const {
  std::vector<std::pair<std::string, int64_t>> out(balances_.begin(), balances_.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<EscrowInfo> LedgerBook::FindEscrow(std::string_view job_id) const {
  const Escrow* x = EscrowOf(job_id);
  if (x == nullptr) return std::nullopt;
  EscrowInfo info;
  info.job_id = std::string(job_id);
  info.submitter = x->submitter;
  info.escrowed = x->escrowed;
  info.remaining = x->remaining;
  info.open = x->closed_seq == 0;
  info.opened_seq = x->opened_seq;
  info.closed_seq = x->closed_seq;
  return info;
}

bool operator==(const LedgerBook& a, const LedgerBook& b) {
  return a.next_seq_ == b.next_seq_ && a.balances_ == b.balances_ && a.held_ == b.held_ &&
         a.escrows_ == b.escrows_ && a.keys_ == b.keys_ && a.regen_us_ == b.regen_us_;
}

}  // namespace mesh::ledger
