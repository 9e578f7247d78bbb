// What the file store (file_store.h) needs of the mesh: the peers that could hold shards, a
// request to one of them and its signed answer, and a blob streamed from one. MeshService
// implements it over its transport (envelopes sealed and opened as for every peer message).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/job/market.h"
#include "mesh/net/transport.h"
#include "mesh/storage/holder_chooser.h"

namespace mesh::node {

class StoragePeers {
 public:
  virtual ~StoragePeers() = default;
  // Where peers fetch this node's blobs.
  virtual std::string address() const = 0;
  // Every peer this node knows (both membership views) with what it knows of each.
  virtual std::vector<storage::HolderCandidate> HolderCandidates() = 0;
  virtual std::optional<absl::Duration> RoundTrip(const std::string& did) = 0;
  // Sends a stored-file request (StoreShards, DropShards, AuditChallenge) to `did` at
  // `address`; its signed answer (opened and checked: from that DID), or the error it gave.
  virtual absl::StatusOr<job::Message> Ask(const std::string& did, const std::string& address,
                                           job::Message request, absl::Duration timeout) = 0;
  // Streams blob `cid` from `did` at `address` into `sink`; ResourceExhausted past `limit`.
  virtual absl::Status FetchFrom(const std::string& did, const std::string& address,
                                 const std::string& cid, uint64_t limit, absl::Duration timeout,
                                 const net::ChunkSink& sink) = 0;
};

}  // namespace mesh::node
