#include "mesh/node/shard_staging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mesh/common/testing.h"

namespace mesh::node {
namespace {

std::string ReadAll(cas::ByteSource& source) {
  std::string out;
  char buffer[4096];
  while (true) {
    absl::StatusOr<size_t> n = source.Read(buffer, sizeof(buffer));
    EXPECT_OK(n.status());
    if (!n.ok() || *n == 0) return out;
    out.append(buffer, *n);
  }
}

class ShardStagingTest : public ::testing::Test {
 protected:
  ScopedTempDir tmp_;
  const std::filesystem::path dir_ = tmp_.path();
};

TEST_F(ShardStagingTest, ServesWhatWasStagedFromAnOffsetUntilRemoved) {
  auto staging = ShardStaging::Open(dir_ / "staging");
  ASSERT_OK(staging.status());
  const std::string bytes(10000, 'x');
  const cas::Cid cid = cas::Cid::Of(bytes);
  ASSERT_OK((*staging)->Add(cid, bytes));
  auto whole = (*staging)->Open(cid, 0);
  ASSERT_OK(whole.status());
  ASSERT_TRUE(whole->has_value());
  EXPECT_EQ(ReadAll(***whole), bytes);
  auto tail = (*staging)->Open(cid, 9990);
  ASSERT_OK(tail.status());
  EXPECT_EQ(ReadAll(***tail), std::string(10, 'x'));
  EXPECT_EQ((*staging)->Open(cid, 10001).status().code(), absl::StatusCode::kOutOfRange);
  (*staging)->Remove(cid);
  auto gone = (*staging)->Open(cid, 0);
  ASSERT_OK(gone.status());
  EXPECT_FALSE(gone->has_value());  // the caller then looks in the blob store
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "staging"));
}

TEST_F(ShardStagingTest, AShardStagedTwiceStaysUntilBothRemovedIt) {
  auto staging = ShardStaging::Open(dir_ / "staging");
  ASSERT_OK(staging.status());
  const cas::Cid cid = cas::Cid::Of("same bytes");
  ASSERT_OK((*staging)->Add(cid, "same bytes"));
  ASSERT_OK((*staging)->Add(cid, "same bytes"));
  (*staging)->Remove(cid);
  auto still = (*staging)->Open(cid, 0);
  ASSERT_OK(still.status());
  ASSERT_TRUE(still->has_value());
  EXPECT_EQ(ReadAll(***still), "same bytes");
  (*staging)->Remove(cid);
  (*staging)->Remove(cid);  // one too many: ignored
  EXPECT_EQ((*staging)->staged(), 0u);
}

TEST_F(ShardStagingTest, ACrashedPlacementsLeftoversAreWipedAtOpen) {
  std::filesystem::create_directories(dir_ / "staging");
  std::ofstream(dir_ / "staging" / "leftover") << "half a shard";
  auto staging = ShardStaging::Open(dir_ / "staging");
  ASSERT_OK(staging.status());
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "staging"));
}

}  // namespace
}  // namespace mesh::node
