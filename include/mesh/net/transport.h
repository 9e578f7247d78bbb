// Transport: how nodes reach each other. A node hands its Handler to Start(); peers' signed
// envelopes arrive in Handler::OnMessage together with the DID the connection authenticated
// (mutual TLS in GrpcTransport), and the Handler's reply envelope goes back to the caller.
// Blobs travel by FetchBlob as an ordered stream of chunks (gRPC's default message limit is
// 4 MiB, so a blob is never one message); the fetcher checks the CID, not the transport.
//
// The transport does not parse envelopes: message types, signatures, replay and size checks
// are the Handler's, so the same market code runs over GrpcTransport (the daemon) and
// LoopbackTransport (in-process tests and the simulator).
//
// Implementations are thread-safe. Send's callback runs on a transport thread and must not
// block for long. Handler calls may run concurrently on several transport threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/cas/byte_source.h"
#include "mesh/crypto/did_key.h"

namespace mesh::net {

// The largest envelope a peer may send in one message (blobs are streamed separately).
inline constexpr size_t kMaxMessageBytes = 1 << 20;
// Blob chunk size on the wire: as large as the message limit allows (a 1 MiB chunk plus its
// few bytes of framing fits gRPC's limit of kMaxMessageBytes + 16 KiB), since each chunk costs
// a message's overhead and a wait in the sender.
inline constexpr size_t kBlobChunkBytes = 1 << 20;
// Announcements are relayed at most this many hops; a larger incoming ttl is clamped.
inline constexpr int kMaxTtl = 8;

class Handler {
 public:
  virtual ~Handler() = default;
  // One signed envelope from the peer authenticated as `peer`. `ttl` is the relay budget the
  // sender attached (outside the signature; clamped to kMaxTtl). Returns the reply envelope,
  // or an empty string for "no reply"; an error Status goes back to the caller as its code.
  virtual absl::StatusOr<std::string> OnMessage(const crypto::DidKey& peer,
                                                std::string_view envelope, int ttl) = 0;
  // A peer asks for a blob; `request` is its signed BlobRequest envelope. Returns the bytes
  // to stream from `offset`, or NotFound.
  virtual absl::StatusOr<std::unique_ptr<cas::ByteSource>> OpenBlob(const crypto::DidKey& peer,
                                                                    std::string_view request) = 0;
};

// Where to reach a peer. If `did` is set, the peer must authenticate as that DID (a mismatched
// key is refused during the TLS handshake); if not, any well-formed node certificate is
// accepted and its DID learned from the reply's signature.
struct Endpoint {
  std::string address;  // "host:port"
  std::optional<crypto::DidKey> did;
};

using ReplyCallback = std::function<void(absl::StatusOr<std::string>)>;
// Receives a blob's bytes in order; an error Status stops the transfer.
using ChunkSink = std::function<absl::Status(std::string_view chunk)>;

class Transport {
 public:
  virtual ~Transport() = default;
  // Starts serving; `handler` must outlive the transport (or Shutdown()).
  virtual absl::Status Start(Handler* handler) = 0;
  // The address peers reach this node at, with the real port once Start() returned.
  virtual std::string address() const = 0;
  // Sends `envelope` and calls `done` once with the reply (or DeadlineExceeded / Unavailable /
  // PermissionDenied / the handler's error). Never blocks on the network.
  virtual void Send(const Endpoint& to, std::string envelope, int ttl, absl::Duration timeout,
                    ReplyCallback done) = 0;
  // Streams a blob from `from` into `sink`; blocks until the last chunk or an error.
  virtual absl::Status FetchBlob(const Endpoint& from, std::string request, absl::Duration timeout,
                                 const ChunkSink& sink) = 0;
  // Stops serving and cancels calls in flight (their callbacks get Cancelled). Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace mesh::net
