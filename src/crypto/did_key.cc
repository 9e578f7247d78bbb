#include "mesh/crypto/did_key.h"

#include <sodium.h>

#include <cstring>

#include "mesh/common/base58.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/common/varint.h"

namespace mesh::crypto {
namespace {
constexpr std::string_view kPrefix = "did:key:";
constexpr uint64_t kEd25519PubCodec = 0xed;
}  // namespace

std::string DidKey::ToString() const {
  std::string bytes;
  AppendVarint(kEd25519PubCodec, bytes);
  bytes.append(reinterpret_cast<const char*>(key_.data()), key_.size());
  return mesh::StrCat(kPrefix, "z", Base58Encode(bytes));
}

absl::StatusOr<DidKey> DidKey::Parse(std::string_view text) {
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    return absl::InvalidArgumentError(
        mesh::StrCat("'", text.substr(0, 40), "' is not a did:key identifier (want did:key:z...)"));
  }
  std::string_view id = text.substr(kPrefix.size());
  if (id.empty() || id[0] != 'z') {
    return absl::InvalidArgumentError(
        "did:key identifier must use multibase base58btc (a 'z' prefix)");
  }
  MESH_ASSIGN_OR_RETURN(std::string bytes, Base58Decode(id.substr(1)));
  std::string_view rest = bytes;
  auto codec = ReadVarint(rest);
  if (!codec.ok()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("did:key multicodec prefix: ", codec.status().message()));
  }
  if (*codec != kEd25519PubCodec) {
    return absl::InvalidArgumentError(mesh::StrCat("did:key uses key type multicodec 0x",
                                                   absl::Hex(*codec),
                                                   "; only ed25519-pub (0xed) is supported"));
  }
  if (rest.size() != kPublicKeySize) {
    return absl::InvalidArgumentError(
        mesh::StrCat("did:key ed25519 key is ", rest.size(), " bytes; expected ", kPublicKeySize));
  }
  PublicKey key;
  std::memcpy(key.data(), rest.data(), key.size());
  return DidKey(key);
}

absl::Status DidKey::Verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != kSignatureSize) {
    return absl::UnauthenticatedError(
        mesh::StrCat("signature is ", signature.size(), " bytes; Ed25519 signatures are 64"));
  }
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), key_.data()) != 0) {
    return absl::UnauthenticatedError(mesh::StrCat("signature does not verify for ", ToString()));
  }
  return absl::OkStatus();
}

}  // namespace mesh::crypto
