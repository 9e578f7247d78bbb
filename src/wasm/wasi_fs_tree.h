// FsTree: the inodes of a job's in-memory filesystem (wasi_fs.h), path resolution inside a
// starting directory, and the fs_bytes / fs_files quotas. Private to WasiFs; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "mesh/wasm/fs_image.h"
#include "mesh/wasm/limits.h"
#include "mesh/wasm/wasi_fs.h"

namespace mesh::wasm::fs {

using InodeId = uint32_t;
inline constexpr InodeId kNoInode = UINT32_MAX;

struct Inode {
  FsKind kind = FsKind::kFile;
  uint32_t mount = 0;  // index into the tree's mounts: the device, and whether it is read-only
  uint64_t ino = 0;
  uint64_t nlink = 0;  // directory entries naming it
  uint32_t open = 0;   // descriptors on it
  uint64_t atim = 0, mtim = 0, ctim = 0;
  // kFile: `base` (the mount's bytes) until the first change, then `data` (copied == true).
  std::string_view base;
  std::shared_ptr<const void> keep;
  std::string data;
  bool copied = false;
  uint64_t charged = 0;  // bytes of this file charged against fs_bytes (its largest size)
  // kDirectory: entries by name (sorted: listings are), and the parent (itself at a root).
  std::map<std::string, InodeId, std::less<>> entries;
  InodeId parent = kNoInode;
  uint64_t version = 0;  // bumped when `entries` changes (readdir cursors check it)
  // kSymlink
  std::string target;

  std::string_view bytes() const { return copied ? std::string_view(data) : base; }
  uint64_t size() const {
    return kind == FsKind::kFile ? bytes().size() : kind == FsKind::kSymlink ? target.size() : 0;
  }
};

inline uint8_t FiletypeOf(FsKind kind) {
  switch (kind) {
    case FsKind::kFile:
      return wasi::kFiletypeRegularFile;
    case FsKind::kDirectory:
      return wasi::kFiletypeDirectory;
    case FsKind::kSymlink:
      return wasi::kFiletypeSymbolicLink;
  }
  return wasi::kFiletypeUnknown;
}

// Where a path leads: the directory holding the final name, and what the name is.
struct Lookup {
  InodeId dir = kNoInode;
  std::string name;         // empty when the path names a directory itself ("." or ".." last)
  InodeId node = kNoInode;  // kNoInode: no such entry (yet)
  bool trailing_slash = false;
};

struct MountInfo {
  std::string guest_path;
  bool read_only = true;
  InodeId root = kNoInode;
};

class FsTree {
 public:
  FsTree(const Limits& limits, std::function<uint64_t()> now);

  // Adds a mount's tree (not charged against the quotas); returns its index.
  absl::StatusOr<uint32_t> AddMount(FsMount mount);
  // A directory made by the host (the output directory) inside `mount`, with its parents:
  // `rel` is relative to the mount's root. Not charged.
  absl::StatusOr<InodeId> MakeHostDirs(uint32_t mount, std::string_view rel);
  const MountInfo& mount(uint32_t index) const { return mounts_[index]; }
  size_t mount_count() const { return mounts_.size(); }

  Inode& at(InodeId id) { return inodes_[id]; }
  const Inode& at(InodeId id) const { return inodes_[id]; }
  bool ReadOnly(InodeId id) const { return mounts_[inodes_[id].mount].read_only; }
  uint64_t Now() const { return now_(); }

  // Resolves `path` from directory `base`, never above it. The final component is followed
  // when it is a symlink and `follow_final` (or the path ends in '/').
  WasiOr<Lookup> Resolve(InodeId base, std::string_view path, bool follow_final) const;

  // A new entry `name` in `dir`: EDQUOT past fs_files. Symlinks take `target`.
  WasiOr<InodeId> Create(InodeId dir, const std::string& name, FsKind kind,
                         std::string target = {});
  // Names `node` as `name` in `dir` (a hard link or a rename's second half): no quota here.
  void Link(InodeId dir, const std::string& name, InodeId node);
  // Removes the entry; frees the inode's bytes once nothing names or holds it.
  void Unlink(InodeId dir, const std::string& name);
  void Opened(InodeId id) { ++inodes_[id].open; }
  void Closed(InodeId id);
  // Charges a quota entry (hard links count as entries made).
  wasi::Errno ChargeEntry();

  // Makes a file's bytes its own (copy on write) and able to hold `size` bytes, charging
  // fs_bytes for growth past what it was charged before (ENOSPC past the limit; nothing
  // changes then). Sets the size to `size` when `resize`.
  wasi::Errno Reserve(InodeId id, uint64_t size, bool resize);
  void Touch(InodeId id, bool modified);  // atim (and mtim, ctim)

  uint64_t bytes_charged() const { return bytes_charged_; }
  uint64_t files_created() const { return files_created_; }
  // Calls refused because a quota was full: fs_bytes (ENOSPC), fs_files (EDQUOT).
  uint32_t bytes_refusals() const { return bytes_refusals_; }
  uint32_t files_refusals() const { return files_refusals_; }
  // Whether `ancestor` is `node` or one of its directory ancestors.
  bool Contains(InodeId ancestor, InodeId node) const;

 private:
  InodeId NewInode(FsKind kind, uint32_t mount);

  const Limits limits_;
  std::function<uint64_t()> now_;
  std::vector<Inode> inodes_;
  std::vector<MountInfo> mounts_;
  uint64_t next_ino_ = 1;
  uint64_t bytes_charged_ = 0;
  uint64_t files_created_ = 0;
  uint32_t bytes_refusals_ = 0;
  uint32_t files_refusals_ = 0;
};

// A relative, normalised path: components joined by '/', none empty, "." or "..", each at
// most kMaxNameBytes, the whole at most kMaxPathBytes (mount nodes, guest paths after '/').
bool ValidNodePath(std::string_view path);

// A WASI path's components (empty ones dropped, "." and ".." kept) and whether it ends in '/'.
struct SplitPath {
  explicit SplitPath(std::string_view path);
  std::vector<std::string_view> parts;
  bool trailing_slash = false;
};

}  // namespace mesh::wasm::fs
