// Content identifiers: CIDv1 with a sha2-256 multihash, as the multiformats CID specification
// defines them. Text form is multibase base32 lower ('b' prefix), e.g.
// bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e for the raw bytes "hello world".
// Codecs: raw (0x55) for blobs, dag-json (0x0129) for Mesh's structured blocks (job specs,
// history entries); dag-pb and dag-cbor parse for interoperability. Cid is an immutable value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mesh/crypto/sha256.h"

namespace mesh::cas {

enum class Codec : uint64_t {
  kRaw = 0x55,
  kDagPb = 0x70,
  kDagCbor = 0x71,
  kDagJson = 0x0129,
};

std::string_view CodecName(Codec codec);

class Cid {
 public:
  // Hashes `data` and names it.
  static Cid Of(std::string_view data, Codec codec = Codec::kRaw);
  static Cid FromDigest(const crypto::Digest& digest, Codec codec = Codec::kRaw) {
    return Cid(codec, digest);
  }
  // Parses the text form; each rejection names what is wrong (multibase, version, codec,
  // hash function, digest length, trailing bytes).
  static absl::StatusOr<Cid> Parse(std::string_view text);
  // Parses the binary form (version varint, codec varint, multihash).
  static absl::StatusOr<Cid> FromBytes(std::string_view bytes);

  std::string ToString() const;
  std::string ToBytes() const;

  Codec codec() const { return codec_; }
  const crypto::Digest& digest() const { return digest_; }

  friend bool operator==(const Cid& a, const Cid& b) {
    return a.codec_ == b.codec_ && a.digest_ == b.digest_;
  }
  friend bool operator<(const Cid& a, const Cid& b) {
    return a.codec_ != b.codec_ ? a.codec_ < b.codec_ : a.digest_ < b.digest_;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Cid& c) {
    return H::combine(std::move(h), static_cast<uint64_t>(c.codec_), c.digest_);
  }

 private:
  Cid(Codec codec, const crypto::Digest& digest) : codec_(codec), digest_(digest) {}
  Codec codec_;
  crypto::Digest digest_;
};

}  // namespace mesh::cas
