#include "mesh/net/tls_identity.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "x509_builder.h"

namespace mesh::net {
namespace {

using internal::EvpPkeyPtr;

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};

const char* KeyTypeName(int id) {
  switch (id) {
    case EVP_PKEY_RSA:
      return "RSA";
    case EVP_PKEY_EC:
      return "ECDSA";
    case EVP_PKEY_ED448:
      return "Ed448";
    default:
      return "non-Ed25519";
  }
}

std::string_view AsView(const ASN1_STRING* s) {
  return std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                          static_cast<size_t>(ASN1_STRING_length(s)));
}

// Every subject CN, then every URI subjectAltName: the names a certificate claims.
std::vector<std::string> ClaimedNames(X509* cert, bool* has_uri) {
  std::vector<std::string> names;
  const X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    names.emplace_back(AsView(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
  }
  *has_uri = false;
  std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (sans == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type != GEN_URI) continue;
    *has_uri = true;
    names.emplace_back(AsView(gn->d.uniformResourceIdentifier));
  }
  return names;
}

}  // namespace

absl::StatusOr<TlsIdentity> MakeTlsIdentity(const crypto::KeyPair& key, absl::Time now) {
  std::string seed = key.SeedForTls();
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
  OPENSSL_cleanse(seed.data(), seed.size());
  if (pkey == nullptr) {
    return absl::InternalError(
        mesh::StrCat("loading the Ed25519 key into OpenSSL: ", internal::OpenSslErrors()));
  }
  const std::string did = key.did().ToString();
  MESH_ASSIGN_OR_RETURN(
      std::string cert_pem,
      internal::SelfSignedCertificatePem(
          pkey.get(), {.common_name = did, .uri_san = did, .dns_san = kNodeTlsServerName},
          now - absl::Hours(1), now + absl::Hours(24 * 3653)));
  MESH_ASSIGN_OR_RETURN(std::string key_pem, internal::PrivateKeyPem(pkey.get()));
  return TlsIdentity{std::move(cert_pem), std::move(key_pem), key.did()};
}

PeerCertificateCheck CheckPeerCertificate(std::string_view pem) {
  using P = CertificateProblem;
  if (pem.empty()) {
    return {absl::UnauthenticatedError(
                "the peer presented no certificate; Mesh peers authenticate with their node "
                "certificate (mutual TLS)"),
            P::kNoCertificate};
  }
  if (pem.size() > kMaxCertificatePemBytes) {
    return {absl::InvalidArgumentError(mesh::StrCat("peer certificate is ", pem.size(),
                                                    " bytes; node certificates are at most ",
                                                    kMaxCertificatePemBytes)),
            P::kNotNodeCert};
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<X509, X509Deleter> cert(
      bio == nullptr ? nullptr : PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();
    return {absl::InvalidArgumentError("peer certificate is not a PEM X.509 certificate"),
            P::kNotNodeCert};
  }
  EVP_PKEY* pkey = X509_get0_pubkey(cert.get());
  if (pkey == nullptr) {
    ERR_clear_error();
    return {absl::InvalidArgumentError("peer certificate has no readable public key"),
            P::kNotNodeCert};
  }
  if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519) {
    return {absl::PermissionDeniedError(
                mesh::StrCat("peer certificate has an ", KeyTypeName(EVP_PKEY_id(pkey)),
                             " key; Mesh node certificates are Ed25519 (the node's did:key)")),
            P::kNotEd25519};
  }
  if (X509_verify(cert.get(), pkey) != 1) {
    ERR_clear_error();
    return {absl::PermissionDeniedError(
                "peer certificate's self-signature does not verify with its own key"),
            P::kNotNodeCert};
  }
  crypto::PublicKey raw;
  size_t raw_size = raw.size();
  if (EVP_PKEY_get_raw_public_key(pkey, raw.data(), &raw_size) != 1 || raw_size != raw.size()) {
    ERR_clear_error();
    return {absl::InvalidArgumentError("peer certificate's Ed25519 key is malformed"),
            P::kNotNodeCert};
  }
  const crypto::DidKey did = crypto::DidKey::FromPublicKey(raw);
  const std::string did_text = did.ToString();
  bool has_uri = false;
  const std::vector<std::string> names = ClaimedNames(cert.get(), &has_uri);
  if (!has_uri) {
    return {absl::PermissionDeniedError(mesh::StrCat("peer certificate for key ", did_text,
                                                     " has no did:key URI subjectAltName")),
            P::kNotNodeCert};
  }
  for (const std::string& name : names) {
    if (name != did_text) {
      return {absl::PermissionDeniedError(mesh::StrCat("peer certificate claims \"",
                                                       absl::CHexEscape(name.substr(0, 128)),
                                                       "\" but its key is ", did_text)),
              P::kNotNodeCert};
    }
  }
  return {did, P::kNone};
}

absl::StatusOr<crypto::DidKey> DidFromCertificate(std::string_view pem) {
  if (pem.empty()) return absl::InvalidArgumentError("peer certificate is empty");
  return CheckPeerCertificate(pem).did;
}

std::string_view CertificateProblemLabel(CertificateProblem problem) {
  switch (problem) {
    case CertificateProblem::kNoCertificate:
      return "no_client_cert";
    case CertificateProblem::kNotEd25519:
      return "not_ed25519";
    case CertificateProblem::kNotNodeCert:
      return "not_node_cert";
    case CertificateProblem::kNone:
      break;
  }
  return "none";
}

}  // namespace mesh::net
