#include "peer_verifier.h"

#include <exception>
#include <utility>

#include "mesh/common/strings.h"
#include "mesh/net/tls_identity.h"

namespace mesh::net::internal {

std::string PeerVerifier::Check(std::string_view pem) const {
  PeerCertificateCheck check = CheckPeerCertificate(pem);
  if (!check.did.ok()) {
    RefusalCounters::Count(options_.counters.For(check.problem));
    return mesh::StrCat(options_.who, " is not a Mesh node: ", check.did.status().message());
  }
  const crypto::DidKey& did = *check.did;
  if (options_.expected.has_value() && !(did == *options_.expected)) {
    RefusalCounters::Count(options_.counters.did_mismatch);
    return mesh::StrCat(options_.who, " is ", did.ToString(), ", expected ",
                        options_.expected->ToString());
  }
  if (options_.admit && !options_.admit(did)) {
    RefusalCounters::Count(options_.counters.did_not_allowed);
    return mesh::StrCat(options_.who, " is node ", did.ToString(),
                        ", which is not in this node's allowed_peers ([mesh] allowed_peers in "
                        "meshd.toml); add its DID there to let it in");
  }
  return "";
}

bool PeerVerifier::Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
                          std::function<void(grpc::Status)> /*callback*/,
                          grpc::Status* sync_status) {
  std::string refusal;
  // This runs on a gRPC handshake thread: nothing may escape into gRPC's C core.
  try {
    const grpc::string_ref pem = request->peer_cert();
    refusal = Check(std::string_view(pem.data(), pem.size()));
  } catch (const std::exception& e) {
    refusal = mesh::StrCat("checking the certificate of ", options_.who, " failed: ", e.what());
  } catch (...) {
    refusal = mesh::StrCat("checking the certificate of ", options_.who, " failed");
  }
  *sync_status =
      refusal.empty() ? grpc::Status::OK : grpc::Status(grpc::StatusCode::UNAUTHENTICATED, refusal);
  if (options_.log != nullptr) options_.log->Record(std::move(refusal));
  if (options_.on_checked) options_.on_checked();
  return true;  // Synchronous: *sync_status is the verdict.
}

}  // namespace mesh::net::internal
