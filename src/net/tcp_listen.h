// Private to the net module: a listening TCP socket, shared by the gRPC port's handshake gate
// and the blob stream server.
#pragma once

#include <sys/socket.h>

#include <string>

namespace mesh::net::internal {

struct ListeningSocket {
  int fd = -1;  // non-blocking, close-on-exec; -1 when it could not be made
  int family = 0;
  int port = 0;  // the bound port (the one the kernel chose for port "0")
};

// Binds and listens on host:port (empty host: every address), SO_REUSEADDR so a restarted node
// takes its port back at once (no SO_REUSEPORT: a second node on the same port is refused
// instead of splitting the traffic). On failure, fd is -1 and `*error` says why.
ListeningSocket ListenTcp(const std::string& host, const std::string& port, std::string* error);

}  // namespace mesh::net::internal
