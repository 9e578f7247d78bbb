// RFC 4648 base32, lower-case alphabet, no padding: the multibase 'b' encoding used by CIDs.
// Decoding rejects upper case, padding, characters outside the alphabet and non-zero
// trailing bits, so every byte string has exactly one text form. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mesh {

std::string Base32Encode(std::string_view bytes);
absl::StatusOr<std::string> Base32Decode(std::string_view text);

}  // namespace mesh
