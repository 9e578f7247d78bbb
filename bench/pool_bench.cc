// Tiny-job throughput of warm sandboxed workers: an empty job (examples/noop.c) through a
// WorkerPool of 2 workers from 8 submitting threads, on each engine (goal >= 5,000 jobs/s on
// 2 cores). The baseline in the same run is what warm workers save: starting a process per job
// (posix_spawn of /bin/true and waitpid, which does no work at all).
//
//   build/release/bench/pool_bench
//   build/release/bench/pool_bench --json FILE     (the figures as JSON records; --short: the same)
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "bench_report.h"
#include "mesh/cas/cid.h"
#include "mesh/common/file_util.h"
#include "mesh/exec/worker_pool.h"
#include "mesh/wasm/aot_engine.h"
#include "ratio_reporter.h"

extern char** environ;

namespace {

using mesh::exec::RunRequest;
using mesh::exec::WorkerPool;
using mesh::wasm::EngineKind;

constexpr int kWorkers = 2;
constexpr int kThreads = 8;

std::shared_ptr<const std::string> NoopModule() {
  static auto bytes = [] {
    auto b = mesh::ReadFileToString(std::string(MESH_EXAMPLES_DIR) + "/noop.wasm", 1 << 20);
    if (!b.ok()) {
      std::fprintf(stderr, "noop.wasm: %s\n", std::string(b.status().message()).c_str());
      std::exit(1);
    }
    return std::make_shared<const std::string>(*std::move(b));
  }();
  return bytes;
}

RunRequest NoopRequest() {
  RunRequest r;
  r.module_wasm = NoopModule();
  r.module_id = mesh::cas::Cid::Of(*r.module_wasm).ToString();
  return r;
}

// Pools are started from main before any benchmark thread runs; threads only look them up.
std::map<EngineKind, std::unique_ptr<WorkerPool>>& Pools() {
  static std::map<EngineKind, std::unique_ptr<WorkerPool>> pools;
  return pools;
}

void StartPool(EngineKind engine) {
  auto& pool = Pools()[engine];
  {
    mesh::exec::PoolOptions options;
    options.worker_path = MESH_WORKER_PATH;
    options.workers = kWorkers;
    options.engine = engine;
    options.aot_cache_dir = "/tmp/mesh_pool_bench_aot";
    auto started = WorkerPool::Start(options);
    if (!started.ok()) {
      std::fprintf(stderr, "pool: %s\n", std::string(started.status().message()).c_str());
      std::exit(1);
    }
    pool = *std::move(started);
    (void)pool->Run(NoopRequest());  // warm: instrumented, compiled, sent to a worker
  }
}

void BM_PoolNoop(benchmark::State& state) {
  const auto engine = static_cast<EngineKind>(state.range(0));
  WorkerPool& pool = *Pools().at(engine);
  const RunRequest request = NoopRequest();
  for (auto _ : state) {
    auto r = pool.Run(request);
    if (!r.ok() || !r->report.ok()) {
      state.SkipWithError("job failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PoolNoop)
    ->ArgName("engine")
    ->Arg(static_cast<int>(EngineKind::kInterp))
    ->Arg(static_cast<int>(EngineKind::kAot))
    ->Threads(kThreads)
    ->UseRealTime()
    ->MinTime(2);

void BM_SpawnProcessBaseline(benchmark::State& state) {
  char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
  for (auto _ : state) {
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    int status;
    waitpid(pid, &status, 0);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SpawnProcessBaseline)->Threads(kThreads)->UseRealTime()->MinTime(2);

}  // namespace

int main(int argc, char** argv) {
  // --short changes nothing: the whole bench takes ~10 s.
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) {
    std::fprintf(stderr, "pool_bench: %s\n", error.c_str());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  StartPool(EngineKind::kInterp);
  StartPool(EngineKind::kAot);
  mesh::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  Pools().clear();  // shut the workers down before reporting
  mesh::bench::Report report("pool_bench");
  const double spawn = reporter.Rate("BM_SpawnProcessBaseline");
  for (auto [name, engine] :
       {std::pair{"interp", EngineKind::kInterp}, std::pair{"aot", EngineKind::kAot}}) {
    const double rate =
        reporter.Rate("BM_PoolNoop/engine:" + std::to_string(static_cast<int>(engine)));
    if (rate <= 0) continue;
    std::printf("tiny jobs, warm workers, %-6s: %8.0f jobs/s (goal >= 5000)", name, rate);
    if (spawn > 0) std::printf(", %.1fx a process per job", rate / spawn);
    std::printf("\n");
    report.Add({.figure = std::string("empty jobs, 2 warm workers, 8 threads, ") + name +
                          " (baseline: a process per job)",
                .value = rate,
                .unit = "jobs/s",
                .baseline = spawn > 0 ? std::optional<double>(spawn) : std::nullopt,
                .ratio = mesh::bench::RatioOf(rate, spawn),
                .goal = mesh::bench::Goal().ValueAtLeast(5000)});
  }
  benchmark::Shutdown();
  std::printf("\nfigures and goals:\n%s", report.Text().c_str());
  if (absl::Status s = report.Write(common.json); !s.ok()) {
    std::fprintf(stderr, "pool_bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
