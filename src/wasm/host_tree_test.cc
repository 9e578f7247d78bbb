#include "mesh/wasm/host_tree.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"

namespace mesh::wasm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

void Write(const fs::path& p, std::string_view bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

TEST(HostTreeTest, GuestPathsAreNormalisedAndBadOnesRefused) {
  EXPECT_EQ(NormaliseGuestPath("/").value(), "/");
  EXPECT_EQ(NormaliseGuestPath("/data/").value(), "/data");
  EXPECT_EQ(NormaliseGuestPath("//data/./x//").value(), "/data/x");
  EXPECT_THAT(NormaliseGuestPath("data").status().message(), HasSubstr("not absolute"));
  EXPECT_THAT(NormaliseGuestPath("/a/../b").status().message(), HasSubstr("'..'"));
  EXPECT_FALSE(NormaliseGuestPath(std::string("/a\0b", 4)).ok());
  EXPECT_FALSE(NormaliseGuestPath("/" + std::string(5000, 'x')).ok());
}

TEST(HostTreeTest, ReadsFilesDirectoriesAndSymlinksSortedParentsFirst) {
  ScopedTempDir dir;
  const fs::path root = dir.path();
  fs::create_directories(root / "sub" / "deeper");
  Write(root / "b.txt", "bee");
  Write(root / "sub" / "a.txt", "alpha");
  Write(root / "sub" / "deeper" / "empty", "");
  fs::create_symlink("sub/a.txt", root / "link");
  fs::create_symlink("/etc", root / "out");  // recorded as a link, never followed here
  ASSERT_OK_AND_ASSIGN(FsMount m, ReadHostTree(root, "/data", true, {}));
  EXPECT_EQ(m.guest_path, "/data");
  EXPECT_TRUE(m.read_only);
  std::vector<std::string> paths;
  for (const FsNode& n : m.nodes) paths.push_back(n.path);
  EXPECT_THAT(paths, ::testing::ElementsAre("b.txt", "link", "out", "sub", "sub/a.txt",
                                            "sub/deeper", "sub/deeper/empty"));
  EXPECT_EQ(m.nodes[0].kind, FsKind::kFile);
  EXPECT_EQ(m.nodes[0].content.bytes, "bee");
  EXPECT_EQ(m.nodes[1].kind, FsKind::kSymlink);
  EXPECT_EQ(m.nodes[1].content.bytes, "sub/a.txt");
  EXPECT_EQ(m.nodes[2].content.bytes, "/etc");
  EXPECT_EQ(m.nodes[3].kind, FsKind::kDirectory);
  EXPECT_EQ(m.nodes[6].content.bytes, "");
}

TEST(HostTreeTest, RefusesMissingDirsSpecialFilesAndTreesOverTheLimits) {
  ScopedTempDir dir;
  const fs::path root = dir.path();
  EXPECT_TRUE(absl::IsNotFound(ReadHostTree(root / "nope", "/d", true, {}).status()));
  Write(root / "f", "12345");
  EXPECT_THAT(ReadHostTree(root / "f", "/d", true, {}).status().message(),
              HasSubstr("is not a directory"));
  EXPECT_TRUE(absl::IsResourceExhausted(
      ReadHostTree(root, "/d", true, {.max_bytes = 4, .max_entries = 10}).status()));
  Write(root / "g", "x");
  absl::Status many = ReadHostTree(root, "/d", true, {.max_bytes = 100, .max_entries = 1}).status();
  EXPECT_THAT(many.message(), HasSubstr("more than 1 entries"));
  ASSERT_EQ(::mkfifo((root / "fifo").c_str(), 0600), 0);
  absl::Status fifo = ReadHostTree(root, "/d", true, {}).status();
  EXPECT_THAT(fifo.message(), HasSubstr("is a FIFO"));
}

TEST(HostTreeTest, WritesOutputFilesAndRefusesEscapes) {
  ScopedTempDir dir;
  const fs::path dest = dir.path() / "out" / "nested";
  std::vector<OutputFile> files = {
      {.path = "d", .kind = FsKind::kDirectory},
      {.path = "d/r.txt", .kind = FsKind::kFile, .bytes = "42\n"},
      {.path = "latest", .kind = FsKind::kSymlink, .bytes = "d/r.txt"}};
  ASSERT_OK(WriteOutputFiles(files, dest));
  EXPECT_EQ(ReadFileToString(dest / "d" / "r.txt", 100).value(), "42\n");
  EXPECT_EQ(fs::read_symlink(dest / "latest").string(), "d/r.txt");
  // Not into a directory that holds something already.
  EXPECT_TRUE(absl::IsAlreadyExists(WriteOutputFiles(files, dest)));
  // Not outside the destination, and nothing written when one path is bad.
  for (const std::string bad : {"../up", "/abs", "a/./b", "a//b", ""}) {
    const fs::path fresh = dir.path() / "fresh";
    std::vector<OutputFile> some = {{.path = "ok", .kind = FsKind::kFile, .bytes = "x"},
                                    {.path = bad, .kind = FsKind::kFile, .bytes = "y"}};
    EXPECT_TRUE(absl::IsInvalidArgument(WriteOutputFiles(some, fresh))) << bad;
    EXPECT_FALSE(fs::exists(fresh)) << bad;
  }
  // Not through a symlink the job made.
  std::vector<OutputFile> through = {{.path = "l", .kind = FsKind::kSymlink, .bytes = "/tmp"},
                                     {.path = "l/x", .kind = FsKind::kFile, .bytes = "y"}};
  EXPECT_THAT(WriteOutputFiles(through, dir.path() / "t").message(), HasSubstr("under a symlink"));
}

}  // namespace
}  // namespace mesh::wasm
