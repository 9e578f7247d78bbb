#include "mesh/ledger/ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "ledger_test_util.h"
#include "mesh/common/hex.h"
#include "mesh/common/testing.h"
#include "mesh/ledger/ledger_json.h"

namespace mesh::ledger {
namespace {

using testing::Did;
using ::testing::HasSubstr;
using testing::RawSql;

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(LedgerOptions options = {}) {
    ledger_.reset();
    ASSERT_OK_AND_ASSIGN(ledger_, Ledger::Open(path(), &key_, clock_, std::move(options)));
  }
  std::filesystem::path path() const { return dir_.path() / "ledger.db"; }
  int64_t Available(const std::string& did) {
    absl::StatusOr<Balance> b = ledger_->BalanceOf(did);
    EXPECT_OK(b);
    return b.ok() ? b->available : -1;
  }
  int64_t Account(std::string_view account) {
    absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> all = ledger_->Accounts();
    EXPECT_OK(all);
    for (const auto& [a, v] : *all) {
      if (a == account) return v;
    }
    return 0;
  }
  EscrowRequest Job(const std::string& job, int64_t max_price, int64_t replicas = 1) {
    return EscrowRequest{job, submitter_, max_price, replicas, 0};
  }
  // Closes the ledger, runs `sql` on the file and returns what Verify() of a read-only reopen
  // finds.
  VerifyReport TamperAndVerify(const std::string& sql) {
    ledger_.reset();
    RawSql(path(), sql);
    absl::StatusOr<std::unique_ptr<Ledger>> ro = Ledger::Open(path(), nullptr, clock_);
    EXPECT_OK(ro);
    absl::StatusOr<VerifyReport> report = (*ro)->Verify();
    EXPECT_OK(report);
    return *report;
  }
  // A ledger with a few entries of every kind: 1 grant, 2 grant, 3 escrow, 4 pay, 5 refund.
  void Populate() {
    ASSERT_OK(ledger_->Grant(submitter_, 1000, "welcome").status());
    ASSERT_OK(ledger_->Grant(Did(2), 50).status());
    ASSERT_OK(ledger_->Escrow(Job("job-1", 100, 3)).status());
    ASSERT_OK(ledger_->Pay("job-1", executor_, 90, 5).status());
    ASSERT_OK(ledger_->Refund("job-1").status());
    ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
    ASSERT_TRUE(report.ok) << report.problem;
    ASSERT_EQ(report.entries, 5);
  }

  ScopedTempDir dir_;
  FakeClock clock_;
  crypto::KeyPair key_ = crypto::KeyPair::Generate();
  std::unique_ptr<Ledger> ledger_;
  const std::string submitter_ = Did(1);
  const std::string executor_ = Did(9);
};

TEST_F(LedgerTest, GrantEscrowPayRefundMovesCreditsExactly) {
  ASSERT_OK_AND_ASSIGN(Posted g, ledger_->Grant(submitter_, 1000, "welcome"));
  EXPECT_EQ(g.seq, 1);
  ASSERT_OK_AND_ASSIGN(Posted e, ledger_->Escrow(Job("job-1", 100, 3)));
  EXPECT_EQ(e.amount, 300);
  ASSERT_OK_AND_ASSIGN(Balance b, ledger_->BalanceOf(submitter_));
  EXPECT_EQ(b.available, 700);
  EXPECT_EQ(b.held, 300);
  ASSERT_OK(ledger_->Pay("job-1", executor_, 80, 4, "replica-0").status());
  ASSERT_OK(ledger_->Pay("job-1", Did(8), 90, 4, "replica-1").status());
  ASSERT_OK_AND_ASSIGN(EscrowInfo x, ledger_->GetEscrow("job-1"));
  EXPECT_EQ(x.remaining, 300 - 84 - 94);
  ASSERT_OK_AND_ASSIGN(Posted r, ledger_->Refund("job-1", "done"));
  EXPECT_EQ(r.amount, 122);
  EXPECT_EQ(Available(submitter_), 822);
  EXPECT_EQ(Available(executor_), 80);
  EXPECT_EQ(Available(Did(8)), 90);
  EXPECT_EQ(Account("fees"), 8);
  EXPECT_EQ(Account("mint"), -1000);
  EXPECT_EQ(Account("escrow:job-1"), 0);
  ASSERT_OK_AND_ASSIGN(b, ledger_->BalanceOf(submitter_));
  EXPECT_EQ(b.held, 0);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 5);
  EXPECT_EQ(report.minted, 1000);
  EXPECT_EQ(report.owner, key_.did().ToString());
}

TEST_F(LedgerTest, TransfersAreSignedChainedAndVerified) {
  ASSERT_OK(ledger_->Grant(submitter_, 500, "welcome").status());
  ASSERT_OK(ledger_->Transfer(submitter_, executor_, 120, "rent:f:0:1", "storage rent").status());
  ASSERT_OK_AND_ASSIGN(Posted dup,
                       ledger_->Transfer(submitter_, executor_, 120, "rent:f:0:1", "storage rent"));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(Available(submitter_), 380);
  EXPECT_EQ(Available(executor_), 120);
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> history, ledger_->History(executor_, 10));
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].kind, EntryKind::kTransfer);
  EXPECT_EQ(history[0].memo, "storage rent");
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 2);
}

TEST_F(LedgerTest, InsufficientCreditIsRefusedWithAmountsAndFix) {
  ASSERT_OK(ledger_->Grant(submitter_, 40).status());
  absl::StatusOr<Posted> e = ledger_->Escrow(Job("job-1", 100, 3));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      e.status().message(),
      HasSubstr("insufficient credit: did:test:user1 has 40 available, job job-1 needs "
                "300 (max price 100 × 3 replicas); lower --max-price or the replicas of --verify"));
  EXPECT_EQ(Available(submitter_), 40);
  EXPECT_EQ(ledger_->GetEscrow("job-1").status().code(), absl::StatusCode::kNotFound);
  // The submit fee counts too.
  EscrowRequest with_fee = Job("job-2", 20, 2);
  with_fee.submit_fee = 1;
  EXPECT_THAT(ledger_->Escrow(with_fee).status().message(), HasSubstr("+ submit fee 1"));
}

TEST_F(LedgerTest, EscrowIsOncePerJobAndRetriesAreDuplicates) {
  ASSERT_OK(ledger_->Grant(submitter_, 1000).status());
  EscrowRequest req = Job("job-1", 100, 2);
  req.submit_fee = 7;
  ASSERT_OK_AND_ASSIGN(Posted first, ledger_->Escrow(req));
  ASSERT_OK_AND_ASSIGN(Posted again, ledger_->Escrow(req));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_EQ(Available(submitter_), 793);
  EXPECT_EQ(Account("fees"), 7);
  EscrowRequest other = req;
  other.max_price = 101;
  EXPECT_EQ(ledger_->Escrow(other).status().code(), absl::StatusCode::kAlreadyExists);
  other = req;
  other.submitter = Did(2);
  EXPECT_EQ(ledger_->Escrow(other).status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_EQ(report.entries, 2);
}

TEST_F(LedgerTest, PayIsIdempotentPerJobExecutorAndAssignment) {
  ASSERT_OK(ledger_->Grant(submitter_, 1000).status());
  ASSERT_OK(ledger_->Escrow(Job("job-1", 100, 3)).status());
  ASSERT_OK_AND_ASSIGN(Posted p, ledger_->Pay("job-1", executor_, 60, 2));
  EXPECT_FALSE(p.duplicate);
  ASSERT_OK_AND_ASSIGN(Posted dup, ledger_->Pay("job-1", executor_, 60, 2));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(dup.seq, p.seq);
  // A second receipt from the same executor for the same assignment, even with another price.
  ASSERT_OK_AND_ASSIGN(dup, ledger_->Pay("job-1", executor_, 99, 0));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(Available(executor_), 60);
  // Another assignment (e.g. a second chunk) is another payment.
  ASSERT_OK_AND_ASSIGN(p, ledger_->Pay("job-1", executor_, 10, 0, "chunk-2"));
  EXPECT_FALSE(p.duplicate);
  EXPECT_EQ(Available(executor_), 70);
}

TEST_F(LedgerTest, PayRefusals) {
  ASSERT_OK(ledger_->Grant(submitter_, 1000).status());
  ASSERT_OK(ledger_->Escrow(Job("job-1", 100)).status());
  absl::Status beyond = ledger_->Pay("job-1", executor_, 100, 1).status();
  EXPECT_EQ(beyond.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(beyond.message(), HasSubstr("holds 100 credits but paying"));
  EXPECT_THAT(beyond.message(), HasSubstr("needs 101 (price 100 + network fee 1)"));
  EXPECT_EQ(ledger_->Pay("job-9", executor_, 1, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger_->Pay("job-1", executor_, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Pay("job-1", executor_, -5, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Pay("job-1", executor_, 5, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Pay("job-1", "bob", 5, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Pay("job-1", executor_, INT64_MAX, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_OK(ledger_->Pay("job-1", executor_, 50, 0, "a").status());
  ASSERT_OK(ledger_->Refund("job-1").status());
  absl::Status late = ledger_->Pay("job-1", Did(8), 10, 0).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.message(), HasSubstr("late receipt"));
  // The payment made before the refund, repeated late, is still just a duplicate.
  ASSERT_OK_AND_ASSIGN(Posted dup, ledger_->Pay("job-1", executor_, 50, 0, "a"));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(Available(executor_), 50);
  EXPECT_EQ(Available(Did(8)), 0);
}

TEST_F(LedgerTest, RefundIsIdempotentAndClosesTheEscrow) {
  ASSERT_OK(ledger_->Grant(submitter_, 500).status());
  ASSERT_OK(ledger_->Escrow(Job("job-1", 100, 2)).status());
  ASSERT_OK_AND_ASSIGN(Posted r, ledger_->Refund("job-1", "timeout"));
  EXPECT_EQ(r.amount, 200);
  ASSERT_OK_AND_ASSIGN(Posted again, ledger_->Refund("job-1"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, r.seq);
  EXPECT_EQ(again.amount, 200);
  EXPECT_EQ(Available(submitter_), 500);
  ASSERT_OK_AND_ASSIGN(EscrowInfo x, ledger_->GetEscrow("job-1"));
  EXPECT_FALSE(x.open);
  EXPECT_EQ(x.closed_seq, r.seq);
  EXPECT_EQ(ledger_->Refund("job-2").status().code(), absl::StatusCode::kNotFound);
  // A fully paid job still closes, with an entry that moves nothing.
  ASSERT_OK(ledger_->Escrow(Job("job-3", 10)).status());
  ASSERT_OK(ledger_->Pay("job-3", executor_, 10, 0).status());
  ASSERT_OK_AND_ASSIGN(r, ledger_->Refund("job-3"));
  EXPECT_EQ(r.amount, 0);
  EXPECT_EQ(ledger_->Pay("job-3", Did(8), 1, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
}

TEST_F(LedgerTest, BadInputIsRefused) {
  EXPECT_EQ(ledger_->Grant(submitter_, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Grant(submitter_, -1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Grant("mint", 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Grant("escrow:job-1", 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Grant(submitter_, 5, "\xff").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_OK(ledger_->Grant(submitter_, 100).status());
  EXPECT_EQ(ledger_->Escrow(Job("job 1", 5)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Escrow(Job("job|1", 5)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Escrow(Job("", 5)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Escrow(Job("job-1", 0)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Escrow(Job("job-1", 5, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Escrow(Job("job-1", INT64_MAX, 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EscrowRequest neg_fee = Job("job-1", 5);
  neg_fee.submit_fee = -1;
  EXPECT_EQ(ledger_->Escrow(neg_fee).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_EQ(report.entries, 1);
}

TEST_F(LedgerTest, BalancesSurviveRestart) {
  Populate();
  Reopen();
  EXPECT_EQ(Available(submitter_), 1000 - 95);
  EXPECT_EQ(Available(executor_), 90);
  EXPECT_EQ(Account("fees"), 5);
  ASSERT_OK_AND_ASSIGN(Posted p, ledger_->Grant(submitter_, 1));
  EXPECT_EQ(p.seq, 6);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
}

TEST_F(LedgerTest, ReopenedLedgerHasTheSameBook) {
  LedgerOptions options;
  options.regen = {.credits_per_hour = 10, .cap = 100, .start_full = false};
  Reopen(options);
  Populate();
  ASSERT_OK(ledger_->Escrow(Job("job-2", 100, 2)).status());  // left open
  ASSERT_OK(ledger_->Pay("job-2", executor_, 30, 0, "r0").status());
  ASSERT_OK(ledger_->Regenerate(Did(3)).status());  // a regeneration clock with no entry
  ASSERT_OK_AND_ASSIGN(LedgerBook before, ledger_->Book());
  ledger_.reset();
  ASSERT_OK_AND_ASSIGN(ledger_, Ledger::Open(path(), &key_, clock_, options));
  ASSERT_OK_AND_ASSIGN(LedgerBook after, ledger_->Book());
  EXPECT_TRUE(before == after);
  EXPECT_EQ(after.last_seq(), 7);
  EXPECT_EQ(after.Accounts(), before.Accounts());
  ASSERT_OK_AND_ASSIGN(EscrowInfo x, ledger_->GetEscrow("job-2"));
  EXPECT_TRUE(x.open);
  EXPECT_EQ(x.remaining, 170);
  ASSERT_OK_AND_ASSIGN(Balance b, ledger_->BalanceOf(submitter_));
  EXPECT_EQ(b.held, 170);
  // The book's rules still hold across the restart: the same payment is a duplicate.
  ASSERT_OK_AND_ASSIGN(Posted dup, ledger_->Pay("job-2", executor_, 30, 0, "r0"));
  EXPECT_TRUE(dup.duplicate);
  // A read-only reader loads the same book from the file.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Ledger> ro, Ledger::Open(path(), nullptr, clock_, options));
  ASSERT_OK_AND_ASSIGN(LedgerBook read, ro->Book());
  EXPECT_TRUE(read == after);
}

TEST_F(LedgerTest, ASecondLedgerOnTheFileSeesTheOthersAppendsBeforeDeciding) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Ledger> other, Ledger::Open(path(), &key_, clock_));
  ASSERT_OK(ledger_->Grant(submitter_, 100).status());
  // `other` loaded its book before the grant; it must catch up before it decides.
  ASSERT_OK_AND_ASSIGN(Posted e, other->Escrow(Job("job-1", 80)));
  EXPECT_EQ(e.seq, 2);
  // And `ledger_` must see that escrow: only 20 are left.
  absl::Status refused = ledger_->Escrow(Job("job-2", 80)).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("has 20 available"));
  ASSERT_OK_AND_ASSIGN(Posted p, ledger_->Pay("job-1", executor_, 50, 0, "a"));
  ASSERT_OK_AND_ASSIGN(Posted dup, other->Pay("job-1", executor_, 50, 0, "a"));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(dup.seq, p.seq);
  ASSERT_OK(other->Refund("job-1").status());
  // Reads catch up too, with no append in between.
  ASSERT_OK_AND_ASSIGN(Balance b, ledger_->BalanceOf(submitter_));
  EXPECT_EQ(b.available, 50);
  EXPECT_EQ(b.held, 0);
  ASSERT_OK_AND_ASSIGN(EscrowInfo x, ledger_->GetEscrow("job-1"));
  EXPECT_FALSE(x.open);
  absl::Status late = ledger_->Pay("job-1", Did(8), 5, 0).status();
  EXPECT_THAT(late.message(), HasSubstr("late receipt"));
  ASSERT_OK_AND_ASSIGN(LedgerBook mine, ledger_->Book());
  ASSERT_OK_AND_ASSIGN(LedgerBook theirs, other->Book());
  EXPECT_TRUE(mine == theirs);
  EXPECT_EQ(mine.last_seq(), 4);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 4);
}

TEST_F(LedgerTest, ReadOnlyAndForeignKeys) {
  Populate();
  ledger_.reset();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Ledger> ro, Ledger::Open(path(), nullptr, clock_));
  EXPECT_EQ(ro->owner(), key_.did().ToString());
  ASSERT_OK_AND_ASSIGN(Balance b, ro->BalanceOf(executor_));
  EXPECT_EQ(b.available, 90);
  EXPECT_EQ(ro->Grant(executor_, 1).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ro->Verify());
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(Ledger::Open(dir_.path() / "typo.db", nullptr, clock_).status().code(),
            absl::StatusCode::kNotFound);
  crypto::KeyPair other = crypto::KeyPair::Generate();
  absl::StatusOr<std::unique_ptr<Ledger>> wrong = Ledger::Open(path(), &other, clock_);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong.status().message(), HasSubstr("belongs to"));
}

TEST_F(LedgerTest, RegeneratingCapacity) {
  LedgerOptions options;
  options.regen = {.credits_per_hour = 10, .cap = 100, .start_full = false};
  Reopen(options);
  ASSERT_OK(ledger_->Regenerate(submitter_).status());  // the first regeneration starts the clock
  EXPECT_EQ(Available(submitter_), 0);
  clock_.Advance(absl::Minutes(30));
  EXPECT_EQ(Available(submitter_), 5);
  clock_.Advance(absl::Minutes(9));  // 1.5 credits' worth: one now, the half is kept
  EXPECT_EQ(Available(submitter_), 6);
  clock_.Advance(absl::Minutes(3));
  EXPECT_EQ(Available(submitter_), 7);
  clock_.Advance(absl::Hours(100));
  EXPECT_EQ(Available(submitter_), 100);  // capped
  // Escrow regenerates first, then spends.
  ASSERT_OK(ledger_->Escrow(Job("job-1", 60)).status());
  clock_.Advance(absl::Hours(2));
  ASSERT_OK(ledger_->Escrow(Job("job-2", 60)).status());
  EXPECT_EQ(Available(submitter_), 0);
  // A grant can lift an account above the cap; regeneration just stops there.
  ASSERT_OK(ledger_->Grant(submitter_, 500).status());
  clock_.Advance(absl::Hours(5));
  EXPECT_EQ(Available(submitter_), 500);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;

  options.regen.start_full = true;
  Reopen(options);
  EXPECT_EQ(Available(Did(5)), 100);
  // Reading a balance writes nothing (an API read must not grow the chain); spending does.
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> h, ledger_->History(Did(5), 10));
  EXPECT_TRUE(h.empty());
  ASSERT_OK(ledger_->Regenerate(Did(5)).status());
  ASSERT_OK_AND_ASSIGN(h, ledger_->History(Did(5), 10));
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].kind, EntryKind::kRegen);
}

TEST_F(LedgerTest, NetworkFee) {
  LedgerOptions options;
  options.network_fee_bps = 250;  // 2.5 %
  options.network_fee_flat = 1;
  Reopen(options);
  EXPECT_EQ(ledger_->NetworkFee(1000), 26);
  EXPECT_EQ(ledger_->NetworkFee(10), 1);
  EXPECT_EQ(ledger_->NetworkFee(INT64_MAX), int64_t{230584300921369396});  // no overflow
}

TEST_F(LedgerTest, HistoryNewestFirstByDidAndPaged) {
  Populate();
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> all, ledger_->History("", 100));
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].seq, 5);
  EXPECT_EQ(all[0].kind, EntryKind::kRefund);
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> mine, ledger_->History(submitter_, 100));
  ASSERT_EQ(mine.size(), 3u);  // grant, escrow, refund
  EXPECT_EQ(mine[2].seq, 1);
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> page, ledger_->History("", 2, 4));
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].seq, 3);
  EXPECT_OK(VerifyEntrySignature(page[0]));
  EXPECT_EQ(HashOf(page[1]), page[0].prev_hash);
  nlohmann::json j = ToJson(all[1]);
  EXPECT_EQ(j["kind"], "pay");
  EXPECT_EQ(j["postings"][0]["amount"], -95);
  EXPECT_THAT(FormatEntry(all[1]),
              HasSubstr("pay job=job-1 escrow:job-1 -95, did:test:user9 +90, fees +5"));
  EXPECT_EQ(FormatBalance(Balance{submitter_, 905, 0}), "did:test:user1: 905 available, 0 held");
}

TEST_F(LedgerTest, VerifyFindsAnAlteredAmount) {
  Populate();
  // Balanced and reflected in the balance table: only the signature can tell.
  VerifyReport r = TamperAndVerify(
      "UPDATE postings SET amount = -2000 WHERE seq = 1 AND idx = 0;"
      "UPDATE postings SET amount = 2000 WHERE seq = 1 AND idx = 1;"
      "UPDATE balances SET amount = amount - 1000 WHERE account = 'mint';"
      "UPDATE balances SET amount = amount + 1000 WHERE account = 'did:test:user1';");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 1);
  EXPECT_THAT(r.problem, HasSubstr("signature does not verify"));
  EXPECT_EQ(ToStatus(r).code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(FormatVerifyReport(r), HasSubstr("ledger CORRUPT at entry 1"));
}

TEST_F(LedgerTest, VerifyFindsAnUnbalancedEdit) {
  Populate();
  VerifyReport r = TamperAndVerify("UPDATE postings SET amount = 95 WHERE seq = 4 AND idx = 1");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 4);
  EXPECT_THAT(r.problem, HasSubstr("does not balance"));
}

TEST_F(LedgerTest, VerifyFindsABrokenLink) {
  Populate();
  VerifyReport r = TamperAndVerify("UPDATE entries SET prev_hash = '" + std::string(64, '0') +
                                   "' WHERE seq = 3");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("links to"));
}

TEST_F(LedgerTest, VerifyFindsABadSignature) {
  Populate();
  VerifyReport r = TamperAndVerify("UPDATE entries SET signature = zeroblob(64) WHERE seq = 2");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 2);
}

TEST_F(LedgerTest, VerifyFindsADeletedEntry) {
  Populate();
  VerifyReport r =
      TamperAndVerify("DELETE FROM entries WHERE seq = 2; DELETE FROM postings WHERE seq = 2;");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 2);
  EXPECT_THAT(r.problem, HasSubstr("missing"));
  // Renumbering to hide the gap breaks the links instead.
  r = TamperAndVerify(
      "UPDATE entries SET seq = seq - 1 WHERE seq > 2; UPDATE postings SET seq = seq - 1 WHERE "
      "seq > 2;");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 2);
}

TEST_F(LedgerTest, VerifyFindsTruncationAndStaleCaches) {
  Populate();
  VerifyReport r =
      TamperAndVerify("DELETE FROM entries WHERE seq = 5; DELETE FROM postings WHERE seq = 5;");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.problem, HasSubstr("removed from the end"));
}

TEST_F(LedgerTest, VerifyFindsABalanceTableEdit) {
  Populate();
  VerifyReport r =
      TamperAndVerify("UPDATE balances SET amount = 99999 WHERE account = 'did:test:user9'");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 0);
  EXPECT_THAT(r.problem, HasSubstr("balance table says did:test:user9 has 99999"));
}

TEST_F(LedgerTest, VerifyFindsAnEntrySignedByAnotherKey) {
  Populate();
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> h, ledger_->History("", 1, 3));  // entry 2
  Entry forged = h[0];
  forged.postings = {{"mint", -50000}, {Did(2), 50000}};
  crypto::KeyPair mallory = crypto::KeyPair::Generate();
  SignEntry(mallory, forged);
  VerifyReport r =
      TamperAndVerify(mesh::StrCat("UPDATE postings SET amount = -50000 WHERE seq = 2 AND idx = 0;"
                                   "UPDATE postings SET amount = 50000 WHERE seq = 2 AND idx = 1;"
                                   "UPDATE entries SET signer = '",
                                   forged.signer, "', signature = x'", HexEncode(forged.signature),
                                   "', hash = '", HashOf(forged), "' WHERE seq = 2;"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 2);
  EXPECT_THAT(r.problem, HasSubstr("not by the ledger's owner"));
}

TEST_F(LedgerTest, FailureBeforeCommitLeavesNoTrace) {
  Populate();
  bool fail = true;
  LedgerOptions options;
  options.before_commit = [&fail]() {
    return fail ? absl::AbortedError("injected crash") : absl::OkStatus();
  };
  Reopen(options);
  EXPECT_EQ(ledger_->Grant(submitter_, 5).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ledger_->Escrow(Job("job-2", 10)).status().code(), absl::StatusCode::kAborted);
  fail = false;
  EXPECT_EQ(Available(submitter_), 905);
  EXPECT_EQ(ledger_->GetEscrow("job-2").status().code(), absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(Posted p, ledger_->Escrow(Job("job-2", 10)));
  EXPECT_EQ(p.seq, 6);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
}

// Settle runs payments and refunds of several jobs in one transaction, each decided after the
// ones before it: the same credits move as with Pay and Refund one by one.
TEST_F(LedgerTest, SettlePaysAndRefundsInOneTransactionInOrder) {
  ASSERT_OK(ledger_->Grant(submitter_, 1000).status());
  ASSERT_OK(ledger_->Escrow(Job("job-1", 100, 2)).status());
  ASSERT_OK(ledger_->Escrow(Job("job-2", 50)).status());
  const std::vector<SettleOrder> orders = {
      PayOrder{"job-1", executor_, 80, 4, "job-1/1"},
      PayOrder{"job-1", Did(8), 70, 4, "job-1/2"},
      RefundOrder{"job-1", "done"},
      PayOrder{"job-2", executor_, 40, 2, "job-2/1"},
      RefundOrder{"job-2", "done"},
  };
  std::vector<absl::StatusOr<Posted>> results = ledger_->Settle(orders);
  ASSERT_EQ(results.size(), orders.size());
  for (const auto& r : results) ASSERT_OK(r);
  EXPECT_EQ(results[2]->amount, 200 - 84 - 74);  // the refund saw both payments
  EXPECT_EQ(results[4]->amount, 50 - 42);
  EXPECT_EQ(results[4]->seq, 8);  // grant, 2 escrows, then the five in order
  EXPECT_EQ(Available(submitter_), 1000 - 84 - 74 - 42);
  EXPECT_EQ(Available(executor_), 120);
  EXPECT_EQ(Available(Did(8)), 70);
  EXPECT_EQ(Account("fees"), 10);
  EXPECT_EQ(Account("escrow:job-1"), 0);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 8);

  // What the file holds is what the book said: a fresh open agrees.
  Reopen();
  EXPECT_EQ(Available(submitter_), 800);
  EXPECT_EQ(Available(executor_), 120);
}

// An order the book refuses fails alone; the others are written.
TEST_F(LedgerTest, SettleRefusesABadOrderAlone) {
  ASSERT_OK(ledger_->Grant(submitter_, 1000).status());
  ASSERT_OK(ledger_->Escrow(Job("job-1", 100)).status());
  ASSERT_OK(ledger_->Pay("job-1", executor_, 50, 1, "job-1/1").status());
  const std::vector<SettleOrder> orders = {
      PayOrder{"job-1", executor_, 50, 1, "job-1/1"},  // paid before: a duplicate
      PayOrder{"job-9", executor_, 10, 0, "job-9/1"},  // never escrowed
      PayOrder{"", executor_, 10, 0, ""},              // malformed
      RefundOrder{"job-1", "done"},
  };
  std::vector<absl::StatusOr<Posted>> results = ledger_->Settle(orders);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_OK_AND_ASSIGN(Posted again, ledger_->Pay("job-1", executor_, 50, 1, "job-1/1"));
  EXPECT_EQ(results[0].ok(), true);
  EXPECT_EQ(results[0]->duplicate, again.duplicate);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_OK(results[3]);
  EXPECT_EQ(results[3]->amount, 49);
  EXPECT_EQ(Available(submitter_), 949);
  EXPECT_TRUE(ledger_->Settle({}).empty());
}

// A failure writing the file fails every order and leaves nothing: not in the file, not in the
// book the next operation decides on.
TEST_F(LedgerTest, SettleFailingToCommitLeavesNoTrace) {
  Populate();
  ASSERT_OK(ledger_->Escrow(Job("job-2", 10)).status());
  bool fail = true;
  LedgerOptions options;
  options.before_commit = [&fail]() {
    return fail ? absl::AbortedError("injected crash") : absl::OkStatus();
  };
  Reopen(options);
  const std::vector<SettleOrder> orders = {PayOrder{"job-2", executor_, 8, 1, "job-2/1"},
                                           RefundOrder{"job-2", "done"}};
  for (const auto& r : ledger_->Settle(orders)) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  }
  fail = false;
  ASSERT_OK_AND_ASSIGN(EscrowInfo x, ledger_->GetEscrow("job-2"));
  EXPECT_EQ(x.remaining, 10);
  EXPECT_EQ(Available(executor_), 90);  // what Populate paid, no more
  std::vector<absl::StatusOr<Posted>> retried = ledger_->Settle(orders);
  ASSERT_OK(retried[0]);
  EXPECT_FALSE(retried[0]->duplicate);
  ASSERT_OK(retried[1]);
  EXPECT_EQ(retried[1]->amount, 1);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
}

TEST_F(LedgerTest, ConcurrentOperationsKeepTheInvariants) {
  ASSERT_OK(ledger_->Grant(submitter_, 100000).status());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string job = mesh::StrCat("job-", t, "-", i);
        EXPECT_OK(ledger_->Escrow(Job(job, 10, 2)).status());
        EXPECT_OK(ledger_->Pay(job, executor_, 7, 1).status());
        EXPECT_OK(ledger_->Pay(job, executor_, 7, 1).status());  // duplicate
        EXPECT_OK(ledger_->Refund(job).status());
        EXPECT_OK(ledger_->History("", 5).status());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(Available(executor_), 100 * 7);
  EXPECT_EQ(Available(submitter_), 100000 - 100 * 8);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 1 + 100 * 3);
}

// Operations that arrive while a transaction is being written wait and go together in the next
// one (a group commit): each still decided on its own against the book the ones before it left,
// a refusal failing alone. The first commit is held until all eight callers are on their way.
TEST_F(LedgerTest, ConcurrentEscrowsShareACommitAndARefusalFailsAlone) {
  ASSERT_OK(ledger_->Grant(submitter_, 100000).status());
  constexpr int kCallers = 8;
  std::atomic<int> arrived = 0, commits = 0;
  LedgerOptions options;
  options.before_commit = [&]() {
    if (commits++ == 0) {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (arrived.load() < kCallers && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // into the queue
    }
    return absl::OkStatus();
  };
  Reopen(options);
  std::vector<absl::StatusOr<Posted>> results(kCallers, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kCallers; ++t) {
    threads.emplace_back([&, t] {
      const std::string job = mesh::StrCat("job-", t);
      // The last caller's submitter has no credit.
      EscrowRequest request =
          t == kCallers - 1 ? EscrowRequest{job, Did(5), 10, 1, 0} : Job(job, 10);
      ++arrived;
      results[t] = ledger_->Escrow(request);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kCallers - 1; ++t) EXPECT_OK(results[t].status()) << t;
  EXPECT_EQ(results[kCallers - 1].status().code(), absl::StatusCode::kFailedPrecondition);
  // The first alone, the rest in one batch (or two, if one came late); 7 one by one.
  EXPECT_LE(commits.load(), 3);
  EXPECT_EQ(Available(submitter_), 100000 - 10 * (kCallers - 1));
  EXPECT_EQ(Available(Did(5)), 0);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, ledger_->Verify());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 1 + kCallers - 1);
}

}  // namespace
}  // namespace mesh::ledger
