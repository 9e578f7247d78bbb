// Private to the net module: the server's own accept loop in front of gRPC, which bounds TLS
// handshakes in progress. gRPC 1.51 has a handshake deadline (GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
// which the transport sets to the same `deadline`) but no cap on how many connections may sit in
// their handshake at once, so the gate accepts each TCP connection itself and hands it to gRPC
// (ExternalConnectionAcceptor) only while fewer than `max_pending` accepted connections have not
// reached their certificate check (PeerVerifier calls OnChecked) and are younger than
// `deadline`; beyond that it closes the new connection at once (counted handshake_cap).
// A connection that reaches no certificate check within the deadline is counted
// handshake_timeout (gRPC has dropped it by then). The gate cannot tell which connection a
// check belongs to, so it retires the oldest one per check: the count of handshakes in
// progress is exact, which one timed out is not. Established connections never count.
// A connection closed before its check (connect and close, or garbage that gRPC drops) never
// reaches one either: when the cap is reached, the gate asks the kernel which of its pending
// connections are still established (tcp_peers.h, at most every 50 ms) and frees the slots of
// the others, so closed connections cannot hold the cap for a deadline each.
//
// Thread-safe. Owns the listening socket, the acceptor and one accept thread; Stop (also run by
// the destructor) joins the thread and closes the socket.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/server_builder.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "refusal_counters.h"
#include "tcp_peers.h"

namespace mesh::net::internal {

struct HandshakeGateOptions {
  absl::Duration deadline = absl::Seconds(10);
  int max_pending = 256;
  RefusalCounters counters;
};

class HandshakeGate {
 public:
  // Binds and listens on `listen` ("host:port"; port 0 = any free port). Unavailable when the
  // address is taken or not local.
  static absl::StatusOr<std::unique_ptr<HandshakeGate>> Listen(const std::string& listen,
                                                               HandshakeGateOptions options);
  ~HandshakeGate();
  HandshakeGate(const HandshakeGate&) = delete;
  HandshakeGate& operator=(const HandshakeGate&) = delete;

  int port() const { return port_; }
  // Starts the accept thread; connections go to `acceptor` (whose server must be started).
  void Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor);
  // One handshake reached its certificate check (accepted or refused there).
  void OnChecked();
  // Stops accepting, closes the listening socket and lets go of the acceptor. Idempotent; the
  // first call returns once the accept thread has ended.
  void Stop();

 private:
  HandshakeGate(int listen_fd, int wake_fd, int family, int port, HandshakeGateOptions options);
  void Loop();
  enum class AcceptResult { kDrained, kBackOff, kFailed };
  // Accepts what is queued on the listening socket.
  AcceptResult AcceptAll();
  // Retires handshakes past their deadline, counting each as handshake_timeout.
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes a slot for `peer` if one is free.
  bool AdmitLocked(absl::Time now, const TcpEndpoint& peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees the slots of pending connections not among the `established` ones.
  void ForgetClosedLocked(const std::vector<TcpEndpoint>& established)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct Pending {
    absl::Time deadline;
    TcpEndpoint peer;
  };

  const int listen_fd_;
  const int wake_fd_;  // eventfd: Stop wakes the loop's poll.
  const int family_;   // of the listening socket: AF_INET or AF_INET6
  const int port_;
  const HandshakeGateOptions options_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::thread thread_;

  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);  // oldest first
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace mesh::net::internal
