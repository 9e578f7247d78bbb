// Private to the net module: the TLS certificate check of both sides of a peer connection, run
// by gRPC inside the handshake, so a refused peer never gets an HTTP/2 connection, let alone a
// call. A certificate passes when it is a node certificate (CheckPeerCertificate), its DID is
// the one dialled (client side, when the Endpoint names one) and `admit` accepts it (the
// allow-list; unset = any node). Each refusal is counted by reason and recorded in `log` (the
// client explains a failed call with it). gRPC owns the object (ExternalCertificateVerifier::
// Create) and calls Verify from its handshake threads, concurrently; Verify is synchronous.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/security/tls_certificate_verifier.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "mesh/crypto/did_key.h"
#include "refusal_counters.h"

namespace mesh::net::internal {

// The last refusal of one channel's verifier, so a failed call can say PermissionDenied and why
// instead of gRPC's generic "failed to connect". Thread-safe.
class VerifierLog {
 public:
  void Record(std::string refusal) {
    absl::MutexLock lock(&mu_);
    last_refusal_ = std::move(refusal);
  }
  std::string LastRefusal() const {
    absl::MutexLock lock(&mu_);
    return last_refusal_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string last_refusal_ ABSL_GUARDED_BY(mu_);
};

struct PeerVerifierOptions {
  // Who is checked, for messages: "peer at 10.0.0.2:7421" (client), "client" (server).
  std::string who;
  std::optional<crypto::DidKey> expected;            // client: the DID dialled, if known
  std::function<bool(const crypto::DidKey&)> admit;  // unset = any node
  RefusalCounters counters;
  std::shared_ptr<VerifierLog> log;  // may be null
  // Called once per handshake that reached the certificate check, passed or not (the server's
  // HandshakeGate: this handshake is no longer in progress). May be unset.
  std::function<void()> on_checked;
};

class PeerVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit PeerVerifier(PeerVerifierOptions options) : options_(std::move(options)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback, grpc::Status* sync_status) override;
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

  // The refusal for certificate `pem`, counted; empty = accepted. Exposed for tests.
  std::string Check(std::string_view pem) const;

 private:
  const PeerVerifierOptions options_;
};

}  // namespace mesh::net::internal
