#include "mesh/verify/merkle_tree.h"

#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <string>
#include <vector>

#include "mesh/common/testing.h"

namespace mesh::verify {
namespace {

using crypto::Sha256Of;

std::string Bytes(const Digest& d) { return crypto::DigestToString(d); }

Digest FromHex(std::string_view hex) {
  auto d = ParseDigestHex(hex);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : Digest{};
}

std::vector<Digest> Leaves(size_t n) {
  std::vector<Digest> leaves;
  for (size_t i = 0; i < n; ++i) leaves.push_back(LeafHash("chunk output " + std::to_string(i)));
  return leaves;
}

// The Certificate Transparency reference tree (RFC 6962 test data, as used by the CT and
// Trillian test suites): the root of its first n leaves, for n = 1..8.
const std::vector<std::string> kCtLeaves = {
    std::string(),
    std::string("\x00", 1),
    "\x10",
    "\x20\x21",
    "\x30\x31",
    "\x40\x41\x42\x43",
    "\x50\x51\x52\x53\x54\x55\x56\x57",
    "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
};
const std::vector<std::string> kCtRoots = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

TEST(MerkleTreeTest, RootsFromTheDefinition) {
  const std::string a = "a", b = "bb", c = "ccc";
  const Digest la = Sha256Of(std::string("\x00", 1) + a);
  const Digest lb = Sha256Of(std::string("\x00", 1) + b);
  const Digest lc = Sha256Of(std::string("\x00", 1) + c);
  EXPECT_EQ(LeafHash(a), la);

  ASSERT_OK_AND_ASSIGN(MerkleTree one, MerkleTree::FromLeafData({a}));
  EXPECT_EQ(one.root(), la);  // a single leaf is its own root
  EXPECT_EQ(one.size(), 1u);

  const Digest ab = Sha256Of("\x01" + Bytes(la) + Bytes(lb));
  ASSERT_OK_AND_ASSIGN(MerkleTree two, MerkleTree::FromLeafData({a, b}));
  EXPECT_EQ(two.root(), ab);
  EXPECT_EQ(NodeHash(la, lb), ab);

  // Three leaves: split at 2, the third is promoted, not paired with a copy of itself.
  ASSERT_OK_AND_ASSIGN(MerkleTree three, MerkleTree::FromLeafData({a, b, c}));
  EXPECT_EQ(three.root(), Sha256Of("\x01" + Bytes(ab) + Bytes(lc)));
  EXPECT_NE(three.root(), Sha256Of("\x01" + Bytes(ab) + Bytes(NodeHash(lc, lc))));
}

TEST(MerkleTreeTest, MatchesTheRfc6962ReferenceRoots) {
  for (size_t n = 1; n <= kCtLeaves.size(); ++n) {
    std::vector<std::string> leaves(kCtLeaves.begin(), kCtLeaves.begin() + n);
    ASSERT_OK_AND_ASSIGN(MerkleTree tree, MerkleTree::FromLeafData(leaves));
    EXPECT_EQ(DigestHex(tree.root()), kCtRoots[n - 1]) << "tree of " << n << " leaves";
  }
}

TEST(MerkleTreeTest, MatchesTheRfc6962ReferenceProofs) {
  ASSERT_OK_AND_ASSIGN(MerkleTree tree, MerkleTree::FromLeafData(kCtLeaves));
  ASSERT_OK_AND_ASSIGN(InclusionProof p0, tree.Prove(0));
  EXPECT_EQ(p0.path,
            (std::vector<Digest>{
                FromHex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                FromHex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                FromHex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}));
  ASSERT_OK_AND_ASSIGN(InclusionProof p5, tree.Prove(5));
  EXPECT_EQ(p5.path,
            (std::vector<Digest>{
                FromHex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                FromHex("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                FromHex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}));
  EXPECT_OK(VerifyInclusion(FromHex(kCtRoots[7]), 8, LeafHash(kCtLeaves[5]), p5));
  // Leaf 2 of a tree of 3: its only sibling is the root of the first two.
  ASSERT_OK_AND_ASSIGN(MerkleTree three,
                       MerkleTree::FromLeafData({kCtLeaves[0], kCtLeaves[1], kCtLeaves[2]}));
  ASSERT_OK_AND_ASSIGN(InclusionProof p2, three.Prove(2));
  EXPECT_EQ(p2.path, std::vector<Digest>{FromHex(kCtRoots[1])});
}

TEST(MerkleTreeTest, EmptyTreeIsRefused) {
  auto tree = MerkleTree::Build({});
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tree.status().message().find("at least one leaf"), absl::string_view::npos);
}

TEST(MerkleTreeTest, LeafForCidHashesTheCidDigest) {
  const cas::Cid cid = cas::Cid::Of("chunk 7 output");
  EXPECT_EQ(LeafForCid(cid), LeafHash(Bytes(Sha256Of("chunk 7 output"))));
}

TEST(MerkleTreeTest, EveryProofOfEveryTreeUpTo70Verifies) {
  for (size_t n = 1; n <= 70; ++n) {
    ASSERT_OK_AND_ASSIGN(MerkleTree tree, MerkleTree::Build(Leaves(n)));
    for (size_t i = 0; i < n; ++i) {
      ASSERT_OK_AND_ASSIGN(InclusionProof proof, tree.Prove(i));
      EXPECT_EQ(proof.path.size(), InclusionPathLength(i, n));
      EXPECT_OK(VerifyInclusion(tree.root(), n, tree.leaf_hash(i), proof)) << i << " of " << n;
    }
    EXPECT_FALSE(tree.Prove(n).ok());
  }
}

TEST(MerkleTreeTest, EveryAlteredProofFails) {
  for (size_t n = 1; n <= 70; ++n) {
    ASSERT_OK_AND_ASSIGN(MerkleTree tree, MerkleTree::Build(Leaves(n)));
    for (size_t i = 0; i < n; ++i) {
      SCOPED_TRACE(testing::Message() << "leaf " << i << " of " << n);
      ASSERT_OK_AND_ASSIGN(const InclusionProof good, tree.Prove(i));
      const Digest& leaf = tree.leaf_hash(i);
      auto fails = [&](const InclusionProof& p, const Digest& l, const Digest& root) {
        return !VerifyInclusion(root, n, l, p).ok();
      };
      for (size_t e = 0; e < good.path.size(); ++e) {
        for (int bit : {0, 77, 255}) {
          InclusionProof bad = good;
          bad.path[e][bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
          EXPECT_TRUE(fails(bad, leaf, tree.root())) << "bit " << bit << " of path " << e;
        }
      }
      for (uint64_t index = 0; index < n + 2; ++index) {
        InclusionProof bad = good;
        bad.index = index;
        // Another index is only accepted if it names the same leaf position, i.e. never.
        if (index != i) {
          EXPECT_TRUE(fails(bad, leaf, tree.root())) << "index " << index;
        }
      }
      for (uint64_t size : {uint64_t{0}, uint64_t{n - 1}, uint64_t{n + 1}, uint64_t{2 * n}}) {
        if (size == n) continue;
        InclusionProof bad = good;
        bad.tree_size = size;
        EXPECT_TRUE(fails(bad, leaf, tree.root())) << "size " << size;
      }
      if (!good.path.empty()) {
        InclusionProof truncated = good;
        truncated.path.pop_back();
        EXPECT_TRUE(fails(truncated, leaf, tree.root()));
      }
      InclusionProof extended = good;
      extended.path.push_back(tree.root());
      EXPECT_TRUE(fails(extended, leaf, tree.root()));
      Digest other_leaf = leaf;
      other_leaf[31] ^= 1;
      EXPECT_TRUE(fails(good, other_leaf, tree.root()));
      Digest other_root = tree.root();
      other_root[0] ^= 0x80;
      EXPECT_TRUE(fails(good, leaf, other_root));
      // A leaf's data is not its hash: the raw bytes do not verify in place of LeafHash.
      EXPECT_TRUE(fails(good, Sha256Of("chunk output " + std::to_string(i)), tree.root()));
    }
  }
}

// Why VerifyInclusion takes the trusted size: the root alone does not commit to it. Leaf 2's
// proof in a tree of 3 (one left sibling: the root of leaves 0-1) recomputes the same root when
// relabelled "leaf 1 of 2", and leaf 0's proof in a tree of 3 passes as leaf 0 of 4.
TEST(MerkleTreeTest, TheRootDoesNotCommitToTheSize) {
  ASSERT_OK_AND_ASSIGN(MerkleTree tree, MerkleTree::Build(Leaves(3)));
  ASSERT_OK_AND_ASSIGN(InclusionProof proof, tree.Prove(2));
  InclusionProof relabelled = proof;
  relabelled.index = 1;
  relabelled.tree_size = 2;
  ASSERT_OK_AND_ASSIGN(Digest root, RootFromInclusionProof(tree.leaf_hash(2), relabelled));
  EXPECT_EQ(root, tree.root());
  EXPECT_EQ(VerifyInclusion(tree.root(), 3, tree.leaf_hash(2), relabelled).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_OK(VerifyInclusion(tree.root(), 3, tree.leaf_hash(2), proof));
}

TEST(MerkleTreeTest, MalformedProofsGiveClearErrors) {
  ASSERT_OK_AND_ASSIGN(MerkleTree tree, MerkleTree::Build(Leaves(8)));
  ASSERT_OK_AND_ASSIGN(InclusionProof proof, tree.Prove(3));
  const Digest leaf = tree.leaf_hash(3);

  InclusionProof empty = proof;
  empty.tree_size = 0;
  absl::Status s = RootFromInclusionProof(leaf, empty).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("empty tree"), absl::string_view::npos) << s;

  InclusionProof past = proof;
  past.index = 8;
  s = VerifyInclusion(tree.root(), 8, leaf, past);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("leaf 8 of a tree of 8"), absl::string_view::npos) << s;

  InclusionProof short_path = proof;
  short_path.path.pop_back();
  s = VerifyInclusion(tree.root(), 8, leaf, short_path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("has 2 path hashes; that position needs 3"), absl::string_view::npos)
      << s;

  InclusionProof huge = proof;
  huge.index = ~uint64_t{0} - 1;
  huge.tree_size = ~uint64_t{0};
  huge.path.assign(64, Digest{});
  EXPECT_FALSE(VerifyInclusion(tree.root(), huge.tree_size, leaf, huge).ok());
  huge.path.assign(1000, Digest{});
  EXPECT_EQ(RootFromInclusionProof(leaf, huge).status().code(), absl::StatusCode::kInvalidArgument);

  InclusionProof other_size = proof;
  other_size.tree_size = 7;
  s = VerifyInclusion(tree.root(), 8, leaf, other_size);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("for a tree of 7 leaves; the root being checked commits to 8"),
            absl::string_view::npos)
      << s;

  s = VerifyInclusion(tree.root(), 8, tree.leaf_hash(4), proof);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("leads to root"), absl::string_view::npos) << s;
}

TEST(MerkleTreeTest, ProofJsonRoundTrips) {
  ASSERT_OK_AND_ASSIGN(MerkleTree tree, MerkleTree::Build(Leaves(13)));
  for (size_t i = 0; i < 13; ++i) {
    ASSERT_OK_AND_ASSIGN(InclusionProof proof, tree.Prove(i));
    const nlohmann::json json = ToJson(proof);
    ASSERT_OK_AND_ASSIGN(InclusionProof back,
                         InclusionProofFromJson(nlohmann::json::parse(json.dump())));
    EXPECT_EQ(back, proof);
  }
  ASSERT_OK_AND_ASSIGN(InclusionProof proof, tree.Prove(12));
  EXPECT_EQ(ToJson(proof)["path"][0], DigestHex(proof.path[0]));
  EXPECT_EQ(ToJson(proof)["tree_size"], 13);
}

TEST(MerkleTreeTest, ProofJsonRejectsBadInput) {
  ASSERT_OK_AND_ASSIGN(MerkleTree tree, MerkleTree::Build(Leaves(8)));
  ASSERT_OK_AND_ASSIGN(InclusionProof proof, tree.Prove(3));
  const nlohmann::json good = ToJson(proof);
  struct Case {
    std::function<void(nlohmann::json&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& j) { j = nlohmann::json::array(); }, "must be a JSON object"},
      {[](auto& j) { j.erase("index"); }, "index: must be a non-negative integer"},
      {[](auto& j) { j["index"] = -1; }, "index: must be a non-negative integer"},
      {[](auto& j) { j["index"] = 1.5; }, "index: must be a non-negative integer"},
      {[](auto& j) { j["index"] = "3"; }, "index: must be a non-negative integer"},
      {[](auto& j) { j["tree_size"] = 0; }, "tree_size: must be at least 1"},
      {[](auto& j) { j["index"] = 8; }, "index: 8 is not below tree_size 8"},
      {[](auto& j) { j["path"] = "abc"; }, "path: must be an array"},
      {[](auto& j) { j["path"].erase(0); }, "path: has 2 hashes; leaf 3 of 8 needs 3"},
      {[](auto& j) { j["path"][1] = 7; }, "path[1]: must be a hex string"},
      {[](auto& j) { j["path"][2] = "abcd"; }, "path[2]: a SHA-256 digest is 64 hex digits"},
      {[](auto& j) { j["path"][0] = std::string(64, 'g'); }, "path[0]: digest is not hex"},
  };
  for (const Case& c : cases) {
    nlohmann::json json = good;
    c.change(json);
    auto parsed = InclusionProofFromJson(json);
    ASSERT_FALSE(parsed.ok()) << c.message;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.message), absl::string_view::npos)
        << parsed.status() << " should say " << c.message;
  }
  // Upper-case hex is accepted (it names the same digest).
  nlohmann::json upper = good;
  std::string h = upper["path"][0];
  for (char& ch : h) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  upper["path"][0] = h;
  ASSERT_OK_AND_ASSIGN(InclusionProof back, InclusionProofFromJson(upper));
  EXPECT_EQ(back, proof);
}

}  // namespace
}  // namespace mesh::verify
