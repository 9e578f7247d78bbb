#include "mesh/crypto/envelope.h"

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/common/varint.h"

namespace mesh::crypto {
namespace {
constexpr std::string_view kMagic("MSE\x01", 4);
constexpr size_t kMaxDidSize = 256;

absl::StatusOr<std::string_view> ReadField(std::string_view& in, std::string_view name,
                                           size_t max_size) {
  auto len = ReadVarint(in);
  if (!len.ok()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("envelope ", name, " length: ", len.status().message()));
  }
  if (*len > max_size) {
    return absl::InvalidArgumentError(
        mesh::StrCat("envelope ", name, " is ", *len, " bytes; the limit is ", max_size));
  }
  if (*len > in.size()) {
    return absl::InvalidArgumentError(mesh::StrCat("envelope is truncated: ", name, " needs ", *len,
                                                   " bytes, ", in.size(), " remain"));
  }
  std::string_view field = in.substr(0, *len);
  in.remove_prefix(*len);
  return field;
}
}  // namespace

std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload) {
  return mesh::StrCat("DSSEv1 ", payload_type.size(), " ", payload_type, " ", payload.size(), " ",
                      payload);
}

Envelope Envelope::Seal(const KeyPair& key, std::string_view payload_type, std::string payload) {
  std::string signature = key.Sign(PreAuthEncoding(payload_type, payload));
  return Envelope(std::string(payload_type), std::move(payload), key.did(), std::move(signature));
}

std::string Envelope::Serialize() const {
  const std::string did = signer_.ToString();
  std::string out;
  out.reserve(kMagic.size() + payload_type_.size() + did.size() + payload_.size() + 96);
  out.append(kMagic);
  AppendVarint(payload_type_.size(), out);
  out.append(payload_type_);
  AppendVarint(did.size(), out);
  out.append(did);
  AppendVarint(payload_.size(), out);
  out.append(payload_);
  out.append(signature_);
  return out;
}

absl::StatusOr<Envelope> Envelope::Open(std::string_view bytes, std::string_view expected_type,
                                        const std::optional<DidKey>& expected_signer,
                                        size_t max_size) {
  if (bytes.size() > max_size) {
    return absl::InvalidArgumentError(
        mesh::StrCat("envelope is ", bytes.size(), " bytes; the limit is ", max_size));
  }
  if (bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError(bytes.size() < kMagic.size()
                                          ? "envelope is truncated: no header"
                                          : "not a Mesh envelope (bad magic or version)");
  }
  std::string_view in = bytes.substr(kMagic.size());
  MESH_ASSIGN_OR_RETURN(std::string_view type, ReadField(in, "payload type", kMaxPayloadTypeSize));
  MESH_ASSIGN_OR_RETURN(std::string_view did_text, ReadField(in, "signer", kMaxDidSize));
  MESH_ASSIGN_OR_RETURN(std::string_view payload, ReadField(in, "payload", max_size));
  if (in.size() != kSignatureSize) {
    return absl::InvalidArgumentError(
        in.size() < kSignatureSize
            ? mesh::StrCat("envelope is truncated: signature has ", in.size(), " of 64 bytes")
            : mesh::StrCat("envelope has ", in.size() - kSignatureSize,
                           " unexpected trailing bytes"));
  }
  auto signer = DidKey::Parse(did_text);
  if (!signer.ok()) {
    return absl::InvalidArgumentError(mesh::StrCat("envelope signer: ", signer.status().message()));
  }
  if (type != expected_type) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "envelope carries a '", type, "' payload where '", expected_type, "' was expected"));
  }
  if (expected_signer.has_value() && !(*signer == *expected_signer)) {
    return absl::PermissionDeniedError(mesh::StrCat("envelope is signed by ", did_text,
                                                    ", expected ", expected_signer->ToString()));
  }
  MESH_RETURN_IF_ERROR(signer->Verify(PreAuthEncoding(type, payload), in));
  return Envelope(std::string(type), std::string(payload), *signer, std::string(in));
}

}  // namespace mesh::crypto
