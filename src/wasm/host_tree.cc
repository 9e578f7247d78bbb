#include "mesh/wasm/host_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <system_error>

#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/wasm/wasi_fs.h"
#include "wasi_fs_tree.h"

namespace mesh::wasm {
namespace stdfs = std::filesystem;

namespace {

std::string KindOf(const stdfs::file_status& st) {
  switch (st.type()) {
    case stdfs::file_type::block:
      return "a block device";
    case stdfs::file_type::character:
      return "a character device";
    case stdfs::file_type::fifo:
      return "a FIFO";
    case stdfs::file_type::socket:
      return "a socket";
    default:
      return "of an unknown type";
  }
}

// Reads a regular file without following a symlink put in its place since it was listed.
absl::StatusOr<std::string> ReadRegular(const stdfs::path& path, uint64_t max_bytes) {
  MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, path.string());
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(mesh::StrCat(path.string(), " is no longer a file"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::ResourceExhaustedError("");  // the caller names the limit
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    MESH_ASSIGN_OR_RETURN(size_t n, ReadSome(fd.get(), bytes.data() + got, bytes.size() - got));
    if (n == 0) break;  // shrank while read: keep what was there
    got += n;
  }
  bytes.resize(got);
  return bytes;
}

}  // namespace

absl::StatusOr<std::string> NormaliseGuestPath(std::string_view path) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(mesh::StrCat("guest path '", path, "' ", why));
  };
  if (path.empty() || path[0] != '/') return bad("is not absolute (e.g. /data)");
  if (path.size() > kMaxPathBytes) return bad("is longer than 4096 bytes");
  if (path.find('\0') != std::string_view::npos) return bad("holds a NUL byte");
  std::string out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part == "..") return bad("holds '..'");
    if (!part.empty() && part != ".") {
      out += '/';
      out += part;
    }
    start = end + 1;
  }
  return out.empty() ? std::string("/") : out;
}

absl::StatusOr<FsMount> ReadHostTree(const stdfs::path& dir, std::string guest_path, bool read_only,
                                     const HostTreeLimits& limits) {
  std::error_code ec;
  const stdfs::file_status top = stdfs::status(dir, ec);
  if (ec || !stdfs::exists(top)) {
    return absl::NotFoundError(mesh::StrCat("directory ", dir.string(), " not found"));
  }
  if (!stdfs::is_directory(top)) {
    return absl::FailedPreconditionError(mesh::StrCat(dir.string(), " is not a directory"));
  }
  FsMount mount{.guest_path = std::move(guest_path), .read_only = read_only};
  uint64_t bytes = 0;
  stdfs::recursive_directory_iterator it(dir, stdfs::directory_options::none, ec);
  if (ec) return ErrnoToStatus(ec.value(), dir.string());
  for (; it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return ErrnoToStatus(ec.value(), mesh::StrCat("listing ", dir.string()));
    const stdfs::path& host = it->path();
    const std::string rel = host.lexically_relative(dir).generic_string();
    if (mount.nodes.size() >= limits.max_entries) {
      return absl::ResourceExhaustedError(
          mesh::StrCat(dir.string(), " holds more than ", limits.max_entries, " entries"));
    }
    if (rel.size() > kMaxPathBytes) {
      return absl::FailedPreconditionError(
          mesh::StrCat(host.string(), ": its path is longer than 4096 bytes"));
    }
    const stdfs::file_status st = it->symlink_status(ec);
    if (ec) return ErrnoToStatus(ec.value(), host.string());
    FsNode node{.path = rel};
    if (stdfs::is_symlink(st)) {
      node.kind = FsKind::kSymlink;
      const stdfs::path target = stdfs::read_symlink(host, ec);
      if (ec) return ErrnoToStatus(ec.value(), host.string());
      node.content = StdinPiece::Owned("", target.string());
    } else if (stdfs::is_directory(st)) {
      node.kind = FsKind::kDirectory;
    } else if (stdfs::is_regular_file(st)) {
      absl::StatusOr<std::string> data = ReadRegular(host, limits.max_bytes - bytes);
      if (absl::IsResourceExhausted(data.status())) {
        return absl::ResourceExhaustedError(mesh::StrCat(
            "the files of ", dir.string(), " take more than ", limits.max_bytes, " bytes"));
      }
      MESH_RETURN_IF_ERROR(data.status());
      bytes += data->size();
      node.content = StdinPiece::Owned("", *std::move(data));
    } else {
      return absl::FailedPreconditionError(mesh::StrCat(host.string(), " is ", KindOf(st),
                                                        "; a job can be given files, "
                                                        "directories and symlinks only"));
    }
    mount.nodes.push_back(std::move(node));
  }
  std::sort(mount.nodes.begin(), mount.nodes.end(),
            [](const FsNode& a, const FsNode& b) { return a.path < b.path; });
  return mount;
}

absl::Status WriteOutputFiles(const std::vector<OutputFile>& files, const stdfs::path& dest) {
  // Every path is checked before anything is written.
  std::set<std::string> links;
  for (const OutputFile& f : files) {
    if (!fs::ValidNodePath(f.path)) {
      return absl::InvalidArgumentError(
          mesh::StrCat("output file '", f.path, "' is not a relative, normalised path"));
    }
    for (size_t slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      if (links.contains(f.path.substr(0, slash))) {
        return absl::InvalidArgumentError(
            mesh::StrCat("output file '", f.path, "' lies under a symlink the job made; refused"));
      }
    }
    if (f.kind == FsKind::kSymlink) links.insert(f.path);
  }
  std::error_code ec;
  if (stdfs::exists(stdfs::symlink_status(dest, ec))) {
    if (!stdfs::is_directory(stdfs::symlink_status(dest, ec)) || !stdfs::is_empty(dest, ec)) {
      return absl::AlreadyExistsError(mesh::StrCat(
          dest.string(), " already exists and is not an empty directory; name another"));
    }
  } else {
    stdfs::create_directories(dest, ec);
    if (ec) return ErrnoToStatus(ec.value(), mesh::StrCat("creating ", dest.string()));
  }
  for (const OutputFile& f : files) {
    const stdfs::path to = dest / f.path;
    switch (f.kind) {
      case FsKind::kDirectory:
        if (::mkdir(to.c_str(), 0755) != 0) return ErrnoToStatus(errno, to.string());
        break;
      case FsKind::kSymlink:
        if (::symlink(f.bytes.c_str(), to.c_str()) != 0) return ErrnoToStatus(errno, to.string());
        break;
      case FsKind::kFile: {
        MESH_ASSIGN_OR_RETURN(
            ScopedFd fd, OpenFile(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        MESH_RETURN_IF_ERROR(WriteAll(fd.get(), f.bytes));
        break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace mesh::wasm
