// StoreDb: the node's book of stored files (<data_dir>/storage.db), both sides of it.
//  - As a holder: the shards it keeps for other nodes, per owner and file, with their sizes
//    (what counts against [storage] quota) and whether the blob was here before (a shard that
//    was also the node's own blob is never deleted when released).
//  - As an owner: the files it placed (the manifest's CID, its name, size and code, the API
//    user who stored it) and which peer holds shard i of every segment.
// Thread-safe (one mutex around the connection).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/storage/audit_sampler.h"

struct sqlite3;

namespace mesh::node {

struct HeldShard {
  std::string cid;
  uint64_t bytes = 0;
  bool preexisting = false;  // the blob was in the store before it was held
};

// Shard i of every segment of a file lives on one holder.
struct ShardPlacement {
  int index = 0;
  std::string did;
  std::string address;
  absl::Time last_ok = absl::UnixEpoch();     // placed, or last audit passed
  absl::Time last_audit = absl::UnixEpoch();  // last challenge sent
  int failures = 0;                           // audits failed in a row
  absl::Time paid_until = absl::UnixEpoch();  // its rent is paid up to here
};

// An audit the owner can put to a holder (storage/audit_sampler.h), kept until it is used.
using AuditRecord = storage::ShardAudit;

struct StoredFileRecord {
  std::string cid;  // the store manifest's
  std::string name;
  std::string user;  // the API user who stored it (DID); empty for the node itself
  uint64_t size = 0;
  int k = 0;  // 0 for a file stored inline in its manifest
  int m = 0;
  bool encrypted = true;
  uint64_t segments = 0;
  uint64_t stored_bytes = 0;  // its shards on the holders together
  absl::Time created;
  std::vector<ShardPlacement> holders;  // k+m, by index (none for an inline file)
};

class StoreDb {
 public:
  static absl::StatusOr<std::unique_ptr<StoreDb>> Open(const std::filesystem::path& path);
  ~StoreDb();

  // Holder side.
  absl::StatusOr<uint64_t> HeldBytes() ABSL_LOCKS_EXCLUDED(mu_);
  // Records the shards as held for (owner, file); already recorded ones are left as they are.
  absl::Status Hold(const std::string& owner, const std::string& file,
                    const std::vector<HeldShard>& shards, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether any owner's shard is this blob.
  absl::StatusOr<bool> IsHeld(const std::string& cid) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<HeldShard>> HeldFor(const std::string& owner, const std::string& file)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the shards (all of the file's when `cids` is empty). Returns the blobs no longer
  // held for anyone and not preexisting: the caller deletes them.
  absl::StatusOr<std::vector<std::string>> Release(const std::string& owner,
                                                   const std::string& file,
                                                   const std::vector<std::string>& cids)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Owner side.
  absl::Status AddFile(const StoredFileRecord& file) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::optional<StoredFileRecord>> File(const std::string& cid)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Newest first; `user` empty: everyone's.
  absl::StatusOr<std::vector<StoredFileRecord>> Files(const std::string& user, size_t limit)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RemoveFile(const std::string& cid) ABSL_LOCKS_EXCLUDED(mu_);
  // Shard `p.index` of `file` is now on p.did (after a repair): its audits start afresh.
  absl::Status ReplaceHolder(const std::string& file, const ShardPlacement& p)
      ABSL_LOCKS_EXCLUDED(mu_);
  // An audit of shard `index` of `file` was answered (`passed`) or failed, at `now`.
  absl::Status RecordAudit(const std::string& file, int index, bool passed, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The holder of shard `index` of `file` is paid (or forfeits its rent) up to `until`.
  absl::Status SetPaidUntil(const std::string& file, int index, absl::Time until)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Audits kept for later; each is used once.
  absl::Status AddAudits(const std::string& file, const std::vector<AuditRecord>& audits)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One unused audit of shard `index` of `file` (removed), or none left.
  absl::StatusOr<std::optional<AuditRecord>> TakeAudit(const std::string& file, int index)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ForgetAudits(const std::string& file, int index) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit StoreDb(sqlite3* db) : db_(db) {}
  absl::StatusOr<std::vector<ShardPlacement>> HoldersLocked(const std::string& cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_;
};

}  // namespace mesh::node
