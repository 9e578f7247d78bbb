// MeshService's part in stored files: answering StoreShards and DropShards as a holder, and the
// StoragePeers the file store uses as an owner (candidates from the peer table, requests and
// blob streams over the transport).
#include <utility>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/node/blob_transfer.h"
#include "mesh/node/mesh_service.h"
#include "mesh/node/settlement.h"

namespace mesh::node {

void MeshService::SetShardHolder(ShardHolder* holder, std::string zone) {
  holder_ = holder;
  zone_ = std::move(zone);
}

absl::StatusOr<std::string> MeshService::OnStorageMessage(const crypto::DidKey& peer,
                                                          const job::Message& message) {
  if (holder_ == nullptr) {
    return absl::FailedPreconditionError("this node holds no shards for others");
  }
  if (const auto* store = std::get_if<job::StoreShards>(&message)) {
    // A quota of 0 takes nothing new; what is held can still be audited and dropped.
    if (holder_->quota_bytes() == 0) {
      return absl::FailedPreconditionError(
          "this node holds no shards for others ([storage] quota = 0)");
    }
    MESH_ASSIGN_OR_RETURN(job::ShardsHeld held, holder_->Store(peer.ToString(), *store));
    return envelopes_.Seal(std::move(held));
  }
  if (const auto* audit = std::get_if<job::AuditChallenge>(&message)) {
    MESH_ASSIGN_OR_RETURN(job::AuditProof proof, holder_->Audit(peer.ToString(), *audit));
    return envelopes_.Seal(std::move(proof));
  }
  MESH_ASSIGN_OR_RETURN(job::ShardsHeld held,
                        holder_->Drop(peer.ToString(), std::get<job::DropShards>(message)));
  return envelopes_.Seal(std::move(held));
}

std::vector<storage::HolderCandidate> MeshService::HolderCandidates() {
  std::vector<storage::HolderCandidate> out;
  for (const Peer& p : peers_->All()) {
    if (p.did.empty()) continue;
    storage::HolderCandidate c;
    c.did = p.did;
    c.address = p.address;
    c.alive = p.state == PeerState::kAlive && p.heard();
    if (c.alive) c.free_bytes = p.heartbeat.storage_free;
    c.zone = p.heartbeat.zone;
    if (env_.settlement != nullptr) {
      c.reputation = env_.settlement->ReputationOf(p.did).value_or(0.5);
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<absl::Duration> MeshService::RoundTrip(const std::string& did) {
  std::optional<Peer> p = peers_->Find(did);
  if (!p.has_value() || p->state != PeerState::kAlive) return std::nullopt;
  return p->rtt;
}

absl::StatusOr<job::Message> MeshService::Ask(const std::string& did, const std::string& address,
                                              job::Message request, absl::Duration timeout) {
  const net::Endpoint to = EndpointOf(did, address);
  if (!to.did.has_value()) return absl::InvalidArgumentError(mesh::StrCat(did, " is not a DID"));
  auto reply = std::make_shared<absl::StatusOr<std::string>>(absl::UnknownError("no answer"));
  auto done = std::make_shared<absl::Notification>();
  transport_->Send(to, envelopes_.Seal(std::move(request)), 0, timeout,
                   [reply, done](absl::StatusOr<std::string> r) {
                     *reply = std::move(r);
                     done->Notify();
                   });
  done->WaitForNotification();
  if (!reply->ok()) return reply->status();
  MESH_ASSIGN_OR_RETURN(job::OpenedMessage opened, envelopes_.Open(**reply, *to.did));
  return std::move(opened.message);
}

absl::Status MeshService::FetchFrom(const std::string& did, const std::string& address,
                                    const std::string& cid, uint64_t limit, absl::Duration timeout,
                                    const net::ChunkSink& sink) {
  const net::Endpoint from = EndpointOf(did, address);
  if (!from.did.has_value()) return absl::InvalidArgumentError(mesh::StrCat(did, " is not a DID"));
  job::BlobRequest request;
  request.requester = env_.key->did().ToString();
  request.cid = cid;
  uint64_t received = 0;
  return transport_->FetchBlob(from, envelopes_.Seal(std::move(request)), timeout,
                               [&](std::string_view chunk) -> absl::Status {
                                 received += chunk.size();
                                 if (received > limit) {
                                   return absl::ResourceExhaustedError(mesh::StrCat(
                                       "blob ", cid, " is larger than ", limit, " bytes"));
                                 }
                                 return sink(chunk);
                               });
}

absl::Status MeshService::FetchShard(const std::string& did, const std::string& address,
                                     const std::string& cid, uint64_t bytes) {
  MESH_ASSIGN_OR_RETURN(cas::Cid parsed, cas::Cid::Parse(cid));
  const net::Endpoint from = EndpointOf(did, address);
  if (!from.did.has_value()) return absl::InvalidArgumentError(mesh::StrCat(did, " is not a DID"));
  job::BlobRequest request;
  request.requester = env_.key->did().ToString();
  request.cid = cid;
  MESH_ASSIGN_OR_RETURN(
      uint64_t got, FetchBlobFrom(*transport_, from, envelopes_.Seal(std::move(request)), parsed,
                                  bytes, options_.fetch_timeout, *env_.blobs));
  metrics_.BlobBytes(got);
  return absl::OkStatus();
}

}  // namespace mesh::node
