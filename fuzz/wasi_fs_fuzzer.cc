// libFuzzer target over the in-memory WASI filesystem (WasiFs): random sequences of fd_* and
// path_* calls with random descriptors, paths (from a small vocabulary of names, "..", ".",
// slashes and raw bytes), flags, offsets and buffer sizes. Nothing may crash, and after every
// call the invariants hold: the quotas are never passed, descriptors stay bounded, the mounted
// bytes never change, and what the output directory holds has only relative, clean paths. The
// core cannot reach a host file by construction (it has no file API); the fuzzer checks that
// nothing it does escapes the image it was given.
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target wasi_fs_fuzzer
//   build/fuzz/fuzz/wasi_fs_fuzzer -max_total_time=60
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "mesh/wasm/wasi_fs.h"

namespace {

using mesh::wasm::FsKind;
using mesh::wasm::FsMount;
using mesh::wasm::FsNode;
using mesh::wasm::Limits;
using mesh::wasm::StdinPiece;
using mesh::wasm::WasiFs;

constexpr uint64_t kFsBytes = 1 << 16;
constexpr uint64_t kFsFiles = 64;

const std::string& DataBytes() {
  static const std::string bytes(3000, 'd');
  return bytes;
}

FsNode Node(std::string path, FsKind kind, const std::string* bytes) {
  FsNode node;
  node.path = std::move(path);
  node.kind = kind;
  if (bytes != nullptr) node.content.bytes = *bytes;
  return node;
}

std::vector<FsMount> Image() {
  static const std::string up = "../a", abs = "/etc/passwd", loop = "l2", loop2 = "l1", sub = "sub",
                           small = "small file";
  std::vector<FsMount> mounts(2);
  mounts[0].guest_path = "/data";
  mounts[0].read_only = true;
  mounts[0].nodes = {
      Node("a", FsKind::kFile, &DataBytes()), Node("sub", FsKind::kDirectory, nullptr),
      Node("sub/b", FsKind::kFile, &small),   Node("up", FsKind::kSymlink, &up),
      Node("abs", FsKind::kSymlink, &abs),    Node("l1", FsKind::kSymlink, &loop),
      Node("l2", FsKind::kSymlink, &loop2),   Node("s", FsKind::kSymlink, &sub)};
  mounts[1].guest_path = "/work";
  mounts[1].read_only = false;
  mounts[1].nodes = {Node("w", FsKind::kFile, &DataBytes()), Node("d", FsKind::kDirectory, nullptr),
                     Node("d/x", FsKind::kFile, &small), Node("ws", FsKind::kSymlink, &up)};
  return mounts;
}

std::string Path(FuzzedDataProvider& in) {
  static const char* const kParts[] = {"a", "sub", "b",  "up", "abs", "l1", "s", "w",
                                       "d", "x",   "ws", "n",  "m",   "..", ".", ""};
  if (in.ConsumeIntegralInRange(0, 9) == 0) return in.ConsumeRandomLengthString(64);
  std::string path;
  const int parts = in.ConsumeIntegralInRange(1, 4);
  for (int i = 0; i < parts; ++i) {
    if (i > 0) path += '/';
    path += kParts[in.ConsumeIntegralInRange<size_t>(0, std::size(kParts) - 1)];
  }
  if (in.ConsumeBool() && in.ConsumeBool()) path += '/';
  return path;
}

// Components joined by '/', none empty, "." or "..": a path that stays inside its directory.
bool CleanRelative(const std::string& path) {
  size_t start = 0;
  for (;;) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == path.size()) return true;
    start = end + 1;
  }
}

void Check(const WasiFs& fs) {
  if (fs.bytes_written() > kFsBytes || fs.files_created() > kFsFiles ||
      fs.open_fds() > mesh::wasm::kMaxOpenFds) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  Limits limits;
  limits.fs_bytes = kFsBytes;
  limits.fs_files = kFsFiles;
  uint64_t now = 0;
  auto created = WasiFs::Create(Image(), "/out", limits, [&now] { return ++now; });
  if (!created.ok()) std::abort();
  WasiFs& fs = **created;
  std::vector<uint8_t> buf(4096);
  for (int step = 0; step < 256 && in.remaining_bytes() > 0; ++step) {
    const uint32_t fd = in.ConsumeIntegralInRange<uint32_t>(0, 12);
    const uint32_t fd2 = in.ConsumeIntegralInRange<uint32_t>(0, 12);
    switch (in.ConsumeIntegralInRange(0, 22)) {
      case 0:
        fs.PathOpen(fd, in.ConsumeIntegral<uint8_t>() & 1, Path(in),
                    in.ConsumeIntegral<uint8_t>() & 0xf, in.ConsumeIntegral<uint64_t>(), 0,
                    in.ConsumeIntegral<uint8_t>() & 0x1f);
        break;
      case 1: {
        std::span<uint8_t> b(buf.data(), in.ConsumeIntegralInRange<size_t>(0, buf.size()));
        fs.Read(fd, std::span<const std::span<uint8_t>>(&b, 1),
                in.ConsumeBool() ? std::optional<uint64_t>(in.ConsumeIntegral<uint16_t>())
                                 : std::nullopt);
        break;
      }
      case 2: {
        std::span<const uint8_t> b(buf.data(), in.ConsumeIntegralInRange<size_t>(0, buf.size()));
        fs.Write(fd, std::span<const std::span<const uint8_t>>(&b, 1),
                 in.ConsumeBool() ? std::optional<uint64_t>(in.ConsumeIntegral<uint32_t>())
                                  : std::nullopt);
        break;
      }
      case 3:
        fs.Seek(fd, in.ConsumeIntegral<int64_t>(), in.ConsumeIntegralInRange<uint8_t>(0, 3));
        break;
      case 4:
        fs.Close(fd);
        break;
      case 5:
        fs.Renumber(fd, fd2);
        break;
      case 6: {
        std::span<uint8_t> b(buf.data(), in.ConsumeIntegralInRange<size_t>(0, buf.size()));
        auto used = fs.Readdir(fd, b, in.ConsumeIntegralInRange<uint64_t>(0, 20));
        if (used.ok() && used.value > b.size()) std::abort();
        break;
      }
      case 7:
        fs.PathCreateDirectory(fd, Path(in));
        break;
      case 8:
        fs.PathRemoveDirectory(fd, Path(in));
        break;
      case 9:
        fs.PathUnlinkFile(fd, Path(in));
        break;
      case 10: {
        const std::string from = Path(in);
        fs.PathRename(fd, from, fd2, Path(in));
        break;
      }
      case 11: {
        const std::string from = Path(in);
        fs.PathLink(fd, in.ConsumeIntegral<uint8_t>() & 1, from, fd2, Path(in));
        break;
      }
      case 12: {
        const std::string target = Path(in);
        fs.PathSymlink(target, fd, Path(in));
        break;
      }
      case 13:
        fs.PathReadlink(fd, Path(in));
        break;
      case 14:
        fs.PathFilestatGet(fd, in.ConsumeIntegral<uint8_t>() & 1, Path(in));
        break;
      case 15:
        fs.FilestatSetSize(fd, in.ConsumeIntegral<uint32_t>() >> in.ConsumeIntegralInRange(0, 31));
        break;
      case 16:
        fs.Allocate(fd, in.ConsumeIntegral<uint16_t>(), in.ConsumeIntegral<uint32_t>());
        break;
      case 17:
        fs.FdstatSetFlags(fd, in.ConsumeIntegral<uint8_t>() & 0x1f);
        break;
      case 18:
        fs.FilestatSetTimes(fd, in.ConsumeIntegral<uint64_t>(), in.ConsumeIntegral<uint64_t>(),
                            in.ConsumeIntegral<uint8_t>() & 0xf);
        break;
      case 19:
        fs.PathFilestatSetTimes(fd, 1, Path(in), 1, 2, in.ConsumeIntegral<uint8_t>() & 0xf);
        break;
      case 20:
        fs.FdstatGet(fd);
        fs.FilestatGet(fd);
        fs.Tell(fd);
        fs.ReadableBytes(fd);
        fs.PrestatDirName(fd);
        break;
      case 21:
        fs.Sync(fd);
        fs.Advise(fd, 0, 0, in.ConsumeIntegral<uint8_t>());
        break;
      default:
        for (const auto& file : fs.CollectOutput()) {
          if (!CleanRelative(file.path)) std::abort();
        }
        break;
    }
    Check(fs);
  }
  // The mounts' bytes are never written: every change went to a private copy.
  if (DataBytes() != std::string(3000, 'd')) std::abort();
  return 0;
}
