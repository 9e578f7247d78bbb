// UserStore: the API's users, kept in <data_dir>/users.db. Each user has a name, a role
// (role.h), a bearer token, an optional expiry, per-token limits (requests per second, jobs in
// flight) and a DID of its own: the node keeps the user's Ed25519 key and signs the jobs the
// user submits with it, so each job is submitted, escrowed and paid as that user, and its
// credits are the user's account in the ledger.
//
// Tokens are 32 random bytes (64 hex digits), shown once when made. Only their SHA-256 is
// stored; a token is found by its hash and the hashes compared in constant time. A token is
// random, so a fast hash is as good as a slow one here: there is nothing to guess.
//
// The data dir's api.token is user "admin" (role admin, the node's own DID and key, no
// limits): a node upgraded to accounts keeps working with the token it has. Its token is the
// file's, read at every start; rotating it means replacing that file.
//
// Blob grants: what a user uploaded it may read back (other users' blobs need admin).
//
// Thread-safe: reads come from memory, writes go to SQLite first and then to memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/accounts/role.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"

struct sqlite3;

namespace mesh::accounts {

inline constexpr std::string_view kNodeAdmin = "admin";
inline constexpr size_t kMaxUsers = 10'000;
inline constexpr size_t kMaxGrantsPerUser = 100'000;

struct User {
  std::string name;
  Role role = Role::kRead;
  std::string did;  // did:key of the user's own key
  absl::Time created_at = absl::UnixEpoch();
  std::optional<absl::Time> expires_at;  // nullopt: never
  int64_t requests_per_second = 0;       // 0: unlimited
  int64_t max_jobs_in_flight = 0;        // 0: unlimited
  bool node_identity = false;            // the data dir's api.token: signs as the node
};

struct NewUser {
  std::string name;  // 1-32 of [a-z0-9._-], starting with a letter or digit
  Role role = Role::kRead;
  std::optional<absl::Time> expires_at;
  int64_t requests_per_second = 0;
  int64_t max_jobs_in_flight = 0;
};

struct IssuedToken {
  User user;
  std::string token;  // shown once: only its hash is kept
};

// InvalidArgument naming the rule when `name` is not a valid user name.
absl::Status CheckUserName(std::string_view name);

class UserStore {
 public:
  // Opens (creating) the database at `path`. `node_key` and `node_token` are the data dir's
  // identity and api.token: they become (or refresh) user "admin", created at `now` if new.
  // `rng` makes tokens and keys and must outlive the store.
  static absl::StatusOr<std::unique_ptr<UserStore>> Open(const std::filesystem::path& path,
                                                         const crypto::KeyPair& node_key,
                                                         std::string_view node_token, Rng& rng,
                                                         absl::Time now);
  ~UserStore();
  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  // The user holding `token` at `now`. Unauthenticated (with the reason: unknown or expired)
  // otherwise.
  absl::StatusOr<User> Authenticate(std::string_view token, absl::Time now) const;

  // AlreadyExists for a taken name; ResourceExhausted past kMaxUsers.
  absl::StatusOr<IssuedToken> Add(const NewUser& user, absl::Time now);
  // NotFound for an unknown name; FailedPrecondition for "admin" (the node's own).
  absl::Status Remove(std::string_view name);
  // A new token for `name`; the old one stops working at once.
  absl::StatusOr<IssuedToken> Rotate(std::string_view name);
  absl::StatusOr<User> Get(std::string_view name) const;
  std::vector<User> List() const;  // by name

  // The key that signs `name`'s jobs; nullopt for the node's admin (it signs as the node).
  absl::StatusOr<std::optional<crypto::KeyPair>> SigningKey(std::string_view name) const;

  // Records that `did` uploaded blob `cid` (idempotent).
  absl::Status Grant(std::string_view did, std::string_view cid);
  bool Granted(std::string_view did, std::string_view cid) const;

 private:
  struct Entry {
    User user;
    std::string token_hash;  // SHA-256 of the token, 32 bytes
    std::string seed;        // the user's Ed25519 seed; empty for the node's admin
  };
  explicit UserStore(sqlite3* db, Rng& rng);
  absl::Status Load() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Write(const Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewToken() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  sqlite3* const db_;
  Rng& rng_ ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> name_by_hash_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> grants_per_did_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::accounts
