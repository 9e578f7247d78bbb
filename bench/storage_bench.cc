// The CES pipeline of stored files (storage module) on one core: a segment compressed (a trial
// that finds incompressible data not worth it), encrypted (XChaCha20-Poly1305), erasure-coded
// (ISA-L Reed-Solomon) and each shard named by its SHA-256 CID; and the way back, with and
// without lost shards. The erasure code is measured against ISA-L's own API called directly on
// the same buffers (the baseline: what the library does without us), and each stage alone so
// the pipeline's figure can be read.
//
//   build/release/bench/storage_bench                  (256 MiB of random data)
//   build/release/bench/storage_bench --short --json FILE   (64 MiB)
#include <isa-l/erasure_code.h>
#include <sodium.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "bench_report.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/sha256.h"
#include "mesh/storage/segment.h"
#include "ratio_reporter.h"

namespace {

using mesh::storage::ErasureCode;
using mesh::storage::SealedSegment;
using mesh::storage::SegmentCodec;

constexpr size_t kSegment = 32 << 20;

uint64_t TotalBytes() {
  const char* env = std::getenv("MESH_BENCH_MIB");
  return (env != nullptr ? std::strtoull(env, nullptr, 10) : 256) << 20;
}

// Incompressible input: random bytes, one segment, reused for every segment of the total.
const std::string& Segment() {
  static const std::string s = mesh::SeededRng(1).Bytes(kSegment);
  return s;
}
const std::string& Key() {
  static const std::string k(mesh::storage::kFileKeyBytes, 'k');
  return k;
}

void Account(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * TotalBytes()));
}

// ISA-L alone: its tables and ec_encode_data on k data buffers of one segment.
void BM_IsalEncode(benchmark::State& state) {
  const int k = static_cast<int>(state.range(0));
  const int m = static_cast<int>(state.range(1));
  const size_t len = kSegment / static_cast<size_t>(k);
  std::vector<uint8_t> matrix(static_cast<size_t>((k + m) * k));
  std::vector<uint8_t> tables(static_cast<size_t>(32 * k * m));
  gf_gen_cauchy1_matrix(matrix.data(), k + m, k);
  ec_init_tables(k, m, matrix.data() + k * k, tables.data());
  std::string parity_bytes(len * static_cast<size_t>(m), '\0');
  std::vector<uint8_t*> data, parity;
  for (int i = 0; i < k; ++i) {
    data.push_back(reinterpret_cast<uint8_t*>(const_cast<char*>(Segment().data())) + i * len);
  }
  for (int i = 0; i < m; ++i)
    parity.push_back(reinterpret_cast<uint8_t*>(parity_bytes.data()) + i * len);
  for (auto _ : state) {
    for (uint64_t done = 0; done < TotalBytes(); done += kSegment) {
      ec_encode_data(static_cast<int>(len), k, m, tables.data(), data.data(), parity.data());
    }
    benchmark::DoNotOptimize(parity_bytes.data());
  }
  Account(state);
}
BENCHMARK(BM_IsalEncode)
    ->ArgNames({"k", "m"})
    ->Args({4, 2})
    ->Args({10, 4})
    ->Unit(benchmark::kMillisecond);

// The same through ErasureCode::Encode.
void BM_ErasureEncode(benchmark::State& state) {
  const int k = static_cast<int>(state.range(0));
  const int m = static_cast<int>(state.range(1));
  const ErasureCode code = ErasureCode::Create(k, m).value();
  const size_t len = kSegment / static_cast<size_t>(k);
  std::string parity_bytes(len * static_cast<size_t>(m), '\0');
  std::vector<const uint8_t*> data;
  std::vector<uint8_t*> parity;
  for (int i = 0; i < k; ++i)
    data.push_back(reinterpret_cast<const uint8_t*>(Segment().data()) + i * len);
  for (int i = 0; i < m; ++i)
    parity.push_back(reinterpret_cast<uint8_t*>(parity_bytes.data()) + i * len);
  for (auto _ : state) {
    for (uint64_t done = 0; done < TotalBytes(); done += kSegment) code.Encode(len, data, parity);
    benchmark::DoNotOptimize(parity_bytes.data());
  }
  Account(state);
}
BENCHMARK(BM_ErasureEncode)
    ->ArgNames({"k", "m"})
    ->Args({4, 2})
    ->Args({10, 4})
    ->Unit(benchmark::kMillisecond);

// The stages alone, for reading the pipeline's figure.
void BM_EncryptOnly(benchmark::State& state) {
  std::string out(kSegment + 16, '\0');
  const std::string nonce(24, 'n');
  for (auto _ : state) {
    for (uint64_t done = 0; done < TotalBytes(); done += kSegment) {
      unsigned long long n = 0;
      crypto_aead_xchacha20poly1305_ietf_encrypt(
          reinterpret_cast<unsigned char*>(out.data()), &n,
          reinterpret_cast<const unsigned char*>(Segment().data()), kSegment, nullptr, 0, nullptr,
          reinterpret_cast<const unsigned char*>(nonce.data()),
          reinterpret_cast<const unsigned char*>(Key().data()));
    }
    benchmark::DoNotOptimize(out.data());
  }
  Account(state);
}
BENCHMARK(BM_EncryptOnly)->Unit(benchmark::kMillisecond);

void BM_Sha256Only(benchmark::State& state) {
  for (auto _ : state) {
    for (uint64_t done = 0; done < TotalBytes(); done += kSegment) {
      benchmark::DoNotOptimize(mesh::crypto::Sha256Of(Segment()));
    }
  }
  Account(state);
}
BENCHMARK(BM_Sha256Only)->Unit(benchmark::kMillisecond);

// The way in, on one core: compress trial, encrypt (or not), 4+2, and the six CIDs per segment
// (named:1, SegmentCodec::Seal) or not (named:0, Stripe: the CES stages alone).
void BM_Seal(benchmark::State& state) {
  const bool encrypt = state.range(0) != 0;
  const bool named = state.range(1) != 0;
  const ErasureCode code = ErasureCode::Create(4, 2).value();
  const SegmentCodec codec = SegmentCodec::Create(encrypt ? Key() : "", &code).value();
  mesh::SeededRng rng(2);
  std::vector<char> spare;  // as FileSealer does: each segment's stripe written over the last
  for (auto _ : state) {
    for (uint64_t done = 0; done < TotalBytes(); done += kSegment) {
      absl::StatusOr<SealedSegment> sealed =
          named ? codec.Seal(0, Segment(), rng, std::move(spare))
                : codec.Stripe(0, Segment(), rng, std::move(spare));
      if (!sealed.ok()) {
        state.SkipWithError("seal failed");
        break;
      }
      benchmark::DoNotOptimize(sealed->stripe.data());
      spare = std::move(sealed->stripe);
    }
  }
  Account(state);
}
BENCHMARK(BM_Seal)
    ->ArgNames({"encrypt", "named"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({0, 1})
    ->Unit(benchmark::kMillisecond);

// The way back: every shard checked against its CID, `lost` rebuilt, authenticated.
void BM_Open(benchmark::State& state) {
  const int lost = static_cast<int>(state.range(0));
  const ErasureCode code = ErasureCode::Create(4, 2).value();
  const SegmentCodec codec = SegmentCodec::Create(Key(), &code).value();
  mesh::SeededRng rng(3);
  const SealedSegment sealed = codec.Seal(0, Segment(), rng).value();
  mesh::storage::SegmentScratch scratch;
  for (auto _ : state) {
    for (uint64_t done = 0; done < TotalBytes(); done += kSegment) {
      state.PauseTiming();
      std::vector<std::optional<std::string>> shards;
      for (size_t i = 0; i < sealed.shard_count; ++i) {
        if (static_cast<int>(i) >= lost) {
          shards.emplace_back(sealed.shard(i));
        } else {
          shards.emplace_back();
        }
      }
      state.ResumeTiming();
      auto opened = codec.Open(0, sealed.info, std::move(shards), scratch);
      if (!opened.ok() || opened->plain.size() != kSegment) state.SkipWithError("open failed");
      benchmark::DoNotOptimize(opened);
    }
  }
  Account(state);
}
BENCHMARK(BM_Open)->ArgName("lost")->Arg(0)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) {
    std::fprintf(stderr, "storage_bench: %s\n", error.c_str());
    return 2;
  }
  if (common.short_mode) ::setenv("MESH_BENCH_MIB", "64", /*overwrite=*/0);
  if (sodium_init() < 0) return 1;
  benchmark::Initialize(&argc, argv);
  Segment();
  mesh::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  using mesh::bench::Goal;
  mesh::bench::Report report("storage_bench");
  auto gbs = [](double rate) { return rate / 1e9; };
  for (const char* code : {"k:4/m:2", "k:10/m:4"}) {
    const double isal = reporter.Rate(std::string("BM_IsalEncode/") + code);
    const double ours = reporter.Rate(std::string("BM_ErasureEncode/") + code);
    std::string label = code;
    label.replace(label.find("/m:"), 3, "+");
    label.erase(0, 2);
    if (ours > 0 && isal > 0) {
      report.Add({.figure = "Reed-Solomon " + label +
                            " encode of 32 MiB segments, one core "
                            "(baseline: ISA-L's ec_encode_data called directly)",
                  .value = gbs(ours),
                  .unit = "GB/s",
                  .baseline = gbs(isal),
                  .ratio = mesh::bench::RatioOf(ours, isal),
                  .goal = Goal().RatioAtLeast(0.95)});
    }
  }
  const double seal = reporter.Rate("BM_Seal/encrypt:1/named:1");
  const double seal_plain = reporter.Rate("BM_Seal/encrypt:0/named:1");
  const double aead = reporter.Rate("BM_EncryptOnly");
  const double sha = reporter.Rate("BM_Sha256Only");
  const double stripe = reporter.Rate("BM_Seal/encrypt:1/named:0");
  if (stripe > 0) {
    report.Add({.figure = "compress, encrypt and erasure-code incompressible data (trial, "
                          "XChaCha20-Poly1305, 4+2), one core (baseline: the encryption alone)",
                .value = gbs(stripe),
                .unit = "GB/s",
                .baseline = gbs(aead),
                .ratio = mesh::bench::RatioOf(stripe, aead),
                .goal = Goal().ValueAtLeast(1.0)});
  }
  if (seal > 0) {
    report.Add({.figure = "the same and the six shard CIDs (SHA-256 of 1.5x the data), one core "
                          "(baseline: the encryption alone)",
                .value = gbs(seal),
                .unit = "GB/s",
                .baseline = gbs(aead),
                .ratio = mesh::bench::RatioOf(seal, aead)});
  }
  if (seal_plain > 0) {
    report.Add({.figure = "seal, not encrypted: compress trial, 4+2, CIDs (baseline: SHA-256 "
                          "of the data once)",
                .value = gbs(seal_plain),
                .unit = "GB/s",
                .baseline = gbs(sha),
                .ratio = mesh::bench::RatioOf(seal_plain, sha)});
  }
  for (const char* lost : {"lost:0", "lost:2"}) {
    const double open = reporter.Rate(std::string("BM_Open/") + lost);
    if (open > 0) {
      report.Add({.figure = std::string("open 4+2, encrypted, ") +
                            (lost[5] == '0' ? "all shards there" : "2 shards lost and rebuilt") +
                            ", one core",
                  .value = gbs(open),
                  .unit = "GB/s"});
    }
  }
  benchmark::Shutdown();
  std::printf("\nfigures and goals:\n%s", report.Text().c_str());
  if (absl::Status s = report.Write(common.json); !s.ok()) {
    std::fprintf(stderr, "storage_bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
