// Who may talk to the API, decided from a request's header alone: the Host header (a loopback
// name or address, the node's listen address, or a configured name; anything else is a
// DNS-rebinding attempt and gets 421) and the bearer token (the "Bearer" scheme matched
// case-insensitively; accounts::UserStore finds its user, comparing hashes in constant time).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace mesh::api {

// True for localhost (and *.localhost), 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
bool IsLoopbackName(std::string_view host);

// Ok if a request with this Host header value may be answered; otherwise InvalidArgument (a
// malformed value: answer 400) or PermissionDenied (a name this node does not serve: 421), with
// a message naming the host and the fix. `listen_host`: the API's bind address (ignored when it
// is 0.0.0.0 or ::). `allowed`: [api] allowed_hosts, names without port; "*" allows any name.
absl::Status CheckHost(std::string_view host_header, std::string_view listen_host,
                       const std::vector<std::string>& allowed);

// The token of "Bearer <token>" (scheme in any case, one or more spaces); empty when the value
// is not a bearer credential.
std::string BearerToken(std::string_view authorization);

}  // namespace mesh::api
