#include "mesh/storage/segment.h"

#include <sodium.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "mesh/common/check.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::storage {
namespace {

static_assert(kFileKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

// A segment is compressed only when a sample of it shrinks this much: incompressible data
// (already compressed media, encrypted files) then costs one 64 KiB trial, not a full pass.
constexpr size_t kSampleBytes = 64 << 10;
constexpr double kWorthCompressing = 0.95;

// Binds a segment's bytes to its place in the file and its recorded sizes: a segment moved to
// another index, or a manifest that changes its sizes or compression, fails authentication.
std::string AssociatedData(uint32_t index, const SegmentInfo& info) {
  return mesh::StrCat("mesh-store-v1 segment ", index, " plain ", info.plain_bytes, " ",
                      CompressionName(info.compression));
}

absl::StatusOr<std::string> Compress(std::string_view plain, int level) {
  std::string out(ZSTD_compressBound(plain.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), plain.data(), plain.size(), level);
  if (ZSTD_isError(n)) {
    return absl::InternalError(mesh::StrCat("zstd: ", ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

bool WorthCompressing(std::string_view plain, int level) {
  if (plain.empty()) return false;
  const std::string_view sample = plain.substr(0, kSampleBytes);
  absl::StatusOr<std::string> packed = Compress(sample, level);
  return packed.ok() && static_cast<double>(packed->size()) <
                            kWorthCompressing * static_cast<double>(sample.size());
}

}  // namespace

std::string_view CompressionName(Compression c) {
  return c == Compression::kZstd ? "zstd" : "none";
}

uint64_t ShardBytes(uint64_t sealed_bytes, int k) {
  const uint64_t kk = static_cast<uint64_t>(k);
  return (sealed_bytes + kk - 1) / kk;
}

SegmentCodec::SegmentCodec(std::string key, const ErasureCode* code, int zstd_level)
    : key_(std::move(key)), code_(code), zstd_level_(zstd_level) {}

SegmentCodec::~SegmentCodec() {
  if (!key_.empty()) sodium_memzero(key_.data(), key_.size());
}
SegmentCodec::SegmentCodec(SegmentCodec&& other) noexcept
    : key_(std::move(other.key_)), code_(other.code_), zstd_level_(other.zstd_level_) {
  other.key_.clear();
}
SegmentCodec& SegmentCodec::operator=(SegmentCodec&& other) noexcept {
  if (this != &other) {
    if (!key_.empty()) sodium_memzero(key_.data(), key_.size());
    key_ = std::move(other.key_);
    other.key_.clear();
    code_ = other.code_;
    zstd_level_ = other.zstd_level_;
  }
  return *this;
}

absl::StatusOr<SegmentCodec> SegmentCodec::Create(std::string key, const ErasureCode* code,
                                                  int zstd_level) {
  MESH_CHECK(sodium_init() >= 0);
  if (!key.empty() && key.size() != kFileKeyBytes) {
    return absl::InvalidArgumentError(
        mesh::StrCat("a file key is ", kFileKeyBytes, " bytes, not ", key.size()));
  }
  if (zstd_level < 1 || zstd_level > 19) {
    return absl::InvalidArgumentError(mesh::StrCat("zstd level ", zstd_level, ": use 1 to 19"));
  }
  return SegmentCodec(std::move(key), code, zstd_level);
}

absl::StatusOr<SealedSegment> SegmentCodec::Stripe(uint32_t index, std::string_view plain, Rng& rng,
                                                   std::vector<char> reuse) const {
  SealedSegment out;
  out.stripe = std::move(reuse);
  SegmentInfo& info = out.info;
  info.plain_bytes = plain.size();
  std::string packed;
  std::string_view body = plain;
  if (WorthCompressing(plain, zstd_level_)) {
    MESH_ASSIGN_OR_RETURN(packed, Compress(plain, zstd_level_));
    if (packed.size() < plain.size()) {
      info.compression = Compression::kZstd;
      body = packed;
    }
  }
  // The sealed bytes are written straight into the stripe, as k data shards of equal size
  // (the last padded with zeros), and the parity shards after them: no copy.
  const int k = code_ != nullptr ? code_->k() : 1;
  const int m = code_ != nullptr ? code_->m() : 0;
  const uint64_t sealed = body.size() + (key_.empty() ? 0 : kTagBytes);
  info.sealed_bytes = sealed;
  out.shard_count = static_cast<size_t>(k + m);
  out.shard_bytes = static_cast<size_t>(code_ != nullptr ? ShardBytes(sealed, k) : sealed);
  out.stripe.resize(out.shard_bytes * out.shard_count);
  char* const data = out.stripe.data();
  // The padding after the sealed bytes (a reused buffer holds an older segment's bytes there).
  // An empty file's stripe has no buffer at all: nothing to write (and no pointer to pass).
  if (!out.stripe.empty()) {
    std::memset(data + sealed, 0, out.shard_bytes * static_cast<size_t>(k) - sealed);
  }
  if (key_.empty()) {
    if (!body.empty()) std::memcpy(data, body.data(), body.size());
  } else {
    info.nonce = rng.Bytes(kNonceBytes);
    const std::string ad = AssociatedData(index, info);
    unsigned long long written = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        reinterpret_cast<unsigned char*>(data), &written,
        reinterpret_cast<const unsigned char*>(body.data()), body.size(),
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
        reinterpret_cast<const unsigned char*>(info.nonce.data()),
        reinterpret_cast<const unsigned char*>(key_.data()));
    MESH_CHECK(written == sealed);
  }
  if (code_ != nullptr && out.shard_bytes > 0) {
    std::vector<const uint8_t*> sources;
    std::vector<uint8_t*> parity;
    for (int i = 0; i < k + m; ++i) {
      auto* at = reinterpret_cast<uint8_t*>(data) + static_cast<size_t>(i) * out.shard_bytes;
      if (i < k) {
        sources.push_back(at);
      } else {
        parity.push_back(at);
      }
    }
    code_->Encode(out.shard_bytes, sources, parity);
  }
  return out;
}

absl::StatusOr<SealedSegment> SegmentCodec::Seal(uint32_t index, std::string_view plain, Rng& rng,
                                                 std::vector<char> reuse) const {
  MESH_ASSIGN_OR_RETURN(SealedSegment out, Stripe(index, plain, rng, std::move(reuse)));
  if (code_ != nullptr) {
    for (size_t i = 0; i < out.shard_count; ++i)
      out.info.shards.push_back(cas::Cid::Of(out.shard(i)));
  }
  return out;
}

absl::StatusOr<std::string_view> SegmentCodec::Unseal(uint32_t index, const SegmentInfo& info,
                                                      std::string_view sealed,
                                                      SegmentScratch& scratch) const {
  std::string_view body = sealed;
  if (!key_.empty()) {
    if (sealed.size() < kTagBytes || info.nonce.size() != kNonceBytes) {
      return absl::DataLossError(
          mesh::StrCat("segment ", index, " is shorter than its authentication tag"));
    }
    scratch.body.resize(sealed.size() - kTagBytes);
    const std::string ad = AssociatedData(index, info);
    unsigned long long written = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            reinterpret_cast<unsigned char*>(scratch.body.data()), &written, nullptr,
            reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
            reinterpret_cast<const unsigned char*>(info.nonce.data()),
            reinterpret_cast<const unsigned char*>(key_.data())) != 0) {
      return absl::UnauthenticatedError(mesh::StrCat(
          "segment ", index, " does not authenticate: the key is wrong or its bytes were changed"));
    }
    body = scratch.body;
  }
  if (info.compression == Compression::kNone) {
    if (body.size() != info.plain_bytes) {
      return absl::DataLossError(mesh::StrCat("segment ", index, " holds ", body.size(),
                                              " bytes; its manifest says ", info.plain_bytes));
    }
    return body;
  }
  // Never more than the recorded size: a hostile frame cannot make us allocate more.
  const unsigned long long declared = ZSTD_getFrameContentSize(body.data(), body.size());
  if (declared != info.plain_bytes) {
    return absl::DataLossError(mesh::StrCat("segment ", index,
                                            "'s compressed frame does not declare the ",
                                            info.plain_bytes, " bytes its manifest records"));
  }
  scratch.plain.resize(static_cast<size_t>(info.plain_bytes));
  const size_t n =
      ZSTD_decompress(scratch.plain.data(), scratch.plain.size(), body.data(), body.size());
  if (ZSTD_isError(n) || n != info.plain_bytes) {
    return absl::DataLossError(mesh::StrCat("segment ", index, " does not decompress: ",
                                            ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return std::string_view(scratch.plain);
}

absl::StatusOr<std::string> SegmentCodec::OpenWhole(uint32_t index, const SegmentInfo& info,
                                                    std::string_view sealed) const {
  if (sealed.size() != info.sealed_bytes) {
    return absl::DataLossError(mesh::StrCat("segment ", index, " is ", sealed.size(),
                                            " bytes; its manifest says ", info.sealed_bytes));
  }
  SegmentScratch scratch;
  MESH_ASSIGN_OR_RETURN(std::string_view plain, Unseal(index, info, sealed, scratch));
  return std::string(plain);
}

absl::StatusOr<std::vector<std::pair<int, std::string>>> SegmentCodec::RebuildShards(
    uint32_t index, const SegmentInfo& info, std::vector<std::optional<std::string>>& shards,
    const std::vector<bool>& present, const std::vector<bool>& wanted) const {
  const int n = static_cast<int>(shards.size());
  const size_t shard = static_cast<size_t>(ShardBytes(info.sealed_bytes, code_->k()));
  std::vector<std::pair<int, std::string>> rebuilt;
  if (std::find(wanted.begin(), wanted.end(), true) == wanted.end()) return rebuilt;
  std::vector<uint8_t*> buffers(static_cast<size_t>(n), nullptr);  // absent, unwanted: unused
  for (int i = 0; i < n; ++i) {
    std::optional<std::string>& s = shards[static_cast<size_t>(i)];
    if (wanted[static_cast<size_t>(i)]) s.emplace(shard, '\0');
    if (s.has_value()) buffers[static_cast<size_t>(i)] = reinterpret_cast<uint8_t*>(s->data());
  }
  if (shard > 0) MESH_RETURN_IF_ERROR(code_->Rebuild(shard, buffers, present, wanted));
  for (int i = 0; i < n; ++i) {
    if (!wanted[static_cast<size_t>(i)]) continue;
    std::string& s = *shards[static_cast<size_t>(i)];
    if (cas::Cid::Of(s) != info.shards[static_cast<size_t>(i)]) {
      return absl::DataLossError(mesh::StrCat("segment ", index, ": shard ", i,
                                              " rebuilt from the good ones does not match its CID "
                                              "(the manifest's shard list is inconsistent)"));
    }
    rebuilt.emplace_back(i, s);
  }
  return rebuilt;
}

absl::Status SegmentCodec::CheckShardCount(uint32_t index, const SegmentInfo& info,
                                           size_t given) const {
  if (code_ == nullptr) return absl::FailedPreconditionError("this codec has no erasure code");
  const size_t n = static_cast<size_t>(code_->k() + code_->m());
  if (given != n || info.shards.size() != n) {
    return absl::InvalidArgumentError(mesh::StrCat("segment ", index, ": ", given,
                                                   " shards given for a ", code_->k(), "+",
                                                   code_->m(), " code"));
  }
  return absl::OkStatus();
}

std::vector<bool> SegmentCodec::SetAsideBadShards(const SegmentInfo& info,
                                                  std::vector<std::optional<std::string>>& shards,
                                                  bool check_cids,
                                                  std::vector<int>* damaged) const {
  const uint64_t shard = ShardBytes(info.sealed_bytes, code_->k());
  std::vector<bool> present(shards.size());
  for (size_t i = 0; i < shards.size(); ++i) {
    std::optional<std::string>& s = shards[i];
    if (s.has_value() &&
        (s->size() != shard || (check_cids && cas::Cid::Of(*s) != info.shards[i]))) {
      if (damaged != nullptr) damaged->push_back(static_cast<int>(i));
      s.reset();
    }
    present[i] = s.has_value();
  }
  return present;
}

absl::Status SegmentCodec::CheckEnoughShards(uint32_t index,
                                             const std::vector<bool>& present) const {
  const int k = code_->k();
  const int n = static_cast<int>(present.size());
  const int good = static_cast<int>(std::count(present.begin(), present.end(), true));
  if (good >= k) return absl::OkStatus();
  std::string lost;
  for (int i = 0; i < n; ++i) {
    if (!present[static_cast<size_t>(i)]) lost += mesh::StrCat(lost.empty() ? "" : ", ", i);
  }
  return absl::DataLossError(mesh::StrCat("segment ", index, " cannot be rebuilt: ", good,
                                          " good shards of ", n, ", ", k,
                                          " needed (missing or damaged: ", lost, ")"));
}

absl::StatusOr<std::vector<std::pair<int, std::string>>> SegmentCodec::Rebuild(
    uint32_t index, const SegmentInfo& info, std::vector<std::optional<std::string>> shards,
    const std::vector<int>& lost) const {
  MESH_RETURN_IF_ERROR(CheckShardCount(index, info, shards.size()));
  const int n = static_cast<int>(shards.size());
  const std::vector<bool> present =
      SetAsideBadShards(info, shards, /*check_cids=*/false, /*damaged=*/nullptr);
  std::vector<bool> wanted(static_cast<size_t>(n), false);
  for (int i : lost) {
    if (i < 0 || i >= n || present[static_cast<size_t>(i)]) {
      return absl::InvalidArgumentError(
          mesh::StrCat("segment ", index, ": shard ", i, " is not a lost shard of the code"));
    }
    wanted[static_cast<size_t>(i)] = true;
  }
  MESH_RETURN_IF_ERROR(CheckEnoughShards(index, present));
  return RebuildShards(index, info, shards, present, wanted);
}

absl::StatusOr<OpenedSegment> SegmentCodec::Open(uint32_t index, const SegmentInfo& info,
                                                 std::vector<std::optional<std::string>> shards,
                                                 SegmentScratch& scratch,
                                                 bool shards_checked) const {
  MESH_RETURN_IF_ERROR(CheckShardCount(index, info, shards.size()));
  const int k = code_->k();
  const int n = k + code_->m();
  OpenedSegment out;
  const std::vector<bool> present =
      SetAsideBadShards(info, shards, /*check_cids=*/!shards_checked, &out.damaged);
  MESH_RETURN_IF_ERROR(CheckEnoughShards(index, present));
  // Only the data shards make the sealed bytes: a missing parity shard is not rebuilt.
  std::vector<bool> wanted(static_cast<size_t>(n), false);
  for (int i = 0; i < k; ++i) wanted[static_cast<size_t>(i)] = !present[static_cast<size_t>(i)];
  MESH_ASSIGN_OR_RETURN(out.rebuilt, RebuildShards(index, info, shards, present, wanted));
  std::string& sealed = scratch.sealed;
  sealed.clear();
  for (int i = 0; i < k; ++i) sealed += *shards[static_cast<size_t>(i)];
  if (info.sealed_bytes > sealed.size()) {
    return absl::DataLossError(mesh::StrCat("segment ", index, " is shorter than recorded"));
  }
  sealed.resize(static_cast<size_t>(info.sealed_bytes));
  MESH_ASSIGN_OR_RETURN(out.plain, Unseal(index, info, sealed, scratch));
  return out;
}

}  // namespace mesh::storage
