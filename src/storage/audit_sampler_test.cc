#include "mesh/storage/audit_sampler.h"

#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "mesh/common/hex.h"
#include "mesh/crypto/sha256.h"

namespace mesh::storage {
namespace {

std::string Hash(std::string_view bytes) {
  const crypto::Digest d = crypto::Sha256Of(bytes);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

TEST(AuditSamplerTest, EachAuditIsTheHashOfARangeInsideItsShard) {
  SeededRng rng(7);
  AuditSampler sampler(rng, 4, 100);
  std::map<std::pair<int, uint32_t>, std::string> shards;
  for (uint32_t seg = 0; seg < 50; ++seg) {
    for (int i = 0; i < 3; ++i) {
      std::string bytes(1000 + seg, static_cast<char>('a' + i));
      bytes[seg] = 'X';
      shards[{i, seg}] = bytes;
      sampler.Offer(i, seg, bytes);
    }
  }
  const std::vector<ShardAudit> audits = sampler.Take();
  ASSERT_EQ(audits.size(), 12u);  // 4 per shard index
  std::map<int, int> per_shard;
  std::set<uint32_t> segments;
  for (const ShardAudit& a : audits) {
    ++per_shard[a.shard];
    segments.insert(a.segment);
    const std::string& bytes = shards.at({a.shard, a.segment});
    EXPECT_EQ(a.length, 100u);
    ASSERT_LE(a.offset + a.length, bytes.size());
    EXPECT_EQ(a.sha256, Hash(std::string_view(bytes).substr(a.offset, a.length)));
  }
  EXPECT_EQ(per_shard, (std::map<int, int>{{0, 4}, {1, 4}, {2, 4}}));
  EXPECT_GT(segments.size(), 4u) << "sampled across the file, not its first segments";
  EXPECT_TRUE(sampler.Take().empty());
}

TEST(AuditSamplerTest, AShardSmallerThanARangeIsAuditedWhole) {
  SeededRng rng(1);
  AuditSampler sampler(rng, 2, 4096);
  sampler.Offer(0, 0, "tiny");
  sampler.Offer(1, 0, "");  // nothing to audit
  const std::vector<ShardAudit> audits = sampler.Take();
  ASSERT_EQ(audits.size(), 1u);
  EXPECT_EQ(audits[0].offset, 0u);
  EXPECT_EQ(audits[0].length, 4u);
  EXPECT_EQ(audits[0].sha256, Hash("tiny"));
}

}  // namespace
}  // namespace mesh::storage
