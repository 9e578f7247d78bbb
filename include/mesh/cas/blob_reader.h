// BlobReader: streams one stored blob and checks its hash as it goes. The bytes it hands out
// are only trustworthy once Read() has returned 0 (end): if the content does not match the CID
// the final Read() returns DataLoss instead, and the caller must discard what it read.
// Use BlobStore::CopyTo when the bytes must not leave before they are verified.
// Not thread-safe; owns its file descriptor.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "mesh/cas/byte_source.h"
#include "mesh/cas/cid.h"
#include "mesh/common/file_util.h"
#include "mesh/crypto/sha256.h"

namespace mesh::cas {

class BlobReader final : public ByteSource {
 public:
  BlobReader(Cid cid, ScopedFd fd, uint64_t size) : cid_(cid), fd_(std::move(fd)), size_(size) {}
  // Called once, before Read returns DataLoss, when the content does not match the CID.
  BlobReader(Cid cid, ScopedFd fd, uint64_t size, std::function<void(const Cid&)> on_corrupt)
      : cid_(cid), fd_(std::move(fd)), size_(size), on_corrupt_(std::move(on_corrupt)) {}

  absl::StatusOr<size_t> Read(char* buffer, size_t size) override;
  uint64_t size() const { return size_; }
  const Cid& cid() const { return cid_; }

 private:
  Cid cid_;
  ScopedFd fd_;
  uint64_t size_;
  uint64_t read_ = 0;
  crypto::Sha256 hasher_;
  bool done_ = false;
  std::function<void(const Cid&)> on_corrupt_;
};

}  // namespace mesh::cas
