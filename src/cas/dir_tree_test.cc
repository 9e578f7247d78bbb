#include "mesh/cas/dir_tree.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "mesh/common/clock.h"
#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"

namespace mesh::cas {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string Read(const fs::path& path) {
  absl::StatusOr<std::string> s = ReadFileToString(path, 8 << 20);
  return s.ok() ? *s : "<" + s.status().ToString() + ">";
}

class DirTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(
        store_, BlobStore::Open({.root = tmp_.path() / "store", .durable = false}, clock_));
  }
  fs::path Src() const { return tmp_.path() / "src"; }
  fs::path Dest() const { return tmp_.path() / "dest"; }

  void MakeSampleTree() {
    Write(Src() / "a" / "x.txt", "hello world");
    Write(Src() / "a" / "deep" / "y.bin", std::string(3 << 20, 'y'));  // several read chunks
    Write(Src() / "a-b", "");
    fs::create_directories(Src() / "empty");
    fs::create_symlink("a/x.txt", Src() / "link");
  }

  FakeClock clock_;
  ScopedTempDir tmp_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(DirTreeTest, ImportListsTheTreeSortedWithBlobs) {
  MakeSampleTree();
  ASSERT_OK_AND_ASSIGN(ImportResult r, ImportDirectory(*store_, Src()));
  std::vector<std::string> paths;
  for (const DirEntry& e : r.manifest.entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a", "a-b", "a/deep", "a/deep/y.bin", "a/x.txt",
                                             "empty", "link"}));
  EXPECT_EQ(r.manifest.entries[4].cid, Cid::Of("hello world"));
  EXPECT_EQ(r.manifest.entries[4].size, 11u);
  EXPECT_EQ(r.manifest.entries[1].size, 0u);
  EXPECT_EQ(r.manifest.entries[6].kind, EntryKind::kSymlink);
  EXPECT_EQ(r.manifest.entries[6].target, "a/x.txt");
  ASSERT_OK_AND_ASSIGN(std::string stored, store_->Get(*r.manifest.entries[3].cid, 4 << 20));
  EXPECT_EQ(stored.size(), 3u << 20);
  ASSERT_OK_AND_ASSIGN(DirManifest back, GetManifest(*store_, r.manifest_cid));
  EXPECT_EQ(back, r.manifest);
}

TEST_F(DirTreeTest, SameTreeSameCidWherever) {
  MakeSampleTree();
  ASSERT_OK_AND_ASSIGN(ImportResult first, ImportDirectory(*store_, Src()));
  const fs::path copy = tmp_.path() / "copy";
  fs::copy(Src(), copy, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  ASSERT_OK_AND_ASSIGN(ImportResult second, ImportDirectory(*store_, copy));
  EXPECT_EQ(first.manifest_cid, second.manifest_cid);
  Write(copy / "a" / "x.txt", "hello world!");
  ASSERT_OK_AND_ASSIGN(ImportResult changed, ImportDirectory(*store_, copy));
  EXPECT_NE(first.manifest_cid, changed.manifest_cid);
}

TEST_F(DirTreeTest, ScanNamesTheTreeAnImportWouldStore) {
  MakeSampleTree();
  ASSERT_OK_AND_ASSIGN(ImportResult scanned, ScanDirectory(Src()));
  EXPECT_EQ(store_->used_bytes(), 0u);  // nothing stored
  ASSERT_OK_AND_ASSIGN(ImportResult imported, ImportDirectory(*store_, Src()));
  EXPECT_EQ(scanned.manifest_cid, imported.manifest_cid);
  EXPECT_EQ(scanned.manifest, imported.manifest);
  absl::StatusOr<ImportResult> big = ScanDirectory(Src(), {.max_total_bytes = 1 << 20});
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
}

TEST_F(DirTreeTest, SymlinksAreRecordedNeverFollowed) {
  Write(tmp_.path() / "outside" / "secret", "secret");
  fs::create_directories(Src());
  fs::create_directory_symlink(tmp_.path() / "outside", Src() / "out");
  ASSERT_OK_AND_ASSIGN(ImportResult r, ImportDirectory(*store_, Src()));
  ASSERT_EQ(r.manifest.entries.size(), 1u);
  EXPECT_EQ(r.manifest.entries[0].kind, EntryKind::kSymlink);
  EXPECT_EQ(r.manifest.entries[0].target, (tmp_.path() / "outside").string());
}

TEST_F(DirTreeTest, RefusesSpecialFiles) {
  fs::create_directories(Src() / "d");
  ASSERT_EQ(::mkfifo((Src() / "d" / "pipe").c_str(), 0600), 0);
  absl::StatusOr<ImportResult> r = ImportDirectory(*store_, Src());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("d/pipe is a FIFO"), std::string_view::npos) << r.status();
}

TEST_F(DirTreeTest, ImportIsBounded) {
  MakeSampleTree();
  absl::StatusOr<ImportResult> many = ImportDirectory(*store_, Src(), {.max_entries = 3});
  EXPECT_EQ(many.status().code(), absl::StatusCode::kResourceExhausted) << many.status();
  EXPECT_NE(many.status().message().find("more than 3 entries"), std::string_view::npos);
  absl::StatusOr<ImportResult> big = ImportDirectory(*store_, Src(), {.max_total_bytes = 1 << 20});
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
  EXPECT_NE(big.status().message().find("1048576 bytes in all"), std::string_view::npos);
  absl::StatusOr<ImportResult> deep = ImportDirectory(*store_, Src(), {.max_path_bytes = 8});
  EXPECT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("limit is 8"), std::string_view::npos) << deep.status();
}

TEST_F(DirTreeTest, RefusesNamesThatAreNotUtf8) {
  Write(Src() / "bad\xff", "x");
  absl::StatusOr<ImportResult> r = ImportDirectory(*store_, Src());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not valid UTF-8"), std::string_view::npos) << r.status();
}

TEST_F(DirTreeTest, ExportWritesTheSameTree) {
  MakeSampleTree();
  ASSERT_OK_AND_ASSIGN(ImportResult r, ImportDirectory(*store_, Src()));
  ASSERT_OK(ExportTree(*store_, r.manifest, Dest()));
  EXPECT_EQ(Read(Dest() / "a" / "x.txt"), "hello world");
  EXPECT_EQ(Read(Dest() / "a" / "deep" / "y.bin").size(), 3u << 20);
  EXPECT_TRUE(fs::is_directory(Dest() / "empty"));
  EXPECT_EQ(fs::read_symlink(Dest() / "link"), "a/x.txt");
  ASSERT_OK_AND_ASSIGN(ImportResult again, ImportDirectory(*store_, Dest()));
  EXPECT_EQ(again.manifest_cid, r.manifest_cid);
  // Not over an existing tree.
  absl::Status twice = ExportTree(*store_, r.manifest, Dest());
  EXPECT_EQ(twice.code(), absl::StatusCode::kFailedPrecondition) << twice;
}

TEST_F(DirTreeTest, ExportRefusesLinksLeadingOut) {
  const auto refused = [&](std::vector<DirEntry> entries) {
    DirManifest m{std::move(entries)};
    SortEntries(m);
    absl::Status s = ExportTree(*store_, m, tmp_.path() / "out");
    fs::remove_all(tmp_.path() / "out");
    return !s.ok() && s.message().find("leads out") != std::string_view::npos;
  };
  const auto link = [](std::string path, std::string target) {
    return DirEntry{
        .path = std::move(path), .kind = EntryKind::kSymlink, .target = std::move(target)};
  };
  const DirEntry dir_a{.path = "a", .kind = EntryKind::kDirectory};
  EXPECT_TRUE(refused({link("l", "/etc/passwd")}));
  EXPECT_TRUE(refused({link("l", "../x")}));
  EXPECT_TRUE(refused({dir_a, link("a/l", "../../x")}));
  // Through another link of the tree: a/up -> .. is the root, so a/l -> up/../x leaves it.
  EXPECT_TRUE(refused({dir_a, link("a/up", ".."), link("a/l", "up/../x")}));
  EXPECT_TRUE(refused({link("l1", "l2"), link("l2", "l1")}));  // a loop
  EXPECT_FALSE(refused({dir_a, link("a/l", "../a/./x")}));
  EXPECT_FALSE(refused({dir_a, link("a/up", ".."), link("a/l", "up/a/x")}));
}

TEST_F(DirTreeTest, ExportFailsOnMissingOrCorruptBlobs) {
  DirManifest m;
  m.entries.push_back({.path = "f", .kind = EntryKind::kFile, .cid = Cid::Of("absent"), .size = 6});
  absl::Status s = ExportTree(*store_, m, Dest());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find(Cid::Of("absent").ToString()), std::string_view::npos);
}

TEST_F(DirTreeTest, ExportNeverWritesThroughAPlantedSymlink) {
  // A destination that is itself a symlink is refused rather than followed.
  fs::create_directories(tmp_.path() / "elsewhere");
  fs::create_directory_symlink(tmp_.path() / "elsewhere", Dest());
  DirManifest m;
  m.entries.push_back({.path = "d", .kind = EntryKind::kDirectory});
  EXPECT_FALSE(ExportTree(*store_, m, Dest()).ok());
  EXPECT_FALSE(fs::exists(tmp_.path() / "elsewhere" / "d"));
}

}  // namespace
}  // namespace mesh::cas
