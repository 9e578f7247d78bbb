// DirManifest: a directory tree as content-addressed blocks. The manifest lists every entry of
// the tree (directories, files with the CID and size of their blob, symlinks with their target)
// and is stored as one dag-json block; its CID is the tree's handle. The same tree always gives
// the same bytes, hence the same CID: keys sorted, no whitespace, entries sorted by path (bytes,
// so a directory comes before everything under it), links written as dag-json links
// ({"/": "<cid>"}):
//
//   {"entries":[{"kind":"dir","path":"a"},
//               {"cid":{"/":"bafkrei..."},"kind":"file","path":"a/x.txt","size":5},
//               {"kind":"symlink","path":"l","target":"a/x.txt"}],
//    "type":"mesh/dir","version":1}
//
// ParseManifest is the one way from untrusted bytes to a manifest: a size limit first, then the
// JSON, each entry's fields, the paths (relative, normalised, no "." or "..", parents listed and
// directories), order and duplicates, the limits, and last that the bytes are the canonical
// encoding (so one tree has one CID). Each refusal names the entry and what is wrong.
// Plain value types; the functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/cas/blob_store.h"
#include "mesh/cas/cid.h"

namespace mesh::cas {

inline constexpr std::string_view kManifestType = "mesh/dir";
inline constexpr int kManifestVersion = 1;

enum class EntryKind : uint8_t { kFile = 0, kDirectory = 1, kSymlink = 2 };
std::string_view EntryKindName(EntryKind kind);  // "file", "dir", "symlink"

struct DirEntry {
  // Relative to the tree's root: components joined by '/', none empty, "." or "..".
  std::string path;
  EntryKind kind = EntryKind::kFile;
  std::optional<Cid> cid;  // kFile: the blob (a raw CID)
  uint64_t size = 0;       // kFile: the blob's size
  std::string target;      // kSymlink: the target as written (never resolved here)

  friend bool operator==(const DirEntry&, const DirEntry&) = default;
};

struct DirManifest {
  std::vector<DirEntry> entries;  // sorted by path; parents before children

  uint64_t TotalFileBytes() const;
  size_t FileCount() const;
  friend bool operator==(const DirManifest&, const DirManifest&) = default;
};

// Bounds on a tree: what a manifest may list, and what an import may read.
struct ManifestLimits {
  size_t max_entries = 100'000;
  uint64_t max_total_bytes = 1ull << 30;  // the files' sizes together
  size_t max_path_bytes = 1024;           // an entry's path, and a symlink's target
  size_t max_component_bytes = 255;       // one component of a path (NAME_MAX)
  size_t max_manifest_bytes = 16ull << 20;
};

// Checks one relative path: UTF-8, no control characters, components non-empty and neither "."
// nor "..", no leading or trailing '/', within the limits. `what` names it in errors.
absl::Status CheckRelativePath(std::string_view path, const ManifestLimits& limits,
                               std::string_view what);

// Checks a whole manifest as ParseManifest does (paths, kinds, order, duplicates, parents,
// limits). Sorts nothing: `entries` must already be in order.
absl::Status CheckManifest(const DirManifest& manifest, const ManifestLimits& limits);

// Sorts the entries by path (what a builder calls before CheckManifest and Encode).
void SortEntries(DirManifest& manifest);

// The canonical bytes. The manifest must pass CheckManifest.
std::string EncodeManifest(const DirManifest& manifest);

absl::StatusOr<DirManifest> ParseManifest(std::string_view bytes, const ManifestLimits& limits);

// Checks, encodes and stores the manifest (a dag-json block); returns its CID.
absl::StatusOr<Cid> PutManifest(BlobStore& store, const DirManifest& manifest,
                                const ManifestLimits& limits = {});

// Reads the manifest `cid` from the store (verified against its CID) and parses it. NotFound
// names the CID; a CID that is not dag-json is InvalidArgument (a file, not a tree).
absl::StatusOr<DirManifest> GetManifest(BlobStore& store, const Cid& cid,
                                        const ManifestLimits& limits = {});

// The path's parent ("" for an entry at the root) and last component.
std::string_view ParentPath(std::string_view path);
std::string_view BaseName(std::string_view path);

}  // namespace mesh::cas
