// WasiFs: path resolution and the path_* calls: escapes, symlinks, trailing slashes, read-only
// mounts, creation, removal, renames and links, each bad case with its errno.
#include <gtest/gtest.h>

#include "mesh/wasm/wasi_fs.h"
#include "testing/fs_image.h"

namespace mesh::wasm {
namespace {

using testing::DirNode;
using testing::FileNode;
using testing::LinkNode;
using testing::List;
using testing::Mount;
using testing::Open;
using testing::ReadAll;
using testing::WriteString;
using wasi::Errno;
using Names = std::vector<std::string>;

constexpr uint32_t kRo = 3;  // /data, read-only
constexpr uint32_t kRw = 4;  // /work, writable

std::unique_ptr<WasiFs> Make() {
  auto fs = WasiFs::Create(
      {Mount("/data", true,
             {FileNode("a.txt", "alpha"), DirNode("sub"), FileNode("sub/b.txt", "beta"),
              LinkNode("up", "../a.txt"), LinkNode("abs", "/etc/passwd"),
              LinkNode("out", "sub/../../x"), LinkNode("loop1", "loop2"),
              LinkNode("loop2", "loop1"), LinkNode("tosub", "sub"), LinkNode("tob", "sub/b.txt"),
              LinkNode("sub/back", "../a.txt"), LinkNode("dangling", "nowhere")}),
       Mount("/work", false,
             {FileNode("f", "file"), DirNode("d"), DirNode("full"), FileNode("full/x", "x"),
              LinkNode("lf", "f")})},
      "", {}, [] { return uint64_t{42}; });
  EXPECT_TRUE(fs.ok()) << fs.status();
  return *std::move(fs);
}

Errno OpenErr(WasiFs& fs, uint32_t dir, std::string_view path, uint16_t oflags = 0,
              uint64_t rights = wasi::kRightFdRead, uint32_t lookup = wasi::kLookupSymlinkFollow) {
  return fs.PathOpen(dir, lookup, path, oflags, rights, rights, 0).err;
}

TEST(WasiFsPathTest, EscapesFromThePreopenAreRefusedWithEperm) {
  auto fs = Make();
  EXPECT_EQ(OpenErr(*fs, kRo, ".."), Errno::kPerm);
  EXPECT_EQ(OpenErr(*fs, kRo, "sub/../../data/a.txt"), Errno::kPerm);
  EXPECT_EQ(OpenErr(*fs, kRo, "/data/a.txt"), Errno::kPerm);  // absolute
  EXPECT_EQ(OpenErr(*fs, kRo, "abs"), Errno::kPerm);          // absolute symlink target
  EXPECT_EQ(OpenErr(*fs, kRo, "out"), Errno::kPerm);          // a target climbing out
  EXPECT_EQ(fs->PathFilestatGet(kRo, wasi::kLookupSymlinkFollow, "abs").err, Errno::kPerm);
  EXPECT_EQ(OpenErr(*fs, kRo, "loop1"), Errno::kLoop);
  EXPECT_EQ(OpenErr(*fs, kRo, "loop1/x"), Errno::kLoop);
  // Inside the preopen, `..` and symlinks work.
  EXPECT_EQ(OpenErr(*fs, kRo, "sub/../a.txt"), Errno::kSuccess);
  EXPECT_EQ(ReadAll(*fs, Open(*fs, kRo, "sub/back", 0, wasi::kRightFdRead).value), "alpha");
  EXPECT_EQ(ReadAll(*fs, Open(*fs, kRo, "tosub/b.txt", 0, wasi::kRightFdRead).value), "beta");
  // A directory opened below the preopen is a new boundary: `..` may not leave it.
  auto sub = Open(*fs, kRo, "sub", wasi::kOflagDirectory, wasi::kRightFdRead).value;
  EXPECT_EQ(OpenErr(*fs, sub, "../a.txt"), Errno::kPerm);
  EXPECT_EQ(OpenErr(*fs, sub, "back"), Errno::kPerm);
  EXPECT_EQ(OpenErr(*fs, sub, "b.txt"), Errno::kSuccess);
}

TEST(WasiFsPathTest, SymlinksResolveInsideTheMount) {
  auto fs = Make();
  EXPECT_EQ(fs->PathReadlink(kRo, "up").value, "../a.txt");
  EXPECT_EQ(fs->PathReadlink(kRo, "a.txt").err, Errno::kInval);
  EXPECT_EQ(fs->PathReadlink(kRo, "nope").err, Errno::kNoent);
  EXPECT_EQ(fs->PathFilestatGet(kRo, 0, "tob").value.filetype, wasi::kFiletypeSymbolicLink);
  auto followed = fs->PathFilestatGet(kRo, wasi::kLookupSymlinkFollow, "tob").value;
  EXPECT_EQ(followed.filetype, wasi::kFiletypeRegularFile);
  EXPECT_EQ(followed.size, 4u);
  EXPECT_EQ(OpenErr(*fs, kRo, "tob", 0, wasi::kRightFdRead, 0), Errno::kLoop);  // O_NOFOLLOW
  EXPECT_EQ(OpenErr(*fs, kRo, "tosub", wasi::kOflagDirectory, wasi::kRightFdRead, 0),
            Errno::kNotdir);
  EXPECT_EQ(OpenErr(*fs, kRo, "dangling"), Errno::kNoent);
  // A symlink in the middle of a path is followed even without the follow flag.
  EXPECT_EQ(OpenErr(*fs, kRo, "tosub/b.txt", 0, wasi::kRightFdRead, 0), Errno::kSuccess);
  // Creating through a dangling symlink makes its target (inside the mount).
  auto made = fs->PathSymlink("new-target", kRw, "dl");
  EXPECT_EQ(made, Errno::kSuccess);
  EXPECT_EQ(OpenErr(*fs, kRw, "dl", wasi::kOflagCreat, testing::kReadWrite), Errno::kSuccess);
  EXPECT_EQ(fs->PathFilestatGet(kRw, 0, "new-target").value.filetype, wasi::kFiletypeRegularFile);
}

TEST(WasiFsPathTest, TrailingSlashes) {
  auto fs = Make();
  EXPECT_EQ(OpenErr(*fs, kRo, "a.txt/"), Errno::kNotdir);
  EXPECT_EQ(fs->PathFilestatGet(kRo, 0, "a.txt/").err, Errno::kNotdir);
  EXPECT_EQ(OpenErr(*fs, kRo, "sub/"), Errno::kSuccess);
  EXPECT_EQ(OpenErr(*fs, kRo, "tosub/"), Errno::kSuccess);  // a trailing slash follows
  EXPECT_EQ(OpenErr(*fs, kRw, "newfile/", wasi::kOflagCreat, testing::kReadWrite), Errno::kIsdir);
  EXPECT_EQ(fs->PathCreateDirectory(kRw, "nd/"), Errno::kSuccess);
  EXPECT_EQ(fs->PathUnlinkFile(kRw, "f/"), Errno::kNotdir);
  EXPECT_EQ(fs->PathRemoveDirectory(kRw, "nd/"), Errno::kSuccess);
  EXPECT_EQ(fs->PathSymlink("f", kRw, "s/"), Errno::kNoent);
  EXPECT_EQ(fs->PathLink(kRw, 0, "f", kRw, "h/"), Errno::kNoent);
  EXPECT_EQ(fs->PathRename(kRw, "f", kRw, "g/"), Errno::kNotdir);
}

TEST(WasiFsPathTest, OpenFlags) {
  auto fs = Make();
  const uint16_t creat = wasi::kOflagCreat;
  EXPECT_EQ(OpenErr(*fs, kRw, "f", creat | wasi::kOflagExcl, testing::kReadWrite), Errno::kExist);
  EXPECT_EQ(OpenErr(*fs, kRw, "d", creat | wasi::kOflagExcl, testing::kReadWrite), Errno::kExist);
  EXPECT_EQ(OpenErr(*fs, kRw, "g", creat | wasi::kOflagExcl, testing::kReadWrite), Errno::kSuccess);
  EXPECT_EQ(OpenErr(*fs, kRw, "missing"), Errno::kNoent);
  EXPECT_EQ(OpenErr(*fs, kRw, "missing/x", creat, testing::kReadWrite), Errno::kNoent);
  EXPECT_EQ(OpenErr(*fs, kRw, "f/x", creat, testing::kReadWrite), Errno::kNotdir);
  EXPECT_EQ(OpenErr(*fs, kRw, "d", wasi::kOflagDirectory | creat), Errno::kInval);
  EXPECT_EQ(OpenErr(*fs, kRw, "d", wasi::kOflagDirectory | wasi::kOflagTrunc), Errno::kInval);
  EXPECT_EQ(OpenErr(*fs, kRw, "d", 0, testing::kReadWrite), Errno::kIsdir);
  EXPECT_EQ(OpenErr(*fs, kRw, "d", wasi::kOflagTrunc), Errno::kIsdir);
  EXPECT_EQ(OpenErr(*fs, kRw, "f", wasi::kOflagDirectory), Errno::kNotdir);
  EXPECT_EQ(OpenErr(*fs, kRw, "."), Errno::kSuccess);
  EXPECT_EQ(OpenErr(*fs, kRw, std::string(256, 'n')), Errno::kNametoolong);
  EXPECT_EQ(OpenErr(*fs, kRw, std::string(kMaxPathBytes + 1, 'n')), Errno::kNametoolong);
  EXPECT_EQ(OpenErr(*fs, kRw, ""), Errno::kNoent);
  EXPECT_EQ(OpenErr(*fs, kRw, std::string("f\0x", 3)), Errno::kInval);
  auto file = Open(*fs, kRw, "f").value;
  EXPECT_EQ(OpenErr(*fs, file, "x"), Errno::kNotdir);  // a file is no directory
  EXPECT_EQ(OpenErr(*fs, 99, "x"), Errno::kBadf);
  EXPECT_EQ(OpenErr(*fs, 1, "x"), Errno::kBadf);  // stdio
}

TEST(WasiFsPathTest, ReadOnlyMountRefusesEveryChangeWithEperm) {
  auto fs = Make();
  EXPECT_EQ(OpenErr(*fs, kRo, "a.txt", 0, testing::kReadWrite), Errno::kPerm);
  EXPECT_EQ(OpenErr(*fs, kRo, "a.txt", wasi::kOflagTrunc), Errno::kPerm);
  EXPECT_EQ(OpenErr(*fs, kRo, "new", wasi::kOflagCreat), Errno::kPerm);
  EXPECT_EQ(fs->PathCreateDirectory(kRo, "nd"), Errno::kPerm);
  EXPECT_EQ(fs->PathRemoveDirectory(kRo, "sub"), Errno::kPerm);
  EXPECT_EQ(fs->PathUnlinkFile(kRo, "a.txt"), Errno::kPerm);
  EXPECT_EQ(fs->PathRename(kRo, "a.txt", kRo, "b"), Errno::kPerm);
  EXPECT_EQ(fs->PathRename(kRo, "a.txt", kRw, "b"), Errno::kPerm);
  EXPECT_EQ(fs->PathLink(kRo, 0, "a.txt", kRo, "h"), Errno::kPerm);
  EXPECT_EQ(fs->PathSymlink("a.txt", kRo, "s"), Errno::kPerm);
  EXPECT_EQ(fs->PathFilestatSetTimes(kRo, 0, "a.txt", 1, 1, wasi::kFstMtim), Errno::kPerm);
  EXPECT_EQ(List(*fs, kRo).size(), 12u);  // unchanged: ., .. and 10 entries
  EXPECT_EQ(ReadAll(*fs, Open(*fs, kRo, "a.txt", 0, wasi::kRightFdRead).value), "alpha");
}

TEST(WasiFsPathTest, CreateAndRemove) {
  auto fs = Make();
  EXPECT_EQ(fs->PathCreateDirectory(kRw, "d"), Errno::kExist);
  EXPECT_EQ(fs->PathCreateDirectory(kRw, "f"), Errno::kExist);
  EXPECT_EQ(fs->PathCreateDirectory(kRw, "."), Errno::kExist);
  EXPECT_EQ(fs->PathCreateDirectory(kRw, "a/b"), Errno::kNoent);
  EXPECT_EQ(fs->PathCreateDirectory(kRw, "d/e"), Errno::kSuccess);
  EXPECT_EQ(fs->PathRemoveDirectory(kRw, "d"), Errno::kNotempty);
  EXPECT_EQ(fs->PathRemoveDirectory(kRw, "f"), Errno::kNotdir);
  EXPECT_EQ(fs->PathRemoveDirectory(kRw, "lf"), Errno::kNotdir);
  EXPECT_EQ(fs->PathRemoveDirectory(kRw, "."), Errno::kInval);
  EXPECT_EQ(fs->PathRemoveDirectory(kRw, "nope"), Errno::kNoent);
  EXPECT_EQ(fs->PathRemoveDirectory(kRw, "d/e"), Errno::kSuccess);
  EXPECT_EQ(fs->PathUnlinkFile(kRw, "d"), Errno::kIsdir);
  EXPECT_EQ(fs->PathUnlinkFile(kRw, "nope"), Errno::kNoent);
  EXPECT_EQ(fs->PathUnlinkFile(kRw, "lf"), Errno::kSuccess);  // the link, not its target
  EXPECT_EQ(fs->PathFilestatGet(kRw, 0, "f").value.size, 4u);
  EXPECT_EQ(List(*fs, kRw), (Names{".", "..", "d", "f", "full"}));
  // A directory removed while open takes no new entries.
  auto dfd = Open(*fs, kRw, "d", wasi::kOflagDirectory, wasi::kRightFdRead).value;
  EXPECT_EQ(fs->PathRemoveDirectory(kRw, "d"), Errno::kSuccess);
  EXPECT_EQ(OpenErr(*fs, dfd, "x", wasi::kOflagCreat, testing::kReadWrite), Errno::kNoent);
  EXPECT_EQ(fs->PathCreateDirectory(dfd, "y"), Errno::kNoent);
}

TEST(WasiFsPathTest, RenameFollowsPosix) {
  auto fs = Make();
  EXPECT_EQ(fs->PathRename(kRw, "nope", kRw, "x"), Errno::kNoent);
  EXPECT_EQ(fs->PathRename(kRw, "f", kRw, "d"), Errno::kIsdir);   // file over a directory
  EXPECT_EQ(fs->PathRename(kRw, "d", kRw, "f"), Errno::kNotdir);  // directory over a file
  EXPECT_EQ(fs->PathRename(kRw, "d", kRw, "full"), Errno::kNotempty);
  EXPECT_EQ(fs->PathRename(kRw, "full", kRw, "full/x2"), Errno::kInval);  // into itself
  EXPECT_EQ(fs->PathRename(kRw, ".", kRw, "x"), Errno::kInval);
  EXPECT_EQ(fs->PathRename(kRw, "f", kRw, "lf"), Errno::kSuccess);  // over a file (a link)
  EXPECT_EQ(ReadAll(*fs, Open(*fs, kRw, "lf").value), "file");
  EXPECT_EQ(fs->PathFilestatGet(kRw, 0, "f").err, Errno::kNoent);
  EXPECT_EQ(fs->PathRename(kRw, "full", kRw, "d"), Errno::kSuccess);  // over an empty dir
  EXPECT_EQ(ReadAll(*fs, Open(*fs, kRw, "d/x").value), "x");
  EXPECT_EQ(fs->PathRename(kRw, "d/x", kRw, "moved"), Errno::kSuccess);
  EXPECT_EQ(fs->PathRename(kRw, "moved", kRw, "moved"), Errno::kSuccess);
  EXPECT_EQ(List(*fs, kRw), (Names{".", "..", "d", "lf", "moved"}));
  // Each mount is its own device.
  auto out = WasiFs::Create({Mount("/a", false, {FileNode("f", "")}), Mount("/b", false, {})}, "",
                            {}, [] { return uint64_t{0}; });
  EXPECT_EQ((*out)->PathRename(3, "f", 4, "f"), Errno::kXdev);
  EXPECT_EQ((*out)->PathLink(3, 0, "f", 4, "f"), Errno::kXdev);
}

TEST(WasiFsPathTest, HardLinksShareTheFile) {
  auto fs = Make();
  EXPECT_EQ(fs->PathLink(kRw, 0, "f", kRw, "h"), Errno::kSuccess);
  EXPECT_EQ(fs->PathFilestatGet(kRw, 0, "f").value.nlink, 2u);
  EXPECT_EQ(fs->PathFilestatGet(kRw, 0, "h").value.ino, fs->PathFilestatGet(kRw, 0, "f").value.ino);
  EXPECT_EQ(WriteString(*fs, Open(*fs, kRw, "h").value, "FILE").value, 4u);
  EXPECT_EQ(ReadAll(*fs, Open(*fs, kRw, "f").value), "FILE");
  EXPECT_EQ(fs->PathLink(kRw, 0, "d", kRw, "hd"), Errno::kPerm);
  EXPECT_EQ(fs->PathLink(kRw, wasi::kLookupSymlinkFollow, "lf", kRw, "h2"), Errno::kInval);
  EXPECT_EQ(fs->PathLink(kRw, 0, "f", kRw, "d"), Errno::kExist);
  EXPECT_EQ(fs->PathLink(kRw, 0, "nope", kRw, "h3"), Errno::kNoent);
  EXPECT_EQ(fs->PathLink(kRo, 0, "a.txt", kRw, "h4"), Errno::kPerm);  // source read-only
  EXPECT_EQ(fs->PathUnlinkFile(kRw, "f"), Errno::kSuccess);
  EXPECT_EQ(ReadAll(*fs, Open(*fs, kRw, "h").value), "FILE");
}

TEST(WasiFsPathTest, SymlinkCreation) {
  auto fs = Make();
  EXPECT_EQ(fs->PathSymlink("/etc/passwd", kRw, "s"), Errno::kPerm);  // absolute: refused
  EXPECT_EQ(fs->PathSymlink("", kRw, "s"), Errno::kNoent);
  EXPECT_EQ(fs->PathSymlink("f", kRw, "f"), Errno::kExist);
  EXPECT_EQ(fs->PathSymlink("../../x", kRw, "s"), Errno::kSuccess);  // made, refused on use
  EXPECT_EQ(OpenErr(*fs, kRw, "s"), Errno::kPerm);
  EXPECT_EQ(fs->PathReadlink(kRw, "s").value, "../../x");
  EXPECT_EQ(fs->PathSymlink("d", kRw, "sd"), Errno::kSuccess);
  EXPECT_EQ(OpenErr(*fs, kRw, "sd/new", wasi::kOflagCreat, testing::kReadWrite), Errno::kSuccess);
  EXPECT_EQ(fs->PathFilestatGet(kRw, 0, "d/new").value.filetype, wasi::kFiletypeRegularFile);
}

TEST(WasiFsPathTest, SetTimesThroughAPath) {
  auto fs = Make();
  EXPECT_EQ(fs->PathFilestatSetTimes(kRw, 0, "f", 5, 6, wasi::kFstAtim | wasi::kFstMtim),
            Errno::kSuccess);
  auto st = fs->PathFilestatGet(kRw, 0, "f").value;
  EXPECT_EQ(st.atim, 5u);
  EXPECT_EQ(st.mtim, 6u);
  EXPECT_EQ(st.ctim, 42u);
  EXPECT_EQ(fs->PathFilestatSetTimes(kRw, 0, "nope", 0, 0, 0), Errno::kNoent);
  EXPECT_EQ(fs->PathFilestatSetTimes(kRw, 0, "f", 0, 0, wasi::kFstMtim | wasi::kFstMtimNow),
            Errno::kInval);
}

}  // namespace
}  // namespace mesh::wasm
