// Private to the net module: the server side of the MeshPeer gRPC service (sync API). The TLS
// handshake already refused anything but an admitted node (PeerVerifier); every call still
// derives its caller's DID from the client certificate (cached) and re-checks `admit`, so a
// handler only ever sees a verified peer DID. Each call catches at its edge: an exception from
// the Handler (or from reading a blob) becomes INTERNAL for the caller and is counted, never a
// crash. Thread-safe: gRPC runs calls concurrently on its server threads. Does not own the
// Handler or the metrics.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/common/metrics.h"
#include "mesh/crypto/did_key.h"
#include "mesh/net/transport.h"
#include "mesh_peer.grpc.pb.h"
#include "refusal_counters.h"

namespace mesh::net::internal {

class PeerService final : public pb::MeshPeer::Service {
 public:
  PeerService(Handler* handler, std::function<bool(const crypto::DidKey&)> admit,
              RefusalCounters refused);

  grpc::Status Deliver(grpc::ServerContext* context, const pb::Frame* request,
                       pb::Frame* reply) override;
  grpc::Status FetchBlob(grpc::ServerContext* context, const pb::Frame* request,
                         grpc::ServerWriter<pb::BlobChunk>* writer) override;
  // The blob stream's port (blob_stream.h), named in every FetchBlob reply; 0 = none.
  void set_blob_port(int port) { blob_port_.store(port); }

 private:
  // The caller's DID, or Unauthenticated (not a node certificate) / PermissionDenied (not
  // admitted) / ResourceExhausted (envelope too large), counted. (The handshake refuses the
  // first two already; this is the second line.)
  absl::StatusOr<crypto::DidKey> Admit(const grpc::ServerContext& context,
                                       const pb::Frame& request);
  absl::StatusOr<crypto::DidKey> DidOfCertificate(std::string_view pem);
  grpc::Status DeliverUnguarded(grpc::ServerContext* context, const pb::Frame& request,
                                pb::Frame* reply);
  grpc::Status FetchBlobUnguarded(grpc::ServerContext* context, const pb::Frame& request,
                                  grpc::ServerWriter<pb::BlobChunk>* writer);
  // INTERNAL for a call whose handler threw `what`, counted.
  grpc::Status HandlerThrew(std::string_view rpc, std::string_view what);

  Handler* const handler_;
  const std::function<bool(const crypto::DidKey&)> admit_;
  const RefusalCounters refused_;
  std::atomic<int> blob_port_{0};

  // Certificates already verified: a PEM always maps to the same DID, and a peer's certificate
  // arrives with every call. Cleared when full.
  absl::Mutex cache_mu_;
  absl::flat_hash_map<std::string, crypto::DidKey> did_cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace mesh::net::internal
