// ByteSource: a pull stream of bytes, so the blob store can take input of any size (a file,
// stdin, a network stream) without holding it in memory. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mesh/common/file_util.h"

namespace mesh::cas {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `size` bytes into `buffer`; 0 means end of stream.
  virtual absl::StatusOr<size_t> Read(char* buffer, size_t size) = 0;
};

// Reads from a file descriptor it does not own.
class FdSource final : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override;

 private:
  int fd_;
};

// Reads an open file from `offset` to its end, owning the descriptor (closed with the source).
// OutOfRange for an offset past the end (`name` says which file).
absl::StatusOr<std::unique_ptr<ByteSource>> FileSourceAt(ScopedFd fd, uint64_t offset,
                                                         std::string_view name);

// Reads from a string_view; the bytes must outlive the source.
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override;

 private:
  std::string_view data_;
};

}  // namespace mesh::cas
