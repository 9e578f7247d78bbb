#include "mesh/storage/store_manifest.h"

#include <nlohmann/json.hpp>

#include "mesh/common/base64.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/did_key.h"
#include "mesh/crypto/sealed_box.h"

namespace mesh::storage {
namespace {

using nlohmann::json;

json Bytes(std::string_view b) { return {{"/", {{"bytes", Base64Encode(b)}}}}; }

json SegmentJson(const SegmentInfo& s) {
  json j = {{"compression", std::string(CompressionName(s.compression))},
            {"plain", s.plain_bytes},
            {"sealed", s.sealed_bytes}};
  if (!s.nonce.empty()) j["nonce"] = Bytes(s.nonce);
  if (!s.shards.empty()) {
    json shards = json::array();
    for (const cas::Cid& c : s.shards) shards.push_back({{"/", c.ToString()}});
    j["shards"] = std::move(shards);
  }
  return j;
}

absl::Status Bad(std::string_view where, std::string_view why) {
  return absl::InvalidArgumentError(mesh::StrCat("store manifest: ", where, ": ", why));
}

absl::StatusOr<uint64_t> Unsigned(const json& j, std::string_view key, std::string_view where) {
  auto it = j.find(std::string(key));
  if (it == j.end() || !it->is_number_unsigned()) {
    return Bad(mesh::StrCat(where, "/", key), "must be a non-negative integer");
  }
  return it->get<uint64_t>();
}

absl::StatusOr<std::string> BytesOf(const json& j, std::string_view where, size_t max) {
  if (!j.is_object() || j.size() != 1 || !j.contains("/") || !j["/"].is_object() ||
      j["/"].size() != 1 || !j["/"].contains("bytes") || !j["/"]["bytes"].is_string()) {
    return Bad(where, "must be {\"/\": {\"bytes\": BASE64}}");
  }
  const std::string& text = j["/"]["bytes"].get_ref<const std::string&>();
  if (text.size() > max / 3 * 4 + 8) return Bad(where, "is too long");
  absl::StatusOr<std::string> bytes = Base64Decode(text);
  if (!bytes.ok()) return Bad(where, "is not base64");
  return *std::move(bytes);
}

absl::Status KnownKeys(const json& j, std::initializer_list<std::string_view> keys,
                       std::string_view where) {
  if (!j.is_object()) return Bad(where, "must be an object");
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (std::string_view k : keys) known = known || key == k;
    if (!known) return Bad(where, mesh::StrCat("unknown key \"", key.substr(0, 64), "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<SegmentInfo> ParseSegment(const json& j, const std::string& where, bool encrypted,
                                         int shards) {
  MESH_RETURN_IF_ERROR(KnownKeys(j, {"compression", "nonce", "plain", "sealed", "shards"}, where));
  SegmentInfo s;
  MESH_ASSIGN_OR_RETURN(s.plain_bytes, Unsigned(j, "plain", where));
  MESH_ASSIGN_OR_RETURN(s.sealed_bytes, Unsigned(j, "sealed", where));
  const json* c = j.contains("compression") ? &j["compression"] : nullptr;
  if (c == nullptr || !c->is_string() || (*c != "none" && *c != "zstd")) {
    return Bad(where + "/compression", "must be \"none\" or \"zstd\"");
  }
  s.compression = *c == "zstd" ? Compression::kZstd : Compression::kNone;
  if (encrypted != j.contains("nonce")) {
    return Bad(where + "/nonce",
               encrypted ? "is missing" : "is there, but the file is not encrypted");
  }
  if (encrypted) {
    MESH_ASSIGN_OR_RETURN(s.nonce, BytesOf(j["nonce"], where + "/nonce", kNonceBytes));
    if (s.nonce.size() != kNonceBytes) return Bad(where + "/nonce", "must be 24 bytes");
  }
  // The sealed bytes: the plain bytes, or their compression (kept only when smaller), and the
  // tag.
  const uint64_t tag = encrypted ? kTagBytes : 0;
  if (s.compression == Compression::kNone
          ? s.sealed_bytes != s.plain_bytes + tag
          : s.sealed_bytes < tag || s.sealed_bytes - tag >= s.plain_bytes) {
    return Bad(where + "/sealed", "does not fit the plain size and the compression");
  }
  if (shards == 0) {
    if (j.contains("shards")) return Bad(where + "/shards", "an inline file has no shards");
    return s;
  }
  if (!j.contains("shards") || !j["shards"].is_array() ||
      j["shards"].size() != static_cast<size_t>(shards)) {
    return Bad(where + "/shards", mesh::StrCat("must list ", shards, " shard CIDs (k + m)"));
  }
  for (size_t i = 0; i < j["shards"].size(); ++i) {
    const json& cj = j["shards"][i];
    const std::string at = mesh::StrCat(where, "/shards/", i);
    if (!cj.is_object() || cj.size() != 1 || !cj.contains("/") || !cj["/"].is_string()) {
      return Bad(at, "must be {\"/\": CID}");
    }
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(cj["/"].get<std::string>());
    if (!cid.ok() || cid->codec() != cas::Codec::kRaw) return Bad(at, "must be a raw CID");
    s.shards.push_back(*cid);
  }
  return s;
}

}  // namespace

std::string EncodeStoreManifest(const StoreManifest& m, bool signed_form) {
  json j = {{"encrypted", m.encrypted},
            {"owner", m.owner},
            {"segment_bytes", m.segment_bytes},
            {"size", m.size},
            {"type", std::string(kStoreManifestType)},
            {"version", kStoreManifestVersion}};
  if (!m.wrapped_key.empty()) j["key"] = Bytes(m.wrapped_key);
  if (m.is_inline()) {
    json in = SegmentJson(*m.inline_segment);
    in["data"] = Bytes(m.inline_data);
    j["inline"] = std::move(in);
  } else {
    j["code"] = {{"k", m.k}, {"m", m.m}};
    json segments = json::array();
    for (const SegmentInfo& s : m.segments) segments.push_back(SegmentJson(s));
    j["segments"] = std::move(segments);
  }
  if (signed_form) j["signature"] = Bytes(m.signature);
  return j.dump();
}

absl::Status SignStoreManifest(StoreManifest& manifest, const crypto::KeyPair& owner) {
  if (manifest.owner != owner.did().ToString()) {
    return absl::InvalidArgumentError("a store manifest is signed by its owner");
  }
  manifest.signature = owner.Sign(EncodeStoreManifest(manifest, /*signed_form=*/false));
  return absl::OkStatus();
}

absl::StatusOr<StoreManifest> ParseStoreManifest(std::string_view bytes) {
  if (bytes.size() > kMaxStoreManifestBytes) {
    return Bad("", mesh::StrCat(bytes.size(), " bytes; the limit is ", kMaxStoreManifestBytes));
  }
  json j;
  try {
    j = json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& e) {
    return Bad("", mesh::StrCat("not valid JSON: ", e.what()));
  }
  MESH_RETURN_IF_ERROR(KnownKeys(j,
                                 {"code", "encrypted", "inline", "key", "owner", "segment_bytes",
                                  "segments", "signature", "size", "type", "version"},
                                 ""));
  // Types first: json::value() throws on a key of another type.
  const bool typed = j.contains("type") && j["type"].is_string() &&
                     j["type"].get_ref<const std::string&>() == kStoreManifestType;
  const bool versioned =
      j.contains("version") && j["version"].is_number_unsigned() &&
      j["version"].get<uint64_t>() == static_cast<uint64_t>(kStoreManifestVersion);
  if (!typed || !versioned) {
    return Bad("/type", mesh::StrCat("must be \"", kStoreManifestType, "\" version ",
                                     kStoreManifestVersion));
  }
  StoreManifest m;
  if (!j.contains("owner") || !j["owner"].is_string()) return Bad("/owner", "must be a did:key");
  m.owner = j["owner"].get<std::string>();
  absl::StatusOr<crypto::DidKey> owner = crypto::DidKey::Parse(m.owner);
  if (!owner.ok()) return Bad("/owner", std::string(owner.status().message()));
  if (!j.contains("encrypted") || !j["encrypted"].is_boolean()) {
    return Bad("/encrypted", "must be true or false");
  }
  m.encrypted = j["encrypted"].get<bool>();
  MESH_ASSIGN_OR_RETURN(m.size, Unsigned(j, "size", ""));
  MESH_ASSIGN_OR_RETURN(m.segment_bytes, Unsigned(j, "segment_bytes", ""));
  if (m.segment_bytes < kMinSegmentBytes || m.segment_bytes > kMaxSegmentBytes) {
    return Bad("/segment_bytes",
               mesh::StrCat("must be ", kMinSegmentBytes, " to ", kMaxSegmentBytes));
  }
  if (m.encrypted != j.contains("key")) {
    return Bad("/key", m.encrypted ? "is missing" : "is there, but the file is not encrypted");
  }
  if (m.encrypted) {
    MESH_ASSIGN_OR_RETURN(m.wrapped_key, BytesOf(j["key"], "/key", 256));
    if (m.wrapped_key.size() != kFileKeyBytes + crypto::kSealOverhead) {
      return Bad("/key", "must be a file key sealed to the owner");
    }
  }
  if (j.contains("inline") == j.contains("segments")) {
    return Bad("", "must hold either \"inline\" or \"segments\"");
  }
  if (j.contains("inline")) {
    if (j.contains("code")) return Bad("/code", "an inline file has no code");
    json in = j["inline"];
    if (!in.is_object() || !in.contains("data")) return Bad("/inline/data", "is missing");
    MESH_ASSIGN_OR_RETURN(m.inline_data, BytesOf(in["data"], "/inline/data", kMaxInlineBytes + 64));
    in.erase("data");
    MESH_ASSIGN_OR_RETURN(SegmentInfo s, ParseSegment(in, "/inline", m.encrypted, 0));
    if (s.plain_bytes != m.size || s.plain_bytes > kMaxInlineBytes ||
        s.sealed_bytes != m.inline_data.size()) {
      return Bad("/inline", "its sizes do not match the file's and its data");
    }
    m.inline_segment = std::move(s);
  } else {
    const json& code = j.contains("code") ? j["code"] : json();
    MESH_RETURN_IF_ERROR(KnownKeys(code, {"k", "m"}, "/code"));
    MESH_ASSIGN_OR_RETURN(uint64_t k, Unsigned(code, "k", "/code"));
    MESH_ASSIGN_OR_RETURN(uint64_t mm, Unsigned(code, "m", "/code"));
    if (k < 1 || k > kMaxDataShards || mm < 1 || mm > kMaxParityShards) {
      return Bad("/code",
                 mesh::StrCat("k must be 1 to ", kMaxDataShards, " and m 1 to ", kMaxParityShards));
    }
    m.k = static_cast<int>(k);
    m.m = static_cast<int>(mm);
    if (!j["segments"].is_array()) return Bad("/segments", "must be an array");
    const uint64_t expected = (m.size + m.segment_bytes - 1) / m.segment_bytes;
    if (j["segments"].size() != expected) {
      return Bad("/segments", mesh::StrCat("a file of ", m.size, " bytes in segments of ",
                                           m.segment_bytes, " has ", expected, " segments"));
    }
    for (size_t i = 0; i < j["segments"].size(); ++i) {
      const std::string where = mesh::StrCat("/segments/", i);
      MESH_ASSIGN_OR_RETURN(SegmentInfo s,
                            ParseSegment(j["segments"][i], where, m.encrypted, m.k + m.m));
      const uint64_t want = i + 1 < expected ? m.segment_bytes : m.size - i * m.segment_bytes;
      if (s.plain_bytes != want) {
        return Bad(where + "/plain", mesh::StrCat("must be ", want, " (the file's cut)"));
      }
      m.segments.push_back(std::move(s));
    }
  }
  if (!j.contains("signature")) return Bad("/signature", "is missing");
  MESH_ASSIGN_OR_RETURN(m.signature, BytesOf(j["signature"], "/signature", 128));
  if (EncodeStoreManifest(m) != bytes) {
    return Bad("", "not in canonical form (keys sorted, no whitespace); re-encode it");
  }
  absl::Status verified = owner->Verify(EncodeStoreManifest(m, false), m.signature);
  if (!verified.ok()) {
    return absl::UnauthenticatedError("store manifest: the owner's signature does not verify");
  }
  return m;
}

}  // namespace mesh::storage
