// StdinPiece: bytes a job reads that are held outside its JobInput (a stdin piece, a mounted
// file). Plain value type.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace mesh::wasm {

// A piece of a job's stdin held outside the JobInput, read-only: bytes of an input blob the
// node has verified against `cid` (a cached input shared by many jobs, or a worker's mapping of
// the node's shared memory). `keep` keeps `bytes` alive.
struct StdinPiece {
  std::string cid;  // the blob's CID; empty: bytes without a name (sent inline to workers)
  std::string_view bytes;
  std::shared_ptr<const void> keep;

  // A piece owning `bytes`.
  static StdinPiece Owned(std::string cid, std::string bytes);
};

}  // namespace mesh::wasm
