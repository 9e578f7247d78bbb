#include "mesh/job/market.h"

#include <array>
#include <limits>
#include <optional>
#include <utility>

#include "market_json.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/common/varint.h"

namespace mesh::job {

std::string ResultKey(std::string_view output_cid, std::string_view files_cid) {
  return files_cid.empty() ? std::string(output_cid) : mesh::StrCat(output_cid, "+", files_cid);
}

namespace {

using nlohmann::json;

struct Kind {
  std::string_view name;
  std::string_view payload_type;
  std::string_view author;  // the field naming the party the message speaks for
};

// In the order of Message's alternatives.
constexpr std::array<Kind, std::variant_size_v<Message>> kKinds = {{
    {"announce", "application/vnd.mesh.announce.v1+json", "origin"},
    {"bid", "application/vnd.mesh.bid.v1+json", "executor"},
    {"decline", "application/vnd.mesh.decline.v1+json", "executor"},
    {"assignment", "application/vnd.mesh.assignment.v1+json", "origin"},
    {"assignment_ack", "application/vnd.mesh.assignment_ack.v1+json", "executor"},
    {"progress", "application/vnd.mesh.progress.v1+json", "executor"},
    {"receipt", "application/vnd.mesh.receipt.v1+json", "executor"},
    {"cancel", "application/vnd.mesh.cancel.v1+json", "origin"},
    {"heartbeat", "application/vnd.mesh.heartbeat.v1+json", "node"},
    {"blob_request", "application/vnd.mesh.blob_request.v1+json", "requester"},
    {"artifact", "application/vnd.mesh.artifact.v1+json", "executor"},
    {"gossip", "application/vnd.mesh.gossip.v1+json", "node"},
    {"store_shards", "application/vnd.mesh.store_shards.v1+json", "owner"},
    {"drop_shards", "application/vnd.mesh.drop_shards.v1+json", "owner"},
    {"shards_held", "application/vnd.mesh.shards_held.v1+json", "holder"},
    {"audit_challenge", "application/vnd.mesh.audit_challenge.v1+json", "owner"},
    {"audit_proof", "application/vnd.mesh.audit_proof.v1+json", "holder"},
}};

std::optional<size_t> KindOf(std::string_view payload_type) {
  for (size_t i = 0; i < kKinds.size(); ++i) {
    if (kKinds[i].payload_type == payload_type) return i;
  }
  return std::nullopt;
}

MessageHeader& HeaderOf(Message& message) {
  return std::visit([](auto& m) -> MessageHeader& { return m.header; }, message);
}

const std::string& AuthorOf(const Message& message) {
  struct Visitor {
    const std::string& operator()(const Announce& m) const { return m.origin; }
    const std::string& operator()(const Bid& m) const { return m.executor; }
    const std::string& operator()(const Decline& m) const { return m.executor; }
    const std::string& operator()(const Assignment& m) const { return m.origin; }
    const std::string& operator()(const AssignmentAck& m) const { return m.executor; }
    const std::string& operator()(const Progress& m) const { return m.executor; }
    const std::string& operator()(const Receipt& m) const { return m.executor; }
    const std::string& operator()(const CancelJob& m) const { return m.origin; }
    const std::string& operator()(const Heartbeat& m) const { return m.node; }
    const std::string& operator()(const BlobRequest& m) const { return m.requester; }
    const std::string& operator()(const Artifact& m) const { return m.executor; }
    const std::string& operator()(const Gossip& m) const { return m.node; }
    const std::string& operator()(const StoreShards& m) const { return m.owner; }
    const std::string& operator()(const DropShards& m) const { return m.owner; }
    const std::string& operator()(const ShardsHeld& m) const { return m.holder; }
    const std::string& operator()(const AuditChallenge& m) const { return m.owner; }
    const std::string& operator()(const AuditProof& m) const { return m.holder; }
  };
  return std::visit(Visitor{}, message);
}

template <typename T>
absl::StatusOr<Message> Wrap(absl::StatusOr<T> decoded) {
  if (!decoded.ok()) return std::move(decoded).status();
  return Message(*std::move(decoded));
}

// The payload type of an envelope, read from its wire form (envelope.h) before the envelope
// is opened: Envelope::Open checks the type against the one it is given, and which type to
// expect depends on the message. Open re-checks everything read here.
absl::StatusOr<std::string_view> PeekPayloadType(std::string_view bytes, size_t max_bytes) {
  constexpr std::string_view kMagic("MSE\x01", 4);
  if (bytes.size() > max_bytes) {
    return absl::InvalidArgumentError(
        mesh::StrCat("message is ", bytes.size(), " bytes; the limit is ", max_bytes));
  }
  if (bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError("not a Mesh envelope (bad magic or version)");
  }
  std::string_view in = bytes.substr(kMagic.size());
  absl::StatusOr<uint64_t> length = ReadVarint(in);
  if (!length.ok() || *length > crypto::kMaxPayloadTypeSize || *length > in.size()) {
    return absl::InvalidArgumentError("envelope payload type is malformed or truncated");
  }
  return in.substr(0, *length);
}

}  // namespace

std::string_view PayloadType(const Message& message) {
  return kKinds[message.index()].payload_type;
}

std::string_view MessageName(const Message& message) { return kKinds[message.index()].name; }

json ToJson(const Message& message) {
  return std::visit([](const auto& m) { return internal::Encode(m); }, message);
}

absl::StatusOr<Message> MessageFromJson(std::string_view payload_type, const json& j) {
  const std::optional<size_t> kind = KindOf(payload_type);
  if (!kind.has_value()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("unknown market message type '", payload_type, "'"));
  }
  FieldReader r(j, mesh::StrCat("/", kKinds[*kind].name));
  MESH_RETURN_IF_ERROR(r.CheckObject());
  switch (*kind) {
    case 0:
      return Wrap(internal::DecodeAnnounce(r));
    case 1:
      return Wrap(internal::DecodeBid(r));
    case 2:
      return Wrap(internal::DecodeDecline(r));
    case 3:
      return Wrap(internal::DecodeAssignment(r));
    case 4:
      return Wrap(internal::DecodeAssignmentAck(r));
    case 5:
      return Wrap(internal::DecodeProgress(r));
    case 6:
      return Wrap(internal::DecodeReceipt(r));
    case 7:
      return Wrap(internal::DecodeCancelJob(r));
    case 8:
      return Wrap(internal::DecodeHeartbeat(r));
    case 9:
      return Wrap(internal::DecodeBlobRequest(r));
    case 10:
      return Wrap(internal::DecodeArtifact(r));
    case 11:
      return Wrap(internal::DecodeGossip(r));
    case 12:
      return Wrap(internal::DecodeStoreShards(r));
    case 13:
      return Wrap(internal::DecodeDropShards(r));
    case 14:
      return Wrap(internal::DecodeShardsHeld(r));
    case 15:
      return Wrap(internal::DecodeAuditChallenge(r));
    case 16:
      return Wrap(internal::DecodeAuditProof(r));
  }
  return absl::InternalError("unhandled market message kind");
}

crypto::Envelope SealMessage(const crypto::KeyPair& key, Message message, int64_t now_ms,
                             std::string_view nonce_hex) {
  MessageHeader& header = HeaderOf(message);
  if (header.sent_at_ms == 0) header.sent_at_ms = now_ms;
  if (header.nonce.empty()) header.nonce = std::string(nonce_hex);
  return crypto::Envelope::Seal(key, PayloadType(message), ToJson(message).dump());
}

absl::StatusOr<OpenedMessage> OpenMessage(std::string_view bytes, size_t max_bytes) {
  MESH_ASSIGN_OR_RETURN(std::string_view type, PeekPayloadType(bytes, max_bytes));
  if (!KindOf(type).has_value()) {
    return absl::InvalidArgumentError(mesh::StrCat("unknown market message type '", type, "'"));
  }
  MESH_ASSIGN_OR_RETURN(crypto::Envelope envelope,
                        crypto::Envelope::Open(bytes, type, std::nullopt, max_bytes));
  MESH_ASSIGN_OR_RETURN(
      const json j,
      ParseUntrustedJson(envelope.payload(),
                         mesh::StrCat("market message payload of type '", type, "'")));
  MESH_ASSIGN_OR_RETURN(Message message, MessageFromJson(envelope.payload_type(), j));
  const std::string& author = AuthorOf(message);
  // The author field already parsed as a did:key; compare keys, not spellings.
  absl::StatusOr<crypto::DidKey> author_key = crypto::DidKey::Parse(author);
  if (!author_key.ok() || !(*author_key == envelope.signer())) {
    const Kind& kind = kKinds[message.index()];
    return absl::PermissionDeniedError(mesh::StrCat(kind.name, " names ", kind.author, " ", author,
                                                    " but is signed by ",
                                                    envelope.signer().ToString()));
  }
  return OpenedMessage{std::move(envelope), std::move(message)};
}

uint64_t QuotePrice(uint64_t base_fee, uint64_t rate_per_gfuel, uint64_t fuel) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  constexpr uint64_t kGiga = 1'000'000'000;
  // ceil(rate * fuel / 1e9) without overflow: 128-bit product.
  const unsigned __int128 product = static_cast<unsigned __int128>(rate_per_gfuel) * fuel;
  const unsigned __int128 variable = (product + kGiga - 1) / kGiga;
  if (variable > kMax - base_fee) return kMax;
  return base_fee + static_cast<uint64_t>(variable);
}

}  // namespace mesh::job
