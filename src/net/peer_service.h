// Private to the net module: the server side of the MeshPeer gRPC service (sync API). Every call
// first authenticates its caller from the TLS client certificate (DidFromCertificate, then the
// `admit` allow-list), so a handler only ever sees a verified peer DID. Thread-safe: gRPC runs
// calls concurrently on its server threads. Does not own the Handler or the metrics.
#pragma once

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

namespace mesh::net::internal {

// Counters of refused calls; null members (no registry) record nothing.
struct RefusalCounters {
  Counter* certificate = nullptr;
  Counter* not_admitted = nullptr;
  Counter* too_large = nullptr;

  // Registers mesh_net_refused_total{reason} in `metrics` (null = no metrics).
  static RefusalCounters Register(MetricsRegistry* metrics);
};

class PeerService final : public pb::MeshPeer::Service {
 public:
  PeerService(Handler* handler, std::function<bool(const crypto::DidKey&)> admit,
              RefusalCounters refused);

  grpc::Status Deliver(grpc::ServerContext* context, const pb::Frame* request,
                       pb::Frame* reply) override;
  grpc::Status FetchBlob(grpc::ServerContext* context, const pb::Frame* request,
                         grpc::ServerWriter<pb::BlobChunk>* writer) override;

 private:
  // The caller's DID, or Unauthenticated (not a node certificate) / PermissionDenied (not
  // admitted) / ResourceExhausted (envelope too large), counted.
  absl::StatusOr<crypto::DidKey> Admit(const grpc::ServerContext& context,
                                       const pb::Frame& request);
  absl::StatusOr<crypto::DidKey> DidOfCertificate(std::string_view pem);

  Handler* const handler_;
  const std::function<bool(const crypto::DidKey&)> admit_;
  const RefusalCounters refused_;

  // Certificates already verified: a PEM always maps to the same DID, and a peer's certificate
  // arrives with every call. Cleared when full.
  absl::Mutex cache_mu_;
  absl::flat_hash_map<std::string, crypto::DidKey> did_cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace mesh::net::internal
