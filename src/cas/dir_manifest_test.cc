#include "mesh/cas/dir_manifest.h"

#include <gtest/gtest.h>

#include <string>

#include "mesh/common/clock.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"

namespace mesh::cas {
namespace {

const std::string kHelloCid = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";

DirManifest Sample() {
  DirManifest m;
  m.entries.push_back({.path = "a", .kind = EntryKind::kDirectory});
  m.entries.push_back({.path = "a-b", .kind = EntryKind::kSymlink, .target = "a/x.txt"});
  m.entries.push_back(
      {.path = "a/x.txt", .kind = EntryKind::kFile, .cid = Cid::Of("hello world"), .size = 11});
  return m;
}

std::string Wrap(const std::string& entries) {
  return R"({"entries":[)" + entries + R"(],"type":"mesh/dir","version":1})";
}

TEST(DirManifestTest, EncodesCanonicallyAndParsesBack) {
  const std::string bytes = EncodeManifest(Sample());
  EXPECT_EQ(bytes, Wrap(R"({"kind":"dir","path":"a"},)"
                        R"({"kind":"symlink","path":"a-b","target":"a/x.txt"},)"
                        R"({"cid":{"/":")" +
                        kHelloCid + R"("},"kind":"file","path":"a/x.txt","size":11})"));
  ASSERT_OK_AND_ASSIGN(DirManifest back, ParseManifest(bytes, {}));
  EXPECT_EQ(back, Sample());
  EXPECT_EQ(back.TotalFileBytes(), 11u);
  EXPECT_EQ(back.FileCount(), 1u);
}

TEST(DirManifestTest, EmptyTreeIsValid) {
  ASSERT_OK_AND_ASSIGN(DirManifest m, ParseManifest(Wrap(""), {}));
  EXPECT_TRUE(m.entries.empty());
  // Pinned on both sides: sdk/python/tests/test_tree.py computes the same CID.
  EXPECT_EQ(Cid::Of(EncodeManifest(m), Codec::kDagJson).ToString(),
            "baguqeeraypwknaktr33osavouc7mtoftrt7xhex6gmkw6jjusfgzti2kivaq");
}

TEST(DirManifestTest, SortPutsParentsFirst) {
  DirManifest m;
  m.entries.push_back({.path = "a/b", .kind = EntryKind::kDirectory});
  m.entries.push_back({.path = "a-b", .kind = EntryKind::kDirectory});
  m.entries.push_back({.path = "a", .kind = EntryKind::kDirectory});
  SortEntries(m);
  EXPECT_EQ(m.entries[0].path, "a");
  EXPECT_EQ(m.entries[1].path, "a-b");
  EXPECT_EQ(m.entries[2].path, "a/b");
  EXPECT_OK(CheckManifest(m, {}));
}

void ExpectRefused(const std::string& bytes, std::string_view needle,
                   const ManifestLimits& limits = {}) {
  absl::StatusOr<DirManifest> m = ParseManifest(bytes, limits);
  ASSERT_FALSE(m.ok()) << bytes;
  EXPECT_NE(std::string(m.status().message()).find(needle), std::string_view::npos)
      << m.status() << " should mention " << needle;
}

std::string Dir(const std::string& path) { return R"({"kind":"dir","path":")" + path + R"("})"; }
std::string File(const std::string& path, int size = 11, const std::string& cid = kHelloCid) {
  return R"({"cid":{"/":")" + cid + R"("},"kind":"file","path":")" + path + R"(","size":)" +
         std::to_string(size) + "}";
}

TEST(DirManifestTest, RefusesHostileManifests) {
  ExpectRefused("{", "not valid JSON");
  ExpectRefused("[]", "must be a JSON object");
  ExpectRefused(R"({"entries":[],"type":"other","version":1})", "type");
  ExpectRefused(R"({"entries":[],"type":"mesh/dir","version":2})", "version");
  ExpectRefused(R"({"entries":{},"type":"mesh/dir","version":1})", "must be an array");
  ExpectRefused(R"({"entries":[],"extra":1,"type":"mesh/dir","version":1})", "unknown field");
  ExpectRefused(Wrap("1"), "must be an object");
  ExpectRefused(Wrap(R"({"kind":"fifo","path":"a"})"), "kind must be one of");
  ExpectRefused(Wrap(R"({"kind":"dir"})"), "path is missing");
  ExpectRefused(Wrap(R"({"kind":"dir","path":"a","size":1})"), "unknown field");
  // Paths that escape or are not normalised.
  ExpectRefused(Wrap(Dir("..")), "\"..\" component");
  ExpectRefused(Wrap(Dir("a") + "," + Dir("a/..")), "\"..\" component");
  ExpectRefused(Wrap(Dir("/etc")), "absolute");
  ExpectRefused(Wrap(Dir(".")), "\".\" component");
  ExpectRefused(Wrap(Dir("a//b")), "empty component");
  ExpectRefused(Wrap(Dir("a/")), "empty component");
  ExpectRefused(Wrap(Dir("")), "is empty");
  ExpectRefused(Wrap(R"({"kind":"dir","path":"a\u0000b"})"), "control character");
  ExpectRefused(Wrap(R"({"kind":"dir","path":"a\nb"})"), "control character");
  // Order, duplicates and parents.
  ExpectRefused(Wrap(Dir("a") + "," + Dir("a")), "listed twice");
  ExpectRefused(Wrap(Dir("b") + "," + Dir("a")), "not sorted");
  ExpectRefused(Wrap(File("a/x")), "parent \"a\" is not a directory");
  ExpectRefused(Wrap(File("a") + "," + File("a/x")), "parent \"a\" is not a directory");
  ExpectRefused(Wrap(R"({"kind":"symlink","path":"l","target":"x"},)" + File("l/x")),
                "parent \"l\" is not a directory");
  // Bad CIDs and sizes.
  ExpectRefused(Wrap(File("f", 11, "bafynotacid")), "manifest entry 0");
  ExpectRefused(Wrap(R"({"cid":"x","kind":"file","path":"f","size":1})"), "needs \"cid\"");
  ExpectRefused(Wrap(R"({"cid":{"/":")" + kHelloCid + R"("},"kind":"file","path":"f","size":-1})"),
                "non-negative integer");
  ExpectRefused(Wrap(R"({"cid":{"/":")" + kHelloCid + R"("},"kind":"file","path":"f","size":1.5})"),
                "non-negative integer");
  // A file whose CID names a manifest (dag-json), not bytes.
  const std::string dag = Cid::Of("{}", Codec::kDagJson).ToString();
  ExpectRefused(Wrap(File("f", 2, dag)), "raw CID");
  // Symlinks.
  ExpectRefused(Wrap(R"({"kind":"symlink","path":"l","target":""})"), "target must be");
  ExpectRefused(Wrap(R"({"kind":"symlink","path":"l"})"), "target is missing");
}

TEST(DirManifestTest, RefusesNonCanonicalBytes) {
  const std::string canonical = EncodeManifest(Sample());
  ASSERT_OK(ParseManifest(canonical, {}).status());
  ExpectRefused(" " + canonical, "canonical");
  ExpectRefused(R"({"version":1,"type":"mesh/dir","entries":[]})", "canonical");
  // A duplicated key (JSON parsers keep one of the two).
  ExpectRefused(R"({"entries":[],"type":"mesh/dir","type":"mesh/dir","version":1})", "canonical");
  ExpectRefused(R"({"entries":[],"type":"mesh/dir","version":1.0})", "canonical");
}

TEST(DirManifestTest, EnforcesLimits) {
  const std::string bytes = Wrap(Dir("a") + "," + Dir("b") + "," + Dir("c"));
  ExpectRefused(bytes, "limit is 2", {.max_entries = 2});
  ExpectRefused(bytes, "limit is 10", {.max_manifest_bytes = 10});
  ExpectRefused(Wrap(File("f") + "," + File("g")), "pass 20 bytes", {.max_total_bytes = 20});
  ExpectRefused(Wrap(Dir("abcdef")), "limit is 4", {.max_path_bytes = 4});
  ExpectRefused(Wrap(Dir("abcdef")), "component of 6 bytes", {.max_component_bytes = 5});
  // A size near 2^64 cannot wrap the total.
  ExpectRefused(Wrap(File("f", 1) + "," + R"({"cid":{"/":")" + kHelloCid +
                     R"("},"kind":"file","path":"g","size":18446744073709551615})"),
                "in all");
}

TEST(DirManifestTest, CheckRelativePathRefusesBadUtf8) {
  EXPECT_OK(CheckRelativePath("caf\xc3\xa9/\xe2\x82\xac", {}, "p"));
  EXPECT_FALSE(CheckRelativePath("a\xff", {}, "p").ok());
  EXPECT_FALSE(CheckRelativePath("\xc0\xaf", {}, "p").ok());      // overlong '/'
  EXPECT_FALSE(CheckRelativePath("\xed\xa0\x80", {}, "p").ok());  // a surrogate
  EXPECT_FALSE(CheckRelativePath("\xe2\x82", {}, "p").ok());      // truncated
}

TEST(DirManifestTest, PutAndGetThroughTheStore) {
  FakeClock clock;
  ScopedTempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto store, BlobStore::Open({.root = tmp.path(), .durable = false}, clock));
  ASSERT_OK_AND_ASSIGN(Cid cid, PutManifest(*store, Sample()));
  EXPECT_EQ(cid.codec(), Codec::kDagJson);
  EXPECT_EQ(cid, Cid::Of(EncodeManifest(Sample()), Codec::kDagJson));
  ASSERT_OK_AND_ASSIGN(DirManifest back, GetManifest(*store, cid));
  EXPECT_EQ(back, Sample());

  absl::StatusOr<DirManifest> raw = GetManifest(*store, Cid::Of("hello world"));
  EXPECT_EQ(raw.status().code(), absl::StatusCode::kInvalidArgument);
  const Cid missing = Cid::Of("nothing", Codec::kDagJson);
  absl::StatusOr<DirManifest> absent = GetManifest(*store, missing);
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(absent.status().message().find(missing.ToString()), std::string_view::npos);

  // A stored dag-json block that is not a manifest names the CID and the fault.
  ASSERT_OK_AND_ASSIGN(Cid junk, store->PutBytes(R"({"a":1})", Codec::kDagJson));
  absl::StatusOr<DirManifest> bad = GetManifest(*store, junk);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(junk.ToString()), std::string_view::npos);

  DirManifest unsorted = Sample();
  std::swap(unsorted.entries[0], unsorted.entries[2]);
  EXPECT_FALSE(PutManifest(*store, unsorted).ok());
}

}  // namespace
}  // namespace mesh::cas

namespace mesh::cas {
namespace {

// Random damage to a valid manifest (bytes flipped, cut, duplicated): the parser never crashes,
// and whatever it accepts is canonical and re-encodes to the same bytes (one tree, one CID).
TEST(DirManifestTest, DamagedManifestsAreRefusedOrCanonical) {
  DirManifest m = Sample();
  m.entries.push_back({.path = "z", .kind = EntryKind::kDirectory});
  m.entries.push_back({.path = "z/l", .kind = EntryKind::kSymlink, .target = "../a"});
  const std::string good = EncodeManifest(m);
  SeededRng rng(17);
  int accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string bytes = good;
    const int edits = 1 + static_cast<int>(rng.Next64() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const size_t at = rng.Next64() % bytes.size();
      switch (rng.Next64() % 4) {
        case 0:
          bytes[at] = static_cast<char>(rng.Next64());
          break;
        case 1:
          bytes.erase(at, 1 + rng.Next64() % 8);
          break;
        case 2:
          bytes.insert(at, bytes.substr(at, 1 + rng.Next64() % 16));
          break;
        default:
          bytes.resize(at);
          break;
      }
    }
    absl::StatusOr<DirManifest> parsed = ParseManifest(bytes, {});
    if (!parsed.ok()) continue;
    ++accepted;
    EXPECT_EQ(EncodeManifest(*parsed), bytes);
    EXPECT_OK(CheckManifest(*parsed, {}));
  }
  EXPECT_LT(accepted, 5000);
}

}  // namespace
}  // namespace mesh::cas
