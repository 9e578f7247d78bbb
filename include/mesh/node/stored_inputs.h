// StoredInputs: stored files (node/file_store.h) as job inputs. A spec's input may name a stored
// file by its manifest CID; stdin then carries the file's plain bytes.
//
// The node that stored the file (its owner) reads it with its own key. When it delegates such a
// job, each Assignment it sends carries a key grant for the one executor it names: the file key
// sealed to that executor's identity (crypto::SealTo), with the holders of the file's shards
// (GrantsFor). The executor keeps the grants of a job while it runs (Accept), fetches any k
// shards of each segment from the holders, rebuilds and decrypts in memory, and forgets the key
// when the job ends (Forget). No other node gets the key, and the plain bytes are never written
// to a blob store. A stored-file input without a grant is an error, never the manifest's bytes
// passed off as the input.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/job_spec.h"
#include "mesh/job/market.h"
#include "mesh/node/file_store.h"
#include "mesh/node/store_db.h"

namespace mesh::node {

class StoredInputs {
 public:
  StoredInputs(const crypto::KeyPair* key, StoreDb* db, FileStore* files);

  // Whether `cid` could name a stored file (a dag-json CID); its manifest decides.
  static bool MayBeStoredFile(std::string_view cid);

  // The stored files among `inputs` that this node stored (its own, which it can grant).
  std::vector<StoredFileRecord> OwnFiles(const std::vector<std::string>& inputs);

  // The plain size of each segment of `cid`, a file this node stored (a split job over its
  // segments: one chunk each). FailedPrecondition for any other input.
  absl::StatusOr<std::vector<uint64_t>> SegmentSizes(const std::string& cid);

  // Submitter. A delegated job's stored inputs (Register, when the market takes the job), and
  // the grants for the executor an Assignment names (empty when the job reads none).
  void Register(const std::string& job_id, const std::vector<std::string>& inputs)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<job::KeyGrant>> GrantsFor(const std::string& job_id,
                                                       const std::string& executor)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Executor. Keeps a job's grants until Forget (the job ended, or never started).
  void Accept(const std::string& job_id, std::vector<job::KeyGrant> grants)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Both sides: drops what is kept for the job.
  void Forget(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);

  // The plain bytes of input `cid` of job `job_id` (only those of `segment` when set), at most
  // `max_bytes`; nullopt when `cid` is not a stored file (an ordinary blob). FailedPrecondition
  // for a stored file this node neither stored nor was granted for the job.
  absl::StatusOr<std::optional<std::string>> Read(const std::string& job_id, const std::string& cid,
                                                  uint64_t max_bytes,
                                                  std::optional<uint32_t> segment = std::nullopt)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<std::string> ReadAll(const storage::StoreManifest& manifest,
                                      const std::vector<ShardPlacement>& holders, std::string key,
                                      const std::string& cid, uint64_t max_bytes,
                                      std::optional<uint32_t> segment);

  const crypto::KeyPair* const key_;
  StoreDb* const db_;
  FileStore* const files_;
  absl::Mutex mu_;
  std::map<std::string, std::vector<std::string>> delegated_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<job::KeyGrant>> granted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::node
