// FileStore: files stored across the mesh, as their owner sees them (`mesh store`, the API's
// /v1/store). Put runs a file through the CES pipeline (storage/store_file.h), stages the
// shards (shard_staging.h: plain files, not the blob store), asks k+m distinct peers
// (storage::HolderChooser: room, reputation, zones) to each hold shard i of every segment (they
// pull them by CID), and once every holder confirmed, deletes the staged shards: the node keeps
// only the manifest. A put that cannot place every shard undoes itself (holders told to drop,
// staged shards deleted) and says which peers were left out and why. Get fetches any k shards of
// each segment in parallel, fastest holders first, with hedged requests for stragglers
// (storage::SegmentFetchPlan), checks each against its CID, rebuilds, decrypts, decompresses and
// writes the bytes in order (fetching the next segment while it opens this one). A file of at most
// inline_max_bytes lives in its manifest and needs no holder.
//
// Thread-safe: puts and gets may run concurrently; each blocks its caller for its transfers.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/blob_store.h"
#include "mesh/cas/byte_source.h"
#include "mesh/common/clock.h"
#include "mesh/common/rng.h"
#include "mesh/common/task_pool.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/node/shard_staging.h"
#include "mesh/node/storage_peers.h"
#include "mesh/node/store_db.h"
#include "mesh/storage/holder_chooser.h"
#include "mesh/storage/shard_fetch_plan.h"
#include "mesh/storage/store_file.h"

namespace mesh::node {

struct FileStoreOptions {
  storage::StoreOptions defaults;  // the code, segment size and inline threshold of [storage]
  // A holder answers a StoreShards once it pulled its shards: allow for the transfer.
  absl::Duration holder_timeout = absl::Minutes(5);
  absl::Duration fetch_timeout = absl::Minutes(5);  // one shard, on a get
  storage::ShardFetchOptions hedging;
  double min_reputation = 0.05;  // holders below it are not asked
  int transfers = 8;             // shard fetches in flight per node
};

struct PutRequest {
  std::string name;  // for listings; not part of the manifest
  std::string user;  // the API user's DID
  std::optional<int> k;
  std::optional<int> m;
  std::optional<bool> encrypt;
};

struct GetStats {
  storage::OpenStats open;
  uint64_t shards_fetched = 0;
  uint64_t fetches_failed = 0;
  uint64_t hedges = 0;
};

enum class AuditOutcome { kPassed, kFailed, kNoAnswer };
struct AuditResult {
  AuditOutcome outcome = AuditOutcome::kNoAnswer;
  std::string detail;  // why it failed
};

struct RepairResult {
  std::vector<int> repaired;        // shard indexes now on new holders
  std::vector<std::string> failed;  // "shard i: why"
};

struct RemoveResult {
  size_t holders_told = 0;
  std::vector<std::string> holders_unreachable;  // "did: why"
};

class FileStore {
 public:
  // `peers` may be null (the mesh is off): only inline files can be stored then. `staging`
  // keeps a put's or a repair's shards until their holders have pulled them.
  FileStore(FileStoreOptions options, const crypto::KeyPair* key, Rng* rng, const Clock* clock,
            cas::BlobStore* blobs, ShardStaging* staging, StoreDb* db, StoragePeers* peers);
  ~FileStore();

  absl::StatusOr<StoredFileRecord> Put(cas::ByteSource& source, const PutRequest& request);
  // NotFound for a file this node did not store.
  absl::StatusOr<GetStats> Get(const std::string& cid, const storage::PlainSink& sink);
  // What Get does once it has the file's manifest, holders and key (OpenFileKey's, or one
  // granted for a job): an executor reads another node's stored file with it (stored_inputs.h).
  // Only the segments of `range` are fetched and opened.
  absl::StatusOr<GetStats> Read(const storage::StoreManifest& manifest,
                                const std::vector<ShardPlacement>& holders, std::string key,
                                const storage::PlainSink& sink, storage::SegmentRange range = {});
  // The manifest of a file this node stored (or any stored-file manifest in its blob store).
  absl::StatusOr<storage::StoreManifest> LoadManifest(const std::string& cid);
  absl::StatusOr<StoredFileRecord> Stat(const std::string& cid);
  // Newest first; `user` empty: everyone's.
  absl::StatusOr<std::vector<StoredFileRecord>> List(const std::string& user, size_t limit);
  // Tells the holders to drop their shards and forgets the file. A holder that cannot be
  // reached is named in the result (its shards stay until it is told again: not built).
  absl::StatusOr<RemoveResult> Remove(const std::string& cid);
  // Which of the file's holders are in this node's active view right now, by shard index.
  std::vector<bool> HoldersAlive(const StoredFileRecord& file);

  // Upkeep (file_upkeep.cc; the StorageKeeper calls them). Audit asks the holder of shard
  // `index` for the hash of a range chosen at put time (none left: it fetches that shard of a
  // random segment whole and checks its CID, and keeps new audits from it), and records the
  // outcome. Repair rebuilds the shards `lost` from k others, segment by segment, and places
  // each index on a new peer (zone-spread against the holders that remain); the old holder is
  // told to drop its copy.
  absl::StatusOr<AuditResult> Audit(const StoredFileRecord& file, int index);
  absl::StatusOr<RepairResult> Repair(const StoredFileRecord& file, const std::vector<int>& lost);

 private:
  struct Staged {  // a shard staged by Put or Repair
    std::string cid;
    uint64_t bytes = 0;
  };
  absl::Status Place(const std::string& file, int n, const std::vector<std::vector<Staged>>& shards,
                     StoredFileRecord& record);
  // Places refs[i] on a holder of its own for each i (asked at once); none where no peer took
  // them.
  std::vector<std::optional<storage::HolderCandidate>> PlaceSlots(
      const std::string& file, const std::vector<std::vector<job::ShardRef>>& refs,
      storage::HolderChooser& chooser);
  absl::StatusOr<job::ShardsHeld> AskToHold(const storage::HolderCandidate& holder,
                                            const std::string& file,
                                            const std::vector<job::ShardRef>& shards);
  void TellToDrop(const std::string& file, const std::string& did, const std::string& address,
                  std::vector<std::string>* unreachable);
  // Fetches segments' shards in increasing order, the next one while the caller works on this
  // one (one segment ahead: k shards more in memory). One fetch at a time, so `typical_` and
  // the fetch counters in `stats` have one writer; the future's get() orders them with the
  // caller's reads. The destructor waits for a fetch still running.
  class ReadAhead {
   public:
    using Shards = absl::StatusOr<std::vector<std::optional<std::string>>>;
    ReadAhead(FileStore& store, const storage::StoreManifest& manifest,
              const std::vector<ShardPlacement>& holders, uint32_t end, GetStats& stats);
    ~ReadAhead();
    ReadAhead(const ReadAhead&) = delete;
    ReadAhead& operator=(const ReadAhead&) = delete;
    // Segment `segment`'s shards (FetchSegment); starts fetching segment + 1 if below `end`.
    Shards Fetch(uint32_t segment);

   private:
    FileStore& store_;
    const storage::StoreManifest& manifest_;
    const std::vector<ShardPlacement>& holders_;
    const uint32_t end_;
    GetStats& stats_;
    std::optional<absl::Duration> typical_;
    std::future<Shards> ahead_;
    uint32_t ahead_index_ = 0;
  };
  absl::StatusOr<std::vector<std::optional<std::string>>> FetchSegment(
      const storage::StoreManifest& manifest, uint32_t segment,
      const std::vector<ShardPlacement>& holders, std::optional<absl::Duration>& typical,
      GetStats& stats);
  // Puts shard `cid` (`bytes`, already hashed to it) in the blob store for a holder to pull.
  absl::StatusOr<Staged> Stage(const cas::Cid& cid, std::string_view bytes);
  void DeleteStaged(const std::vector<std::vector<Staged>>& shards);
  TaskPool& Transfers() ABSL_LOCKS_EXCLUDED(pool_mu_);

  const FileStoreOptions options_;
  const crypto::KeyPair* const key_;
  Rng* const rng_;
  const Clock* const clock_;
  cas::BlobStore* const blobs_;
  ShardStaging* const staging_;
  StoreDb* const db_;
  StoragePeers* const peers_;
  absl::Mutex pool_mu_;
  std::unique_ptr<TaskPool> transfers_ ABSL_GUARDED_BY(pool_mu_);  // made by the first get
};

}  // namespace mesh::node
