#include "api_access.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool IsLoopbackName(std::string_view host) {
  const std::string name = Lower(host);
  if (name == "localhost" || (name.size() > 10 && name.ends_with(".localhost"))) return true;
  unsigned char addr[16];
  if (inet_pton(AF_INET, name.c_str(), addr) == 1) return addr[0] == 127;
  if (inet_pton(AF_INET6, name.c_str(), addr) == 1) {
    static constexpr unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(addr, addr + 16, kLoopback)) return true;
    return std::equal(addr, addr + 12, kMappedPrefix) && addr[12] == 127;
  }
  return false;
}

absl::Status CheckHost(std::string_view host_header, std::string_view listen_host,
                       const std::vector<std::string>& allowed) {
  std::string_view value = host_header;
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) {
    return absl::InvalidArgumentError(
        "the request has no Host header; send one (e.g. Host: 127.0.0.1:7420)");
  }
  std::string_view name, port;
  if (value.front() == '[') {
    const size_t close = value.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(mesh::StrCat("Host \"", value, "\" is malformed"));
    }
    name = value.substr(1, close - 1);
    std::string_view rest = value.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(mesh::StrCat("Host \"", value, "\" is malformed"));
      }
      port = rest.substr(1);
    }
  } else {
    const size_t colon = value.find(':');
    name = value.substr(0, colon);
    if (colon != std::string_view::npos) port = value.substr(colon + 1);
  }
  if (name.empty() || (!port.empty() && !AllDigits(port)) ||
      (port.empty() && value.back() == ':' && value.front() != '[')) {
    return absl::InvalidArgumentError(mesh::StrCat("Host \"", value, "\" is malformed"));
  }
  std::string lower = Lower(name);
  if (lower.size() > 1 && lower.back() == '.') lower.pop_back();  // "localhost." is localhost
  if (IsLoopbackName(lower)) return absl::OkStatus();
  const std::string listen = Lower(listen_host);
  if (listen != "0.0.0.0" && listen != "::" && lower == listen) return absl::OkStatus();
  for (const std::string& a : allowed) {
    if (a == "*" || Lower(a) == lower) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(mesh::StrCat(
      "this node does not answer for Host \"", name,
      "\" (only localhost, loopback addresses, its listen address and [api] allowed_hosts: a "
      "web page must not reach the node through its own name); add the name to allowed_hosts "
      "in meshd.toml to serve it"));
}

std::string BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      Lower(authorization.substr(0, kScheme.size())) != kScheme ||
      authorization[kScheme.size()] != ' ') {
    return std::string();
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  return std::string(token);
}

}  // namespace mesh::api
