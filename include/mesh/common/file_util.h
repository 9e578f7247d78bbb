// POSIX file helpers that return absl::Status: an owning fd, loops that survive EINTR and short
// writes, atomic whole-file writes (temp file, fsync, rename, fsync of the directory).
// Thread-compatible: no shared state.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mesh {

// Maps errno to a canonical code with a message naming `what` (a path or an operation).
absl::Status ErrnoToStatus(int err, std::string_view what);

class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.Release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

absl::StatusOr<ScopedFd> OpenFile(const std::filesystem::path& path, int flags, mode_t mode = 0);

// Writes all of `data`, retrying on EINTR and short writes.
absl::Status WriteAll(int fd, std::string_view data);
// Reads up to `size` bytes; returns 0 only at end of file.
absl::StatusOr<size_t> ReadSome(int fd, char* buffer, size_t size);

// Reads a whole file, refusing files larger than `max_size`.
absl::StatusOr<std::string> ReadFileToString(const std::filesystem::path& path, size_t max_size);

// Writes `data` to `path` so that readers see either the old file or the whole new one.
// With `overwrite` false an existing file gives AlreadyExists.
absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view data,
                                 mode_t mode, bool overwrite);

absl::Status FsyncDirectory(const std::filesystem::path& dir);

}  // namespace mesh
