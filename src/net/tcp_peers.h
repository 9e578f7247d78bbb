// Private to the net module: which TCP connections to a local port are still established, asked
// of the kernel (NETLINK_SOCK_DIAG, as ss(8) does; no privilege needed). The handshake gate
// uses it to free the slots of connections that closed before their TLS handshake ended: gRPC
// owns those sockets by then and tells nobody.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace mesh::net::internal {

// A connection's far end as the kernel reports it: an IPv4 address in the first word, an IPv6
// one (or IPv4-mapped, on a dual-stack socket) in all four; the port in network byte order.
struct TcpEndpoint {
  std::array<uint32_t, 4> address{};
  uint16_t port = 0;
  friend bool operator==(const TcpEndpoint&, const TcpEndpoint&) = default;
};

// The far end of an accepted connection, from accept's address (AF_INET or AF_INET6).
TcpEndpoint EndpointOf(const sockaddr_storage& peer);

// The far ends of the ESTABLISHED connections of `family` whose local port is `local_port`.
absl::StatusOr<std::vector<TcpEndpoint>> EstablishedPeers(int family, int local_port);

}  // namespace mesh::net::internal
