// WasiFs: descriptors, reads and writes, listings, quotas and the output directory, in host
// terms (no wasm). Path resolution and the path_* calls: wasi_fs_path_test.cc.
#include "mesh/wasm/wasi_fs.h"

#include <gtest/gtest.h>

#include <functional>

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

// A listing read two entries per call, each call resuming at the last whole entry's cookie;
// `between` runs after each call.
Names ListInPieces(WasiFs& fs, uint32_t fd, const std::function<void(int)>& between = {}) {
  Names names;
  uint64_t next = 0;
  std::vector<uint8_t> two(2 * wasi::kDirentSize + 4);
  for (int call = 0; call < 100; ++call) {
    auto part = fs.Readdir(fd, two, next);
    auto got = testing::ParseDirents(std::span<const uint8_t>(two.data(), part.value));
    if (got.empty()) break;
    for (const auto& d : got) names.push_back(d.name);
    next = got.back().next;
    if (between) between(call);
  }
  return names;
}

class WasiFsTest : public ::testing::Test {
 protected:
  std::unique_ptr<WasiFs> Make(std::vector<FsMount> mounts, std::string output_dir = "",
                               Limits limits = {}) {
    auto fs =
        WasiFs::Create(std::move(mounts), std::move(output_dir), limits, [this] { return now_; });
    EXPECT_TRUE(fs.ok()) << fs.status();
    return fs.ok() ? *std::move(fs) : nullptr;
  }
  // /data (read-only) at fd 3 and /work (writable) at fd 4.
  std::unique_ptr<WasiFs> Standard(Limits limits = {}) {
    return Make({Mount("/data", true,
                       {FileNode("a.txt", "alpha"), DirNode("sub"), FileNode("sub/b.txt", "beta")}),
                 Mount("/work", false, {FileNode("w.txt", "hello world"), DirNode("d")})},
                "", limits);
  }
  uint64_t now_ = 1000;
};

TEST_F(WasiFsTest, PreopensAreNumberedInOrderAndNamed) {
  auto fs = Standard();
  EXPECT_EQ(fs->PrestatDirName(3).value, "/data");
  EXPECT_EQ(fs->PrestatDirName(4).value, "/work");
  EXPECT_EQ(fs->PrestatDirName(5).err, Errno::kBadf);
  auto fd = Open(*fs, 3, "a.txt", 0, wasi::kRightFdRead);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(fd.value, 5u);
  EXPECT_EQ(fs->PrestatDirName(fd.value).err, Errno::kNotdir);  // open, not a preopen
  auto st = fs->FdstatGet(3);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st.value.filetype, wasi::kFiletypeDirectory);
  EXPECT_NE(st.value.rights_base & wasi::kRightPathOpen, 0u);
  EXPECT_NE(st.value.rights_inheriting & wasi::kRightFdWrite, 0u);
}

TEST_F(WasiFsTest, ReadsSeeksAndPreadsAMountedFile) {
  auto fs = Standard();
  auto fd = Open(*fs, 4, "w.txt", 0, wasi::kRightFdRead).value;
  EXPECT_EQ(ReadAll(*fs, fd), "hello world");
  EXPECT_EQ(fs->Tell(fd).value, 11u);
  EXPECT_EQ(fs->Seek(fd, -5, wasi::kWhenceEnd).value, 6u);
  EXPECT_EQ(ReadAll(*fs, fd), "world");
  uint8_t buf[5];
  std::span<uint8_t> one(buf, 5);
  auto n = fs->Read(fd, std::span<const std::span<uint8_t>>(&one, 1), 0);
  EXPECT_EQ(n.value, 5u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 5), "hello");
  EXPECT_EQ(fs->Tell(fd).value, 11u);                      // pread leaves the position
  EXPECT_EQ(WriteString(*fs, fd, "x").err, Errno::kBadf);  // opened for reading only
  EXPECT_EQ(fs->Seek(fd, -1, wasi::kWhenceSet).err, Errno::kInval);
  EXPECT_EQ(fs->Seek(fd, -100, wasi::kWhenceCur).err, Errno::kInval);
  EXPECT_EQ(fs->Seek(fd, 0, 3).err, Errno::kInval);
  EXPECT_EQ(fs->Seek(3, 0, wasi::kWhenceSet).err, Errno::kBadf);  // a directory
  EXPECT_EQ(fs->Read(3, {}).err, Errno::kBadf);
}

TEST_F(WasiFsTest, CopyOnWriteLeavesTheMountedBytesUnchanged) {
  auto shared = std::make_shared<const std::string>("original");
  FsNode node{"f", FsKind::kFile, {"", *shared, shared}};
  auto fs = Make({Mount("/w", false, {node})});
  auto fd = Open(*fs, 3, "f").value;
  EXPECT_EQ(WriteString(*fs, fd, "NEW").value, 3u);
  EXPECT_EQ(*shared, "original");
  EXPECT_EQ(fs->Seek(fd, 0, wasi::kWhenceSet).value, 0u);
  EXPECT_EQ(ReadAll(*fs, fd), "NEWginal");
  EXPECT_EQ(fs->bytes_written(), 8u);  // a changed file counts whole
  // A second run over the same image sees the original again: the copy was private.
  auto again = Make({Mount("/w", false, {node})});
  EXPECT_EQ(ReadAll(*again, Open(*again, 3, "f", 0, wasi::kRightFdRead).value), "original");
}

TEST_F(WasiFsTest, TruncateAppendAndWritesPastTheEnd) {
  auto fs = Standard();
  auto fd = Open(*fs, 4, "w.txt", wasi::kOflagTrunc).value;
  EXPECT_EQ(fs->FilestatGet(fd).value.size, 0u);
  EXPECT_EQ(fs->Seek(fd, 4, wasi::kWhenceSet).value, 4u);  // past the end is allowed
  EXPECT_EQ(WriteString(*fs, fd, "xy").value, 2u);
  EXPECT_EQ(fs->Seek(fd, 0, wasi::kWhenceSet).value, 0u);
  EXPECT_EQ(ReadAll(*fs, fd), std::string("\0\0\0\0xy", 6));  // the gap reads as zeros
  auto app = Open(*fs, 4, "w.txt", 0, testing::kReadWrite, wasi::kFdflagAppend).value;
  EXPECT_EQ(fs->Seek(app, 0, wasi::kWhenceSet).value, 0u);
  EXPECT_EQ(WriteString(*fs, app, "Z").value, 1u);  // appends whatever the position
  EXPECT_EQ(fs->Tell(app).value, 7u);
  EXPECT_EQ(WriteString(*fs, app, "Q", 0).value, 1u);  // pwrite in append mode appends too
  EXPECT_EQ(fs->Tell(app).value, 7u);                  // ... and leaves the position
  EXPECT_EQ(fs->FdstatGet(app).value.flags, wasi::kFdflagAppend);
  EXPECT_EQ(fs->FdstatSetFlags(app, 0), Errno::kSuccess);
  EXPECT_EQ(WriteString(*fs, app, "!").value, 1u);  // at the position (7) again
  EXPECT_EQ(fs->Seek(fd, 0, wasi::kWhenceSet).value, 0u);
  EXPECT_EQ(ReadAll(*fs, fd), std::string("\0\0\0\0xyZ!", 8));
  EXPECT_EQ(fs->FdstatSetFlags(app, wasi::kFdflagSync), Errno::kInval);
  EXPECT_EQ(fs->FdstatSetFlags(4, wasi::kFdflagAppend), Errno::kBadf);  // a directory
}

TEST_F(WasiFsTest, SetSizeAllocateAndSyncs) {
  auto fs = Standard();
  auto fd = Open(*fs, 4, "w.txt").value;
  EXPECT_EQ(fs->FilestatSetSize(fd, 5), Errno::kSuccess);
  EXPECT_EQ(ReadAll(*fs, fd), "hello");
  EXPECT_EQ(fs->FilestatSetSize(fd, 7), Errno::kSuccess);
  EXPECT_EQ(fs->Seek(fd, 0, wasi::kWhenceSet).value, 0u);
  EXPECT_EQ(ReadAll(*fs, fd), std::string("hello\0\0", 7));
  EXPECT_EQ(fs->Allocate(fd, 0, 10), Errno::kSuccess);
  EXPECT_EQ(fs->FilestatGet(fd).value.size, 10u);
  EXPECT_EQ(fs->Allocate(fd, 0, 0), Errno::kInval);
  auto ro = Open(*fs, 4, "w.txt", 0, wasi::kRightFdRead).value;
  EXPECT_EQ(fs->FilestatSetSize(ro, 1), Errno::kBadf);
  EXPECT_EQ(fs->Allocate(ro, 0, 100), Errno::kBadf);
  EXPECT_EQ(fs->Sync(fd), Errno::kSuccess);
  EXPECT_EQ(fs->Sync(4), Errno::kBadf);
  EXPECT_EQ(fs->Advise(fd, 0, 0, 5), Errno::kSuccess);
  EXPECT_EQ(fs->Advise(fd, 0, 0, 6), Errno::kInval);
  EXPECT_EQ(fs->FilestatSetSize(4, 0), Errno::kBadf);
}

TEST_F(WasiFsTest, ReaddirListsDotsThenNamesWithStableCookies) {
  auto fs = Make({Mount(
      "/m", true, {FileNode("c", "3"), DirNode("a"), LinkNode("b", "c"), FileNode("a/x", "")})});
  EXPECT_EQ(List(*fs, 3), (Names{".", "..", "a", "b", "c"}));
  std::vector<uint8_t> buf(1024);
  auto used = fs->Readdir(3, buf, 0);
  auto all = testing::ParseDirents(std::span<const uint8_t>(buf.data(), used.value));
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].next, 1u);
  EXPECT_EQ(all[0].ino, fs->FilestatGet(3).value.ino);
  EXPECT_EQ(all[1].ino, all[0].ino);  // ".." carries the directory's own inode, as wasmtime
  EXPECT_EQ(all[2].type, wasi::kFiletypeDirectory);
  EXPECT_EQ(all[3].type, wasi::kFiletypeSymbolicLink);
  EXPECT_EQ(all[4].type, wasi::kFiletypeRegularFile);
  EXPECT_EQ(all[4].next, 5u);
  // Resuming from each cookie gives the rest; a small buffer is filled to the brim.
  for (uint64_t cookie = 0; cookie <= 5; ++cookie) {
    auto rest = fs->Readdir(3, buf, cookie);
    auto got = testing::ParseDirents(std::span<const uint8_t>(buf.data(), rest.value));
    ASSERT_EQ(got.size(), 5 - cookie);
    if (!got.empty()) {
      EXPECT_EQ(got[0].name, all[cookie].name);
    }
  }
  // Reading two entries at a time, resuming at each last whole entry's cookie, gives the
  // same listing (through the cursor WasiFs keeps for the next cookie).
  EXPECT_EQ(ListInPieces(*fs, 3), (Names{".", "..", "a", "b", "c"}));
  std::vector<uint8_t> small(30);
  EXPECT_EQ(fs->Readdir(3, small, 0).value, 30u);  // the second entry was cut: full buffer
  EXPECT_EQ(fs->Readdir(3, small, 1000).value, 0u);
  auto file = Open(*fs, 3, "c", 0, wasi::kRightFdRead).value;
  EXPECT_EQ(fs->Readdir(file, buf, 0).err, Errno::kBadf);
}

TEST_F(WasiFsTest, ReaddirCookiesAreIndicesWhenTheDirectoryChanges) {
  auto fs = Make({Mount("/w", false, {FileNode("a", ""), FileNode("b", ""), FileNode("c", "")})});
  // As in wasmtime a cookie is a position: an entry made between calls shifts the rest, so
  // one is seen twice (POSIX allows a listing to miss or repeat entries that change).
  auto names = ListInPieces(*fs, 3, [&](int call) {
    if (call == 1) {
      EXPECT_TRUE(Open(*fs, 3, "0", wasi::kOflagCreat).ok());
    }
  });
  EXPECT_EQ(names, (Names{".", "..", "a", "b", "b", "c"}));
  EXPECT_EQ(ListInPieces(*fs, 3), (Names{".", "..", "0", "a", "b", "c"}));
}

TEST_F(WasiFsTest, RenumberCloseAndClosingAPreopen) {
  auto fs = Standard();
  auto a = Open(*fs, 3, "a.txt", 0, wasi::kRightFdRead).value;  // 5
  EXPECT_EQ(fs->Renumber(a, 10), Errno::kSuccess);
  EXPECT_FALSE(fs->IsOpen(a));
  EXPECT_EQ(ReadAll(*fs, 10), "alpha");
  auto b = Open(*fs, 3, "sub/b.txt", 0, wasi::kRightFdRead).value;
  EXPECT_EQ(b, 5u);                                 // the lowest free number
  EXPECT_EQ(fs->Renumber(b, 10), Errno::kSuccess);  // replaces what 10 was
  EXPECT_EQ(ReadAll(*fs, 10), "beta");
  EXPECT_EQ(fs->Renumber(7, 10), Errno::kBadf);
  EXPECT_EQ(fs->Renumber(10, 1), Errno::kNotsup);  // stdio is not a file descriptor here
  EXPECT_EQ(fs->Renumber(10, 10), Errno::kSuccess);
  EXPECT_EQ(fs->Close(3), Errno::kSuccess);  // a preopen may be closed, as in wasmtime
  EXPECT_EQ(Open(*fs, 3, "a.txt").err, Errno::kBadf);
  EXPECT_EQ(fs->Close(3), Errno::kBadf);
  EXPECT_EQ(fs->FdstatSetRights(4), Errno::kSuccess);
  EXPECT_EQ(fs->FdstatSetRights(3), Errno::kBadf);
}

TEST_F(WasiFsTest, OpenDescriptorsAreBounded) {
  auto fs = Standard();
  size_t opened = 0;
  for (;;) {
    auto fd = Open(*fs, 3, "a.txt", 0, wasi::kRightFdRead);
    if (!fd.ok()) {
      EXPECT_EQ(fd.err, Errno::kMfile);
      break;
    }
    ++opened;
  }
  EXPECT_EQ(opened + 2, kMaxOpenFds);
  EXPECT_EQ(fs->Close(5), Errno::kSuccess);
  EXPECT_EQ(Open(*fs, 3, "a.txt", 0, wasi::kRightFdRead).value, 5u);
}

TEST_F(WasiFsTest, FdstatRightsFollowTheOpenMode) {
  auto fs = Standard();
  auto ro = Open(*fs, 4, "w.txt", 0, wasi::kRightFdRead).value;
  auto st = fs->FdstatGet(ro).value;
  EXPECT_EQ(st.filetype, wasi::kFiletypeRegularFile);
  EXPECT_NE(st.rights_base & wasi::kRightFdRead, 0u);
  EXPECT_EQ(st.rights_base & wasi::kRightFdWrite, 0u);
  auto dir = Open(*fs, 4, "d", wasi::kOflagDirectory, wasi::kRightFdRead).value;
  st = fs->FdstatGet(dir).value;
  EXPECT_EQ(st.filetype, wasi::kFiletypeDirectory);
  EXPECT_EQ(st.rights_base & wasi::kRightFdSeek, 0u);
  EXPECT_NE(st.rights_inheriting & wasi::kRightFdWrite, 0u);  // so openat(dir, O_WRONLY) works
  EXPECT_EQ(fs->FdstatGet(99).err, Errno::kBadf);
}

TEST_F(WasiFsTest, BytesQuotaFailsWholeWritesWithEnospc) {
  Limits limits;
  limits.fs_bytes = 100;
  auto fs = Standard(limits);
  auto fd = Open(*fs, 4, "new", wasi::kOflagCreat).value;
  EXPECT_EQ(WriteString(*fs, fd, std::string(60, 'a')).value, 60u);
  EXPECT_EQ(WriteString(*fs, fd, std::string(50, 'b')).err, Errno::kNospc);
  EXPECT_EQ(fs->FilestatGet(fd).value.size, 60u);  // nothing of the failed write
  EXPECT_EQ(fs->Seek(fd, 0, wasi::kWhenceSet).value, 0u);
  EXPECT_EQ(WriteString(*fs, fd, std::string(60, 'c')).value, 60u);  // rewriting is free
  EXPECT_EQ(fs->bytes_written(), 60u);
  EXPECT_EQ(fs->Seek(fd, 1000, wasi::kWhenceSet).value, 1000u);
  EXPECT_EQ(WriteString(*fs, fd, "x").err, Errno::kNospc);  // the gap would count
  EXPECT_EQ(fs->FilestatSetSize(fd, 101), Errno::kNospc);
  EXPECT_EQ(fs->Allocate(fd, 0, 101), Errno::kNospc);
  // Changing a mounted file counts its whole size (11 bytes) once.
  auto w = Open(*fs, 4, "w.txt").value;
  EXPECT_EQ(WriteString(*fs, w, "H").value, 1u);
  EXPECT_EQ(fs->bytes_written(), 71u);
  EXPECT_EQ(fs->PathSymlink(std::string(29, 'l'), 4, "link"), Errno::kSuccess);  // 29 bytes
  EXPECT_EQ(fs->PathSymlink("z", 4, "link2"), Errno::kNospc);
  EXPECT_EQ(fs->bytes_written(), 100u);
}

TEST_F(WasiFsTest, AJobThatFillsItsQuotaStopsAtTheLimit) {
  Limits limits;
  limits.fs_bytes = 10000;
  auto fs = Standard(limits);
  uint64_t total = 0;
  for (int i = 0;; ++i) {
    auto fd = Open(*fs, 4, "f" + std::to_string(i), wasi::kOflagCreat);
    ASSERT_TRUE(fd.ok());
    auto n = WriteString(*fs, fd.value, std::string(1500, 'x'));
    EXPECT_EQ(fs->Close(fd.value), Errno::kSuccess);
    if (!n.ok()) {
      EXPECT_EQ(n.err, Errno::kNospc);
      break;
    }
    total += n.value;
  }
  EXPECT_EQ(total, 9000u);
  EXPECT_EQ(fs->bytes_written(), 9000u);
  EXPECT_LE(fs->bytes_written(), limits.fs_bytes);
}

TEST_F(WasiFsTest, FilesQuotaFailsCreationsWithEdquot) {
  Limits limits;
  limits.fs_files = 3;
  auto fs = Standard(limits);
  EXPECT_TRUE(Open(*fs, 4, "f1", wasi::kOflagCreat).ok());
  EXPECT_EQ(fs->PathCreateDirectory(4, "d1"), Errno::kSuccess);
  EXPECT_EQ(fs->PathSymlink("f1", 4, "s1"), Errno::kSuccess);
  EXPECT_EQ(Open(*fs, 4, "f2", wasi::kOflagCreat).err, Errno::kDquot);
  EXPECT_EQ(fs->PathCreateDirectory(4, "d2"), Errno::kDquot);
  EXPECT_EQ(fs->PathLink(4, 0, "f1", 4, "h1"), Errno::kDquot);
  EXPECT_EQ(fs->PathUnlinkFile(4, "f1"), Errno::kSuccess);
  EXPECT_EQ(Open(*fs, 4, "f3", wasi::kOflagCreat).err, Errno::kDquot);  // creations, not live
  EXPECT_EQ(fs->files_created(), 3u);
  EXPECT_TRUE(Open(*fs, 4, "w.txt", wasi::kOflagCreat).ok());  // existing: nothing created
}

TEST_F(WasiFsTest, OutputDirectoryOutsideTheMountsIsAPreopenAfterThem) {
  auto fs = Make({Mount("/data", true, {FileNode("in", "x")})}, "/out");
  EXPECT_EQ(fs->PrestatDirName(4).value, "/out");
  EXPECT_EQ(fs->PathCreateDirectory(4, "b"), Errno::kSuccess);
  EXPECT_EQ(WriteString(*fs, Open(*fs, 4, "b/c.txt", wasi::kOflagCreat).value, "C").value, 1u);
  EXPECT_EQ(WriteString(*fs, Open(*fs, 4, "a.txt", wasi::kOflagCreat).value, "A").value, 1u);
  EXPECT_EQ(fs->PathSymlink("a.txt", 4, "l"), Errno::kSuccess);
  auto files = fs->CollectOutput();
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].path, "a.txt");
  EXPECT_EQ(files[0].bytes, "A");
  EXPECT_EQ(files[1].path, "b");
  EXPECT_EQ(files[1].kind, FsKind::kDirectory);
  EXPECT_EQ(files[2].path, "b/c.txt");
  EXPECT_EQ(files[3].kind, FsKind::kSymlink);
  EXPECT_EQ(files[3].bytes, "a.txt");
}

TEST_F(WasiFsTest, OutputDirectoryInsideAWritableMountIsMadeThere) {
  auto fs =
      Make({Mount("/", true, {}), Mount("/work", false, {FileNode("keep", "k")})}, "/work/out/run");
  EXPECT_FALSE(fs->IsOpen(5));  // no extra preopen
  auto fd = Open(*fs, 4, "out/run/r.txt", wasi::kOflagCreat);
  ASSERT_TRUE(fd.ok()) << static_cast<int>(fd.err);
  EXPECT_EQ(WriteString(*fs, fd.value, "result").value, 6u);
  auto files = fs->CollectOutput();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, "r.txt");
  EXPECT_EQ(files[0].bytes, "result");
  EXPECT_EQ(fs->files_created(), 1u);  // the host made out/run, not the job
  // Under a read-only mount it is a separate, writable preopen.
  auto ro = Make({Mount("/data", true, {})}, "/data/out");
  EXPECT_EQ(ro->PrestatDirName(4).value, "/data/out");
  EXPECT_TRUE(Open(*ro, 4, "x", wasi::kOflagCreat).ok());
}

TEST_F(WasiFsTest, MalformedImagesAreRefused) {
  auto make = [](std::vector<FsMount> mounts, std::string out = "") {
    return WasiFs::Create(std::move(mounts), std::move(out), {}, [] { return uint64_t{0}; })
        .status();
  };
  EXPECT_FALSE(make({Mount("/m", true, {FileNode("a/b", "")})}).ok());  // parent missing
  EXPECT_FALSE(make({Mount("/m", true, {FileNode("a", ""), FileNode("a/b", "")})}).ok());
  EXPECT_FALSE(make({Mount("/m", true, {FileNode("../x", "")})}).ok());
  EXPECT_FALSE(make({Mount("/m", true, {FileNode("a", ""), FileNode("a", "")})}).ok());
  EXPECT_FALSE(make({Mount("/m", true, {}), Mount("/m", true, {})}).ok());
  EXPECT_FALSE(make({Mount("m", true, {})}).ok());
  EXPECT_FALSE(make({Mount("/w", false, {FileNode("out", "")})}, "/w/out").ok());
  EXPECT_FALSE(make({Mount("/w", false, {})}, "/w/../etc").ok());
  EXPECT_FALSE(make({}, "out").ok());
  EXPECT_TRUE(make({Mount("/m", true, {DirNode("a"), FileNode("a/b", "")})}).ok());
}

TEST_F(WasiFsTest, InodesAndTimestampsAreDeterministic) {
  auto a = Standard();
  now_ = 5000;
  auto b = Standard();
  auto sa = a->PathFilestatGet(3, 0, "sub/b.txt").value;
  auto sb = b->PathFilestatGet(3, 0, "sub/b.txt").value;
  EXPECT_EQ(sa.ino, sb.ino);
  EXPECT_EQ(sa.ino, 4u);  // tree order: root 1, a.txt 2, sub 3, sub/b.txt 4
  EXPECT_EQ(sa.dev, 1u);
  EXPECT_EQ(a->FilestatGet(4).value.dev, 2u);  // each mount its own device
  EXPECT_EQ(sa.mtim, 1000u);
  EXPECT_EQ(sb.mtim, 5000u);  // from the injected clock
  now_ = 7000;
  auto fd = Open(*a, 4, "w.txt").value;
  EXPECT_EQ(WriteString(*a, fd, "x").value, 1u);
  EXPECT_EQ(a->FilestatGet(fd).value.mtim, 7000u);
  EXPECT_EQ(a->FilestatSetTimes(fd, 11, 22, wasi::kFstAtim | wasi::kFstMtim), Errno::kSuccess);
  EXPECT_EQ(a->FilestatGet(fd).value.atim, 11u);
  EXPECT_EQ(a->FilestatGet(fd).value.mtim, 22u);
  EXPECT_EQ(a->FilestatSetTimes(fd, 0, 0, wasi::kFstAtim | wasi::kFstAtimNow), Errno::kInval);
  EXPECT_EQ(a->FilestatSetTimes(3, 0, 0, wasi::kFstMtimNow), Errno::kPerm);  // read-only mount
}

TEST_F(WasiFsTest, AnUnlinkedFileStaysReadableThroughItsDescriptor) {
  auto fs = Standard();
  auto fd = Open(*fs, 4, "w.txt", 0, wasi::kRightFdRead).value;
  EXPECT_EQ(fs->PathUnlinkFile(4, "w.txt"), Errno::kSuccess);
  EXPECT_EQ(fs->PathFilestatGet(4, 0, "w.txt").err, Errno::kNoent);
  EXPECT_EQ(ReadAll(*fs, fd), "hello world");
  EXPECT_EQ(fs->FilestatGet(fd).value.nlink, 0u);
  EXPECT_EQ(fs->ReadableBytes(fd).value, 0u);
}

}  // namespace
}  // namespace mesh::wasm
