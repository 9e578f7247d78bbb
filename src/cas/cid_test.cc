#include <gtest/gtest.h>

#include "absl/container/flat_hash_set.h"
#include "mesh/cas/cid.h"
#include "mesh/common/hex.h"
#include "mesh/common/testing.h"

namespace mesh::cas {
namespace {

// The CIDv1 of the raw bytes "hello world", as IPFS computes it (`ipfs add --cid-version 1
// --raw-leaves` and every multiformats implementation agree on it).
TEST(CidTest, HelloWorldRawMatchesReference) {
  const Cid cid = Cid::Of("hello world");
  EXPECT_EQ(cid.ToString(), "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
  EXPECT_EQ(cid.codec(), Codec::kRaw);
}

// The example CID from the multiformats CID specification's README, decoded field by field.
TEST(CidTest, ParsesSpecificationExample) {
  ASSERT_OK_AND_ASSIGN(Cid cid,
                       Cid::Parse("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"));
  EXPECT_EQ(cid.codec(), Codec::kDagPb);
  EXPECT_EQ(HexEncode(crypto::DigestToString(cid.digest())),
            "c3c4733ec8affd06cf9e9ff50ffc6bcd2ec85a6170004bb709669c31de94391a");
  EXPECT_EQ(cid.ToString(), "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi");
  EXPECT_EQ(HexEncode(cid.ToBytes()).substr(0, 8), "01701220");
}

TEST(CidTest, RoundTripsEveryCodecThroughTextAndBytes) {
  for (Codec c : {Codec::kRaw, Codec::kDagPb, Codec::kDagCbor, Codec::kDagJson}) {
    const Cid cid = Cid::Of("data", c);
    ASSERT_OK_AND_ASSIGN(Cid from_text, Cid::Parse(cid.ToString()));
    ASSERT_OK_AND_ASSIGN(Cid from_bytes, Cid::FromBytes(cid.ToBytes()));
    EXPECT_EQ(from_text, cid);
    EXPECT_EQ(from_bytes, cid);
  }
  // dag-json's codec 0x0129 needs a two-byte varint.
  EXPECT_EQ(HexEncode(Cid::Of("x", Codec::kDagJson).ToBytes()).substr(0, 6), "01a902");
  EXPECT_NE(Cid::Of("data", Codec::kRaw), Cid::Of("data", Codec::kDagJson));
}

TEST(CidTest, HashableAndOrdered) {
  absl::flat_hash_set<Cid> set = {Cid::Of("a"), Cid::Of("b"), Cid::Of("a")};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_TRUE(Cid::Of("a") < Cid::Of("b") || Cid::Of("b") < Cid::Of("a"));
}

TEST(CidTest, ParseRejectsBadInputNamingTheProblem) {
  const std::string good = Cid::Of("x").ToString();
  std::string wrong_hash_len = Cid::Of("x").ToBytes();
  wrong_hash_len[3] = 0x1f;
  std::string sha1 = Cid::Of("x").ToBytes();
  sha1[2] = 0x11;
  std::string v2 = Cid::Of("x").ToBytes();
  v2[0] = 0x02;
  std::string unknown_codec = Cid::Of("x").ToBytes();
  unknown_codec[1] = 0x50;
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty"},
      {"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "CIDv0"},
      {"B" + good.substr(1), "multibase prefix 'B'"},
      {"z" + good.substr(1), "multibase prefix 'z'"},
      {good.substr(0, good.size() - 8), "truncated"},
      {good + "aaaaaaaa", "trailing"},
      {"b" + std::string(200, 'a'), "too long"},
      {good.substr(0, 10) + "1" + good.substr(11), "invalid base32"},
  };
  for (const auto& [text, fragment] : cases) {
    auto r = Cid::Parse(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(fragment), std::string::npos)
        << text << " -> " << r.status();
  }
  const std::pair<std::string, std::string> byte_cases[] = {
      {wrong_hash_len, "must be 32"},
      {sha1, "only sha2-256"},
      {v2, "version 2"},
      {unknown_codec, "codec 0x50 is unknown"},
      {std::string("\x12\x20", 2) + std::string(32, 'a'), "CIDv0"},
      {"", "version"},
  };
  for (const auto& [bytes, fragment] : byte_cases) {
    auto r = Cid::FromBytes(bytes);
    ASSERT_FALSE(r.ok()) << fragment;
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status();
  }
}

}  // namespace
}  // namespace mesh::cas
