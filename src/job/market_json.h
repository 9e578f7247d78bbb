// JSON codecs of the market messages (mesh/job/market.h), one pair per message. Internal to the
// job module: market.cc dispatches on the payload type. A decoder reads the object behind `r`
// (whose path is "/<message name>"); it checks every field but not the signer.
#pragma once

#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "field_reader.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/job/market.h"
#include "nlohmann/json.hpp"

namespace mesh::job::internal {

// Free-text fields (reasons, messages) and addresses.
inline constexpr size_t kMaxTextBytes = 1024;
inline constexpr size_t kMaxAddressBytes = 256;
inline constexpr size_t kMaxExclude = 256;
inline constexpr size_t kMaxPeers = 64;
inline constexpr size_t kMaxReportBytes = 64 << 10;
inline constexpr size_t kNonceHexChars = 32;

nlohmann::json Encode(const Announce& m);
nlohmann::json Encode(const Bid& m);
nlohmann::json Encode(const Decline& m);
nlohmann::json Encode(const Assignment& m);
nlohmann::json Encode(const AssignmentAck& m);
nlohmann::json Encode(const Progress& m);
nlohmann::json Encode(const Artifact& m);
nlohmann::json Encode(const Receipt& m);
nlohmann::json Encode(const CancelJob& m);
nlohmann::json Encode(const Heartbeat& m);
nlohmann::json Encode(const BlobRequest& m);
nlohmann::json Encode(const Gossip& m);
nlohmann::json Encode(const StoreShards& m);  // store_message_json.cc
nlohmann::json Encode(const DropShards& m);
nlohmann::json Encode(const ShardsHeld& m);
nlohmann::json Encode(const AuditChallenge& m);
nlohmann::json Encode(const AuditProof& m);

absl::StatusOr<Announce> DecodeAnnounce(const FieldReader& r);
absl::StatusOr<Bid> DecodeBid(const FieldReader& r);
absl::StatusOr<Decline> DecodeDecline(const FieldReader& r);
absl::StatusOr<Assignment> DecodeAssignment(const FieldReader& r);
absl::StatusOr<AssignmentAck> DecodeAssignmentAck(const FieldReader& r);
absl::StatusOr<Progress> DecodeProgress(const FieldReader& r);
absl::StatusOr<Artifact> DecodeArtifact(const FieldReader& r);
absl::StatusOr<Receipt> DecodeReceipt(const FieldReader& r);
absl::StatusOr<CancelJob> DecodeCancelJob(const FieldReader& r);
absl::StatusOr<Heartbeat> DecodeHeartbeat(const FieldReader& r);
absl::StatusOr<BlobRequest> DecodeBlobRequest(const FieldReader& r);
absl::StatusOr<Gossip> DecodeGossip(const FieldReader& r);
absl::StatusOr<StoreShards> DecodeStoreShards(const FieldReader& r);
absl::StatusOr<DropShards> DecodeDropShards(const FieldReader& r);
absl::StatusOr<ShardsHeld> DecodeShardsHeld(const FieldReader& r);
absl::StatusOr<AuditChallenge> DecodeAuditChallenge(const FieldReader& r);
absl::StatusOr<AuditProof> DecodeAuditProof(const FieldReader& r);

// Shared by the codecs (market_json.cc).
// An Assignment's key_grants (store_message_json.cc).
nlohmann::json EncodeKeyGrants(const std::vector<KeyGrant>& grants);
absl::StatusOr<std::vector<KeyGrant>> ReadKeyGrants(const FieldReader& r, std::string_view key);

void PutHeader(const MessageHeader& h, nlohmann::json& j);

// How an array of objects in a message is bounded (ReadArray).
struct ArrayOf {
  std::string_view what;  // its items, for errors: "{did, address}"
  size_t max_items = 0;
  bool required = false;   // absent is an error (otherwise it reads as empty)
  bool non_empty = false;  // an empty array is an error
};

// The array at `key`, each item read by `read` from a FieldReader whose path is "key/i".
template <typename Read>
auto ReadArray(const FieldReader& r, std::string_view key, const ArrayOf& spec, Read read)
    -> absl::StatusOr<
        std::vector<typename std::invoke_result_t<Read, const FieldReader&>::value_type>> {
  using Item = typename std::invoke_result_t<Read, const FieldReader&>::value_type;
  std::vector<Item> out;
  const nlohmann::json* list = r.Find(key);
  if (list == nullptr && !spec.required) return out;
  if (list == nullptr || !list->is_array() || (spec.non_empty && list->empty())) {
    return r.Error(key, mesh::StrCat("must be ", spec.non_empty ? "a non-empty" : "an",
                                     " array of ", spec.what));
  }
  if (list->size() > spec.max_items) {
    return r.Error(key, mesh::StrCat("has more than ", spec.max_items, " items"));
  }
  out.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    MESH_ASSIGN_OR_RETURN(Item item,
                          read(FieldReader((*list)[i], r.PathOf(mesh::StrCat(key, "/", i)))));
    out.push_back(std::move(item));
  }
  return out;
}
absl::StatusOr<MessageHeader> ReadHeader(const FieldReader& r);

}  // namespace mesh::job::internal
