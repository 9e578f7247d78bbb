// Private to the net module: cutting a ByteSource into wire chunks, shared by the gRPC server
// and LoopbackTransport. Header-only, stateless.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "mesh/cas/byte_source.h"
#include "mesh/net/transport.h"

namespace mesh::net::internal {

// Reads the next chunk of up to kBlobChunkBytes into `*buffer` (resized to what was read),
// filling it across short reads. 0 = end of the blob.
inline absl::StatusOr<size_t> ReadChunk(cas::ByteSource& source, std::string* buffer) {
  buffer->resize(kBlobChunkBytes);
  size_t filled = 0;
  while (filled < kBlobChunkBytes) {
    absl::StatusOr<size_t> n = source.Read(buffer->data() + filled, kBlobChunkBytes - filled);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    filled += *n;
  }
  buffer->resize(filled);
  return filled;
}

}  // namespace mesh::net::internal
