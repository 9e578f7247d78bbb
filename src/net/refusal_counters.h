// Private to the net module: mesh_net_refused_total{reason}, every refusal of a peer connection
// or call counted by why, on both sides (the server refusing a client certificate, the client
// refusing a server's), plus mesh_net_handler_errors_total for handler calls that threw and
// mesh_net_blob_requests_total{path} for the blob requests served (grpc, stream). Value
// type of borrowed pointers into a MetricsRegistry (null = no registry: counts nothing);
// thread-safe because Counter::Inc is.
#pragma once

#include <string_view>

#include "mesh/common/metrics.h"
#include "mesh/net/tls_identity.h"

namespace mesh::net::internal {

struct RefusalCounters {
  Counter* no_client_cert = nullptr;     // a client connected without a certificate
  Counter* not_ed25519 = nullptr;        // a certificate with another key type
  Counter* not_node_cert = nullptr;      // Ed25519 but not a node certificate
  Counter* did_not_allowed = nullptr;    // a node outside allowed_peers
  Counter* did_mismatch = nullptr;       // the server is not the DID we dialled
  Counter* handshake_timeout = nullptr;  // no certificate checked within the deadline
  Counter* handshake_cap = nullptr;      // closed at accept: too many handshakes in progress
  Counter* too_large = nullptr;          // an envelope over kMaxMessageBytes
  Counter* handler_errors = nullptr;     // a handler threw (answered INTERNAL)
  // Blob requests served, by the way they came: a gRPC FetchBlob or the blob stream.
  Counter* blobs_over_grpc = nullptr;
  Counter* blobs_over_stream = nullptr;

  // Registers both families in `metrics` (null = no metrics). Once per registry.
  static RefusalCounters Register(MetricsRegistry* metrics);

  static void Count(Counter* counter) {
    if (counter != nullptr) counter->Inc();
  }
  // The counter of a certificate problem (kNone: none).
  Counter* For(CertificateProblem problem) const;
};

}  // namespace mesh::net::internal
