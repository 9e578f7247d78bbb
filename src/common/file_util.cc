#include "mesh/common/file_util.h"
#include "mesh/common/replace_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh {

absl::Status ErrnoToStatus(int err, std::string_view what) {
  std::string message = mesh::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::ResourceExhaustedError(message);
    case EINVAL:
    case EISDIR:
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(message);
    case EAGAIN:
    case EINTR:
      return absl::UnavailableError(message);
    case EIO:
      return absl::DataLossError(message);
    default:
      return absl::InternalError(message);
  }
}

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) Reset(other.Release());
  return *this;
}

int ScopedFd::Release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void ScopedFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

absl::StatusOr<ScopedFd> OpenFile(const std::filesystem::path& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoToStatus(errno, path.string());
  return ScopedFd(fd);
}

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReadSome(int fd, char* buffer, size_t size) {
  while (true) {
    const ssize_t n = ::read(fd, buffer, size);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoToStatus(errno, "read");
  }
}

absl::StatusOr<std::string> ReadFileToString(const std::filesystem::path& path, size_t max_size) {
  MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDONLY));
  std::string out;
  char buffer[64 * 1024];
  while (true) {
    MESH_ASSIGN_OR_RETURN(size_t n, ReadSome(fd.get(), buffer, sizeof(buffer)));
    if (n == 0) break;
    if (out.size() + n > max_size) {
      return absl::ResourceExhaustedError(
          mesh::StrCat(path.string(), " is larger than the limit of ", max_size, " bytes"));
    }
    out.append(buffer, n);
  }
  return out;
}

absl::Status FsyncDirectory(const std::filesystem::path& dir) {
  MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, mesh::StrCat("fsync ", dir.string()));
  return absl::OkStatus();
}

namespace {

absl::Status WriteAtomically(const std::filesystem::path& path, std::string_view data, mode_t mode,
                             bool overwrite, bool durable) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  const int raw_fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (raw_fd < 0) return ErrnoToStatus(errno, tmpl);
  ScopedFd fd(raw_fd);
  const std::filesystem::path tmp_path = tmpl;
  auto cleanup_on_error = [&](absl::Status s) {
    ::unlink(tmp_path.c_str());
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0) return cleanup_on_error(ErrnoToStatus(errno, tmpl));
  if (auto s = WriteAll(fd.get(), data); !s.ok()) return cleanup_on_error(s);
  if (durable && ::fsync(fd.get()) != 0) return cleanup_on_error(ErrnoToStatus(errno, tmpl));
  fd.Reset();
  if (overwrite) {
    if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
      return cleanup_on_error(ErrnoToStatus(errno, path.string()));
    }
  } else {
    // link() fails with EEXIST instead of replacing, which rename() would do silently.
    if (::link(tmp_path.c_str(), path.c_str()) != 0) {
      return cleanup_on_error(ErrnoToStatus(errno, path.string()));
    }
    ::unlink(tmp_path.c_str());
  }
  return durable ? FsyncDirectory(dir) : absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view data,
                                 mode_t mode, bool overwrite) {
  return WriteAtomically(path, data, mode, overwrite, /*durable=*/true);
}

absl::Status ReplaceFileAtomically(const std::filesystem::path& path, std::string_view data,
                                   mode_t mode) {
  return WriteAtomically(path, data, mode, /*overwrite=*/true, /*durable=*/false);
}

}  // namespace mesh
