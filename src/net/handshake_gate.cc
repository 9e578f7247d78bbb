#include "handshake_gate.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "mesh/common/host_port.h"
#include "mesh/common/strings.h"
#include "tcp_listen.h"

namespace mesh::net::internal {
namespace {

// The loop wakes at least this often to retire expired handshakes.
constexpr absl::Duration kMaxPollWait = absl::Milliseconds(250);
// Asking the kernel lists every established connection of the family: at most this often, so
// that a flood at the cap costs one listing per interval, not one per connection.
constexpr absl::Duration kMinSweepInterval = absl::Milliseconds(50);

absl::Status CannotListen(const std::string& listen, std::string_view why) {
  return absl::UnavailableError(
      mesh::StrCat("cannot listen on ", listen, " (", why,
                   "; address in use or not local?); choose another --mesh-listen address"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<HandshakeGate>> HandshakeGate::Listen(const std::string& listen,
                                                                     HandshakeGateOptions options) {
  const std::optional<HostPort> split = SplitHostPort(listen);
  if (!split.has_value()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("mesh listen address \"", listen, "\" has no port; use host:port"));
  }
  std::string error;
  const ListeningSocket listening =
      ListenTcp(std::string(split->host), std::string(split->port), &error);
  if (listening.fd < 0) return CannotListen(listen, error);
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    close(listening.fd);
    return absl::InternalError(mesh::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<HandshakeGate>(
      new HandshakeGate(listening.fd, wake, listening.family, listening.port, options));
}

HandshakeGate::HandshakeGate(int listen_fd, int wake_fd, int family, int port,
                             HandshakeGateOptions options)
    : listen_fd_(listen_fd), wake_fd_(wake_fd), family_(family), port_(port), options_(options) {}

HandshakeGate::~HandshakeGate() {
  Stop();
  close(wake_fd_);
}

void HandshakeGate::Start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor) {
  acceptor_ = std::move(acceptor);
  thread_ = std::thread([this] { Loop(); });
}

void HandshakeGate::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  // New connections are refused by the kernel from here on.
  close(listen_fd_);
  // The acceptor holds the server credentials, whose verifier holds this gate: let go of it
  // so that cycle ends here.
  acceptor_.reset();
}

void HandshakeGate::OnChecked() {
  absl::MutexLock lock(&mu_);
  if (!pending_.empty()) pending_.pop_front();
}

void HandshakeGate::ExpireLocked(absl::Time now) {
  while (!pending_.empty() && pending_.front().deadline <= now) {
    pending_.pop_front();
    RefusalCounters::Count(options_.counters.handshake_timeout);
  }
}

bool HandshakeGate::AdmitLocked(absl::Time now, const TcpEndpoint& peer) {
  if (static_cast<int>(pending_.size()) >= options_.max_pending) return false;
  pending_.push_back({.deadline = now + options_.deadline, .peer = peer});
  return true;
}

void HandshakeGate::ForgetClosedLocked(const std::vector<TcpEndpoint>& established) {
  std::erase_if(pending_, [&](const Pending& p) {
    return std::find(established.begin(), established.end(), p.peer) == established.end();
  });
}

HandshakeGate::AcceptResult HandshakeGate::AcceptAll() {
  for (;;) {
    sockaddr_storage peer = {};
    socklen_t peer_size = sizeof(peer);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_size,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return AcceptResult::kDrained;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM) continue;
      // Out of descriptors or memory: the connection stays queued and poll stays ready.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        return AcceptResult::kBackOff;
      }
      return AcceptResult::kFailed;
    }
    const absl::Time now = absl::Now();
    const TcpEndpoint endpoint = EndpointOf(peer);
    bool admit = false;
    bool sweep = false;
    {
      absl::MutexLock lock(&mu_);
      ExpireLocked(now);
      admit = AdmitLocked(now, endpoint);
      if (!admit && now - last_sweep_ >= kMinSweepInterval) {
        last_sweep_ = now;
        sweep = true;
      }
    }
    if (sweep) {
      // The kernel is asked without the lock, which certificate checks take on gRPC's threads.
      // Without its answer (no netlink here), slots wait for their deadline as before.
      absl::StatusOr<std::vector<TcpEndpoint>> established = EstablishedPeers(family_, port_);
      absl::MutexLock lock(&mu_);
      if (established.ok()) ForgetClosedLocked(*established);
      admit = AdmitLocked(now, endpoint);
    }
    if (!admit) {
      RefusalCounters::Count(options_.counters.handshake_cap);
      close(fd);
      continue;
    }
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters params;
    params.listener_fd = listen_fd_;
    params.fd = fd;  // gRPC owns it from here.
    acceptor_->HandleNewConnection(&params);
  }
}

void HandshakeGate::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      ExpireLocked(absl::Now());
    }
    pollfd fds[2] = {{.fd = listen_fd_, .events = POLLIN, .revents = 0},
                     {.fd = wake_fd_, .events = POLLIN, .revents = 0}};
    const int n = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(kMaxPollWait)));
    if (n < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;  // Stop.
    if (fds[0].revents == 0) continue;
    switch (AcceptAll()) {
      case AcceptResult::kDrained:
        break;
      case AcceptResult::kBackOff:  // Don't spin on a queue we cannot take from.
        absl::SleepFor(absl::Milliseconds(50));
        break;
      case AcceptResult::kFailed:
        return;
    }
  }
}

}  // namespace mesh::net::internal
