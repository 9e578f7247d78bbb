#include "mesh/storage/erasure_code.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"

namespace mesh::storage {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Shards(const ErasureCode& code, size_t len, uint64_t seed) {
  SeededRng rng(seed);
  std::vector<std::string> shards(static_cast<size_t>(code.k() + code.m()));
  std::vector<const uint8_t*> data;
  std::vector<uint8_t*> parity;
  for (size_t i = 0; i < shards.size(); ++i) {
    shards[i] = i < static_cast<size_t>(code.k()) ? rng.Bytes(len) : std::string(len, '\0');
    if (i < static_cast<size_t>(code.k())) {
      data.push_back(reinterpret_cast<const uint8_t*>(shards[i].data()));
    } else {
      parity.push_back(reinterpret_cast<uint8_t*>(shards[i].data()));
    }
  }
  code.Encode(len, data, parity);
  return shards;
}

// Every pattern of up to m lost shards (each subset of the k+m), for several codes.
TEST(ErasureCodeTest, EveryPatternOfUpToMLostShardsIsRebuilt) {
  for (auto [k, m] : {std::pair{4, 2}, std::pair{3, 3}, std::pair{1, 2}, std::pair{10, 4}}) {
    ASSERT_OK_AND_ASSIGN(ErasureCode code, ErasureCode::Create(k, m));
    const int n = k + m;
    const std::vector<std::string> original =
        Shards(code, 1000, static_cast<uint64_t>(k * 100 + m));
    int patterns = 0;
    for (uint32_t lost = 0; lost < (1u << n); ++lost) {
      if (__builtin_popcount(lost) > m) continue;
      ++patterns;
      std::vector<std::string> shards = original;
      std::vector<uint8_t*> buffers;
      std::vector<bool> present;
      for (int i = 0; i < n; ++i) {
        const bool gone = (lost >> i) & 1;
        if (gone) shards[static_cast<size_t>(i)].assign(1000, '\x5a');  // garbage, overwritten
        buffers.push_back(reinterpret_cast<uint8_t*>(shards[static_cast<size_t>(i)].data()));
        present.push_back(!gone);
      }
      ASSERT_OK(code.Rebuild(1000, buffers, present));
      ASSERT_EQ(shards, original) << k << "+" << m << " lost mask " << lost;
    }
    EXPECT_GT(patterns, n) << "more than the single losses were tried";
  }
}

TEST(ErasureCodeTest, MorePatternsThanMLostAreRefused) {
  ASSERT_OK_AND_ASSIGN(ErasureCode code, ErasureCode::Create(4, 2));
  std::vector<std::string> shards = Shards(code, 64, 7);
  std::vector<uint8_t*> buffers;
  for (std::string& s : shards) buffers.push_back(reinterpret_cast<uint8_t*>(s.data()));
  const absl::Status refused = code.Rebuild(64, buffers, {true, false, true, false, false, true});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused));
  EXPECT_THAT(refused.message(), HasSubstr("3 of 6 shards are left; 4 are needed"));
}

TEST(ErasureCodeTest, BadParametersAreRefused) {
  for (auto [k, m] :
       {std::pair{0, 2}, std::pair{4, 0}, std::pair{65, 2}, std::pair{4, 33}, std::pair{-1, 1}}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ErasureCode::Create(k, m).status())) << k << "+" << m;
  }
}

}  // namespace
}  // namespace mesh::storage
