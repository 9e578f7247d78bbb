// ModuleLoader: a job's module and input bytes from the blob store. Modules are kept in memory
// by CID (least recently used dropped first past a byte budget) because the same module runs
// many times and the worker pool wants shared, immutable bytes; inputs are read per job. The
// blob store verifies every byte against its CID on the way. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/blob_store.h"

namespace mesh::node {

class ModuleLoader {
 public:
  ModuleLoader(cas::BlobStore* blobs, uint64_t cache_bytes, uint64_t max_module_bytes)
      : blobs_(blobs), cache_bytes_(cache_bytes), max_module_bytes_(max_module_bytes) {}

  absl::StatusOr<std::shared_ptr<const std::string>> Module(const std::string& cid);
  // The inputs concatenated, at most `max_bytes` in all.
  absl::StatusOr<std::string> Input(const std::vector<std::string>& cids, uint64_t max_bytes);

 private:
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
};

}  // namespace mesh::node
