// Private to the net module: the client side of MeshPeer. Caches two TLS channels per
// (address, expected DID), one for messages and one for blob streams (its own connection, with
// HTTP/2 settings for bulk data), sharing one PeerVerifier; the verifier derives the server's DID
// from its certificate and refuses a mismatch, or a DID outside the allow-list, during the
// handshake. Send uses gRPC's callback API and never blocks; FetchBlob blocks, and goes over the
// peer's blob stream (blob_stream.h) once it knows the port. Thread-safe.
// Shutdown cancels every call in flight and waits until their callbacks have returned and their
// calls are freed (so the channels go on the caller's thread, never on gRPC's); after it,
// calls fail with Cancelled.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "blob_stream.h"
#include "mesh/common/task_pool.h"
#include "mesh/net/grpc_transport.h"
#include "mesh/net/tls_identity.h"
#include "mesh/net/transport.h"
#include "refusal_counters.h"

namespace grpc {
class ClientContext;
}
namespace grpc::experimental {
class CertificateProviderInterface;
}

namespace mesh::net::internal {

class PeerClient {
 public:
  // `refused` counts the servers this client refuses (did_mismatch, did_not_allowed...).
  // `blob_streams`: FetchBlob uses a peer's blob stream once a gRPC fetch named its port
  // (blob_stream.h); null = blobs over gRPC only.
  PeerClient(const TlsIdentity& identity, const GrpcTransportOptions& options,
             RefusalCounters refused, std::unique_ptr<BlobStreamClient> blob_streams);
  ~PeerClient();
  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;

  void Send(const Endpoint& to, std::string envelope, int ttl, absl::Duration timeout,
            ReplyCallback done);
  absl::Status FetchBlob(const Endpoint& from, std::string request, absl::Duration timeout,
                         const ChunkSink& sink);
  void Shutdown();

 private:
  struct Peer;

  std::shared_ptr<Peer> GetPeer(const Endpoint& to);
  // Tracks `context` until Unregister so Shutdown can cancel it; false once shut down.
  // shared_ptr: Shutdown cancels from its own thread while the call's completion may free it.
  bool Register(uint64_t* id, std::shared_ptr<grpc::ClientContext> context);
  void Unregister(uint64_t id);
  // Calls `done` on the pool thread (never on the caller's stack).
  void Fail(ReplyCallback done, absl::Status status);
  // FetchBlob over gRPC; learns the peer's blob port from the reply.
  absl::Status FetchBlobOverGrpc(Peer& peer, std::string request, absl::Duration timeout,
                                 const ChunkSink& sink);

  const std::shared_ptr<grpc::experimental::CertificateProviderInterface> certificates_;
  const GrpcTransportOptions options_;
  const RefusalCounters refused_;
  const std::unique_ptr<BlobStreamClient> blob_streams_;
  TaskPool local_failures_{1};

  absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, std::shared_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_call_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::shared_ptr<grpc::ClientContext>> in_flight_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::net::internal
