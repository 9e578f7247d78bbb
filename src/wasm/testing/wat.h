// Test helper: compiles WebAssembly text to binary with WABT, so tests can state modules
// in a readable form. Test-only.
#pragma once

#include <string>
#include <string_view>

namespace mesh::wasm::testing {

// Aborts the test binary with the parser's message on malformed text (a bug in the test).
std::string WatToWasm(std::string_view wat);

}  // namespace mesh::wasm::testing
