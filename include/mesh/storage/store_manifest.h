// The manifest of a stored file: its size, how it was cut and coded, per segment the shard CIDs,
// the compression and the nonce, and the file's key sealed to its owner (crypto/sealed_box.h).
// The owner signs it; its CID (dag-json) is the file's handle. A small file is stored inline:
// its sealed bytes are in the manifest itself, in no stripe.
//
// The encoding is canonical dag-json (keys sorted, no whitespace, CIDs as {"/": cid}, bytes as
// {"/": {"bytes": base64}}), so one file state has one CID; ParseStoreManifest refuses any
// other form, checks every bound and the signature. Pure functions on value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/storage/segment.h"

namespace mesh::storage {

inline constexpr std::string_view kStoreManifestType = "mesh-store";
inline constexpr int kStoreManifestVersion = 1;
inline constexpr uint64_t kMinSegmentBytes = 4 << 10;
inline constexpr uint64_t kMaxSegmentBytes = 256ull << 20;
inline constexpr uint64_t kMaxStoreManifestBytes = 16ull << 20;
inline constexpr uint64_t kMaxInlineBytes = 1 << 20;

struct StoreManifest {
  std::string owner;  // did:key of the owner, who signs
  uint64_t size = 0;  // the file's bytes
  uint64_t segment_bytes = 0;
  int k = 0;  // the erasure code; 0 and 0 for a file stored inline
  int m = 0;
  bool encrypted = true;
  std::string wrapped_key;  // the file key sealed to the owner; empty when not encrypted
  // A small file: its one segment, sealed, here (`inline_segment.shards` is then empty).
  std::optional<SegmentInfo> inline_segment;
  std::string inline_data;
  std::vector<SegmentInfo> segments;  // a file in stripes
  std::string signature;              // Ed25519 by `owner` over EncodeStoreManifest without it

  bool is_inline() const { return inline_segment.has_value(); }
};

// The canonical bytes; with `signed_form` false, without the signature (what is signed).
std::string EncodeStoreManifest(const StoreManifest& manifest, bool signed_form = true);

// Signs with `owner` (whose DID must be manifest.owner).
absl::Status SignStoreManifest(StoreManifest& manifest, const crypto::KeyPair& owner);

// Parses, checks the bounds and the consistency (sizes add up, k + m shards per segment, nonces
// when encrypted), the canonical form and the owner's signature. InvalidArgument naming what is
// wrong; Unauthenticated for a bad signature.
absl::StatusOr<StoreManifest> ParseStoreManifest(std::string_view bytes);

}  // namespace mesh::storage
