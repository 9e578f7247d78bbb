// Reed-Solomon erasure coding over GF(2^8) with Intel ISA-L (what Ceph uses by default): k data
// shards and m parity shards, any k of which rebuild the rest. The code matrix is ISA-L's
// Cauchy matrix (gf_gen_cauchy1_matrix), whose every k x k submatrix is invertible, so every
// pattern of up to m lost shards can be rebuilt. The arithmetic is ISA-L's SIMD
// (ec_encode_data); nothing here multiplies in GF(2^8) but the small decode matrix.
//
// An ErasureCode is immutable after Create and thread-safe to share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mesh::storage {

inline constexpr int kMaxDataShards = 64;
inline constexpr int kMaxParityShards = 32;

class ErasureCode {
 public:
  // InvalidArgument unless 1 <= k <= kMaxDataShards and 1 <= m <= kMaxParityShards.
  static absl::StatusOr<ErasureCode> Create(int k, int m);

  int k() const { return k_; }
  int m() const { return m_; }

  // Computes the m parity shards from the k data shards; every shard is `len` bytes.
  void Encode(size_t len, const std::vector<const uint8_t*>& data,
              const std::vector<uint8_t*>& parity) const;

  // `shards` holds k+m buffers of `len` bytes; `present[i]` says which hold their shard. Rebuilds
  // in place every missing one that `wanted` names (empty: every missing one; a reader needs
  // only the data shards, a repair only the lost ones). FailedPrecondition when fewer than k
  // are present.
  absl::Status Rebuild(size_t len, const std::vector<uint8_t*>& shards,
                       const std::vector<bool>& present,
                       const std::vector<bool>& wanted = {}) const;

 private:
  ErasureCode(int k, int m);

  int k_;
  int m_;
  std::vector<uint8_t> matrix_;         // (k+m) x k: identity, then the parity rows
  std::vector<uint8_t> encode_tables_;  // ec_init_tables of the parity rows
};

}  // namespace mesh::storage
