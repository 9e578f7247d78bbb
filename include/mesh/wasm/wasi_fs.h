// WasiFs: the job's files, in memory. The WASI preview1 fd_* and path_* calls in host terms
// (byte spans and strings in, WASI errno values out), over an inode tree built from the job's
// mounts (fs_image.h) and an fd table for descriptors 3 and up (JobHost keeps 0-2, stdio). It
// never touches a host file: everything a job can reach is the image it was given.
//
// Semantics follow wasmtime's preview1 (wasmtime-wasi's adapter over cap-std), which is what
// jobs are tested against elsewhere; where this differs, the .cc files say why. In short:
// paths are resolved inside the directory descriptor they start from (absolute paths, `..`
// above it and symlinks that lead out fail with EPERM, as cap-std's escape checks do); writes
// under a read-only mount fail with EPERM (wasmtime's DirPerms/FilePerms without MUTATE/WRITE);
// a writable mount is a private copy whose file bytes are the mounts' views until first
// written (copy on write); listings are sorted by name and start with "." and "..".
//
// Bounded in every dimension: paths (kMaxPathBytes), names (kMaxNameBytes), symlink hops
// (kMaxSymlinkHops, then ELOOP), open descriptors (kMaxOpenFds, then EMFILE), Limits::fs_bytes
// (ENOSPC) and Limits::fs_files (EDQUOT). Deterministic: inode numbers are given in tree order
// and timestamps come from the injected clock.
//
// One per run; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/wasm/fs_image.h"
#include "mesh/wasm/limits.h"
#include "mesh/wasm/wasi_types.h"

namespace mesh::wasm {

namespace fs {
class FsTree;
struct Lookup;
}  // namespace fs

inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxNameBytes = 255;
inline constexpr int kMaxSymlinkHops = 40;
inline constexpr size_t kMaxOpenFds = 1024;
inline constexpr uint32_t kFirstFsFd = 3;

// A value or a WASI errno.
template <typename T>
struct WasiOr {
  WasiOr(wasi::Errno e) : err(e) {}     // NOLINT: implicit, like StatusOr
  WasiOr(T v) : value(std::move(v)) {}  // NOLINT
  bool ok() const { return err == wasi::Errno::kSuccess; }
  wasi::Errno err = wasi::Errno::kSuccess;
  T value{};
};

struct WasiFilestat {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint8_t filetype = 0;
  uint64_t nlink = 0;
  uint64_t size = 0;
  uint64_t atim = 0;
  uint64_t mtim = 0;
  uint64_t ctim = 0;
};

struct WasiFdstat {
  uint8_t filetype = 0;
  uint16_t flags = 0;
  uint64_t rights_base = 0;
  uint64_t rights_inheriting = 0;
};

class WasiFs {
 public:
  // `now` gives the time in ns for timestamps (JobHost's clock: virtual in deterministic mode).
  // InvalidArgument for a malformed image (bad paths, a node before its parent, two mounts at
  // one guest path, a bad output_dir).
  static absl::StatusOr<std::unique_ptr<WasiFs>> Create(std::vector<FsMount> mounts,
                                                        std::string output_dir,
                                                        const Limits& limits,
                                                        std::function<uint64_t()> now);
  ~WasiFs();
  WasiFs(const WasiFs&) = delete;
  WasiFs& operator=(const WasiFs&) = delete;

  // --- descriptors -----------------------------------------------------------------------
  bool IsOpen(uint32_t fd) const { return fds_.count(fd) != 0; }
  bool IsFile(uint32_t fd) const;
  WasiOr<std::string> PrestatDirName(uint32_t fd) const;  // EBADF; ENOTDIR: not a preopen
  wasi::Errno Close(uint32_t fd);
  wasi::Errno Renumber(uint32_t from, uint32_t to);
  WasiOr<WasiFdstat> FdstatGet(uint32_t fd) const;
  wasi::Errno FdstatSetFlags(uint32_t fd, uint16_t flags);
  wasi::Errno FdstatSetRights(uint32_t fd) const;
  WasiOr<WasiFilestat> FilestatGet(uint32_t fd) const;
  wasi::Errno FilestatSetSize(uint32_t fd, uint64_t size);
  wasi::Errno FilestatSetTimes(uint32_t fd, uint64_t atim, uint64_t mtim, uint16_t fst_flags);
  wasi::Errno Advise(uint32_t fd, uint64_t offset, uint64_t len, uint8_t advice) const;
  wasi::Errno Allocate(uint32_t fd, uint64_t offset, uint64_t len);
  wasi::Errno Sync(uint32_t fd) const;  // fd_sync and fd_datasync
  // Reads into the buffers in order (readv); `at`: pread at that offset, the position unmoved.
  WasiOr<uint64_t> Read(uint32_t fd, std::span<const std::span<uint8_t>> bufs,
                        std::optional<uint64_t> at = std::nullopt);
  WasiOr<uint64_t> Write(uint32_t fd, std::span<const std::span<const uint8_t>> bufs,
                         std::optional<uint64_t> at = std::nullopt);
  WasiOr<uint64_t> Seek(uint32_t fd, int64_t delta, uint8_t whence);
  WasiOr<uint64_t> Tell(uint32_t fd) const;
  // Fills `buf` with dirents (guest layout) from `cookie` on; returns the bytes used, which is
  // buf.size() when the last entry was cut (the caller retries with a bigger buffer).
  WasiOr<uint32_t> Readdir(uint32_t fd, std::span<uint8_t> buf, uint64_t cookie);
  // Bytes left to read from the position (poll_oneoff's fd_read events); EBADF if not a file.
  WasiOr<uint64_t> ReadableBytes(uint32_t fd) const;

  // --- paths -----------------------------------------------------------------------------
  WasiOr<uint32_t> PathOpen(uint32_t dirfd, uint32_t lookupflags, std::string_view path,
                            uint16_t oflags, uint64_t rights_base, uint64_t rights_inheriting,
                            uint16_t fdflags);
  WasiOr<WasiFilestat> PathFilestatGet(uint32_t dirfd, uint32_t lookupflags,
                                       std::string_view path) const;
  wasi::Errno PathFilestatSetTimes(uint32_t dirfd, uint32_t lookupflags, std::string_view path,
                                   uint64_t atim, uint64_t mtim, uint16_t fst_flags);
  wasi::Errno PathCreateDirectory(uint32_t dirfd, std::string_view path);
  wasi::Errno PathRemoveDirectory(uint32_t dirfd, std::string_view path);
  wasi::Errno PathUnlinkFile(uint32_t dirfd, std::string_view path);
  wasi::Errno PathRename(uint32_t old_dirfd, std::string_view old_path, uint32_t new_dirfd,
                         std::string_view new_path);
  wasi::Errno PathLink(uint32_t old_dirfd, uint32_t lookupflags, std::string_view old_path,
                       uint32_t new_dirfd, std::string_view new_path);
  wasi::Errno PathSymlink(std::string_view target, uint32_t dirfd, std::string_view path);
  WasiOr<std::string> PathReadlink(uint32_t dirfd, std::string_view path) const;

  // --- results ---------------------------------------------------------------------------
  // The output directory's contents (none without one), parents before children, sorted.
  std::vector<OutputFile> CollectOutput() const;
  uint64_t bytes_written() const;   // charged against Limits::fs_bytes
  uint64_t files_created() const;   // charged against Limits::fs_files
  uint32_t bytes_refusals() const;  // calls refused with ENOSPC: Limits::fs_bytes was full
  uint32_t files_refusals() const;  // calls refused with EDQUOT: Limits::fs_files was full
  size_t open_fds() const { return fds_.size(); }

 private:
  struct OpenFd {
    uint32_t node = 0;
    uint64_t position = 0;
    bool read = false;
    bool write = false;
    bool append = false;
    uint16_t flags = 0;        // the fdflags reported by fd_fdstat_get
    std::string preopen_path;  // non-empty: a preopen (its guest path)
    // Where the last fd_readdir stopped: the directory's version, the cookie after the last
    // whole entry returned, and that entry's name.
    struct {
      uint64_t version = 0;
      uint64_t cookie = 0;
      std::string name;
    } cursor;
  };

  explicit WasiFs(std::unique_ptr<fs::FsTree> tree);
  WasiOr<uint32_t> Insert(OpenFd fd);
  const OpenFd* Find(uint32_t fd) const;
  OpenFd* Find(uint32_t fd);
  // The descriptor's directory inode: EBADF for a closed fd or a file (wasmtime's get_dir_fd).
  WasiOr<uint32_t> DirOf(uint32_t fd) const;
  // Where a change to `path` under directory `dirfd` lands (its last symlink not followed):
  // EBADF as DirOf, EPERM under a read-only mount, or the lookup's own errno.
  WasiOr<fs::Lookup> LookupToChange(uint32_t dirfd, std::string_view path) const;
  WasiFilestat Stat(uint32_t node) const;
  wasi::Errno SetTimes(uint32_t node, uint64_t atim, uint64_t mtim, uint16_t fst_flags);

  std::unique_ptr<fs::FsTree> tree_;
  std::map<uint32_t, OpenFd> fds_;
  uint32_t output_root_ = UINT32_MAX;  // the output directory's inode, if any
};

}  // namespace mesh::wasm
