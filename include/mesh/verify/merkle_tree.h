// Merkle trees over SHA-256 as RFC 6962 (Certificate Transparency) section 2.1 defines them, with
// inclusion proofs. A split job's chunk outputs are its leaves; the root names the whole result,
// and a proof shows that one chunk's output is part of it without the other chunks.
//
// Domain separation: a leaf hashes as SHA-256(0x00 || data), an interior node as
// SHA-256(0x01 || left || right), so no leaf can pass for an interior node (second preimages).
// A tree of n > 1 leaves splits at the largest power of two k < n: root = node(MTH(first k),
// MTH(the rest)). The last leaf of an odd level is NOT duplicated (Bitcoin's tree does that, and
// it lets the leaf lists [a, b, c] and [a, b, c, c] share a root: CVE-2012-2459); it is promoted
// to the level above unchanged, which yields exactly the RFC 6962 tree.
//
// The empty tree: RFC 6962 defines its root as SHA-256(""), but a split job has at least one
// chunk, so Build refuses zero leaves with InvalidArgument rather than let a bug pass for a result.
//
// MerkleTree is an immutable value (safe to share between threads once built); the functions are
// pure and thread-safe. Proofs from peers are untrusted: every check returns a Status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mesh/cas/cid.h"
#include "mesh/crypto/sha256.h"
#include "nlohmann/json.hpp"

namespace mesh::verify {

using crypto::Digest;

// A proof's path has one hash per level with a sibling: at most 64 for any 64-bit tree size.
inline constexpr size_t kMaxInclusionPath = 64;

// SHA-256(0x00 || data).
Digest LeafHash(std::string_view data);
// SHA-256(0x01 || left || right).
Digest NodeHash(const Digest& left, const Digest& right);
// The leaf of a chunk output: LeafHash of the 32-byte SHA-256 digest its CID carries (the digest
// of the output's bytes). The codec is not part of the leaf: chunk outputs are raw blobs.
Digest LeafForCid(const cas::Cid& cid);

// Proves that the leaf at `index` is in the tree of `tree_size` leaves. `path` lists the sibling
// hashes from the leaf's level upwards (RFC 9162 section 2.1.3 order; levels where the node has
// no sibling are skipped).
struct InclusionProof {
  uint64_t index = 0;
  uint64_t tree_size = 0;
  std::vector<Digest> path;

  friend bool operator==(const InclusionProof&, const InclusionProof&) = default;
};

class MerkleTree {
 public:
  // From leaf hashes (LeafHash / LeafForCid of each leaf, in order). InvalidArgument if empty.
  static absl::StatusOr<MerkleTree> Build(std::vector<Digest> leaf_hashes);
  // From leaf bytes: hashes each with LeafHash first.
  static absl::StatusOr<MerkleTree> FromLeafData(const std::vector<std::string>& leaves);

  const Digest& root() const { return levels_.back().front(); }
  size_t size() const { return levels_.front().size(); }
  const Digest& leaf_hash(size_t index) const { return levels_.front().at(index); }

  // InvalidArgument if index >= size().
  absl::StatusOr<InclusionProof> Prove(size_t index) const;

 private:
  explicit MerkleTree(std::vector<std::vector<Digest>> levels) : levels_(std::move(levels)) {}
  // levels_[0] are the leaf hashes, levels_.back() holds the root alone. An odd level's last
  // node is carried up unchanged (see above).
  std::vector<std::vector<Digest>> levels_;
};

// The number of hashes a proof for leaf `index` of a tree of `tree_size` leaves has (0 when
// index >= tree_size, and for the single leaf of a tree of one).
size_t InclusionPathLength(uint64_t index, uint64_t tree_size);

// Recomputes the root from a leaf hash and its proof. InvalidArgument for a malformed proof:
// tree_size 0, index >= tree_size, a path of the wrong length. The result means nothing unless
// proof.tree_size is the trusted size (see VerifyInclusion).
absl::StatusOr<Digest> RootFromInclusionProof(const Digest& leaf_hash, const InclusionProof& proof);

// OK when `proof` shows `leaf_hash` at proof.index in the tree of `tree_size` leaves whose root is
// `root`. The size must come from the same trusted place as the root (the job's result, its
// chunk count), never from the proof alone: an RFC 6962 root does not commit to its size, and
// proofs of the same shape exist for other (index, size) pairs (leaf 2 of 3 and leaf 1 of 2
// both have one left sibling), so an unchecked size would let a leaf claim another position.
// Certificate Transparency signs the size with the root for the same reason.
// InvalidArgument for a malformed proof (as above) or one for another size; Unauthenticated
// when it is well formed but leads to another root (an altered leaf, path or index), as a bad
// signature does.
absl::Status VerifyInclusion(const Digest& root, uint64_t tree_size, const Digest& leaf_hash,
                             const InclusionProof& proof);

// Lower-case hex, 64 characters.
std::string DigestHex(const Digest& digest);
// Exactly 64 hex digits (either case); InvalidArgument otherwise.
absl::StatusOr<Digest> ParseDigestHex(std::string_view text);

// {"index": 5, "tree_size": 8, "path": ["<64 hex>", ...]}.
nlohmann::json ToJson(const InclusionProof& proof);
// Checks types, that index < tree_size and that the path has exactly the length that index and
// tree_size imply; each error names the field ("inclusion proof path[2]: ...").
absl::StatusOr<InclusionProof> InclusionProofFromJson(const nlohmann::json& json);

}  // namespace mesh::verify
