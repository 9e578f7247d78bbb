// JSON codecs of the stored-file messages (StoreShards, DropShards, ShardsHeld, audits) and of an
// Assignment's key grants: the holder checks every field of an owner's request before it
// reserves room or fetches anything.
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "market_json.h"
#include "mesh/cas/cid.h"
#include "mesh/common/base64.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/job/job_spec.h"

namespace mesh::job::internal {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxCount = std::numeric_limits<int64_t>::max();

json CidList(const std::vector<std::string>& cids) { return cids; }

// An array of CIDs, at most kMaxShardsPerMessage, each well-formed.
absl::StatusOr<std::vector<std::string>> ReadCids(const FieldReader& r, std::string_view key) {
  std::vector<std::string> out;
  const json* list = r.Find(key);
  if (list == nullptr) return out;
  if (!list->is_array()) return r.Error(key, "must be an array of CIDs");
  if (list->size() > kMaxShardsPerMessage) {
    return r.Error(key, mesh::StrCat("has more than ", kMaxShardsPerMessage, " items"));
  }
  out.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    const std::string path = mesh::StrCat(key, "/", i);
    if (!item.is_string() || !cas::Cid::Parse(item.get_ref<const std::string&>()).ok()) {
      return r.Error(path, "must be a CID");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

json Encode(const StoreShards& m) {
  json shards = json::array();
  for (const ShardRef& s : m.shards) shards.push_back({{"cid", s.cid}, {"bytes", s.bytes}});
  json j = {{"owner", m.owner},
            {"source_address", m.source_address},
            {"file", m.file},
            {"shards", std::move(shards)}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<StoreShards> DecodeStoreShards(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"sent_at_ms", "nonce", "owner", "source_address", "file", "shards"}));
  StoreShards m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.owner, r.Did("owner", true));
  MESH_ASSIGN_OR_RETURN(m.source_address, r.String("source_address", true, kMaxAddressBytes));
  MESH_ASSIGN_OR_RETURN(m.file, r.Cid("file", true));
  const ArrayOf spec{.what = "{cid, bytes}",
                     .max_items = kMaxShardsPerMessage,
                     .required = true,
                     .non_empty = true};
  MESH_ASSIGN_OR_RETURN(
      m.shards,
      ReadArray(r, "shards", spec, [](const FieldReader& item) -> absl::StatusOr<ShardRef> {
        MESH_RETURN_IF_ERROR(item.CheckObject());
        MESH_RETURN_IF_ERROR(item.CheckKnownKeys({"cid", "bytes"}));
        ShardRef shard;
        MESH_ASSIGN_OR_RETURN(shard.cid, item.Cid("cid", true));
        MESH_ASSIGN_OR_RETURN(shard.bytes, item.Unsigned("bytes", kMaxCount));
        return shard;
      }));
  return m;
}

json Encode(const DropShards& m) {
  json j = {{"owner", m.owner}, {"file", m.file}, {"shards", CidList(m.shards)}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<DropShards> DecodeDropShards(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"sent_at_ms", "nonce", "owner", "file", "shards"}));
  DropShards m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.owner, r.Did("owner", true));
  MESH_ASSIGN_OR_RETURN(m.file, r.Cid("file", true));
  MESH_ASSIGN_OR_RETURN(m.shards, ReadCids(r, "shards"));
  return m;
}

json Encode(const ShardsHeld& m) {
  json j = {{"holder", m.holder},
            {"file", m.file},
            {"shards", CidList(m.shards)},
            {"free_bytes", m.free_bytes}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<ShardsHeld> DecodeShardsHeld(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"sent_at_ms", "nonce", "holder", "file", "shards", "free_bytes"}));
  ShardsHeld m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.holder, r.Did("holder", true));
  MESH_ASSIGN_OR_RETURN(m.file, r.Cid("file", true));
  MESH_ASSIGN_OR_RETURN(m.shards, ReadCids(r, "shards"));
  MESH_ASSIGN_OR_RETURN(m.free_bytes, r.Unsigned("free_bytes", kMaxCount));
  return m;
}

json Encode(const AuditChallenge& m) {
  json j = {{"owner", m.owner},
            {"file", m.file},
            {"shard", m.shard},
            {"offset", m.offset},
            {"length", m.length}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<AuditChallenge> DecodeAuditChallenge(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"sent_at_ms", "nonce", "owner", "file", "shard", "offset", "length"}));
  AuditChallenge m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.owner, r.Did("owner", true));
  MESH_ASSIGN_OR_RETURN(m.file, r.Cid("file", true));
  MESH_ASSIGN_OR_RETURN(m.shard, r.Cid("shard", true));
  MESH_ASSIGN_OR_RETURN(m.offset, r.Unsigned("offset", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.length, r.Unsigned("length", kMaxAuditBytes));
  if (m.length == 0) return r.Error("length", mesh::StrCat("must be 1 to ", kMaxAuditBytes));
  return m;
}

json Encode(const AuditProof& m) {
  json j = {{"holder", m.holder}, {"shard", m.shard}, {"sha256", m.sha256}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<AuditProof> DecodeAuditProof(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"sent_at_ms", "nonce", "holder", "shard", "sha256"}));
  AuditProof m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.holder, r.Did("holder", true));
  MESH_ASSIGN_OR_RETURN(m.shard, r.Cid("shard", true));
  MESH_ASSIGN_OR_RETURN(m.sha256, r.String("sha256", true, 64));
  if (m.sha256.size() != 64 ||
      m.sha256.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return r.Error("sha256", "must be 64 lower-case hex characters");
  }
  return m;
}

}  // namespace mesh::job::internal

namespace mesh::job::internal {

nlohmann::json EncodeKeyGrants(const std::vector<KeyGrant>& grants) {
  nlohmann::json out = nlohmann::json::array();
  for (const KeyGrant& g : grants) {
    nlohmann::json holders = nlohmann::json::array();
    for (const GrantHolder& h : g.holders) {
      holders.push_back({{"index", h.index}, {"did", h.did}, {"address", h.address}});
    }
    nlohmann::json grant = {{"file", g.file}, {"holders", std::move(holders)}};
    if (!g.sealed_key.empty()) grant["sealed_key"] = Base64Encode(g.sealed_key);
    out.push_back(std::move(grant));
  }
  return out;
}

absl::StatusOr<std::vector<KeyGrant>> ReadKeyGrants(const FieldReader& r, std::string_view key) {
  const ArrayOf grants{.what = "{file, sealed_key, holders}", .max_items = kMaxInputs};
  const ArrayOf holders{
      .what = "{index, did, address}", .max_items = kMaxGrantHolders, .required = true};
  return ReadArray(r, key, grants, [&](const FieldReader& item) -> absl::StatusOr<KeyGrant> {
    MESH_RETURN_IF_ERROR(item.CheckObject());
    MESH_RETURN_IF_ERROR(item.CheckKnownKeys({"file", "sealed_key", "holders"}));
    KeyGrant grant;
    MESH_ASSIGN_OR_RETURN(grant.file, item.Cid("file", true));
    MESH_ASSIGN_OR_RETURN(std::string sealed,
                          item.String("sealed_key", false, (kMaxSealedKeyBytes + 2) / 3 * 4));
    absl::StatusOr<std::string> decoded = Base64Decode(sealed);
    if (!decoded.ok()) return item.Error("sealed_key", ToStd(decoded.status().message()));
    grant.sealed_key = *std::move(decoded);
    MESH_ASSIGN_OR_RETURN(
        grant.holders,
        ReadArray(
            item, "holders", holders, [](const FieldReader& h) -> absl::StatusOr<GrantHolder> {
              MESH_RETURN_IF_ERROR(h.CheckObject());
              MESH_RETURN_IF_ERROR(h.CheckKnownKeys({"index", "did", "address"}));
              GrantHolder holder;
              MESH_ASSIGN_OR_RETURN(int64_t index, h.Signed("index", 0, kMaxGrantHolders - 1));
              holder.index = static_cast<int32_t>(index);
              MESH_ASSIGN_OR_RETURN(holder.did, h.Did("did", true));
              MESH_ASSIGN_OR_RETURN(holder.address, h.String("address", true, kMaxAddressBytes));
              return holder;
            }));
    return grant;
  });
}

}  // namespace mesh::job::internal
