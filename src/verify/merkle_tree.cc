#include "mesh/verify/merkle_tree.h"

#include <algorithm>
#include <utility>

#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::verify {
namespace {

constexpr char kLeafPrefix = 0x00;
constexpr char kNodePrefix = 0x01;

std::string_view Bytes(const Digest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

// One hasher per tree build: Sha256Of would create and free an OpenSSL context per node.
Digest HashNode(crypto::Sha256& hasher, const Digest& left, const Digest& right) {
  hasher.Update(std::string_view(&kNodePrefix, 1));
  hasher.Update(Bytes(left));
  hasher.Update(Bytes(right));
  return hasher.Finish();
}

Digest HashLeaf(crypto::Sha256& hasher, std::string_view data) {
  hasher.Update(std::string_view(&kLeafPrefix, 1));
  hasher.Update(data);
  return hasher.Finish();
}

// "abcd1234…" for messages: enough to tell two digests apart.
std::string Short(const Digest& d) { return DigestHex(d).substr(0, 16) + "…"; }

}  // namespace

Digest LeafHash(std::string_view data) {
  crypto::Sha256 hasher;
  return HashLeaf(hasher, data);
}

Digest NodeHash(const Digest& left, const Digest& right) {
  crypto::Sha256 hasher;
  return HashNode(hasher, left, right);
}

Digest LeafForCid(const cas::Cid& cid) { return LeafHash(Bytes(cid.digest())); }

absl::StatusOr<MerkleTree> MerkleTree::Build(std::vector<Digest> leaf_hashes) {
  if (leaf_hashes.empty()) {
    return absl::InvalidArgumentError(
        "a Merkle tree needs at least one leaf; a split job has at least one chunk");
  }
  std::vector<std::vector<Digest>> levels;
  levels.push_back(std::move(leaf_hashes));
  crypto::Sha256 hasher;
  while (levels.back().size() > 1) {
    const std::vector<Digest>& below = levels.back();
    std::vector<Digest> up;
    up.reserve((below.size() + 1) / 2);
    for (size_t i = 0; i + 1 < below.size(); i += 2) {
      up.push_back(HashNode(hasher, below[i], below[i + 1]));
    }
    // Promoted, not paired with a copy of itself: see the header (CVE-2012-2459).
    if (below.size() % 2 == 1) up.push_back(below.back());
    levels.push_back(std::move(up));
  }
  return MerkleTree(std::move(levels));
}

absl::StatusOr<MerkleTree> MerkleTree::FromLeafData(const std::vector<std::string>& leaves) {
  std::vector<Digest> hashes;
  hashes.reserve(leaves.size());
  crypto::Sha256 hasher;
  for (const std::string& leaf : leaves) hashes.push_back(HashLeaf(hasher, leaf));
  return Build(std::move(hashes));
}

absl::StatusOr<InclusionProof> MerkleTree::Prove(size_t index) const {
  if (index >= size()) {
    return absl::InvalidArgumentError(mesh::StrCat("no leaf ", index, " in a Merkle tree of ",
                                                   size(), " leaves (indexes 0..", size() - 1,
                                                   ")"));
  }
  InclusionProof proof{.index = index, .tree_size = size(), .path = {}};
  size_t i = index;
  for (size_t level = 0; level + 1 < levels_.size(); ++level, i /= 2) {
    const size_t sibling = i ^ 1;
    if (sibling < levels_[level].size()) proof.path.push_back(levels_[level][sibling]);
  }
  return proof;
}

size_t InclusionPathLength(uint64_t index, uint64_t tree_size) {
  if (index >= tree_size) return 0;
  size_t length = 0;
  // fn: the node's index on this level; sn: the last index on this level. A node has a sibling
  // unless it is the last of an odd level (then it is promoted and the level adds no hash).
  for (uint64_t fn = index, sn = tree_size - 1; sn > 0; fn /= 2, sn /= 2) {
    if (fn % 2 == 1 || fn < sn) ++length;
  }
  return length;
}

absl::StatusOr<Digest> RootFromInclusionProof(const Digest& leaf_hash,
                                              const InclusionProof& proof) {
  if (proof.tree_size == 0) {
    return absl::InvalidArgumentError("inclusion proof is for an empty tree (tree_size 0)");
  }
  if (proof.index >= proof.tree_size) {
    return absl::InvalidArgumentError(
        mesh::StrCat("inclusion proof names leaf ", proof.index, " of a tree of ", proof.tree_size,
                     " leaves (indexes 0..", proof.tree_size - 1, ")"));
  }
  const size_t expected = InclusionPathLength(proof.index, proof.tree_size);
  if (proof.path.size() != expected) {
    return absl::InvalidArgumentError(mesh::StrCat("inclusion proof for leaf ", proof.index, " of ",
                                                   proof.tree_size, " has ", proof.path.size(),
                                                   " path hashes; that position needs ", expected));
  }
  // RFC 9162 section 2.1.3.2, with the length checked up front so that a malformed path is
  // named as such rather than reported as a root mismatch.
  crypto::Sha256 hasher;
  Digest r = leaf_hash;
  uint64_t fn = proof.index;
  uint64_t sn = proof.tree_size - 1;
  for (const Digest& p : proof.path) {
    if (fn % 2 == 1 || fn == sn) {
      r = HashNode(hasher, p, r);
      // Climb past the levels where this node was promoted without a sibling.
      while (fn % 2 == 0 && fn != 0) {
        fn /= 2;
        sn /= 2;
      }
    } else {
      r = HashNode(hasher, r, p);
    }
    fn /= 2;
    sn /= 2;
  }
  if (sn != 0) {  // unreachable when the length check above holds; kept as a guard
    return absl::InvalidArgumentError("inclusion proof path ends below the root");
  }
  return r;
}

absl::Status VerifyInclusion(const Digest& root, uint64_t tree_size, const Digest& leaf_hash,
                             const InclusionProof& proof) {
  if (proof.tree_size != tree_size) {
    return absl::InvalidArgumentError(
        mesh::StrCat("inclusion proof is for a tree of ", proof.tree_size,
                     " leaves; the root being checked commits to ", tree_size));
  }
  MESH_ASSIGN_OR_RETURN(Digest computed, RootFromInclusionProof(leaf_hash, proof));
  if (computed != root) {
    return absl::UnauthenticatedError(
        mesh::StrCat("inclusion proof for leaf ", proof.index, " of ", proof.tree_size,
                     " leads to root ", Short(computed), ", not the expected ", Short(root),
                     ": the leaf, the path, the index or the size is not the one committed to"));
  }
  return absl::OkStatus();
}

std::string DigestHex(const Digest& digest) { return HexEncode(Bytes(digest)); }

absl::StatusOr<Digest> ParseDigestHex(std::string_view text) {
  if (text.size() != 2 * sizeof(Digest)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("a SHA-256 digest is 64 hex digits; got ", text.size(), " characters"));
  }
  auto bytes = HexDecode(text);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("digest is not hex: ", ToStd(bytes.status().message())));
  }
  Digest d;
  std::copy(bytes->begin(), bytes->end(), d.begin());
  return d;
}

nlohmann::json ToJson(const InclusionProof& proof) {
  nlohmann::json path = nlohmann::json::array();
  for (const Digest& d : proof.path) path.push_back(DigestHex(d));
  return {{"index", proof.index}, {"tree_size", proof.tree_size}, {"path", std::move(path)}};
}

absl::StatusOr<InclusionProof> InclusionProofFromJson(const nlohmann::json& json) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError("inclusion proof must be a JSON object");
  }
  auto get_count = [&](const char* key) -> absl::StatusOr<uint64_t> {
    auto it = json.find(key);
    // Parsed text gives unsigned numbers; JSON built in code may hold signed ones.
    if (it == json.end() || !it->is_number_integer() ||
        (!it->is_number_unsigned() && it->get<int64_t>() < 0)) {
      return absl::InvalidArgumentError(
          mesh::StrCat("inclusion proof ", key, ": must be a non-negative integer"));
    }
    return it->get<uint64_t>();
  };
  InclusionProof proof;
  MESH_ASSIGN_OR_RETURN(proof.index, get_count("index"));
  MESH_ASSIGN_OR_RETURN(proof.tree_size, get_count("tree_size"));
  if (proof.tree_size == 0) {
    return absl::InvalidArgumentError("inclusion proof tree_size: must be at least 1");
  }
  if (proof.index >= proof.tree_size) {
    return absl::InvalidArgumentError(mesh::StrCat("inclusion proof index: ", proof.index,
                                                   " is not below tree_size ", proof.tree_size));
  }
  auto path = json.find("path");
  if (path == json.end() || !path->is_array()) {
    return absl::InvalidArgumentError("inclusion proof path: must be an array of hex digests");
  }
  const size_t expected = InclusionPathLength(proof.index, proof.tree_size);
  if (path->size() != expected) {
    return absl::InvalidArgumentError(mesh::StrCat("inclusion proof path: has ", path->size(),
                                                   " hashes; leaf ", proof.index, " of ",
                                                   proof.tree_size, " needs ", expected));
  }
  for (size_t i = 0; i < path->size(); ++i) {
    const nlohmann::json& item = (*path)[i];
    if (!item.is_string()) {
      return absl::InvalidArgumentError(
          mesh::StrCat("inclusion proof path[", i, "]: must be a hex string"));
    }
    auto digest = ParseDigestHex(item.get<std::string>());
    if (!digest.ok()) {
      return absl::InvalidArgumentError(
          mesh::StrCat("inclusion proof path[", i, "]: ", ToStd(digest.status().message())));
    }
    proof.path.push_back(*digest);
  }
  return proof;
}

}  // namespace mesh::verify
