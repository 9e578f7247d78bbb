// Gas and call-depth instrumentation of WASM modules: the source of exact, deterministic fuel.
//
// Instrument() validates a module and rewrites it so that it meters itself:
//  - a mutable i64 global (exported as kFuelExport) holds the fuel left. Each function entry
//    and each loop header subtracts the static cost of the code it leads into (every
//    instruction outside nested loops counts 1; a loop's body is paid per iteration), and traps
//    with `unreachable` once the counter goes negative;
//  - memory.fill / memory.copy / memory.init also pay 1 fuel per byte, before they run;
//  - a mutable i32 global (kDepthExport) counts the call depth; passing kMaxCallDepth traps;
//  - a mutable i32 global (kGrowFailedExport) counts the memory.grow calls that failed;
//  - a mutable i32 global (kFuncExport) holds the index of the running function.
// Inside a function the counter is cached in a local (a register once compiled) and written
// back to the global around calls, on return and before a fuel trap; after any other trap the
// global holds the value at the last such point, which is the same on every engine.
// Engines read the globals after a trap to tell fuel exhaustion and stack overflow from the
// module's own traps. Because the metering is in the module itself, every engine measures the
// same fuel for the same module and input. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/wasm/module_limits.h"

namespace mesh::wasm {

inline constexpr std::string_view kFuelExport = "__mesh_fuel";
inline constexpr std::string_view kDepthExport = "__mesh_depth";
// Set to 1 when a memory.grow fails, so a job that dies after running out of memory is
// reported as hitting the memory limit rather than as a plain trap.
inline constexpr std::string_view kGrowFailedExport = "__mesh_grow_failed";
// The index of the function executing (restored on return), so a trap names its function on
// every engine.
inline constexpr std::string_view kFuncExport = "__mesh_func";
// WABT 1.0.32's interpreter has a fixed call stack of 1,637 frames (64 KiB of frames, not
// configurable); the limit sits below it so both engines stop at exactly the same depth.
inline constexpr uint32_t kMaxCallDepth = 1500;

enum class ValType : uint8_t { kI32, kI64, kF32, kF64 };

struct FuncImport {
  std::string module;
  std::string name;
  std::vector<ValType> params;
  std::vector<ValType> results;
};

struct InstrumentedModule {
  std::string wasm;                 // the instrumented binary
  std::vector<FuncImport> imports;  // function imports, in index order
  uint64_t initial_memory_bytes = 0;
  uint64_t code_units = 0;  // instructions in the original code (a size measure)
  // Leaf loops charged once on entry (trip count x body cost) when the fuel covers them all.
  uint64_t counted_loops = 0;
  // Function index -> name from the module's name section ("" where it has none).
  std::vector<std::string> function_names;
};

struct InstrumentOptions {
  // false: add the globals but no charges and no depth counting. Only for measuring the cost of
  // metering (bench/); an unmetered module has no fuel or stack limit.
  bool metering = true;
  // false: every loop iteration is charged at its header, as before counted loops. The fuel of
  // any run is the same either way (tests compare the two); only for tests and benchmarks.
  bool count_loops = true;
  // Checked on the raw bytes before anything else (CheckModuleLimits). The output gives every
  // table the maximum it has at run time: the declared one, capped at max_table_entries, or
  // its initial size when it declares none (table.grow then returns -1, as the spec allows on
  // resource exhaustion). Engines reserve that maximum against the memory limit
  // (RunScope::Admit), so memory plus tables never exceed it, with no check at run time.
  ModuleLimits limits;
};

// InvalidArgument naming the limit for modules over `options.limits` (checked first, on the raw
// bytes) and the byte offset for malformed or invalid modules; Unimplemented for
// features Mesh does not run (threads, SIMD, memory64, imported memories/tables/globals) and for
// modules that are not WASI commands (no `_start`).
absl::StatusOr<InstrumentedModule> Instrument(std::string_view wasm_bytes,
                                              InstrumentOptions options = {});

}  // namespace mesh::wasm

namespace mesh::wasm {
// "#12 (matmul)" or "#12": how reports name function `index`; "" for a negative index.
std::string FunctionLabel(const InstrumentedModule& module, int64_t index);
}  // namespace mesh::wasm
