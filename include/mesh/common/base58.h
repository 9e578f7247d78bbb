// Base58 with the Bitcoin alphabet (multibase 'z', used by did:key). Leading zero bytes map to
// leading '1's. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mesh {

std::string Base58Encode(std::string_view bytes);
absl::StatusOr<std::string> Base58Decode(std::string_view text);

}  // namespace mesh
