// Sandbox benchmarks, each as a ratio measured in this run:
//  - matmul 256x256 and 1000x1000, sha256 of 16 MiB: aot and interp against the same C built
//    natively with gcc -O2 -ffp-contract=off (goal: matmul aot <= 1.5x native, sha256 <= 2x);
//  - gas overhead: aot with metering against aot without (goal: matmul <= 1.15x, sha256 1.25x);
//  - start of a cached aot module: instantiate + run of an empty job (goal < 1 ms).
// Each ratio is printed from wall times and from CPU times (the job's thread on aot, the child
// process on native): on a shared machine the CPU ratio is the steadier one.
//
//   build/release/bench/wasm_bench                (interp runs are slow: ~1 min in all)
//   build/release/bench/wasm_bench --benchmark_filter='Aot|Native'
//   build/release/bench/wasm_bench --short --json FILE   (or MESH_BENCH_SHORT=1: fewer
//                     repetitions, no interp runs, ~20 s; figures as JSON)
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <time.h>

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
    // MESH_BENCH_PER_ITERATION_GAS=1: charge every loop iteration (the scheme before counted
    // loops), for an A/B of the instrumentation in one binary.
    const char* per_iteration = std::getenv("MESH_BENCH_PER_ITERATION_GAS");
    const bool count_loops = per_iteration == nullptr || std::string(per_iteration) != "1";
    auto m = mesh::wasm::Instrument(*bytes, {.metering = metering, .count_loops = count_loops});
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

// Per-iteration CPU seconds of each benchmark, by name: the figures the CPU ratios use. On a
// shared machine a run's wall time includes other processes' turns; its CPU time does not.
std::map<std::string, double>& CpuSeconds() {
  static std::map<std::string, double> seconds;
  return seconds;
}

double ThreadCpuSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double ChildrenCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void RunJob(benchmark::State& state, const std::string& label, Engine& engine,
            const std::string& name, bool metering, const mesh::wasm::JobInput& input) {
  const InstrumentedModule& module = Module(name, metering);
  const std::string id = name + (metering ? "" : "-unmetered");
  double cpu = 0;
  for (auto _ : state) {
    const double start = ThreadCpuSeconds();
    auto r = engine.Run(id, module, input, mesh::wasm::Limits{.fuel = 1ull << 62});
    cpu += ThreadCpuSeconds() - start;
    if (!r.ok() || !r->report.ok()) {
      state.SkipWithError(r.ok() ? r->report.message.c_str() : "engine failed");
      return;
    }
    state.counters["fuel"] = static_cast<double>(r->report.fuel_used);
  }
  if (state.iterations() == 0) return;
  CpuSeconds()[label] = cpu / static_cast<double>(state.iterations());
  state.counters["cpu_ms"] = CpuSeconds()[label] * 1e3;
}

void RunNative(benchmark::State& state, const std::string& label, const std::string& cmd) {
  double cpu = 0;
  for (auto _ : state) {
    const double cpu_start = ChildrenCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    if (std::system(cmd.c_str()) != 0) state.SkipWithError(cmd.c_str());
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    cpu += ChildrenCpuSeconds() - cpu_start;
  }
  if (state.iterations() == 0) return;
  CpuSeconds()[label] = cpu / static_cast<double>(state.iterations());
  state.counters["cpu_ms"] = CpuSeconds()[label] * 1e3;
}

mesh::wasm::JobInput MatmulInput(int n) { return {.args = {"--gen", std::to_string(n), "1"}}; }
mesh::wasm::JobInput ShaInputJob() { return {.stdin_bytes = ShaInput()}; }

std::string NativeMatmul(int n) {
  return (kExamples / "matmul_native").string() + " --gen " + std::to_string(n) +
         " 1 >/dev/null 2>&1";
}

std::string NativeSha256() {
  ShaInput();
  return (kExamples / "sha256_native").string() + " <" + (ScratchDir() / "sha_input.bin").string() +
         " >/dev/null";
}

// Short mode (--short or MESH_BENCH_SHORT=1, for scripts/bench): fewer repetitions, same
// benchmarks but the interpreter ones (a minute on their own).
struct BenchPlan {
  bool short_mode = false;
  double min_time() const { return short_mode ? 0.2 : 1.0; }
  int big_iterations() const { return short_mode ? 1 : 3; }
};

void RegisterAll(const BenchPlan& plan) {
  auto timed = [&](const char* name, auto fn) {
    return benchmark::RegisterBenchmark(name, fn)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(plan.min_time());
  };
  auto once = [&](const char* name, int iterations, auto fn) {
    return benchmark::RegisterBenchmark(name, fn)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(iterations);
  };
  timed("BM_NativeMatmul", [](benchmark::State& s) {
    RunNative(s, "BM_NativeMatmul", NativeMatmul(256));
  })->UseManualTime();
  timed("BM_AotMatmul", [](benchmark::State& s) {
    RunJob(s, "BM_AotMatmul", AotEngine(), "matmul", true, MatmulInput(256));
  });
  timed("BM_AotMatmulUnmetered", [](benchmark::State& s) {
    RunJob(s, "BM_AotMatmulUnmetered", AotEngine(), "matmul", false, MatmulInput(256));
  });
  once("BM_NativeMatmul1000", plan.big_iterations(), [](benchmark::State& s) {
    RunNative(s, "BM_NativeMatmul1000", NativeMatmul(1000));
  })->UseManualTime();
  once("BM_AotMatmul1000", plan.big_iterations(), [](benchmark::State& s) {
    RunJob(s, "BM_AotMatmul1000", AotEngine(), "matmul", true, MatmulInput(1000));
  });
  once("BM_AotMatmul1000Unmetered", plan.big_iterations(), [](benchmark::State& s) {
    RunJob(s, "BM_AotMatmul1000Unmetered", AotEngine(), "matmul", false, MatmulInput(1000));
  });
  if (!plan.short_mode) {
    once("BM_InterpMatmul", 1, [](benchmark::State& s) {
      RunJob(s, "BM_InterpMatmul", InterpEngine(), "matmul", true, MatmulInput(256));
    });
  }
  timed("BM_NativeSha256", [](benchmark::State& s) {
    RunNative(s, "BM_NativeSha256", NativeSha256());
  })->UseManualTime();
  timed("BM_AotSha256", [](benchmark::State& s) {
    RunJob(s, "BM_AotSha256", AotEngine(), "sha256", true, ShaInputJob());
  });
  timed("BM_AotSha256Unmetered", [](benchmark::State& s) {
    RunJob(s, "BM_AotSha256Unmetered", AotEngine(), "sha256", false, ShaInputJob());
  });
  if (!plan.short_mode) {
    once("BM_InterpSha256", 1, [](benchmark::State& s) {
      RunJob(s, "BM_InterpSha256", InterpEngine(), "sha256", true, ShaInputJob());
    });
  }
  benchmark::RegisterBenchmark("BM_AotCachedStart", [](benchmark::State& s) {
    RunJob(s, "BM_AotCachedStart", AotEngine(), "noop", true, {});
  })->Unit(benchmark::kMicrosecond);
  if (!plan.short_mode) {
    benchmark::RegisterBenchmark("BM_InterpStart", [](benchmark::State& s) {
      RunJob(s, "BM_InterpStart", InterpEngine(), "noop", true, {});
    })->Unit(benchmark::kMicrosecond);
  }
}

// A record of benchmark `a` against benchmark `b` (ratio a / b), if both ran. CPU time per run
// where both have it (the job's thread on aot, the child process on native): on a shared
// machine it is the steadier figure; wall time otherwise.
void AddRatio(mesh::bench::Report& report, const mesh::bench::RatioReporter& r,
              const std::string& figure, const std::string& a, const std::string& b,
              mesh::bench::Goal goal) {
  double ta = r.Seconds(a), tb = r.Seconds(b);
  if (ta <= 0 || tb <= 0) return;
  const double ca = CpuSeconds()[a], cb = CpuSeconds()[b];
  const bool cpu = ca > 0 && cb > 0;
  if (cpu) ta = ca, tb = cb;
  report.Add({.figure = figure + (cpu ? " (CPU time)" : " (wall time)"),
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
  BenchPlan plan;
  const char* short_env = std::getenv("MESH_BENCH_SHORT");
  plan.short_mode = common.short_mode ||
                    (short_env != nullptr && *short_env != '\0' && std::string(short_env) != "0");
  benchmark::Initialize(&argc, argv);
  // Compile both aot variants before timing anything: compilation is a one-off per module.
  for (const char* name : {"matmul", "sha256", "noop"}) {
    for (bool metering : {true, false}) {
      auto s = static_cast<mesh::wasm::AotEngine&>(AotEngine()).Prepare(Module(name, metering));
      if (!s.ok()) std::fprintf(stderr, "prepare %s: %s\n", name, std::string(s.message()).c_str());
    }
  }
  RegisterAll(plan);
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
