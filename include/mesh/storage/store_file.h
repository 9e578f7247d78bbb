// A file through the CES pipeline, streaming: FileSealer cuts what is written into segments,
// seals each (segment.h) and hands it to a sink (which places its shards) as soon as it is
// full, so memory stays about three segments whatever the file's size; Finish seals the last
// one and returns the signed manifest. OpenStoredFile goes back: segment by segment, any k good
// shards from a source (which fetches them), the plain bytes to a sink.
//
// The file key is random (from the Rng given, SecureRng in production) and only ever leaves
// this process sealed to its owner (StoreManifest::wrapped_key) or, by the caller, to one
// executor for one job.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/cas/cid.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/storage/erasure_code.h"
#include "mesh/storage/segment.h"
#include "mesh/storage/store_manifest.h"

namespace mesh::storage {

struct StoreOptions {
  int k = 4;  // data shards per segment
  int m = 2;  // parity shards: any m may be lost
  uint64_t segment_bytes = 32ull << 20;
  bool encrypt = true;
  int zstd_level = 1;
  // A file this small or smaller is stored whole in its manifest (no stripe, no padding).
  uint64_t inline_max_bytes = 64 << 10;
};
absl::Status CheckStoreOptions(const StoreOptions& options);
// "K+M" (e.g. "4+2", "10+4") into options.k and options.m; InvalidArgument otherwise.
absl::Status ParseStoreCode(std::string_view text, StoreOptions& options);

// Called with each sealed segment of a file in stripes, in order. The segment's buffer is reused
// for the next one once the sink returns: a sink that keeps shards copies them.
using SegmentSink = std::function<absl::Status(uint32_t index, const SealedSegment& segment)>;

struct SealedFile {
  StoreManifest manifest;  // signed
  std::string bytes;       // its canonical encoding
  cas::Cid cid;            // the file's handle: bytes as dag-json
};

class FileSealer {
 public:
  static absl::StatusOr<std::unique_ptr<FileSealer>> Create(const StoreOptions& options,
                                                            const crypto::KeyPair& owner, Rng& rng,
                                                            SegmentSink sink);
  absl::Status Write(std::string_view bytes);
  absl::StatusOr<SealedFile> Finish();

 private:
  FileSealer(const StoreOptions& options, const crypto::KeyPair& owner, Rng& rng, SegmentSink sink,
             std::unique_ptr<ErasureCode> code, std::string key);
  absl::Status SealBuffered();

  const StoreOptions options_;
  const crypto::KeyPair& owner_;
  Rng& rng_;
  SegmentSink sink_;
  std::unique_ptr<ErasureCode> code_;
  std::string key_;
  std::optional<SegmentCodec> codec_;
  StoreManifest manifest_;
  std::string buffer_;
  std::vector<char> spare_;  // the last segment's stripe, written over by the next
  bool finished_ = false;
};

// The file key of `manifest`, opened with its owner's identity (empty for a file not encrypted).
absl::StatusOr<std::string> OpenFileKey(const StoreManifest& manifest,
                                        const crypto::KeyPair& owner);

// Fetches the shards of one segment: k + m entries, absent where a holder could not give one
// (at least k are needed; more let damaged ones be replaced).
using ShardSource =
    std::function<absl::StatusOr<std::vector<std::optional<std::string>>>(uint32_t segment)>;
using PlainSink = std::function<absl::Status(std::string_view bytes)>;

struct OpenStats {
  uint64_t segments = 0;
  uint64_t shards_rebuilt = 0;
  uint64_t shards_damaged = 0;  // given, but not matching their CID
};

// Which segments to open: `count` segments from `first` (clamped to the file's end).
struct SegmentRange {
  uint32_t first = 0;
  uint32_t count = UINT32_MAX;
};
// How many segments a file has (1 for a file stored inline), and each one's plain size.
uint32_t SegmentCount(const StoreManifest& manifest);
std::vector<uint64_t> SegmentSizes(const StoreManifest& manifest);

struct OpenOptions {
  SegmentRange range;
  // The source checked every shard it gives against its CID (SegmentCodec::Open).
  bool shards_checked = false;
};

// Writes the file's bytes to `sink` in order (only those of `options.range`; InvalidArgument
// when it starts past the last segment). `key`: OpenFileKey's, or a key granted for a job.
absl::Status OpenStoredFile(const StoreManifest& manifest, std::string key,
                            const ShardSource& source, const PlainSink& sink,
                            OpenStats* stats = nullptr, OpenOptions options = {});

}  // namespace mesh::storage
