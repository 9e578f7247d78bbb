#include "mesh/cas/dir_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::cas {
namespace {

constexpr size_t kReadChunk = 1 << 20;

std::string_view KindOfMode(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

absl::StatusOr<std::pair<Cid, uint64_t>> StoreFile(BlobStore& store, int fd, uint64_t budget) {
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<PendingBlob> blob, store.BeginWrite(budget));
  std::string buffer(kReadChunk, '\0');
  while (true) {
    MESH_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, buffer.data(), buffer.size()));
    if (n == 0) break;
    if (blob->size() + n > budget) return absl::ResourceExhaustedError(kOverBudget);
    MESH_RETURN_IF_ERROR(blob->Append(std::string_view(buffer.data(), n)));
  }
  MESH_ASSIGN_OR_RETURN(uint64_t size, blob->Commit());
  return std::make_pair(*blob->cid(), size);
}

absl::StatusOr<std::pair<Cid, uint64_t>> HashFile(int fd, uint64_t budget) {
  crypto::Sha256 hasher;
  std::string buffer(kReadChunk, '\0');
  uint64_t size = 0;
  while (true) {
    MESH_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, buffer.data(), buffer.size()));
    if (n == 0) break;
    size += n;
    if (size > budget) return absl::ResourceExhaustedError(kOverBudget);
    hasher.Update(std::string_view(buffer.data(), n));
  }
  return std::make_pair(Cid::FromDigest(hasher.Finish()), size);
}

class Importer {
 public:
  Importer(const FileSink& sink, std::filesystem::path root, const ManifestLimits& limits)
      : sink_(sink), root_(std::move(root)), limits_(limits) {}

  absl::Status Walk(int dir_fd, const std::string& prefix) {
    // The names first, closed before recursing: open directories stay O(depth).
    std::vector<std::string> names;
    {
      const int list_fd = ::dup(dir_fd);
      if (list_fd < 0) return ErrnoToStatus(errno, Host(prefix));
      std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(list_fd), &::closedir);
      if (dir == nullptr) {
        ::close(list_fd);
        return ErrnoToStatus(errno, Host(prefix));
      }
      while (dirent* d = ::readdir(dir.get())) {
        const std::string_view name = d->d_name;
        if (name == "." || name == "..") continue;
        if (names.size() + manifest_.entries.size() >= limits_.max_entries) {
          return TooMany();
        }
        names.emplace_back(name);
      }
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string path = prefix.empty() ? name : prefix + "/" + name;
      MESH_RETURN_IF_ERROR(CheckRelativePath(path, limits_, Host(path)));
      if (manifest_.entries.size() >= limits_.max_entries) return TooMany();
      struct stat st;
      if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoToStatus(errno, Host(path));
      }
      DirEntry entry{.path = path};
      if (S_ISDIR(st.st_mode)) {
        entry.kind = EntryKind::kDirectory;
        manifest_.entries.push_back(entry);
        const int child =
            ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0) return ErrnoToStatus(errno, Host(path));
        ScopedFd child_fd(child);
        MESH_RETURN_IF_ERROR(Walk(child_fd.get(), path));
      } else if (S_ISLNK(st.st_mode)) {
        entry.kind = EntryKind::kSymlink;
        std::string target(limits_.max_path_bytes + 1, '\0');
        const ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (n < 0) return ErrnoToStatus(errno, Host(path));
        if (static_cast<size_t>(n) > limits_.max_path_bytes) {
          return absl::ResourceExhaustedError(mesh::StrCat(Host(path),
                                                           ": the symlink's target is longer than ",
                                                           limits_.max_path_bytes, " bytes"));
        }
        target.resize(static_cast<size_t>(n));
        entry.target = std::move(target);
        manifest_.entries.push_back(std::move(entry));
      } else if (S_ISREG(st.st_mode)) {
        MESH_RETURN_IF_ERROR(PutFile(dir_fd, name, st, entry));
        manifest_.entries.push_back(std::move(entry));
      } else {
        return absl::InvalidArgumentError(mesh::StrCat(
            Host(path), " is ", KindOfMode(st.st_mode),
            "; a tree holds files, directories and symlinks only: remove it, or copy the tree "
            "without it"));
      }
    }
    return absl::OkStatus();
  }

  DirManifest& manifest() { return manifest_; }

 private:
  std::string Host(std::string_view path) const { return (root_ / path).string(); }

  absl::Status TooMany() const {
    return absl::ResourceExhaustedError(
        mesh::StrCat(root_.string(), " has more than ", limits_.max_entries,
                     " entries (files, directories and symlinks), the limit of a tree; upload "
                     "it in parts"));
  }

  absl::Status PutFile(int dir_fd, const std::string& name, const struct stat& seen,
                       DirEntry& entry) {
    // O_NONBLOCK: a FIFO swapped in since the stat must not hang the walk (refused below).
    const int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, Host(entry.path));
    ScopedFd file(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return ErrnoToStatus(errno, Host(entry.path));
    if (!S_ISREG(st.st_mode) || st.st_ino != seen.st_ino || st.st_dev != seen.st_dev) {
      return absl::AbortedError(
          mesh::StrCat(Host(entry.path), " changed while it was read; upload the tree again"));
    }
    const uint64_t budget = limits_.max_total_bytes - total_;
    absl::StatusOr<std::pair<Cid, uint64_t>> stored = sink_(entry.path, fd, budget);
    if (absl::IsResourceExhausted(stored.status()) && stored.status().message() == kOverBudget) {
      return absl::ResourceExhaustedError(
          mesh::StrCat("the files of ", root_.string(), " pass ", limits_.max_total_bytes,
                       " bytes in all (at ", entry.path, "), the limit of a tree"));
    }
    MESH_RETURN_IF_ERROR(stored.status());
    entry.kind = EntryKind::kFile;
    entry.cid = stored->first;
    entry.size = stored->second;
    total_ += entry.size;
    return absl::OkStatus();
  }

  const FileSink& sink_;
  const std::filesystem::path root_;
  const ManifestLimits& limits_;
  DirManifest manifest_;
  uint64_t total_ = 0;
};

// Opens, below `root_fd`, the directory `dir` (components of a path inside the tree), never
// through a symlink.
absl::StatusOr<ScopedFd> OpenBelow(int root_fd, std::string_view dir, const std::string& shown) {
  ScopedFd current(::dup(root_fd));
  if (!current.valid()) return ErrnoToStatus(errno, shown);
  size_t start = 0;
  while (start < dir.size()) {
    size_t end = dir.find('/', start);
    if (end == std::string_view::npos) end = dir.size();
    const std::string component(dir.substr(start, end - start));
    const int next =
        ::openat(current.get(), component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return ErrnoToStatus(errno, shown);
    current.Reset(next);
    start = end + 1;
  }
  return current;
}

// Resolves `target` from the directory `dir` (components), following the tree's symlinks as
// the kernel would: `dir` becomes where the target leads. False once a step leaves the root.
bool ResolveInside(const absl::flat_hash_map<std::string_view, const DirEntry*>& entries,
                   std::vector<std::string_view>& dir, std::string_view target, int& hops) {
  if (target.empty() || target.front() == '/') return false;
  size_t start = 0;
  while (start <= target.size()) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    const std::string_view component = target.substr(start, end - start);
    start = end + 1;
    if (component.empty() || component == ".") continue;
    if (component == "..") {
      if (dir.empty()) return false;
      dir.pop_back();
      continue;
    }
    dir.push_back(component);
    std::string joined;
    for (std::string_view c : dir) joined.append(joined.empty() ? "" : "/").append(c);
    auto it = entries.find(joined);
    if (it != entries.end() && it->second->kind == EntryKind::kSymlink) {
      if (++hops > 40) return false;  // the kernel's ELOOP limit
      dir.pop_back();
      if (!ResolveInside(entries, dir, it->second->target, hops)) return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<DirManifest> WalkDirectory(const std::filesystem::path& root,
                                          const ManifestLimits& limits, const FileSink& sink) {
  struct stat st;
  if (::stat(root.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(mesh::StrCat(root.string(), " is not a directory"));
  }
  MESH_ASSIGN_OR_RETURN(ScopedFd root_fd, OpenFile(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  Importer importer(sink, root, limits);
  MESH_RETURN_IF_ERROR(importer.Walk(root_fd.get(), ""));
  SortEntries(importer.manifest());  // the walk's order ("a", then "a/b", then "a-b") is not
  MESH_RETURN_IF_ERROR(CheckManifest(importer.manifest(), limits));
  return std::move(importer.manifest());
}

absl::StatusOr<ImportResult> ImportDirectory(BlobStore& store, const std::filesystem::path& root,
                                             const ManifestLimits& limits) {
  MESH_ASSIGN_OR_RETURN(
      DirManifest manifest,
      WalkDirectory(root, limits, [&store](const std::string&, int fd, uint64_t budget) {
        return StoreFile(store, fd, budget);
      }));
  MESH_ASSIGN_OR_RETURN(Cid cid, PutManifest(store, manifest, limits));
  return ImportResult{cid, std::move(manifest)};
}

absl::StatusOr<ImportResult> ScanDirectory(const std::filesystem::path& root,
                                           const ManifestLimits& limits) {
  MESH_ASSIGN_OR_RETURN(
      DirManifest manifest,
      WalkDirectory(root, limits, [](const std::string&, int fd, uint64_t budget) {
        return HashFile(fd, budget);
      }));
  const Cid cid = Cid::Of(EncodeManifest(manifest), Codec::kDagJson);
  return ImportResult{cid, std::move(manifest)};
}

absl::Status CheckSymlinksStayInside(const DirManifest& manifest) {
  absl::flat_hash_map<std::string_view, const DirEntry*> entries;
  for (const DirEntry& e : manifest.entries) entries[e.path] = &e;
  for (const DirEntry& e : manifest.entries) {
    if (e.kind != EntryKind::kSymlink) continue;
    std::vector<std::string_view> dir;
    const std::string_view parent = ParentPath(e.path);
    for (size_t start = 0; start < parent.size();) {
      size_t end = parent.find('/', start);
      if (end == std::string_view::npos) end = parent.size();
      dir.push_back(parent.substr(start, end - start));
      start = end + 1;
    }
    int hops = 0;
    if (!ResolveInside(entries, dir, e.target, hops)) {
      return absl::InvalidArgumentError(
          mesh::StrCat("symlink ", e.path, " -> ", e.target,
                       " leads out of the tree (or loops); it is not written"));
    }
  }
  return absl::OkStatus();
}

absl::Status ExportTree(BlobStore& store, const DirManifest& manifest,
                        const std::filesystem::path& dest) {
  return ExportTree(manifest, dest, [&store](const DirEntry& e, int fd) -> absl::Status {
    absl::Status copied = store.CopyTo(*e.cid, fd);
    if (absl::IsNotFound(copied)) {
      return absl::NotFoundError(mesh::StrCat("blob ", e.cid->ToString(), " of ", e.path,
                                              " is not in the blob store; fetch it first"));
    }
    return copied;
  });
}

absl::Status ExportTree(const DirManifest& manifest, const std::filesystem::path& dest,
                        const FileWriter& write_file) {
  MESH_RETURN_IF_ERROR(CheckManifest(manifest, ManifestLimits{
                                                   .max_entries = manifest.entries.size(),
                                                   .max_total_bytes = UINT64_MAX,
                                               }));
  MESH_RETURN_IF_ERROR(CheckSymlinksStayInside(manifest));
  if (::mkdir(dest.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, dest.string());
  }
  MESH_ASSIGN_OR_RETURN(ScopedFd root,
                        OpenFile(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(::dup(root.get())), &::closedir);
    if (dir == nullptr) return ErrnoToStatus(errno, dest.string());
    while (dirent* d = ::readdir(dir.get())) {
      const std::string_view name = d->d_name;
      if (name != "." && name != "..") {
        return absl::FailedPreconditionError(
            mesh::StrCat(dest.string(), " is not empty; name a new or empty directory"));
      }
    }
  }
  for (const DirEntry& e : manifest.entries) {
    const std::string shown = (dest / e.path).string();
    MESH_ASSIGN_OR_RETURN(ScopedFd parent, OpenBelow(root.get(), ParentPath(e.path), shown));
    const std::string name(BaseName(e.path));
    switch (e.kind) {
      case EntryKind::kDirectory:
        if (::mkdirat(parent.get(), name.c_str(), 0755) != 0) return ErrnoToStatus(errno, shown);
        break;
      case EntryKind::kSymlink:
        if (::symlinkat(e.target.c_str(), parent.get(), name.c_str()) != 0) {
          return ErrnoToStatus(errno, shown);
        }
        break;
      case EntryKind::kFile: {
        const int fd = ::openat(parent.get(), name.c_str(),
                                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) return ErrnoToStatus(errno, shown);
        ScopedFd file(fd);
        MESH_RETURN_IF_ERROR(write_file(e, fd));
        break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace mesh::cas
