#include "mesh/crypto/key_pair.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "mesh/common/check.h"
#include "mesh/common/file_util.h"
#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::crypto {
namespace {
constexpr std::string_view kFileHeader = "# mesh ed25519 identity key: keep this file secret";
constexpr size_t kMaxKeyFileSize = 4096;

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%03o", static_cast<unsigned>(mode & 0777));
  return buf;
}

void EnsureSodium() { MESH_CHECK(sodium_init() >= 0); }

}  // namespace

KeyPair::KeyPair(const std::array<uint8_t, 64>& secret, const DidKey& did)
    : secret_(secret), did_(did) {}

KeyPair::KeyPair(KeyPair&& other) noexcept : secret_(other.secret_), did_(other.did_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

KeyPair& KeyPair::operator=(KeyPair&& other) noexcept {
  if (this != &other) {
    secret_ = other.secret_;
    did_ = other.did_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

KeyPair::~KeyPair() { sodium_memzero(secret_.data(), secret_.size()); }

KeyPair KeyPair::Generate() {
  EnsureSodium();
  std::array<uint8_t, 64> secret;
  PublicKey pk;
  crypto_sign_keypair(pk.data(), secret.data());
  return KeyPair(secret, DidKey::FromPublicKey(pk));
}

absl::StatusOr<KeyPair> KeyPair::FromSeed(std::string_view seed) {
  EnsureSodium();
  if (seed.size() != kSeedSize) {
    return absl::InvalidArgumentError(
        mesh::StrCat("Ed25519 seed is ", seed.size(), " bytes; expected ", kSeedSize));
  }
  std::array<uint8_t, 64> secret;
  PublicKey pk;
  crypto_sign_seed_keypair(pk.data(), secret.data(),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  return KeyPair(secret, DidKey::FromPublicKey(pk));
}

std::string KeyPair::Sign(std::string_view message) const {
  std::string sig(kSignatureSize, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
  return sig;
}

std::string KeyPair::SeedForTls() const {
  return std::string(reinterpret_cast<const char*>(secret_.data()), kSeedSize);
}

absl::Status KeyPair::Save(const std::filesystem::path& path) const {
  std::string seed_hex =
      HexEncode(std::string_view(reinterpret_cast<const char*>(secret_.data()), kSeedSize));
  std::string content =
      mesh::StrCat(kFileHeader, "\ndid = ", did_.ToString(), "\nseed = ", seed_hex, "\n");
  absl::Status s = WriteFileAtomically(path, content, 0600, /*overwrite=*/false);
  sodium_memzero(seed_hex.data(), seed_hex.size());
  sodium_memzero(content.data(), content.size());
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(mesh::StrCat(
        "key file ", path.string(), " already exists; refusing to replace an identity"));
  }
  return s;
}

absl::StatusOr<KeyPair> KeyPair::Load(const std::filesystem::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, path.string());
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        mesh::StrCat("key file ", path.string(), " is accessible by group or others (mode ",
                     OctalMode(st.st_mode), "); run: chmod 600 ", path.string()));
  }
  MESH_ASSIGN_OR_RETURN(std::string content, ReadFileToString(path, kMaxKeyFileSize));
  std::string seed;
  std::string did_text;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    const std::string_view key = ToStd(absl::StripAsciiWhitespace(kv.first));
    const std::string_view value = ToStd(absl::StripAsciiWhitespace(kv.second));
    if (key == "seed") {
      auto decoded = HexDecode(value);
      if (!decoded.ok()) {
        return absl::DataLossError(
            mesh::StrCat("key file ", path.string(), ": bad seed: ", decoded.status().message()));
      }
      seed = *std::move(decoded);
    } else if (key == "did") {
      did_text = std::string(value);
    }
  }
  sodium_memzero(content.data(), content.size());
  if (seed.size() != kSeedSize) {
    return absl::DataLossError(
        mesh::StrCat("key file ", path.string(), " has no valid 32-byte 'seed' line"));
  }
  auto key = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  MESH_RETURN_IF_ERROR(key.status());
  if (!did_text.empty() && did_text != key->did().ToString()) {
    return absl::DataLossError(mesh::StrCat("key file ", path.string(), " names ", did_text,
                                            " but its seed belongs to ", key->did().ToString()));
  }
  return key;
}

}  // namespace mesh::crypto
