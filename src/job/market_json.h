// JSON codecs of the market messages (mesh/job/market.h), one pair per message. Internal to the
// job module: market.cc dispatches on the payload type. A decoder reads the object behind `r`
// (whose path is "/<message name>"); it checks every field but not the signer.
#pragma once

#include "absl/status/statusor.h"
#include "field_reader.h"
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
absl::StatusOr<MessageHeader> ReadHeader(const FieldReader& r);

}  // namespace mesh::job::internal
