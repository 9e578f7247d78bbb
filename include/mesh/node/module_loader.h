// ModuleLoader: a job's module and input bytes from the blob store. Modules are kept in memory
// by CID (least recently used dropped first past a byte budget) because the same module runs
// many times and the worker pool wants shared, immutable bytes. Inputs are read per job, except
// an input read a second time (a split job's broadcast input, which every chunk gets whole): it
// joins the same cache, so it is read and hashed once, not once per chunk. The blob store
// verifies every byte against its CID on the way in. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/blob_store.h"
#include "mesh/wasm/job_host.h"

namespace mesh::node {

class ModuleLoader {
 public:
  ModuleLoader(cas::BlobStore* blobs, uint64_t cache_bytes, uint64_t max_module_bytes)
      : blobs_(blobs), cache_bytes_(cache_bytes), max_module_bytes_(max_module_bytes) {}

  absl::StatusOr<std::shared_ptr<const std::string>> Module(const std::string& cid);
  // The inputs concatenated, at most `max_bytes` in all.
  absl::StatusOr<std::string> Input(const std::vector<std::string>& cids, uint64_t max_bytes);
  // The same inputs as stdin pieces named by their CIDs, at most `max_bytes` in all, without
  // concatenating them: a cached input is shared, not copied (the worker pool passes large
  // ones to workers as shared memory, exec/shared_input.h).
  absl::StatusOr<std::vector<wasm::StdinPiece>> InputPieces(const std::vector<std::string>& cids,
                                                            uint64_t max_bytes);

 private:
  std::shared_ptr<const std::string> Cached(const std::string& cid) ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const std::string> Keep(const std::string& cid, std::string bytes)
      ABSL_LOCKS_EXCLUDED(mu_);

  cas::BlobStore* blobs_;
  const uint64_t cache_bytes_;
  const uint64_t max_module_bytes_;
  absl::Mutex mu_;
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // front = most recent
  struct Entry {
    std::shared_ptr<const std::string> bytes;
    std::list<std::string>::iterator pos;
  };
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  uint64_t cached_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Inputs read once (not cached yet); forgotten all at once when it grows past a bound.
  absl::flat_hash_set<std::string> inputs_seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::node
