#include "mesh/sqlite/background_checkpoint.h"

#include "mesh/common/strings.h"
#include "mesh/sqlite/sqlite.h"
#include "wal_write_batching.h"

namespace mesh::sqlite {

absl::StatusOr<std::unique_ptr<BackgroundCheckpointer>> BackgroundCheckpointer::Start(
    sqlite3* db, const std::string& path, std::string_view store, int frames) {
  if (frames < 1) return absl::InvalidArgumentError("checkpoint threshold must be positive");
  // The file exists and is in WAL mode (its writer made it so): no pragmas, no creating.
  sqlite3* own = nullptr;
  if (const int rc =
          sqlite3_open_v2(path.c_str(), &own, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                          internal::WalWriteBatchingVfs());
      rc != SQLITE_OK) {
    std::string msg = own != nullptr ? sqlite3_errmsg(own) : sqlite3_errstr(rc);
    sqlite3_close(own);
    return absl::UnavailableError(
        mesh::StrCat("cannot open ", store, " ", path, " to checkpoint it: ", msg));
  }
  // A connection opens the WAL at its first read; until then a checkpoint through it is a
  // successful no-op.
  if (absl::Status read = ExecSql(own, "SELECT count(*) FROM sqlite_master", store); !read.ok()) {
    sqlite3_close(own);
    return read;
  }
  std::unique_ptr<BackgroundCheckpointer> c(new BackgroundCheckpointer(db, own, frames));
  // Replaces the automatic checkpoint's hook (sqlite3_wal_autocheckpoint is one such hook).
  sqlite3_wal_hook(db, &BackgroundCheckpointer::OnCommit, c.get());
  c->thread_ = std::thread([p = c.get()] { p->Loop(); });
  return c;
}

BackgroundCheckpointer::BackgroundCheckpointer(sqlite3* writer, sqlite3* own, int frames)
    : writer_(writer), own_(own), frames_(frames) {}

BackgroundCheckpointer::~BackgroundCheckpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  sqlite3_close(own_);
}

int BackgroundCheckpointer::OnCommit(void* self, sqlite3* db, const char* schema,
                                     int frames_in_wal) {
  auto* c = static_cast<BackgroundCheckpointer*>(self);
  if (frames_in_wal < c->frames_) return SQLITE_OK;
  if (frames_in_wal >= 4 * c->frames_) {
    // What SQLite's own hook does; an error here is not the commit's (it has happened).
    (void)sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    absl::MutexLock lock(&c->mu_);
    ++c->inline_;
    return SQLITE_OK;
  }
  absl::MutexLock lock(&c->mu_);
  c->wanted_ = true;
  return SQLITE_OK;
}

void BackgroundCheckpointer::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](BackgroundCheckpointer* c)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->wanted_ || c->stopping_; },
          this));
      if (stopping_) return;
      wanted_ = false;
    }
    // A failed checkpoint (busy, I/O) is retried at the next commit past the threshold.
    if (sqlite3_wal_checkpoint_v2(own_, "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) ==
        SQLITE_OK) {
      absl::MutexLock lock(&mu_);
      ++background_;
    }
  }
}

uint64_t BackgroundCheckpointer::background_checkpoints() const {
  absl::MutexLock lock(&mu_);
  return background_;
}

uint64_t BackgroundCheckpointer::inline_checkpoints() const {
  absl::MutexLock lock(&mu_);
  return inline_;
}

}  // namespace mesh::sqlite
