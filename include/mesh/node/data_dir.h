// DataDir: where a node keeps its state, and the one place that knows the layout.
//
//   identity.key   the node's Ed25519 key (0600)          jobs.db    job database (SQLite, WAL)
//   api.token      bearer token for changing requests (0600)   store/  blob store
//   meshd.toml     configuration (optional)               meshd.url  where a running node listens
//   meshd.lock     held (flock) by the running meshd, so two daemons never share a data dir
//
// InitDataDir creates what is missing and never replaces an existing key or token.
// Value type; the functions touch the file system and are safe to call from several threads.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "mesh/common/file_util.h"
#include "mesh/common/rng.h"

namespace mesh::node {

struct DataDir {
  std::filesystem::path root;

  std::filesystem::path key_path() const { return root / "identity.key"; }
  std::filesystem::path token_path() const { return root / "api.token"; }
  std::filesystem::path config_path() const { return root / "meshd.toml"; }
  std::filesystem::path db_path() const { return root / "jobs.db"; }
  std::filesystem::path store_dir() const { return root / "store"; }
  // Stored files: the shards held for peers, the files this node placed (node/store_db.h).
  std::filesystem::path storage_db_path() const { return root / "storage.db"; }
  // Shards being placed (node/shard_staging.h); wiped at every start.
  std::filesystem::path staging_dir() const { return root / "staging"; }
  std::filesystem::path url_path() const { return root / "meshd.url"; }
  std::filesystem::path lock_path() const { return root / "meshd.lock"; }
};

struct InitResult {
  bool created_key = false;
  bool created_token = false;
  bool created_config = false;
};

// Creates the directory (0700), the key, the token and a default meshd.toml if missing.
absl::StatusOr<InitResult> InitDataDir(const DataDir& dir, Rng& rng);
// Reads the token, refusing a file that others can read.
absl::StatusOr<std::string> ReadApiToken(const DataDir& dir);
// Takes the data dir's lock; FailedPrecondition naming the holder's URL if a node runs there.
absl::StatusOr<ScopedFd> LockDataDir(const DataDir& dir);

}  // namespace mesh::node
