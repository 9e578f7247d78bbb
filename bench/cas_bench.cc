// Content-addressing benchmarks: SHA-256 of a 1 GiB file against coreutils `sha256sum` on the
// same file in the same run, and blob store put/get throughput. Prints the ratios at the end.
// Also the one-shot hash of a small block (a history block, a ledger entry, a message's CID)
// against the same hash through OpenSSL's legacy EVP_sha256() handle, which OpenSSL 3 looks up
// in its provider tables on every init (what crypto::Sha256 did before it fetched its own).
//
//   build/release/bench/cas_bench            (MESH_BENCH_MIB=256 for a smaller file)
//   build/release/bench/cas_bench --short --json FILE   (128 MiB; the figures as JSON records)
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "bench_report.h"
#include "mesh/cas/blob_store.h"
#include "mesh/common/file_util.h"
#include "mesh/common/rng.h"
#include "ratio_reporter.h"

namespace {

std::filesystem::path BenchDir() {
  const char* env = std::getenv("MESH_BENCH_DIR");
  return env != nullptr ? env : "/tmp/mesh_bench";
}

uint64_t FileBytes() {
  const char* env = std::getenv("MESH_BENCH_MIB");
  return (env != nullptr ? std::strtoull(env, nullptr, 10) : 1024) << 20;
}

// The input file, written once and then read from the page cache by every benchmark.
const std::filesystem::path& InputFile() {
  static const std::filesystem::path path = [] {
    std::filesystem::create_directories(BenchDir());
    auto p = BenchDir() / "input.bin";
    if (!std::filesystem::exists(p) || std::filesystem::file_size(p) != FileBytes()) {
      mesh::SeededRng rng(1);
      FILE* f = std::fopen(p.c_str(), "wb");
      std::string chunk;
      for (uint64_t done = 0; done < FileBytes(); done += chunk.size()) {
        chunk = rng.Bytes(std::min<uint64_t>(1 << 20, FileBytes() - done));
        std::fwrite(chunk.data(), 1, chunk.size(), f);
      }
      std::fclose(f);
    }
    return p;
  }();
  return path;
}

void BM_Sha256sumBaseline(benchmark::State& state) {
  const std::string cmd = "sha256sum " + InputFile().string() + " > /dev/null";
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    if (std::system(cmd.c_str()) != 0) state.SkipWithError("sha256sum failed");
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  state.SetBytesProcessed(state.iterations() * FileBytes());
}
BENCHMARK(BM_Sha256sumBaseline)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_MeshSha256File(benchmark::State& state) {
  for (auto _ : state) {
    auto fd = mesh::OpenFile(InputFile(), O_RDONLY);
    auto digest = mesh::crypto::Sha256OfFd(fd->get());
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(state.iterations() * FileBytes());
}
BENCHMARK(BM_MeshSha256File)->Unit(benchmark::kMillisecond)->Iterations(3);

constexpr size_t kSmallBlock = 512;

void BM_Sha256SmallLegacyHandle(benchmark::State& state) {
  const std::string block(kSmallBlock, 'b');
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx, block.data(), block.size());
    EVP_DigestFinal_ex(ctx, digest, &len);
    EVP_MD_CTX_free(ctx);
    benchmark::DoNotOptimize(digest);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sha256SmallLegacyHandle);

void BM_Sha256Small(benchmark::State& state) {
  const std::string block(kSmallBlock, 'b');
  for (auto _ : state) benchmark::DoNotOptimize(mesh::crypto::Sha256Of(block));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sha256Small);

void BM_BlobPut(benchmark::State& state) {
  mesh::SystemClock clock;
  const bool durable = state.range(0) != 0;
  const auto root = BenchDir() / "store";
  std::filesystem::remove_all(root);
  auto store = mesh::cas::BlobStore::Open({.root = root, .durable = durable}, clock);
  for (auto _ : state) {
    auto cid = (*store)->PutFile(InputFile());
    state.PauseTiming();
    if (!cid.ok())
      state.SkipWithError(std::string(cid.status().message()).c_str());
    else
      (void)(*store)->Delete(*cid);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * FileBytes());
  store->reset();
  std::filesystem::remove_all(root);
}
BENCHMARK(BM_BlobPut)
    ->ArgName("durable")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

void BM_BlobGetVerified(benchmark::State& state) {
  mesh::SystemClock clock;
  const auto root = BenchDir() / "store";
  std::filesystem::remove_all(root);
  auto store = mesh::cas::BlobStore::Open({.root = root, .durable = false}, clock);
  auto cid = (*store)->PutFile(InputFile());
  std::vector<char> buffer(1 << 20);
  for (auto _ : state) {
    auto reader = (*store)->Open(*cid);
    while (true) {
      auto n = (*reader)->Read(buffer.data(), buffer.size());
      if (!n.ok()) state.SkipWithError("verification failed");
      if (!n.ok() || *n == 0) break;
    }
  }
  state.SetBytesProcessed(state.iterations() * FileBytes());
  store->reset();
  std::filesystem::remove_all(root);
}
BENCHMARK(BM_BlobGetVerified)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

int main(int argc, char** argv) {
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) {
    std::fprintf(stderr, "cas_bench: %s\n", error.c_str());
    return 2;
  }
  // Short: a 128 MiB file (the rates are steady well before that) unless MESH_BENCH_MIB says.
  if (common.short_mode) ::setenv("MESH_BENCH_MIB", "128", /*overwrite=*/0);
  benchmark::Initialize(&argc, argv);
  InputFile();
  mesh::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double baseline = reporter.Rate("BM_Sha256sumBaseline");
  const double ours = reporter.Rate("BM_MeshSha256File");
  const double put = reporter.Rate("BM_BlobPut/durable:0");
  const double put_durable = reporter.Rate("BM_BlobPut/durable:1");
  const double get = reporter.Rate("BM_BlobGetVerified");
  const double small = reporter.Rate("BM_Sha256Small");
  const double small_legacy = reporter.Rate("BM_Sha256SmallLegacyHandle");
  std::printf("\nfile size: %llu MiB\n", static_cast<unsigned long long>(FileBytes() >> 20));
  if (baseline > 0) {
    std::printf("sha256 ratio mesh/sha256sum: %.2f (goal >= 0.9)\n", ours / baseline);
  }
  std::printf("blob put (page cache, no fsync): %.2f GB/s (goal >= 1.0)\n", put / 1e9);
  std::printf("blob put (durable, fsync):       %.2f GB/s\n", put_durable / 1e9);
  std::printf("blob get (verified):             %.2f GB/s\n", get / 1e9);

  using mesh::bench::Goal;
  mesh::bench::Report report("cas_bench");
  const std::string file = std::to_string(FileBytes() >> 20) + " MiB file";
  if (ours > 0) {
    report.Add({.figure = "SHA-256 of a " + file + ", Mesh (baseline: sha256sum)",
                .value = ours / 1e9,
                .unit = "GB/s",
                .baseline = baseline > 0 ? std::optional<double>(baseline / 1e9) : std::nullopt,
                .ratio = mesh::bench::RatioOf(ours, baseline),
                .goal = Goal().RatioAtLeast(0.9)});
  }
  if (put > 0) {
    report.Add({.figure = "BlobStore::PutFile of a " + file + ", page cache (no fsync)",
                .value = put / 1e9,
                .unit = "GB/s",
                .goal = Goal().ValueAtLeast(1.0)});
  }
  if (put_durable > 0) {
    report.Add({.figure = "BlobStore::PutFile of a " + file + ", durable (fsync)",
                .value = put_durable / 1e9,
                .unit = "GB/s"});
  }
  if (get > 0) {
    report.Add({.figure = "verified streaming read (BlobReader) of a " + file,
                .value = get / 1e9,
                .unit = "GB/s"});
  }
  if (small > 0) {
    report.Add(
        {.figure = "SHA-256 of a 512-byte block, one shot, Sha256Of (baseline: OpenSSL's "
                   "legacy EVP_sha256() handle)",
         .value = 1e6 / small,
         .unit = "us",
         .baseline = small_legacy > 0 ? std::optional<double>(1e6 / small_legacy) : std::nullopt,
         .ratio = mesh::bench::RatioOf(1e6 / small, small_legacy > 0 ? 1e6 / small_legacy : 0)});
  }
  benchmark::Shutdown();
  std::printf("\nfigures and goals:\n%s", report.Text().c_str());
  if (absl::Status s = report.Write(common.json); !s.ok()) {
    std::fprintf(stderr, "cas_bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
