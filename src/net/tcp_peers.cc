#include "tcp_peers.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mesh/common/file_util.h"

namespace mesh::net::internal {

TcpEndpoint EndpointOf(const sockaddr_storage& peer) {
  TcpEndpoint e;
  if (peer.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(peer);
    e.address[0] = in.sin_addr.s_addr;
    e.port = in.sin_port;
  } else if (peer.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(peer);
    std::memcpy(e.address.data(), &in6.sin6_addr, sizeof(in6.sin6_addr));
    e.port = in6.sin6_port;
  }
  return e;
}

absl::StatusOr<std::vector<TcpEndpoint>> EstablishedPeers(int family, int local_port) {
  ScopedFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd.valid()) return ErrnoToStatus(errno, "sock_diag socket");
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message = {};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = static_cast<uint8_t>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = 1u << TCP_ESTABLISHED;
  if (::send(fd.get(), &message, sizeof(message), 0) != static_cast<ssize_t>(sizeof(message))) {
    return ErrnoToStatus(errno, "sock_diag request");
  }
  std::vector<TcpEndpoint> peers;
  alignas(nlmsghdr) char buffer[32768];
  for (;;) {
    const ssize_t got = ::recv(fd.get(), buffer, sizeof(buffer), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoToStatus(errno, "sock_diag reply");
    if (got == 0) return absl::UnavailableError("sock_diag: the reply ended before its end mark");
    int left = static_cast<int>(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return peers;
      if (h->nlmsg_type == NLMSG_ERROR)
        return absl::UnavailableError("sock_diag: the kernel refused the dump");
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(m->id.idiag_sport) != local_port) continue;
      TcpEndpoint e;
      std::memcpy(e.address.data(), m->id.idiag_dst, sizeof(e.address));
      e.port = m->id.idiag_dport;
      peers.push_back(e);
    }
  }
}

}  // namespace mesh::net::internal
