// Sandbox benchmarks, each as a ratio measured in this run:
//  - matmul 256x256 and sha256 of 16 MiB: aot and interp against the same C built natively
//    with gcc -O2 -ffp-contract=off (goal: aot <= 2x native);
//  - gas overhead: aot with metering against aot without (goal <= 25%);
//  - start of a cached aot module: instantiate + run of an empty job (goal < 1 ms).
//
//   build/release/bench/wasm_bench                (interp runs are slow: ~1 min in all)
//   build/release/bench/wasm_bench --benchmark_filter='Aot|Native'
//   build/release/bench/wasm_bench --short --json FILE   (Aot|Native only; figures as JSON)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "bench_report.h"
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

// A record of benchmark `a` against benchmark `b` (seconds per run; ratio a / b), if both ran.
void AddRatio(mesh::bench::Report& report, const mesh::bench::RatioReporter& r,
              const std::string& figure, const std::string& a, const std::string& b,
              mesh::bench::Goal goal) {
  const double ta = r.Seconds(a), tb = r.Seconds(b);
  if (ta <= 0 || tb <= 0) return;
  report.Add({.figure = figure,
              .value = ta * 1e3,
              .unit = "ms",
              .baseline = tb * 1e3,
              .ratio = mesh::bench::RatioOf(ta, tb),
              .goal = std::move(goal)});
}

// The figures, their baselines and their goals (issue 15: aot <= 1.5x native on matmul, gas
// overhead <= 1.15x on matmul; the rest from bench/README.md).
mesh::bench::Report Figures(const mesh::bench::RatioReporter& r) {
  using mesh::bench::Goal;
  mesh::bench::Report report("wasm_bench");
  AddRatio(report, r, "matmul 256: aot vs native", "BM_AotMatmul", "BM_NativeMatmul",
           Goal().RatioAtMost(1.5));
  // matmul 1000 (the integrator: these are the names the matmul 1000 benchmarks must have).
  AddRatio(report, r, "matmul 1000: aot vs native", "BM_AotMatmul1000", "BM_NativeMatmul1000",
           Goal().RatioAtMost(1.5));
  AddRatio(report, r, "matmul 256: interp vs native", "BM_InterpMatmul", "BM_NativeMatmul", Goal());
  AddRatio(report, r, "sha256 16 MiB: aot vs native", "BM_AotSha256", "BM_NativeSha256",
           Goal().RatioAtMost(2));
  AddRatio(report, r, "sha256 16 MiB: interp vs native", "BM_InterpSha256", "BM_NativeSha256",
           Goal());
  AddRatio(report, r, "gas overhead, matmul 256 (aot metered vs unmetered)", "BM_AotMatmul",
           "BM_AotMatmulUnmetered", Goal().RatioAtMost(1.15));
  AddRatio(report, r, "gas overhead, matmul 1000 (aot metered vs unmetered)", "BM_AotMatmul1000",
           "BM_AotMatmul1000Unmetered", Goal().RatioAtMost(1.15));
  AddRatio(report, r, "gas overhead, sha256 (aot metered vs unmetered)", "BM_AotSha256",
           "BM_AotSha256Unmetered", Goal().RatioAtMost(1.25));
  if (const double start = r.Seconds("BM_AotCachedStart"); start > 0) {
    report.Add({.figure = "start of a cached aot module (empty job)",
                .value = start * 1e3,
                .unit = "ms",
                .goal = Goal().ValueBelow(1)});
  }
  if (const double start = r.Seconds("BM_InterpStart"); start > 0) {
    report.Add({.figure = "start of the empty job, interp", .value = start * 1e3, .unit = "ms"});
  }
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) {
    std::fprintf(stderr, "wasm_bench: %s\n", error.c_str());
    return 2;
  }
  // Short: the aot and native runs only (the interp runs take minutes and have no goal), unless
  // a --benchmark_filter says otherwise.
  std::vector<char*> args(argv, argv + argc);
  std::string short_filter = "--benchmark_filter=Aot|Native";
  bool has_filter = false;
  for (char* a : args) has_filter |= std::string_view(a).starts_with("--benchmark_filter");
  if (common.short_mode && !has_filter) args.push_back(short_filter.data());
  int args_count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&args_count, args.data());
  // Compile both aot variants before timing anything: compilation is a one-off per module.
  for (const char* name : {"matmul", "sha256", "noop"}) {
    for (bool metering : {true, false}) {
      auto s = static_cast<mesh::wasm::AotEngine&>(AotEngine()).Prepare(Module(name, metering));
      if (!s.ok()) std::fprintf(stderr, "prepare %s: %s\n", name, std::string(s.message()).c_str());
    }
  }
  mesh::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const mesh::bench::Report report = Figures(reporter);
  std::printf("\nfigures and goals:\n%s", report.Text().c_str());
  benchmark::Shutdown();
  if (absl::Status s = report.Write(common.json); !s.ok()) {
    std::fprintf(stderr, "wasm_bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
