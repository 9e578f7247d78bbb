// Sandbox benchmarks, each as a ratio measured in this run:
//  - matmul 256x256 and sha256 of 16 MiB: aot and interp against the same C built natively
//    with gcc -O2 -ffp-contract=off (goal: aot <= 2x native);
//  - gas overhead: aot with metering against aot without (goal <= 25%);
//  - start of a cached aot module: instantiate + run of an empty job (goal < 1 ms).
//
//   build/release/bench/wasm_bench                (interp runs are slow: ~1 min in all)
//   build/release/bench/wasm_bench --benchmark_filter='Aot|Native'
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "mesh/common/file_util.h"
#include "mesh/common/rng.h"
#include "mesh/wasm/aot_engine.h"
#include "mesh/wasm/engine.h"
#include "ratio_reporter.h"

namespace {

using mesh::wasm::Engine;
using mesh::wasm::InstrumentedModule;

const std::filesystem::path kExamples = MESH_EXAMPLES_DIR;
constexpr size_t kShaInputBytes = 16 << 20;

std::filesystem::path ScratchDir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / "mesh_wasm_bench";
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

const std::string& ShaInput() {
  static const std::string input = [] {
    mesh::SeededRng rng(3);
    std::string data = rng.Bytes(kShaInputBytes);
    std::ofstream(ScratchDir() / "sha_input.bin", std::ios::binary) << data;
    return data;
  }();
  return input;
}

const InstrumentedModule& Module(const std::string& name, bool metering) {
  static std::map<std::pair<std::string, bool>, InstrumentedModule> cache;
  auto key = std::make_pair(name, metering);
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto bytes = mesh::ReadFileToString(kExamples / (name + ".wasm"), 64 << 20);
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(bytes.status().message()).c_str());
      std::exit(1);
    }
    auto m = mesh::wasm::Instrument(*bytes, {.metering = metering});
    if (!m.ok()) {
      std::fprintf(stderr, "instrument %s: %s\n", name.c_str(),
                   std::string(m.status().message()).c_str());
      std::exit(1);
    }
    it = cache.emplace(key, *std::move(m)).first;
  }
  return it->second;
}

Engine& AotEngine() {
  static std::unique_ptr<mesh::wasm::AotEngine> engine = [] {
    auto e = mesh::wasm::AotEngine::Create({.cache_dir = (ScratchDir() / "aot").string()});
    if (!e.ok()) {
      std::fprintf(stderr, "aot: %s\n", std::string(e.status().message()).c_str());
      std::exit(1);
    }
    return *std::move(e);
  }();
  return *engine;
}

Engine& InterpEngine() {
  static std::unique_ptr<Engine> engine = mesh::wasm::MakeInterpEngine();
  return *engine;
}

void RunJob(benchmark::State& state, Engine& engine, const std::string& name, bool metering,
            mesh::wasm::JobInput input) {
  const InstrumentedModule& module = Module(name, metering);
  const std::string id = name + (metering ? "" : "-unmetered");
  for (auto _ : state) {
    auto r = engine.Run(id, module, input, mesh::wasm::Limits{.fuel = 1ull << 62});
    if (!r.ok() || !r->report.ok()) {
      state.SkipWithError(r.ok() ? r->report.message.c_str() : "engine failed");
      break;
    }
    state.counters["fuel"] = static_cast<double>(r->report.fuel_used);
  }
}

void RunNative(benchmark::State& state, const std::string& cmd) {
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    if (std::system(cmd.c_str()) != 0) state.SkipWithError(cmd.c_str());
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

mesh::wasm::JobInput MatmulInput() { return {.args = {"--gen", "256", "1"}}; }
mesh::wasm::JobInput ShaInputJob() { return {.stdin_bytes = ShaInput()}; }

void BM_NativeMatmul(benchmark::State& s) {
  RunNative(s, (kExamples / "matmul_native").string() + " --gen 256 1 >/dev/null 2>&1");
}
void BM_AotMatmul(benchmark::State& s) { RunJob(s, AotEngine(), "matmul", true, MatmulInput()); }
void BM_AotMatmulUnmetered(benchmark::State& s) {
  RunJob(s, AotEngine(), "matmul", false, MatmulInput());
}
void BM_InterpMatmul(benchmark::State& s) {
  RunJob(s, InterpEngine(), "matmul", true, MatmulInput());
}
void BM_NativeSha256(benchmark::State& s) {
  ShaInput();
  RunNative(s, (kExamples / "sha256_native").string() + " <" +
                   (ScratchDir() / "sha_input.bin").string() + " >/dev/null");
}
void BM_AotSha256(benchmark::State& s) { RunJob(s, AotEngine(), "sha256", true, ShaInputJob()); }
void BM_AotSha256Unmetered(benchmark::State& s) {
  RunJob(s, AotEngine(), "sha256", false, ShaInputJob());
}
void BM_InterpSha256(benchmark::State& s) {
  RunJob(s, InterpEngine(), "sha256", true, ShaInputJob());
}
void BM_AotCachedStart(benchmark::State& s) { RunJob(s, AotEngine(), "noop", true, {}); }
void BM_InterpStart(benchmark::State& s) { RunJob(s, InterpEngine(), "noop", true, {}); }

BENCHMARK(BM_NativeMatmul)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1);
BENCHMARK(BM_AotMatmul)->Unit(benchmark::kMillisecond)->MinTime(1);
BENCHMARK(BM_AotMatmulUnmetered)->Unit(benchmark::kMillisecond)->MinTime(1);
BENCHMARK(BM_InterpMatmul)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_NativeSha256)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1);
BENCHMARK(BM_AotSha256)->Unit(benchmark::kMillisecond)->MinTime(1);
BENCHMARK(BM_AotSha256Unmetered)->Unit(benchmark::kMillisecond)->MinTime(1);
BENCHMARK(BM_InterpSha256)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_AotCachedStart)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_InterpStart)->Unit(benchmark::kMicrosecond);

void PrintRatio(const mesh::bench::RatioReporter& r, const char* label, const std::string& a,
                const std::string& b, const char* goal) {
  const double ta = r.Seconds(a), tb = r.Seconds(b);
  if (ta > 0 && tb > 0) std::printf("%-40s %8.2fx  %s\n", label, ta / tb, goal);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // Compile both aot variants before timing anything: compilation is a one-off per module.
  for (const char* name : {"matmul", "sha256", "noop"}) {
    for (bool metering : {true, false}) {
      auto s = static_cast<mesh::wasm::AotEngine&>(AotEngine()).Prepare(Module(name, metering));
      if (!s.ok()) std::fprintf(stderr, "prepare %s: %s\n", name, std::string(s.message()).c_str());
    }
  }
  mesh::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\n");
  PrintRatio(reporter, "matmul 256: aot / native", "BM_AotMatmul", "BM_NativeMatmul",
             "(goal <= 2)");
  PrintRatio(reporter, "matmul 256: interp / native", "BM_InterpMatmul", "BM_NativeMatmul", "");
  PrintRatio(reporter, "sha256 16 MiB: aot / native", "BM_AotSha256", "BM_NativeSha256",
             "(goal <= 2)");
  PrintRatio(reporter, "sha256 16 MiB: interp / native", "BM_InterpSha256", "BM_NativeSha256", "");
  PrintRatio(reporter, "gas overhead matmul: metered / unmetered", "BM_AotMatmul",
             "BM_AotMatmulUnmetered", "(goal <= 1.25)");
  PrintRatio(reporter, "gas overhead sha256: metered / unmetered", "BM_AotSha256",
             "BM_AotSha256Unmetered", "(goal <= 1.25)");
  const double start = reporter.Seconds("BM_AotCachedStart");
  if (start > 0)
    std::printf("%-40s %8.3f ms (goal < 1 ms)\n", "cached aot start (noop job)", start * 1e3);
  benchmark::Shutdown();
  return 0;
}
