#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "mesh/cas/blob_reader.h"
#include "mesh/cas/blob_store.h"
#include "mesh/cas/byte_source.h"
#include "mesh/common/file_util.h"
#include "mesh/common/rng.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/testing.h"

namespace mesh::cas {
namespace {

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(store_, OpenStore(0)); }
  void TearDown() override { store_.reset(); }
  absl::StatusOr<std::unique_ptr<BlobStore>> OpenStore(uint64_t quota) {
    return BlobStore::Open({.root = root_, .quota_bytes = quota, .durable = true}, clock_);
  }
  std::filesystem::path FileOf(const Cid& cid) {
    for (const auto& shard : std::filesystem::directory_iterator(root_ / "blobs")) {
      auto p = shard.path() / cid.ToString();
      if (std::filesystem::exists(p)) return p;
    }
    return {};
  }
  void Corrupt(const Cid& cid, size_t offset) {
    const auto path = FileOf(cid);
    ASSERT_FALSE(path.empty());
    ::chmod(path.c_str(), 0644);
    ASSERT_OK_AND_ASSIGN(ScopedFd fd, OpenFile(path, O_WRONLY));
    char c = '!';
    ASSERT_EQ(::pwrite(fd.get(), &c, 1, static_cast<off_t>(offset)), 1);
  }

  FakeClock clock_;
  ScopedTempDir tmp_;
  const std::filesystem::path root_ = tmp_.path();
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, PutGetHasStatRoundTrip) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes("hello world"));
  EXPECT_EQ(cid.ToString(), "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid));
  EXPECT_EQ(back, "hello world");
  ASSERT_OK_AND_ASSIGN(bool has, store_->Has(cid));
  EXPECT_TRUE(has);
  ASSERT_OK_AND_ASSIGN(BlobInfo info, store_->Stat(cid));
  EXPECT_EQ(info.size, 11u);
  EXPECT_EQ(info.stored_at, clock_.Now());
  EXPECT_EQ(store_->used_bytes(), 11u);
}

TEST_F(BlobStoreTest, EmptyBlobAndDeduplication) {
  ASSERT_OK_AND_ASSIGN(Cid empty, store_->PutBytes(""));
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(empty));
  EXPECT_EQ(back, "");
  ASSERT_OK_AND_ASSIGN(Cid a1, store_->PutBytes("same"));
  ASSERT_OK_AND_ASSIGN(Cid a2, store_->PutBytes("same"));
  EXPECT_EQ(a1, a2);
  EXPECT_EQ(store_->used_bytes(), 4u);
  ASSERT_OK_AND_ASSIGN(auto list, store_->List());
  EXPECT_EQ(list.size(), 2u);
  // No temp files remain after puts.
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
}

TEST_F(BlobStoreTest, PutBytesOfStoredContentSkipsTheWriteButRestoresAMissingFile) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes("output"));
  const std::filesystem::path file = FileOf(cid);
  const auto written = std::filesystem::last_write_time(file);
  ASSERT_OK_AND_ASSIGN(Cid again, store_->PutBytes("output"));
  EXPECT_EQ(again, cid);
  EXPECT_EQ(std::filesystem::last_write_time(file), written);  // not written a second time
  // The index still names it but the file is gone: the put writes it again.
  std::filesystem::remove(file);
  ASSERT_OK_AND_ASSIGN(again, store_->PutBytes("output"));
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid));
  EXPECT_EQ(back, "output");
}

TEST_F(BlobStoreTest, CorruptedBlobIsDataLossAndQuarantined) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes(std::string(10000, 'a')));
  Corrupt(cid, 5000);
  auto got = store_->Get(cid);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find(cid.ToString()), std::string::npos);
  // The bad file is kept for inspection but no longer served; a fresh Put restores the blob.
  EXPECT_FALSE(store_->Has(cid).value());
  EXPECT_FALSE(std::filesystem::is_empty(root_ / "quarantine"));
  EXPECT_EQ(store_->used_bytes(), 0u);
  ASSERT_OK(store_->PutBytes(std::string(10000, 'a')));
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid));
  EXPECT_EQ(back.size(), 10000u);
}

TEST_F(BlobStoreTest, CopyToWritesNothingWhenCorrupted) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes(std::string(3 << 20, 'z')));
  char out_path[] = "/tmp/mesh_copy_XXXXXX";
  ScopedFd out(::mkstemp(out_path));
  ASSERT_OK(store_->CopyTo(cid, out.get()));
  struct stat st;
  ASSERT_EQ(::fstat(out.get(), &st), 0);
  EXPECT_EQ(st.st_size, 3 << 20);
  ASSERT_EQ(::ftruncate(out.get(), 0), 0);
  ASSERT_EQ(::lseek(out.get(), 0, SEEK_SET), 0);
  Corrupt(cid, (3 << 20) - 1);  // the very last byte
  EXPECT_EQ(store_->CopyTo(cid, out.get()).code(), absl::StatusCode::kDataLoss);
  ASSERT_EQ(::fstat(out.get(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  ::unlink(out_path);
}

TEST_F(BlobStoreTest, StreamingReaderReportsCorruptionAtEnd) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes("0123456789"));
  Corrupt(cid, 0);
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(cid));
  char buf[4];
  absl::Status final_status;
  while (true) {
    auto n = reader->Read(buf, sizeof(buf));
    if (!n.ok()) {
      final_status = n.status();
      break;
    }
    if (*n == 0) break;
  }
  EXPECT_EQ(final_status.code(), absl::StatusCode::kDataLoss);
  // As with Get: the damaged file is moved out, so it is neither served nor merged again.
  EXPECT_FALSE(store_->Has(cid).value());
  EXPECT_FALSE(std::filesystem::is_empty(root_ / "quarantine"));
  EXPECT_EQ(store_->Open(cid).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BlobStoreTest, MissingBlobsAreNotFound) {
  const Cid absent = Cid::Of("never stored");
  EXPECT_EQ(store_->Get(absent).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Open(absent).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete(absent).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Stat(absent).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store_->Has(absent).value());
}

TEST_F(BlobStoreTest, PutFileCopiesInKernelAndHashesTheCopy) {
  SeededRng rng(5);
  const std::string data = rng.Bytes((40 << 20) + 123);  // several copy chunks and a tail
  const auto src = root_ / "src.bin";
  ASSERT_OK(WriteFileAtomically(src, data, 0600, false));
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutFile(src));
  EXPECT_EQ(cid, Cid::Of(data));
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid, 64 << 20));
  EXPECT_TRUE(back == data);
  EXPECT_EQ(store_->used_bytes(), data.size());
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
}

TEST_F(BlobStoreTest, PutFileFromPipeStreams) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread writer([&] {
    const std::string chunk(1 << 16, 'p');
    for (int i = 0; i < 20; ++i) (void)WriteAll(fds[1], chunk);
    ::close(fds[1]);
  });
  auto cid = store_->PutFile("/proc/self/fd/" + std::to_string(fds[0]));
  writer.join();
  ::close(fds[0]);
  ASSERT_OK(cid);
  EXPECT_EQ(*cid, Cid::Of(std::string(20 << 16, 'p')));
}

TEST_F(BlobStoreTest, PutFileOverQuotaIsRefusedUpFront) {
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, OpenStore(1000));
  ASSERT_OK(WriteFileAtomically(root_ / "big.bin", std::string(5000, 'b'), 0600, false));
  auto r = store_->PutFile(root_ / "big.bin");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
  EXPECT_EQ(store_->PutFile(root_ / "missing.bin").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BlobStoreTest, DeleteFreesSpace) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes("delete me"));
  ASSERT_OK(store_->Delete(cid));
  EXPECT_EQ(store_->used_bytes(), 0u);
  EXPECT_FALSE(store_->Has(cid).value());
  EXPECT_EQ(store_->Get(cid).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BlobStoreTest, QuotaRefusesAndKeepsExistingData) {
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, OpenStore(100));
  ASSERT_OK_AND_ASSIGN(Cid a, store_->PutBytes(std::string(60, 'a')));
  auto b = store_->PutBytes(std::string(60, 'b'));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(b.status().message().find("quota of 100"), std::string::npos) << b.status();
  EXPECT_EQ(store_->PutBytes(std::string(101, 'c')).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Re-putting stored content costs nothing, and the first blob is intact.
  ASSERT_OK(store_->PutBytes(std::string(60, 'a')));
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(a));
  EXPECT_EQ(back, std::string(60, 'a'));
  EXPECT_EQ(store_->used_bytes(), 60u);
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
}

TEST_F(BlobStoreTest, GetRefusesBlobsOverInMemoryLimit) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes(std::string(1000, 'q')));
  EXPECT_EQ(store_->Get(cid, 999).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(BlobStoreTest, ListPagesInCidOrder) {
  for (int i = 0; i < 25; ++i) ASSERT_OK(store_->PutBytes("blob " + std::to_string(i)));
  std::vector<std::string> all;
  std::string after;
  while (true) {
    ASSERT_OK_AND_ASSIGN(auto page, store_->List(after, 10));
    if (page.empty()) break;
    for (const auto& b : page) all.push_back(b.cid.ToString());
    after = page.back().cid.ToString();
  }
  ASSERT_EQ(all.size(), 25u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
}

TEST_F(BlobStoreTest, ReopenKeepsBlobsAndRebuildsLostIndex) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes("persistent"));
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, OpenStore(0));
  EXPECT_TRUE(store_->Has(cid).value());
  store_.reset();
  for (const char* f : {"index.db", "index.db-wal", "index.db-shm"}) {
    std::filesystem::remove(root_ / f);
  }
  // A crash left a half-written temp file too.
  ASSERT_OK(WriteFileAtomically(root_ / "tmp" / "put.abandoned", "partial", 0600, false));
  ASSERT_OK_AND_ASSIGN(store_, OpenStore(0));
  EXPECT_TRUE(store_->Has(cid).value());
  EXPECT_EQ(store_->used_bytes(), 10u);
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
}

// A source that fails midway: the Put must fail and leave nothing behind.
class FailingSource final : public ByteSource {
 public:
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    if (calls_++ > 2) return absl::UnavailableError("peer went away");
    std::fill(buffer, buffer + size, 'x');
    return size;
  }
  int calls_ = 0;
};

TEST_F(BlobStoreTest, FailedSourceLeavesNoTrace) {
  FailingSource source;
  auto r = store_->Put(source);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
  EXPECT_EQ(store_->used_bytes(), 0u);
  ASSERT_OK_AND_ASSIGN(auto list, store_->List());
  EXPECT_TRUE(list.empty());
}

// Bytes this process named itself (a job's output, named by the worker pool) are stored under
// that name without being hashed again, and read back verified like any blob.
TEST_F(BlobStoreTest, PutHashedBytesStoresUnderTheGivenName) {
  const std::string data(300 << 10, 'h');
  const Cid cid = Cid::Of(data);
  ASSERT_OK_AND_ASSIGN(Cid stored, store_->PutHashedBytes(data, cid));
  EXPECT_EQ(stored, cid);
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid));
  EXPECT_EQ(back, data);
  ASSERT_OK_AND_ASSIGN(Cid again, store_->PutHashedBytes(data, cid));
  EXPECT_EQ(again, cid);
  EXPECT_EQ(store_->used_bytes(), data.size());
#ifndef NDEBUG
  // A name that is not the bytes' is a bug in the caller: a debug build stops on it.
  EXPECT_DEATH((void)store_->PutHashedBytes("other bytes", cid), "check failed");
#endif
}

// A blob received from a peer (BeginPut): visible only once its bytes hashed to its CID.
TEST_F(BlobStoreTest, PendingBlobStoresBytesThatHashToTheCid) {
  const std::string data = std::string(3 << 20, 'a') + "tail";
  const Cid cid = Cid::Of(data);
  ASSERT_OK_AND_ASSIGN(auto pending, store_->BeginPut(cid, data.size()));
  for (size_t at = 0; at < data.size(); at += 1 << 20) {
    ASSERT_OK(pending->Append(std::string_view(data).substr(at, 1 << 20)));
    ASSERT_OK_AND_ASSIGN(bool visible, store_->Has(cid));
    EXPECT_FALSE(visible) << "visible before Commit";
  }
  ASSERT_OK_AND_ASSIGN(uint64_t size, pending->Commit());
  EXPECT_EQ(size, data.size());
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid));
  EXPECT_EQ(back, data);
  EXPECT_EQ(store_->used_bytes(), data.size());
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
  EXPECT_EQ(pending->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(BlobStoreTest, PendingBlobWhoseBytesDoNotHashToTheCidIsRefused) {
  const Cid cid = Cid::Of("the bytes the CID names");
  ASSERT_OK_AND_ASSIGN(auto pending, store_->BeginPut(cid, 1 << 20));
  ASSERT_OK(pending->Append("other bytes of the same"));
  ASSERT_OK(pending->Append(" length?"));
  absl::StatusOr<uint64_t> r = pending->Commit();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ASSERT_OK_AND_ASSIGN(bool has, store_->Has(cid));
  EXPECT_FALSE(has);
  EXPECT_TRUE(FileOf(cid).empty());
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
  EXPECT_EQ(store_->used_bytes(), 0u);
}

TEST_F(BlobStoreTest, PendingBlobPastItsLimitIsCutAndLeavesNothing) {
  const std::string data(1000, 'z');
  const Cid cid = Cid::Of(data);
  ASSERT_OK_AND_ASSIGN(auto pending, store_->BeginPut(cid, 999));
  ASSERT_OK(pending->Append(data.substr(0, 600)));
  EXPECT_EQ(pending->Append(data.substr(600)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pending->size(), 600u);  // Nothing past the limit was taken.
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp")) << "abandoned at the cut";
  EXPECT_EQ(pending->Append("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pending->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(bool has, store_->Has(cid));
  EXPECT_FALSE(has);
}

TEST_F(BlobStoreTest, PendingBlobOverTheQuotaIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto small, OpenStore(100));
  const std::string data(200, 'q');
  ASSERT_OK_AND_ASSIGN(auto pending, small->BeginPut(Cid::Of(data), 1 << 20));
  EXPECT_EQ(pending->Append(data).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
}

TEST_F(BlobStoreTest, AbandonedPendingBlobLeavesNoTrace) {
  const std::string data(5000, 'p');
  const Cid cid = Cid::Of(data);
  {
    ASSERT_OK_AND_ASSIGN(auto pending, store_->BeginPut(cid, data.size()));
    ASSERT_OK(pending->Append(data.substr(0, 2500)));  // The peer drops here.
    EXPECT_FALSE(std::filesystem::is_empty(root_ / "tmp"));
  }
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
  ASSERT_OK_AND_ASSIGN(bool has, store_->Has(cid));
  EXPECT_FALSE(has);
  EXPECT_EQ(store_->used_bytes(), 0u);
}

TEST_F(BlobStoreTest, PendingBlobOfStoredContentKeepsOneCopy) {
  ASSERT_OK_AND_ASSIGN(Cid cid, store_->PutBytes("twice"));
  ASSERT_OK_AND_ASSIGN(auto pending, store_->BeginPut(cid, 100));
  ASSERT_OK(pending->Append("twice"));
  ASSERT_OK(pending->Commit().status());
  EXPECT_EQ(store_->used_bytes(), 5u);
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(cid));
  EXPECT_EQ(back, "twice");
}

// A blob made here in pieces (BeginWrite: a split job's merge): named by what was appended,
// visible only once committed, and bounded like a fetch.
TEST_F(BlobStoreTest, WrittenBlobIsNamedByItsContentOnCommit) {
  const std::string data = std::string(2 << 20, 'w') + "end";
  ASSERT_OK_AND_ASSIGN(auto writer, store_->BeginWrite(data.size()));
  EXPECT_FALSE(writer->cid().has_value());
  for (size_t at = 0; at < data.size(); at += 700 << 10) {
    ASSERT_OK(writer->Append(std::string_view(data).substr(at, 700 << 10)));
  }
  EXPECT_EQ(store_->used_bytes(), 0u) << "visible before Commit";
  ASSERT_OK_AND_ASSIGN(uint64_t size, writer->Commit());
  EXPECT_EQ(size, data.size());
  ASSERT_TRUE(writer->cid().has_value());
  EXPECT_EQ(*writer->cid(), Cid::Of(data));
  ASSERT_OK_AND_ASSIGN(std::string back, store_->Get(*writer->cid()));
  EXPECT_EQ(back, data);
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
  EXPECT_EQ(writer->Append("more").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(BlobStoreTest, WrittenBlobPastItsLimitOrAbandonedLeavesNothing) {
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store_->BeginWrite(10));
    ASSERT_OK(writer->Append("0123456"));
    absl::Status over = writer->Append("789ab");
    EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted) << over;
    EXPECT_NE(over.message().find("the blob being written is over 10 bytes"), std::string::npos)
        << over;
    EXPECT_EQ(writer->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store_->BeginWrite(1 << 20));
    ASSERT_OK(writer->Append("half a merge"));
  }
  EXPECT_TRUE(std::filesystem::is_empty(root_ / "tmp"));
  EXPECT_EQ(store_->used_bytes(), 0u);
}

TEST_F(BlobStoreTest, ConcurrentPutsGetsAndDeletesStayConsistent) {
  constexpr int kThreads = 8;
  constexpr int kOps = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SeededRng rng(t);
      for (int i = 0; i < kOps; ++i) {
        // Half the content is shared between threads, so puts race on the same CID.
        const std::string data =
            (i % 2 == 0) ? "shared " + std::to_string(i) : rng.Bytes(1 + rng.Uniform(50000));
        auto cid = store_->PutBytes(data);
        if (!cid.ok()) {
          ++failures;
          continue;
        }
        auto back = store_->Get(*cid);
        // A shared blob may be deleted by another thread between Put and Get.
        if (back.ok() ? *back != data : !absl::IsNotFound(back.status())) ++failures;
        if (i % 7 == 0) {
          auto s = store_->Delete(*cid);
          if (!s.ok() && !absl::IsNotFound(s)) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  // Accounting matches what the index lists, and every listed blob verifies.
  uint64_t total = 0;
  ASSERT_OK_AND_ASSIGN(auto list, store_->List("", 100000));
  for (const auto& b : list) {
    total += b.size;
    ASSERT_OK(store_->Get(b.cid).status());
  }
  EXPECT_EQ(total, store_->used_bytes());
}

}  // namespace
}  // namespace mesh::cas
