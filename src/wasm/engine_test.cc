// Behaviour every engine must share, run against each engine. Modules are written in WAT so
// each test states exactly what the job does.
#include "mesh/wasm/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "mesh/common/check.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/wasm/aot_engine.h"
#include "testing/wat.h"

namespace mesh::wasm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::WatToWasm;

// A prelude for modules that print: fd_write(1, iov at 0, 1 iov, nwritten at 8).
constexpr char kPrint[] = R"(
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
)";

// One aot cache per test process (ctest runs each test in its own process), removed at exit.
const std::string& AotCacheDir() {
  static const struct Dir {
    Dir() : path(::testing::TempDir() + "mesh-engine-test-aot-XXXXXX") {
      MESH_CHECK(::mkdtemp(path.data()) != nullptr);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
    std::string path;
  } dir;
  return dir.path;
}

std::unique_ptr<Engine> MakeEngine(EngineKind kind) {
  switch (kind) {
    case EngineKind::kInterp:
      return MakeInterpEngine();
    case EngineKind::kAot: {
      AotOptions options;
      options.cache_dir = AotCacheDir();
      auto engine = AotEngine::Create(options);
      EXPECT_TRUE(engine.ok()) << engine.status();
      return engine.ok() ? *std::move(engine) : nullptr;
    }
    default:
      return nullptr;
  }
}

class EngineTest : public ::testing::TestWithParam<EngineKind> {
 protected:
  RunResult RunWat(const std::string& wat, JobInput input = {}, Limits limits = {}) {
    auto module = Instrument(WatToWasm(wat));
    EXPECT_TRUE(module.ok()) << module.status();
    auto engine = MakeEngine(GetParam());
    auto result = engine->Run("test-module", *module, std::move(input), limits);
    EXPECT_TRUE(result.ok()) << result.status();
    return *std::move(result);
  }
};

std::string Loop(int iterations) {
  return R"((module (func (export "_start") (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const )" +
         std::to_string(iterations) + R"()))))))";
}

TEST_P(EngineTest, EmptyStartSucceeds) {
  RunResult r = RunWat(R"((module (func (export "_start"))))");
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.report.exit_code, 0);
  EXPECT_GT(r.report.fuel_used, 0u);
}

TEST_P(EngineTest, FuelIsExactAndLinearInWork) {
  const uint64_t f10 = RunWat(Loop(10)).report.fuel_used;
  const uint64_t f20 = RunWat(Loop(20)).report.fuel_used;
  const uint64_t f30 = RunWat(Loop(30)).report.fuel_used;
  EXPECT_EQ(f20 - f10, f30 - f20);  // each iteration costs the same
  EXPECT_GT(f20, f10);
  EXPECT_EQ(RunWat(Loop(20)).report.fuel_used, f20);  // and runs repeat exactly
}

TEST_P(EngineTest, InfiniteLoopRunsOutOfFuel) {
  Limits limits;
  limits.fuel = 100000;
  RunResult r = RunWat(R"((module (func (export "_start") (loop $l (br $l)))))", {}, limits);
  EXPECT_EQ(r.report.outcome, Outcome::kFuelExhausted);
  EXPECT_EQ(r.report.fuel_used, 100000u);
  EXPECT_NE(r.report.message.find("100000"), std::string::npos);
}

TEST_P(EngineTest, UnboundedRecursionIsStackOverflow) {
  RunResult r = RunWat(R"((module
    (func $f (param i32) (result i32) (i32.add (call $f (local.get 0)) (i32.const 1)))
    (func (export "_start") (drop (call $f (i32.const 0))))))");
  EXPECT_EQ(r.report.outcome, Outcome::kStackOverflow) << r.report.message;
}

TEST_P(EngineTest, TrapKindsAreReported) {
  RunResult unreachable = RunWat(R"((module (func (export "_start") unreachable)))");
  EXPECT_EQ(unreachable.report.outcome, Outcome::kTrap);
  EXPECT_NE(unreachable.report.trap_kind.find("unreachable"), std::string::npos)
      << unreachable.report.trap_kind;
  RunResult div = RunWat(R"((module (func (export "_start")
      (drop (i32.div_s (i32.const 1) (i32.const 0))))))");
  EXPECT_EQ(div.report.outcome, Outcome::kTrap);
  EXPECT_NE(div.report.trap_kind.find("divide by zero"), std::string::npos) << div.report.trap_kind;
  RunResult oob = RunWat(R"((module (memory 1) (func (export "_start")
      (drop (i32.load (i32.const 70000))))))");
  EXPECT_EQ(oob.report.outcome, Outcome::kTrap);
  EXPECT_NE(oob.report.trap_kind.find("out of bounds"), std::string::npos) << oob.report.trap_kind;
  // A load whose value is dropped is still made, whatever register class its type lives in
  // (the aot engine's compiled loads; see aot_codegen.cc).
  const std::pair<const char*, int> loads[] = {{"i64.load", 65535},
                                               {"f32.load", 65533},
                                               {"f64.load", 65529},
                                               {"i32.load8_u", 65536},
                                               {"i64.load16_s", 65535}};
  for (const auto& [load, address] : loads) {
    RunResult dropped = RunWat(mesh::StrCat(R"((module (memory 1) (func (export "_start") (drop ()",
                                            load, " (i32.const ", address, ")))))"));
    EXPECT_EQ(dropped.report.outcome, Outcome::kTrap) << load;
  }
}

TEST_P(EngineTest, EveryOtherTrapKindIsATrap) {
  const char* bodies[] = {
      // integer overflow
      "(drop (i32.div_s (i32.const -2147483648) (i32.const -1)))",
      // invalid conversion to integer
      "(drop (i32.trunc_f32_s (f32.const nan)))",
      // undefined table element
      "(call_indirect (type $v) (i32.const 5))",
      // indirect call signature mismatch
      "(drop (call_indirect (type $i) (i32.const 0)))",
      // remainder by zero
      "(drop (i64.rem_u (i64.const 1) (i64.const 0)))",
  };
  for (const char* body : bodies) {
    RunResult r = RunWat(std::string(R"((module
      (type $v (func)) (type $i (func (result i32)))
      (table 2 funcref) (elem (i32.const 0) $f) (func $f)
      (func (export "_start") )") +
                         body + "))");
    EXPECT_EQ(r.report.outcome, Outcome::kTrap) << body << ": " << r.report.message;
    EXPECT_FALSE(r.report.trap_kind.empty()) << body;
    EXPECT_EQ(r.report.exit_code, 0) << body;
  }
}

TEST_P(EngineTest, CombinedLimitsTheFirstReachedWins) {
  Limits limits;
  limits.fuel = 50000;
  limits.memory_bytes = 1 << 20;
  limits.max_output_bytes = 10;
  // Grows memory in a loop: the fuel runs out long before 16 pages are reached.
  RunResult r = RunWat(R"((module (memory (export "memory") 1)
    (func (export "_start") (local $i i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eq (i32.rem_u (local.get $i) (i32.const 100000)) (i32.const 0))
          (then (drop (memory.grow (i32.const 1)))))
        (br $l)))))",
                       {}, limits);
  EXPECT_EQ(r.report.outcome, Outcome::kFuelExhausted) << r.report.message;
  EXPECT_EQ(r.report.fuel_used, 50000u);
  EXPECT_LE(r.report.peak_memory_bytes, 1u << 20);
}

TEST_P(EngineTest, WritesStdoutAndExitCode) {
  RunResult r = RunWat(std::string(R"((module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))))") +
                       kPrint + R"(
    (memory (export "memory") 1)
    (data (i32.const 100) "hello, mesh\n")
    (func (export "_start") (call $print (i32.const 100) (i32.const 12)) (call $exit (i32.const 3)))))");
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.report.exit_code, 3);
  EXPECT_EQ(r.output, "hello, mesh\n");
  EXPECT_EQ(r.report.output_bytes, 12u);
}

// Every width of load and store, unaligned, read back in other widths and types; the bulk
// operations between stores and loads; a grown page; bytes the host wrote (fd_read) and bytes
// the host reads (fd_write). The aot engine reaches memory through the GS segment and the bulk
// operations through the memory's pointer: the order between them must hold. Each check traps
// (unreachable) on a wrong value, so the run ends kOk only if every one held.
TEST_P(EngineTest, LoadsSeeEveryStoreBulkOperationAndHostWrite) {
  JobInput input;
  input.stdin_bytes = "xyz";
  RunResult r = RunWat(std::string(R"((module
    (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32))))") +
                           kPrint + R"(
    (memory (export "memory") 1)
    (data $d "\01\02\03\04")
    (func $check (param $got i64) (param $want i64)
      (if (i64.ne (local.get $got) (local.get $want)) (then unreachable)))
    (func (export "_start")
      (i64.store (i32.const 101) (i64.const 0x8877665544332211))
      (call $check (i64.load (i32.const 101)) (i64.const 0x8877665544332211))
      (call $check (i64.extend_i32_u (i32.load8_u (i32.const 102))) (i64.const 0x22))
      (call $check (i64.extend_i32_s (i32.load8_s (i32.const 108))) (i64.const -120))
      (call $check (i64.extend_i32_u (i32.load16_u (i32.const 103))) (i64.const 0x4433))
      (call $check (i64.load32_u (i32.const 105)) (i64.const 0x88776655))
      (call $check (i64.reinterpret_f64 (f64.load (i32.const 101))) (i64.const 0x8877665544332211))
      (f32.store (i32.const 201) (f32.const 1.5))
      (call $check (i64.load32_u (i32.const 201)) (i64.const 0x3fc00000))
      (memory.fill (i32.const 100) (i32.const 0xab) (i32.const 8))
      (call $check (i64.load (i32.const 101)) (i64.const 0x88ababababababab))
      (i64.store (i32.const 300) (i64.const 0x0807060504030201))
      (memory.copy (i32.const 302) (i32.const 300) (i32.const 8))
      (call $check (i64.load (i32.const 302)) (i64.const 0x0807060504030201))
      (call $check (i64.load16_u (i32.const 300)) (i64.const 0x0201))
      (i32.store (i32.const 400) (i32.const -1))
      (memory.init $d (i32.const 400) (i32.const 1) (i32.const 3))
      (call $check (i64.load32_u (i32.const 400)) (i64.const 0xff040302))
      (call $check (i64.extend_i32_s (memory.grow (i32.const 1))) (i64.const 1))
      (i64.store (i32.const 131064) (i64.const 42))
      (call $check (i64.load (i32.const 131064)) (i64.const 42))
      (i32.store (i32.const 16) (i32.const 600))
      (i32.store (i32.const 20) (i32.const 3))
      (i32.store (i32.const 600) (i32.const 0))
      (drop (call $read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
      (call $check (i64.load32_u (i32.const 600)) (i64.const 0x7a7978))
      (i32.store16 (i32.const 500) (i32.const 0x6b6f))
      (i32.store8 (i32.const 502) (i32.const 10))
      (call $print (i32.const 500) (i32.const 3)))))",
                       input);
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.output, "ok\n");
}

// Copies stdin to stdout in reads of up to 4 KiB until a read returns nothing.
constexpr const char* kEchoStdin = R"((module
    (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      (loop $l
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const 4096))
        (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (i32.load (i32.const 8)) (then
          (i32.store (i32.const 4) (i32.load (i32.const 8)))
          (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (br $l)))))))";

TEST_P(EngineTest, EchoesStdin) {
  JobInput input;
  input.stdin_bytes = std::string(100000, 'x') + "end";
  RunResult r = RunWat(kEchoStdin, input);
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_TRUE(r.output == input.stdin_bytes) << r.output.size();
}

// Stdin in pieces (shared inputs) reads as their concatenation, across read boundaries and
// past empty pieces, byte for byte as from one string.
TEST_P(EngineTest, StdinPiecesReadAsOneStream) {
  JobInput input;
  input.stdin_bytes = std::string(5000, 'a');
  input.stdin_pieces = {StdinPiece::Owned("", ""), StdinPiece::Owned("cid-b", "bcd"),
                        StdinPiece::Owned("cid-c", std::string(10000, 'c')),
                        StdinPiece::Owned("", ""), StdinPiece::Owned("", "end")};
  const std::string want = StdinOf(input);
  EXPECT_EQ(want.size(), 15006u);
  RunResult r = RunWat(kEchoStdin, input);
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_TRUE(r.output == want) << r.output.size();
}

// memory.grow past the limit returns -1, as the spec says, and the program decides: one that
// copes ends as it chooses, one that then traps ends in a trap that names the limit.
TEST_P(EngineTest, AGrowPastTheMemoryLimitReturnsMinusOneAndTheProgramCopes) {
  Limits limits;
  limits.memory_bytes = 4 << 20;  // 64 pages
  // Grows a page at a time until refused, then once more, and exits 0 if it holds 64 pages.
  const std::string kGrowUntilRefused = R"((module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      (drop (memory.grow (i32.const 1)))
      (call $exit (i32.sub (memory.size) (i32.const 64))))))";
  RunResult copes = RunWat(kGrowUntilRefused, {}, limits);
  EXPECT_EQ(copes.report.outcome, Outcome::kOk) << copes.report.message;
  EXPECT_EQ(copes.report.exit_code, 0);
  EXPECT_EQ(copes.report.memory_grows_refused, 2u);
  EXPECT_EQ(copes.report.peak_memory_bytes, 4u << 20);
  EXPECT_THAT(copes.report.message, Not(HasSubstr("--memory")));

  RunResult traps = RunWat(R"((module (memory (export "memory") 1)
    (func (export "_start")
      (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      unreachable)))",
                           {}, limits);
  EXPECT_EQ(traps.report.outcome, Outcome::kTrap) << traps.report.message;
  EXPECT_EQ(traps.report.memory_grows_refused, 1u);
  EXPECT_THAT(traps.report.message, HasSubstr("after the memory limit of 4194304 bytes"));
  EXPECT_THAT(traps.report.message, HasSubstr("raise --memory"));
  EXPECT_EQ(traps.report.peak_memory_bytes, 4u << 20);
}

TEST_P(EngineTest, AModuleWhoseInitialMemoryIsOverTheLimitDoesNotRun) {
  Limits limits;
  limits.memory_bytes = 4 << 20;
  RunResult too_big =
      RunWat(R"((module (memory (export "memory") 100) (func (export "_start"))))", {}, limits);
  EXPECT_EQ(too_big.report.outcome, Outcome::kMemoryLimit);
}

TEST_P(EngineTest, OutputLimitIsEnforced) {
  Limits limits;
  limits.max_output_bytes = 1000;
  RunResult r = RunWat(std::string(R"((module )") + kPrint + R"(
    (memory (export "memory") 1)
    (func (export "_start") (loop $l (call $print (i32.const 100) (i32.const 300)) (br $l)))))",
                       {}, limits);
  EXPECT_EQ(r.report.outcome, Outcome::kOutputTooLarge) << r.report.message;
  EXPECT_LE(r.output.size(), 1000u);
}

TEST_P(EngineTest, UnsupportedImportIsNamed) {
  RunResult r = RunWat(R"((module (import "env" "system" (func (param i32)))
    (func (export "_start"))))");
  EXPECT_EQ(r.report.outcome, Outcome::kUnsupportedImport);
  EXPECT_NE(r.report.message.find("env.system"), std::string::npos);
}

TEST_P(EngineTest, DeniedWasiCallsReturnErrors) {
  // Without mounts there is no descriptor 3: path_open answers EBADF (8); the job stores the
  // errno as its exit code. (Sockets stay ENOTCAPABLE: wasi_fs_engine_test.cc.)
  RunResult r = RunWat(R"((module
    (import "wasi_snapshot_preview1" "path_open"
      (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4)
                              (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0)
                              (i32.const 16))))))");
  EXPECT_EQ(r.report.exit_code, 8);
}

TEST_P(EngineTest, ArgsEnvAndDeterministicRandomAndClock) {
  const std::string wat = std::string(R"((module
    (import "wasi_snapshot_preview1" "args_sizes_get" (func $asz (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_get" (func $aget (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32))))") +
                          kPrint + R"(
    (memory (export "memory") 1)
    (func (export "_start")
      (drop (call $asz (i32.const 16) (i32.const 20)))
      (drop (call $aget (i32.const 1024) (i32.const 2048)))
      (call $print (i32.const 2048) (i32.load (i32.const 20)))
      (drop (call $rand (i32.const 3000) (i32.const 16)))
      (call $print (i32.const 3000) (i32.const 16))
      (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 3100)))
      (call $print (i32.const 3100) (i32.const 8)))))";
  JobInput input;
  input.args = {"alpha", "beta"};
  input.seed.fill(7);
  RunResult a = RunWat(wat, input);
  RunResult b = RunWat(wat, input);
  ASSERT_EQ(a.report.outcome, Outcome::kOk) << a.report.message;
  EXPECT_EQ(a.output.substr(0, 20), std::string("job.wasm\0alpha\0beta\0", 20));
  EXPECT_EQ(a.output, b.output);  // same seed, same fuel: same random bytes and time
  input.seed.fill(8);
  RunResult c = RunWat(wat, input);
  EXPECT_NE(a.output.substr(20, 16), c.output.substr(20, 16));
}

TEST_P(EngineTest, RecordsProgressCheckpointsAndPartials) {
  RunResult r = RunWat(R"((module
    (import "mesh" "progress" (func $progress (param i32 i32 i32)))
    (import "mesh" "checkpoint" (func $checkpoint (param i32 i32)))
    (import "mesh" "emit_partial" (func $partial (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "halfway")
    (func (export "_start")
      (call $progress (i32.const 50) (i32.const 0) (i32.const 7))
      (call $checkpoint (i32.const 0) (i32.const 4))
      (call $partial (i32.const 0) (i32.const 3))
      (call $partial (i32.const 3) (i32.const 4)))))");
  ASSERT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  ASSERT_EQ(r.report.progress.size(), 1u);
  EXPECT_EQ(r.report.progress[0].percent, 50u);
  EXPECT_EQ(r.report.progress[0].message, "halfway");
  ASSERT_EQ(r.report.checkpoints.size(), 1u);
  EXPECT_EQ(r.checkpoint, "half");
  ASSERT_EQ(r.report.partials.size(), 2u);
  EXPECT_EQ(r.report.partials[1].offset, 3u);
  EXPECT_EQ(r.partials, "halfway");
}

TEST_P(EngineTest, HandsEachProgressReportToTheCallback) {
  std::vector<ProgressRecord> seen;
  JobInput input;
  input.on_progress = [&](const ProgressRecord& p) { seen.push_back(p); };
  RunResult r = RunWat(R"((module
    (import "mesh" "progress" (func $progress (param i32 i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "step")
    (func (export "_start")
      (call $progress (i32.const 10) (i32.const 0) (i32.const 4))
      (call $progress (i32.const 250) (i32.const 0) (i32.const 300)))))",
                       std::move(input));
  ASSERT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].percent, 10u);
  EXPECT_EQ(seen[0].message, "step");
  EXPECT_EQ(seen[1].percent, 100u);  // clamped and cut as in the report
  EXPECT_EQ(seen[1].message.size(), kMaxProgressMessageBytes);
  ASSERT_EQ(r.report.progress.size(), 2u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].percent, r.report.progress[i].percent);
    EXPECT_EQ(seen[i].message, r.report.progress[i].message);
    EXPECT_EQ(seen[i].fuel, r.report.progress[i].fuel);
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest,
                         ::testing::Values(EngineKind::kInterp, EngineKind::kAot),
                         [](const auto& info) { return std::string(EngineName(info.param)); });

}  // namespace
}  // namespace mesh::wasm
