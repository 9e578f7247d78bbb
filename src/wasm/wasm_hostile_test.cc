// Regression tests for hostile modules (issue 13, findings 2 and 6): deeply nested code that
// crashed the instrumenter, counts over the engines' limits, and tables that escaped the memory
// limit. Every module here is built byte by byte, as an attacker would, not from WAT.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>

#include <functional>
#include <string>

#include "mesh/common/testing.h"
#include "mesh/wasm/aot_engine.h"
#include "mesh/wasm/engine.h"
#include "mesh/wasm/instrumenter.h"
#include "mesh/wasm/module_limits.h"
#include "testing/wasm_bytes.h"
#include "testing/wat.h"

namespace mesh::wasm {
namespace {

using ::testing::HasSubstr;
using testing::Leb;
using testing::Section;
using testing::WatToWasm;

std::string Str(std::string_view s) { return Leb(s.size()) + std::string(s); }

const std::string kHeader("\0asm\1\0\0\0", 8);
// type 0: [] -> []
const std::string kTypes = Section(1, std::string("\1\x60\0\0", 4));

// The reproducer from the issue: `_start` opens `depth` nested blocks (`open` is the opcode and
// block type, e.g. "\x02\x40") and closes them.
std::string Nested(int depth, std::string_view open = "\x02\x40") {
  std::string body(1, '\0');  // no locals
  body.reserve(1 + depth * (open.size() + 1) + 1);
  for (int i = 0; i < depth; ++i) body += open;
  body += std::string(depth + 1, '\x0b');
  return kHeader + kTypes + Section(3, std::string("\1\0", 2)) +
         Section(5, std::string("\1\0\1", 3)) +
         Section(7, "\2" + Str("_start") + std::string("\0\0", 2) + Str("memory") +
                        std::string("\2\0", 2)) +
         Section(10, "\1" + Leb(body.size()) + body);
}

// A section whose vector claims `count` entries, followed by `count` zero bytes: enough for a
// count check, which must come before any entry is decoded.
std::string Counted(uint8_t id, uint64_t count) {
  return Section(id, Leb(count) + std::string(count, '\0'));
}

std::string ErrorOf(std::string_view wasm, const ModuleLimits& limits = {}) {
  InstrumentOptions options;
  options.limits = limits;
  absl::StatusOr<InstrumentedModule> m = Instrument(wasm, options);
  EXPECT_FALSE(m.ok());
  if (m.ok()) return "";
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
  return std::string(m.status().message());
}

// Runs `fn` on a thread with a small stack, as a guard that the work is bounded in stack.
void OnSmallStack(size_t stack_bytes, const std::function<void()>& fn) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, stack_bytes), 0);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, trampoline, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

RunResult RunInterp(const InstrumentedModule& module, Limits limits = {}) {
  auto result = MakeInterpEngine()->Run("hostile", module, {}, limits);
  EXPECT_TRUE(result.ok()) << result.status();
  return *std::move(result);
}

// Finding 2: 20,000 nested blocks overflowed the stack in FuncInstrumenter::Walk.
TEST(WasmHostileTest, TwentyThousandNestedBlocksAreRefusedNotACrash) {
  EXPECT_THAT(ErrorOf(Nested(20'000)),
              HasSubstr("function #0 nests blocks more than 1024 deep (at byte offset"));
}

TEST(WasmHostileTest, AMillionNestedBlocksLoopsAndIfsAreRefused) {
  EXPECT_THAT(ErrorOf(Nested(1'000'000)), HasSubstr("the limit is 1024"));
  EXPECT_THAT(ErrorOf(Nested(1'000'000, "\x03\x40")), HasSubstr("the limit is 1024"));
  // `if` needs a condition; the nesting check fires before anything looks at types.
  EXPECT_THAT(ErrorOf(Nested(1'000'000, std::string("\x41\x00\x04\x40", 4))),
              HasSubstr("the limit is 1024"));
}

TEST(WasmHostileTest, NestingAtTheLimitInstrumentsAndRunsOnASmallStack) {
  // The limit keeps WABT's recursive IR code and the instrumenter's walk bounded: all of it,
  // and an interp run, fit in 512 KiB of stack (meshd's threads have at least 8 MiB).
  OnSmallStack(512 << 10, [] {
    absl::StatusOr<InstrumentedModule> m = Instrument(Nested(1024));
    ASSERT_TRUE(m.ok()) << m.status();
    RunResult r = RunInterp(*m);
    EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
    // Loops take their own path through the instrumenter (counted loops): as deep, as small.
    absl::StatusOr<InstrumentedModule> loops = Instrument(Nested(1024, "\x03\x40"));
    ASSERT_TRUE(loops.ok()) << loops.status();
  });
  EXPECT_THAT(ErrorOf(Nested(1025)), HasSubstr("nests blocks more than 1024 deep"));
}

TEST(WasmHostileTest, CountsOverTheJsApiLimitsNameTheLimit) {
  EXPECT_THAT(ErrorOf(kHeader + Counted(2, 100'001)),
              HasSubstr("module declares 100001 imports; the limit is 100000"));
  EXPECT_THAT(ErrorOf(kHeader + Counted(1, 1'000'001)),
              HasSubstr("module declares 1000001 types; the limit is 1000000"));
  EXPECT_THAT(ErrorOf(kHeader + Counted(3, 1'000'001)),
              HasSubstr("module declares 1000001 functions; the limit is 1000000"));
  EXPECT_THAT(ErrorOf(kHeader + Counted(6, 1'000'001)),
              HasSubstr("module declares 1000001 globals; the limit is 1000000"));
  EXPECT_THAT(ErrorOf(kHeader + Counted(7, 100'001)),
              HasSubstr("module declares 100001 exports; the limit is 100000"));
  EXPECT_THAT(ErrorOf(kHeader + Counted(9, 100'001)),
              HasSubstr("module declares 100001 element segments; the limit is 100000"));
  EXPECT_THAT(ErrorOf(kHeader + Counted(11, 100'001)),
              HasSubstr("module declares 100001 data segments; the limit is 100000"));
  EXPECT_THAT(ErrorOf(kHeader + Section(12, Leb(100'001))),
              HasSubstr("module declares 100001 data segments; the limit is 100000"));
}

TEST(WasmHostileTest, TablesLocalsBodiesAndModuleSizeHaveLimits) {
  // Finding 6's module: a table of 100,000,000 entries.
  EXPECT_THAT(ErrorOf(kHeader + Section(4, std::string("\1\x70\0", 3) + Leb(100'000'000))),
              HasSubstr("table #0 declares 100000000 initial entries; the limit is 10000000"));
  EXPECT_THAT(ErrorOf(kHeader + Section(10, "\1\6\1" + Leb(50'001) + "\x7f\x0b")),
              HasSubstr("function #0 declares more than 50000 locals; the limit is 50000"));
  std::string huge_body = "\1" + Leb(7'654'322) + std::string(7'654'322, '\x01');
  EXPECT_THAT(ErrorOf(kHeader + Section(10, huge_body)),
              HasSubstr("function #0 has a body of 7654322 bytes; the limit is 7654321"));
  ModuleLimits small;
  small.max_module_bytes = 1000;
  EXPECT_THAT(ErrorOf(std::string(1001, '\0'), small),
              HasSubstr("module is 1001 bytes; the limit is 1000 bytes"));
  // Params of one type (JS API: 1,000).
  EXPECT_THAT(ErrorOf(kHeader + Section(1, "\1\x60" + Leb(1001) + std::string(1001, '\x7f') +
                                               std::string(1, '\0'))),
              HasSubstr("type #0 has 1001 parameters; the limit is 1000"));
}

TEST(WasmHostileTest, GarbageAndTruncationFailCleanly) {
  const std::string deep = Nested(100);
  for (size_t len = 0; len < deep.size(); ++len) {
    EXPECT_FALSE(Instrument(deep.substr(0, len)).ok()) << len;
  }
  EXPECT_THAT(ErrorOf(kHeader + Section(10, std::string("\1\3\0\xfd\x0b", 5))),
              HasSubstr("unsupported opcode"));
  // A section length past the end, a count past the end, an overlong LEB.
  EXPECT_FALSE(Instrument(kHeader + "\1\x7f").ok());
  EXPECT_FALSE(Instrument(kHeader + Section(2, Leb(5))).ok());
  EXPECT_FALSE(Instrument(kHeader + "\1\xff\xff\xff\xff\xff\x01").ok());
}

// Finding 6: a table's entries were not counted, so a 100M-entry table took the worker to
// 800 MB under a 100 MiB limit and reported 64 KiB peak.
TEST(WasmHostileTest, TablesCountAgainstTheMemoryLimitAndInThePeak) {
  ASSERT_OK_AND_ASSIGN(InstrumentedModule m, Instrument(WatToWasm(R"((module
    (table 10000000 funcref) (memory (export "memory") 1) (func (export "_start"))))")));
  Limits roomy;
  roomy.memory_bytes = 256ull << 20;
  RunResult ok = RunInterp(m, roomy);  // 10M entries of 24 bytes fit in 256 MiB
  EXPECT_EQ(ok.report.outcome, Outcome::kOk) << ok.report.message;
  EXPECT_EQ(ok.report.peak_memory_bytes, 240'000'000u + 65536u);

  RunResult refused = RunInterp(m);  // but not in the default 100 MiB
  EXPECT_EQ(refused.report.outcome, Outcome::kMemoryLimit);
  EXPECT_THAT(refused.report.message, HasSubstr("240000000 bytes for tables of up to 10000000"));
  EXPECT_THAT(refused.report.message, HasSubstr("the limit is 104857600"));
}

TEST(WasmHostileTest, TableGrowStopsAtTheReservedMaximum) {
  ASSERT_OK_AND_ASSIGN(InstrumentedModule bounded, Instrument(WatToWasm(R"((module
    (table $t 1 10 funcref)
    (func (export "_start")
      (if (i32.ne (table.grow $t (ref.null func) (i32.const 5)) (i32.const 1)) (then unreachable))
      (if (i32.ne (table.grow $t (ref.null func) (i32.const 5)) (i32.const -1)) (then unreachable))
      (if (i32.ne (table.size $t) (i32.const 6)) (then unreachable)))))")));
  RunResult r = RunInterp(bounded);
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;

  // No declared maximum: the table keeps its initial size, as the spec lets a grow fail.
  ASSERT_OK_AND_ASSIGN(InstrumentedModule unbounded, Instrument(WatToWasm(R"((module
    (table $t 1 funcref)
    (func (export "_start")
      (if (i32.ne (table.grow $t (ref.null func) (i32.const 100000000)) (i32.const -1))
        (then unreachable)))))")));
  r = RunInterp(unbounded);
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;

  // A declared maximum over 10,000,000 is capped there.
  ASSERT_OK_AND_ASSIGN(InstrumentedModule capped, Instrument(WatToWasm(R"((module
    (table $t 1 4000000000 funcref) (func (export "_start"))))")));
  ASSERT_OK_AND_ASSIGN(TableEntries entries, ScanTableEntries(capped.wasm));
  EXPECT_EQ(entries.max, 10'000'000u);
}

TEST(WasmHostileTest, TheTableReserveComesOutOfLinearMemory) {
  // 2,000,000 entries reserve 48,000,000 bytes, leaving 867 pages of 100 MiB.
  ASSERT_OK_AND_ASSIGN(InstrumentedModule m, Instrument(WatToWasm(R"((module
    (table 1 2000000 funcref) (memory 1)
    (func (export "_start")
      (if (i32.ne (memory.grow (i32.const 867)) (i32.const -1)) (then unreachable))
      (if (i32.ne (memory.grow (i32.const 866)) (i32.const 1)) (then unreachable)))))")));
  RunResult r = RunInterp(m);
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
}

TEST(WasmHostileTest, AotRefusesTablesOverTheMemoryLimitBeforeCompiling) {
  if (!AotAvailable({})) GTEST_SKIP() << "no C compiler for the aot engine";
  AotOptions options;
  options.cache_dir = ::testing::TempDir() + "mesh-wasm-hostile-aot";
  options.allow_compile = false;  // the refusal must come before any compilation
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<AotEngine> aot, AotEngine::Create(options));
  ASSERT_OK_AND_ASSIGN(InstrumentedModule m, Instrument(WatToWasm(R"((module
    (table 10000000 funcref) (func (export "_start"))))")));
  ASSERT_OK_AND_ASSIGN(RunResult r, aot->Run("hostile", m, {}, Limits{}));
  EXPECT_EQ(r.report.outcome, Outcome::kMemoryLimit) << r.report.message;
  EXPECT_THAT(r.report.message, HasSubstr("240000000 bytes for tables"));
}

}  // namespace
}  // namespace mesh::wasm
