#include "mesh/node/blob_transfer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"

namespace mesh::node {
namespace {

// Blobs up to this size are fetched into memory; larger ones into a temp file.
constexpr size_t kInMemoryFetch = 8 << 20;

}  // namespace

absl::StatusOr<uint64_t> FetchBlobFrom(net::Transport& transport, const net::Endpoint& from,
                                       std::string request, const cas::Cid& cid, uint64_t limit,
                                       absl::Duration timeout, cas::BlobStore& blobs) {
  crypto::Sha256 hash;
  std::string memory;
  ScopedFd file;
  std::filesystem::path temp;
  uint64_t size = 0;
  auto sink = [&](std::string_view chunk) -> absl::Status {
    size += chunk.size();
    if (size > limit) {
      return absl::ResourceExhaustedError(mesh::StrCat("blob ", cid.ToString(), " from ",
                                                       from.address, " is over ", limit, " bytes"));
    }
    hash.Update(chunk);
    if (!file.valid() && memory.size() + chunk.size() <= kInMemoryFetch) {
      memory.append(chunk);
      return absl::OkStatus();
    }
    if (!file.valid()) {
      std::string pattern = (blobs.root() / ".fetch-XXXXXX").string();
      const int fd = mkstemp(pattern.data());
      if (fd < 0) return absl::InternalError(mesh::StrCat("cannot create ", pattern));
      file = ScopedFd(fd);
      temp = pattern;
      MESH_RETURN_IF_ERROR(WriteAll(file.get(), memory));
      memory.clear();
    }
    return WriteAll(file.get(), chunk);
  };
  absl::Status status = transport.FetchBlob(from, std::move(request), timeout, sink);
  if (status.ok() && cas::Cid::FromDigest(hash.Finish(), cid.codec()) != cid) {
    status = absl::DataLossError(
        mesh::StrCat("peer at ", from.address, " sent bytes that do not hash to ", cid.ToString()));
  }
  if (status.ok()) {
    status = (file.valid() ? blobs.PutFile(temp, cid.codec()) : blobs.PutBytes(memory, cid.codec()))
                 .status();
  }
  if (!temp.empty()) {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
  }
  MESH_RETURN_IF_ERROR(status);
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
