// A node's TLS identity: a self-signed Ed25519 X.509 certificate whose key IS the node's
// identity key (crypto::KeyPair), so authenticating the TLS peer authenticates its did:key.
// There is no CA: a certificate is accepted when its self-signature verifies with its own
// Ed25519 key and the did:key it names (subject CN and URI SAN) is the did:key of that key.
// The certificate also carries the fixed DNS name kNodeTlsServerName, which clients send as
// TLS SNI (a peer has no hostname of its own); it names no one and is not checked.
// Validity dates are written but not checked here: the key, not an issuer, is the identity, and
// a node makes a fresh certificate each time it starts. Free functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/crypto/did_key.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::net {

// The TLS server name (SNI) every node certificate answers to; ".invalid" never resolves.
inline constexpr char kNodeTlsServerName[] = "node.mesh.invalid";

// Certificates larger than this are refused unparsed (a node certificate is ~600 bytes).
inline constexpr size_t kMaxCertificatePemBytes = 16 << 10;

struct TlsIdentity {
  std::string cert_pem;  // Self-signed; CN and URI SAN = did, DNS SAN = kNodeTlsServerName.
  std::string key_pem;   // PKCS#8 Ed25519 private key: the node's secret, never log it.
  crypto::DidKey did;
};

// Builds the certificate for `key`, valid from now - 1 h (clock skew) to now + 10 years, with a
// random 128-bit serial.
absl::StatusOr<TlsIdentity> MakeTlsIdentity(const crypto::KeyPair& key, absl::Time now);

// Why a peer certificate was not accepted; the first three are `reason` labels of
// mesh_net_refused_total (CertificateProblemLabel).
enum class CertificateProblem {
  kNone,
  kNoCertificate,  // the peer presented none ("no_client_cert")
  kNotEd25519,     // RSA, ECDSA, Ed448...: never a node key ("not_ed25519")
  kNotNodeCert,    // Ed25519 but not our shape: unparsable, bad self-signature, names another
                   // DID, no did:key URI SAN ("not_node_cert")
};
std::string_view CertificateProblemLabel(CertificateProblem problem);

struct PeerCertificateCheck {
  absl::StatusOr<crypto::DidKey> did;  // The DID, or why not (see DidFromCertificate).
  CertificateProblem problem = CertificateProblem::kNone;
};

// DidFromCertificate plus the class of refusal, for counting; empty `pem` = kNoCertificate.
PeerCertificateCheck CheckPeerCertificate(std::string_view pem);

// The did:key a peer certificate (PEM) authenticates. InvalidArgument for something that is
// not a PEM certificate; PermissionDenied for a certificate that is not a Mesh node certificate
// (not Ed25519, self-signature does not verify, or its names claim another did:key).
absl::StatusOr<crypto::DidKey> DidFromCertificate(std::string_view pem);

}  // namespace mesh::net
