#include "mesh/cas/cid.h"

#include <cstring>

#include "mesh/common/base32.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/common/varint.h"

namespace mesh::cas {
namespace {
constexpr uint64_t kCidVersion = 1;
constexpr uint64_t kSha256Code = 0x12;
constexpr uint64_t kSha256Length = 32;

bool KnownCodec(uint64_t code) {
  switch (static_cast<Codec>(code)) {
    case Codec::kRaw:
    case Codec::kDagPb:
    case Codec::kDagCbor:
    case Codec::kDagJson:
      return true;
  }
  return false;
}

absl::StatusOr<uint64_t> ReadCidVarint(std::string_view& in, std::string_view field) {
  auto v = ReadVarint(in);
  if (!v.ok()) {
    return absl::InvalidArgumentError(mesh::StrCat("CID ", field, ": ", v.status().message()));
  }
  return *v;
}
}  // namespace

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kRaw:
      return "raw";
    case Codec::kDagPb:
      return "dag-pb";
    case Codec::kDagCbor:
      return "dag-cbor";
    case Codec::kDagJson:
      return "dag-json";
  }
  return "unknown";
}

Cid Cid::Of(std::string_view data, Codec codec) { return Cid(codec, crypto::Sha256Of(data)); }

std::string Cid::ToBytes() const {
  std::string out;
  out.reserve(4 + digest_.size());
  AppendVarint(kCidVersion, out);
  AppendVarint(static_cast<uint64_t>(codec_), out);
  AppendVarint(kSha256Code, out);
  AppendVarint(kSha256Length, out);
  out.append(reinterpret_cast<const char*>(digest_.data()), digest_.size());
  return out;
}

std::string Cid::ToString() const { return mesh::StrCat("b", Base32Encode(ToBytes())); }

absl::StatusOr<Cid> Cid::FromBytes(std::string_view bytes) {
  std::string_view in = bytes;
  if (in.size() == 34 && in[0] == 0x12 && in[1] == 0x20) {
    return absl::InvalidArgumentError(
        "CIDv0 (bare sha2-256 multihash) is not supported; use a CIDv1");
  }
  MESH_ASSIGN_OR_RETURN(uint64_t version, ReadCidVarint(in, "version"));
  if (version != kCidVersion) {
    return absl::InvalidArgumentError(
        mesh::StrCat("CID version ", version, " is not supported; only CIDv1"));
  }
  MESH_ASSIGN_OR_RETURN(uint64_t codec, ReadCidVarint(in, "codec"));
  if (!KnownCodec(codec)) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "CID codec 0x", absl::Hex(codec),
        " is unknown; supported: raw (0x55), dag-pb (0x70), dag-cbor (0x71), dag-json (0x129)"));
  }
  MESH_ASSIGN_OR_RETURN(uint64_t hash_code, ReadCidVarint(in, "multihash function"));
  if (hash_code != kSha256Code) {
    return absl::InvalidArgumentError(mesh::StrCat("CID multihash function 0x",
                                                   absl::Hex(hash_code),
                                                   " is not supported; only sha2-256 (0x12)"));
  }
  MESH_ASSIGN_OR_RETURN(uint64_t length, ReadCidVarint(in, "multihash length"));
  if (length != kSha256Length) {
    return absl::InvalidArgumentError(
        mesh::StrCat("CID sha2-256 digest length is declared as ", length, "; it must be 32"));
  }
  if (in.size() != kSha256Length) {
    return absl::InvalidArgumentError(
        in.size() < kSha256Length
            ? mesh::StrCat("CID digest is truncated: ", in.size(), " of 32 bytes")
            : mesh::StrCat("CID has ", in.size() - kSha256Length, " trailing bytes"));
  }
  crypto::Digest digest;
  std::memcpy(digest.data(), in.data(), digest.size());
  return Cid(static_cast<Codec>(codec), digest);
}

absl::StatusOr<Cid> Cid::Parse(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("CID is empty");
  if (text.size() == 46 && text.substr(0, 2) == "Qm") {
    return absl::InvalidArgumentError(
        "CIDv0 (Qm...) is not supported; use a CIDv1 in base32 (b...)");
  }
  if (text[0] != 'b') {
    return absl::InvalidArgumentError(mesh::StrCat("CID '", text.substr(0, 16),
                                                   "' has multibase prefix '", text.substr(0, 1),
                                                   "'; Mesh CIDs use base32 lower-case ('b')"));
  }
  // The longest valid CID text is well under 100 characters; refuse big inputs before decoding.
  if (text.size() > 128) {
    return absl::InvalidArgumentError(
        mesh::StrCat("CID text is ", text.size(), " characters; too long"));
  }
  auto bytes = Base32Decode(text.substr(1));
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(mesh::StrCat("CID: ", bytes.status().message()));
  }
  return FromBytes(*bytes);
}

}  // namespace mesh::cas
