// One segment of a stored file through the CES pipeline and back: Compressed (zstd, kept raw
// when it does not shrink), Encrypted (XChaCha20-Poly1305 under the file's key, a fresh nonce
// per segment, the segment's place and sizes bound in as associated data), Sharded (k data and
// m parity shards, erasure_code.h), each shard named by its CID. Opening checks every shard
// against its CID, rebuilds what is lost or damaged from any k good ones, authenticates,
// decompresses and checks the size. Pure functions over bytes; a SegmentCodec is immutable and
// thread-safe to share (the Rng passed to Seal is not).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/cas/cid.h"
#include "mesh/common/rng.h"
#include "mesh/storage/erasure_code.h"

namespace mesh::storage {

inline constexpr size_t kFileKeyBytes = 32;  // crypto_aead_xchacha20poly1305_ietf_KEYBYTES
inline constexpr size_t kNonceBytes = 24;    // ..._NPUBBYTES
inline constexpr size_t kTagBytes = 16;      // ..._ABYTES

enum class Compression : uint8_t { kNone = 0, kZstd = 1 };
std::string_view CompressionName(Compression c);  // "none", "zstd"

// What a manifest records of one segment.
struct SegmentInfo {
  uint64_t plain_bytes = 0;   // the file's bytes in this segment
  uint64_t sealed_bytes = 0;  // after compression and encryption: what the shards carry
  Compression compression = Compression::kNone;
  std::string nonce;             // kNonceBytes; empty when the file is not encrypted
  std::vector<cas::Cid> shards;  // k + m, data shards first; empty for a file stored inline
};

// Each shard's bytes: ceil(sealed_bytes / k), the last data shard padded with zeros.
uint64_t ShardBytes(uint64_t sealed_bytes, int k);

// A sealed segment's bytes: one buffer holding its k + m shards back to back (ShardBytes each),
// or, for a segment stored whole, its sealed bytes alone (one "shard"). Moving it keeps the
// buffer, so shard views stay valid.
struct SealedSegment {
  SegmentInfo info;
  std::vector<char> stripe;
  size_t shard_count = 0;
  size_t shard_bytes = 0;

  std::string_view shard(size_t i) const {
    return std::string_view(stripe.data() + i * shard_bytes, shard_bytes);
  }
};

// Buffers a caller keeps from segment to segment: fresh buffers of tens of MiB per segment are
// pages the kernel must fault in and zero, which costs more than the cipher.
struct SegmentScratch {
  std::string sealed, body, plain;
};

struct OpenedSegment {
  std::string_view plain;  // in the scratch given to Open: valid until it is used again
  // Data shards that were missing or failed their CID and were rebuilt to open the segment, by
  // index, each checked against its CID (a missing parity shard is not rebuilt: Rebuild does
  // that for a repair).
  std::vector<std::pair<int, std::string>> rebuilt;
  std::vector<int> damaged;  // shards given whose bytes did not match their CID
};

class SegmentCodec {
 public:
  // `key` is kFileKeyBytes, or empty for a file stored unencrypted. `code` null: the segment is
  // not sharded (a small file stored whole). zstd level 1..19.
  static absl::StatusOr<SegmentCodec> Create(std::string key, const ErasureCode* code,
                                             int zstd_level = 1);

  // Compress, encrypt and erasure-code; then name each shard (info.shards). Stripe is the
  // first part alone (the CES stages, no hashing), which Seal calls.
  // `reuse`: a previous segment's stripe, whose buffer is written over.
  absl::StatusOr<SealedSegment> Seal(uint32_t index, std::string_view plain, Rng& rng,
                                     std::vector<char> reuse = {}) const;
  absl::StatusOr<SealedSegment> Stripe(uint32_t index, std::string_view plain, Rng& rng,
                                       std::vector<char> reuse = {}) const;

  // `shards`: k + m entries, any of them absent; at least k must be present and match their
  // CIDs. DataLoss naming the segment when fewer than k good shards are left; Unauthenticated
  // when the key is wrong or the bytes were changed in a way the CIDs do not show (a manifest
  // that lies); DataLoss when the plain bytes do not have the recorded size.
  // `shards_checked`: the caller checked each shard it gives against its CID (a fetch that
  // verified it as it arrived), so only sizes are checked here; a shard changed since would
  // still fail authentication, never give other bytes.
  absl::StatusOr<OpenedSegment> Open(uint32_t index, const SegmentInfo& info,
                                     std::vector<std::optional<std::string>> shards,
                                     SegmentScratch& scratch, bool shards_checked = false) const;
  // The shards `lost` (absent from `shards`) rebuilt from the others, each checked against its
  // CID, without opening the segment (a repair places them; it needs no key). `shards` are
  // taken as checked against their CIDs (a wrong size counts as absent). DataLoss when fewer
  // than k are left.
  absl::StatusOr<std::vector<std::pair<int, std::string>>> Rebuild(
      uint32_t index, const SegmentInfo& info, std::vector<std::optional<std::string>> shards,
      const std::vector<int>& lost) const;
  // A segment stored whole (SealedSegment::shards[0]).
  absl::StatusOr<std::string> OpenWhole(uint32_t index, const SegmentInfo& info,
                                        std::string_view sealed) const;

  ~SegmentCodec();
  SegmentCodec(SegmentCodec&&) noexcept;
  SegmentCodec& operator=(SegmentCodec&&) noexcept;

 private:
  SegmentCodec(std::string key, const ErasureCode* code, int zstd_level);
  // InvalidArgument unless `given` and the manifest's shard list are k + m long.
  absl::Status CheckShardCount(uint32_t index, const SegmentInfo& info, size_t given) const;
  // Sets aside (resets) the shards of the wrong size and, with `check_cids`, those whose bytes
  // do not match their CID, naming them in `damaged` (when given); which shards are present.
  std::vector<bool> SetAsideBadShards(const SegmentInfo& info,
                                      std::vector<std::optional<std::string>>& shards,
                                      bool check_cids, std::vector<int>* damaged) const;
  // DataLoss naming the missing and damaged shards unless k of them are `present`.
  absl::Status CheckEnoughShards(uint32_t index, const std::vector<bool>& present) const;
  // Rebuilds the shards `wanted` (absent ones; buffers are made for every absent shard) from the
  // `present` ones and checks each against its CID.
  absl::StatusOr<std::vector<std::pair<int, std::string>>> RebuildShards(
      uint32_t index, const SegmentInfo& info, std::vector<std::optional<std::string>>& shards,
      const std::vector<bool>& present, const std::vector<bool>& wanted) const;
  // The plain bytes, in scratch.plain or scratch.body.
  absl::StatusOr<std::string_view> Unseal(uint32_t index, const SegmentInfo& info,
                                          std::string_view sealed, SegmentScratch& scratch) const;

  std::string key_;  // wiped on destruction
  const ErasureCode* code_;
  int zstd_level_;
};

}  // namespace mesh::storage
