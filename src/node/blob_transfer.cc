#include "mesh/node/blob_transfer.h"

#include <algorithm>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::node {

absl::StatusOr<uint64_t> FetchBlobFrom(net::Transport& transport, const net::Endpoint& from,
                                       std::string request, const cas::Cid& cid, uint64_t limit,
                                       absl::Duration timeout, cas::BlobStore& blobs) {
  // Each chunk is hashed and written once, as it arrives; the blob becomes visible only when
  // the whole stream hashed to `cid`. On any error `pending` is destroyed uncommitted and takes
  // its temp file with it.
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<cas::PendingBlob> pending, blobs.BeginPut(cid, limit));
  auto sink = [&](std::string_view chunk) -> absl::Status {
    if (chunk.size() > limit - pending->size()) {  // size() <= limit: no wrap.
      return absl::ResourceExhaustedError(mesh::StrCat("blob ", cid.ToString(), " from ",
                                                       from.address, " is over ", limit, " bytes"));
    }
    return pending->Append(chunk);
  };
  MESH_RETURN_IF_ERROR(transport.FetchBlob(from, std::move(request), timeout, sink));
  absl::StatusOr<uint64_t> size = pending->Commit();
  if (absl::IsDataLoss(size.status())) {
    return absl::DataLossError(
        mesh::StrCat("peer at ", from.address, " sent bytes that do not hash to ", cid.ToString()));
  }
  return size;
}

absl::StatusOr<std::unique_ptr<cas::ByteSource>> OpenBlobAt(cas::BlobStore& blobs,
                                                            const std::string& text,
                                                            uint64_t offset) {
  MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(text));
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<cas::BlobReader> reader, blobs.Open(cid));
  if (offset > reader->size()) {
    return absl::OutOfRangeError(mesh::StrCat("offset ", offset, " is past the end of ", text, " (",
                                              reader->size(), " bytes)"));
  }
  // Skip to the offset by reading: a BlobReader checks the hash as it goes.
  std::string skip(64 << 10, '\0');
  for (uint64_t left = offset; left > 0;) {
    MESH_ASSIGN_OR_RETURN(size_t n,
                          reader->Read(skip.data(), std::min<uint64_t>(left, skip.size())));
    if (n == 0) break;
    left -= n;
  }
  return std::unique_ptr<cas::ByteSource>(std::move(reader));
}

}  // namespace mesh::node
