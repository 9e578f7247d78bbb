// WasiFs: construction, the fd table and the fd_* calls. path_* calls: wasi_fs_path.cc.
#include "mesh/wasm/wasi_fs.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "wasi_fs_tree.h"

namespace mesh::wasm {

using fs::FiletypeOf;
using fs::FsTree;
using fs::Inode;
using fs::InodeId;
using fs::kNoInode;
using wasi::Errno;

namespace {

// The longest mount whose guest path is `path` or a directory above it, or -1.
int MountOver(const FsTree& tree, std::string_view path) {
  int best = -1;
  size_t best_len = 0;
  for (size_t i = 0; i < tree.mount_count(); ++i) {
    const std::string& gp = tree.mount(static_cast<uint32_t>(i)).guest_path;
    const bool over =
        gp == "/" || path == gp ||
        (path.size() > gp.size() && path.substr(0, gp.size()) == gp && path[gp.size()] == '/');
    if (over && gp.size() >= best_len) {
      best = static_cast<int>(i);
      best_len = gp.size();
    }
  }
  return best;
}

}  // namespace

WasiFs::WasiFs(std::unique_ptr<FsTree> tree) : tree_(std::move(tree)) {}
WasiFs::~WasiFs() = default;

absl::StatusOr<std::unique_ptr<WasiFs>> WasiFs::Create(std::vector<FsMount> mounts,
                                                       std::string output_dir, const Limits& limits,
                                                       std::function<uint64_t()> now) {
  if (mounts.size() + 1 > kMaxOpenFds) {
    return absl::InvalidArgumentError(mesh::StrCat(
        mounts.size(), " mounts: a job may have at most ", kMaxOpenFds - 1, " mounts"));
  }
  std::unique_ptr<WasiFs> fs(new WasiFs(std::make_unique<FsTree>(limits, std::move(now))));
  FsTree& tree = *fs->tree_;
  for (FsMount& mount : mounts) {
    MESH_ASSIGN_OR_RETURN(const uint32_t index, tree.AddMount(std::move(mount)));
    fs->Insert({.node = tree.mount(index).root,
                .read = true,
                .preopen_path = tree.mount(index).guest_path});
  }
  if (!output_dir.empty()) {
    if (output_dir[0] != '/' ||
        (output_dir.size() > 1 && !fs::ValidNodePath(std::string_view(output_dir).substr(1)))) {
      return absl::InvalidArgumentError(mesh::StrCat(
          "output directory '", output_dir, "' is not an absolute, normalised guest path"));
    }
    const int over = MountOver(tree, output_dir);
    if (over >= 0 && !tree.mount(over).read_only && output_dir.size() <= kMaxPathBytes) {
      const std::string& gp = tree.mount(over).guest_path;
      const std::string_view rel = std::string_view(output_dir).substr(gp == "/" ? 1 : gp.size());
      MESH_ASSIGN_OR_RETURN(fs->output_root_, tree.MakeHostDirs(over, rel));
    } else {
      MESH_ASSIGN_OR_RETURN(const uint32_t index,
                            tree.AddMount({.guest_path = output_dir, .read_only = false}));
      fs->output_root_ = tree.mount(index).root;
      fs->Insert({.node = fs->output_root_, .read = true, .preopen_path = output_dir});
    }
  }
  return fs;
}

WasiOr<uint32_t> WasiFs::Insert(OpenFd fd) {
  if (fds_.size() >= kMaxOpenFds) return Errno::kMfile;
  uint32_t number = kFirstFsFd;
  for (const auto& [n, _] : fds_) {
    if (n != number) break;
    ++number;
  }
  tree_->Opened(fd.node);
  fds_.emplace(number, std::move(fd));
  return number;
}

const WasiFs::OpenFd* WasiFs::Find(uint32_t fd) const {
  auto it = fds_.find(fd);
  return it == fds_.end() ? nullptr : &it->second;
}

WasiFs::OpenFd* WasiFs::Find(uint32_t fd) {
  auto it = fds_.find(fd);
  return it == fds_.end() ? nullptr : &it->second;
}

bool WasiFs::IsFile(uint32_t fd) const {
  const OpenFd* f = Find(fd);
  return f != nullptr && tree_->at(f->node).kind == FsKind::kFile;
}

WasiOr<uint32_t> WasiFs::DirOf(uint32_t fd) const {
  const OpenFd* f = Find(fd);
  if (f == nullptr || tree_->at(f->node).kind != FsKind::kDirectory) return Errno::kBadf;
  return f->node;
}

WasiOr<std::string> WasiFs::PrestatDirName(uint32_t fd) const {
  const OpenFd* f = Find(fd);
  if (f == nullptr) return Errno::kBadf;
  // wasmtime: fd_prestat_get says EBADF and fd_prestat_dir_name ENOTDIR for a descriptor that
  // is not a preopen; JobHost maps this to each call's errno.
  if (f->preopen_path.empty()) return Errno::kNotdir;
  return f->preopen_path;
}

wasi::Errno WasiFs::Close(uint32_t fd) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Errno::kBadf;
  tree_->Closed(it->second.node);
  fds_.erase(it);  // preopens too, as in wasmtime
  return Errno::kSuccess;
}

wasi::Errno WasiFs::Renumber(uint32_t from, uint32_t to) {
  auto it = fds_.find(from);
  if (it == fds_.end()) return Errno::kBadf;
  // Descriptors 0-2 are JobHost's stdio streams, not files: they cannot be replaced by a file.
  if (to < kFirstFsFd) return Errno::kNotsup;
  if (from == to) return Errno::kSuccess;
  // wasmtime replaces `to` whether or not it was open.
  if (auto old = fds_.find(to); old != fds_.end()) {
    tree_->Closed(old->second.node);
    fds_.erase(old);
  }
  OpenFd moved = std::move(it->second);
  fds_.erase(from);
  fds_.emplace(to, std::move(moved));
  return Errno::kSuccess;
}

WasiOr<WasiFdstat> WasiFs::FdstatGet(uint32_t fd) const {
  const OpenFd* f = Find(fd);
  if (f == nullptr) return Errno::kBadf;
  WasiFdstat st;
  st.filetype = FiletypeOf(tree_->at(f->node).kind);
  if (!f->preopen_path.empty()) {
    // wasmtime's fixed set for preopens, "expected by many userlands".
    st.rights_base =
        wasi::kRightPathCreateDirectory | wasi::kRightPathCreateFile | wasi::kRightPathLinkSource |
        wasi::kRightPathLinkTarget | wasi::kRightPathOpen | wasi::kRightFdReaddir |
        wasi::kRightPathReadlink | wasi::kRightPathRenameSource | wasi::kRightPathRenameTarget |
        wasi::kRightPathSymlink | wasi::kRightPathRemoveDirectory | wasi::kRightPathUnlinkFile |
        wasi::kRightPathFilestatGet | wasi::kRightPathFilestatSetTimes | wasi::kRightFdFilestatGet |
        wasi::kRightFdFilestatSetTimes;
    st.rights_inheriting = st.rights_base | wasi::kRightFdDatasync | wasi::kRightFdRead |
                           wasi::kRightFdSeek | wasi::kRightFdFdstatSetFlags | wasi::kRightFdSync |
                           wasi::kRightFdTell | wasi::kRightFdWrite | wasi::kRightFdAdvise |
                           wasi::kRightFdAllocate | wasi::kRightFdFilestatSetSize |
                           wasi::kRightPollFdReadwrite;
    return st;
  }
  uint64_t rights = wasi::kRightsAll;
  if (st.filetype == wasi::kFiletypeDirectory) {
    rights &= ~(wasi::kRightFdSeek | wasi::kRightFdFilestatSetSize);
  }
  if (!f->read) rights &= ~(wasi::kRightFdRead | wasi::kRightFdReaddir);
  if (!f->write) rights &= ~wasi::kRightFdWrite;
  st.flags = f->flags;
  st.rights_base = st.rights_inheriting = rights;
  // wasi-libc's openat() asks for the directory's inheriting rights: wasmtime's (= its base,
  // without FD_WRITE for a directory not opened for writing) would make every file opened
  // below a non-preopened directory read-only. Mesh lets directories pass every right on;
  // what a file may really do is decided at path_open (read-only mounts: EPERM).
  if (st.filetype == wasi::kFiletypeDirectory) st.rights_inheriting = wasi::kRightsAll;
  return st;
}

wasi::Errno WasiFs::FdstatSetFlags(uint32_t fd, uint16_t flags) {
  if (!IsFile(fd)) return Errno::kBadf;
  // As wasmtime: only APPEND and NONBLOCK may change; asking for a sync flag is EINVAL.
  if ((flags & (wasi::kFdflagDsync | wasi::kFdflagSync | wasi::kFdflagRsync)) != 0) {
    return Errno::kInval;
  }
  OpenFd& f = *Find(fd);
  f.append = (flags & wasi::kFdflagAppend) != 0;
  f.flags = static_cast<uint16_t>((f.flags & ~(wasi::kFdflagAppend | wasi::kFdflagNonblock)) |
                                  (flags & (wasi::kFdflagAppend | wasi::kFdflagNonblock)));
  return Errno::kSuccess;
}

wasi::Errno WasiFs::FdstatSetRights(uint32_t fd) const {
  // wasmtime no longer tracks rights: a no-op on any open descriptor.
  return IsOpen(fd) ? Errno::kSuccess : Errno::kBadf;
}

WasiFilestat WasiFs::Stat(uint32_t node) const {
  const Inode& n = tree_->at(node);
  WasiFilestat st;
  st.dev = n.mount + 1;
  st.ino = n.ino;
  st.filetype = FiletypeOf(n.kind);
  st.nlink = n.nlink;
  st.size = n.size();
  st.atim = n.atim;
  st.mtim = n.mtim;
  st.ctim = n.ctim;
  return st;
}

WasiOr<WasiFilestat> WasiFs::FilestatGet(uint32_t fd) const {
  const OpenFd* f = Find(fd);
  if (f == nullptr) return Errno::kBadf;
  return Stat(f->node);
}

wasi::Errno WasiFs::FilestatSetSize(uint32_t fd, uint64_t size) {
  if (!IsFile(fd)) return Errno::kBadf;
  const OpenFd& f = *Find(fd);
  if (!f.write) return Errno::kBadf;
  if (Errno e = tree_->Reserve(f.node, size, true); e != Errno::kSuccess) return e;
  tree_->Touch(f.node, true);
  return Errno::kSuccess;
}

wasi::Errno WasiFs::SetTimes(uint32_t node, uint64_t atim, uint64_t mtim, uint16_t fst_flags) {
  if (((fst_flags & wasi::kFstAtim) && (fst_flags & wasi::kFstAtimNow)) ||
      ((fst_flags & wasi::kFstMtim) && (fst_flags & wasi::kFstMtimNow)) || fst_flags > 15) {
    return Errno::kInval;
  }
  if (tree_->ReadOnly(node)) return Errno::kPerm;
  Inode& n = tree_->at(node);
  const uint64_t now = tree_->Now();
  if (fst_flags & wasi::kFstAtim) n.atim = atim;
  if (fst_flags & wasi::kFstAtimNow) n.atim = now;
  if (fst_flags & wasi::kFstMtim) n.mtim = mtim;
  if (fst_flags & wasi::kFstMtimNow) n.mtim = now;
  n.ctim = now;
  return Errno::kSuccess;
}

wasi::Errno WasiFs::FilestatSetTimes(uint32_t fd, uint64_t atim, uint64_t mtim,
                                     uint16_t fst_flags) {
  const OpenFd* f = Find(fd);
  if (f == nullptr) return Errno::kBadf;
  return SetTimes(f->node, atim, mtim, fst_flags);
}

wasi::Errno WasiFs::Advise(uint32_t fd, uint64_t, uint64_t, uint8_t advice) const {
  if (!IsFile(fd)) return Errno::kBadf;
  return advice <= 5 ? Errno::kSuccess : Errno::kInval;
}

wasi::Errno WasiFs::Allocate(uint32_t fd, uint64_t offset, uint64_t len) {
  // wasmtime answers ENOTSUP; Mesh does what posix_fallocate does (grow with zeros, charged
  // against fs_bytes), which costs nothing to offer in memory and helps ported code.
  if (!IsFile(fd)) return Errno::kBadf;
  const OpenFd& f = *Find(fd);
  if (!f.write) return Errno::kBadf;
  if (len == 0) return Errno::kInval;
  if (offset > UINT64_MAX - len) return Errno::kFbig;
  if (offset + len <= tree_->at(f.node).size()) return Errno::kSuccess;
  if (Errno e = tree_->Reserve(f.node, offset + len, false); e != Errno::kSuccess) return e;
  tree_->Touch(f.node, true);
  return Errno::kSuccess;
}

wasi::Errno WasiFs::Sync(uint32_t fd) const {
  return IsFile(fd) ? Errno::kSuccess : Errno::kBadf;  // nothing is ever pending
}

WasiOr<uint64_t> WasiFs::Read(uint32_t fd, std::span<const std::span<uint8_t>> bufs,
                              std::optional<uint64_t> at) {
  if (!IsFile(fd)) return Errno::kBadf;
  OpenFd& f = *Find(fd);
  if (!f.read) return Errno::kBadf;
  // No atime update on reads (as a noatime mount): reading leaves the tree as it was.
  const std::string_view bytes = tree_->at(f.node).bytes();
  uint64_t pos = at.value_or(f.position);
  uint64_t total = 0;
  for (const std::span<uint8_t>& buf : bufs) {
    if (pos >= bytes.size()) break;
    const uint64_t n = std::min<uint64_t>(buf.size(), bytes.size() - pos);
    if (n > 0) std::memcpy(buf.data(), bytes.data() + pos, n);
    pos += n;
    total += n;
    if (n < buf.size()) break;
  }
  if (!at) f.position = pos;
  return total;
}

WasiOr<uint64_t> WasiFs::Write(uint32_t fd, std::span<const std::span<const uint8_t>> bufs,
                               std::optional<uint64_t> at) {
  if (!IsFile(fd)) return Errno::kBadf;
  OpenFd& f = *Find(fd);
  if (!f.write) return Errno::kBadf;
  uint64_t total = 0;
  for (const auto& buf : bufs) total += buf.size();
  // Append mode ignores pwrite's offset, as Linux (and so wasmtime) does.
  uint64_t pos = f.append ? tree_->at(f.node).size() : at.value_or(f.position);
  if (total == 0) return uint64_t{0};
  if (pos > UINT64_MAX - total) return Errno::kFbig;
  // All or nothing: past fs_bytes the write fails whole with ENOSPC, so what a job leaves
  // behind does not depend on how it split its writes.
  if (Errno e = tree_->Reserve(f.node, pos + total, false); e != Errno::kSuccess) return e;
  std::string& data = tree_->at(f.node).data;
  for (const auto& buf : bufs) {
    if (!buf.empty()) std::memcpy(data.data() + pos, buf.data(), buf.size());
    pos += buf.size();
  }
  tree_->Touch(f.node, true);
  if (!at) f.position = pos;  // pwrite leaves the position, even in append mode
  return total;
}

WasiOr<uint64_t> WasiFs::Seek(uint32_t fd, int64_t delta, uint8_t whence) {
  if (!IsFile(fd)) return Errno::kBadf;
  OpenFd& f = *Find(fd);
  uint64_t base;
  switch (whence) {
    case wasi::kWhenceSet:
      base = 0;
      break;
    case wasi::kWhenceCur:
      base = f.position;
      break;
    case wasi::kWhenceEnd:
      base = tree_->at(f.node).size();
      break;
    default:
      return Errno::kInval;
  }
  // Past the end is allowed (a later write zero-fills the gap); before 0 or overflow: EINVAL.
  uint64_t pos;
  if (delta >= 0) {
    if (base > UINT64_MAX - static_cast<uint64_t>(delta)) return Errno::kInval;
    pos = base + static_cast<uint64_t>(delta);
  } else {
    const uint64_t back = static_cast<uint64_t>(-(delta + 1)) + 1;
    if (back > base) return Errno::kInval;
    pos = base - back;
  }
  f.position = pos;
  return pos;
}

WasiOr<uint64_t> WasiFs::Tell(uint32_t fd) const {
  if (!IsFile(fd)) return Errno::kBadf;
  return Find(fd)->position;
}

WasiOr<uint64_t> WasiFs::ReadableBytes(uint32_t fd) const {
  if (!IsFile(fd)) return Errno::kBadf;
  const OpenFd& f = *Find(fd);
  const uint64_t size = tree_->at(f.node).size();
  return size > f.position ? size - f.position : 0;
}

uint64_t WasiFs::bytes_written() const { return tree_->bytes_charged(); }
uint64_t WasiFs::files_created() const { return tree_->files_created(); }
uint32_t WasiFs::bytes_refusals() const { return tree_->bytes_refusals(); }
uint32_t WasiFs::files_refusals() const { return tree_->files_refusals(); }

}  // namespace mesh::wasm
