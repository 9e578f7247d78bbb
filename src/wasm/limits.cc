#include "mesh/wasm/limits.h"

#include <cctype>

#include "mesh/common/strings.h"

namespace mesh::wasm {

absl::StatusOr<uint64_t> ParseByteSize(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  if (digits == 0 || digits > 18) {
    return absl::InvalidArgumentError(
        mesh::StrCat("'", text, "' is not a size; use e.g. 100MiB, 64KiB or 1048576"));
  }
  const uint64_t number = std::stoull(std::string(text.substr(0, digits)));
  const std::string_view unit = text.substr(digits);
  uint64_t scale;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "KiB" || unit == "K") {
    scale = 1ull << 10;
  } else if (unit == "MiB" || unit == "M") {
    scale = 1ull << 20;
  } else if (unit == "GiB" || unit == "G") {
    scale = 1ull << 30;
  } else if (unit == "KB") {
    scale = 1000;
  } else if (unit == "MB") {
    scale = 1000'000;
  } else if (unit == "GB") {
    scale = 1000'000'000;
  } else {
    return absl::InvalidArgumentError(mesh::StrCat("unknown size unit '", unit, "' in '", text,
                                                   "'; use B, KiB, MiB, GiB, KB, MB or GB"));
  }
  if (number > UINT64_MAX / scale) {
    return absl::InvalidArgumentError(mesh::StrCat("size '", text, "' is too large"));
  }
  return number * scale;
}

absl::StatusOr<absl::Duration> ParseWallTime(std::string_view text) {
  absl::Duration d;
  if (!absl::ParseDuration(ToAbsl(text), &d) || d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("'", text, "' is not a positive duration; use e.g. 30s, 500ms or 2m"));
  }
  return d;
}

}  // namespace mesh::wasm
