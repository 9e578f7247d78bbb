// Splitting a listen or peer address: "host:port", or "[v6 address]:port".
#pragma once

#include <optional>
#include <string_view>

namespace mesh {

struct HostPort {
  std::string_view host;  // without the brackets of "[::1]"
  std::string_view port;  // the text after the last colon (may be empty)
};

// Split at the last colon; nullopt when there is none (no port).
inline std::optional<HostPort> SplitHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return HostPort{host, address.substr(colon + 1)};
}

}  // namespace mesh
