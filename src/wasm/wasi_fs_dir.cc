// WasiFs: directory listings (fd_readdir) and reading back the output directory.
#include <algorithm>
#include <cstring>
#include <utility>

#include "mesh/common/strings.h"
#include "mesh/wasm/wasi_fs.h"
#include "wasi_fs_tree.h"

namespace mesh::wasm {

using fs::FiletypeOf;
using fs::Inode;
using fs::InodeId;
using fs::kNoInode;

WasiOr<uint32_t> WasiFs::Readdir(uint32_t fd, std::span<uint8_t> buf, uint64_t cookie) {
  auto dir = DirOf(fd);
  if (!dir.ok()) return dir.err;
  OpenFd& f = *Find(fd);
  const Inode& d = tree_->at(dir.value);
  // As wasmtime: "." (cookie 1 next), ".." (2), then the entries by name (3, 4, ...). Both dot
  // entries carry the directory's own inode, as wasmtime's do. A cookie is an index, so it
  // stays valid while the directory does not change.
  uint64_t index = 0;
  size_t used = 0;
  auto emit = [&](std::string_view name, uint64_t ino, uint8_t type) -> bool {
    ++index;
    if (index <= cookie) return true;
    const bool whole = buf.size() - used >= wasi::kDirentSize + name.size();
    uint8_t header[wasi::kDirentSize] = {};
    const auto namlen = static_cast<uint32_t>(name.size());
    std::memcpy(header, &index, 8);
    std::memcpy(header + 8, &ino, 8);
    std::memcpy(header + 16, &namlen, 4);
    header[20] = type;
    // Cut the last entry at the buffer's end: a full buffer tells libc to ask again.
    size_t n = std::min<size_t>(wasi::kDirentSize, buf.size() - used);
    std::memcpy(buf.data() + used, header, n);
    used += n;
    n = std::min<size_t>(name.size(), buf.size() - used);
    std::memcpy(buf.data() + used, name.data(), n);
    used += n;
    if (whole && index > 2) f.cursor = {d.version, index, std::string(name)};
    return used < buf.size();
  };
  if (!emit(".", d.ino, wasi::kFiletypeDirectory)) return static_cast<uint32_t>(used);
  if (!emit("..", d.ino, wasi::kFiletypeDirectory)) return static_cast<uint32_t>(used);
  // Where the last call stopped, when it is the cookie asked for and the directory has not
  // changed since: a listing in small buffers then costs O(entries), not O(entries^2).
  auto it = d.entries.begin();
  if (cookie > 2 && f.cursor.cookie == cookie && f.cursor.version == d.version) {
    it = d.entries.upper_bound(f.cursor.name);
    index = cookie;
  }
  for (; it != d.entries.end(); ++it) {
    const Inode& n = tree_->at(it->second);
    if (!emit(it->first, n.ino, FiletypeOf(n.kind))) break;
  }
  return static_cast<uint32_t>(used);
}

std::vector<OutputFile> WasiFs::CollectOutput() const {
  std::vector<OutputFile> out;
  if (output_root_ == kNoInode) return out;
  std::vector<std::pair<InodeId, std::string>> todo = {{output_root_, ""}};
  while (!todo.empty()) {
    auto [dir, prefix] = std::move(todo.back());
    todo.pop_back();
    for (const auto& [name, id] : tree_->at(dir).entries) {
      const Inode& n = tree_->at(id);
      OutputFile file;
      file.path = prefix.empty() ? name : mesh::StrCat(prefix, "/", name);
      file.kind = n.kind;
      if (n.kind == FsKind::kFile) file.bytes = std::string(n.bytes());
      if (n.kind == FsKind::kSymlink) file.bytes = n.target;
      if (n.kind == FsKind::kDirectory) todo.emplace_back(id, file.path);
      out.push_back(std::move(file));
    }
  }
  // Sorted by path, which puts each directory before what it holds.
  std::sort(out.begin(), out.end(),
            [](const OutputFile& a, const OutputFile& b) { return a.path < b.path; });
  return out;
}

}  // namespace mesh::wasm
