// Host directories as a job's files: reading one into an FsMount (`mesh run --dir`) and writing
// a job's output files into one (`mesh run --output-dir`). For callers on the host; the worker
// never uses these (it opens no host file).
//
// Reading never follows a symlink (it is recorded as a link, and the sandbox resolves it inside
// the mount), refuses sockets, FIFOs and devices by name, and is bounded in entries and bytes.
// Writing creates nothing outside its destination: paths are checked, nothing is written
// through a symlink the job made, and an existing file is never overwritten.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mesh/wasm/fs_image.h"

namespace mesh::wasm {

struct HostTreeLimits {
  uint64_t max_bytes = 256ull << 20;  // the files' bytes, in all
  uint64_t max_entries = 100'000;     // files, directories and symlinks
};

// "/data/", "//data/./x" → "/data", "/data/x"; "/" stays "/". InvalidArgument (naming `path`)
// for a relative path, a ".." component, a NUL byte or one longer than 4096 bytes.
absl::StatusOr<std::string> NormaliseGuestPath(std::string_view path);

// Reads the directory `dir` into a mount at `guest_path` (normalised by the caller), its nodes
// sorted by path, parents first. Files' bytes are held (Owned pieces without a CID).
// NotFound / FailedPrecondition (not a directory, a special file, unreadable: each named),
// ResourceExhausted past `limits`.
absl::StatusOr<FsMount> ReadHostTree(const std::filesystem::path& dir, std::string guest_path,
                                     bool read_only, const HostTreeLimits& limits);

// Writes `files` (an output directory's, parents first) under `dest`, which must not exist or be
// an empty directory; it is created with its parents. A path that is not relative and
// normalised, or that passes through a symlink among `files`, is refused before anything of it
// is written (InvalidArgument naming it).
absl::Status WriteOutputFiles(const std::vector<OutputFile>& files,
                              const std::filesystem::path& dest);

}  // namespace mesh::wasm
