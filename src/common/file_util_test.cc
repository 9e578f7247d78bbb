#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "mesh/common/file_util.h"
#include "mesh/common/replace_file.h"
#include "mesh/common/testing.h"

namespace mesh {
namespace {

class FileUtilTest : public ::testing::Test {
 protected:
  ScopedTempDir tmp_;
  const std::filesystem::path dir_ = tmp_.path();
};

TEST_F(FileUtilTest, AtomicWriteSetsModeAndRefusesOverwrite) {
  const auto path = dir_ / "f";
  ASSERT_OK(WriteFileAtomically(path, "one", 0600, /*overwrite=*/false));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(WriteFileAtomically(path, "two", 0600, false).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(std::string content, ReadFileToString(path, 100));
  EXPECT_EQ(content, "one");
  ASSERT_OK(WriteFileAtomically(path, "two", 0644, /*overwrite=*/true));
  ASSERT_OK_AND_ASSIGN(content, ReadFileToString(path, 100));
  EXPECT_EQ(content, "two");
  // No temp files are left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

// mesh.addr and meshd.url: replaced whole at every start, without fsync.
TEST_F(FileUtilTest, ReplaceWritesTheWholeFileAndLeavesNoTemp) {
  const auto path = dir_ / "meshd.url";
  ASSERT_OK(ReplaceFileAtomically(path, "http://127.0.0.1:1\n", 0600));
  ASSERT_OK(ReplaceFileAtomically(path, "http://127.0.0.1:65535\n", 0644));
  ASSERT_OK_AND_ASSIGN(std::string content, ReadFileToString(path, 100));
  EXPECT_EQ(content, "http://127.0.0.1:65535\n");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
  EXPECT_FALSE(ReplaceFileAtomically(dir_ / "missing" / "f", "x", 0600).ok());
}

TEST_F(FileUtilTest, ReadRefusesOversizedAndMissingFiles) {
  ASSERT_OK(WriteFileAtomically(dir_ / "big", std::string(1000, 'x'), 0600, false));
  EXPECT_EQ(ReadFileToString(dir_ / "big", 999).status().code(),
            absl::StatusCode::kResourceExhausted);
  auto missing = ReadFileToString(dir_ / "nope", 10);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
}

TEST_F(FileUtilTest, ScopedFdClosesAndMoves) {
  ASSERT_OK_AND_ASSIGN(ScopedFd fd, OpenFile(dir_ / "x", O_CREAT | O_WRONLY, 0600));
  ASSERT_TRUE(fd.valid());
  const int raw = fd.get();
  ScopedFd moved = std::move(fd);
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(moved.get(), raw);
  moved.Reset();
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
}

}  // namespace
}  // namespace mesh
