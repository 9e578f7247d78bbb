// Counted leaf loops are charged once on entry (trips x body cost) when the fuel covers them.
// Each test runs the same module instrumented both ways (InstrumentOptions::count_loops) and
// requires identical runs: outcome, fuel, output, at every fuel limit tried, including limits
// that run out inside the loop.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mesh/common/file_util.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/wasm/aot_engine.h"
#include "mesh/wasm/engine.h"
#include "mesh/wasm/instrumenter.h"
#include "testing/wat.h"

namespace mesh::wasm {
namespace {

using testing::WatToWasm;

// One shape of counted loop: `$work` runs it once per call; `_start` calls `$work` `kCalls`
// times and prints one "x" after each, then the sum of the induction values it saw (4 bytes).
// A run out of fuel inside the loop shows, in its output, how many calls completed.
struct LoopShape {
  std::string label;
  bool i64 = false;
  int64_t start = 0;
  int64_t bound = 0;
  int64_t step = 1;
  enum Form { kTeeThenBound, kBoundThenTee, kNonZero } form = kTeeThenBound;
  bool bound_is_const = false;
  bool sub = false;          // i = i - step rather than i + step
  bool const_first = false;  // T.add (T.const step) (local.get i)
};

constexpr int kCalls = 4;

std::string LoopModule(const LoopShape& s) {
  const std::string t = s.i64 ? "i64" : "i32";
  const std::string step = mesh::StrCat("(", t, ".const ", s.step, ")");
  const std::string i = "(local.get $i)";
  const std::string inc = mesh::StrCat("(", t, s.sub ? ".sub " : ".add ",
                                       s.const_first ? step + " " + i : i + " " + step, ")");
  const std::string tee = "(local.tee $i " + inc + ")";
  const std::string bound =
      s.bound_is_const ? mesh::StrCat("(", t, ".const ", s.bound, ")") : "(local.get $b)";
  std::string latch;
  switch (s.form) {
    case LoopShape::kTeeThenBound:
      latch = mesh::StrCat("(br_if $l (", t, ".ne ", tee, " ", bound, "))");
      break;
    case LoopShape::kBoundThenTee:
      latch = mesh::StrCat("(br_if $l (", t, ".ne ", bound, " ", tee, "))");
      break;
    case LoopShape::kNonZero:
      latch = "(br_if $l " + tee + ")";
      break;
  }
  const std::string wrap = s.i64 ? "(i32.wrap_i64 (local.get $i))" : "(local.get $i)";
  return mesh::StrCat(R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (data (i32.const 100) "x")
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $work (local $i )",
                      t, ") (local $b ", t, ") (local $acc i32)\n    (local.set $i (", t, ".const ",
                      s.start, "))\n    (local.set $b (", t, ".const ", s.bound,
                      "))\n    (loop $l\n      (local.set $acc (i32.add (local.get $acc) ", wrap,
                      "))\n      ", latch, R"()
    (i32.store (i32.const 200) (i32.add (i32.load (i32.const 200)) (local.get $acc))))
  (func (export "_start") (local $r i32)
    (loop $calls
      (call $work)
      (call $print (i32.const 100) (i32.const 1))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $calls (i32.lt_u (local.get $r) (i32.const )",
                      kCalls, R"())))
    (call $print (i32.const 200) (i32.const 4))))
)");
}

InstrumentedModule InstrumentBothWays(const std::string& wat, bool count_loops) {
  auto m = Instrument(WatToWasm(wat), {.count_loops = count_loops});
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : InstrumentedModule{};
}

RunResult RunWithFuel(Engine& engine, const InstrumentedModule& m, uint64_t fuel) {
  auto r = engine.Run("m", m, {}, Limits{.fuel = fuel});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : RunResult{};
}

void ExpectSameRun(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(a.report.outcome, b.report.outcome) << a.report.message << " | " << b.report.message;
  EXPECT_EQ(a.report.fuel_used, b.report.fuel_used);
  EXPECT_EQ(a.output, b.output);
  EXPECT_EQ(a.report.trap_function, b.report.trap_function);
}

// Runs both instrumentations at `fuel` and a sweep of limits below the fuel the run needs,
// including every limit within one loop iteration of where it runs out.
void ExpectSameFuelEverywhere(Engine& engine, const InstrumentedModule& counted,
                              const InstrumentedModule& per_iteration, uint64_t fuel) {
  const RunResult full = RunWithFuel(engine, per_iteration, fuel);
  ExpectSameRun(RunWithFuel(engine, counted, fuel), full);
  if (full.report.outcome != Outcome::kOk) return;
  const uint64_t need = full.report.fuel_used;
  std::vector<uint64_t> limits = {need, need - 1, need / 2, need / 3, need / kCalls, 1};
  for (uint64_t d = 2; d < 40 && d < need; ++d) limits.push_back(need - d);
  for (uint64_t limit : limits) {
    SCOPED_TRACE(mesh::StrCat("fuel limit ", limit, " of ", need));
    const RunResult a = RunWithFuel(engine, counted, limit);
    const RunResult b = RunWithFuel(engine, per_iteration, limit);
    ExpectSameRun(a, b);
    EXPECT_EQ(a.report.outcome, limit >= need ? Outcome::kOk : Outcome::kFuelExhausted);
  }
}

std::vector<LoopShape> EligibleShapes() {
  std::vector<LoopShape> shapes;
  auto add = [&](LoopShape s) { shapes.push_back(std::move(s)); };
  add({.label = "i32 0..1000 step 1", .start = 0, .bound = 1000});
  add({.label = "i32 0..1000 step 2 bound first",
       .start = 0,
       .bound = 1000,
       .step = 2,
       .form = LoopShape::kBoundThenTee});
  add({.label = "i32 const bound step 3",
       .start = 4,
       .bound = 304,
       .step = 3,
       .bound_is_const = true});
  add({.label = "i32 const first", .start = -50, .bound = 50, .const_first = true});
  add({.label = "i32 down to 0 (i != 0)",
       .start = 700,
       .step = 1,
       .form = LoopShape::kNonZero,
       .sub = true});
  add({.label = "i32 down by -7 (add)", .start = 700, .bound = 0, .step = -7});
  add({.label = "i32 one trip", .start = 9, .bound = 10});
  add({.label = "i32 across the sign", .start = 0x7fffff00, .bound = -0x7fffff00, .step = 0x10});
  add({.label = "i32 unsigned wrap", .start = -500, .bound = 300});
  add({.label = "i64 0..1000 step 1", .i64 = true, .start = 0, .bound = 1000});
  add({.label = "i64 big values",
       .i64 = true,
       .start = int64_t{1} << 40,
       .bound = (int64_t{1} << 40) + 900,
       .step = 3,
       .form = LoopShape::kBoundThenTee});
  add({.label = "i64 sub", .i64 = true, .start = 1000, .bound = 10, .step = 5, .sub = true});
  return shapes;
}

// Entry values whose trip count the entry check cannot give: the loop takes the
// per-iteration path and runs out of fuel exactly as before.
std::vector<LoopShape> UncountableEntries() {
  std::vector<LoopShape> shapes;
  auto add = [&](LoopShape s) { shapes.push_back(std::move(s)); };
  add({.label = "i32 start == bound: 2^32 trips", .start = 5, .bound = 5});
  add({.label = "i32 step 2, odd distance: endless", .start = 0, .bound = 1001, .step = 2});
  add({.label = "i32 step 3, not a multiple", .start = 0, .bound = 1000, .step = 3});
  add({.label = "i64 start == bound", .i64 = true, .start = 1, .bound = 1});
  add({.label = "i64 huge trip count", .i64 = true, .start = 0, .bound = int64_t{1} << 62});
  add({.label = "i64 trips x cost overflows", .i64 = true, .start = 0, .bound = -1});
  add({.label = "i32 down to 0 from 0: 2^32 trips",
       .start = 0,
       .step = 1,
       .form = LoopShape::kNonZero,
       .sub = true});
  return shapes;
}

TEST(CountedLoopsTest, SameFuelOutputAndExhaustionAsPerIterationCharging) {
  auto interp = MakeInterpEngine();
  for (const LoopShape& s : EligibleShapes()) {
    SCOPED_TRACE(s.label);
    const std::string wat = LoopModule(s);
    const InstrumentedModule counted = InstrumentBothWays(wat, true);
    const InstrumentedModule per_iteration = InstrumentBothWays(wat, false);
    EXPECT_EQ(counted.counted_loops, 1u);  // $work's loop; _start's calls $work
    EXPECT_EQ(per_iteration.counted_loops, 0u);
    EXPECT_EQ(counted.code_units, per_iteration.code_units);
    ExpectSameFuelEverywhere(*interp, counted, per_iteration, 10'000'000);
  }
}

TEST(CountedLoopsTest, EntriesWithoutAnExactTripCountChargePerIteration) {
  auto interp = MakeInterpEngine();
  for (const LoopShape& s : UncountableEntries()) {
    SCOPED_TRACE(s.label);
    const std::string wat = LoopModule(s);
    const InstrumentedModule counted = InstrumentBothWays(wat, true);
    const InstrumentedModule per_iteration = InstrumentBothWays(wat, false);
    EXPECT_EQ(counted.counted_loops, 1u);
    for (uint64_t fuel : {uint64_t{1}, uint64_t{1000}, uint64_t{123457}, uint64_t{300000}}) {
      SCOPED_TRACE(fuel);
      const RunResult a = RunWithFuel(*interp, counted, fuel);
      ExpectSameRun(a, RunWithFuel(*interp, per_iteration, fuel));
      EXPECT_EQ(a.report.outcome, Outcome::kFuelExhausted);
    }
  }
}

TEST(CountedLoopsTest, AotMatchesInterpAndPerIterationCharging) {
  AotOptions options;
  const std::string dir = ::testing::TempDir() + "mesh-counted-loops-XXXXXX";
  std::string path = dir;
  ASSERT_NE(::mkdtemp(path.data()), nullptr);
  options.cache_dir = path;
  auto aot = AotEngine::Create(options);
  ASSERT_TRUE(aot.ok()) << aot.status();
  auto interp = MakeInterpEngine();
  for (const LoopShape& s : {EligibleShapes()[1], UncountableEntries()[1]}) {
    SCOPED_TRACE(s.label);
    const std::string wat = LoopModule(s);
    const InstrumentedModule counted = InstrumentBothWays(wat, true);
    const InstrumentedModule per_iteration = InstrumentBothWays(wat, false);
    for (uint64_t fuel : {uint64_t{10'000'000}, uint64_t{5000}, uint64_t{1}}) {
      SCOPED_TRACE(fuel);
      const RunResult a = RunWithFuel(**aot, counted, fuel);
      ExpectSameRun(a, RunWithFuel(**aot, per_iteration, fuel));
      ExpectSameRun(a, RunWithFuel(*interp, counted, fuel));
    }
    const RunResult full = RunWithFuel(*interp, per_iteration, 10'000'000);
    if (full.report.outcome == Outcome::kOk) {
      const uint64_t need = full.report.fuel_used;
      for (uint64_t limit : {need, need - 1, need - 7, need / 2}) {
        SCOPED_TRACE(limit);
        ExpectSameRun(RunWithFuel(**aot, counted, limit),
                      RunWithFuel(*interp, per_iteration, limit));
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// Loops the entry charge would get wrong keep their per-iteration charge.
TEST(CountedLoopsTest, LoopsWithoutAProvableTripCountAreNotCounted) {
  const std::string prelude = R"((module (memory 1)
    (func $f)
    (func (export "_start") (local $i i32) (local $b i32) (local $j i32)
      (local.set $b (i32.const 100)))";
  const std::string latch =
      "(br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $b)))";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"early exit",
       "(block $out (loop $l (br_if $out (i32.eq (local.get $i) (i32.const 7)))" + latch + "))"},
      {"continue", "(loop $l (br_if $l (i32.eq (local.get $i) (i32.const 7))) " + latch + ")"},
      {"induction written twice",
       "(loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) " + latch + ")"},
      {"bound written", "(loop $l (local.set $b (i32.const 50)) " + latch + ")"},
      {"call inside", "(loop $l (call $f) " + latch + ")"},
      {"bulk memory inside",
       "(loop $l (memory.fill (i32.const 0) (i32.const 0) (i32.const 8)) " + latch + ")"},
      {"signed compare",
       "(loop $l (br_if $l (i32.lt_s (local.tee $i (i32.add (local.get $i) (i32.const 1))) "
       "(local.get $b))))"},
      {"bound is the induction",
       "(loop $l (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) "
       "(local.get $i))))"},
      {"step 0",
       "(loop $l (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 0))) "
       "(local.get $b))))"},
      {"increment of another local",
       "(loop $l (br_if $l (i32.ne (local.tee $i (i32.add (local.get $j) (i32.const 1))) "
       "(local.get $b))))"},
      {"multiply, not add",
       "(loop $l (br_if $l (i32.ne (local.tee $i (i32.mul (local.get $i) (i32.const 2))) "
       "(local.get $b))))"},
      {"return inside",
       "(loop $l (if (i32.eq (local.get $i) (i32.const 3)) (then return)) " + latch + ")"},
      {"br_table out",
       "(block $out (loop $l (block $in (br_table $in $out (local.get $i))) " + latch + "))"},
      {"latch not last", "(loop $l " + latch + " nop)"},
  };
  for (const auto& [label, body] : cases) {
    SCOPED_TRACE(label);
    const std::string wat = prelude + body + "))";
    ASSERT_OK_AND_ASSIGN(InstrumentedModule m, Instrument(WatToWasm(wat)));
    EXPECT_EQ(m.counted_loops, 0u);
    // Still exact: the module runs the same as when nothing is counted.
    auto interp = MakeInterpEngine();
    ExpectSameRun(RunWithFuel(*interp, m, 50'000),
                  RunWithFuel(*interp, InstrumentBothWays(wat, false), 50'000));
  }
}

TEST(CountedLoopsTest, InnerLoopIsCountedNotTheOuterOne) {
  const std::string wat = R"((module (memory 1)
    (func (export "_start") (local $i i32) (local $j i32) (local $acc i32)
      (loop $outer
        (local.set $j (i32.const 0))
        (loop $inner
          (local.set $acc (i32.add (local.get $acc) (local.get $j)))
          (br_if $inner (i32.ne (local.tee $j (i32.add (local.get $j) (i32.const 1)))
                                (i32.const 50))))
        (br_if $outer (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                              (i32.const 20))))
      (i32.store (i32.const 0) (local.get $acc))))
  )";
  const InstrumentedModule counted = InstrumentBothWays(wat, true);
  const InstrumentedModule per_iteration = InstrumentBothWays(wat, false);
  EXPECT_EQ(counted.counted_loops, 1u);
  auto interp = MakeInterpEngine();
  ExpectSameFuelEverywhere(*interp, counted, per_iteration, 1'000'000);
}

TEST(CountedLoopsTest, LoopThatTrapsMidwayReportsTheSameRun) {
  // The store goes out of bounds at i = 8192 (of 10000 trips): the fast path was taken, the
  // trap reports what the per-iteration charging reports.
  const std::string wat = R"((module (memory 1)
    (func (export "_start") (local $i i32)
      (loop $l
        (i32.store (i32.mul (local.get $i) (i32.const 8)) (local.get $i))
        (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                          (i32.const 10000))))))
  )";
  const InstrumentedModule counted = InstrumentBothWays(wat, true);
  const InstrumentedModule per_iteration = InstrumentBothWays(wat, false);
  EXPECT_EQ(counted.counted_loops, 1u);
  auto interp = MakeInterpEngine();
  for (uint64_t fuel : {uint64_t{10'000'000}, uint64_t{100'000}, uint64_t{1000}}) {
    SCOPED_TRACE(fuel);
    const RunResult a = RunWithFuel(*interp, counted, fuel);
    ExpectSameRun(a, RunWithFuel(*interp, per_iteration, fuel));
  }
  EXPECT_EQ(RunWithFuel(*interp, counted, 10'000'000).report.outcome, Outcome::kTrap);
}

// The example jobs: the same fuel and output with and without counted loops.
TEST(CountedLoopsTest, ExamplesRunTheSameWithAndWithoutCountedLoops) {
  const std::filesystem::path examples = MESH_EXAMPLES_DIR;
  if (!std::filesystem::exists(examples / "matmul.wasm")) {
    GTEST_SKIP() << "examples not built in " << examples << " (build target examples_wasm)";
  }
  auto interp = MakeInterpEngine();
  struct Case {
    std::string wasm;
    std::vector<std::string> args;
    std::string stdin_bytes;
  };
  std::string data(50000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + (i >> 5));
  for (const Case& c : {Case{"matmul.wasm", {"--gen", "24", "5"}, ""},
                        Case{"sha256.wasm", {}, data}, Case{"primes.wasm", {"3000"}, ""}}) {
    SCOPED_TRACE(c.wasm);
    ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(examples / c.wasm, 64 << 20));
    ASSERT_OK_AND_ASSIGN(InstrumentedModule counted, Instrument(bytes));
    ASSERT_OK_AND_ASSIGN(InstrumentedModule per_iteration,
                         Instrument(bytes, {.count_loops = false}));
    if (c.wasm == "matmul.wasm") {
      EXPECT_GT(counted.counted_loops, 0u);
    }
    JobInput input;
    input.args = c.args;
    input.stdin_bytes = c.stdin_bytes;
    ASSERT_OK_AND_ASSIGN(RunResult a, interp->Run("a", counted, input, Limits{}));
    ASSERT_OK_AND_ASSIGN(RunResult b, interp->Run("b", per_iteration, input, Limits{}));
    ExpectSameRun(a, b);
    EXPECT_EQ(a.report.outcome, Outcome::kOk) << a.report.message;
    // Out of fuel halfway: the same output up to the same point.
    Limits half{.fuel = b.report.fuel_used / 2};
    ASSERT_OK_AND_ASSIGN(RunResult ha, interp->Run("a", counted, input, half));
    ASSERT_OK_AND_ASSIGN(RunResult hb, interp->Run("b", per_iteration, input, half));
    ExpectSameRun(ha, hb);
    EXPECT_EQ(ha.report.outcome, Outcome::kFuelExhausted);
  }
}

}  // namespace
}  // namespace mesh::wasm
