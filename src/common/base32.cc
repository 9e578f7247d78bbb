#include "mesh/common/base32.h"

#include "mesh/common/strings.h"

namespace mesh {
namespace {
constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

int Base32Value(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}
}  // namespace

std::string Base32Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

absl::StatusOr<std::string> Base32Decode(std::string_view text) {
  // Lengths 1, 3 and 6 (mod 8) cannot come from any whole number of bytes.
  const size_t rem = text.size() % 8;
  if (rem == 1 || rem == 3 || rem == 6) {
    return absl::InvalidArgumentError(
        mesh::StrCat("base32 text has impossible length ", text.size()));
  }
  std::string out;
  out.reserve(text.size() * 5 / 8);
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int v = Base32Value(text[i]);
    if (v < 0) {
      return absl::InvalidArgumentError(
          mesh::StrCat("invalid base32 character '", std::string_view(&text[i], 1), "' at offset ",
                       i, " (expected lower-case a-z or 2-7, no padding)"));
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) {
    return absl::InvalidArgumentError("base32 text has non-zero trailing bits");
  }
  return out;
}

}  // namespace mesh
