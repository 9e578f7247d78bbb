#include "mesh/crypto/sealed_box.h"

#include <sodium.h>

#include "mesh/common/check.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::crypto {

static_assert(kSealOverhead == crypto_box_SEALBYTES);

absl::StatusOr<std::string> SealTo(const DidKey& recipient, std::string_view message) {
  MESH_CHECK(sodium_init() >= 0);
  unsigned char x25519[crypto_box_PUBLICKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(x25519, recipient.public_key().data()) != 0) {
    return absl::InvalidArgumentError(
        "the recipient's key cannot receive a sealed box (not a usable Ed25519 point)");
  }
  std::string sealed(message.size() + crypto_box_SEALBYTES, '\0');
  if (crypto_box_seal(reinterpret_cast<unsigned char*>(sealed.data()),
                      reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                      x25519) != 0) {
    return absl::InternalError("crypto_box_seal failed");
  }
  return sealed;
}

absl::StatusOr<std::string> KeyPair::OpenSealed(std::string_view sealed) const {
  if (sealed.size() < crypto_box_SEALBYTES) {
    return absl::InvalidArgumentError("a sealed box is shorter than its overhead");
  }
  unsigned char pk[crypto_box_PUBLICKEYBYTES];
  unsigned char sk[crypto_box_SECRETKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(pk, did_.public_key().data()) != 0 ||
      crypto_sign_ed25519_sk_to_curve25519(sk, secret_.data()) != 0) {
    sodium_memzero(sk, sizeof(sk));
    return absl::InternalError("this key cannot open sealed boxes");
  }
  std::string message(sealed.size() - crypto_box_SEALBYTES, '\0');
  const int opened = crypto_box_seal_open(reinterpret_cast<unsigned char*>(message.data()),
                                          reinterpret_cast<const unsigned char*>(sealed.data()),
                                          sealed.size(), pk, sk);
  sodium_memzero(sk, sizeof(sk));
  if (opened != 0) {
    return absl::UnauthenticatedError(
        "the sealed box does not open with this key (sealed to another identity, or damaged)");
  }
  return message;
}

}  // namespace mesh::crypto
