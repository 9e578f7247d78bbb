// Private to the net module: one TLS 1.3 connection over a blocking TCP socket, both sides
// presenting their node certificate, with OpenSSL directly (no gRPC, no HTTP/2): the blob
// stream's connection (blob_stream_server.h). Node certificates are self-signed, so OpenSSL
// checks no chain; the caller checks the peer's certificate after the handshake
// (PeerCertificatePem, then PeerVerifier::Check) and sends nothing before it passed.
// A TlsStream is used by one thread at a time, except Abort, which any thread may call.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/net/tls_identity.h"

namespace mesh::net::internal {

// The node's certificate and key in an SSL_CTX: TLS 1.3 only, the peer's certificate requested
// (a server asks its clients for one), no session tickets (a blob connection is kept open and
// reused rather than resumed). Immutable once made; shared by all streams of a transport.
class TlsContext {
 public:
  static absl::StatusOr<std::shared_ptr<const TlsContext>> Create(const TlsIdentity& identity,
                                                                  bool server);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* get() const { return ctx_; }
  bool server() const { return server_; }

 private:
  TlsContext(SSL_CTX* ctx, bool server) : ctx_(ctx), server_(server) {}
  SSL_CTX* const ctx_;
  const bool server_;
};

class TlsStream {
 public:
  // Dials host:port (TCP within `connect_timeout`) and completes the client handshake within
  // `timeout`. `*reached` tells whether the TCP connection was made (false: nothing listens
  // there, or it is unreachable). Unavailable or DeadlineExceeded on failure.
  static absl::StatusOr<std::unique_ptr<TlsStream>> Connect(const std::string& host, int port,
                                                            std::shared_ptr<const TlsContext> tls,
                                                            absl::Duration connect_timeout,
                                                            absl::Duration timeout, bool* reached);
  // The server side of accepted socket `fd` (owned from now on, closed on failure), before
  // its handshake: Accept runs it, so that Abort can cut a handshake in progress.
  static absl::StatusOr<std::unique_ptr<TlsStream>> ForServer(
      int fd, std::shared_ptr<const TlsContext> tls);
  // The server handshake, within `timeout`.
  absl::Status Accept(absl::Duration timeout);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // The peer's certificate as PEM; empty when it presented none.
  std::string PeerCertificatePem() const;
  // From now on each read or write fails after `timeout` without progress (1 ms .. 1 day).
  void SetTimeout(absl::Duration timeout);
  // Reads exactly `size` bytes. Unavailable when the peer closed or reset the connection,
  // DeadlineExceeded when it stalled past the timeout.
  absl::Status ReadFull(char* data, size_t size);
  // A server stream buffers its records (a write(2) per 256 KiB, not per 16 KiB record):
  // `flush` = false leaves them buffered for the next write (a frame's header before its data).
  absl::Status WriteAll(std::string_view data, bool flush = true);
  // Unblocks a read or write in progress on another thread (shutdown(2) of the socket); every
  // later call fails. Thread-safe; idempotent.
  void Abort();

 private:
  TlsStream(int fd, SSL* ssl, std::shared_ptr<const TlsContext> tls)
      : fd_(fd), ssl_(ssl), tls_(std::move(tls)) {}
  absl::Status Failure(std::string_view what, int ssl_result);

  const int fd_;
  SSL* const ssl_;
  std::shared_ptr<const TlsContext> tls_;  // outlives ssl_
  absl::Duration timeout_ = absl::Seconds(30);
};

}  // namespace mesh::net::internal
