// Test helpers: file images (fs_image.h) written inline, and small wrappers over WasiFs calls
// that tests repeat. Test-only.
#pragma once

#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/wasm/fs_image.h"
#include "mesh/wasm/wasi_fs.h"

namespace mesh::wasm::testing {

inline FsNode FileNode(std::string path, std::string bytes) {
  return {std::move(path), FsKind::kFile, StdinPiece::Owned("", std::move(bytes))};
}
inline FsNode DirNode(std::string path) { return {std::move(path), FsKind::kDirectory, {}}; }
inline FsNode LinkNode(std::string path, std::string target) {
  return {std::move(path), FsKind::kSymlink, StdinPiece::Owned("", std::move(target))};
}
inline FsMount Mount(std::string guest_path, bool read_only, std::vector<FsNode> nodes) {
  return {std::move(guest_path), read_only, std::move(nodes)};
}

inline constexpr uint64_t kReadWrite = wasi::kRightFdRead | wasi::kRightFdWrite;

inline WasiOr<uint32_t> Open(WasiFs& fs, uint32_t dirfd, std::string_view path, uint16_t oflags = 0,
                             uint64_t rights = kReadWrite, uint16_t fdflags = 0) {
  return fs.PathOpen(dirfd, wasi::kLookupSymlinkFollow, path, oflags, rights, rights, fdflags);
}

inline WasiOr<uint64_t> WriteString(WasiFs& fs, uint32_t fd, std::string_view s,
                                    std::optional<uint64_t> at = std::nullopt) {
  std::span<const uint8_t> buf(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  return fs.Write(fd, std::span<const std::span<const uint8_t>>(&buf, 1), at);
}

// Reads to the end in small pieces (so reads across calls are exercised).
inline std::string ReadAll(WasiFs& fs, uint32_t fd) {
  std::string out;
  for (;;) {
    uint8_t chunk[7];
    std::span<uint8_t> buf(chunk, sizeof chunk);
    auto n = fs.Read(fd, std::span<const std::span<uint8_t>>(&buf, 1));
    if (!n.ok() || n.value == 0) return out;
    out.append(reinterpret_cast<const char*>(chunk), n.value);
  }
}

struct Dirent {
  uint64_t next = 0;
  uint64_t ino = 0;
  uint8_t type = 0;
  std::string name;
};

// Parses whole dirents from a readdir buffer.
inline std::vector<Dirent> ParseDirents(std::span<const uint8_t> buf) {
  std::vector<Dirent> out;
  size_t at = 0;
  while (at + wasi::kDirentSize <= buf.size()) {
    Dirent d;
    uint32_t namlen;
    std::memcpy(&d.next, buf.data() + at, 8);
    std::memcpy(&d.ino, buf.data() + at + 8, 8);
    std::memcpy(&namlen, buf.data() + at + 16, 4);
    d.type = buf[at + 20];
    at += wasi::kDirentSize;
    if (at + namlen > buf.size()) break;
    d.name.assign(reinterpret_cast<const char*>(buf.data() + at), namlen);
    at += namlen;
    out.push_back(std::move(d));
  }
  return out;
}

// The names of a directory, through readdir with a big buffer.
inline std::vector<std::string> List(WasiFs& fs, uint32_t fd) {
  std::vector<uint8_t> buf(1 << 16);
  auto used = fs.Readdir(fd, buf, 0);
  std::vector<std::string> names;
  if (!used.ok()) return names;
  for (const Dirent& d : ParseDirents(std::span<const uint8_t>(buf.data(), used.value))) {
    names.push_back(d.name);
  }
  return names;
}

}  // namespace mesh::wasm::testing
