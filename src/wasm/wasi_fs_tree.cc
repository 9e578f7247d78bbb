#include "wasi_fs_tree.h"

#include <algorithm>
#include <utility>

#include "mesh/common/strings.h"

namespace mesh::wasm::fs {

using wasi::Errno;

bool ValidNodePath(std::string_view path) {
  if (path.empty() || path.size() > kMaxPathBytes) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > kMaxNameBytes ||
        part.find('\0') != std::string_view::npos) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

SplitPath::SplitPath(std::string_view path) {
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  trailing_slash = !path.empty() && path.back() == '/';
}

FsTree::FsTree(const Limits& limits, std::function<uint64_t()> now)
    : limits_(limits), now_(std::move(now)) {}

InodeId FsTree::NewInode(FsKind kind, uint32_t mount) {
  Inode node;
  node.kind = kind;
  node.mount = mount;
  node.ino = next_ino_++;
  node.atim = node.mtim = node.ctim = now_();
  inodes_.push_back(std::move(node));
  return static_cast<InodeId>(inodes_.size() - 1);
}

absl::StatusOr<uint32_t> FsTree::AddMount(FsMount mount) {
  const std::string& gp = mount.guest_path;
  if (gp.empty() || gp[0] != '/' || gp.size() > kMaxPathBytes ||
      (gp.size() > 1 && !ValidNodePath(std::string_view(gp).substr(1)))) {
    return absl::InvalidArgumentError(
        mesh::StrCat("mount path '", gp, "' is not an absolute, normalised guest path"));
  }
  for (const MountInfo& m : mounts_) {
    if (m.guest_path == gp) {
      return absl::InvalidArgumentError(mesh::StrCat("two mounts at guest path '", gp, "'"));
    }
  }
  const auto index = static_cast<uint32_t>(mounts_.size());
  const InodeId root = NewInode(FsKind::kDirectory, index);
  inodes_[root].parent = root;
  inodes_[root].nlink = 1;
  mounts_.push_back({gp, mount.read_only, root});
  for (FsNode& node : mount.nodes) {
    if (!ValidNodePath(node.path)) {
      return absl::InvalidArgumentError(
          mesh::StrCat("mount '", gp, "': bad node path '", node.path, "'"));
    }
    const size_t slash = node.path.rfind('/');
    const std::string name = slash == std::string::npos ? node.path : node.path.substr(slash + 1);
    InodeId dir = root;
    // The parent, walked without following symlinks: nodes sit in real directories.
    for (std::string_view part :
         SplitPath(std::string_view(node.path).substr(0, slash == std::string::npos ? 0 : slash))
             .parts) {
      auto it = inodes_[dir].entries.find(part);
      if (it == inodes_[dir].entries.end() || inodes_[it->second].kind != FsKind::kDirectory) {
        return absl::InvalidArgumentError(mesh::StrCat("mount '", gp, "': node '", node.path,
                                                       "' comes before its parent directory"));
      }
      dir = it->second;
    }
    if (inodes_[dir].entries.count(name) != 0) {
      return absl::InvalidArgumentError(
          mesh::StrCat("mount '", gp, "': node '", node.path, "' appears twice"));
    }
    const InodeId id = NewInode(node.kind, index);
    Inode& n = inodes_[id];
    if (node.kind == FsKind::kFile) {
      n.base = node.content.bytes;
      n.keep = std::move(node.content.keep);
    } else if (node.kind == FsKind::kSymlink) {
      n.target = std::string(node.content.bytes);
    } else {
      n.parent = dir;
    }
    inodes_[dir].entries.emplace(name, id);
    n.nlink = 1;
  }
  return index;
}

absl::StatusOr<InodeId> FsTree::MakeHostDirs(uint32_t mount, std::string_view rel) {
  InodeId dir = mounts_[mount].root;
  for (std::string_view part : SplitPath(rel).parts) {
    auto it = inodes_[dir].entries.find(part);
    if (it == inodes_[dir].entries.end()) {
      const InodeId id = NewInode(FsKind::kDirectory, mount);
      inodes_[id].parent = dir;
      inodes_[id].nlink = 1;
      inodes_[dir].entries.emplace(std::string(part), id);
      dir = id;
    } else if (inodes_[it->second].kind == FsKind::kDirectory) {
      dir = it->second;
    } else {
      return absl::InvalidArgumentError(mesh::StrCat("output directory: '", part, "' under mount '",
                                                     mounts_[mount].guest_path,
                                                     "' is not a directory"));
    }
  }
  return dir;
}

WasiOr<Lookup> FsTree::Resolve(InodeId base, std::string_view path, bool follow_final) const {
  if (path.size() > kMaxPathBytes) return Errno::kNametoolong;
  if (path.empty()) return Errno::kNoent;
  if (path.find('\0') != std::string_view::npos) return Errno::kInval;
  // cap-std refuses absolute paths as an escape from the directory: wasmtime says EPERM.
  if (path[0] == '/') return Errno::kPerm;
  SplitPath split(path);
  bool trailing = split.trailing_slash;
  std::vector<std::string> pending;  // components still to walk, the next one last
  for (auto it = split.parts.rbegin(); it != split.parts.rend(); ++it) pending.emplace_back(*it);
  std::vector<InodeId> stack = {base};  // the directories walked, from `base`
  int hops = 0;
  Lookup out;
  bool named = false;
  while (!pending.empty()) {
    const std::string part = std::move(pending.back());
    pending.pop_back();
    const bool last = pending.empty();
    if (part.size() > kMaxNameBytes) return Errno::kNametoolong;
    if (part == "." || part == "..") {
      if (part == "..") {
        if (stack.size() == 1) return Errno::kPerm;  // above the starting directory
        stack.pop_back();
      }
      if (last) named = false;
      continue;
    }
    const Inode& dir = inodes_[stack.back()];
    const auto entry = dir.entries.find(part);
    const InodeId child = entry == dir.entries.end() ? kNoInode : entry->second;
    if (child != kNoInode && inodes_[child].kind == FsKind::kSymlink &&
        (!last || follow_final || trailing)) {
      if (++hops > kMaxSymlinkHops) return Errno::kLoop;
      const std::string& target = inodes_[child].target;
      if (target.empty()) return Errno::kNoent;
      if (target[0] == '/') return Errno::kPerm;  // absolute targets lead out of the sandbox
      SplitPath t(target);
      if (last) trailing = trailing || t.trailing_slash;
      for (auto it = t.parts.rbegin(); it != t.parts.rend(); ++it) pending.emplace_back(*it);
      if (t.parts.empty()) named = false;
      continue;
    }
    if (last) {
      out.dir = stack.back();
      out.name = part;
      out.node = child;
      named = true;
      break;
    }
    if (child == kNoInode) return Errno::kNoent;
    if (inodes_[child].kind != FsKind::kDirectory) return Errno::kNotdir;
    stack.push_back(child);
  }
  if (!named) {
    out.dir = stack.back();
    out.name.clear();
    out.node = stack.back();
  }
  out.trailing_slash = trailing;
  if (trailing && out.node != kNoInode && inodes_[out.node].kind != FsKind::kDirectory) {
    return Errno::kNotdir;
  }
  return out;
}

wasi::Errno FsTree::ChargeEntry() {
  if (files_created_ >= limits_.fs_files) {
    ++files_refusals_;
    return Errno::kDquot;
  }
  ++files_created_;
  return Errno::kSuccess;
}

WasiOr<InodeId> FsTree::Create(InodeId dir, const std::string& name, FsKind kind,
                               std::string target) {
  // A symlink's target is bytes the job wrote: charged like a file's.
  const uint64_t bytes = target.size();
  if (bytes > limits_.fs_bytes || bytes_charged_ > limits_.fs_bytes - bytes) {
    ++bytes_refusals_;
    return Errno::kNospc;
  }
  if (Errno e = ChargeEntry(); e != Errno::kSuccess) return e;
  bytes_charged_ += bytes;
  const InodeId id = NewInode(kind, inodes_[dir].mount);
  if (kind == FsKind::kDirectory) inodes_[id].parent = dir;
  inodes_[id].target = std::move(target);
  Link(dir, name, id);
  return id;
}

void FsTree::Link(InodeId dir, const std::string& name, InodeId node) {
  inodes_[dir].entries[name] = node;
  ++inodes_[dir].version;
  ++inodes_[node].nlink;
  if (inodes_[node].kind == FsKind::kDirectory) inodes_[node].parent = dir;
  inodes_[node].ctim = now_();
  Touch(dir, true);
}

void FsTree::Unlink(InodeId dir, const std::string& name) {
  auto it = inodes_[dir].entries.find(name);
  if (it == inodes_[dir].entries.end()) return;
  const InodeId node = it->second;
  inodes_[dir].entries.erase(it);
  ++inodes_[dir].version;
  Touch(dir, true);
  Inode& n = inodes_[node];
  --n.nlink;
  n.ctim = now_();
  if (n.nlink == 0 && n.open == 0) {
    // Nothing can reach it again: give its memory back (its charge stays: quotas count what
    // was written, not what is left).
    std::string().swap(n.data);
    n.base = {};
    n.keep.reset();
    n.entries.clear();
  }
}

void FsTree::Closed(InodeId id) {
  Inode& n = inodes_[id];
  if (n.open > 0) --n.open;
  if (n.nlink == 0 && n.open == 0) {
    std::string().swap(n.data);
    n.base = {};
    n.keep.reset();
  }
}

wasi::Errno FsTree::Reserve(InodeId id, uint64_t size, bool resize) {
  Inode& n = inodes_[id];
  const uint64_t target = resize ? size : std::max<uint64_t>(n.size(), size);
  const uint64_t charge = std::max(n.charged, target);
  const uint64_t extra = charge - n.charged;
  if (extra > limits_.fs_bytes || bytes_charged_ > limits_.fs_bytes - extra) {
    ++bytes_refusals_;
    return Errno::kNospc;
  }
  bytes_charged_ += extra;
  n.charged = charge;
  if (!n.copied) {
    // Copy on write: the mount's bytes stay as they were.
    n.data.assign(n.base.substr(0, std::min<uint64_t>(n.base.size(), target)));
    n.base = {};
    n.keep.reset();
    n.copied = true;
  }
  if (n.data.size() != target) n.data.resize(target, '\0');
  return Errno::kSuccess;
}

void FsTree::Touch(InodeId id, bool modified) {
  Inode& n = inodes_[id];
  const uint64_t now = now_();
  n.atim = now;
  if (modified) n.mtim = n.ctim = now;
}

bool FsTree::Contains(InodeId ancestor, InodeId node) const {
  for (InodeId at = node;;) {
    if (at == ancestor) return true;
    const InodeId parent = inodes_[at].parent;
    if (parent == at || parent == kNoInode) return false;
    at = parent;
  }
}

}  // namespace mesh::wasm::fs
