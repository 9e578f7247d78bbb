#include "mesh/common/varint.h"

namespace mesh {

void AppendVarint(uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

absl::StatusOr<uint64_t> ReadVarint(std::string_view& in) {
  // The multiformats spec caps varints at 9 bytes (63 bits of value).
  constexpr size_t kMaxBytes = 9;
  uint64_t value = 0;
  for (size_t i = 0; i < in.size() && i < kMaxBytes; ++i) {
    const auto b = static_cast<unsigned char>(in[i]);
    value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) {
        return absl::InvalidArgumentError("varint is not minimally encoded");
      }
      in.remove_prefix(i + 1);
      return value;
    }
  }
  if (in.size() >= kMaxBytes) {
    return absl::InvalidArgumentError("varint is longer than 9 bytes");
  }
  return absl::InvalidArgumentError("varint is truncated");
}

}  // namespace mesh
