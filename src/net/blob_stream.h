// Private to the net module: the blob stream, FetchBlob on a TLS connection of its own instead
// of a gRPC call. gRPC moves a blob as HTTP/2 DATA frames of protobuf messages, each copied
// and framed several times; on this project's 2-core machine that tops out near 500-780 MB/s,
// where TLS itself on loopback moves about 1.5 GB/s. So a GrpcTransport also listens on a
// second port (its "blob port") where a blob is a plain sequence of length-prefixed chunks
// inside TLS 1.3.
//
// Trust is as on the gRPC port: mutual TLS with node certificates, the client certificate
// checked after the handshake (PeerVerifier::Check: a node certificate that `admit` accepts)
// and the server's checked by the client (and it must be the DID dialled); the request is the
// same signed BlobRequest envelope, checked by the Handler as for a gRPC FetchBlob. Bounds: a
// request is at most kMaxMessageBytes; a connection has `handshake_timeout` to finish its
// handshake, `idle_timeout` between requests and `io_timeout` per read or write; at most
// `max_connections` are open at once (beyond that new ones are closed at accept, counted
// handshake_cap). A refused certificate is answered with an error frame (the reason) and the
// connection closed.
//
// How a client learns the blob port: every gRPC FetchBlob reply carries it as initial metadata
// (kBlobPortMetadata), so the first fetch from a peer goes over gRPC and the following ones over
// the blob stream. A client that cannot connect to the blob port uses gRPC again and does not
// try that peer's blob port for kBlobStreamRetryAfter (a firewall, a NAT that forwards only the
// main port).
//
// Wire format, after the TLS handshake, all integers big-endian:
//   request: "MBS1", u32 length, the signed envelope (at most kMaxMessageBytes);
//   reply:   data frames (u32 length 1..kBlobChunkBytes, the bytes), then either u32 0 (the
//            blob is complete) or u32 0xFFFFFFFF, u32 absl status code, u32 length, a message
//            of at most kMaxErrorBytes (the transfer failed; nothing more follows).
// A connection carries one request at a time and may carry many in turn (the client keeps a
// few open per peer).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/cas/byte_source.h"
#include "mesh/crypto/did_key.h"
#include "mesh/net/transport.h"
#include "refusal_counters.h"
#include "tls_stream.h"

namespace mesh::net::internal {

inline constexpr char kBlobStreamMagic[4] = {'M', 'B', 'S', '1'};
inline constexpr uint32_t kBlobStreamEnd = 0;
inline constexpr uint32_t kBlobStreamError = 0xFFFFFFFF;
inline constexpr size_t kMaxErrorBytes = 4 << 10;
// gRPC initial metadata naming the blob port on FetchBlob replies.
inline constexpr char kBlobPortMetadata[] = "mesh-blob-port";
inline constexpr absl::Duration kBlobStreamRetryAfter = absl::Minutes(5);

// Opens the blob a peer asks for (the Handler's OpenBlob).
using BlobOpener = std::function<absl::StatusOr<std::unique_ptr<cas::ByteSource>>(
    const crypto::DidKey& peer, std::string_view request)>;

struct BlobStreamServerOptions {
  std::string host;  // to listen on: the gRPC listen address's host
  int port = 0;      // 0 = any free port
  std::shared_ptr<const TlsContext> tls;
  std::function<bool(const crypto::DidKey&)> admit;  // unset = any node
  RefusalCounters counters;
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration io_timeout = absl::Seconds(30);
  int max_connections = 64;
};

class BlobStreamServer {
 public:
  // Binds and listens; serving starts at once (one accept thread, a thread per connection).
  static absl::StatusOr<std::unique_ptr<BlobStreamServer>> Listen(BlobStreamServerOptions options,
                                                                  BlobOpener open);
  ~BlobStreamServer();
  BlobStreamServer(const BlobStreamServer&) = delete;
  BlobStreamServer& operator=(const BlobStreamServer&) = delete;

  int port() const { return port_; }
  // Stops accepting, cuts the open connections and joins every thread. Idempotent.
  void Stop();

 private:
  struct Connection {
    std::thread thread;
    std::shared_ptr<TlsStream> stream ABSL_GUARDED_BY(mu);  // set before the handshake
    absl::Mutex mu;
    std::atomic<bool> done{false};
  };

  BlobStreamServer(int listen_fd, int wake_fd, int port, BlobStreamServerOptions options,
                   BlobOpener open);
  void AcceptLoop();
  void Serve(Connection* connection, int fd);
  // One request on an established connection; false = close the connection.
  bool ServeOne(TlsStream& stream, const crypto::DidKey& peer);
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int listen_fd_;
  const int wake_fd_;
  const int port_;
  const BlobStreamServerOptions options_;
  const BlobOpener open_;
  std::thread accept_thread_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::list<Connection> connections_ ABSL_GUARDED_BY(mu_);
};

class BlobStreamClient {
 public:
  BlobStreamClient(std::shared_ptr<const TlsContext> tls,
                   std::function<bool(const crypto::DidKey&)> admit, RefusalCounters counters);
  ~BlobStreamClient();

  // How a Fetch ended, for the caller's choice of another way to the peer.
  enum class Path {
    kAnswered,    // the blob stream gave the result (the blob, or the server's error): final
    kBusy,        // connected, but no TLS session (a full server, a handshake that timed out):
                  // nothing was asked; use gRPC for this fetch
    kNoListener,  // no TCP connection (nothing listens, a firewall): use gRPC, and not this
                  // port for a while
  };
  // Fetches over a kept connection to host:port, or a new one, that must authenticate as `did`
  // (when set; a server that does not is kAnswered with PermissionDenied). A kept connection
  // the server has closed meanwhile is replaced once, when nothing has reached the sink yet.
  absl::Status Fetch(const std::string& host, int port, const std::optional<crypto::DidKey>& did,
                     std::string_view request, absl::Duration timeout, const ChunkSink& sink,
                     Path* path);
  // Cuts the fetches in progress (they fail with Cancelled), closes the kept connections and
  // returns once no Fetch is running (one still connecting ends within its timeouts).
  void Shutdown();

 private:
  struct Kept {
    std::unique_ptr<TlsStream> stream;
    absl::Time since;
  };
  // A connection for `key`: a kept one, or a new one whose server certificate passed.
  absl::StatusOr<std::unique_ptr<TlsStream>> Take(const std::string& key, const std::string& host,
                                                  int port,
                                                  const std::optional<crypto::DidKey>& did,
                                                  absl::Duration timeout, bool* reused,
                                                  bool* reached);
  void Keep(const std::string& key, std::unique_ptr<TlsStream> stream);
  absl::Status FetchCounted(const std::string& host, int port,
                            const std::optional<crypto::DidKey>& did, std::string_view request,
                            absl::Duration timeout, const ChunkSink& sink, Path* path);

  const std::shared_ptr<const TlsContext> tls_;
  const std::function<bool(const crypto::DidKey&)> admit_;
  const RefusalCounters counters_;
  absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::vector<Kept>> kept_ ABSL_GUARDED_BY(mu_);
  size_t kept_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<TlsStream*> in_use_ ABSL_GUARDED_BY(mu_);
  int active_ ABSL_GUARDED_BY(mu_) = 0;  // Fetch calls in progress: Shutdown waits for them
};

}  // namespace mesh::net::internal
