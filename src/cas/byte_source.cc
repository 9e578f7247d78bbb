#include "mesh/cas/byte_source.h"

#include <algorithm>
#include <cstring>

#include "mesh/common/file_util.h"

namespace mesh::cas {

absl::StatusOr<size_t> FdSource::Read(char* buffer, size_t size) {
  return ReadSome(fd_, buffer, size);
}

absl::StatusOr<size_t> StringSource::Read(char* buffer, size_t size) {
  const size_t n = std::min(size, data_.size());
  std::memcpy(buffer, data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

absl::StatusOr<size_t> ConcatSource::Read(char* buffer, size_t size) {
  if (size == 0) return 0;
  while (next_ < parts_.size()) {
    if (current_ == nullptr) {
      absl::StatusOr<std::unique_ptr<ByteSource>> opened = parts_[next_]();
      if (!opened.ok()) return opened.status();
      current_ = *std::move(opened);
    }
    absl::StatusOr<size_t> n = current_->Read(buffer, size);
    if (!n.ok() || *n > 0) return n;
    current_.reset();  // At its end: closed before the next is opened.
    ++next_;
  }
  return 0;
}

}  // namespace mesh::cas
