#include "mesh/storage/store_manifest.h"

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/base64.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"
#include "mesh/storage/store_file.h"

namespace mesh::storage {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

SealedFile Sample(const crypto::KeyPair& owner, uint64_t size, bool encrypt = true) {
  SeededRng rng(11);
  StoreOptions o;
  o.segment_bytes = 8 << 10;
  o.inline_max_bytes = 1024;
  o.encrypt = encrypt;
  auto sealer = FileSealer::Create(o, owner, rng, [](uint32_t, const SealedSegment&) {
                  return absl::OkStatus();
                }).value();
  EXPECT_OK(sealer->Write(rng.Bytes(size)));
  return sealer->Finish().value();
}

// Re-signs an edited manifest, so only the edit is what is refused.
std::string Resigned(json j, const crypto::KeyPair& owner) {
  j.erase("signature");
  const std::string unsigned_form = j.dump();
  j["signature"] = {{"/", {{"bytes", Base64Encode(owner.Sign(unsigned_form))}}}};
  return j.dump();
}

std::string Refusal(std::string_view bytes) {
  absl::StatusOr<StoreManifest> m = ParseStoreManifest(bytes);
  return m.ok() ? "accepted" : std::string(m.status().message());
}

TEST(StoreManifestTest, ASignedManifestParsesAndATamperedOneDoesNot) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  const SealedFile f = Sample(owner, 20000);
  EXPECT_EQ(Refusal(f.bytes), "accepted");
  // Any edit breaks the signature (here: the size of the last segment's plain bytes).
  json j = json::parse(f.bytes);
  j["segments"][0]["sealed"] = j["segments"][0]["sealed"].get<uint64_t>();
  j["owner"] = crypto::KeyPair::Generate().did().ToString();
  EXPECT_TRUE(absl::IsUnauthenticated(ParseStoreManifest(j.dump()).status()));
  std::string flipped = f.bytes;
  flipped[flipped.find("\"size\":") + 7] ^= 1;
  EXPECT_NE(Refusal(flipped), "accepted");
  // Not canonical: whitespace.
  EXPECT_THAT(Refusal(json::parse(f.bytes).dump(1)), HasSubstr("canonical"));
}

TEST(StoreManifestTest, HostileManifestsAreRefusedNamingWhat) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  const json good = json::parse(Sample(owner, 20000).bytes);
  auto edited = [&](auto edit) {
    json j = good;
    edit(j);
    return Refusal(Resigned(j, owner));
  };
  EXPECT_THAT(edited([](json& j) { j["extra"] = 1; }), HasSubstr("unknown key \"extra\""));
  EXPECT_THAT(edited([](json& j) { j["code"]["k"] = 0; }), HasSubstr("/code"));
  EXPECT_THAT(edited([](json& j) { j["code"]["m"] = 99; }), HasSubstr("/code"));
  EXPECT_THAT(edited([](json& j) { j["segments"][0]["shards"].erase(0); }),
              HasSubstr("/segments/0/shards: must list 6 shard CIDs"));
  EXPECT_THAT(edited([](json& j) { j["segments"].erase(1); }), HasSubstr("has 3 segments"));
  EXPECT_THAT(edited([](json& j) { j["size"] = 1ull << 60; }), HasSubstr("segments"));
  EXPECT_THAT(edited([](json& j) { j["segments"][1]["plain"] = 100; }), HasSubstr("/segments/1"));
  EXPECT_THAT(edited([](json& j) { j["segments"][0].erase("nonce"); }),
              HasSubstr("/segments/0/nonce: is missing"));
  EXPECT_THAT(edited([](json& j) { j["segments"][0]["compression"] = "lz4"; }),
              HasSubstr("compression"));
  EXPECT_THAT(edited([](json& j) { j["segments"][0]["sealed"] = 1; }), HasSubstr("sealed"));
  EXPECT_THAT(edited([](json& j) { j["segment_bytes"] = 1; }), HasSubstr("/segment_bytes"));
  EXPECT_THAT(edited([](json& j) { j.erase("key"); }), HasSubstr("/key: is missing"));
  EXPECT_THAT(edited([](json& j) {
                j["segments"][0]["shards"][0] = {{"/", "bafy"}};
              }),
              HasSubstr("raw CID"));
  EXPECT_THAT(edited([](json& j) { j["inline"] = json::object(); }),
              HasSubstr("either \"inline\" or \"segments\""));
  EXPECT_THAT(Refusal("[1]"), HasSubstr("must be an object"));
  // Keys of another type than the parser reads (manifest_fuzzer found "type" as an object).
  EXPECT_THAT(Refusal(R"({"type":{"k":4,"m":2},"version":1})"), HasSubstr("/type"));
  EXPECT_THAT(Refusal(R"({"type":"mesh-store","version":"1"})"), HasSubstr("/type"));
  EXPECT_THAT(edited([](json& j) { j["segments"][0]["plain"] = "5"; }), HasSubstr("plain"));
  EXPECT_THAT(edited([](json& j) { j["owner"] = 7; }), HasSubstr("/owner"));
  EXPECT_THAT(edited([](json& j) { j["code"] = 7; }), HasSubstr("/code"));
  EXPECT_THAT(edited([](json& j) { j["segments"] = "x"; }), HasSubstr("/segments"));
  EXPECT_THAT(Refusal("{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal(std::string(kMaxStoreManifestBytes + 1, ' ')), HasSubstr("the limit"));
}

TEST(StoreManifestTest, InlineFilesAndPlainFilesCheckTheirOwnFields) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  const json small = json::parse(Sample(owner, 300).bytes);
  ASSERT_TRUE(small.contains("inline"));
  EXPECT_FALSE(small.contains("code"));
  json j = small;
  j["inline"]["plain"] = 301;
  EXPECT_THAT(Refusal(Resigned(j, owner)), HasSubstr("/inline"));
  const json plain = json::parse(Sample(owner, 20000, /*encrypt=*/false).bytes);
  EXPECT_FALSE(plain.contains("key"));
  j = plain;
  j["segments"][0]["nonce"] = {{"/", {{"bytes", Base64Encode(std::string(24, 'n'))}}}};
  EXPECT_THAT(Refusal(Resigned(j, owner)), HasSubstr("the file is not encrypted"));
}

}  // namespace
}  // namespace mesh::storage
