// Stores and reads back a 1 GiB blob and checks that neither holds it in memory: each gtest
// case runs in its own process (gtest_discover_tests), so the peak RSS is this test's alone.
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "mesh/cas/blob_store.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"

namespace mesh::cas {
namespace {

constexpr uint64_t kBlobSize = 1ull << 30;
constexpr long kMaxRssKiB = 96 * 1024;

// Deterministic pseudo-random bytes produced on demand, never materialised.
class GeneratedSource final : public ByteSource {
 public:
  explicit GeneratedSource(uint64_t size) : remaining_(size), rng_(99) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    const size_t take = std::min<uint64_t>(size, remaining_);
    for (size_t i = 0; i < take; i += 8) {
      const uint64_t v = rng_.Next64();
      std::memcpy(buffer + i, &v, std::min<size_t>(8, take - i));
    }
    remaining_ -= take;
    hasher_.Update(std::string_view(buffer, take));
    return take;
  }
  crypto::Digest digest() { return hasher_.Finish(); }

 private:
  uint64_t remaining_;
  SeededRng rng_;
  crypto::Sha256 hasher_;
};

long PeakRssKiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

TEST(BlobStoreLargeTest, OneGibibyteStreamsThroughWithoutBeingHeldInMemory) {
  char tmpl[] = "/tmp/mesh_large_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::filesystem::path root = tmpl;
  SystemClock clock;
  {
    ASSERT_OK_AND_ASSIGN(auto store, BlobStore::Open({.root = root}, clock));
    GeneratedSource source(kBlobSize);
    ASSERT_OK_AND_ASSIGN(Cid cid, store->Put(source));
    EXPECT_EQ(cid, Cid::FromDigest(source.digest()));
    EXPECT_EQ(store->used_bytes(), kBlobSize);

    ASSERT_OK_AND_ASSIGN(auto reader, store->Open(cid));
    EXPECT_EQ(reader->size(), kBlobSize);
    std::vector<char> buffer(1 << 20);
    uint64_t total = 0;
    while (true) {
      ASSERT_OK_AND_ASSIGN(size_t n, reader->Read(buffer.data(), buffer.size()));
      if (n == 0) break;
      total += n;
    }
    EXPECT_EQ(total, kBlobSize);
    EXPECT_LT(PeakRssKiB(), kMaxRssKiB) << "peak RSS suggests the blob was held in memory";
  }
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace mesh::cas
