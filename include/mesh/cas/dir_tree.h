// Host directories in and out of the blob store as directory manifests (dir_manifest.h).
//
// ImportDirectory walks a host directory and stores each regular file as a raw blob, file by
// file (streamed, never a whole tree in memory), then the manifest. Symlinks are recorded as
// links with their target and never followed; FIFOs, sockets and devices are refused, naming the
// path. The walk is bounded by ManifestLimits (entries, bytes, path length): past one it stops
// with ResourceExhausted naming the limit. Blobs stored before an error stay in the store
// (content-addressed: harmless, and the next import reuses them).
//
// ExportTree writes a manifest's tree under a host directory, each file verified against its CID
// before a byte is written (BlobStore::CopyTo). Every path is created below `dest` with
// O_NOFOLLOW at each step, never through a symlink, and a symlink whose target is absolute or
// leads out of `dest` is refused: a tree from a peer cannot write or point outside `dest`.
// Thread-compatible: no shared state beside the store (which is thread-safe).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "mesh/cas/blob_store.h"
#include "mesh/cas/dir_manifest.h"

namespace mesh::cas {

struct ImportResult {
  Cid manifest_cid;
  DirManifest manifest;
};

absl::StatusOr<ImportResult> ImportDirectory(BlobStore& store, const std::filesystem::path& root,
                                             const ManifestLimits& limits = {});

// The same walk and checks as ImportDirectory, storing nothing: each file is only hashed. The
// manifest and its CID are what ImportDirectory would store (a client lists a tree, then uploads
// its files and the manifest to a node).
absl::StatusOr<ImportResult> ScanDirectory(const std::filesystem::path& root,
                                           const ManifestLimits& limits = {});

// Where the walk puts a regular file: `fd` is the file, open for reading, at `path` in the tree;
// the sink reads it to its end, at most `budget` bytes (the tree's bytes left), and returns its
// CID and size. Past the budget it returns ResourceExhausted with the message kOverBudget, which
// the walk turns into an error naming the tree's limit.
inline constexpr char kOverBudget[] = "over budget";
using FileSink = std::function<absl::StatusOr<std::pair<Cid, uint64_t>>(const std::string& path,
                                                                        int fd, uint64_t budget)>;
// The walk of ImportDirectory and ScanDirectory with another sink (`mesh run --dir` keeps each
// file's bytes): the manifest, sorted and checked.
absl::StatusOr<DirManifest> WalkDirectory(const std::filesystem::path& root,
                                          const ManifestLimits& limits, const FileSink& sink);

// `dest` must be an empty directory or not exist (it is then created, its parent must exist).
absl::Status ExportTree(BlobStore& store, const DirManifest& manifest,
                        const std::filesystem::path& dest);
// The same, with each file's bytes written to its new file by `write_file` (a download that
// checks the bytes against the entry's CID, say), once the checks above have passed.
using FileWriter = std::function<absl::Status(const DirEntry& entry, int fd)>;
absl::Status ExportTree(const DirManifest& manifest, const std::filesystem::path& dest,
                        const FileWriter& write_file);

// OK when every symlink of the tree, resolved from its directory through the tree's own entries
// (following the tree's symlinks, as the kernel would), stays inside the tree; otherwise
// InvalidArgument naming the first link that leads out (absolute targets included).
absl::Status CheckSymlinksStayInside(const DirManifest& manifest);

}  // namespace mesh::cas
