#include "mesh/ledger/ledger_entry.h"

#include <gtest/gtest.h>

#include "mesh/common/testing.h"

namespace mesh::ledger {
namespace {

Entry Sample() {
  Entry e;
  e.seq = 7;
  e.time = absl::FromUnixMicros(1700000000123456);
  e.kind = EntryKind::kPay;
  e.job_id = "job-1";
  e.key = "pay:job-1|did:x:a|";
  e.postings = {{"escrow:job-1", -105}, {"did:x:a", 100}, {"fees", 5}};
  e.memo = "verified receipt";
  e.prev_hash = std::string(64, 'a');
  return e;
}

TEST(LedgerEntryTest, CanonicalBytesAreSortedCompactJsonWithIntegers) {
  Entry e = Sample();
  EXPECT_EQ(SigningBytes(e),
            R"({"job":"job-1","key":"pay:job-1|did:x:a|","kind":"pay","memo":"verified receipt",)"
            R"("postings":[{"account":"escrow:job-1","amount":-105},{"account":"did:x:a",)"
            R"("amount":100},{"account":"fees","amount":5}],"prev":")" +
                std::string(64, 'a') + R"(","seq":7,"signer":"","time_us":1700000000123456})");
  EXPECT_EQ(SigningBytes(e), SigningBytes(Sample()));
  EXPECT_EQ(HashOf(e).size(), 64u);
}

TEST(LedgerEntryTest, SignatureCoversEveryField) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  Entry e = Sample();
  SignEntry(key, e);
  EXPECT_EQ(e.signer, key.did().ToString());
  EXPECT_OK(VerifyEntrySignature(e));
  const std::string hash = HashOf(e);

  Entry amount = e;
  amount.postings[1].amount = 101;
  EXPECT_FALSE(VerifyEntrySignature(amount).ok());
  Entry memo = e;
  memo.memo = "x";
  EXPECT_FALSE(VerifyEntrySignature(memo).ok());
  Entry prev = e;
  prev.prev_hash[0] = 'b';
  EXPECT_FALSE(VerifyEntrySignature(prev).ok());
  Entry sig = e;
  sig.signature[3] ^= 1;
  EXPECT_FALSE(VerifyEntrySignature(sig).ok());
  EXPECT_NE(HashOf(sig), hash);  // the chain pins signatures too
}

TEST(LedgerEntryTest, WellFormedRequiresBalancedDistinctNonZeroPostings) {
  EXPECT_OK(CheckWellFormed(Sample()));
  Entry unbalanced = Sample();
  unbalanced.postings[0].amount = -104;
  absl::Status s = CheckWellFormed(unbalanced);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sum to 1"), std::string::npos) << s;

  Entry zero = Sample();
  zero.postings.push_back({"did:x:b", 0});
  EXPECT_FALSE(CheckWellFormed(zero).ok());
  Entry twice = Sample();
  twice.postings = {{"did:x:a", -5}, {"did:x:a", 5}};
  EXPECT_FALSE(CheckWellFormed(twice).ok());
  Entry bad_account = Sample();
  bad_account.postings = {{"mint", -5}, {"bob", 5}};
  EXPECT_FALSE(CheckWellFormed(bad_account).ok());
  Entry overflow = Sample();
  overflow.postings = {{"mint", INT64_MIN}, {"did:x:a", INT64_MAX}, {"did:x:b", 1}};
  EXPECT_OK(CheckWellFormed(overflow));  // sums to 0 exactly without overflowing
  overflow.postings = {{"did:x:a", INT64_MAX}, {"did:x:b", 1}, {"mint", -1}};
  EXPECT_FALSE(CheckWellFormed(overflow).ok());
  Entry empty = Sample();
  empty.postings.clear();
  EXPECT_FALSE(CheckWellFormed(empty).ok());
  empty.kind = EntryKind::kRefund;  // a refund with nothing left still closes the escrow
  EXPECT_OK(CheckWellFormed(empty));
}

TEST(LedgerEntryTest, Utf8) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("crédit × 3 — 🙂"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  Entry e = Sample();
  e.memo = "\xff";
  EXPECT_FALSE(CheckWellFormed(e).ok());
}

TEST(LedgerEntryTest, KindNamesRoundTrip) {
  for (EntryKind k : {EntryKind::kGrant, EntryKind::kEscrow, EntryKind::kPay, EntryKind::kRefund,
                      EntryKind::kRegen}) {
    EXPECT_EQ(ParseEntryKind(EntryKindName(k)), k);
  }
  EXPECT_EQ(ParseEntryKind("steal"), std::nullopt);
}

}  // namespace
}  // namespace mesh::ledger
