#include "mesh/storage/store_file.h"

#include <algorithm>

#include <sodium.h>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sealed_box.h"

namespace mesh::storage {

absl::Status CheckStoreOptions(const StoreOptions& o) {
  MESH_RETURN_IF_ERROR(ErasureCode::Create(o.k, o.m).status());
  if (o.segment_bytes < kMinSegmentBytes || o.segment_bytes > kMaxSegmentBytes) {
    return absl::InvalidArgumentError(mesh::StrCat("segment size ", o.segment_bytes, ": use ",
                                                   kMinSegmentBytes, " to ", kMaxSegmentBytes,
                                                   " bytes"));
  }
  if (o.inline_max_bytes > kMaxInlineBytes || o.inline_max_bytes > o.segment_bytes) {
    return absl::InvalidArgumentError(mesh::StrCat("inline threshold ", o.inline_max_bytes,
                                                   ": at most ", kMaxInlineBytes,
                                                   " bytes and at most a segment"));
  }
  return absl::OkStatus();
}

absl::Status ParseStoreCode(std::string_view text, StoreOptions& options) {
  const size_t plus = text.find('+');
  int k = 0;
  int m = 0;
  auto number = [](std::string_view digits, int& out) {
    if (digits.empty() || digits.size() > 3) return false;
    out = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    return true;
  };
  if (plus == std::string_view::npos || !number(text.substr(0, plus), k) ||
      !number(text.substr(plus + 1), m)) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "code '", text.substr(0, 32), "': write K+M, k data and m parity shards, e.g. 4+2"));
  }
  MESH_RETURN_IF_ERROR(ErasureCode::Create(k, m).status());
  options.k = k;
  options.m = m;
  return absl::OkStatus();
}

FileSealer::FileSealer(const StoreOptions& options, const crypto::KeyPair& owner, Rng& rng,
                       SegmentSink sink, std::unique_ptr<ErasureCode> code, std::string key)
    : options_(options),
      owner_(owner),
      rng_(rng),
      sink_(std::move(sink)),
      code_(std::move(code)),
      key_(std::move(key)) {}

absl::StatusOr<std::unique_ptr<FileSealer>> FileSealer::Create(const StoreOptions& options,
                                                               const crypto::KeyPair& owner,
                                                               Rng& rng, SegmentSink sink) {
  MESH_RETURN_IF_ERROR(CheckStoreOptions(options));
  MESH_ASSIGN_OR_RETURN(ErasureCode code, ErasureCode::Create(options.k, options.m));
  std::string key = options.encrypt ? rng.Bytes(kFileKeyBytes) : std::string();
  std::unique_ptr<FileSealer> sealer(new FileSealer(options, owner, rng, std::move(sink),
                                                    std::make_unique<ErasureCode>(code), key));
  MESH_ASSIGN_OR_RETURN(SegmentCodec codec,
                        SegmentCodec::Create(key, sealer->code_.get(), options.zstd_level));
  if (!key.empty()) sodium_memzero(key.data(), key.size());
  sealer->codec_.emplace(std::move(codec));
  StoreManifest& m = sealer->manifest_;
  m.owner = owner.did().ToString();
  m.segment_bytes = options.segment_bytes;
  m.k = options.k;
  m.m = options.m;
  m.encrypted = options.encrypt;
  if (options.encrypt) {
    MESH_ASSIGN_OR_RETURN(m.wrapped_key, crypto::SealTo(owner.did(), sealer->key_));
  }
  return sealer;
}

absl::Status FileSealer::SealBuffered() {
  const auto index = static_cast<uint32_t>(manifest_.segments.size());
  MESH_ASSIGN_OR_RETURN(SealedSegment sealed,
                        codec_->Seal(index, buffer_, rng_, std::move(spare_)));
  manifest_.segments.push_back(sealed.info);
  buffer_.clear();
  absl::Status sunk = sink_(index, sealed);
  spare_ = std::move(sealed.stripe);
  return sunk;
}

absl::Status FileSealer::Write(std::string_view bytes) {
  if (finished_) return absl::FailedPreconditionError("the file is finished");
  while (!bytes.empty()) {
    const size_t take = std::min<size_t>(
        bytes.size(), static_cast<size_t>(options_.segment_bytes) - buffer_.size());
    if (buffer_.capacity() < options_.segment_bytes && buffer_.size() + take > buffer_.capacity()) {
      buffer_.reserve(std::min<size_t>(options_.segment_bytes, 2 * (buffer_.size() + take)));
    }
    buffer_.append(bytes.substr(0, take));
    manifest_.size += take;
    bytes.remove_prefix(take);
    if (buffer_.size() == options_.segment_bytes) MESH_RETURN_IF_ERROR(SealBuffered());
  }
  return absl::OkStatus();
}

absl::StatusOr<SealedFile> FileSealer::Finish() {
  if (finished_) return absl::FailedPreconditionError("the file is finished");
  finished_ = true;
  if (manifest_.segments.empty() && manifest_.size <= options_.inline_max_bytes) {
    // Small: the whole file, sealed, in the manifest; no code.
    MESH_ASSIGN_OR_RETURN(SegmentCodec whole,
                          SegmentCodec::Create(key_, nullptr, options_.zstd_level));
    MESH_ASSIGN_OR_RETURN(SealedSegment sealed, whole.Seal(0, buffer_, rng_));
    manifest_.inline_segment = sealed.info;
    manifest_.inline_data = std::string(sealed.shard(0));
    manifest_.k = manifest_.m = 0;
  } else if (!buffer_.empty()) {
    MESH_RETURN_IF_ERROR(SealBuffered());
  }
  if (!key_.empty()) sodium_memzero(key_.data(), key_.size());
  MESH_RETURN_IF_ERROR(SignStoreManifest(manifest_, owner_));
  std::string bytes = EncodeStoreManifest(manifest_);
  const cas::Cid cid = cas::Cid::Of(bytes, cas::Codec::kDagJson);
  return SealedFile{std::move(manifest_), std::move(bytes), cid};
}

absl::StatusOr<std::string> OpenFileKey(const StoreManifest& manifest,
                                        const crypto::KeyPair& owner) {
  if (!manifest.encrypted) return std::string();
  if (owner.did().ToString() != manifest.owner) {
    return absl::PermissionDeniedError(
        mesh::StrCat("the file's key is sealed to its owner ", manifest.owner,
                     ", not to this identity; ask the owner for a grant"));
  }
  MESH_ASSIGN_OR_RETURN(std::string key, owner.OpenSealed(manifest.wrapped_key));
  if (key.size() != kFileKeyBytes) return absl::DataLossError("the sealed file key has a bad size");
  return key;
}

uint32_t SegmentCount(const StoreManifest& manifest) {
  return manifest.is_inline() ? 1 : static_cast<uint32_t>(manifest.segments.size());
}

std::vector<uint64_t> SegmentSizes(const StoreManifest& manifest) {
  if (manifest.is_inline()) return {manifest.size};
  std::vector<uint64_t> sizes;
  sizes.reserve(manifest.segments.size());
  for (const SegmentInfo& s : manifest.segments) sizes.push_back(s.plain_bytes);
  return sizes;
}

absl::Status OpenStoredFile(const StoreManifest& manifest, std::string key,
                            const ShardSource& source, const PlainSink& sink, OpenStats* stats,
                            OpenOptions options) {
  const SegmentRange range = options.range;
  if (manifest.encrypted != !key.empty()) {
    return absl::InvalidArgumentError(manifest.encrypted ? "the file is encrypted: a key is needed"
                                                         : "the file is not encrypted: no key");
  }
  const uint32_t segments = SegmentCount(manifest);
  if (range.first >= segments || range.count == 0) {
    return absl::InvalidArgumentError(mesh::StrCat("segment ", range.first,
                                                   " is not in the file, which has ", segments,
                                                   " segment", segments == 1 ? "" : "s"));
  }
  const uint32_t end = range.first + std::min(range.count, segments - range.first);
  OpenStats local;
  OpenStats& s = stats != nullptr ? *stats : local;
  if (manifest.is_inline()) {
    MESH_ASSIGN_OR_RETURN(SegmentCodec whole, SegmentCodec::Create(std::move(key), nullptr));
    MESH_ASSIGN_OR_RETURN(std::string plain,
                          whole.OpenWhole(0, *manifest.inline_segment, manifest.inline_data));
    ++s.segments;
    return sink(plain);
  }
  MESH_ASSIGN_OR_RETURN(ErasureCode code, ErasureCode::Create(manifest.k, manifest.m));
  MESH_ASSIGN_OR_RETURN(SegmentCodec codec, SegmentCodec::Create(std::move(key), &code));
  SegmentScratch scratch;
  for (uint32_t i = range.first; i < end; ++i) {
    const uint32_t index = i;
    MESH_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> shards, source(index));
    MESH_ASSIGN_OR_RETURN(OpenedSegment opened,
                          codec.Open(index, manifest.segments[i], std::move(shards), scratch,
                                     options.shards_checked));
    ++s.segments;
    s.shards_rebuilt += opened.rebuilt.size();
    s.shards_damaged += opened.damaged.size();
    MESH_RETURN_IF_ERROR(sink(opened.plain));
  }
  return absl::OkStatus();
}

}  // namespace mesh::storage
