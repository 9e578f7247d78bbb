#include "mesh/wasm/instrumenter.h"

#include "mesh/wasm/engine.h"

#include <gtest/gtest.h>

#include "mesh/common/testing.h"
#include "testing/wat.h"

namespace mesh::wasm {
namespace {

using testing::WatToWasm;

constexpr char kMinimal[] = R"((module (func (export "_start"))))";

TEST(InstrumenterTest, AddsMeteringGlobalsAndKeepsExports) {
  ASSERT_OK_AND_ASSIGN(InstrumentedModule m, Instrument(WatToWasm(kMinimal)));
  EXPECT_GT(m.wasm.size(), 8u);
  EXPECT_NE(m.wasm.find(std::string(kFuelExport)), std::string::npos);
  EXPECT_NE(m.wasm.find(std::string(kDepthExport)), std::string::npos);
  EXPECT_NE(m.wasm.find("_start"), std::string::npos);
  // Instrumenting is deterministic: the same input gives the same bytes.
  ASSERT_OK_AND_ASSIGN(InstrumentedModule again, Instrument(WatToWasm(kMinimal)));
  EXPECT_EQ(m.wasm, again.wasm);
}

TEST(InstrumenterTest, ReportsImportsWithSignatures) {
  ASSERT_OK_AND_ASSIGN(InstrumentedModule m, Instrument(WatToWasm(R"((module
    (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
    (import "mesh" "progress" (func (param i32 i32 i32)))
    (memory 2)
    (func (export "_start")))
  )")));
  ASSERT_EQ(m.imports.size(), 2u);
  EXPECT_EQ(m.imports[0].name, "fd_write");
  EXPECT_EQ(m.imports[0].params.size(), 4u);
  EXPECT_EQ(m.imports[0].results.size(), 1u);
  EXPECT_EQ(m.imports[1].module, "mesh");
  EXPECT_EQ(m.initial_memory_bytes, 2u * 65536);
}

TEST(InstrumenterTest, InstrumentsMultiValueReturnsAndBulkMemory) {
  ASSERT_OK(Instrument(WatToWasm(R"((module
    (memory 1)
    (func $pair (param i32) (result i32 i32)
      (if (local.get 0) (then (return (i32.const 1) (i32.const 2))))
      (i32.const 3) (i32.const 4))
    (func (export "_start")
      (call $pair (i32.const 1)) drop drop
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 100))
      (memory.copy (i32.const 200) (i32.const 0) (i32.const 100))
      (drop (memory.grow (i32.const 1)))))
  )"))
                .status());
}

TEST(InstrumenterTest, RejectsTruncatedAndGarbageModulesWithOffset) {
  const std::string wasm = WatToWasm(R"((module (func (export "_start") (nop))))");
  for (size_t len : {size_t{0}, size_t{4}, size_t{8}, wasm.size() / 2, wasm.size() - 1}) {
    auto r = Instrument(wasm.substr(0, len));
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << len;
  }
  auto bad_magic = Instrument(std::string("\0asn\1\0\0\0", 8));
  EXPECT_NE(bad_magic.status().message().find("byte offset"), std::string::npos)
      << bad_magic.status();
  std::string corrupted = wasm;
  corrupted[8] = '\x7f';  // the first section's id: no such section
  auto bad_section = Instrument(corrupted);
  EXPECT_FALSE(bad_section.ok());
  EXPECT_NE(bad_section.status().message().find("byte offset 10: invalid section code"),
            std::string::npos)
      << bad_section.status();
}

TEST(InstrumenterTest, RejectsInvalidCode) {
  // Type error: i32.add with one operand. WAT->binary does not validate, the instrumenter does.
  auto r =
      Instrument(WatToWasm(R"((module (func (export "_start") (drop (i32.add (i32.const 1))))))"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("validate"), std::string::npos) << r.status();
}

TEST(InstrumenterTest, RequiresWasiCommandShape) {
  auto none = Instrument(WatToWasm(R"((module (func (export "main"))))"));
  EXPECT_NE(none.status().message().find("_start"), std::string::npos);
  auto params = Instrument(WatToWasm(R"((module (func (export "_start") (param i32))))"));
  EXPECT_FALSE(params.ok());
  auto memory_import = Instrument(WatToWasm(R"((module
    (import "env" "memory" (memory 1)) (func (export "_start"))))"));
  EXPECT_EQ(memory_import.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(memory_import.status().message().find("env.memory"), std::string::npos);
  auto start_section = Instrument(WatToWasm(R"((module
    (func $init) (start $init) (func (export "_start"))))"));
  EXPECT_NE(start_section.status().message().find("start section"), std::string::npos);
  auto reserved = Instrument(WatToWasm(R"((module
    (global (export "__mesh_fuel") i32 (i32.const 0)) (func (export "_start"))))"));
  EXPECT_FALSE(reserved.ok());
}

TEST(InstrumenterTest, TrapsNameTheFunctionTheyHappenIn) {
  ASSERT_OK_AND_ASSIGN(InstrumentedModule m, Instrument(WatToWasm(R"((module
    (func $helper (result i32) (i32.const 1))
    (func $boom (drop (call $helper)) unreachable)
    (func (export "_start") (call $boom)))
  )")));
  ASSERT_EQ(m.function_names.size(), 3u);
  EXPECT_EQ(m.function_names[1], "boom");
  ASSERT_OK_AND_ASSIGN(RunResult r, MakeInterpEngine()->Run("m", m, {}, Limits{}));
  EXPECT_EQ(r.report.outcome, Outcome::kTrap);
  // $helper returned before the trap: the function is restored to $boom.
  EXPECT_EQ(r.report.trap_function, "#1 (boom)");
  EXPECT_NE(r.report.message.find("boom"), std::string::npos) << r.report.message;
}

}  // namespace
}  // namespace mesh::wasm

namespace mesh::wasm {
namespace {

// The limits pre-scan decodes every instruction's immediates to track nesting; an opcode it
// could not size would refuse a valid module. One of each family Mesh runs:
TEST(ModuleLimitsTest, PreScanAcceptsEveryInstructionFamily) {
  const std::string wasm = testing::WatToWasm(R"((module
    (type $pair (func (result i32 i32)))
    (type $v (func))
    (memory 1) (table $t 2 4 funcref) (table $e 1 externref)
    (global $g (mut i64) (i64.const -9223372036854775808))
    (data $d "abc") (elem $el func $f)
    (func $f (type $v))
    (func (export "_start") (local i32 i64 f32 f64 funcref externref)
      (block (type $pair) (i32.const 1) (i32.const 2)) drop drop
      (loop $l (br_if $l (i32.const 0)))
      (if (i32.const 1) (then nop) (else nop))
      (block $a (block $b (br_table $a $b $a (i32.const 1))))
      (call_indirect $t (type $v) (i32.const 0))
      (drop (select (result i64) (i64.const 1) (i64.const -2) (i32.const 0)))
      (drop (select (i32.const 1) (i32.const 2) (i32.const 0)))
      (local.set 1 (i64.extend8_s (i64.const 0x7fffffffffffffff)))
      (local.set 2 (f32.const 1.5)) (local.set 3 (f64.const -2.25))
      (global.set $g (i64.trunc_sat_f64_s (local.get 3)))
      (i32.store8 offset=7 align=1 (i32.const 0) (i32.load16_u offset=3 (i32.const 0)))
      (drop (memory.size)) (drop (memory.grow (i32.const 0)))
      (memory.init $d (i32.const 0) (i32.const 0) (i32.const 3)) (data.drop $d)
      (memory.copy (i32.const 0) (i32.const 1) (i32.const 1))
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))
      (table.init $t $el (i32.const 0) (i32.const 0) (i32.const 1)) (elem.drop $el)
      (table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 1))
      (drop (table.grow $t (ref.null func) (i32.const 1))) (drop (table.size $e))
      (table.fill $t (i32.const 0) (ref.func $f) (i32.const 1))
      (table.set $e (i32.const 0) (table.get $e (i32.const 0)))
      (drop (ref.is_null (ref.null extern)))
      (return)))
  )");
  EXPECT_OK(CheckModuleLimits(wasm));
  ASSERT_OK_AND_ASSIGN(InstrumentedModule m, Instrument(wasm));
  // Tables keep their declared maximum; one without keeps its initial size.
  ASSERT_OK_AND_ASSIGN(TableEntries tables, ScanTableEntries(m.wasm));
  EXPECT_EQ(tables.initial, 3u);
  EXPECT_EQ(tables.max, 5u);
}

}  // namespace
}  // namespace mesh::wasm
