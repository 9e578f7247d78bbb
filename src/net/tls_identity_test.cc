#include "mesh/net/tls_identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <string>

#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"
#include "x509_builder.h"

namespace mesh::net {
namespace {

using ::testing::HasSubstr;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr ParsePem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, size);
  BIO_free(bio);
  return pem;
}

absl::Time AsTime(const ASN1_TIME* t) {
  struct tm tm = {};
  EXPECT_EQ(ASN1_TIME_to_tm(t, &tm), 1);
  return absl::FromTimeT(timegm(&tm));
}

absl::Time Now() { return absl::FromUnixSeconds(1700000000); }

TEST(TlsIdentityTest, RoundTripYieldsTheKeysDid) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(TlsIdentity id, MakeTlsIdentity(key, Now()));
  EXPECT_TRUE(id.did == key.did());
  EXPECT_THAT(id.cert_pem, HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(id.key_pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  ASSERT_OK_AND_ASSIGN(crypto::DidKey did, DidFromCertificate(id.cert_pem));
  EXPECT_TRUE(did == key.did());
}

TEST(TlsIdentityTest, CertificateCarriesDidValidityAndTheIdentityKey) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(TlsIdentity id, MakeTlsIdentity(key, Now()));
  X509Ptr cert = ParsePem(id.cert_pem);
  ASSERT_NE(cert, nullptr);
  char cn[256];
  ASSERT_GT(
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof(cn)),
      0);
  EXPECT_EQ(std::string(cn), key.did().ToString());
  EXPECT_EQ(X509_check_host(cert.get(), kNodeTlsServerName, 0, 0, nullptr), 1);
  EXPECT_EQ(AsTime(X509_get0_notBefore(cert.get())), Now() - absl::Hours(1));
  EXPECT_GE(AsTime(X509_get0_notAfter(cert.get())), Now() + absl::Hours(24 * 365 * 10));

  // The private key PEM is the identity key: its public half is the DID's.
  BIO* bio = BIO_new_mem_buf(id.key_pem.data(), static_cast<int>(id.key_pem.size()));
  internal::EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ASSERT_NE(pkey, nullptr);
  crypto::PublicKey pub;
  size_t len = pub.size();
  ASSERT_EQ(EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len), 1);
  EXPECT_EQ(pub, key.did().public_key());
}

TEST(TlsIdentityTest, SerialsAreRandom) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(TlsIdentity a, MakeTlsIdentity(key, Now()));
  ASSERT_OK_AND_ASSIGN(TlsIdentity b, MakeTlsIdentity(key, Now()));
  X509Ptr ca = ParsePem(a.cert_pem);
  X509Ptr cb = ParsePem(b.cert_pem);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca.get()), X509_get0_serialNumber(cb.get())),
            0);
}

TEST(TlsIdentityTest, RsaAndEcdsaCertificatesAreRefused) {
  const std::string did = crypto::KeyPair::Generate().did().ToString();
  internal::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  internal::EvpPkeyPtr ec(EVP_EC_gen("P-256"));
  ASSERT_NE(rsa, nullptr);
  ASSERT_NE(ec, nullptr);
  for (auto& [pkey, type] : {std::pair{rsa.get(), "RSA"}, std::pair{ec.get(), "ECDSA"}}) {
    ASSERT_OK_AND_ASSIGN(std::string pem, internal::SelfSignedCertificatePem(
                                              pkey, {.common_name = did, .uri_san = did}, Now(),
                                              Now() + absl::Hours(1)));
    absl::StatusOr<crypto::DidKey> got = DidFromCertificate(pem);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << type;
    EXPECT_THAT(got.status().message(), HasSubstr(type));
    EXPECT_THAT(got.status().message(), HasSubstr("Ed25519"));
  }
}

TEST(TlsIdentityTest, CertificateClaimingAnotherNodesDidIsRefused) {
  crypto::KeyPair mine = crypto::KeyPair::Generate();
  const std::string other = crypto::KeyPair::Generate().did().ToString();
  const std::string seed = mine.SeedForTls();
  internal::EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), 32));
  ASSERT_NE(pkey, nullptr);
  const std::string self = mine.did().ToString();
  // The SAN, the CN, or both claim the other node.
  for (const internal::CertificateNames& names :
       {internal::CertificateNames{other, other}, internal::CertificateNames{self, other},
        internal::CertificateNames{other, self}}) {
    ASSERT_OK_AND_ASSIGN(std::string pem, internal::SelfSignedCertificatePem(
                                              pkey.get(), names, Now(), Now() + absl::Hours(1)));
    absl::StatusOr<crypto::DidKey> got = DidFromCertificate(pem);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(got.status().message(), HasSubstr(other));
    EXPECT_THAT(got.status().message(), HasSubstr(self));
  }
  // No URI SAN at all.
  ASSERT_OK_AND_ASSIGN(std::string pem,
                       internal::SelfSignedCertificatePem(pkey.get(), {.common_name = self}, Now(),
                                                          Now() + absl::Hours(1)));
  EXPECT_EQ(DidFromCertificate(pem).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(TlsIdentityTest, TamperedSignatureIsRefused) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(TlsIdentity id, MakeTlsIdentity(key, Now()));
  X509Ptr cert = ParsePem(id.cert_pem);
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  ASSERT_GT(len, 0);
  der[len - 1] ^= 0x01;  // The last byte belongs to the signature.
  const unsigned char* p = der;
  X509Ptr tampered(d2i_X509(nullptr, &p, len));
  OPENSSL_free(der);
  ASSERT_NE(tampered, nullptr);
  absl::StatusOr<crypto::DidKey> got = DidFromCertificate(ToPem(tampered.get()));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(got.status().message(), HasSubstr("self-signature"));
}

TEST(TlsIdentityTest, GarbageIsInvalidArgument) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(TlsIdentity id, MakeTlsIdentity(key, Now()));
  for (const std::string& pem :
       {std::string(), std::string("hello"), id.cert_pem.substr(0, id.cert_pem.size() / 2),
        std::string("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), id.key_pem,
        std::string(kMaxCertificatePemBytes + 1, 'A')}) {
    EXPECT_EQ(DidFromCertificate(pem).status().code(), absl::StatusCode::kInvalidArgument)
        << pem.substr(0, 40);
  }
}

}  // namespace
}  // namespace mesh::net
