#include "mesh/common/format_bytes.h"

#include <iterator>

#include "absl/strings/str_format.h"

namespace mesh {

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  size_t unit = 0;
  while (unit + 1 < std::size(kUnits) && bytes >= (uint64_t{1} << (10 * (unit + 1)))) ++unit;
  const uint64_t scale = uint64_t{1} << (10 * unit);
  if (bytes % scale == 0) return absl::StrFormat("%d %s", bytes / scale, kUnits[unit]);
  return absl::StrFormat("%.1f %s", static_cast<double>(bytes) / static_cast<double>(scale),
                         kUnits[unit]);
}

}  // namespace mesh
