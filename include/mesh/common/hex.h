// Lower-case hexadecimal encoding. Decoding accepts either case. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mesh {

std::string HexEncode(std::string_view bytes);
absl::StatusOr<std::string> HexDecode(std::string_view text);

}  // namespace mesh
