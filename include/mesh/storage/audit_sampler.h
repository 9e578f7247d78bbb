// Audits of stored shards, chosen when the shards are made: AuditSampler keeps, per shard index
// of a file, a uniform sample (reservoir sampling) of `per_shard` ranges across its segments,
// each with the SHA-256 of its bytes. The owner later asks a holder for the hash of one range;
// the holder cannot know in advance which, so it must keep the whole shard. Each audit is used
// once. Pure (randomness from the Rng given). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/common/rng.h"

namespace mesh::storage {

struct ShardAudit {
  int shard = 0;
  uint32_t segment = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string sha256;  // hex
};

class AuditSampler {
 public:
  explicit AuditSampler(Rng& rng, size_t per_shard = 16, uint64_t range_bytes = 4096)
      : rng_(rng), per_shard_(per_shard), range_bytes_(range_bytes) {}

  // Shard `shard` of segment `segment` is `bytes`.
  void Offer(int shard, uint32_t segment, std::string_view bytes);
  // The sample, shard by shard.
  std::vector<ShardAudit> Take();

 private:
  Rng& rng_;
  const size_t per_shard_;
  const uint64_t range_bytes_;
  std::vector<std::vector<ShardAudit>> kept_;  // by shard index
  std::vector<uint64_t> seen_;                 // offers per shard index
};

}  // namespace mesh::storage
