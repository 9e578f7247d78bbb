// The ledger's rules alone: a LedgerBook with no file, no clock and no signer.
#include "mesh/ledger/ledger_book.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "mesh/common/strings.h"
#include "mesh/common/testing.h"

namespace mesh::ledger {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

std::string Did(int n) { return mesh::StrCat("did:test:user", n); }

class LedgerBookTest : public ::testing::Test {
 protected:
  EscrowRequest Job(const std::string& job, int64_t max_price, int64_t replicas = 1) {
    return EscrowRequest{job, submitter_, max_price, replicas, 0};
  }
  absl::StatusOr<Posted> Grant(const std::string& did, int64_t amount) {
    return book_.Post(book_.DecideGrant(did, amount, "", now_));
  }
  absl::StatusOr<Posted> Escrow(const EscrowRequest& r) {
    return book_.Post(book_.DecideEscrow(r, now_));
  }
  absl::StatusOr<Posted> Pay(const std::string& job, const std::string& executor, int64_t amount,
                             int64_t fee, const std::string& assignment = "") {
    return book_.Post(book_.DecidePay(job, executor, amount, fee, assignment, now_));
  }
  absl::StatusOr<Posted> Refund(const std::string& job) {
    return book_.Post(book_.DecideRefund(job, "", now_));
  }
  int64_t Available(const std::string& did) {
    absl::StatusOr<Balance> b = book_.BalanceOf(did, now_);
    EXPECT_OK(b);
    return b.ok() ? b->available : -1;
  }

  LedgerBook book_;
  absl::Time now_ = kT0;
  const std::string submitter_ = Did(1);
  const std::string executor_ = Did(9);
};

TEST_F(LedgerBookTest, EscrowPayRefundMovesCreditsExactly) {
  ASSERT_OK_AND_ASSIGN(Posted g, Grant(submitter_, 1000));
  EXPECT_EQ(g.seq, 1);
  ASSERT_OK_AND_ASSIGN(Posted e, Escrow(Job("job-1", 100, 3)));
  EXPECT_EQ(e.seq, 2);
  EXPECT_EQ(e.amount, 300);
  ASSERT_OK_AND_ASSIGN(Balance b, book_.BalanceOf(submitter_, now_));
  EXPECT_EQ(b.available, 700);
  EXPECT_EQ(b.held, 300);
  ASSERT_OK(Pay("job-1", executor_, 80, 4, "replica-0").status());
  ASSERT_OK(Pay("job-1", Did(8), 90, 4, "replica-1").status());
  std::optional<EscrowInfo> x = book_.FindEscrow("job-1");
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->escrowed, 300);
  EXPECT_EQ(x->remaining, 300 - 84 - 94);
  EXPECT_TRUE(x->open);
  ASSERT_OK_AND_ASSIGN(b, book_.BalanceOf(submitter_, now_));
  EXPECT_EQ(b.held, 122);
  ASSERT_OK_AND_ASSIGN(Posted r, Refund("job-1"));
  EXPECT_EQ(r.amount, 122);
  EXPECT_EQ(r.seq, 5);
  EXPECT_EQ(Available(submitter_), 822);
  EXPECT_EQ(Available(executor_), 80);
  EXPECT_EQ(Available(Did(8)), 90);
  EXPECT_EQ(book_.AccountBalance("fees"), 8);
  EXPECT_EQ(book_.AccountBalance("mint"), -1000);
  EXPECT_EQ(book_.AccountBalance("escrow:job-1"), 0);
  ASSERT_OK_AND_ASSIGN(b, book_.BalanceOf(submitter_, now_));
  EXPECT_EQ(b.held, 0);
  EXPECT_EQ(book_.last_seq(), 5);
  int64_t sum = 0;
  for (const auto& [account, amount] : book_.Accounts()) sum += amount;
  EXPECT_EQ(sum, 0);
}

TEST_F(LedgerBookTest, TransferMovesCreditsOncePerKey) {
  ASSERT_OK(Grant(submitter_, 100).status());
  auto transfer = [&](int64_t amount, const std::string& key) {
    return book_.Post(book_.DecideTransfer(submitter_, executor_, amount, key, "rent", now_));
  };
  ASSERT_OK_AND_ASSIGN(Posted t, transfer(30, "file-a:0:1"));
  EXPECT_FALSE(t.duplicate);
  EXPECT_EQ(Available(submitter_), 70);
  EXPECT_EQ(Available(executor_), 30);
  // A retry after a crash: the same key moves nothing again.
  ASSERT_OK_AND_ASSIGN(Posted again, transfer(30, "file-a:0:1"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, t.seq);
  EXPECT_EQ(Available(submitter_), 70);
  absl::Status poor = transfer(71, "file-a:0:2").status();
  EXPECT_EQ(poor.code(), absl::StatusCode::kFailedPrecondition) << poor;
  EXPECT_THAT(std::string(poor.message()), HasSubstr("70 available, 71 needed"));
  EXPECT_EQ(transfer(0, "k").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(book_.DecideTransfer(submitter_, submitter_, 1, "k", "", now_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(book_.DecideTransfer("fees", executor_, 1, "k", "", now_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LedgerBookTest, DecidingChangesNothingUntilApplied) {
  ASSERT_OK(Grant(submitter_, 500).status());
  ASSERT_OK_AND_ASSIGN(Decision d, book_.DecideEscrow(Job("job-1", 100, 2), now_));
  ASSERT_EQ(d.entries.size(), 1u);
  const Entry& e = d.entries[0];
  EXPECT_EQ(e.seq, 2);
  EXPECT_EQ(e.kind, EntryKind::kEscrow);
  EXPECT_EQ(e.key, "escrow:job-1");
  EXPECT_EQ(e.time, kT0);
  EXPECT_TRUE(e.prev_hash.empty());  // linking and signing are the store's
  EXPECT_TRUE(e.signature.empty());
  EXPECT_EQ(e.postings, (std::vector<Posting>{{submitter_, -200}, {"escrow:job-1", 200}}));
  EXPECT_EQ(d.posted.seq, 2);
  EXPECT_FALSE(book_.FindEscrow("job-1").has_value());
  EXPECT_EQ(Available(submitter_), 500);
  // Deciding again gives the same; applying it once makes the next one a duplicate.
  ASSERT_OK_AND_ASSIGN(Decision again, book_.DecideEscrow(Job("job-1", 100, 2), now_));
  EXPECT_EQ(again.entries[0].postings, e.postings);
  ASSERT_OK(book_.Apply(d));
  ASSERT_OK_AND_ASSIGN(Decision dup, book_.DecideEscrow(Job("job-1", 100, 2), now_));
  EXPECT_TRUE(dup.writes_nothing());
  EXPECT_TRUE(dup.posted.duplicate);
  EXPECT_EQ(dup.posted.seq, 2);
}

TEST_F(LedgerBookTest, EscrowIsOncePerJobAndOtherTermsAreAlreadyExists) {
  ASSERT_OK(Grant(submitter_, 1000).status());
  EscrowRequest req = Job("job-1", 100, 2);
  req.submit_fee = 7;
  ASSERT_OK_AND_ASSIGN(Posted first, Escrow(req));
  ASSERT_OK_AND_ASSIGN(Posted again, Escrow(req));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_EQ(again.amount, 200);
  EXPECT_EQ(Available(submitter_), 793);
  EXPECT_EQ(book_.AccountBalance("fees"), 7);
  for (auto change : std::vector<std::function<void(EscrowRequest&)>>{
           [](EscrowRequest& r) { r.max_price = 101; },
           [](EscrowRequest& r) { r.replicas = 1; },
           [](EscrowRequest& r) { r.submit_fee = 0; },
           [](EscrowRequest& r) { r.submitter = Did(2); },
       }) {
    EscrowRequest other = req;
    change(other);
    absl::Status s = Escrow(other).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
    EXPECT_THAT(s.message(), HasSubstr("job job-1 already has an escrow (entry 2: 200 credits from "
                                       "did:test:user1); a job is escrowed once"));
  }
  EXPECT_EQ(book_.last_seq(), 2);
}

TEST_F(LedgerBookTest, PayIsOncePerJobExecutorAndAssignment) {
  ASSERT_OK(Grant(submitter_, 1000).status());
  ASSERT_OK(Escrow(Job("job-1", 100, 3)).status());
  ASSERT_OK_AND_ASSIGN(Posted p, Pay("job-1", executor_, 60, 2, "a-1"));
  EXPECT_FALSE(p.duplicate);
  ASSERT_OK_AND_ASSIGN(Posted dup, Pay("job-1", executor_, 60, 2, "a-1"));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(dup.seq, p.seq);
  // The key is (job, executor, assignment): a second receipt with another price is still the
  // same payment, and pays nothing.
  ASSERT_OK_AND_ASSIGN(dup, Pay("job-1", executor_, 99, 0, "a-1"));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(Available(executor_), 60);
  ASSERT_OK_AND_ASSIGN(Decision d, book_.DecidePay("job-1", executor_, 60, 2, "a-1", now_));
  EXPECT_TRUE(d.writes_nothing());
  // Another assignment, or another executor, is another payment.
  ASSERT_OK_AND_ASSIGN(p, Pay("job-1", executor_, 10, 0, "a-2"));
  EXPECT_FALSE(p.duplicate);
  ASSERT_OK_AND_ASSIGN(p, Pay("job-1", Did(8), 10, 0, "a-1"));
  EXPECT_FALSE(p.duplicate);
  EXPECT_EQ(Available(executor_), 70);
  EXPECT_EQ(book_.FindEscrow("job-1")->remaining, 300 - 62 - 10 - 10);
}

TEST_F(LedgerBookTest, RefundClosesAndLaterPaysAreLate) {
  ASSERT_OK(Grant(submitter_, 500).status());
  ASSERT_OK(Escrow(Job("job-1", 100, 2)).status());
  ASSERT_OK(Pay("job-1", executor_, 50, 0, "a").status());
  ASSERT_OK_AND_ASSIGN(Posted r, Refund("job-1"));
  EXPECT_EQ(r.amount, 150);
  std::optional<EscrowInfo> x = book_.FindEscrow("job-1");
  EXPECT_FALSE(x->open);
  EXPECT_EQ(x->closed_seq, r.seq);
  EXPECT_EQ(x->remaining, 0);
  ASSERT_OK_AND_ASSIGN(Posted again, Refund("job-1"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, r.seq);
  EXPECT_EQ(again.amount, 150);
  absl::Status late = Pay("job-1", Did(8), 10, 0).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(late.message(), mesh::StrCat("late receipt: job job-1's escrow was closed by entry ",
                                         r.seq, "; nothing paid to did:test:user8"));
  // The payment made before the refund, repeated late, is still just a duplicate.
  ASSERT_OK_AND_ASSIGN(Posted dup, Pay("job-1", executor_, 50, 0, "a"));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(Available(submitter_), 450);
  EXPECT_EQ(Available(Did(8)), 0);
  // A fully paid job still closes, with an entry that moves nothing.
  ASSERT_OK(Escrow(Job("job-3", 10)).status());
  ASSERT_OK(Pay("job-3", executor_, 10, 0).status());
  ASSERT_OK_AND_ASSIGN(Decision d, book_.DecideRefund("job-3", "done", now_));
  ASSERT_EQ(d.entries.size(), 1u);
  EXPECT_TRUE(d.entries[0].postings.empty());
  EXPECT_EQ(d.posted.amount, 0);
  ASSERT_OK(book_.Apply(d));
  EXPECT_FALSE(book_.FindEscrow("job-3")->open);
  EXPECT_EQ(Refund("job-2").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LedgerBookTest, OverdraftsAreRefusedWithTheAmountsAndTheFix) {
  ASSERT_OK(Grant(submitter_, 40).status());
  absl::Status e = Escrow(Job("job-1", 100, 3)).status();
  EXPECT_EQ(e.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e.message(),
            "insufficient credit: did:test:user1 has 40 available, job job-1 needs 300 (max price "
            "100 × 3 replicas); lower --max-price or the replicas of --verify, or get credits");
  EscrowRequest with_fee = Job("job-2", 20, 2);
  with_fee.submit_fee = 1;
  EXPECT_THAT(Escrow(with_fee).status().message(),
              HasSubstr("needs 41 (max price 20 × 2 replicas + submit fee 1)"));
  EXPECT_FALSE(book_.FindEscrow("job-1").has_value());
  EXPECT_EQ(Available(submitter_), 40);

  ASSERT_OK(Escrow(Job("job-3", 30)).status());
  absl::Status beyond = Pay("job-3", executor_, 30, 1).status();
  EXPECT_EQ(beyond.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(beyond.message(),
            "escrow of job job-3 holds 30 credits but paying did:test:user9 needs 31 (price 30 + "
            "network fee 1); the price exceeds what was escrowed");
  absl::Status none = Pay("job-9", executor_, 1, 0).status();
  EXPECT_EQ(none.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.message(), "job job-9 has no escrow on this ledger; nothing to pay from");
  EXPECT_EQ(Available(executor_), 0);
  EXPECT_EQ(book_.last_seq(), 2);
}

TEST_F(LedgerBookTest, BadInputIsInvalidArgument) {
  EXPECT_EQ(Grant(submitter_, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Grant("mint", 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(book_.DecideGrant(submitter_, 5, "\xff", now_).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_OK(Grant(submitter_, 100).status());
  EXPECT_EQ(Escrow(Job("job 1", 5)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Escrow(Job("job|1", 5)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Escrow(Job("job-1", INT64_MAX, 2)).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_OK(Escrow(Job("job-1", 50)).status());
  EXPECT_EQ(Pay("job-1", "bob", 5, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pay("job-1", executor_, 5, -1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pay("job-1", executor_, INT64_MAX, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(book_.DecideRegenerate("fees", now_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(book_.BalanceOf("fees", now_).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(book_.last_seq(), 2);
}

TEST_F(LedgerBookTest, RegenerationWithExplicitTimes) {
  book_ = LedgerBook(BookOptions{.regen = {.credits_per_hour = 10, .cap = 100}});
  // The first regeneration starts the DID's clock: a mark, no entry.
  ASSERT_OK_AND_ASSIGN(Decision start, book_.DecideRegenerate(submitter_, kT0));
  EXPECT_TRUE(start.entries.empty());
  ASSERT_EQ(start.regen_marks.size(), 1u);
  EXPECT_EQ(start.regen_marks[0].at_us, absl::ToUnixMicros(kT0));
  ASSERT_OK(book_.Apply(start));
  auto available_at = [this](absl::Duration after) {
    absl::StatusOr<Balance> b = book_.BalanceOf(submitter_, kT0 + after);
    EXPECT_OK(b);
    return b.ok() ? b->available : -1;
  };
  EXPECT_EQ(available_at(absl::Minutes(30)), 5);
  EXPECT_EQ(available_at(absl::Minutes(39)), 6);   // 6.5 credits' worth: the half is kept
  EXPECT_EQ(available_at(absl::Hours(100)), 100);  // capped
  // Recording at 39 min keeps the unpaid half credit: 3 minutes later one more is due.
  ASSERT_OK_AND_ASSIGN(Decision d, book_.DecideRegenerate(submitter_, kT0 + absl::Minutes(39)));
  ASSERT_EQ(d.entries.size(), 1u);
  EXPECT_EQ(d.entries[0].kind, EntryKind::kRegen);
  EXPECT_EQ(d.entries[0].postings, (std::vector<Posting>{{"mint", -6}, {submitter_, 6}}));
  EXPECT_EQ(d.regen_marks[0].at_us, absl::ToUnixMicros(kT0 + absl::Minutes(36)));
  EXPECT_EQ(d.posted.amount, 6);
  ASSERT_OK(book_.Apply(d));
  EXPECT_EQ(book_.AccountBalance(submitter_), 6);
  EXPECT_EQ(available_at(absl::Minutes(42)), 7);
  // Escrow regenerates first, in the same decision, then spends.
  now_ = kT0 + absl::Hours(20);
  ASSERT_OK_AND_ASSIGN(Decision esc, book_.DecideEscrow(Job("job-1", 60), now_));
  ASSERT_EQ(esc.entries.size(), 2u);
  EXPECT_EQ(esc.entries[0].kind, EntryKind::kRegen);
  EXPECT_EQ(esc.entries[0].postings[1].amount, 94);
  EXPECT_EQ(esc.entries[1].kind, EntryKind::kEscrow);
  EXPECT_EQ(esc.posted.seq, esc.entries[1].seq);
  ASSERT_OK(book_.Apply(esc));
  EXPECT_EQ(Available(submitter_), 40);
  // Refused escrows record nothing, not even the regeneration.
  absl::Status refused = book_.DecideEscrow(Job("job-2", 60), now_).status();
  EXPECT_THAT(refused.message(),
              HasSubstr("or get credits, or wait: credits regenerate at 10/hour up to 100"));
  // A grant can lift an account above the cap; regeneration just stops there.
  ASSERT_OK(Grant(submitter_, 500).status());
  ASSERT_OK_AND_ASSIGN(Decision none, book_.DecideRegenerate(submitter_, now_ + absl::Hours(5)));
  EXPECT_TRUE(none.entries.empty());
  EXPECT_EQ(none.posted.amount, 0);
  // start_full: a DID seen for the first time starts at the cap.
  LedgerBook full(BookOptions{.regen = {.credits_per_hour = 10, .cap = 100, .start_full = true}});
  ASSERT_OK_AND_ASSIGN(Balance b, full.BalanceOf(Did(5), kT0));
  EXPECT_EQ(b.available, 100);
  ASSERT_OK_AND_ASSIGN(Posted p, full.Post(full.DecideRegenerate(Did(5), kT0)));
  EXPECT_EQ(p.amount, 100);
  EXPECT_EQ(p.seq, 1);
}

TEST_F(LedgerBookTest, NetworkFee) {
  LedgerBook book(BookOptions{.network_fee_bps = 250, .network_fee_flat = 1});
  EXPECT_EQ(book.NetworkFee(1000), 26);
  EXPECT_EQ(book.NetworkFee(10), 1);
  EXPECT_EQ(book.NetworkFee(0), 1);
  EXPECT_EQ(book.NetworkFee(INT64_MAX), int64_t{230584300921369396});
  EXPECT_EQ(Validate(BookOptions{.network_fee_bps = -1}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LedgerBookTest, ApplyRefusesEntriesThatBreakTheRulesAndChangesNothing) {
  ASSERT_OK(Grant(submitter_, 100).status());
  ASSERT_OK(Escrow(Job("job-1", 50)).status());
  ASSERT_OK(Refund("job-1").status());
  const LedgerBook before = book_;
  auto entry = [this](EntryKind kind, std::string job, std::string key,
                      std::vector<Posting> postings) {
    Entry e;
    e.seq = book_.next_seq();
    e.kind = kind;
    e.job_id = std::move(job);
    e.key = std::move(key);
    e.postings = std::move(postings);
    return e;
  };
  Entry out_of_order = entry(EntryKind::kGrant, "", "", {{"mint", -1}, {executor_, 1}});
  out_of_order.seq += 1;
  EXPECT_THAT(book_.Apply(out_of_order).message(), HasSubstr("the next entry is 4"));
  EXPECT_THAT(
      book_.Apply(entry(EntryKind::kGrant, "", "", {{"mint", 5}, {executor_, -5}})).message(),
      HasSubstr("leaves did:test:user9 at -5 credits; only mint may be negative"));
  EXPECT_THAT(book_
                  .Apply(entry(EntryKind::kPay, "job-1", "pay:job-1|x|",
                               {{"escrow:job-1", -1}, {executor_, 1}}))
                  .message(),
              HasSubstr("posts to the escrow of job job-1, which is not open"));
  EXPECT_THAT(book_.Apply(entry(EntryKind::kRefund, "job-1", "refund:again", {})).message(),
              HasSubstr("whose escrow is not open"));
  EXPECT_THAT(book_
                  .Apply(entry(EntryKind::kEscrow, "job-1", "escrow:job-1b",
                               {{submitter_, -1}, {"escrow:job-1", 1}}))
                  .message(),
              HasSubstr("escrowed a second time"));
  EXPECT_THAT(
      book_.Apply(entry(EntryKind::kGrant, "", "escrow:job-1", {{"mint", -1}, {executor_, 1}}))
          .message(),
      HasSubstr("was used by entry 2"));
  EXPECT_TRUE(book_ == before);
}

}  // namespace
}  // namespace mesh::ledger
