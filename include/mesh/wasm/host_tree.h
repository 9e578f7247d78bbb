// A job's files and host directories: reading a host directory into an FsMount (`mesh run
// --dir`), and turning the files a job left in its output directory into a directory manifest
// (cas/dir_manifest.h), which a node stores (its files_cid) and `mesh run --output-dir` writes
// out. For callers on the host; the worker never uses these (it opens no host file).
//
// Both sides use the cas module's tree rules, so a tree behaves the same under `mesh run` as on
// the mesh: reading is cas::WalkDirectory (symlinks recorded, never followed; FIFOs, sockets
// and devices refused by name; bounded), writing is cas::ExportTree (nothing written outside
// the destination or through a symlink, no link that leads out, no file overwritten).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mesh/cas/cid.h"
#include "mesh/cas/dir_manifest.h"
#include "mesh/wasm/fs_image.h"

namespace mesh::wasm {

struct HostTreeLimits {
  uint64_t max_bytes = 256ull << 20;  // the files' bytes, in all
  uint64_t max_entries = 100'000;     // files, directories and symlinks
};

// Reads the directory `dir` into a mount at `guest_path` (normalised by the caller), its nodes
// in the manifest's order (parents first). Files' bytes are held, with their CIDs.
// NotFound / FailedPrecondition (not a directory, a special file, unreadable: each named),
// InvalidArgument (a name a tree may not hold), ResourceExhausted past `limits`.
absl::StatusOr<FsMount> ReadHostTree(const std::filesystem::path& dir, std::string guest_path,
                                     bool read_only, const HostTreeLimits& limits);

// The manifest of an output directory's files: each file's CID from `put_file` (which may store
// the bytes), the directories a listing left out added, sorted and checked (InvalidArgument
// naming a path that is not relative and normalised, or that lies under a symlink).
using PutFile = std::function<absl::StatusOr<cas::Cid>(const std::string& bytes)>;
absl::StatusOr<cas::DirManifest> OutputManifest(const std::vector<OutputFile>& files,
                                                const PutFile& put_file);

// Writes `files` under `dest` (cas::ExportTree's rules), which must not exist or be an empty
// directory; its parents are created. Everything is checked before anything is written.
absl::Status WriteOutputFiles(const std::vector<OutputFile>& files,
                              const std::filesystem::path& dest);

}  // namespace mesh::wasm
