#include "wal_write_batching.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "mesh/common/testing.h"
#include "mesh/sqlite/sqlite.h"

namespace mesh::sqlite {
namespace {

// The write system calls (write, pwrite...) this process has made: /proc/self/io's syscw.
int64_t WriteCalls() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscw:") return value;
  }
  ADD_FAILURE() << "/proc/self/io has no syscw";
  return -1;
}

class WalWriteBatchingTest : public ::testing::Test {
 protected:
  std::string Path() const { return (dir_.path() / "t.db").string(); }

  sqlite3* Open(OpenOptions options = {.exclusive = true}) {
    absl::StatusOr<sqlite3*> db = OpenDatabase(Path(), "test database", options);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *db : nullptr;
  }

  static void Exec(sqlite3* db, const std::string& sql) {
    ASSERT_OK(ExecSql(db, sql.c_str(), "test database"));
  }

  static int64_t Int(sqlite3* db, const char* sql) {
    Statement s(db, sql);
    EXPECT_TRUE(s.ok()) << sqlite3_errmsg(db);
    EXPECT_EQ(sqlite3_step(s.get()), SQLITE_ROW) << sqlite3_errmsg(db);
    return sqlite3_column_int64(s.get(), 0);
  }

  static std::string Text(sqlite3* db, const char* sql) {
    Statement s(db, sql);
    EXPECT_EQ(sqlite3_step(s.get()), SQLITE_ROW) << sqlite3_errmsg(db);
    return sqlite::Text(s.get(), 0);
  }

  // Inserts `rows` rows of `bytes` random bytes each (in the caller's transaction).
  static void Insert(sqlite3* db, int rows, int bytes) {
    Exec(db, StrCat("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ",
                    rows, ") INSERT INTO t(v) SELECT randomblob(", bytes, ") FROM n"));
  }

  ScopedTempDir dir_;
};

TEST_F(WalWriteBatchingTest, OpenDatabaseUsesIt) {
  ASSERT_NE(internal::WalWriteBatchingVfs(), nullptr);
  sqlite3* db = Open();
  ASSERT_NE(db, nullptr);
  sqlite3_vfs* vfs = nullptr;
  ASSERT_EQ(sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs), SQLITE_OK);
  ASSERT_NE(vfs, nullptr);
  EXPECT_STREQ(vfs->zName, internal::WalWriteBatchingVfs());
  EXPECT_EQ(Text(db, "PRAGMA journal_mode"), "wal");
  sqlite3_close(db);
}

// SQLite writes each frame as a header and a page: 2 system calls per page through the default
// VFS. Batched, a commit of 20-odd pages (under 128 KiB) is one write.
TEST_F(WalWriteBatchingTest, ACommitIsOneWrite) {
  auto writes_for_one_commit = [](sqlite3* db) {
    Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
    Exec(db, "CREATE INDEX t_v ON t(v)");
    const int64_t before = WriteCalls();
    Exec(db, "BEGIN");
    Insert(db, 150, 200);
    Exec(db, "COMMIT");
    return WriteCalls() - before;
  };
  sqlite3* plain = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / "plain.db").c_str(), &plain), SQLITE_OK);
  Exec(plain, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  const int64_t plain_writes = writes_for_one_commit(plain);
  const int64_t pages = Int(plain, "PRAGMA page_count");
  sqlite3_close(plain);

  sqlite3* db = Open();
  ASSERT_NE(db, nullptr);
  const int64_t batched_writes = writes_for_one_commit(db);
  EXPECT_GE(Int(db, "PRAGMA page_count"), 10);
  sqlite3_close(db);

  EXPECT_GE(pages, 10);
  EXPECT_GE(plain_writes, 2 * (pages - 2)) << "the default VFS, " << pages << " pages";
  EXPECT_EQ(batched_writes, 1) << "write system calls for one commit";
}

// With synchronous=NORMAL the WAL is synced only by a checkpoint. Once kWalWritebackBytes have
// been written since the last sync, the wrapper starts the kernel writing them out, so that
// sync has little left to flush; commits that add up to less start nothing, and the data is all
// there.
TEST_F(WalWriteBatchingTest, WrittenWalStartsItsWriteBackPastTheThreshold) {
  sqlite3* db = Open();
  ASSERT_NE(db, nullptr);
  Exec(db, "PRAGMA wal_autocheckpoint=0");  // no sync in between: the WAL only grows
  Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
  constexpr int kRowBytes = 8000;  // two pages a row, four rows a commit: ~32 KiB of frames
  constexpr int kCommitBytes = 4 * kRowBytes;
  const int under = static_cast<int>(internal::kWalWritebackBytes / 2 / kCommitBytes);
  const int past = static_cast<int>(internal::kWalWritebackBytes * 3 / 2 / kCommitBytes);
  const uint64_t at_start = internal::WalWritebacksStarted();
  for (int i = 0; i < under; ++i) Insert(db, 4, kRowBytes);
  EXPECT_EQ(internal::WalWritebacksStarted(), at_start) << "under the threshold";
  for (int i = under; i < past; ++i) Insert(db, 4, kRowBytes);
  EXPECT_GE(internal::WalWritebacksStarted(), at_start + 1);
  EXPECT_EQ(Int(db, "SELECT count(*) FROM t"), 4 * past);
  sqlite3_close(db);
  db = Open();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Int(db, "SELECT count(*) FROM t"), 4 * past);
  EXPECT_EQ(Int(db, "SELECT sum(length(v)) FROM t"), int64_t{4} * past * kRowBytes);
  sqlite3_close(db);
}

// A statement inside a transaction keeps the pages it changes in a statement journal until it
// ends. Past 64 KiB SQLite moved that journal to a temporary file and, under exclusive locking,
// kept writing every later statement's journal there (two writes per page). In memory, a
// transaction of small statements after a large one is still one write.
TEST_F(WalWriteBatchingTest, StatementJournalsStayInMemory) {
  sqlite3* db = Open();
  ASSERT_NE(db, nullptr);
  Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB UNIQUE)");
  Exec(db, "BEGIN");
  Insert(db, 1000, 300);
  Exec(db, "UPDATE t SET v = randomblob(300)");  // ~100 pages journaled
  Exec(db, "COMMIT");
  const int64_t before = WriteCalls();
  Exec(db, "BEGIN");
  Exec(db, "UPDATE t SET v = randomblob(300) WHERE id <= 3");
  Exec(db, "UPDATE t SET v = randomblob(300) WHERE id > 997");
  Exec(db, "COMMIT");
  EXPECT_EQ(WriteCalls() - before, 1) << "write system calls for a commit of two small updates";
  sqlite3_close(db);
}

// The commit is in the file (the page cache) when COMMIT returns: a process that dies right
// after it, without closing, loses nothing.
TEST_F(WalWriteBatchingTest, ACommittedTransactionSurvivesTheProcessDying) {
  {
    sqlite3* db = Open();
    ASSERT_NE(db, nullptr);
    Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
    sqlite3_close(db);
  }
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<sqlite3*> db = OpenDatabase(Path(), "test database", {.exclusive = true});
    if (!db.ok()) ::_exit(2);
    for (int i = 0; i < 5; ++i) {
      if (!ExecSql(*db, "INSERT INTO t(v) VALUES (randomblob(3000))", "t").ok()) ::_exit(3);
    }
    ::_exit(0);  // No close, no checkpoint: as if killed.
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  sqlite3* db = Open();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Int(db, "SELECT count(*) FROM t"), 5);
  EXPECT_EQ(Text(db, "PRAGMA integrity_check"), "ok");
  sqlite3_close(db);
}

// A transaction larger than the page cache spills frames to the WAL before it commits and reads
// them back; one larger than the buffer is written in parts. Both commit whole; a spilled
// transaction rolled back leaves nothing.
TEST_F(WalWriteBatchingTest, SpilledAndOversizedTransactionsCommitOrRollBackWhole) {
  sqlite3* db = Open();
  ASSERT_NE(db, nullptr);
  Exec(db, "PRAGMA cache_size=10");
  Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
  Exec(db, "BEGIN");
  Insert(db, 2000, 500);
  EXPECT_EQ(Int(db, "SELECT count(*) FROM t"), 2000);
  EXPECT_EQ(Int(db, "SELECT sum(length(v)) FROM t"), 2000 * 500);
  Exec(db, "COMMIT");

  Exec(db, "BEGIN");
  Insert(db, 3000, 500);
  Exec(db, "ROLLBACK");
  EXPECT_EQ(Int(db, "SELECT count(*) FROM t"), 2000);

  const int big_rows = static_cast<int>(internal::kMaxBufferedWalBytes / 3000) + 500;
  Exec(db, "BEGIN");
  Insert(db, big_rows, 3000);
  Exec(db, "COMMIT");
  sqlite3_close(db);

  db = Open();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Int(db, "SELECT count(*) FROM t"), 2000 + big_rows);
  EXPECT_EQ(Text(db, "PRAGMA integrity_check"), "ok");
  Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  EXPECT_EQ(Int(db, "SELECT count(*) FROM t"), 2000 + big_rows);
  sqlite3_close(db);
}

// Without exclusive locking another connection reads what the first committed.
TEST_F(WalWriteBatchingTest, ASecondConnectionSeesEachCommit) {
  sqlite3* writer = Open({.exclusive = false});
  ASSERT_NE(writer, nullptr);
  Exec(writer, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
  sqlite3* reader = Open({.exclusive = false});
  ASSERT_NE(reader, nullptr);
  for (int i = 1; i <= 20; ++i) {
    Exec(writer, "INSERT INTO t(v) VALUES (randomblob(100))");
    ASSERT_EQ(Int(reader, "SELECT count(*) FROM t"), i);
  }
  sqlite3_close(reader);
  sqlite3_close(writer);
}

}  // namespace
}  // namespace mesh::sqlite
