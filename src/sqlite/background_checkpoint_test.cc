#include "mesh/sqlite/background_checkpoint.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "mesh/common/testing.h"
#include "mesh/sqlite/sqlite.h"

namespace mesh::sqlite {
namespace {

class BackgroundCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<sqlite3*> db = OpenDatabase(Path(), "test database");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *db;
    Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
  }
  void TearDown() override {
    checkpointer_.reset();
    sqlite3_close(db_);
  }

  std::string Path() const { return (dir_.path() / "t.db").string(); }
  uintmax_t DatabaseBytes() const { return std::filesystem::file_size(dir_.path() / "t.db"); }

  void Exec(const std::string& sql) { ASSERT_OK(ExecSql(db_, sql.c_str(), "test database")); }
  // One commit of `rows` rows of 3000 bytes: a page each.
  void Commit(int rows) {
    Exec(StrCat("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ", rows,
                ") INSERT INTO t(v) SELECT randomblob(3000) FROM n"));
  }
  int64_t Rows() {
    Statement s(db_, "SELECT count(*) FROM t");
    EXPECT_EQ(sqlite3_step(s.get()), SQLITE_ROW);
    return sqlite3_column_int64(s.get(), 0);
  }

  ScopedTempDir dir_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<BackgroundCheckpointer> checkpointer_;
};

// Past the threshold a commit only wakes the thread, which copies the WAL into the database
// file through its own connection; the writer checkpoints nothing itself.
TEST_F(BackgroundCheckpointTest, TheThreadCheckpointsAndTheWriterDoesNot) {
  ASSERT_OK_AND_ASSIGN(checkpointer_, BackgroundCheckpointer::Start(db_, Path(), "test", 20));
  const uintmax_t before = DatabaseBytes();
  for (int i = 0; i < 5; ++i) Commit(5);  // ~ 30 frames: past 20, under 80
  // Each commit past the threshold wakes the thread; the one after the last commit copies the
  // rest (one woken earlier may have copied only part). The count comes after the copy.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((DatabaseBytes() <= before + 20 * 4096 || checkpointer_->background_checkpoints() == 0) &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // Pacing of a bounded wait.
  }
  EXPECT_GT(DatabaseBytes(), before + 20 * 4096) << "the pages reached the database file";
  EXPECT_GE(checkpointer_->background_checkpoints(), 1u);
  EXPECT_EQ(checkpointer_->inline_checkpoints(), 0u);
  EXPECT_EQ(Rows(), 25);
}

// A WAL that reaches four times the threshold (here one large transaction) is checkpointed by
// the committing connection, as SQLite's automatic checkpoint would.
TEST_F(BackgroundCheckpointTest, PastFourTimesTheThresholdTheWriterCheckpoints) {
  ASSERT_OK_AND_ASSIGN(checkpointer_, BackgroundCheckpointer::Start(db_, Path(), "test", 10));
  Commit(60);
  EXPECT_EQ(checkpointer_->inline_checkpoints(), 1u);
  EXPECT_EQ(Rows(), 60);
}

// Gone, the checkpointer leaves the writer's commits alone, and the data is all there.
TEST_F(BackgroundCheckpointTest, StopsCleanlyAndKeepsEveryCommit) {
  ASSERT_OK_AND_ASSIGN(checkpointer_, BackgroundCheckpointer::Start(db_, Path(), "test", 5));
  for (int i = 0; i < 20; ++i) Commit(3);
  checkpointer_.reset();
  for (int i = 0; i < 20; ++i) Commit(3);
  EXPECT_EQ(Rows(), 120);
  sqlite3_close(db_);
  absl::StatusOr<sqlite3*> reopened = OpenDatabase(Path(), "test database");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  db_ = *reopened;
  EXPECT_EQ(Rows(), 120);
}

TEST_F(BackgroundCheckpointTest, ABadThresholdOrPathIsAnError) {
  EXPECT_EQ(BackgroundCheckpointer::Start(db_, Path(), "test", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BackgroundCheckpointer::Start(db_, (dir_.path() / "none.db").string(), "test")
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace mesh::sqlite
