#include "mesh/cas/byte_source.h"

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>

#include <cerrno>
#include <cstring>
#include <utility>

#include "mesh/common/file_util.h"
#include "mesh/common/strings.h"

namespace mesh::cas {

absl::StatusOr<size_t> FdSource::Read(char* buffer, size_t size) {
  return ReadSome(fd_, buffer, size);
}

namespace {

class OwnedFileSource final : public ByteSource {
 public:
  explicit OwnedFileSource(ScopedFd fd) : fd_(std::move(fd)) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    return ReadSome(fd_.get(), buffer, size);
  }

 private:
  ScopedFd fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ByteSource>> FileSourceAt(ScopedFd fd, uint64_t offset,
                                                         std::string_view name) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, name);
  if (offset > static_cast<uint64_t>(st.st_size)) {
    return absl::OutOfRangeError(
        mesh::StrCat("offset ", offset, " is past the end of ", name, " (", st.st_size, " bytes)"));
  }
  if (::lseek(fd.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    return ErrnoToStatus(errno, name);
  }
  return std::unique_ptr<ByteSource>(std::make_unique<OwnedFileSource>(std::move(fd)));
}

absl::StatusOr<size_t> StringSource::Read(char* buffer, size_t size) {
  const size_t n = std::min(size, data_.size());
  std::memcpy(buffer, data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

}  // namespace mesh::cas
