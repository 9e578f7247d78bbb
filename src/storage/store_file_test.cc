#include "mesh/storage/store_file.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"

namespace mesh::storage {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kSegment = 16 << 10;  // small segments: several per test file

// A file put through the pipeline, its shards kept by (segment, index) as holders would.
struct Stored {
  SealedFile file{{}, "", cas::Cid::Of("")};
  std::map<std::pair<uint32_t, int>, std::string> shards;
};

StoreOptions Options() {
  StoreOptions o;
  o.segment_bytes = kSegment;
  o.inline_max_bytes = 1024;
  return o;
}

absl::StatusOr<Stored> Put(std::string_view data, const crypto::KeyPair& owner,
                           const StoreOptions& options = Options(), size_t write_size = 3001) {
  SeededRng rng(1);
  Stored out;
  MESH_ASSIGN_OR_RETURN(
      std::unique_ptr<FileSealer> sealer,
      FileSealer::Create(options, owner, rng, [&](uint32_t index, const SealedSegment& segment) {
        for (size_t i = 0; i < segment.shard_count; ++i) {
          out.shards[{index, static_cast<int>(i)}] = std::string(segment.shard(i));
        }
        return absl::OkStatus();
      }));
  for (size_t at = 0; at < data.size(); at += write_size) {
    MESH_RETURN_IF_ERROR(sealer->Write(data.substr(at, write_size)));
  }
  MESH_ASSIGN_OR_RETURN(out.file, sealer->Finish());
  return out;
}

// Opens the stored file with the shards `lost(segment, index)` says are gone.
absl::StatusOr<std::string> Get(const Stored& s, const std::string& key,
                                const std::function<bool(uint32_t, int)>& lost,
                                OpenStats* stats = nullptr, SegmentRange range = {},
                                std::vector<uint32_t>* asked = nullptr) {
  std::string plain;
  const int n = s.file.manifest.k + s.file.manifest.m;
  MESH_RETURN_IF_ERROR(OpenStoredFile(
      s.file.manifest, key,
      [&](uint32_t segment) {
        if (asked != nullptr) asked->push_back(segment);
        std::vector<std::optional<std::string>> shards(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
          if (!lost(segment, i)) shards[static_cast<size_t>(i)] = s.shards.at({segment, i});
        }
        return shards;
      },
      [&](std::string_view bytes) {
        plain.append(bytes);
        return absl::OkStatus();
      },
      stats, {.range = range}));
  return plain;
}

bool None(uint32_t, int) { return false; }

TEST(StoreFileTest, RoundTripsEverySizeThatMatters) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  SeededRng rng(42);
  const std::string random = rng.Bytes(5 * kSegment + 17);
  for (const uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{3}, uint64_t{1024}, uint64_t{1025},
                              kSegment - 1, kSegment, kSegment + 1, 5 * kSegment + 17}) {
    for (const bool encrypt : {true, false}) {
      StoreOptions options = Options();
      options.encrypt = encrypt;
      const std::string data = random.substr(0, size);
      ASSERT_OK_AND_ASSIGN(Stored s, Put(data, owner, options));
      const StoreManifest& m = s.file.manifest;
      EXPECT_EQ(m.size, size);
      EXPECT_EQ(m.is_inline(), size <= options.inline_max_bytes) << size;
      if (!m.is_inline()) {
        EXPECT_EQ(m.segments.size(), (size + kSegment - 1) / kSegment) << size;
      }
      // The manifest parses back from its bytes (signature and canonical form checked).
      ASSERT_OK_AND_ASSIGN(StoreManifest parsed, ParseStoreManifest(s.file.bytes));
      EXPECT_EQ(EncodeStoreManifest(parsed), s.file.bytes);
      ASSERT_OK_AND_ASSIGN(std::string key, OpenFileKey(parsed, owner));
      EXPECT_EQ(key.empty(), !encrypt);
      ASSERT_OK_AND_ASSIGN(std::string back, Get(s, key, None));
      EXPECT_EQ(back, data) << size << (encrypt ? " encrypted" : " plain");
    }
  }
}

TEST(StoreFileTest, ASegmentRangeReadsOnlyThoseSegmentsShards) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  SeededRng rng(9);
  const std::string data = rng.Bytes(3 * kSegment + 100);  // 4 segments, the last short
  ASSERT_OK_AND_ASSIGN(Stored s, Put(data, owner));
  ASSERT_EQ(SegmentCount(s.file.manifest), 4u);
  EXPECT_EQ(SegmentSizes(s.file.manifest),
            (std::vector<uint64_t>{kSegment, kSegment, kSegment, 100}));
  ASSERT_OK_AND_ASSIGN(std::string key, OpenFileKey(s.file.manifest, owner));
  std::vector<uint32_t> asked;
  ASSERT_OK_AND_ASSIGN(std::string two, Get(s, key, None, nullptr, {2, 1}, &asked));
  EXPECT_EQ(two, data.substr(2 * kSegment, kSegment));
  EXPECT_EQ(asked, std::vector<uint32_t>{2});
  asked.clear();
  ASSERT_OK_AND_ASSIGN(std::string tail, Get(s, key, None, nullptr, {3, 10}, &asked));
  EXPECT_EQ(tail, data.substr(3 * kSegment));  // clamped at the file's end
  EXPECT_EQ(asked, std::vector<uint32_t>{3});
  absl::StatusOr<std::string> past = Get(s, key, None, nullptr, {4, 1});
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(past.status().message().find("has 4 segments"), std::string::npos) << past.status();
  EXPECT_FALSE(Get(s, key, None, nullptr, {0, 0}).ok());
  // A file stored inline is one segment.
  ASSERT_OK_AND_ASSIGN(Stored small, Put("tiny", owner));
  EXPECT_EQ(SegmentCount(small.file.manifest), 1u);
  EXPECT_EQ(SegmentSizes(small.file.manifest), std::vector<uint64_t>{4});
  ASSERT_OK_AND_ASSIGN(std::string small_key, OpenFileKey(small.file.manifest, owner));
  ASSERT_OK_AND_ASSIGN(std::string whole, Get(small, small_key, None, nullptr, {0, 1}));
  EXPECT_EQ(whole, "tiny");
  EXPECT_FALSE(Get(small, small_key, None, nullptr, {1, 1}).ok());
}

TEST(StoreFileTest, CompressibleSegmentsAreCompressedAndOthersKeptRaw) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  SeededRng rng(3);
  const std::string data = std::string(2 * kSegment, 'a') + rng.Bytes(kSegment);
  ASSERT_OK_AND_ASSIGN(Stored s, Put(data, owner));
  const StoreManifest& m = s.file.manifest;
  ASSERT_EQ(m.segments.size(), 3u);
  EXPECT_EQ(m.segments[0].compression, Compression::kZstd);
  EXPECT_LT(m.segments[0].sealed_bytes, kSegment / 10);
  EXPECT_EQ(m.segments[2].compression, Compression::kNone);
  EXPECT_EQ(m.segments[2].sealed_bytes, kSegment + kTagBytes);
  ASSERT_OK_AND_ASSIGN(std::string key, OpenFileKey(m, owner));
  EXPECT_EQ(Get(s, key, None).value(), data);
}

// Every pattern of up to m lost shards, the same in every segment and a different one per
// segment: the file comes back byte for byte.
TEST(StoreFileTest, EveryPatternOfUpToMLostShardsGivesTheSameBytes) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  SeededRng rng(5);
  const std::string data = rng.Bytes(3 * kSegment + 999);
  ASSERT_OK_AND_ASSIGN(Stored s, Put(data, owner));
  ASSERT_OK_AND_ASSIGN(std::string key, OpenFileKey(s.file.manifest, owner));
  const int n = 6;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) > 2) continue;
    OpenStats stats;
    ASSERT_OK_AND_ASSIGN(
        std::string back,
        Get(
            s, key, [mask](uint32_t, int i) { return ((mask >> i) & 1) != 0; }, &stats));
    ASSERT_EQ(back, data) << "lost mask " << mask;
    // Only lost data shards (0..3) are rebuilt to read: a lost parity shard is not needed.
    EXPECT_EQ(stats.shards_rebuilt, 4u * static_cast<uint64_t>(__builtin_popcount(mask & 0xF)));
  }
  // A different pattern in each segment.
  ASSERT_OK_AND_ASSIGN(std::string mixed, Get(s, key, [](uint32_t seg, int i) {
                         return i == static_cast<int>(seg) || i == static_cast<int>(seg + 2);
                       }));
  EXPECT_EQ(mixed, data);
}

TEST(StoreFileTest, MPlusOneLostShardsNameTheSegment) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  SeededRng rng(6);
  const std::string data = rng.Bytes(3 * kSegment);
  ASSERT_OK_AND_ASSIGN(Stored s, Put(data, owner));
  ASSERT_OK_AND_ASSIGN(std::string key, OpenFileKey(s.file.manifest, owner));
  const absl::StatusOr<std::string> lost =
      Get(s, key, [](uint32_t seg, int i) { return seg == 2 && i <= 2; });
  EXPECT_TRUE(absl::IsDataLoss(lost.status()));
  EXPECT_THAT(lost.status().message(),
              HasSubstr("segment 2 cannot be rebuilt: 3 good shards of 6, 4 needed (missing or "
                        "damaged: 0, 1, 2)"));
}

TEST(StoreFileTest, ATamperedShardIsCaughtByItsCidAndRebuilt) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  SeededRng rng(7);
  const std::string data = rng.Bytes(2 * kSegment + 5);
  ASSERT_OK_AND_ASSIGN(Stored s, Put(data, owner));
  ASSERT_OK_AND_ASSIGN(std::string key, OpenFileKey(s.file.manifest, owner));
  s.shards.at({1, 3})[10] ^= 0x40;  // a holder's disk flips a bit
  s.shards.at({0, 5}).pop_back();   // and another's shard is short
  OpenStats stats;
  ASSERT_OK_AND_ASSIGN(std::string back, Get(s, key, None, &stats));
  EXPECT_EQ(back, data);
  EXPECT_EQ(stats.shards_damaged, 2u);
  EXPECT_EQ(stats.shards_rebuilt, 1u);  // data shard 3; parity shard 5 is not needed to read
  // At segment level the rebuilt shard is handed back for repair, checked against its CID.
  ASSERT_OK_AND_ASSIGN(ErasureCode code, ErasureCode::Create(4, 2));
  ASSERT_OK_AND_ASSIGN(SegmentCodec codec, SegmentCodec::Create(key, &code));
  std::vector<std::optional<std::string>> shards;
  for (int i = 0; i < 6; ++i) shards.emplace_back(s.shards.at({1, i}));
  SegmentScratch scratch;
  ASSERT_OK_AND_ASSIGN(OpenedSegment opened,
                       codec.Open(1, s.file.manifest.segments[1], shards, scratch));
  EXPECT_EQ(opened.plain, std::string_view(data).substr(kSegment, kSegment));
  EXPECT_THAT(opened.damaged, ::testing::ElementsAre(3));
  ASSERT_EQ(opened.rebuilt.size(), 1u);
  EXPECT_EQ(opened.rebuilt[0].first, 3);
  EXPECT_EQ(cas::Cid::Of(opened.rebuilt[0].second), s.file.manifest.segments[1].shards[3]);

  // A caller that says it checked the shards is taken at its word on CIDs, not on sizes; a data
  // shard changed anyway fails authentication: never other bytes.
  std::vector<std::optional<std::string>> trusted = shards;
  trusted[3] = opened.rebuilt[0].second;  // every shard good...
  trusted[5]->pop_back();                 // ...but a short parity shard, caught by its size...
  ASSERT_OK_AND_ASSIGN(OpenedSegment sized,
                       codec.Open(1, s.file.manifest.segments[1], trusted, scratch, true));
  EXPECT_THAT(sized.damaged, ::testing::ElementsAre(5));
  trusted = shards;
  trusted[3] = s.shards.at({1, 3});  // ...and the flipped data shard 3 is used as given
  absl::StatusOr<OpenedSegment> lied =
      codec.Open(1, s.file.manifest.segments[1], trusted, scratch, true);
  EXPECT_EQ(lied.status().code(), absl::StatusCode::kUnauthenticated) << lied.status();

  // A repair rebuilds exactly the lost shards, parity too, each checked against its CID.
  std::vector<std::optional<std::string>> left = shards;
  left[0].reset();
  left[3] = opened.rebuilt[0].second;
  left[5].reset();
  ASSERT_OK_AND_ASSIGN(auto repaired, codec.Rebuild(1, s.file.manifest.segments[1], left, {0, 5}));
  ASSERT_EQ(repaired.size(), 2u);
  EXPECT_EQ(repaired[0].first, 0);
  EXPECT_EQ(repaired[0].second, s.shards.at({1, 0}));
  EXPECT_EQ(repaired[1].first, 5);
  EXPECT_EQ(repaired[1].second, s.shards.at({1, 5}));
  left[1].reset();
  left[2].reset();  // three left of 4+2
  EXPECT_TRUE(
      absl::IsDataLoss(codec.Rebuild(1, s.file.manifest.segments[1], left, {0, 5}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      codec.Rebuild(1, s.file.manifest.segments[1], shards, {4}).status()));  // 4 is there
}

TEST(StoreFileTest, AWrongKeyFailsAuthentication) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  const crypto::KeyPair stranger = crypto::KeyPair::Generate();
  SeededRng rng(8);
  const std::string data = rng.Bytes(kSegment + 100);
  ASSERT_OK_AND_ASSIGN(Stored s, Put(data, owner));
  // Another identity cannot open the wrapped key...
  EXPECT_TRUE(absl::IsPermissionDenied(OpenFileKey(s.file.manifest, stranger).status()));
  // ... and a guessed key does not authenticate a segment.
  const absl::StatusOr<std::string> wrong = Get(s, std::string(kFileKeyBytes, 'k'), None);
  EXPECT_TRUE(absl::IsUnauthenticated(wrong.status()));
  EXPECT_THAT(wrong.status().message(), HasSubstr("segment 0 does not authenticate"));
  // A segment moved to another place fails too (its index is bound in): swap two segments'
  // shards and their records in the manifest.
  Stored swapped = s;
  std::swap(swapped.file.manifest.segments[0].shards, swapped.file.manifest.segments[1].shards);
  std::swap(swapped.file.manifest.segments[0].nonce, swapped.file.manifest.segments[1].nonce);
  std::swap(swapped.file.manifest.segments[0].sealed_bytes,
            swapped.file.manifest.segments[1].sealed_bytes);
  for (int i = 0; i < 6; ++i) std::swap(swapped.shards.at({0, i}), swapped.shards.at({1, i}));
  ASSERT_OK_AND_ASSIGN(std::string key, OpenFileKey(s.file.manifest, owner));
  EXPECT_FALSE(Get(swapped, key, None).ok());
}

TEST(StoreFileTest, MemoryStaysAboutASegmentWhateverTheFileSize) {
  // The sealer holds one segment being filled and hands each sealed one on at once: its
  // buffer never grows past a segment, however much is written.
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  SeededRng rng(9);
  size_t segments_seen = 0;
  size_t largest_shard_set = 0;
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<FileSealer> sealer,
      FileSealer::Create(Options(), owner, rng, [&](uint32_t, const SealedSegment& segment) {
        ++segments_seen;
        largest_shard_set = std::max(largest_shard_set, segment.stripe.size());
        return absl::OkStatus();
      }));
  const std::string chunk = rng.Bytes(4096);
  for (int i = 0; i < 64 * 4; ++i) {  // 64 segments' worth
    ASSERT_OK(sealer->Write(chunk));
    EXPECT_EQ(segments_seen, static_cast<size_t>((i + 1) * 4096 / kSegment));
  }
  ASSERT_OK_AND_ASSIGN(SealedFile file, sealer->Finish());
  EXPECT_EQ(file.manifest.segments.size(), 64u);
  EXPECT_LE(largest_shard_set, kSegment * 6 / 4 + 64);
}

TEST(StoreFileTest, BadOptionsAreRefused) {
  const crypto::KeyPair owner = crypto::KeyPair::Generate();
  SeededRng rng(1);
  auto sink = [](uint32_t, const SealedSegment&) { return absl::OkStatus(); };
  StoreOptions o = Options();
  o.k = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(FileSealer::Create(o, owner, rng, sink).status()));
  o = Options();
  o.segment_bytes = 100;
  EXPECT_TRUE(absl::IsInvalidArgument(FileSealer::Create(o, owner, rng, sink).status()));
  o = Options();
  o.inline_max_bytes = 2 * kSegment;
  EXPECT_TRUE(absl::IsInvalidArgument(FileSealer::Create(o, owner, rng, sink).status()));
}

}  // namespace
}  // namespace mesh::storage
