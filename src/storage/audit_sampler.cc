#include "mesh/storage/audit_sampler.h"

#include <algorithm>
#include <utility>

#include "mesh/common/hex.h"
#include "mesh/crypto/sha256.h"

namespace mesh::storage {

void AuditSampler::Offer(int shard, uint32_t segment, std::string_view bytes) {
  if (shard < 0 || bytes.empty() || per_shard_ == 0) return;
  if (static_cast<size_t>(shard) >= kept_.size()) {
    kept_.resize(shard + 1);
    seen_.resize(shard + 1, 0);
  }
  const uint64_t seen = ++seen_[shard];
  std::vector<ShardAudit>& kept = kept_[shard];
  size_t slot = kept.size();
  if (kept.size() >= per_shard_) {
    slot = rng_.Uniform(seen);  // keep it with probability per_shard / seen
    if (slot >= per_shard_) return;
  }
  ShardAudit audit;
  audit.shard = shard;
  audit.segment = segment;
  audit.length = std::min<uint64_t>(range_bytes_, bytes.size());
  audit.offset = rng_.Uniform(bytes.size() - audit.length + 1);
  const crypto::Digest digest = crypto::Sha256Of(bytes.substr(audit.offset, audit.length));
  audit.sha256 =
      HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  if (slot == kept.size()) {
    kept.push_back(std::move(audit));
  } else {
    kept[slot] = std::move(audit);
  }
}

std::vector<ShardAudit> AuditSampler::Take() {
  std::vector<ShardAudit> out;
  for (std::vector<ShardAudit>& kept : kept_) {
    for (ShardAudit& a : kept) out.push_back(std::move(a));
  }
  kept_.clear();
  seen_.clear();
  return out;
}

}  // namespace mesh::storage
