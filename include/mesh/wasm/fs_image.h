// The files a job sees: directory trees mounted at guest paths (WASI preopens), and the files a
// job leaves in its output directory. Plain value types, shared by the host (wasi_fs.h), the
// worker protocol and the callers that build images (mesh run --dir, a node's job mounts).
//
// An image is data, never a host path: the worker process does not open host files (its seccomp
// allow-list has no open). File bytes are StdinPiece views, so a mounted blob is held once, in
// the node's cache or a worker's mapping of shared memory, however many jobs read it. Writes go
// to a private copy in the worker (copy on write), bounded by Limits::fs_bytes and
// Limits::fs_files; the mounted bytes are never changed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mesh/wasm/stdin_piece.h"

namespace mesh::wasm {

enum class FsKind : uint8_t { kFile = 0, kDirectory = 1, kSymlink = 2 };

// One entry of a mounted tree.
struct FsNode {
  // Relative to the mount: components joined by '/', none empty, "." or "..", no leading or
  // trailing '/'. A node's parent directory comes before it in FsMount::nodes.
  std::string path;
  FsKind kind = FsKind::kFile;
  // kFile: the bytes (cid: the blob's CID when known). kSymlink: the target, as written (it is
  // resolved inside the mount at each use; one that leads outside is refused). kDirectory: empty.
  StdinPiece content;
};

struct FsMount {
  std::string guest_path;  // absolute and normalised: "/data", "/" is allowed
  bool read_only = true;   // writable mounts are private copies: the source never changes
  std::vector<FsNode> nodes;
};

// A file the job left under its output directory, read back after the run.
struct OutputFile {
  std::string path;  // relative to the output directory, as FsNode::path
  FsKind kind = FsKind::kFile;
  std::string bytes;  // kFile: the contents; kSymlink: the target; kDirectory: empty
};

}  // namespace mesh::wasm
