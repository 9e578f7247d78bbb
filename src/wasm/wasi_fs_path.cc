// WasiFs: the path_* calls. Errno choices follow wasmtime's preview1 over cap-std on Linux:
//  - escapes (absolute paths, `..` above the starting directory, symlinks that lead out): EPERM
//    (cap-std's escape error maps to ErrorCode::NotPermitted, preview1 EPERM);
//  - any change under a read-only mount: EPERM, checked before the path is looked at
//    (wasmtime's DirPerms without MUTATE, FilePerms without WRITE: NotPermitted);
//  - the rest as Linux's *at calls answer (EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, ELOOP, EXDEV).
// Each mount is its own device: hard links and renames between mounts are EXDEV.
#include <utility>

#include "mesh/wasm/wasi_fs.h"
#include "wasi_fs_tree.h"

namespace mesh::wasm {

using fs::FsTree;
using fs::Inode;
using fs::InodeId;
using fs::kNoInode;
using fs::Lookup;
using wasi::Errno;

namespace {

// A directory removed while a descriptor still names it takes no new entries (as Linux).
bool Gone(const FsTree& tree, InodeId dir) { return tree.at(dir).nlink == 0; }

}  // namespace

WasiOr<uint32_t> WasiFs::PathOpen(uint32_t dirfd, uint32_t lookupflags, std::string_view path,
                                  uint16_t oflags, uint64_t rights_base, uint64_t,
                                  uint16_t fdflags) {
  const OpenFd* d = Find(dirfd);
  if (d == nullptr) return Errno::kBadf;
  if (tree_->at(d->node).kind != FsKind::kDirectory) return Errno::kNotdir;
  const InodeId dir = d->node;
  const bool creat = (oflags & wasi::kOflagCreat) != 0;
  const bool excl = (oflags & wasi::kOflagExcl) != 0;
  const bool trunc = (oflags & wasi::kOflagTrunc) != 0;
  const bool directory = (oflags & wasi::kOflagDirectory) != 0;
  const bool read = (rights_base & (wasi::kRightFdRead | wasi::kRightFdReaddir)) != 0;
  const bool write = (rights_base & wasi::kRightFdWrite) != 0;
  // wasmtime's open_at: O_DIRECTORY with O_CREAT, O_EXCL or O_TRUNC is invalid.
  if (directory && (creat || excl || trunc)) return Errno::kInval;
  if (tree_->ReadOnly(dir) && (creat || trunc || write)) return Errno::kPerm;
  if (fds_.size() >= kMaxOpenFds) return Errno::kMfile;
  auto found = tree_->Resolve(dir, path, (lookupflags & wasi::kLookupSymlinkFollow) != 0);
  if (!found.ok()) return found.err;
  Lookup& at = found.value;
  InodeId node = at.node;
  if (node == kNoInode) {
    if (!creat) return Errno::kNoent;
    if (at.trailing_slash) return Errno::kIsdir;  // open("new/", O_CREAT) on Linux
    if (Gone(*tree_, at.dir)) return Errno::kNoent;
    auto made = tree_->Create(at.dir, at.name, FsKind::kFile);
    if (!made.ok()) return made.err;
    node = made.value;
  } else {
    const FsKind kind = tree_->at(node).kind;
    // O_NOFOLLOW on a symlink: ELOOP, or ENOTDIR when a directory was asked for (Linux).
    if (kind == FsKind::kSymlink) return directory ? Errno::kNotdir : Errno::kLoop;
    if (creat && excl) return Errno::kExist;
    if (kind == FsKind::kDirectory) {
      if (write || trunc || creat) return Errno::kIsdir;
    } else {
      if (directory) return Errno::kNotdir;
      if (trunc && tree_->at(node).size() > 0) {
        if (Errno e = tree_->Reserve(node, 0, true); e != Errno::kSuccess) return e;
        tree_->Touch(node, true);
      }
    }
  }
  OpenFd f;
  f.node = node;
  f.read = read || tree_->at(node).kind == FsKind::kDirectory;
  f.write = write && tree_->at(node).kind == FsKind::kFile;
  f.append = (fdflags & wasi::kFdflagAppend) != 0;
  f.flags = fdflags & (wasi::kFdflagAppend | wasi::kFdflagDsync | wasi::kFdflagNonblock |
                       wasi::kFdflagRsync | wasi::kFdflagSync);
  return Insert(std::move(f));
}

WasiOr<WasiFilestat> WasiFs::PathFilestatGet(uint32_t dirfd, uint32_t lookupflags,
                                             std::string_view path) const {
  auto dir = DirOf(dirfd);
  if (!dir.ok()) return dir.err;
  auto found = tree_->Resolve(dir.value, path, (lookupflags & wasi::kLookupSymlinkFollow) != 0);
  if (!found.ok()) return found.err;
  if (found.value.node == kNoInode) return Errno::kNoent;
  return Stat(found.value.node);
}

wasi::Errno WasiFs::PathFilestatSetTimes(uint32_t dirfd, uint32_t lookupflags,
                                         std::string_view path, uint64_t atim, uint64_t mtim,
                                         uint16_t fst_flags) {
  auto dir = DirOf(dirfd);
  if (!dir.ok()) return dir.err;
  auto found = tree_->Resolve(dir.value, path, (lookupflags & wasi::kLookupSymlinkFollow) != 0);
  if (!found.ok()) return found.err;
  if (found.value.node == kNoInode) return Errno::kNoent;
  return SetTimes(found.value.node, atim, mtim, fst_flags);
}

WasiOr<fs::Lookup> WasiFs::LookupToChange(uint32_t dirfd, std::string_view path) const {
  auto dir = DirOf(dirfd);
  if (!dir.ok()) return dir.err;
  if (tree_->ReadOnly(dir.value)) return Errno::kPerm;
  return tree_->Resolve(dir.value, path, false);
}

wasi::Errno WasiFs::PathCreateDirectory(uint32_t dirfd, std::string_view path) {
  auto found = LookupToChange(dirfd, path);
  if (!found.ok()) return found.err;
  if (found.value.node != kNoInode) return Errno::kExist;
  if (Gone(*tree_, found.value.dir)) return Errno::kNoent;
  return tree_->Create(found.value.dir, found.value.name, FsKind::kDirectory).err;
}

wasi::Errno WasiFs::PathRemoveDirectory(uint32_t dirfd, std::string_view path) {
  auto found = LookupToChange(dirfd, path);
  if (!found.ok()) return found.err;
  const Lookup& at = found.value;
  if (at.node == kNoInode) return Errno::kNoent;
  if (at.name.empty()) return Errno::kInval;  // rmdir(".") on Linux
  const Inode& n = tree_->at(at.node);
  if (n.kind != FsKind::kDirectory) return Errno::kNotdir;
  if (!n.entries.empty()) return Errno::kNotempty;
  tree_->Unlink(at.dir, at.name);
  return Errno::kSuccess;
}

wasi::Errno WasiFs::PathUnlinkFile(uint32_t dirfd, std::string_view path) {
  auto found = LookupToChange(dirfd, path);
  if (!found.ok()) return found.err;
  const Lookup& at = found.value;
  if (at.node == kNoInode) return Errno::kNoent;
  if (at.name.empty() || tree_->at(at.node).kind == FsKind::kDirectory) return Errno::kIsdir;
  tree_->Unlink(at.dir, at.name);
  return Errno::kSuccess;
}

wasi::Errno WasiFs::PathRename(uint32_t old_dirfd, std::string_view old_path, uint32_t new_dirfd,
                               std::string_view new_path) {
  auto old_dir = DirOf(old_dirfd);
  if (!old_dir.ok()) return old_dir.err;
  auto new_dir = DirOf(new_dirfd);
  if (!new_dir.ok()) return new_dir.err;
  if (tree_->ReadOnly(old_dir.value) || tree_->ReadOnly(new_dir.value)) return Errno::kPerm;
  auto src = tree_->Resolve(old_dir.value, old_path, false);
  if (!src.ok()) return src.err;
  if (src.value.node == kNoInode) return Errno::kNoent;
  auto dst = tree_->Resolve(new_dir.value, new_path, false);
  if (!dst.ok()) return dst.err;
  const Lookup& from = src.value;
  const Lookup& to = dst.value;
  if (from.name.empty() || to.name.empty()) return Errno::kInval;  // "." or ".." (Linux: EBUSY)
  if (tree_->at(from.dir).mount != tree_->at(to.dir).mount) return Errno::kXdev;
  if (Gone(*tree_, to.dir)) return Errno::kNoent;
  const bool src_dir = tree_->at(from.node).kind == FsKind::kDirectory;
  if (to.node != kNoInode) {
    if (to.node == from.node) return Errno::kSuccess;  // the same file: nothing to do (POSIX)
    const Inode& target = tree_->at(to.node);
    if (src_dir && target.kind != FsKind::kDirectory) return Errno::kNotdir;
    if (!src_dir && target.kind == FsKind::kDirectory) return Errno::kIsdir;
    if (src_dir && !target.entries.empty()) return Errno::kNotempty;
  } else if (!src_dir && to.trailing_slash) {
    return Errno::kNotdir;
  }
  // A directory cannot move below itself.
  if (src_dir && tree_->Contains(from.node, to.dir)) return Errno::kInval;
  if (to.node != kNoInode) tree_->Unlink(to.dir, to.name);
  const InodeId node = from.node;
  const InodeId from_dir = from.dir;
  const std::string from_name = from.name;
  tree_->Link(to.dir, to.name, node);  // first, so the inode never has no name
  tree_->Unlink(from_dir, from_name);
  return Errno::kSuccess;
}

wasi::Errno WasiFs::PathLink(uint32_t old_dirfd, uint32_t lookupflags, std::string_view old_path,
                             uint32_t new_dirfd, std::string_view new_path) {
  auto old_dir = DirOf(old_dirfd);
  if (!old_dir.ok()) return old_dir.err;
  auto new_dir = DirOf(new_dirfd);
  if (!new_dir.ok()) return new_dir.err;
  // wasmtime's link_at refuses to follow a symlink source (EINVAL).
  if (lookupflags & wasi::kLookupSymlinkFollow) return Errno::kInval;
  if (tree_->ReadOnly(old_dir.value) || tree_->ReadOnly(new_dir.value)) return Errno::kPerm;
  auto src = tree_->Resolve(old_dir.value, old_path, false);
  if (!src.ok()) return src.err;
  if (src.value.node == kNoInode) return Errno::kNoent;
  if (src.value.name.empty() || tree_->at(src.value.node).kind == FsKind::kDirectory) {
    return Errno::kPerm;  // hard links to directories: EPERM on Linux
  }
  auto dst = tree_->Resolve(new_dir.value, new_path, false);
  if (!dst.ok()) return dst.err;
  if (dst.value.node != kNoInode) return Errno::kExist;
  if (dst.value.trailing_slash) return Errno::kNoent;
  if (tree_->at(src.value.node).mount != tree_->at(dst.value.dir).mount) return Errno::kXdev;
  if (Gone(*tree_, dst.value.dir)) return Errno::kNoent;
  if (Errno e = tree_->ChargeEntry(); e != Errno::kSuccess) return e;
  tree_->Link(dst.value.dir, dst.value.name, src.value.node);
  return Errno::kSuccess;
}

wasi::Errno WasiFs::PathSymlink(std::string_view target, uint32_t dirfd, std::string_view path) {
  auto dir = DirOf(dirfd);
  if (!dir.ok()) return dir.err;
  if (tree_->ReadOnly(dir.value)) return Errno::kPerm;
  if (target.size() > kMaxPathBytes) return Errno::kNametoolong;
  if (target.empty()) return Errno::kNoent;
  if (target.find('\0') != std::string_view::npos) return Errno::kInval;
  // cap-std will not make a symlink with an absolute target (it could only lead out).
  if (target[0] == '/') return Errno::kPerm;
  auto found = tree_->Resolve(dir.value, path, false);
  if (!found.ok()) return found.err;
  if (found.value.node != kNoInode) return Errno::kExist;
  if (found.value.trailing_slash) return Errno::kNoent;
  if (Gone(*tree_, found.value.dir)) return Errno::kNoent;
  return tree_->Create(found.value.dir, found.value.name, FsKind::kSymlink, std::string(target))
      .err;
}

WasiOr<std::string> WasiFs::PathReadlink(uint32_t dirfd, std::string_view path) const {
  auto dir = DirOf(dirfd);
  if (!dir.ok()) return dir.err;
  auto found = tree_->Resolve(dir.value, path, false);
  if (!found.ok()) return found.err;
  if (found.value.node == kNoInode) return Errno::kNoent;
  const Inode& n = tree_->at(found.value.node);
  if (n.kind != FsKind::kSymlink) return Errno::kInval;
  return n.target;
}

}  // namespace mesh::wasm
