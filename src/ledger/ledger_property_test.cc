// A seeded random walk of 10,000 ledger operations against a model kept here, with the ledger
// closed without shutdown, failed between INSERT and COMMIT, and killed mid-transaction (a
// forked child that _exits inside the transaction) every ~500 operations. After every reopen
// and at the end: Verify() passes, all accounts sum to zero, only mint is negative, and every
// balance equals the model's.
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "ledger_test_util.h"
#include "mesh/common/testing.h"
#include "mesh/ledger/ledger.h"

namespace mesh::ledger {
namespace {

using testing::Did;

constexpr int kOperations = 10000;
constexpr int kDids = 20;
constexpr int kJobs = 500;
constexpr int kCrashEvery = 500;

struct ModelEscrow {
  std::string submitter;
  int64_t held = 0, fee = 0, remaining = 0;
  bool open = true;
};

struct Model {
  std::map<std::string, int64_t> accounts;
  std::map<std::string, ModelEscrow> escrows;
  std::set<std::string> paid;  // job|executor|assignment

  int64_t& operator[](const std::string& a) { return accounts[a]; }
};

class LedgerPropertyTest : public ::testing::Test {
 protected:
  std::filesystem::path path() const { return dir_.path() / "ledger.db"; }

  LedgerOptions Options() {
    LedgerOptions o;
    o.regen = {.credits_per_hour = 120, .cap = 300, .start_full = false};
    o.before_commit = [this]() -> absl::Status {
      if (!fail_next_) return absl::OkStatus();
      fail_next_ = false;
      fired_ = true;
      return absl::AbortedError("injected failure between INSERT and COMMIT");
    };
    return o;
  }
  void Open() {
    ledger_.reset();
    ASSERT_OK_AND_ASSIGN(ledger_, Ledger::Open(path(), &key_, clock_, Options()));
  }

  // A child process appends a grant and dies inside the transaction, after the rows are written
  // and before COMMIT: the entry must not be there after reopening.
  void CrashChildMidTransaction() {
    ledger_.reset();  // no connection of ours may be open across fork()
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      LedgerOptions o;
      o.before_commit = []() -> absl::Status { ::_exit(0); };
      absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path(), &key_, clock_, o);
      if (l.ok()) (void)(*l)->Grant(Did(0), 777777, "never committed");
      ::_exit(3);  // the hook did not run: the test fails below
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0) << "the child did not die inside the transaction";
    ++crashes_;
  }

  void CheckAgainstModel() {
    ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
    ASSERT_TRUE(report.ok) << report.problem;
    ASSERT_OK_AND_ASSIGN(auto accounts, ledger_->Accounts());
    int64_t sum = 0;
    std::map<std::string, int64_t> nonzero;
    for (const auto& [account, amount] : accounts) {
      sum += amount;
      if (account != "mint") {
        ASSERT_GE(amount, 0) << account;
      }
      if (amount != 0) nonzero[account] = amount;
    }
    EXPECT_EQ(sum, 0);
    std::map<std::string, int64_t> expected;
    for (const auto& [account, amount] : model_.accounts) {
      if (amount != 0) expected[account] = amount;
    }
    ASSERT_EQ(nonzero, expected);
    EXPECT_EQ(report.minted, -model_["mint"]);
  }

  // Applies one random operation to the ledger and the model. A failure injected before
  // COMMIT must leave the model untouched and surface as Aborted.
  void Step(std::mt19937_64& rng) {
    auto pick = [&rng](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    clock_.Advance(absl::Seconds(pick(0, 120)));
    const std::string did = Did(static_cast<int>(pick(0, kDids - 1)));
    const std::string job = mesh::StrCat("job-", pick(0, kJobs - 1));
    const int64_t op = pick(0, 99);
    fired_ = false;
    if (op < 10) {  // grant
      const int64_t amount = pick(1, 1000);
      absl::StatusOr<Posted> p = ledger_->Grant(did, amount, "property");
      if (fired_) return ExpectAborted(p.status());
      ASSERT_OK(p);
      model_["mint"] -= amount;
      model_[did] += amount;
    } else if (op < 45) {  // escrow, after an explicit regeneration the model can observe
      ASSERT_NO_FATAL_FAILURE(Regen(did));
      if (fired_) return;
      EscrowRequest r{job, did, pick(1, 100), pick(1, 3), pick(0, 2)};
      const int64_t held = r.max_price * r.replicas;
      absl::StatusOr<Posted> p = ledger_->Escrow(r);
      if (fired_) return ExpectAborted(p.status());
      auto it = model_.escrows.find(job);
      if (it != model_.escrows.end()) {
        const bool same = it->second.submitter == did && it->second.held == held &&
                          it->second.fee == r.submit_fee;
        if (same) {
          ASSERT_OK(p);
          EXPECT_TRUE(p->duplicate);
        } else {
          EXPECT_EQ(p.status().code(), absl::StatusCode::kAlreadyExists) << p.status();
        }
        return;
      }
      if (model_[did] < held + r.submit_fee) {
        EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition) << p.status();
        return;
      }
      ASSERT_OK(p);
      model_[did] -= held + r.submit_fee;
      model_[EscrowAccount(job)] += held;
      model_["fees"] += r.submit_fee;
      model_.escrows[job] = {did, held, r.submit_fee, held, true};
    } else if (op < 75) {  // pay
      const std::string assignment = pick(0, 2) == 0 ? "" : mesh::StrCat("r", pick(0, 1));
      const int64_t amount = pick(1, 120), fee = pick(0, 5);
      absl::StatusOr<Posted> p = ledger_->Pay(job, did, amount, fee, assignment);
      if (fired_) return ExpectAborted(p.status());
      const std::string key = mesh::StrCat(job, "|", did, "|", assignment);
      auto it = model_.escrows.find(job);
      if (model_.paid.contains(key)) {
        ASSERT_OK(p);
        EXPECT_TRUE(p->duplicate);
      } else if (it == model_.escrows.end()) {
        EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound) << p.status();
      } else if (!it->second.open || it->second.remaining < amount + fee) {
        EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition) << p.status();
      } else {
        ASSERT_OK(p);
        EXPECT_FALSE(p->duplicate);
        model_.paid.insert(key);
        it->second.remaining -= amount + fee;
        model_[EscrowAccount(job)] -= amount + fee;
        model_[did] += amount;
        model_["fees"] += fee;
      }
    } else if (op < 90) {  // refund
      absl::StatusOr<Posted> p = ledger_->Refund(job, "property");
      if (fired_) return ExpectAborted(p.status());
      auto it = model_.escrows.find(job);
      if (it == model_.escrows.end()) {
        EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound) << p.status();
      } else if (!it->second.open) {
        ASSERT_OK(p);
        EXPECT_TRUE(p->duplicate);
      } else {
        ASSERT_OK(p);
        EXPECT_EQ(p->amount, it->second.remaining);
        model_[EscrowAccount(job)] -= it->second.remaining;
        model_[it->second.submitter] += it->second.remaining;
        it->second.remaining = 0;
        it->second.open = false;
      }
    } else {
      ASSERT_NO_FATAL_FAILURE(Regen(did));
    }
  }

  void Regen(const std::string& did) {
    const int64_t before = model_[did];
    absl::StatusOr<Posted> p = ledger_->Regenerate(did);
    if (fired_) return ExpectAborted(p.status());
    ASSERT_OK(p);
    // The rate is tested exactly in ledger_test; here: never above the cap, never negative.
    ASSERT_GE(p->amount, 0);
    if (p->amount > 0) {
      ASSERT_LE(before + p->amount, 300);
    }
    model_["mint"] -= p->amount;
    model_[did] += p->amount;
  }

  void ExpectAborted(const absl::Status& s) {
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
    ++injected_;
  }

  ScopedTempDir dir_;
  FakeClock clock_;
  crypto::KeyPair key_ = crypto::KeyPair::Generate();
  std::unique_ptr<Ledger> ledger_;
  Model model_;
  bool fail_next_ = false, fired_ = false;
  int injected_ = 0, crashes_ = 0;
};

TEST_F(LedgerPropertyTest, InvariantsHoldThroughRandomOperationsAndCrashes) {
  std::mt19937_64 rng(20240601);
  ASSERT_NO_FATAL_FAILURE(Open());
  for (int i = 1; i <= kOperations; ++i) {
    ASSERT_NO_FATAL_FAILURE(Step(rng));
    if (i % kCrashEvery == 0) {
      // Alternate the ways to die; every reopen is checked in full.
      if ((i / kCrashEvery) % 2 == 0) {
        ASSERT_NO_FATAL_FAILURE(CrashChildMidTransaction());
      }
      ASSERT_NO_FATAL_FAILURE(Open());  // the old object is destroyed with no shutdown call
      ASSERT_NO_FATAL_FAILURE(CheckAgainstModel());
    } else if (i % kCrashEvery == kCrashEvery / 2) {
      fail_next_ = true;  // the next write fails between INSERT and COMMIT
    }
  }
  ASSERT_NO_FATAL_FAILURE(CheckAgainstModel());
  EXPECT_EQ(crashes_, kOperations / kCrashEvery / 2);
  EXPECT_GE(injected_, 10);
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> last, ledger_->History("", 1));
  ASSERT_EQ(last.size(), 1u);
  RecordProperty("entries", static_cast<int>(last[0].seq));
}

}  // namespace
}  // namespace mesh::ledger
