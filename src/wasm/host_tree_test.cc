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
  EXPECT_EQ(m.nodes[0].content.cid, cas::Cid::Of("bee", cas::Codec::kRaw).ToString());
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
  EXPECT_TRUE(absl::IsFailedPrecondition(WriteOutputFiles(files, dest)));
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
  EXPECT_THAT(WriteOutputFiles(through, dir.path() / "t").message(),
              HasSubstr("output file l/x lies under l, which is not a directory"));
  EXPECT_FALSE(fs::exists(dir.path() / "t"));
  // No symlink that leads out of the destination (cas::ExportTree's rule, as for a tree from a
  // peer): the whole tree is refused before a byte is written, naming the link.
  for (const std::string target : {"/etc/passwd", "../up", "d/../../up"}) {
    std::vector<OutputFile> out = {{.path = "d", .kind = FsKind::kDirectory},
                                   {.path = "d/f", .kind = FsKind::kFile, .bytes = "x"},
                                   {.path = "l", .kind = FsKind::kSymlink, .bytes = target}};
    const absl::Status refused = WriteOutputFiles(out, dir.path() / "links");
    EXPECT_THAT(refused.message(), HasSubstr("symlink l -> " + target + " leads out")) << target;
    EXPECT_FALSE(fs::exists(dir.path() / "links")) << target;
  }
  // Files in directories the job did not list get their parents.
  ASSERT_OK(WriteOutputFiles({{.path = "a/b/c.txt", .kind = FsKind::kFile, .bytes = "c"}},
                             dir.path() / "parents"));
  EXPECT_EQ(ReadFileToString(dir.path() / "parents" / "a" / "b" / "c.txt", 100).value(), "c");
}

TEST(HostTreeTest, TheOutputManifestNamesEachFileByItsCid) {
  std::vector<std::string> put;
  ASSERT_OK_AND_ASSIGN(
      cas::DirManifest m,
      OutputManifest({{.path = "z.txt", .kind = FsKind::kFile, .bytes = "zed"},
                      {.path = "a/l", .kind = FsKind::kSymlink, .bytes = "../z.txt"}},
                     [&put](const std::string& bytes) {
                       put.push_back(bytes);
                       return cas::Cid::Of(bytes, cas::Codec::kRaw);
                     }));
  EXPECT_THAT(put, ::testing::ElementsAre("zed"));
  ASSERT_EQ(m.entries.size(), 3u);  // "a" added, sorted
  EXPECT_EQ(m.entries[0].path, "a");
  EXPECT_EQ(m.entries[0].kind, cas::EntryKind::kDirectory);
  EXPECT_EQ(m.entries[1].target, "../z.txt");
  EXPECT_EQ(m.entries[2].cid->ToString(), cas::Cid::Of("zed", cas::Codec::kRaw).ToString());
  EXPECT_EQ(m.entries[2].size, 3u);
  EXPECT_FALSE(OutputManifest({{.path = "../x", .kind = FsKind::kFile}}, {}).ok());
}

}  // namespace
}  // namespace mesh::wasm
