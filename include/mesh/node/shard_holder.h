// ShardHolder: this node as a holder of other nodes' shards. A StoreShards request is checked
// (sizes, count), reserved against [storage] quota (shards the owner already has here count
// once), then each shard is pulled from the owner by CID (the fetch checks the bytes against the
// CID; the size must be the one declared) into the blob store and recorded in StoreDb. A request
// that fails part-way leaves nothing behind: the shards it fetched are deleted and the
// reservation released. DropShards forgets the shards and deletes the blobs nobody else needs.
//
// Store blocks for the transfers (it runs on a transport thread); at most
// `max_concurrent_stores` run at once and more are refused as Unavailable (retry), so owners
// cannot tie up every server thread. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/blob_store.h"
#include "mesh/common/clock.h"
#include "mesh/job/market.h"
#include "mesh/node/store_db.h"

namespace mesh::node {

struct ShardHolderOptions {
  uint64_t quota_bytes = 1ull << 30;  // 0: hold nothing for others
  int max_concurrent_stores = 4;
  uint64_t max_shard_bytes = 1ull << 30;
};

class ShardHolder {
 public:
  // Pulls shard `cid` (exactly `bytes` bytes) from the node `did` at `address` into the blob
  // store, checked against its CID.
  using FetchShard = std::function<absl::Status(const std::string& did, const std::string& address,
                                                const std::string& cid, uint64_t bytes)>;

  static absl::StatusOr<std::unique_ptr<ShardHolder>> Create(ShardHolderOptions options,
                                                             std::string self_did, StoreDb* db,
                                                             cas::BlobStore* blobs,
                                                             const Clock* clock, FetchShard fetch);

  // From the TLS-authenticated `peer` (the request's signer).
  absl::StatusOr<job::ShardsHeld> Store(const std::string& peer, const job::StoreShards& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<job::ShardsHeld> Drop(const std::string& peer, const job::DropShards& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The hash of the range the owner asks for, of a shard held for it (NotFound otherwise;
  // OutOfRange past the shard's end).
  absl::StatusOr<job::AuditProof> Audit(const std::string& peer,
                                        const job::AuditChallenge& challenge);

  // A shard held here for another node, from `offset`, for a peer that fetches it; nullopt when
  // `cid` is not a held shard. Served as stored, without hashing it again: whoever fetches a
  // shard checks it against its CID (a get, a repair, a job's input), and the owner's audits
  // find a holder whose shards have rotted (the blob store's verifying reader would hash each
  // shard on the serving side too: a tenth of a get's time on this project's machine).
  absl::StatusOr<std::optional<std::unique_ptr<cas::ByteSource>>> OpenHeld(const cas::Cid& cid,
                                                                           uint64_t offset);

  // Room left under the quota (what heartbeats advertise).
  uint64_t free_bytes() ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t held_bytes() ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t quota_bytes() const { return options_.quota_bytes; }

 private:
  ShardHolder(ShardHolderOptions options, std::string self_did, StoreDb* db, cas::BlobStore* blobs,
              const Clock* clock, FetchShard fetch, uint64_t held);
  uint64_t FreeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteBlobs(const std::vector<std::string>& cids);

  const ShardHolderOptions options_;
  const std::string self_;
  StoreDb* const db_;
  cas::BlobStore* const blobs_;
  const Clock* const clock_;
  const FetchShard fetch_;

  absl::Mutex mu_;
  uint64_t held_ ABSL_GUARDED_BY(mu_);
  uint64_t reserved_ ABSL_GUARDED_BY(mu_) = 0;  // requests being fetched
  int storing_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mesh::node
