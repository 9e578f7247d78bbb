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

}  // namespace mesh::cas
