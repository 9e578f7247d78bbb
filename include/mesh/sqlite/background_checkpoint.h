// BackgroundCheckpointer: checkpoints a WAL database from a connection and a thread of its own,
// so that no commit waits for a checkpoint.
//
// SQLite's automatic checkpoint runs inside the commit that takes the WAL past its threshold:
// that writer copies the WAL's pages into the database and syncs both files while its caller
// waits (on this machine's virtual disk 20-40 ms, a delegated job's slowest step). A database
// opened without exclusive locking can be checkpointed by another connection while its writer
// goes on (a PASSIVE checkpoint copies what was committed when it started and never blocks a
// writer), so the checkpointer turns the writer's automatic checkpoint off, and a commit that
// leaves `frames` or more in the WAL wakes its thread instead. Should the WAL reach four times
// that anyway (the thread cannot keep up, or a reader holds old frames), the committing
// connection checkpoints itself, as SQLite would have.
//
// Not for exclusive connections (the job store): only they can touch their file. Destroy the
// checkpointer before closing the writer's connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace mesh::sqlite {

class BackgroundCheckpointer {
 public:
  // Takes over checkpointing of `db`, the writer's connection to the WAL database at `path`
  // (`store` names it in errors).
  static absl::StatusOr<std::unique_ptr<BackgroundCheckpointer>> Start(sqlite3* db,
                                                                       const std::string& path,
                                                                       std::string_view store,
                                                                       int frames = 1000);
  ~BackgroundCheckpointer();
  BackgroundCheckpointer(const BackgroundCheckpointer&) = delete;
  BackgroundCheckpointer& operator=(const BackgroundCheckpointer&) = delete;

  // Checkpoints run by the thread, and by the writer past four times `frames`.
  uint64_t background_checkpoints() const;
  uint64_t inline_checkpoints() const;

 private:
  BackgroundCheckpointer(sqlite3* writer, sqlite3* own, int frames);
  static int OnCommit(void* self, sqlite3* db, const char* schema, int frames_in_wal);
  void Loop();

  sqlite3* const writer_;
  sqlite3* const own_;  // the thread's connection
  const int frames_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t background_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t inline_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mesh::sqlite
