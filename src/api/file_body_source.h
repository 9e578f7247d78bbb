// A response body read from a file descriptor from an offset on (blob ranges, a stored file
// decoded to a temporary file). Private to the api module.
#pragma once

#include <unistd.h>

#include <cerrno>

#include "mesh/api/http_server.h"
#include "mesh/common/file_util.h"

namespace mesh::api {

class FileBodySource final : public BodySource {
 public:
  FileBodySource(ScopedFd fd, uint64_t offset) : fd_(std::move(fd)), offset_(offset) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    const ssize_t n = ::pread(fd_.get(), buffer, size, static_cast<off_t>(offset_));
    if (n < 0) return ErrnoToStatus(errno, "read the body's file");
    offset_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }

 private:
  ScopedFd fd_;
  uint64_t offset_;
};

}  // namespace mesh::api
