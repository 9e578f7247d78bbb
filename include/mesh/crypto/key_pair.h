// An Ed25519 identity: the secret key of a node or submitter and its did:key.
// Key files hold the 32-byte seed; they are created with mode 0600 and refused when group- or
// world-accessible. The secret is wiped from memory on destruction. Signing is thread-safe.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mesh/crypto/did_key.h"

namespace mesh::crypto {

inline constexpr size_t kSeedSize = 32;

class KeyPair {
 public:
  // A fresh key from the OS CSPRNG.
  static KeyPair Generate();
  static absl::StatusOr<KeyPair> FromSeed(std::string_view seed);

  // Writes a new key file; AlreadyExists if `path` exists (keys are never silently replaced).
  absl::Status Save(const std::filesystem::path& path) const;
  static absl::StatusOr<KeyPair> Load(const std::filesystem::path& path);

  KeyPair(KeyPair&& other) noexcept;
  KeyPair& operator=(KeyPair&& other) noexcept;
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
  ~KeyPair();

  const DidKey& did() const { return did_; }
  std::string Sign(std::string_view message) const;
  // Opens a sealed box made for this identity (sealed_box.h: SealTo). Unauthenticated when it
  // was sealed to another identity or damaged.
  absl::StatusOr<std::string> OpenSealed(std::string_view sealed) const;

  // The 32-byte Ed25519 seed, for building the node's TLS private key only (net::MakeTlsIdentity:
  // the TLS certificate's key is the node identity). Every other use must go through Sign();
  // the caller wipes the returned copy (sodium_memzero / OPENSSL_cleanse) when done.
  std::string SeedForTls() const;

 private:
  KeyPair(const std::array<uint8_t, 64>& secret, const DidKey& did);
  std::array<uint8_t, 64> secret_;  // libsodium layout: seed || public key
  DidKey did_;
};

}  // namespace mesh::crypto
