// Unsigned LEB128 varints as the multiformats unsigned-varint spec defines them: at most
// 9 bytes, minimal encoding only (a trailing 0x00 continuation is rejected). Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mesh {

void AppendVarint(uint64_t value, std::string& out);

// Reads a varint from the front of `in` and advances `in` past it.
absl::StatusOr<uint64_t> ReadVarint(std::string_view& in);

}  // namespace mesh
