#include "mesh/common/base58.h"

#include <vector>

#include "mesh/common/strings.h"

namespace mesh {
namespace {
constexpr char kAlphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
// Longer inputs are refused: the quadratic conversion is for identifiers, not bulk data.
constexpr size_t kMaxDecodeLength = 1024;

int Base58Value(char c) {
  for (int i = 0; i < 58; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}
}  // namespace

std::string Base58Encode(std::string_view bytes) {
  size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
  // Big-endian base-58 digits, built by repeated multiply-add.
  std::vector<uint8_t> digits;
  digits.reserve(bytes.size() * 138 / 100 + 1);
  for (size_t i = zeros; i < bytes.size(); ++i) {
    uint32_t carry = static_cast<unsigned char>(bytes[i]);
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
      carry += static_cast<uint32_t>(*it) << 8;
      *it = carry % 58;
      carry /= 58;
    }
    while (carry > 0) {
      digits.insert(digits.begin(), carry % 58);
      carry /= 58;
    }
  }
  std::string out(zeros, '1');
  for (uint8_t d : digits) out.push_back(kAlphabet[d]);
  return out;
}

absl::StatusOr<std::string> Base58Decode(std::string_view text) {
  if (text.size() > kMaxDecodeLength) {
    return absl::InvalidArgumentError(mesh::StrCat("base58 text is ", text.size(),
                                                   " characters; the limit is ", kMaxDecodeLength));
  }
  size_t ones = 0;
  while (ones < text.size() && text[ones] == '1') ++ones;
  std::vector<uint8_t> bytes;
  for (size_t i = ones; i < text.size(); ++i) {
    const int v = Base58Value(text[i]);
    if (v < 0) {
      return absl::InvalidArgumentError(mesh::StrCat(
          "invalid base58btc character '", std::string_view(&text[i], 1), "' at offset ", i));
    }
    uint32_t carry = static_cast<uint32_t>(v);
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
      carry += static_cast<uint32_t>(*it) * 58;
      *it = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.insert(bytes.begin(), carry & 0xff);
      carry >>= 8;
    }
  }
  std::string out(ones, '\0');
  out.append(bytes.begin(), bytes.end());
  return out;
}

}  // namespace mesh
