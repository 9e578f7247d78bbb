// Private to the net module: OpenSSL helpers to build a self-signed X.509 certificate for any
// key type. MakeTlsIdentity uses them with the node's Ed25519 key; tests use them to forge the
// certificates a node must refuse (RSA, ECDSA, names claiming another node). Thread-safe.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mesh::net::internal {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

struct CertificateNames {
  std::string common_name;  // Subject and issuer CN; empty = none.
  std::string uri_san;      // subjectAltName URI; empty = none.
  std::string dns_san;      // subjectAltName DNS name; empty = none.
};

// Signs with `key` itself (Ed25519: pure EdDSA; RSA/EC: SHA-256).
absl::StatusOr<std::string> SelfSignedCertificatePem(EVP_PKEY* key, const CertificateNames& names,
                                                     absl::Time not_before, absl::Time not_after);
// PKCS#8, unencrypted.
absl::StatusOr<std::string> PrivateKeyPem(EVP_PKEY* key);

// Pops OpenSSL's thread-local error queue into one line (for error messages).
std::string OpenSslErrors();

}  // namespace mesh::net::internal
