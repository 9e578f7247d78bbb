#include "mesh/storage/segment.h"

#include <zstd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"

namespace mesh::storage {
namespace {

using ::testing::HasSubstr;

TEST(SegmentTest, ASegmentThatLiesAboutItsSizeIsRefusedBeforeItIsInflated) {
  // Unencrypted, stored whole: a zstd frame of 1 MiB of zeros recorded as 10 bytes of plain.
  ASSERT_OK_AND_ASSIGN(SegmentCodec codec, SegmentCodec::Create("", nullptr));
  const std::string zeros(1 << 20, '\0');
  std::string frame(ZSTD_compressBound(zeros.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), zeros.data(), zeros.size(), 1));
  SegmentInfo info{
      .plain_bytes = 10, .sealed_bytes = frame.size(), .compression = Compression::kZstd};
  const absl::StatusOr<std::string> opened = codec.OpenWhole(0, info, frame);
  EXPECT_TRUE(absl::IsDataLoss(opened.status()));
  EXPECT_THAT(opened.status().message(), HasSubstr("does not declare the 10 bytes"));
  info.sealed_bytes = frame.size() + 1;
  EXPECT_THAT(codec.OpenWhole(0, info, frame).status().message(), HasSubstr("its manifest says"));
}

TEST(SegmentTest, SealingIsPlainBytesInShardsWhenNotEncryptedOrCompressed) {
  ASSERT_OK_AND_ASSIGN(ErasureCode code, ErasureCode::Create(2, 1));
  ASSERT_OK_AND_ASSIGN(SegmentCodec codec, SegmentCodec::Create("", &code));
  SeededRng rng(2);
  const std::string plain = rng.Bytes(1001);
  ASSERT_OK_AND_ASSIGN(SealedSegment sealed, codec.Seal(0, plain, rng));
  EXPECT_EQ(sealed.info.compression, Compression::kNone);
  EXPECT_TRUE(sealed.info.nonce.empty());
  ASSERT_EQ(sealed.shard_count, 3u);
  EXPECT_EQ(sealed.shard(0).size(), 501u);
  EXPECT_EQ(std::string(sealed.shard(0)) + std::string(sealed.shard(1).substr(0, 500)), plain);
  EXPECT_EQ(sealed.shard(1)[500], '\0');  // the padding
  EXPECT_EQ(sealed.info.shards[2], cas::Cid::Of(sealed.shard(2)));
  // Stripe is the same bytes without the names.
  SeededRng again(2);
  (void)again.Bytes(1001);
  ASSERT_OK_AND_ASSIGN(SealedSegment striped, codec.Stripe(0, plain, rng));
  EXPECT_TRUE(striped.info.shards.empty());
  EXPECT_EQ(striped.stripe, sealed.stripe);
}

TEST(SegmentTest, KeysAndLevelsAreChecked) {
  EXPECT_TRUE(absl::IsInvalidArgument(SegmentCodec::Create("short", nullptr).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(SegmentCodec::Create("", nullptr, 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(SegmentCodec::Create("", nullptr, 20).status()));
}

}  // namespace
}  // namespace mesh::storage
