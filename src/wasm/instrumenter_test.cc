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
