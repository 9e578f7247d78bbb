#include "mesh/job/verified_specs.h"

#include <gtest/gtest.h>

#include <string>

#include "mesh/common/testing.h"

namespace mesh::job {
namespace {

JobSpec Spec(const std::string& nonce) {
  JobSpec spec;
  spec.module = cas::Cid::Of("module bytes").ToString();
  spec.limits.fuel = 1000;
  spec.created_at_ms = 1700000000000;
  spec.nonce = nonce;
  return spec;
}

void ExpectSameAs(const SignedJobSpec& got, const SignedJobSpec& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.envelope, want.envelope);
  EXPECT_EQ(ToJson(got.spec), ToJson(want.spec));
}

// The second reader of the same bytes gets OpenJobSpec's answer without verifying again.
TEST(VerifiedSpecsTest, TheSameBytesAreVerifiedOnce) {
  const crypto::KeyPair key = crypto::KeyPair::Generate();
  const SignedJobSpec signed_spec = SignJobSpec(Spec("00000001"), key);
  ASSERT_OK_AND_ASSIGN(const SignedJobSpec direct, OpenJobSpec(signed_spec.envelope));
  VerifiedSpecs specs;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(const SignedJobSpec opened, specs.Open(signed_spec.envelope));
    ExpectSameAs(opened, direct);
  }
  EXPECT_EQ(specs.stats().verified, 1u);
  EXPECT_EQ(specs.stats().hits, 2u);
  EXPECT_EQ(specs.stats().kept, 1u);
}

// Bytes that do not verify get OpenJobSpec's error every time and are never remembered, even
// beside the genuine spec they were made from.
TEST(VerifiedSpecsTest, ATamperedEnvelopeIsRefusedEveryTime) {
  const crypto::KeyPair key = crypto::KeyPair::Generate();
  const SignedJobSpec signed_spec = SignJobSpec(Spec("00000002"), key);
  std::string tampered = signed_spec.envelope;
  tampered[tampered.size() / 2] ^= 0x01;
  const absl::Status direct = OpenJobSpec(tampered).status();
  ASSERT_FALSE(direct.ok());
  VerifiedSpecs specs;
  ASSERT_OK(specs.Open(signed_spec.envelope).status());
  for (int i = 0; i < 2; ++i) {
    const absl::StatusOr<SignedJobSpec> opened = specs.Open(tampered);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status(), direct);
  }
  EXPECT_EQ(specs.stats().verified, 3u);
  EXPECT_EQ(specs.stats().hits, 0u);
  EXPECT_EQ(specs.stats().kept, 1u);
  EXPECT_FALSE(specs.Open("").ok());
  EXPECT_FALSE(specs.Open(std::string(1 << 21, 'x')).ok());  // oversized: refused, not kept
  EXPECT_EQ(specs.stats().kept, 1u);
}

// At capacity the oldest spec leaves; it verifies again the next time it is read.
TEST(VerifiedSpecsTest, KeepsAtMostItsCapacityOldestLeavingFirst) {
  const crypto::KeyPair key = crypto::KeyPair::Generate();
  const SignedJobSpec a = SignJobSpec(Spec("0000000a"), key);
  const SignedJobSpec b = SignJobSpec(Spec("0000000b"), key);
  const SignedJobSpec c = SignJobSpec(Spec("0000000c"), key);
  VerifiedSpecs specs(2);
  for (const SignedJobSpec* s : {&a, &b, &c}) ASSERT_OK(specs.Open(s->envelope).status());
  EXPECT_EQ(specs.stats().kept, 2u);
  ASSERT_OK(specs.Open(c.envelope).status());  // kept
  ASSERT_OK(specs.Open(b.envelope).status());  // kept
  EXPECT_EQ(specs.stats().hits, 2u);
  ASSERT_OK_AND_ASSIGN(const SignedJobSpec again, specs.Open(a.envelope));  // left: verified anew
  ExpectSameAs(again, a);
  EXPECT_EQ(specs.stats().verified, 4u);
  EXPECT_EQ(specs.stats().kept, 2u);
}

}  // namespace
}  // namespace mesh::job
