// FetchBlobFrom against a scripted peer: what a hostile or failing peer sends never becomes a
// stored blob, and no temp file is left behind.
#include "mesh/node/blob_transfer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mesh/common/clock.h"
#include "mesh/common/testing.h"

namespace mesh::node {
namespace {

// A peer that streams `chunks` and then ends with `end` (OK = a complete stream).
class ScriptedPeer final : public net::Transport {
 public:
  std::vector<std::string> chunks;
  absl::Status end = absl::OkStatus();
  size_t chunks_taken = 0;  // How many chunks the sink accepted before it stopped the stream.

  absl::Status Start(net::Handler*) override { return absl::OkStatus(); }
  std::string address() const override { return "scripted:1"; }
  void Send(const net::Endpoint&, std::string, int, absl::Duration,
            net::ReplyCallback done) override {
    done(absl::UnimplementedError("no messages"));
  }
  absl::Status FetchBlob(const net::Endpoint&, std::string, absl::Duration,
                         const net::ChunkSink& sink) override {
    for (const std::string& chunk : chunks) {
      absl::Status s = sink(chunk);
      if (!s.ok()) return s;  // As the gRPC client does: the sink's error cancels the call.
      ++chunks_taken;
    }
    return end;
  }
  void Shutdown() override {}
};

class BlobTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, cas::BlobStore::Open({.root = root_, .durable = false}, clock_));
  }
  void TearDown() override { store_.reset(); }
  absl::StatusOr<uint64_t> Fetch(const cas::Cid& cid, uint64_t limit) {
    return FetchBlobFrom(peer_, {"scripted:1", std::nullopt}, "request", cid, limit,
                         absl::Seconds(10), *store_);
  }
  // Nothing of the fetch is visible: no blob, no bytes counted, no temp file anywhere.
  void ExpectNothingStored(const cas::Cid& cid) {
    ASSERT_OK_AND_ASSIGN(bool has, store_->Has(cid));
    EXPECT_FALSE(has);
    EXPECT_EQ(store_->used_bytes(), 0u);
    EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
    for (const auto& entry : std::filesystem::directory_iterator(root_)) {
      EXPECT_FALSE(entry.path().filename().string().starts_with(".fetch"))
          << "temp file left: " << entry.path();
    }
  }

  FakeClock clock_;
  ScopedTempDir tmp_;
  const std::filesystem::path root_ = tmp_.path();
  std::unique_ptr<cas::BlobStore> store_;
  ScriptedPeer peer_;
};

std::string Pattern(size_t n, char seed) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(seed + i * 31 + (i >> 12));
  return out;
}

TEST_F(BlobTransferTest, StoresAStreamThatHashesToTheCid) {
  const std::string blob = Pattern((9 << 20) + 17, 'a');  // Larger than one 8 MiB buffer.
  for (size_t at = 0; at < blob.size(); at += net::kBlobChunkBytes) {
    peer_.chunks.push_back(blob.substr(at, net::kBlobChunkBytes));
  }
  const cas::Cid cid = cas::Cid::Of(blob);
  ASSERT_OK_AND_ASSIGN(uint64_t size, Fetch(cid, blob.size()));
  EXPECT_EQ(size, blob.size());
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid, 16 << 20));
  EXPECT_EQ(back, blob);
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
}

TEST_F(BlobTransferTest, StoresTheEmptyBlob) {
  const cas::Cid cid = cas::Cid::Of("");
  ASSERT_OK_AND_ASSIGN(uint64_t size, Fetch(cid, 100));
  EXPECT_EQ(size, 0u);
  ASSERT_OK_AND_ASSIGN(bool has, store_->Has(cid));
  EXPECT_TRUE(has);
}

TEST_F(BlobTransferTest, StreamLargerThanTheLimitIsCutAndNothingIsStored) {
  const std::string blob = Pattern(3000, 'b');
  peer_.chunks = {blob.substr(0, 1000), blob.substr(1000, 1000), blob.substr(2000)};
  const cas::Cid cid = cas::Cid::Of(blob);  // The CID is right: only the size is over.
  absl::StatusOr<uint64_t> r = Fetch(cid, 2500);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("over 2500 bytes"), std::string::npos) << r.status();
  EXPECT_EQ(peer_.chunks_taken, 2u) << "the stream goes on past the limit";
  ExpectNothingStored(cid);
}

TEST_F(BlobTransferTest, OneHugeChunkPastTheLimitIsRefusedWhole) {
  const std::string blob = Pattern(5000, 'h');
  peer_.chunks = {blob};
  const cas::Cid cid = cas::Cid::Of(blob);
  EXPECT_EQ(Fetch(cid, 4999).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(peer_.chunks_taken, 0u);
  ExpectNothingStored(cid);
}

TEST_F(BlobTransferTest, BytesThatDoNotHashToTheCidAreRefused) {
  peer_.chunks = {Pattern(4000, 'c'), Pattern(4000, 'd')};
  const cas::Cid cid = cas::Cid::Of(Pattern(8000, 'e'));
  absl::StatusOr<uint64_t> r = Fetch(cid, 1 << 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("scripted:1"), std::string::npos) << r.status();
  ExpectNothingStored(cid);
}

TEST_F(BlobTransferTest, TruncatedStreamIsRefused) {
  const std::string blob = Pattern(6000, 'f');
  peer_.chunks = {blob.substr(0, 3000)};  // The peer ends the stream early, "successfully".
  const cas::Cid cid = cas::Cid::Of(blob);
  EXPECT_EQ(Fetch(cid, 1 << 20).status().code(), absl::StatusCode::kDataLoss);
  ExpectNothingStored(cid);
}

TEST_F(BlobTransferTest, PeerDroppedMidTransferLeavesNoPartialBlob) {
  const std::string blob = Pattern(6000, 'g');
  peer_.chunks = {blob.substr(0, 2000), blob.substr(2000, 2000)};
  peer_.end = absl::UnavailableError("the peer went away");
  const cas::Cid cid = cas::Cid::Of(blob);
  EXPECT_EQ(Fetch(cid, 1 << 20).status().code(), absl::StatusCode::kUnavailable);
  ExpectNothingStored(cid);
  // A later complete fetch of the same blob still works.
  peer_.chunks = {blob};
  peer_.end = absl::OkStatus();
  ASSERT_OK(Fetch(cid, 1 << 20).status());
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid));
  EXPECT_EQ(back, blob);
}

}  // namespace
}  // namespace mesh::node
