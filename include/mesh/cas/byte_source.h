// ByteSource: a pull stream of bytes, so the blob store can take input of any size (a file,
// stdin, a network stream) without holding it in memory. Not thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

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

// Reads from a string_view; the bytes must outlive the source.
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override;

 private:
  std::string_view data_;
};

// The parts one after the other, each read to its end (and so, for a BlobReader, verified)
// before the next is read. A part is opened when the read reaches it and closed at its end, so
// however many parts there are, at most one is open (a reader holds a file descriptor).
class ConcatSource final : public ByteSource {
 public:
  using Opener = std::function<absl::StatusOr<std::unique_ptr<ByteSource>>()>;
  explicit ConcatSource(std::vector<Opener> parts) : parts_(std::move(parts)) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override;

 private:
  std::vector<Opener> parts_;
  size_t next_ = 0;                      // the part to read (or being read)
  std::unique_ptr<ByteSource> current_;  // part next_, once opened
};

}  // namespace mesh::cas
