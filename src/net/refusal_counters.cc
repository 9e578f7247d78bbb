#include "refusal_counters.h"

namespace mesh::net::internal {

RefusalCounters RefusalCounters::Register(MetricsRegistry* metrics) {
  if (metrics == nullptr) return {};
  Counter* family = metrics->AddCounter(
      "mesh_net_refused_total",
      "Peer connections and calls refused before reaching the node, by reason: no_client_cert, "
      "not_ed25519 and not_node_cert (the certificate is not a Mesh node certificate), "
      "did_not_allowed (a node outside allowed_peers), did_mismatch (the server is not the node "
      "dialled), handshake_timeout (no certificate within the handshake deadline), "
      "handshake_cap (too many handshakes at once), too_large (envelope over the limit).",
      {"reason"});
  Counter* errors = metrics->AddCounter("mesh_net_handler_errors_total",
                                        "Peer calls whose handler threw an exception; the caller "
                                        "got INTERNAL and the node stayed up.");
  Counter* blobs = metrics->AddCounter(
      "mesh_net_blob_requests_total",
      "Blob requests from peers that this node answered, by how they came: path=\"grpc\" (a "
      "gRPC FetchBlob: a peer's first fetch, or one whose blob stream failed) or "
      "path=\"stream\" (the blob stream: TLS on the blob port, without HTTP/2).",
      {"path"});
  return {.no_client_cert = family->WithLabels({"no_client_cert"}),
          .not_ed25519 = family->WithLabels({"not_ed25519"}),
          .not_node_cert = family->WithLabels({"not_node_cert"}),
          .did_not_allowed = family->WithLabels({"did_not_allowed"}),
          .did_mismatch = family->WithLabels({"did_mismatch"}),
          .handshake_timeout = family->WithLabels({"handshake_timeout"}),
          .handshake_cap = family->WithLabels({"handshake_cap"}),
          .too_large = family->WithLabels({"too_large"}),
          .handler_errors = errors,
          .blobs_over_grpc = blobs->WithLabels({"grpc"}),
          .blobs_over_stream = blobs->WithLabels({"stream"})};
}

Counter* RefusalCounters::For(CertificateProblem problem) const {
  switch (problem) {
    case CertificateProblem::kNoCertificate:
      return no_client_cert;
    case CertificateProblem::kNotEd25519:
      return not_ed25519;
    case CertificateProblem::kNotNodeCert:
      return not_node_cert;
    case CertificateProblem::kNone:
      break;
  }
  return nullptr;
}

}  // namespace mesh::net::internal
