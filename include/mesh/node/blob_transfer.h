// Blob transfer between nodes, both ways: FetchBlobFrom streams a blob from a peer into the
// blob store, checked against its CID; OpenBlobAt opens a stored blob for a peer at an offset.
// Stateless functions; FetchBlobFrom blocks for the whole transfer (never call it on a thread
// that must stay responsive).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/cas/blob_store.h"
#include "mesh/net/transport.h"

namespace mesh::node {

// Streams blob `cid` from `from` (`request`: the sealed BlobRequest) into `blobs`, hashing and
// writing each chunk once as it arrives (cas::PendingBlob). Returns the bytes stored.
// ResourceExhausted past `limit` bytes (the stream is cut there); DataLoss when the bytes do not
// hash to `cid`. On any error nothing is stored and no temp file is left.
absl::StatusOr<uint64_t> FetchBlobFrom(net::Transport& transport, const net::Endpoint& from,
                                       std::string request, const cas::Cid& cid, uint64_t limit,
                                       absl::Duration timeout, cas::BlobStore& blobs);

// The stored blob `cid` from byte `offset` (the reader checks the hash as it goes).
absl::StatusOr<std::unique_ptr<cas::ByteSource>> OpenBlobAt(cas::BlobStore& blobs,
                                                            const std::string& cid,
                                                            uint64_t offset);

}  // namespace mesh::node
