#include <gtest/gtest.h>

#include <set>

#include "mesh/common/rng.h"

namespace mesh {
namespace {

TEST(SeededRngTest, SameSeedSameSequence) {
  SeededRng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t va = a.Next64();
    EXPECT_EQ(va, b.Next64());
    differs |= va != c.Next64();
  }
  EXPECT_TRUE(differs);
}

TEST(SeededRngTest, UniformStaysInRangeAndCoversIt) {
  SeededRng rng(7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t v = rng.Uniform(10);
    ASSERT_LT(v, 10u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(rng.Uniform(1), 0u);
  for (int i = 0; i < 1000; ++i) {
    const double d = rng.UniformDouble();
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
  }
}

TEST(SeededRngTest, BytesHasRequestedLength) {
  SeededRng rng(1);
  EXPECT_EQ(rng.Bytes(13).size(), 13u);
  EXPECT_EQ(rng.Bytes(0).size(), 0u);
}

TEST(SecureRngTest, ProducesDistinctValues) {
  SecureRng rng;
  std::set<uint64_t> seen;
  for (int i = 0; i < 64; ++i) seen.insert(rng.Next64());
  EXPECT_EQ(seen.size(), 64u);
}

}  // namespace
}  // namespace mesh
