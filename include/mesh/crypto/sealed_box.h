// Sealed boxes to a did:key: a message only the holder of that identity can open (libsodium's
// crypto_box_seal, an ephemeral X25519 key and XSalsa20-Poly1305), with the recipient's X25519
// key derived from its Ed25519 key (crypto_sign_ed25519_pk_to_curve25519). Used to wrap a
// stored file's key for its owner, and to grant it to one executor for one job. The opening
// side is KeyPair::OpenSealed: the secret never leaves KeyPair. Thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mesh/crypto/did_key.h"

namespace mesh::crypto {

// The bytes a sealed box adds to its message (crypto_box_SEALBYTES).
inline constexpr size_t kSealOverhead = 48;

// InvalidArgument when the DID's key is not a point X25519 can use (a crafted key).
absl::StatusOr<std::string> SealTo(const DidKey& recipient, std::string_view message);

}  // namespace mesh::crypto
