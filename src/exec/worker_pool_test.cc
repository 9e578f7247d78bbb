// WorkerPool against real mesh-worker processes running the example jobs: results, limits,
// recovery after each limit, isolation between jobs, worker death, shutdown and concurrency.
#include "mesh/exec/worker_pool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "mesh/common/file_util.h"
#include "mesh/common/hex.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/sha256.h"
#include "pool_test_util.h"
#include "testing/wat.h"

namespace mesh::exec {
namespace {

using testing::ExampleRequest;
using testing::ModuleRequest;
using testing::WaitUntil;
using wasm::Outcome;

class WorkerPoolTest : public testing::EngineTest {};

wasm::RunResult MustRun(WorkerPool& pool, RunRequest request) {
  absl::StatusOr<wasm::RunResult> result = pool.Run(std::move(request));
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : wasm::RunResult{};
}

wasm::Limits WithFuelAndTime(uint64_t fuel, absl::Duration wall) {
  wasm::Limits limits;
  limits.fuel = fuel;
  limits.wall_time = wall;
  return limits;
}

// The pool still runs a normal job correctly.
void ExpectHealthy(WorkerPool& pool) {
  wasm::RunResult r = MustRun(pool, ExampleRequest("hello"));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.output, "hello, mesh\n");
}

// Every worker process the test started has been reaped.
void ExpectNoChildren() {
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_P(WorkerPoolTest, RunsHello) {
  auto pool = StartPool(1);
  wasm::RunResult r = MustRun(*pool, ExampleRequest("hello"));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.report.exit_code, 0);
  EXPECT_EQ(r.output, "hello, mesh\n");
  EXPECT_EQ(r.report.output_bytes, r.output.size());
  EXPECT_EQ(r.report.output_cid, cas::Cid::Of("hello, mesh\n").ToString());
  EXPECT_EQ(r.report.engine, wasm::EngineName(GetParam()));
  EXPECT_GT(r.report.fuel_used, 0u);
}

TEST_P(WorkerPoolTest, EchoesInput) {
  auto pool = StartPool(1);
  std::string input;
  for (int i = 0; i < 20000; ++i) input += static_cast<char>(i * 31);
  wasm::RunResult r = MustRun(*pool, ExampleRequest("echo", input));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.output, input);
}

TEST_P(WorkerPoolTest, CountsWords) {
  auto pool = StartPool(1);
  wasm::RunResult r = MustRun(*pool, ExampleRequest("wordcount", "one two\nthree\n"));
  EXPECT_EQ(r.output, "2 3 14\n");
}

TEST_P(WorkerPoolTest, Sha256MatchesTheHostHash) {
  auto pool = StartPool(1);
  std::string input(100000, '\0');
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>((i * 7919) >> 3);
  wasm::RunResult r = MustRun(*pool, ExampleRequest("sha256", input));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.output, HexEncode(crypto::DigestToString(crypto::Sha256Of(input))) + "\n");
}

TEST_P(WorkerPoolTest, CountsPrimes) {
  auto pool = StartPool(1);
  wasm::RunResult r = MustRun(*pool, ExampleRequest("primes", "", {"100"}));
  EXPECT_EQ(r.output, "primes<=100: 25 last=97\n");
}

TEST_P(WorkerPoolTest, CarriesProgressCheckpointsAndPartials) {
  auto pool = StartPool(1);
  wasm::RunResult r = MustRun(*pool, ExampleRequest("progress", "", {"1000"}));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.report.progress.size(), 10u);
  EXPECT_EQ(r.report.checkpoints.size(), 2u);
  EXPECT_EQ(r.report.partials.size(), 10u);
  EXPECT_EQ(r.checkpoint.size(), 24u);
  EXPECT_EQ(r.partials.substr(0, 10), "partial 1\n");
}

TEST_P(WorkerPoolTest, FuelLimitThenRecovers) {
  auto pool = StartPool(1);
  RunRequest req = ExampleRequest("loop");
  req.limits = WithFuelAndTime(1'000'000, absl::Seconds(30));
  wasm::RunResult r = MustRun(*pool, std::move(req));
  EXPECT_EQ(r.report.outcome, Outcome::kFuelExhausted) << r.report.message;
  EXPECT_EQ(r.report.fuel_used, 1'000'000u);
  EXPECT_NE(r.report.message.find("--fuel"), std::string::npos);
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, MemoryLimitReachedThenRecovers) {
  auto pool = StartPool(1);
  const std::vector<pid_t> before = pool->WorkerPids();
  RunRequest req = ExampleRequest("membomb");
  req.limits = wasm::Limits{};
  req.limits->memory_bytes = 16 << 20;
  wasm::RunResult r = MustRun(*pool, std::move(req));
  // malloc returned NULL (memory.grow said -1) and membomb aborted: a trap that names the limit.
  EXPECT_EQ(r.report.outcome, Outcome::kTrap) << r.report.message;
  EXPECT_GE(r.report.memory_grows_refused, 1u);
  EXPECT_NE(r.report.message.find("raise --memory"), std::string::npos) << r.report.message;
  EXPECT_LE(r.report.peak_memory_bytes, 16u << 20);
  EXPECT_NE(r.report.stderr_tail.find("malloc failed"), std::string::npos);
  ExpectHealthy(*pool);
  EXPECT_EQ(pool->WorkerPids(), before);  // a limit inside the engine costs no worker
}

TEST_P(WorkerPoolTest, WallTimeoutKillsAndReplacesTheWorker) {
  auto pool = StartPool(1);
  const std::vector<pid_t> before = pool->WorkerPids();
  RunRequest req = ExampleRequest("loop");
  req.limits = WithFuelAndTime(1'000'000'000'000'000, absl::Seconds(1));
  const auto start = std::chrono::steady_clock::now();
  wasm::RunResult r = MustRun(*pool, std::move(req));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.report.outcome, Outcome::kTimeout) << r.report.message;
  EXPECT_EQ(r.report.message, "job exceeded its wall-time limit of 1s; raise --timeout");
  EXPECT_GE(took, std::chrono::seconds(1));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_NE(pool->WorkerPids(), before);
  EXPECT_FALSE(testing::ProcessExists(before[0]));  // killed and reaped
  EXPECT_EQ(pool->stats().timeouts, 1u);
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, CombinedLimitsStopAtTheFirstOneReached) {
  auto pool = StartPool(1);
  // Fuel runs out long before the second passes.
  RunRequest loop = ExampleRequest("loop");
  loop.limits = WithFuelAndTime(5'000'000, absl::Seconds(1));
  loop.limits->memory_bytes = 16 << 20;
  EXPECT_EQ(MustRun(*pool, std::move(loop)).report.outcome, Outcome::kFuelExhausted);
  ExpectHealthy(*pool);
  // Memory runs out before fuel or time.
  RunRequest bomb = ExampleRequest("membomb");
  bomb.limits = WithFuelAndTime(100'000'000'000, absl::Seconds(20));
  bomb.limits->memory_bytes = 8 << 20;
  const wasm::RunReport bombed = MustRun(*pool, std::move(bomb)).report;
  EXPECT_EQ(bombed.outcome, Outcome::kTrap);
  EXPECT_GE(bombed.memory_grows_refused, 1u);
  ExpectHealthy(*pool);
  // Time runs out before fuel, with a tight memory limit that is never reached.
  RunRequest slow = ExampleRequest("loop");
  slow.limits = WithFuelAndTime(1'000'000'000'000'000, absl::Milliseconds(300));
  slow.limits->memory_bytes = 4 << 20;
  EXPECT_EQ(MustRun(*pool, std::move(slow)).report.outcome, Outcome::kTimeout);
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, StackOverflowThenRecovers) {
  auto pool = StartPool(1);
  wasm::RunResult r = MustRun(*pool, ExampleRequest("recursion"));
  EXPECT_EQ(r.report.outcome, Outcome::kStackOverflow) << r.report.message;
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, TrapsAndExitCodesAreReported) {
  auto pool = StartPool(1);
  wasm::RunResult trap = MustRun(*pool, ExampleRequest("trap", "", {"divzero"}));
  EXPECT_EQ(trap.report.outcome, Outcome::kTrap);
  EXPECT_FALSE(trap.report.trap_kind.empty());
  wasm::RunResult exit42 = MustRun(*pool, ExampleRequest("trap", "", {"exit42"}));
  EXPECT_EQ(exit42.report.outcome, Outcome::kOk);
  EXPECT_EQ(exit42.report.exit_code, 42);
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, FuelIsExactAcrossRunsAndWorkers) {
  auto pool = StartPool(2);
  std::vector<uint64_t> fuel(16);
  std::thread other([&] {
    for (size_t i = 0; i < 8; ++i) {
      fuel[i] = MustRun(*pool, ExampleRequest("primes", "", {"5000"})).report.fuel_used;
    }
  });
  for (size_t i = 8; i < 16; ++i) {
    fuel[i] = MustRun(*pool, ExampleRequest("primes", "", {"5000"})).report.fuel_used;
  }
  other.join();
  auto fresh = StartPool(1);  // and in another pool's brand-new worker
  const uint64_t want = MustRun(*fresh, ExampleRequest("primes", "", {"5000"})).report.fuel_used;
  EXPECT_GT(want, 0u);
  for (uint64_t f : fuel) EXPECT_EQ(f, want);
}

TEST_P(WorkerPoolTest, ProbeReachesNothingButItsOwnEnv) {
  auto pool = StartPool(1);
  RunRequest req = ExampleRequest("probe");
  req.input.env = {{"ONLY", "this"}};
  wasm::RunResult r = MustRun(*pool, std::move(req));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  const std::string& out = r.output;
  EXPECT_EQ(out.find("opened"), std::string::npos) << out;
  EXPECT_EQ(out.find("wrote"), std::string::npos) << out;
  EXPECT_NE(out.find("probe getenv HOME: (unset)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("probe getenv PATH: (unset)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("probe env: ONLY=this\n"), std::string::npos) << out;
  EXPECT_NE(out.find("probe env count: 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("probe write fd 3: Bad file descriptor\n"), std::string::npos) << out;
}

// Reads a byte of memory and a global, prints both as digits, then sets both: a job that
// inherited anything from the one before would print "75".
constexpr char kLeakCheck[] = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "_start")
    (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.load8_u (i32.const 1024))))
    (i32.store8 (i32.const 101) (i32.add (i32.const 48) (global.get $g)))
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store8 (i32.const 1024) (i32.const 7))
    (global.set $g (i32.const 5)))))";

TEST_P(WorkerPoolTest, JobsInTheSameWorkerSeeNothingOfEachOther) {
  auto pool = StartPool(1);
  const std::vector<pid_t> worker = pool->WorkerPids();
  auto wasm = std::make_shared<const std::string>(wasm::testing::WatToWasm(kLeakCheck));
  for (int i = 0; i < 3; ++i) {
    wasm::RunResult r = MustRun(*pool, ModuleRequest(wasm));
    EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
    EXPECT_EQ(r.output, "00") << "run " << i;
  }
  // Input, args and env do not carry over either.
  RunRequest first = ExampleRequest("probe");
  first.input.env = {{"SECRET", "1"}};
  MustRun(*pool, std::move(first));
  wasm::RunResult second = MustRun(*pool, ExampleRequest("probe"));
  EXPECT_NE(second.output.find("probe env count: 0\n"), std::string::npos) << second.output;
  MustRun(*pool, ExampleRequest("echo", "secret input"));
  EXPECT_EQ(MustRun(*pool, ExampleRequest("echo")).output, "");
  EXPECT_EQ(pool->WorkerPids(), worker);  // all of it in one worker process
}

// Prints 16 random bytes and the realtime clock.
constexpr char kRandomAndClock[] = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $rand (i32.const 100) (i32.const 16)))
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 116)))
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 24))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))))";

TEST_P(WorkerPoolTest, RealClockAndRandomnessWorkInsideTheSandbox) {
  auto pool = StartPool(1);
  auto wasm = std::make_shared<const std::string>(wasm::testing::WatToWasm(kRandomAndClock));
  std::vector<std::string> outputs;
  for (bool deterministic : {true, true, false, false}) {
    RunRequest req = ModuleRequest(wasm);
    req.input.deterministic = deterministic;
    req.input.seed.fill(3);
    wasm::RunResult r = MustRun(*pool, std::move(req));
    EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
    ASSERT_EQ(r.output.size(), 24u);
    outputs.push_back(r.output);
  }
  EXPECT_EQ(outputs[0], outputs[1]);                              // same seed, virtual clock
  EXPECT_NE(outputs[2].substr(0, 16), outputs[3].substr(0, 16));  // getrandom
  EXPECT_NE(outputs[2].substr(16), outputs[0].substr(16));        // the real clock
  EXPECT_EQ(pool->stats().crashes, 0u);
}

TEST_P(WorkerPoolTest, WorkerKilledMidJobIsReportedAndReplaced) {
  auto pool = StartPool(1);
  const pid_t victim = pool->WorkerPids()[0];
  absl::StatusOr<wasm::RunResult> result;
  std::thread caller([&] {
    RunRequest req = ExampleRequest("loop");
    req.limits = WithFuelAndTime(1'000'000'000'000'000, absl::Seconds(20));
    result = pool->Run(std::move(req));
  });
  ASSERT_TRUE(WaitUntil([&] { return pool->stats().jobs_started == 1; }));
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  caller.join();
  ASSERT_OK(result);
  EXPECT_EQ(result->report.outcome, Outcome::kCrashed);
  EXPECT_NE(result->report.message.find("killed by signal 9 (SIGKILL)"), std::string::npos)
      << result->report.message;
  EXPECT_LT(result->report.wall_time, absl::Seconds(10));
  EXPECT_FALSE(testing::ProcessExists(victim));
  EXPECT_EQ(pool->stats().crashes, 1u);
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, WorkerKilledWhileIdleIsReplacedBeforeTheNextJob) {
  auto pool = StartPool(1);
  const pid_t victim = pool->WorkerPids()[0];
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil(
      [&] { return ::access(("/proc/" + std::to_string(victim) + "/fd/3").c_str(), F_OK) != 0; }));
  ExpectHealthy(*pool);  // not a crash: the job never reached the dead worker
  EXPECT_EQ(pool->stats().crashes, 0u);
  EXPECT_NE(pool->WorkerPids()[0], victim);
}

TEST_P(WorkerPoolTest, BadModulesAreOutcomesNotErrors) {
  auto pool = StartPool(1);
  wasm::RunResult bad =
      MustRun(*pool, ModuleRequest(std::make_shared<const std::string>("not wasm")));
  EXPECT_EQ(bad.report.outcome, Outcome::kInvalidModule);
  EXPECT_NE(bad.report.message.find("cannot run"), std::string::npos) << bad.report.message;
  auto unsupported = std::make_shared<const std::string>(wasm::testing::WatToWasm(R"((module
    (import "env" "launch_missiles" (func))
    (func (export "_start") (call 0))))"));
  wasm::RunResult r = MustRun(*pool, ModuleRequest(unsupported));
  EXPECT_EQ(r.report.outcome, Outcome::kUnsupportedImport) << r.report.message;
  EXPECT_NE(r.report.message.find("launch_missiles"), std::string::npos) << r.report.message;
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, RefusesBadRequests) {
  auto pool = StartPool(1);
  RunRequest other_engine = ExampleRequest("hello");
  other_engine.engine =
      GetParam() == wasm::EngineKind::kAot ? wasm::EngineKind::kInterp : wasm::EngineKind::kAot;
  EXPECT_TRUE(absl::IsInvalidArgument(pool->Run(std::move(other_engine)).status()));
  RunRequest no_bytes;
  no_bytes.module_id = "bafy-never-seen";
  EXPECT_TRUE(absl::IsNotFound(pool->Run(std::move(no_bytes)).status()));
  RunRequest no_time = ExampleRequest("hello");
  no_time.limits = wasm::Limits{};
  no_time.limits->wall_time = absl::ZeroDuration();
  EXPECT_TRUE(absl::IsInvalidArgument(pool->Run(std::move(no_time)).status()));
}

TEST_P(WorkerPoolTest, OversizedRequestIsRefusedAndThePoolGoesOn) {
  PoolOptions options = Options(1);
  options.max_frame_bytes = 1 << 20;
  ASSERT_OK_AND_ASSIGN(auto pool, WorkerPool::Start(options));
  absl::Status s = pool->Run(ExampleRequest("echo", std::string(2 << 20, 'x'))).status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find("over the worker message limit of 1048576 bytes"),
            absl::string_view::npos)
      << s;
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, ModulesAreResentWhenTheWorkerDroppedThem) {
  PoolOptions options = Options(1);
  options.worker_module_cache_bytes = 1;  // the worker keeps only the latest module
  ASSERT_OK_AND_ASSIGN(auto pool, WorkerPool::Start(options));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(MustRun(*pool, ExampleRequest("hello")).output, "hello, mesh\n");
    EXPECT_EQ(MustRun(*pool, ExampleRequest("echo", "x")).output, "x");
  }
}

// Large named stdin pieces go as shared memory (shared_input.h); small or unnamed ones inline.
RunRequest EchoPieces(const std::vector<std::pair<std::string, std::string>>& pieces) {
  RunRequest r = ExampleRequest("echo");
  for (const auto& [cid, bytes] : pieces) {
    r.input.stdin_pieces.push_back(wasm::StdinPiece::Owned(cid, bytes));
  }
  return r;
}

std::string Bytes(size_t size, int salt) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + salt) >> 3);
  return s;
}

TEST_P(WorkerPoolTest, SharedInputsGiveTheSameOutputAsCopiedOnes) {
  auto pool = StartPool(1);
  const std::string big = Bytes(3 << 20, 1), small = Bytes(1000, 2), other = Bytes(200 << 10, 3);
  const std::string big_cid = cas::Cid::Of(big).ToString();
  const std::string other_cid = cas::Cid::Of(other).ToString();
  const std::string whole = small + big + other + big;
  // The copying path: everything in stdin_bytes.
  EXPECT_EQ(MustRun(*pool, ExampleRequest("echo", whole)).output, whole);
  // Shared: the first run sends the memfds, the next ones name the CIDs only (cached).
  for (int i = 0; i < 3; ++i) {
    RunRequest r = EchoPieces({{"", small}, {big_cid, big}, {other_cid, other}, {big_cid, big}});
    wasm::RunResult result = MustRun(*pool, std::move(r));
    EXPECT_EQ(result.report.outcome, Outcome::kOk) << result.report.message;
    EXPECT_TRUE(result.output == whole) << "run " << i << ": output differs";
    EXPECT_EQ(result.report.output_cid, cas::Cid::Of(whole).ToString());
  }
  // Another input of the same size under another CID: its own bytes, never the cached ones.
  const std::string twin = Bytes(3 << 20, 9);
  EXPECT_TRUE(MustRun(*pool, EchoPieces({{cas::Cid::Of(twin).ToString(), twin}})).output == twin);
  // stdin_bytes first, then the pieces.
  RunRequest mixed = EchoPieces({{big_cid, big}});
  mixed.input.stdin_bytes = "head:";
  EXPECT_TRUE(MustRun(*pool, std::move(mixed)).output == "head:" + big);
}

TEST_P(WorkerPoolTest, SharedInputsAreResentWhenTheWorkerCannotKeepThem) {
  PoolOptions options = Options(1);
  options.worker_input_cache_bytes = 100 << 10;  // smaller than the input: never kept
  ASSERT_OK_AND_ASSIGN(auto pool, WorkerPool::Start(options));
  const std::string big = Bytes(1 << 20, 4);
  const std::string cid = cas::Cid::Of(big).ToString();
  for (int i = 0; i < 3; ++i) {
    wasm::RunResult r = MustRun(*pool, EchoPieces({{cid, big}}));
    EXPECT_TRUE(r.output == big) << "run " << i;
  }
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, SharedInputsCountAgainstTheMessageLimit) {
  PoolOptions options = Options(1);
  options.max_frame_bytes = 1 << 20;
  ASSERT_OK_AND_ASSIGN(auto pool, WorkerPool::Start(options));
  const std::string big = Bytes(2 << 20, 5);
  absl::Status s = pool->Run(EchoPieces({{cas::Cid::Of(big).ToString(), big}})).status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, ShutdownLetsRunningJobsFinish) {
  auto pool = StartPool(2);
  // Jobs of a few hundred milliseconds on either engine.
  const bool aot = GetParam() == wasm::EngineKind::kAot;
  const std::string limit = aot ? "100000000" : "200000";
  const std::string want =
      aot ? "primes<=100000000: 5761455 last=99999989\n" : "primes<=200000: 17984 last=199999\n";
  std::vector<absl::StatusOr<wasm::RunResult>> results(2);
  std::vector<std::thread> callers;
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&, i] { results[i] = pool->Run(ExampleRequest("primes", "", {limit})); });
  }
  ASSERT_TRUE(WaitUntil([&] { return pool->stats().jobs_started == 2; }));
  pool->Shutdown(absl::Seconds(60));
  for (auto& t : callers) t.join();
  for (auto& r : results) {
    ASSERT_OK(r);
    EXPECT_EQ(r->output, want);
  }
  EXPECT_TRUE(absl::IsUnavailable(pool->Run(ExampleRequest("hello")).status()));
  EXPECT_EQ(pool->stats().workers, 0);
  ExpectNoChildren();
}

TEST_P(WorkerPoolTest, ShutdownKillsJobsPastTheGracePeriod) {
  auto pool = StartPool(1);
  absl::StatusOr<wasm::RunResult> result;
  std::thread caller([&] {
    RunRequest req = ExampleRequest("loop");
    req.limits = WithFuelAndTime(1'000'000'000'000'000, absl::Seconds(60));
    result = pool->Run(std::move(req));
  });
  ASSERT_TRUE(WaitUntil([&] { return pool->stats().jobs_started == 1; }));
  const auto start = std::chrono::steady_clock::now();
  pool->Shutdown(absl::Milliseconds(100));
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(absl::IsAborted(result.status())) << result.status();
  ExpectNoChildren();
}

TEST_P(WorkerPoolTest, ManyThreadsManyJobsEachCompletesOnce) {
  auto pool = StartPool(2);
  constexpr int kThreads = 4;
  constexpr int kJobsPerThread = 200;
  auto echo = testing::ExampleBytes("echo");
  absl::Mutex mu;
  std::multiset<std::string> outputs;
  std::atomic<int> failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kJobsPerThread; ++i) {
        absl::StatusOr<wasm::RunResult> r =
            pool->Run(ModuleRequest(echo, std::to_string(t) + "/" + std::to_string(i)));
        if (!r.ok() || r->report.outcome != Outcome::kOk) {
          ++failures;
          continue;
        }
        absl::MutexLock lock(&mu);
        outputs.insert(r->output);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  ASSERT_EQ(outputs.size(), static_cast<size_t>(kThreads * kJobsPerThread));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kJobsPerThread; ++i) {
      EXPECT_EQ(outputs.count(std::to_string(t) + "/" + std::to_string(i)), 1u);
    }
  }
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.jobs_finished, static_cast<uint64_t>(kThreads * kJobsPerThread));
  EXPECT_EQ(stats.workers_spawned, 2u);  // nobody crashed or was replaced
}

TEST_P(WorkerPoolTest, RunAsyncCallsBackOncePerJob) {
  auto pool = StartPool(2);
  absl::Mutex mu;
  int done = 0, ok = 0;
  constexpr int kJobs = 50;
  for (int i = 0; i < kJobs; ++i) {
    pool->RunAsync(ExampleRequest("echo", std::to_string(i)),
                   [&, i](absl::StatusOr<wasm::RunResult> r) {
                     absl::MutexLock lock(&mu);
                     ++done;
                     if (r.ok() && r->output == std::to_string(i)) ++ok;
                   });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* d) { return *d == kJobs; }, &done));
  }
  EXPECT_EQ(ok, kJobs);
  pool->Shutdown();
  bool called = false;
  pool->RunAsync(ExampleRequest("hello"), [&](absl::StatusOr<wasm::RunResult> r) {
    called = true;
    EXPECT_TRUE(absl::IsUnavailable(r.status()));
  });
  EXPECT_TRUE(called);
}

TEST_P(WorkerPoolTest, ProgressArrivesWhileTheJobRuns) {
  auto pool = StartPool(1);
  std::vector<wasm::ProgressRecord> seen;
  RunRequest req = ExampleRequest("progress", "", {"100000"});
  req.input.on_progress = [&](const wasm::ProgressRecord& p) {
    seen.push_back(p);
    const PoolStats stats = pool->stats();
    EXPECT_EQ(stats.busy, 1);
    EXPECT_EQ(stats.jobs_finished, 0u);  // the answer is not in yet
  };
  wasm::RunResult r = MustRun(*pool, std::move(req));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  ASSERT_EQ(r.report.progress.size(), 10u);  // the report still holds every one
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front().percent, 10u);  // the first is never dropped...
  EXPECT_EQ(seen.front().message, "step 1");
  EXPECT_EQ(seen.back().percent, 100u);  // ...nor the first at 100%
  EXPECT_EQ(seen.back().message, "step 10");
  EXPECT_LE(seen.back().fuel, r.report.fuel_used);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_LE(seen[i - 1].percent, seen[i].percent);
    EXPECT_LT(seen[i - 1].fuel, seen[i].fuel);
  }
  for (const wasm::ProgressRecord& p : seen) {
    EXPECT_TRUE(std::any_of(r.report.progress.begin(), r.report.progress.end(), [&](auto& q) {
      return q.percent == p.percent && q.message == p.message && q.fuel == p.fuel;
    })) << p.message;
  }
}

// Reports 50% a hundred thousand times in a tight loop, then 100% once.
constexpr char kProgressFlood[] = R"((module
  (import "mesh" "progress" (func $progress (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "flood")
  (func (export "_start") (local $i i32)
    (loop $next
      (call $progress (i32.const 50) (i32.const 0) (i32.const 5))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 100000))))
    (call $progress (i32.const 100) (i32.const 0) (i32.const 5)))))";

TEST_P(WorkerPoolTest, ProgressFramesAreRateLimited) {
  auto pool = StartPool(1);
  auto wasm = std::make_shared<const std::string>(wasm::testing::WatToWasm(kProgressFlood));
  std::vector<wasm::ProgressRecord> seen;
  RunRequest req = ModuleRequest(wasm);
  req.input.on_progress = [&](const wasm::ProgressRecord& p) { seen.push_back(p); };
  const auto start = std::chrono::steady_clock::now();
  wasm::RunResult r = MustRun(*pool, std::move(req));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.report.progress.size(), 10000u);  // JobHost's cap on recorded reports
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front().percent, 50u);
  EXPECT_EQ(seen.front().message, "flood");
  EXPECT_EQ(seen.back().percent, 100u);
  // The first, the one at 100%, and at most one per 50 ms in between.
  EXPECT_LE(seen.size(), 3 + static_cast<size_t>(took / std::chrono::milliseconds(50)));
}

TEST_P(WorkerPoolTest, CancelKillsARunningJobAndThePoolGoesOn) {
  auto pool = StartPool(1);
  const pid_t worker = pool->WorkerPids()[0];
  absl::StatusOr<wasm::RunResult> result;
  std::thread caller([&] {
    RunRequest req = ExampleRequest("loop");
    req.limits = WithFuelAndTime(1'000'000'000'000'000, absl::Seconds(60));
    req.tag = 7;
    result = pool->Run(std::move(req));
  });
  ASSERT_TRUE(WaitUntil([&] { return pool->stats().jobs_started == 1; }));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(pool->Cancel(7));
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(absl::IsCancelled(result.status())) << result.status();
  EXPECT_EQ(result.status().message(), "job cancelled while running");
  EXPECT_FALSE(testing::ProcessExists(worker));  // killed and reaped
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.cancelled, 1u);
  EXPECT_EQ(stats.crashes, 0u);
  EXPECT_EQ(stats.timeouts, 0u);
  EXPECT_EQ(stats.busy, 0);
  EXPECT_EQ(stats.workers, 1);
  EXPECT_FALSE(pool->Cancel(7));  // nothing left to cancel
  ExpectHealthy(*pool);
  EXPECT_NE(pool->WorkerPids()[0], worker);
}

TEST_P(WorkerPoolTest, CancelTakesAQueuedJobOffTheQueue) {
  auto pool = StartPool(1);  // one worker, so one pool thread: the second job stays queued
  absl::Mutex mu;
  std::vector<absl::Status> running_done, queued_done;
  RunRequest loop = ExampleRequest("loop");
  loop.limits = WithFuelAndTime(1'000'000'000'000'000, absl::Seconds(60));
  loop.tag = 1;
  pool->RunAsync(std::move(loop), [&](absl::StatusOr<wasm::RunResult> r) {
    absl::MutexLock lock(&mu);
    running_done.push_back(r.status());
  });
  RunRequest hello = ExampleRequest("hello");
  hello.tag = 2;
  pool->RunAsync(std::move(hello), [&](absl::StatusOr<wasm::RunResult> r) {
    absl::MutexLock lock(&mu);
    queued_done.push_back(r.status());
  });
  ASSERT_TRUE(WaitUntil([&] { return pool->stats().jobs_started == 1; }));
  EXPECT_TRUE(pool->Cancel(2));
  {
    absl::MutexLock lock(&mu);  // called back from Cancel itself
    ASSERT_EQ(queued_done.size(), 1u);
    EXPECT_TRUE(absl::IsCancelled(queued_done[0])) << queued_done[0];
    EXPECT_EQ(queued_done[0].message(), "job cancelled before it started");
    EXPECT_TRUE(running_done.empty());
  }
  EXPECT_TRUE(pool->Cancel(1));
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](std::vector<absl::Status>* v) { return !v->empty(); }, &running_done));
    EXPECT_TRUE(absl::IsCancelled(running_done[0])) << running_done[0];
  }
  EXPECT_FALSE(pool->Cancel(1));
  EXPECT_FALSE(pool->Cancel(2));
  EXPECT_EQ(pool->stats().cancelled, 2u);
  EXPECT_EQ(pool->stats().jobs_started, 1u);  // the queued job never reached a worker
  ExpectHealthy(*pool);
  pool->Shutdown();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(running_done.size(), 1u);  // one callback each
  EXPECT_EQ(queued_done.size(), 1u);
}

TEST_P(WorkerPoolTest, CancelEndsTheWaitForAWorker) {
  auto pool = StartPool(1);
  absl::StatusOr<wasm::RunResult> running, waiting;
  std::thread first([&] {
    RunRequest req = ExampleRequest("loop");
    req.limits = WithFuelAndTime(1'000'000'000'000'000, absl::Seconds(60));
    req.tag = 1;
    running = pool->Run(std::move(req));
  });
  ASSERT_TRUE(WaitUntil([&] { return pool->stats().jobs_started == 1; }));
  std::thread second([&] {
    RunRequest req = ExampleRequest("hello");
    req.tag = 2;
    waiting = pool->Run(std::move(req));
  });
  // True as soon as the second call has been accepted; it then waits for the only worker.
  ASSERT_TRUE(WaitUntil([&] { return pool->Cancel(2); }));
  second.join();
  EXPECT_TRUE(absl::IsCancelled(waiting.status())) << waiting.status();
  EXPECT_EQ(waiting.status().message(), "job cancelled before it started");
  EXPECT_EQ(pool->stats().busy, 1);  // the first job runs on
  EXPECT_TRUE(pool->Cancel(1));
  first.join();
  EXPECT_TRUE(absl::IsCancelled(running.status())) << running.status();
  EXPECT_EQ(pool->stats().cancelled, 2u);
  EXPECT_EQ(pool->stats().jobs_started, 1u);
  ExpectHealthy(*pool);
}

TEST_P(WorkerPoolTest, CancelOfAnUnknownTagIsFalse) {
  auto pool = StartPool(1);
  EXPECT_FALSE(pool->Cancel(12345));
  EXPECT_FALSE(pool->Cancel(0));  // tag 0: not cancellable
  RunRequest req = ExampleRequest("hello");
  req.tag = 5;
  MustRun(*pool, std::move(req));
  EXPECT_FALSE(pool->Cancel(5));  // finished
  RunRequest untagged = ExampleRequest("loop");
  untagged.limits = WithFuelAndTime(1'000'000'000'000'000, absl::Milliseconds(300));
  absl::StatusOr<wasm::RunResult> result;
  std::thread caller([&] { result = pool->Run(std::move(untagged)); });
  ASSERT_TRUE(WaitUntil([&] { return pool->stats().jobs_started == 2; }));
  EXPECT_FALSE(pool->Cancel(0));
  caller.join();
  ASSERT_OK(result);
  EXPECT_EQ(result->report.outcome, Outcome::kTimeout);
  EXPECT_EQ(pool->stats().cancelled, 0u);
}

// Cancels that cross the jobs' normal ends: every job ends once, either normally or as
// cancelled, and no later job meets a worker the kill reached.
TEST_P(WorkerPoolTest, CancelRacingTheJobsEndIsHarmless) {
  auto pool = StartPool(2);
  constexpr uint64_t kJobs = 100;
  std::atomic<uint64_t> current = 0;
  std::atomic<bool> stop = false;
  // Cancels the job that just finished (most likely) while the next one starts.
  std::thread canceller([&] {
    while (!stop) {
      if (const uint64_t tag = current.load(); tag > 1) pool->Cancel(tag - 1);
      std::this_thread::yield();
    }
  });
  // Run(): each job cancels itself when it reports 100%, just before it ends. Each result is
  // the job's own or Cancelled, never a crash.
  auto progress = testing::ExampleBytes("progress");
  uint64_t ok = 0, cancelled = 0;
  for (uint64_t tag = 1; tag <= kJobs; ++tag) {
    current = tag;
    RunRequest req = ModuleRequest(progress, "", {std::to_string(tag)});
    req.tag = tag;
    req.input.on_progress = [&, tag](const wasm::ProgressRecord& p) {
      if (p.percent == 100) pool->Cancel(tag);
    };
    absl::StatusOr<wasm::RunResult> r = pool->Run(std::move(req));
    if (absl::IsCancelled(r.status())) {
      ++cancelled;
      continue;
    }
    ASSERT_OK(r);
    EXPECT_EQ(r->report.outcome, Outcome::kOk) << r->report.message;
    EXPECT_EQ(r->output.substr(0, 5), "done ");
    ++ok;
  }
  // RunAsync(): jobs cancelled while queued, starting, running or just done; exactly one
  // callback each.
  auto echo = testing::ExampleBytes("echo");
  absl::Mutex mu;
  std::vector<int> calls(kJobs + 1);
  uint64_t async_cancelled = 0;
  for (uint64_t i = 1; i <= kJobs; ++i) {
    const uint64_t tag = kJobs + i;
    current = tag;
    RunRequest req = ModuleRequest(echo, std::to_string(tag));
    req.tag = tag;
    pool->RunAsync(std::move(req), [&, i, tag](absl::StatusOr<wasm::RunResult> r) {
      absl::MutexLock lock(&mu);
      ++calls[i];
      if (absl::IsCancelled(r.status())) {
        ++async_cancelled;
      } else {
        EXPECT_TRUE(r.ok() && r->output == std::to_string(tag)) << r.status();
      }
    });
    if (i % 3 == 0) pool->Cancel(tag);
  }
  {
    absl::MutexLock lock(&mu);
    auto all_called = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return std::all_of(calls.begin() + 1, calls.end(), [](int c) { return c > 0; });
    };
    mu.Await(absl::Condition(&all_called));
  }
  stop = true;
  canceller.join();
  EXPECT_EQ(ok + cancelled, kJobs);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.crashes, 0u);
  EXPECT_EQ(stats.timeouts, 0u);
  ExpectHealthy(*pool);
  pool->Shutdown();
  absl::MutexLock lock(&mu);
  for (uint64_t i = 1; i <= kJobs; ++i) EXPECT_EQ(calls[i], 1) << "job " << kJobs + i;
  EXPECT_EQ(stats.cancelled, cancelled + async_cancelled);
}

INSTANTIATE_TEST_SUITE_P(Engines, WorkerPoolTest,
                         ::testing::Values(wasm::EngineKind::kInterp, wasm::EngineKind::kAot),
                         testing::EngineTestName);

// Both engines meter the same module identically, whichever worker runs it.
TEST(CrossEngineTest, FuelAndOutputAreTheSameOnBothEngines) {
  if (!wasm::AotAvailable({})) GTEST_SKIP() << "no C compiler";
  ASSERT_OK_AND_ASSIGN(auto interp,
                       WorkerPool::Start(testing::TestPoolOptions(1, wasm::EngineKind::kInterp)));
  ASSERT_OK_AND_ASSIGN(auto aot,
                       WorkerPool::Start(testing::TestPoolOptions(1, wasm::EngineKind::kAot)));
  for (const char* limit : {"10", "5000", "20000"}) {
    wasm::RunResult a = MustRun(*interp, ExampleRequest("primes", "", {limit}));
    wasm::RunResult b = MustRun(*aot, ExampleRequest("primes", "", {limit}));
    EXPECT_EQ(a.output, b.output);
    EXPECT_EQ(a.report.fuel_used, b.report.fuel_used) << limit;
  }
}

// The pool compiles each module once, but a compiled module that disappears from the cache is
// compiled again rather than failing every later job.
TEST(AotPoolTest, RecompilesAModuleGoneFromTheCache) {
  if (!wasm::AotAvailable({})) GTEST_SKIP() << "no C compiler";
  PoolOptions options = testing::TestPoolOptions(1, wasm::EngineKind::kAot);
  const std::filesystem::path cache =
      ::testing::TempDir() + "mesh-exec-test-aot-recompile-" + std::to_string(::getpid());
  options.aot_cache_dir = cache.string();
  ASSERT_OK_AND_ASSIGN(auto pool, WorkerPool::Start(options));
  EXPECT_EQ(MustRun(*pool, ExampleRequest("hello")).output, "hello, mesh\n");
  // A fresh worker (the old one has the module loaded) and a cache without compiled code.
  const pid_t old_worker = pool->WorkerPids()[0];
  ASSERT_EQ(::kill(old_worker, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] {
    return !testing::ProcessExists(old_worker) ||
           ::access(("/proc/" + std::to_string(old_worker) + "/fd/3").c_str(), F_OK) != 0;
  }));
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(cache)) {
    if (entry.path().extension() == ".so") removed += std::filesystem::remove(entry.path());
  }
  EXPECT_GT(removed, 0);
  EXPECT_EQ(MustRun(*pool, ExampleRequest("hello")).output, "hello, mesh\n");
  pool.reset();
  std::filesystem::remove_all(cache);
}

// The compiler's version is part of every aot cache key: the pool asks it once and its workers
// and compile processes use that answer rather than each running `cc --version` at start-up.
TEST(AotPoolTest, AsksTheCompilerItsVersionOnce) {
  if (!wasm::AotAvailable({})) GTEST_SKIP() << "no C compiler";
  const std::filesystem::path dir =
      ::testing::TempDir() + "mesh-exec-test-aot-version-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::filesystem::path log = dir / "versions.log";
  const std::filesystem::path wrapper = dir / "cc-wrapper";
  {
    std::ofstream out(wrapper);
    out << "#!/bin/sh\n[ \"$1\" = --version ] && echo asked >> '" << log.string() << "'\n"
        << "exec cc \"$@\"\n";
  }
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  PoolOptions options = testing::TestPoolOptions(2, wasm::EngineKind::kAot);
  options.aot_cache_dir = (dir / "aot").string();
  options.aot_compiler = wrapper.string();
  ASSERT_OK_AND_ASSIGN(auto pool, WorkerPool::Start(options));
  // A compile (the module is new to this cache) and a run on aot once it is compiled.
  EXPECT_EQ(MustRun(*pool, ExampleRequest("hello")).output, "hello, mesh\n");
  ASSERT_TRUE(WaitUntil([&] { return pool->stats().compiles.compiled > 0; }));
  EXPECT_EQ(MustRun(*pool, ExampleRequest("hello")).output, "hello, mesh\n");
  pool.reset();
  ASSERT_OK_AND_ASSIGN(std::string asked, ReadFileToString(log, 1000));
  EXPECT_EQ(asked, "asked\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mesh::exec
