// Signed envelopes: every message and record Mesh signs travels as one. An envelope binds a
// payload type (domain separation: a bid can never be replayed as a receipt), the payload
// bytes and the signer's did:key with an Ed25519 signature over DSSE's pre-authentication
// encoding ("DSSEv1" SP len(type) SP type SP len(payload) SP payload).
//
// Wire form: "MSE\x01" | varint+type | varint+signer DID | varint+payload | 64-byte signature.
// Parsing is bounded by a caller-given maximum size. Envelope is an immutable value type.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mesh/crypto/did_key.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::crypto {

inline constexpr size_t kDefaultMaxEnvelopeSize = 16 << 20;
inline constexpr size_t kMaxPayloadTypeSize = 128;

class Envelope {
 public:
  static Envelope Seal(const KeyPair& key, std::string_view payload_type, std::string payload);

  // Parses and verifies in one step: structure, size limit, signature, and optionally the
  // expected payload type and signer. The only way to get an Envelope from untrusted bytes.
  static absl::StatusOr<Envelope> Open(std::string_view bytes, std::string_view expected_type,
                                       const std::optional<DidKey>& expected_signer = {},
                                       size_t max_size = kDefaultMaxEnvelopeSize);

  std::string Serialize() const;

  const std::string& payload_type() const { return payload_type_; }
  const std::string& payload() const { return payload_; }
  const DidKey& signer() const { return signer_; }
  const std::string& signature() const { return signature_; }

 private:
  Envelope(std::string payload_type, std::string payload, DidKey signer, std::string signature)
      : payload_type_(std::move(payload_type)),
        payload_(std::move(payload)),
        signer_(signer),
        signature_(std::move(signature)) {}

  std::string payload_type_;
  std::string payload_;
  DidKey signer_;
  std::string signature_;
};

// DSSE pre-authentication encoding; exposed for tests and for other signers of the same bytes.
std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload);

}  // namespace mesh::crypto
