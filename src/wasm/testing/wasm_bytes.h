// Test helper: the two pieces every hand-built WASM binary needs, for tests and fuzzers that
// make modules no text format can state (millions of nested blocks, counts past a limit).
// Header-only; pure functions. Test-only.
#pragma once

#include <cstdint>
#include <string>

#include "mesh/common/varint.h"

namespace mesh::wasm::testing {

// An unsigned LEB128 number, as the binary format writes counts, sizes and indices.
inline std::string Leb(uint64_t n) {
  std::string out;
  AppendVarint(n, out);
  return out;
}

// A section: its id, its size, its body.
inline std::string Section(int id, const std::string& body) {
  return std::string(1, static_cast<char>(id)) + Leb(body.size()) + body;
}

}  // namespace mesh::wasm::testing
