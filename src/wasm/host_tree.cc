#include "mesh/wasm/host_tree.h"

#include <unistd.h>

#include <system_error>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "mesh/cas/dir_tree.h"
#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/wasm/wasi_fs.h"

namespace mesh::wasm {
namespace stdfs = std::filesystem;

namespace {

// Reads an open file to its end, at most `budget` bytes, into `out`.
absl::StatusOr<std::pair<cas::Cid, uint64_t>> KeepFile(int fd, uint64_t budget, std::string& out) {
  std::string buffer(1 << 16, '\0');
  while (true) {
    MESH_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, buffer.data(), buffer.size()));
    if (n == 0) break;
    if (out.size() + n > budget) return absl::ResourceExhaustedError(cas::kOverBudget);
    out.append(buffer.data(), n);
  }
  return std::make_pair(cas::Cid::Of(out, cas::Codec::kRaw), out.size());
}

}  // namespace

absl::StatusOr<FsMount> ReadHostTree(const stdfs::path& dir, std::string guest_path, bool read_only,
                                     const HostTreeLimits& limits) {
  absl::flat_hash_map<std::string, std::string> bytes;
  const cas::ManifestLimits manifest_limits{.max_entries = limits.max_entries,
                                            .max_total_bytes = limits.max_bytes,
                                            .max_path_bytes = kMaxPathBytes};
  MESH_ASSIGN_OR_RETURN(
      cas::DirManifest manifest,
      cas::WalkDirectory(dir, manifest_limits,
                         [&bytes](const std::string& path, int fd, uint64_t budget) {
                           return KeepFile(fd, budget, bytes[path]);
                         }));
  FsMount mount{.guest_path = std::move(guest_path), .read_only = read_only};
  mount.nodes.reserve(manifest.entries.size());
  for (cas::DirEntry& e : manifest.entries) {
    FsNode node{.path = std::move(e.path)};
    switch (e.kind) {
      case cas::EntryKind::kDirectory:
        node.kind = FsKind::kDirectory;
        break;
      case cas::EntryKind::kSymlink:
        node.kind = FsKind::kSymlink;
        node.content = StdinPiece::Owned("", std::move(e.target));
        break;
      case cas::EntryKind::kFile:
        node.kind = FsKind::kFile;
        node.content = StdinPiece::Owned(e.cid->ToString(), std::move(bytes[node.path]));
        break;
    }
    mount.nodes.push_back(std::move(node));
  }
  return mount;
}

absl::StatusOr<cas::DirManifest> OutputManifest(const std::vector<OutputFile>& files,
                                                const PutFile& put_file) {
  cas::DirManifest manifest;
  absl::flat_hash_set<std::string> dirs, others;
  const cas::ManifestLimits limits;
  for (const OutputFile& f : files) {
    MESH_RETURN_IF_ERROR(cas::CheckRelativePath(f.path, limits, "output file " + f.path));
    cas::DirEntry entry{.path = f.path};
    switch (f.kind) {
      case FsKind::kDirectory:
        entry.kind = cas::EntryKind::kDirectory;
        dirs.insert(f.path);
        break;
      case FsKind::kSymlink:
        entry.kind = cas::EntryKind::kSymlink;
        entry.target = f.bytes;
        others.insert(f.path);
        break;
      case FsKind::kFile: {
        MESH_ASSIGN_OR_RETURN(cas::Cid cid, put_file(f.bytes));
        entry.kind = cas::EntryKind::kFile;
        entry.cid = cid;
        entry.size = f.bytes.size();
        others.insert(f.path);
        break;
      }
    }
    manifest.entries.push_back(std::move(entry));
  }
  // The parents a listing left out (the sandbox lists them; a tree is checked all the same).
  std::vector<std::string> missing;
  for (const cas::DirEntry& e : manifest.entries) {
    for (std::string_view p = cas::ParentPath(e.path); !p.empty(); p = cas::ParentPath(p)) {
      if (others.contains(std::string(p))) {
        return absl::InvalidArgumentError(mesh::StrCat("output file ", e.path, " lies under ", p,
                                                       ", which is not a directory; refused"));
      }
      if (dirs.insert(std::string(p)).second) missing.emplace_back(p);
    }
  }
  for (std::string& p : missing) {
    manifest.entries.push_back({.path = std::move(p), .kind = cas::EntryKind::kDirectory});
  }
  cas::SortEntries(manifest);
  MESH_RETURN_IF_ERROR(cas::CheckManifest(manifest, limits));
  return manifest;
}

absl::Status WriteOutputFiles(const std::vector<OutputFile>& files, const stdfs::path& dest) {
  absl::flat_hash_map<std::string_view, const std::string*> bytes;
  for (const OutputFile& f : files) bytes[f.path] = &f.bytes;
  MESH_ASSIGN_OR_RETURN(const cas::DirManifest manifest,
                        OutputManifest(files, [](const std::string& b) {
                          return cas::Cid::Of(b, cas::Codec::kRaw);
                        }));
  // ExportTree checks the links too, but only once `dest`'s parent exists: checked first here, a
  // refused tree creates no directory at all.
  MESH_RETURN_IF_ERROR(cas::CheckSymlinksStayInside(manifest));
  if (dest.has_parent_path()) {
    std::error_code ec;
    stdfs::create_directories(dest.parent_path(), ec);
    if (ec)
      return ErrnoToStatus(ec.value(), mesh::StrCat("creating ", dest.parent_path().string()));
  }
  return cas::ExportTree(manifest, dest, [&bytes](const cas::DirEntry& e, int fd) {
    return WriteAll(fd, *bytes.at(e.path));
  });
}

}  // namespace mesh::wasm
