// RFC 4648 base64 with the standard alphabet and '=' padding (how JSON carries bytes, e.g. a
// signed JobSpec envelope inside an Assignment). Decoding is strict: characters outside the
// alphabet, missing or misplaced padding and non-zero trailing bits are rejected, so every byte
// string has exactly one text form. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mesh {

std::string Base64Encode(std::string_view bytes);
absl::StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace mesh
