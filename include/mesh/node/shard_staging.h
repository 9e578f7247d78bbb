// ShardStaging: shards a put or a repair has sealed, kept until their holders have pulled them.
// They are plain files under <data dir>/staging/, named by CID, written without fsync, not
// hashed again (the sealer named each shard by hashing it a moment before) and not indexed:
// they live for one placement, and what a crash leaves behind is wiped when the node starts.
// Staging them in the blob store instead cost a put half its time on this project's machine
// (a hash, two fsyncs and an index row per 8 MiB shard, then the same again to delete them).
//
// Holders pull staged shards like any blob (MeshService::OpenBlob looks here first); a holder
// checks every shard against its CID, so a staged file is served as it is, unverified.
// Thread-safe: the same shard staged twice (two puts of the same bytes) stays until both
// have removed it.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/byte_source.h"
#include "mesh/cas/cid.h"

namespace mesh::node {

class ShardStaging {
 public:
  // Makes `dir` and removes whatever is in it (a crashed placement's leftovers).
  static absl::StatusOr<std::unique_ptr<ShardStaging>> Open(std::filesystem::path dir);

  // Stages `bytes`, which the caller hashed to `cid` itself.
  absl::Status Add(const cas::Cid& cid, std::string_view bytes);
  // Removes one staging of `cid` (the file goes with the last one). Unknown CIDs are ignored.
  void Remove(const cas::Cid& cid);
  // The staged shard from `offset`, or nullopt when `cid` is not staged here. OutOfRange for
  // an offset past its end.
  absl::StatusOr<std::optional<std::unique_ptr<cas::ByteSource>>> Open(const cas::Cid& cid,
                                                                       uint64_t offset);
  size_t staged() const;

 private:
  explicit ShardStaging(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path PathFor(const std::string& cid) const { return dir_ / cid; }

  const std::filesystem::path dir_;
  mutable absl::Mutex mu_;
  std::map<std::string, int> count_ ABSL_GUARDED_BY(mu_);  // CID -> stagings not yet removed
};

}  // namespace mesh::node
