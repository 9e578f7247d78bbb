// String helpers bridging std::string_view and Debian's abseil, whose absl::string_view is its
// own type (ABSL_OPTION_USE_STD_STRING_VIEW is 0 in the bookworm package): absl::StrCat and
// friends do not accept std::string_view there. mesh::StrCat converts and forwards.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace mesh {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

namespace strings_internal {
template <typename T>
decltype(auto) Bridge(const T& v) {
  if constexpr (std::is_convertible_v<const T&, std::string_view> &&
                !std::is_convertible_v<const T&, absl::string_view>) {
    return ToAbsl(std::string_view(v));
  } else {
    return (v);
  }
}
}  // namespace strings_internal

template <typename... Args>
std::string StrCat(const Args&... args) {
  return absl::StrCat(strings_internal::Bridge(args)...);
}

}  // namespace mesh
