// Module limits: a cheap, bounds-checked pre-scan of a WASM binary that runs BEFORE anything
// else looks at it (before WABT decodes it, before instrumentation or compilation), so that
// no module can make Mesh spend memory, time or stack out of proportion to what a job may use.
//
// The counts follow the implementation-defined limits of the WebAssembly JS API that browsers
// and engines apply (https://webassembly.github.io/spec/js-api/#limits), so every module a
// browser accepts on those counts is accepted here. Two limits are Mesh's own: the total module
// size (operator-configurable) and the control nesting depth, which bounds the recursion of
// WABT's IR (its destructors and binary writer recurse once per nested block) and of the
// instrumenter. The nesting scan decodes instruction immediates but keeps only a counter, so it
// is linear in time and constant in stack whatever the input.
//
// Pure functions over a byte string; thread-safe. ModuleLimits is a plain value type.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mesh::wasm {

struct ModuleLimits {
  // The whole binary. Operators may change this one (see the node's config); the others are
  // the JS API's and are not meant to be tuned.
  uint64_t max_module_bytes = 64ull << 20;
  uint64_t max_types = 1'000'000;
  uint64_t max_functions = 1'000'000;  // imported + defined
  uint64_t max_imports = 100'000;
  uint64_t max_exports = 100'000;
  uint64_t max_globals = 1'000'000;  // imported + defined
  uint64_t max_data_segments = 100'000;
  uint64_t max_element_segments = 100'000;
  uint64_t max_tables = 100'000;
  uint64_t max_table_entries = 10'000'000;  // initial size of one table, and its growth
  uint64_t max_function_params = 1'000;
  uint64_t max_function_results = 1'000;
  uint64_t max_locals = 50'000;  // declared locals of one function
  uint64_t max_function_body_bytes = 7'654'321;
  // Nested block/loop/if in one function. 1,024 is far above what compilers emit (a C switch
  // over N distinct targets nests N blocks; interpreters and parsers stay in the hundreds) and
  // keeps WABT's recursive IR walks under ~1 MiB of stack on any thread Mesh runs them on.
  uint64_t max_nesting_depth = 1'024;
};

// OK, or InvalidArgument naming the limit that is exceeded ("module declares 100001 imports;
// the limit is 100000") or the byte offset at which the binary is malformed. Checks only what
// the limits need; full decoding and validation come after (Instrument()).
absl::Status CheckModuleLimits(std::string_view wasm_bytes, const ModuleLimits& limits = {});

// The summed initial and maximum entries of the tables a module defines (a table without a
// maximum counts its initial size as its maximum, as Instrument() makes it). Read from the
// binary itself so that it holds for any copy of an instrumented module, wherever it travels.
struct TableEntries {
  uint64_t initial = 0;
  uint64_t max = 0;
};
absl::StatusOr<TableEntries> ScanTableEntries(std::string_view wasm_bytes);

}  // namespace mesh::wasm
