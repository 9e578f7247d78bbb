#include "mesh/accounts/user_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"
#include "mesh/sqlite/sqlite.h"

namespace mesh::accounts {
namespace {

constexpr std::string_view kStore = "user database";
constexpr size_t kTokenBytes = 32;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  did TEXT NOT NULL,
  seed BLOB NOT NULL,
  token_hash BLOB NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  requests_per_second INTEGER NOT NULL,
  max_jobs_in_flight INTEGER NOT NULL,
  node_identity INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blob_grants (
  did TEXT NOT NULL,
  cid TEXT NOT NULL,
  PRIMARY KEY (did, cid)
) WITHOUT ROWID;
)sql";

std::string HashOf(std::string_view token) {
  const crypto::Digest d = crypto::Sha256Of(token);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

int64_t Millis(absl::Time t) { return absl::ToUnixMillis(t); }

}  // namespace

absl::Status CheckUserName(std::string_view name) {
  const auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  if (name.empty() || name.size() > 32 || !std::all_of(name.begin(), name.end(), ok) ||
      !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'))) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "user name \"", name.substr(0, 40),
        "\" is not valid: 1 to 32 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"));
  }
  return absl::OkStatus();
}

UserStore::UserStore(sqlite3* db, Rng& rng) : db_(db), rng_(rng) {}

UserStore::~UserStore() { sqlite3_close(db_); }

absl::StatusOr<std::unique_ptr<UserStore>> UserStore::Open(const std::filesystem::path& path,
                                                           const crypto::KeyPair& node_key,
                                                           std::string_view node_token, Rng& rng,
                                                           absl::Time now) {
  if (node_token.empty()) return absl::InvalidArgumentError("the node's API token is empty");
  // The file holds the users' signing keys: readable by meshd's user alone, like the node's key
  // (SQLite gives its -wal file the database's mode).
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || ::fchmod(fd, 0600) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return absl::PermissionDeniedError(
        mesh::StrCat("cannot create ", path.string(), " with mode 0600: ", std::strerror(err)));
  }
  ::close(fd);
  MESH_ASSIGN_OR_RETURN(sqlite3 * db,
                        sqlite::OpenDatabase(path.string(), kStore, {.exclusive = true}));
  std::unique_ptr<UserStore> store(new UserStore(db, rng));
  absl::MutexLock lock(&store->mu_);
  MESH_RETURN_IF_ERROR(store->Exec(kSchema));
  MESH_RETURN_IF_ERROR(store->Load());
  // The data dir's api.token is the first admin, refreshed at every start (the file may have
  // been replaced to rotate it).
  Entry admin;
  if (auto it = store->by_name_.find(std::string(kNodeAdmin)); it != store->by_name_.end()) {
    admin = it->second;
    store->name_by_hash_.erase(admin.token_hash);
  } else {
    admin.user.name = std::string(kNodeAdmin);
    admin.user.created_at = now;
  }
  admin.user.role = Role::kAdmin;
  admin.user.did = node_key.did().ToString();
  admin.user.node_identity = true;
  admin.user.expires_at.reset();
  admin.user.requests_per_second = 0;
  admin.user.max_jobs_in_flight = 0;
  admin.seed.clear();
  admin.token_hash = HashOf(node_token);
  MESH_RETURN_IF_ERROR(store->Write(admin));
  store->name_by_hash_[admin.token_hash] = admin.user.name;
  store->by_name_[admin.user.name] = std::move(admin);
  return store;
}

absl::Status UserStore::Exec(const char* sql) { return sqlite::ExecSql(db_, sql, kStore); }

absl::Status UserStore::Load() {
  sqlite::Statement s(db_,
                      "SELECT name, role, did, seed, token_hash, created_ms, expires_ms, "
                      "requests_per_second, max_jobs_in_flight, node_identity FROM users");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "reading users");
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    Entry e;
    e.user.name = sqlite::Text(s.get(), 0);
    const std::optional<Role> role = ParseRole(sqlite::Text(s.get(), 1));
    if (!role) {
      return absl::DataLossError(mesh::StrCat(kStore, ": user ", e.user.name, " has role \"",
                                              sqlite::Text(s.get(), 1), "\"; ",
                                              sqlite::kDamagedHint));
    }
    e.user.role = *role;
    e.user.did = sqlite::Text(s.get(), 2);
    e.seed = sqlite::Text(s.get(), 3);
    e.token_hash = sqlite::Text(s.get(), 4);
    e.user.created_at = absl::FromUnixMillis(sqlite3_column_int64(s.get(), 5));
    if (const int64_t ms = sqlite3_column_int64(s.get(), 6); ms > 0) {
      e.user.expires_at = absl::FromUnixMillis(ms);
    }
    e.user.requests_per_second = sqlite3_column_int64(s.get(), 7);
    e.user.max_jobs_in_flight = sqlite3_column_int64(s.get(), 8);
    e.user.node_identity = sqlite3_column_int64(s.get(), 9) != 0;
    if (e.token_hash.size() != 32 || (!e.user.node_identity && e.seed.size() != 32)) {
      return absl::DataLossError(mesh::StrCat(kStore, ": user ", e.user.name,
                                              " has a malformed token hash or key; ",
                                              sqlite::kDamagedHint));
    }
    name_by_hash_[e.token_hash] = e.user.name;
    by_name_[e.user.name] = std::move(e);
  }
  if (rc != SQLITE_DONE) return sqlite::SqlError(db_, kStore, "reading users");
  sqlite::Statement grants(db_, "SELECT did, count(*) FROM blob_grants GROUP BY did");
  if (!grants.ok()) return sqlite::SqlError(db_, kStore, "counting grants");
  while ((rc = sqlite3_step(grants.get())) == SQLITE_ROW) {
    grants_per_did_[sqlite::Text(grants.get(), 0)] = sqlite3_column_int64(grants.get(), 1);
  }
  if (rc != SQLITE_DONE) return sqlite::SqlError(db_, kStore, "counting grants");
  return absl::OkStatus();
}

absl::Status UserStore::Write(const Entry& e) {
  sqlite::Statement s(db_,
                      "INSERT OR REPLACE INTO users (name, role, did, seed, token_hash, "
                      "created_ms, expires_ms, requests_per_second, max_jobs_in_flight, "
                      "node_identity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "writing a user");
  sqlite::Bind(s.get(), 1, e.user.name);
  sqlite::Bind(s.get(), 2, RoleName(e.user.role));
  sqlite::Bind(s.get(), 3, e.user.did);
  sqlite::BindBlob(s.get(), 4, e.seed);
  sqlite::BindBlob(s.get(), 5, e.token_hash);
  sqlite::Bind(s.get(), 6, Millis(e.user.created_at));
  sqlite::Bind(s.get(), 7, e.user.expires_at ? Millis(*e.user.expires_at) : int64_t{0});
  sqlite::Bind(s.get(), 8, e.user.requests_per_second);
  sqlite::Bind(s.get(), 9, e.user.max_jobs_in_flight);
  sqlite::Bind(s.get(), 10, int64_t{e.user.node_identity ? 1 : 0});
  return sqlite::Run(db_, s.get(), kStore, "writing a user");
}

std::string UserStore::NewToken() { return HexEncode(rng_.Bytes(kTokenBytes)); }

absl::StatusOr<User> UserStore::Authenticate(std::string_view token, absl::Time now) const {
  if (token.empty() || token.size() > 256) {
    return absl::UnauthenticatedError("no valid bearer token");
  }
  const std::string hash = HashOf(token);
  absl::MutexLock lock(&mu_);
  auto name = name_by_hash_.find(hash);
  if (name == name_by_hash_.end()) {
    return absl::UnauthenticatedError(
        "the bearer token is not this node's: neither its api.token nor a user's token");
  }
  const Entry& e = by_name_.at(name->second);
  if (e.token_hash.size() != hash.size() ||
      sodium_memcmp(e.token_hash.data(), hash.data(), hash.size()) != 0) {
    return absl::UnauthenticatedError(
        "the bearer token is not this node's: neither its api.token nor a user's token");
  }
  if (e.user.expires_at && now >= *e.user.expires_at) {
    return absl::UnauthenticatedError(mesh::StrCat(
        "the token of user ", e.user.name, " expired at ",
        absl::FormatTime(absl::RFC3339_sec, *e.user.expires_at, absl::UTCTimeZone()),
        "; an admin can issue a new one (mesh user token ", e.user.name, " --rotate)"));
  }
  return e.user;
}

absl::StatusOr<IssuedToken> UserStore::Add(const NewUser& user, absl::Time now) {
  MESH_RETURN_IF_ERROR(CheckUserName(user.name));
  if (user.requests_per_second < 0 || user.max_jobs_in_flight < 0) {
    return absl::InvalidArgumentError("limits must be 0 (unlimited) or positive");
  }
  if (user.expires_at && *user.expires_at <= now) {
    return absl::InvalidArgumentError("the expiry is in the past");
  }
  absl::MutexLock lock(&mu_);
  if (by_name_.contains(user.name)) {
    return absl::AlreadyExistsError(mesh::StrCat("user ", user.name,
                                                 " exists; rotate its token with mesh user token ",
                                                 user.name, " --rotate"));
  }
  if (by_name_.size() >= kMaxUsers) {
    return absl::ResourceExhaustedError(
        mesh::StrCat("this node has ", kMaxUsers, " users, its most; remove some first"));
  }
  Entry e;
  e.seed = rng_.Bytes(crypto::kSeedSize);
  MESH_ASSIGN_OR_RETURN(crypto::KeyPair key, crypto::KeyPair::FromSeed(e.seed));
  e.user.name = user.name;
  e.user.role = user.role;
  e.user.did = key.did().ToString();
  e.user.created_at = now;
  e.user.expires_at = user.expires_at;
  e.user.requests_per_second = user.requests_per_second;
  e.user.max_jobs_in_flight = user.max_jobs_in_flight;
  std::string token = NewToken();
  e.token_hash = HashOf(token);
  MESH_RETURN_IF_ERROR(Write(e));
  name_by_hash_[e.token_hash] = e.user.name;
  IssuedToken issued{e.user, std::move(token)};
  by_name_[e.user.name] = std::move(e);
  return issued;
}

absl::Status UserStore::Remove(std::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return absl::NotFoundError(mesh::StrCat("no user ", name));
  if (it->second.user.node_identity) {
    return absl::FailedPreconditionError(
        "user admin is the node's own (its token is the data dir's api.token) and stays");
  }
  sqlite::Statement s(db_, "DELETE FROM users WHERE name = ?1");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "removing a user");
  sqlite::Bind(s.get(), 1, name);
  MESH_RETURN_IF_ERROR(sqlite::Run(db_, s.get(), kStore, "removing a user"));
  name_by_hash_.erase(it->second.token_hash);
  by_name_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<IssuedToken> UserStore::Rotate(std::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return absl::NotFoundError(mesh::StrCat("no user ", name));
  if (it->second.user.node_identity) {
    return absl::FailedPreconditionError(
        "user admin's token is the data dir's api.token: write a new one there (64 hex "
        "digits, mode 0600) and restart meshd");
  }
  Entry e = it->second;
  std::string token = NewToken();
  e.token_hash = HashOf(token);
  MESH_RETURN_IF_ERROR(Write(e));
  name_by_hash_.erase(it->second.token_hash);
  name_by_hash_[e.token_hash] = e.user.name;
  it->second = e;
  return IssuedToken{e.user, std::move(token)};
}

absl::StatusOr<User> UserStore::Get(std::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return absl::NotFoundError(mesh::StrCat("no user ", name));
  return it->second.user;
}

std::vector<User> UserStore::List() const {
  std::vector<User> users;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, e] : by_name_) users.push_back(e.user);
  }
  std::sort(users.begin(), users.end(),
            [](const User& a, const User& b) { return a.name < b.name; });
  return users;
}

absl::StatusOr<std::optional<crypto::KeyPair>> UserStore::SigningKey(std::string_view name) const {
  std::string seed;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_name_.find(std::string(name));
    if (it == by_name_.end()) return absl::NotFoundError(mesh::StrCat("no user ", name));
    if (it->second.user.node_identity) return std::optional<crypto::KeyPair>();
    seed = it->second.seed;
  }
  MESH_ASSIGN_OR_RETURN(crypto::KeyPair key, crypto::KeyPair::FromSeed(seed));
  return std::optional<crypto::KeyPair>(std::move(key));
}

absl::Status UserStore::Grant(std::string_view did, std::string_view cid) {
  absl::MutexLock lock(&mu_);
  size_t& count = grants_per_did_[std::string(did)];
  if (count >= kMaxGrantsPerUser) {
    return absl::ResourceExhaustedError(mesh::StrCat(did, " has uploaded ", kMaxGrantsPerUser,
                                                     " blobs, the most one user can read back"));
  }
  sqlite::Statement s(db_, "INSERT OR IGNORE INTO blob_grants (did, cid) VALUES (?1, ?2)");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "granting a blob");
  sqlite::Bind(s.get(), 1, did);
  sqlite::Bind(s.get(), 2, cid);
  MESH_RETURN_IF_ERROR(sqlite::Run(db_, s.get(), kStore, "granting a blob"));
  if (sqlite3_changes(db_) > 0) ++count;
  return absl::OkStatus();
}

bool UserStore::Granted(std::string_view did, std::string_view cid) const {
  absl::MutexLock lock(&mu_);
  sqlite::Statement s(db_, "SELECT 1 FROM blob_grants WHERE did = ?1 AND cid = ?2");
  if (!s.ok()) return false;
  sqlite::Bind(s.get(), 1, did);
  sqlite::Bind(s.get(), 2, cid);
  return sqlite3_step(s.get()) == SQLITE_ROW;
}

}  // namespace mesh::accounts
