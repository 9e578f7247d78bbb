// did:key identifiers for Ed25519 public keys: "did:key:z" + base58btc(0xed 0x01 || key),
// as the W3C CCG did:key method specifies. A DidKey is an immutable value (thread-safe to share)
// and is how Mesh names every node and submitter.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mesh::crypto {

inline constexpr size_t kPublicKeySize = 32;
inline constexpr size_t kSignatureSize = 64;
using PublicKey = std::array<uint8_t, kPublicKeySize>;

class DidKey {
 public:
  static DidKey FromPublicKey(const PublicKey& key) { return DidKey(key); }
  // Parses "did:key:z6Mk...". Refuses other methods, other multibases, other key types and
  // wrong key lengths, naming which.
  static absl::StatusOr<DidKey> Parse(std::string_view text);

  const PublicKey& public_key() const { return key_; }
  std::string ToString() const;

  // Ed25519 verification of `signature` over `message`; Unauthenticated on mismatch.
  absl::Status Verify(std::string_view message, std::string_view signature) const;

  friend bool operator==(const DidKey& a, const DidKey& b) { return a.key_ == b.key_; }

 private:
  explicit DidKey(const PublicKey& key) : key_(key) {}
  PublicKey key_;
};

}  // namespace mesh::crypto
