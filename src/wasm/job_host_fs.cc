// JobHost: the filesystem calls (descriptors 3 and up, and every path_* call) and poll_oneoff.
// Arguments come from guest memory here and go to WasiFs in host terms; descriptors 0-2 are the
// stdio streams, answered as wasmtime answers them (ESPIPE for seeks, EBADF for the rest).
#include <algorithm>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "guest_memory.h"
#include "mesh/common/strings.h"
#include "mesh/wasm/job_host.h"
#include "mesh/wasm/wasi_fs.h"

namespace mesh::wasm {
namespace {

using wasi::Errno;

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// A path argument: EFAULT out of bounds, EILSEQ if not UTF-8 (wasmtime reads paths as str).
WasiOr<std::string_view> PathArg(GuestMemory m, uint64_t ptr, uint64_t len) {
  const uint8_t* p = GuestSpan(m, ptr, len);
  if (p == nullptr) return Errno::kFault;
  std::string_view path(reinterpret_cast<const char*>(p), len);
  if (!ValidUtf8(path)) return Errno::kIlseq;
  return path;
}

template <typename Byte>
WasiOr<std::vector<std::span<Byte>>> Iovecs(GuestMemory m, uint32_t iovs, uint32_t count) {
  if (count > kMaxIovs) return Errno::kInval;
  const uint8_t* vec = GuestSpan(m, iovs, uint64_t{count} * 8);
  if (vec == nullptr) return Errno::kFault;
  std::vector<std::span<Byte>> out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t buf = LoadU32(vec + 8 * i);
    const uint32_t len = LoadU32(vec + 8 * i + 4);
    uint8_t* p = GuestSpan(m, buf, len);
    if (p == nullptr) return Errno::kFault;
    out.emplace_back(p, len);
  }
  return out;
}

Errno StoreStat(GuestMemory m, uint32_t out, const WasiFilestat& st) {
  uint8_t* p = GuestSpan(m, out, wasi::kFilestatSize);
  if (p == nullptr) return Errno::kFault;
  std::memset(p, 0, wasi::kFilestatSize);
  std::memcpy(p, &st.dev, 8);
  std::memcpy(p + 8, &st.ino, 8);
  p[16] = st.filetype;
  std::memcpy(p + 24, &st.nlink, 8);
  std::memcpy(p + 32, &st.size, 8);
  std::memcpy(p + 40, &st.atim, 8);
  std::memcpy(p + 48, &st.mtim, 8);
  std::memcpy(p + 56, &st.ctim, 8);
  return Errno::kSuccess;
}

Errno StoreResult(GuestMemory m, uint32_t out, uint32_t v) {
  return StoreU32(m, out, v) ? Errno::kSuccess : Errno::kFault;
}

}  // namespace

HostAction JobHost::FsCall(HostFuncId id, const uint64_t* args, uint64_t* result, GuestMemory m) {
  uint64_t fuel = 0;
  const Errno err = FsDispatch(id, args, m, fuel);
  *result = static_cast<uint32_t>(err);
  if (fuel > 0 && fuel_charge_ && !fuel_charge_(fuel)) {
    return Stop(Outcome::kFuelExhausted,
                mesh::StrCat("job exceeded its fuel limit of ", limits_.fuel,
                             " in a filesystem call; raise --fuel or split the input"));
  }
  return HostAction::kContinue;
}

Errno JobHost::FsDispatch(HostFuncId id, const uint64_t* a, GuestMemory m, uint64_t& fuel) {
  auto u32 = [a](int i) { return static_cast<uint32_t>(a[i]); };
  if (id == HostFuncId::kPollOneoff) return PollOneoff(m, a, fuel);
  if (!fs_) return Errno::kBadf;
  WasiFs& fs = *fs_;
  const uint32_t fd = u32(0);
  const bool stdio = fd < kFirstFsFd;
  // Every call that reaches an open descriptor costs the base fee, plus its path bytes and the
  // bytes it moves (added below). path_symlink's descriptor is its third argument.
  const bool charged = fs.IsOpen(id == HostFuncId::kPathSymlink ? u32(2) : fd);
  if (charged) fuel += kWasiCallFuel;
  auto path = [&](int ptr, int len) {
    auto p = PathArg(m, u32(ptr), u32(len));
    if (p.ok() && charged) fuel += p.value.size();
    return p;
  };
  switch (id) {
    case HostFuncId::kFdClose:
      return fs.Close(fd);
    case HostFuncId::kFdFdstatGet: {
      auto st = fs.FdstatGet(fd);
      if (!st.ok()) return st.err;
      uint8_t* p = GuestSpan(m, u32(1), wasi::kFdstatSize);
      if (p == nullptr) return Errno::kFault;
      std::memset(p, 0, wasi::kFdstatSize);
      p[0] = st.value.filetype;
      std::memcpy(p + 2, &st.value.flags, 2);
      std::memcpy(p + 8, &st.value.rights_base, 8);
      std::memcpy(p + 16, &st.value.rights_inheriting, 8);
      return Errno::kSuccess;
    }
    case HostFuncId::kFdRead:
    case HostFuncId::kFdPread: {
      if (stdio) return id == HostFuncId::kFdPread ? Errno::kSpipe : Errno::kBadf;
      auto bufs = Iovecs<uint8_t>(m, u32(1), u32(2));
      if (!bufs.ok()) return bufs.err;
      const bool at = id == HostFuncId::kFdPread;
      auto n = fs.Read(fd, bufs.value, at ? std::optional<uint64_t>(a[3]) : std::nullopt);
      if (!n.ok()) return n.err;
      fuel += n.value;
      return StoreResult(m, u32(at ? 4 : 3), static_cast<uint32_t>(n.value));
    }
    case HostFuncId::kFdWrite:
    case HostFuncId::kFdPwrite: {
      if (stdio) return id == HostFuncId::kFdPwrite ? Errno::kSpipe : Errno::kBadf;
      auto bufs = Iovecs<uint8_t>(m, u32(1), u32(2));
      if (!bufs.ok()) return bufs.err;
      std::vector<std::span<const uint8_t>> in(bufs.value.begin(), bufs.value.end());
      const bool at = id == HostFuncId::kFdPwrite;
      auto n = fs.Write(fd, in, at ? std::optional<uint64_t>(a[3]) : std::nullopt);
      if (!n.ok()) return n.err;
      fuel += n.value;
      return StoreResult(m, u32(at ? 4 : 3), static_cast<uint32_t>(n.value));
    }
    case HostFuncId::kFdSeek: {
      if (u32(2) > 255) return Errno::kInval;
      auto pos = fs.Seek(fd, static_cast<int64_t>(a[1]), static_cast<uint8_t>(u32(2)));
      if (!pos.ok()) return pos.err;
      return StoreU64(m, u32(3), pos.value) ? Errno::kSuccess : Errno::kFault;
    }
    case HostFuncId::kFdTell: {
      if (stdio) return Errno::kSpipe;
      auto pos = fs.Tell(fd);
      if (!pos.ok()) return pos.err;
      return StoreU64(m, u32(1), pos.value) ? Errno::kSuccess : Errno::kFault;
    }
    case HostFuncId::kFdAdvise:
      return u32(3) > 255 ? Errno::kInval : fs.Advise(fd, a[1], a[2], static_cast<uint8_t>(u32(3)));
    case HostFuncId::kFdAllocate:
      return fs.Allocate(fd, a[1], a[2]);
    case HostFuncId::kFdDatasync:
    case HostFuncId::kFdSync:
      return fs.Sync(fd);
    case HostFuncId::kFdFdstatSetFlags:
      return u32(1) > 0x1f ? Errno::kInval : fs.FdstatSetFlags(fd, static_cast<uint16_t>(u32(1)));
    case HostFuncId::kFdFdstatSetRights:
      return fs.FdstatSetRights(fd);
    case HostFuncId::kFdFilestatGet: {
      if (stdio) return StoreStat(m, u32(1), {});  // wasmtime: all zero for stdio
      auto st = fs.FilestatGet(fd);
      return st.ok() ? StoreStat(m, u32(1), st.value) : st.err;
    }
    case HostFuncId::kFdFilestatSetSize:
      return fs.FilestatSetSize(fd, a[1]);
    case HostFuncId::kFdFilestatSetTimes:
      return u32(3) > 0xffff ? Errno::kInval
                             : fs.FilestatSetTimes(fd, a[1], a[2], static_cast<uint16_t>(u32(3)));
    case HostFuncId::kFdPrestatGet: {
      auto name = fs.PrestatDirName(fd);
      if (!name.ok()) return Errno::kBadf;  // wasmtime: EBADF for any fd that is not a preopen
      uint8_t* p = GuestSpan(m, u32(1), 8);
      if (p == nullptr) return Errno::kFault;
      const auto len = static_cast<uint32_t>(name.value.size());
      std::memset(p, 0, 8);  // tag 0: a directory
      std::memcpy(p + 4, &len, 4);
      return Errno::kSuccess;
    }
    case HostFuncId::kFdPrestatDirName: {
      if (stdio) return Errno::kNotdir;
      auto name = fs.PrestatDirName(fd);
      if (!name.ok()) return name.err;
      if (name.value.size() > u32(2)) return Errno::kNametoolong;
      uint8_t* p = GuestSpan(m, u32(1), name.value.size());
      if (p == nullptr) return Errno::kFault;
      std::memcpy(p, name.value.data(), name.value.size());
      return Errno::kSuccess;
    }
    case HostFuncId::kFdReaddir: {
      uint8_t* p = GuestSpan(m, u32(1), u32(2));
      if (p == nullptr) return Errno::kFault;
      auto used = fs.Readdir(fd, std::span<uint8_t>(p, u32(2)), a[3]);
      if (!used.ok()) return used.err;
      fuel += used.value;
      return StoreResult(m, u32(4), used.value);
    }
    case HostFuncId::kFdRenumber:
      if (!stdio && !fs.IsOpen(fd)) return Errno::kBadf;
      if (stdio || u32(1) < kFirstFsFd) return Errno::kNotsup;  // stdio stays where it is
      return fs.Renumber(fd, u32(1));
    case HostFuncId::kPathCreateDirectory: {
      auto p = path(1, 2);
      return p.ok() ? fs.PathCreateDirectory(fd, p.value) : p.err;
    }
    case HostFuncId::kPathRemoveDirectory: {
      auto p = path(1, 2);
      return p.ok() ? fs.PathRemoveDirectory(fd, p.value) : p.err;
    }
    case HostFuncId::kPathUnlinkFile: {
      auto p = path(1, 2);
      return p.ok() ? fs.PathUnlinkFile(fd, p.value) : p.err;
    }
    case HostFuncId::kPathFilestatGet: {
      auto p = path(2, 3);
      if (!p.ok()) return p.err;
      auto st = fs.PathFilestatGet(fd, u32(1), p.value);
      return st.ok() ? StoreStat(m, u32(4), st.value) : st.err;
    }
    case HostFuncId::kPathFilestatSetTimes: {
      auto p = path(2, 3);
      if (!p.ok()) return p.err;
      if (u32(6) > 0xffff) return Errno::kInval;
      return fs.PathFilestatSetTimes(fd, u32(1), p.value, a[4], a[5],
                                     static_cast<uint16_t>(u32(6)));
    }
    case HostFuncId::kPathOpen: {
      auto p = path(2, 3);
      if (!p.ok()) return p.err;
      if (u32(4) > 0xf || u32(7) > 0x1f) return Errno::kInval;
      if (GuestSpan(m, u32(8), 4) == nullptr) return Errno::kFault;  // before an fd is made
      auto opened = fs.PathOpen(fd, u32(1), p.value, static_cast<uint16_t>(u32(4)), a[5], a[6],
                                static_cast<uint16_t>(u32(7)));
      return opened.ok() ? StoreResult(m, u32(8), opened.value) : opened.err;
    }
    case HostFuncId::kPathReadlink: {
      auto p = path(1, 2);
      if (!p.ok()) return p.err;
      auto target = fs.PathReadlink(fd, p.value);
      if (!target.ok()) return target.err;
      // As wasmtime (and readlink(2)): cut to the buffer, no NUL, the count says how much.
      const uint32_t n = std::min<uint64_t>(target.value.size(), u32(4));
      uint8_t* out = GuestSpan(m, u32(3), n);
      if (out == nullptr || GuestSpan(m, u32(5), 4) == nullptr) return Errno::kFault;
      std::memcpy(out, target.value.data(), n);
      fuel += n;
      return StoreResult(m, u32(5), n);
    }
    case HostFuncId::kPathRename: {
      auto from = path(1, 2);
      if (!from.ok()) return from.err;
      auto to = path(4, 5);
      return to.ok() ? fs.PathRename(fd, from.value, u32(3), to.value) : to.err;
    }
    case HostFuncId::kPathLink: {
      auto from = path(2, 3);
      if (!from.ok()) return from.err;
      auto to = path(5, 6);
      return to.ok() ? fs.PathLink(fd, u32(1), from.value, u32(4), to.value) : to.err;
    }
    case HostFuncId::kPathSymlink: {
      // (target, target_len, dirfd, path, path_len)
      auto target = path(0, 1);
      if (!target.ok()) return target.err;
      auto p = path(3, 4);
      return p.ok() ? fs.PathSymlink(target.value, u32(2), p.value) : p.err;
    }
    default:
      return Errno::kNosys;
  }
}

}  // namespace mesh::wasm
