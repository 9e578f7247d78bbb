// The WASI filesystem through both engines: a C job using wasi-libc (examples/fs_probe.c) and
// WAT modules for the raw errno values libc hides, the fuel files cost, and the same answers,
// output and fuel on interp and aot.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"
#include "mesh/wasm/aot_engine.h"
#include "mesh/wasm/engine.h"
#include "testing/fs_image.h"
#include "testing/wat.h"

namespace mesh::wasm {
namespace {

using testing::DirNode;
using testing::FileNode;
using ::testing::HasSubstr;
using testing::Mount;
using testing::WatToWasm;

class WasiFsEngineTest : public ::testing::TestWithParam<EngineKind> {
 public:
  static std::unique_ptr<Engine> MakeEngine(EngineKind kind) {
    static ScopedTempDir* cache = new ScopedTempDir();  // one aot cache per test process
    if (kind == EngineKind::kInterp) return MakeInterpEngine();
    AotOptions options;
    options.cache_dir = cache->path();
    auto engine = AotEngine::Create(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }
  static absl::StatusOr<RunResult> RunOn(EngineKind kind, const std::string& wasm, JobInput input,
                                         const Limits& limits = {}) {
    auto module = Instrument(wasm);
    if (!module.ok()) return module.status();
    return MakeEngine(kind)->Run("fs-test", *module, std::move(input), limits);
  }

 protected:
  RunResult Run(const std::string& wasm, JobInput input, const Limits& limits = {}) {
    auto result = RunOn(GetParam(), wasm, std::move(input), limits);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *std::move(result) : RunResult{};
  }
};

JobInput ProbeInput() {
  JobInput input;
  input.mounts = {Mount("/data", true,
                        {FileNode("in.txt", "hello from data\n"), DirNode("dir"),
                         FileNode("dir/b.txt", "b"), FileNode("dir/a.txt", "a")}),
                  Mount("/work", false, {FileNode("log.txt", "first\n")})};
  input.output_dir = "/out";
  return input;
}

std::string ProbeWasm() {
  auto bytes =
      ReadFileToString(std::filesystem::path(MESH_EXAMPLES_DIR) / "fs_probe.wasm", 16 << 20);
  return bytes.ok() ? *bytes : "";
}

TEST_P(WasiFsEngineTest, ACJobUsesTheFilesystemThroughWasiLibc) {
  const std::string wasm = ProbeWasm();
  if (wasm.empty()) GTEST_SKIP() << "examples not built (target examples_wasm)";
  RunResult r = Run(wasm, ProbeInput());
  ASSERT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(r.report.exit_code, 0);
  const std::string& out = r.output;
  EXPECT_THAT(out, HasSubstr("read /data/in.txt: 16 bytes \"hello from data|\"\n"));
  EXPECT_THAT(out, HasSubstr("open /data/in.txt for writing: errno 63\n"));  // EPERM
  EXPECT_THAT(out, HasSubstr("create /data/new: errno 63\n"));
  EXPECT_THAT(out, HasSubstr("mkdir /data/d: errno 63\n"));
  EXPECT_THAT(out, HasSubstr("open /data/../etc/passwd: errno 63\n"));
  EXPECT_THAT(out, HasSubstr("open /data/missing: errno 44\n"));  // ENOENT
  EXPECT_THAT(out, HasSubstr("open /data/in.txt/: errno 54\n"));  // ENOTDIR
  EXPECT_THAT(out, HasSubstr("list /data/dir: . .. a.txt b.txt\n"));
  EXPECT_THAT(out, HasSubstr("mkdir /out/sub: ok\nmkdir /out/sub again: errno 20\n"));
  EXPECT_THAT(out, HasSubstr("seek past the end: 11\n"));
  EXPECT_THAT(out, HasSubstr("create it again with O_EXCL: errno 20\n"));  // EEXIST
  EXPECT_THAT(out, HasSubstr("read it back: 15 bytes \"sum=42|....end|\"\n"));
  // Virtual time: the 2020-01-01 epoch plus the fuel used when the file was last written.
  EXPECT_THAT(out, HasSubstr("stat: size 15 nlink 1 regular 1 mtime 1577836800."));
  EXPECT_THAT(out, HasSubstr("readlink: sub/result.txt\n"));
  EXPECT_THAT(out, HasSubstr("read through the link: 15 bytes"));
  EXPECT_THAT(out, HasSubstr("symlink out of the sandbox: errno 63\n"));
  EXPECT_THAT(out, HasSubstr("hard link: ok\nnlink: 2\nrename: ok\n"));
  EXPECT_THAT(out, HasSubstr("openat below an opened directory: ok\nunlink it again: ok\n"));
  EXPECT_THAT(out, HasSubstr("rmdir a full directory: errno 55\n"));  // ENOTEMPTY
  EXPECT_THAT(out, HasSubstr("unlink a directory: errno 31\n"));      // EISDIR
  EXPECT_THAT(out, HasSubstr("unlink a missing file: errno 44\n"));
  EXPECT_THAT(out, HasSubstr("read /work/log.txt: 11 bytes \"first|more|\"\n"));
  EXPECT_THAT(out, HasSubstr("list /work: . ..\n"));
  EXPECT_THAT(out, HasSubstr("list /out: . .. link moved.txt sub\n"));
  ASSERT_EQ(r.files.size(), 4u);
  EXPECT_EQ(r.files[0].path, "link");
  EXPECT_EQ(r.files[0].kind, FsKind::kSymlink);
  EXPECT_EQ(r.files[0].bytes, "sub/result.txt");
  EXPECT_EQ(r.files[1].path, "moved.txt");
  EXPECT_EQ(r.files[2].path, "sub");
  EXPECT_EQ(r.files[3].path, "sub/result.txt");
  EXPECT_EQ(r.files[3].bytes, std::string("sum=42\n\0\0\0\0end\n", 15));
  // result.txt (15), side.txt (1), the changed log.txt (11) and the link's target (14).
  EXPECT_EQ(r.report.fs_bytes_written, 15u + 1u + 11u + 14u);
  EXPECT_EQ(r.report.fs_files_created, 5u);  // sub, result.txt, link, hard.txt, side.txt
}

TEST(WasiFsEnginesTest, BothEnginesGiveTheSameOutputFilesAndFuel) {
  const std::string wasm = ProbeWasm();
  if (wasm.empty()) GTEST_SKIP() << "examples not built (target examples_wasm)";
  auto interp = WasiFsEngineTest::RunOn(EngineKind::kInterp, wasm, ProbeInput());
  auto aot = WasiFsEngineTest::RunOn(EngineKind::kAot, wasm, ProbeInput());
  ASSERT_TRUE(interp.ok()) << interp.status();
  ASSERT_TRUE(aot.ok()) << aot.status();
  EXPECT_EQ(interp->output, aot->output);
  EXPECT_EQ(interp->report.fuel_used, aot->report.fuel_used);
  EXPECT_EQ(interp->report.fs_bytes_written, aot->report.fs_bytes_written);
  ASSERT_EQ(interp->files.size(), aot->files.size());
  for (size_t i = 0; i < interp->files.size(); ++i) {
    EXPECT_EQ(interp->files[i].path, aot->files[i].path);
    EXPECT_EQ(interp->files[i].bytes, aot->files[i].bytes);
  }
}

// Each call's errno as one byte of output, in order.
constexpr char kErrnoWat[] = R"((module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $prestat_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber" (func $renumber (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 90) "\ff\fe")
  (data (i32.const 100) "/abs")
  (data (i32.const 110) "..")
  (data (i32.const 120) "in.txt")
  (data (i32.const 130) "in.txt/")
  (data (i32.const 140) "l")
  (func $rec (param $i i32) (param $v i32)
    (i32.store8 (i32.add (i32.const 1000) (local.get $i)) (local.get $v)))
  (func (export "_start")
    (call $rec (i32.const 0) (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 4)
      (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
    (call $rec (i32.const 1) (call $open (i32.const 3) (i32.const 1) (i32.const 110) (i32.const 2)
      (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
    (call $rec (i32.const 2) (call $open (i32.const 3) (i32.const 1) (i32.const 120) (i32.const 6)
      (i32.const 0) (i64.const 64) (i64.const 64) (i32.const 0) (i32.const 50)))
    (call $rec (i32.const 3) (call $open (i32.const 3) (i32.const 1) (i32.const 130) (i32.const 7)
      (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
    (call $rec (i32.const 4) (call $open (i32.const 9) (i32.const 1) (i32.const 120) (i32.const 6)
      (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
    (call $rec (i32.const 5) (call $prestat (i32.const 3) (i32.const 60)))
    (call $rec (i32.const 6) (i32.load8_u (i32.const 64)))
    (call $rec (i32.const 7) (call $prestat (i32.const 9) (i32.const 60)))
    (call $rec (i32.const 8) (call $prestat_name (i32.const 1) (i32.const 60) (i32.const 10)))
    (call $rec (i32.const 9) (call $seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 60)))
    (call $rec (i32.const 10) (call $accept (i32.const 3) (i32.const 0) (i32.const 60)))
    (i64.store (i32.const 200) (i64.const 7))
    (i32.store8 (i32.const 208) (i32.const 0))
    (i32.store (i32.const 216) (i32.const 1))
    (i64.store (i32.const 224) (i64.const 1000000))
    (call $rec (i32.const 11) (call $poll (i32.const 200) (i32.const 300) (i32.const 1) (i32.const 60)))
    (call $rec (i32.const 12) (i32.load8_u (i32.const 60)))
    (call $rec (i32.const 13) (i32.load8_u (i32.const 300)))
    (call $rec (i32.const 14) (i32.load8_u (i32.const 310)))
    (call $rec (i32.const 15) (call $poll (i32.const 200) (i32.const 300) (i32.const 0) (i32.const 60)))
    (call $rec (i32.const 16) (call $symlink (i32.const 120) (i32.const 6) (i32.const 3)
      (i32.const 140) (i32.const 1)))
    (call $rec (i32.const 17) (call $open (i32.const 3) (i32.const 1) (i32.const 120) (i32.const 6)
      (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
    (call $rec (i32.const 18) (i32.load8_u (i32.const 50)))
    (call $rec (i32.const 19) (call $open (i32.const 3) (i32.const 1) (i32.const 65530)
      (i32.const 100) (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
    (call $rec (i32.const 20) (call $open (i32.const 3) (i32.const 1) (i32.const 90) (i32.const 2)
      (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
    (call $rec (i32.const 21) (call $fd_read (i32.const 4) (i32.const 0) (i32.const 2000)
      (i32.const 60)))
    (call $rec (i32.const 22) (call $pread (i32.const 0) (i32.const 0) (i32.const 0)
      (i64.const 0) (i32.const 60)))
    (call $rec (i32.const 23) (call $renumber (i32.const 4) (i32.const 1)))
    (call $rec (i32.const 24) (call $renumber (i32.const 4) (i32.const 7)))
    (call $rec (i32.const 25) (call $fd_read (i32.const 4) (i32.const 0) (i32.const 0)
      (i32.const 60)))
    (call $rec (i32.const 26) (call $fd_read (i32.const 7) (i32.const 0) (i32.const 0)
      (i32.const 60)))
    (i32.store (i32.const 0) (i32.const 1000))
    (i32.store (i32.const 4) (i32.const 27))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
)";

TEST_P(WasiFsEngineTest, RawErrnoValues) {
  JobInput input;
  input.mounts = {Mount("/data", true, {FileNode("in.txt", "x")})};
  RunResult r = Run(testing::WatToWasm(kErrnoWat), std::move(input));
  ASSERT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  const std::vector<uint8_t> expected = {
      63,  // path_open of an absolute path: EPERM
      63,  // ".." above the preopen: EPERM
      63,  // opening a read-only mount's file for writing: EPERM
      54,  // "in.txt/": ENOTDIR
      8,   // a descriptor that is not open: EBADF
      0,   // fd_prestat_get(3)
      5,   // ... its name's length ("/data")
      8,   // fd_prestat_get of a closed descriptor: EBADF
      54,  // fd_prestat_dir_name(1): ENOTDIR (open, not a preopen)
      70,  // fd_seek on stdout: ESPIPE
      76,  // sock_accept: ENOTCAPABLE
      0,   // poll_oneoff on one clock
      1,   // ... one event
      7,   // ... with its userdata
      0,   // ... of type clock
      28,  // poll_oneoff with no subscriptions: EINVAL
      63,  // path_symlink in a read-only mount: EPERM
      0,   // path_open of in.txt for reading
      4,   // ... the first free descriptor
      21,  // a path outside linear memory: EFAULT
      25,  // a path that is not UTF-8: EILSEQ
      28,  // fd_read with more than kMaxIovs buffers: EINVAL
      70,  // fd_pread on stdin: ESPIPE
      58,  // fd_renumber onto stdout: ENOTSUP (stdio stays where it is)
      0,   // fd_renumber(4, 7)
      8,   // ... 4 is closed: EBADF
      0,   // ... and 7 reads
  };
  EXPECT_EQ(std::vector<uint8_t>(r.output.begin(), r.output.end()), expected);
}

// poll_oneoff with fd subscriptions: stdin (3 bytes left), stdout, a file at its end, and a
// clock one second away. The fd events come at once; the clock is not due, so it is left out.
// Output: the errno, the event count, then per event its userdata, type and nbytes (a byte
// each) and flags; then the errno of a poll on a descriptor that is not open.
constexpr char kPollWat[] = R"((module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "empty")
  (func $sub (param $at i32) (param $userdata i64) (param $tag i32) (param $fd i32)
    (i64.store (local.get $at) (local.get $userdata))
    (i32.store8 (i32.add (local.get $at) (i32.const 8)) (local.get $tag))
    (i32.store (i32.add (local.get $at) (i32.const 16)) (local.get $fd)))
  (func $out (param $i i32) (param $v i32)
    (i32.store8 (i32.add (i32.const 2000) (local.get $i)) (local.get $v)))
  (func (export "_start") (local $i i32)
    (drop (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 5) (i32.const 0)
                      (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
    (call $sub (i32.const 200) (i64.const 11) (i32.const 1) (i32.const 0))
    (call $sub (i32.const 248) (i64.const 12) (i32.const 2) (i32.const 1))
    (call $sub (i32.const 296) (i64.const 13) (i32.const 1) (i32.load (i32.const 50)))
    (call $sub (i32.const 344) (i64.const 14) (i32.const 0) (i32.const 1))
    (i64.store (i32.const 368) (i64.const 1000000000))
    (call $out (i32.const 0) (call $poll (i32.const 200) (i32.const 600) (i32.const 4)
                                         (i32.const 60)))
    (call $out (i32.const 1) (i32.load (i32.const 60)))
    (loop $l
      (call $out (i32.add (i32.const 2) (i32.mul (local.get $i) (i32.const 4)))
                 (i32.load8_u (i32.add (i32.const 600) (i32.mul (local.get $i) (i32.const 32)))))
      (call $out (i32.add (i32.const 3) (i32.mul (local.get $i) (i32.const 4)))
                 (i32.load8_u (i32.add (i32.const 610) (i32.mul (local.get $i) (i32.const 32)))))
      (call $out (i32.add (i32.const 4) (i32.mul (local.get $i) (i32.const 4)))
                 (i32.load8_u (i32.add (i32.const 616) (i32.mul (local.get $i) (i32.const 32)))))
      (call $out (i32.add (i32.const 5) (i32.mul (local.get $i) (i32.const 4)))
                 (i32.load8_u (i32.add (i32.const 624) (i32.mul (local.get $i) (i32.const 32)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
    (call $sub (i32.const 200) (i64.const 15) (i32.const 1) (i32.const 9))
    (call $out (i32.const 14) (call $poll (i32.const 200) (i32.const 600) (i32.const 1)
                                          (i32.const 60)))
    (call $out (i32.const 15) (call $yield))
    (i32.store (i32.const 0) (i32.const 2000))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
)";

TEST_P(WasiFsEngineTest, PollReportsReadyDescriptorsAndNeverBlocks) {
  JobInput input;
  input.stdin_bytes = "abc";
  input.mounts = {Mount("/data", true, {FileNode("empty", "")})};
  RunResult r = Run(testing::WatToWasm(kPollWat), std::move(input));
  ASSERT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  const std::vector<uint8_t> expected = {
      0,  3,        // success, three events (the clock is a second away)
      11, 1, 3, 0,  // stdin readable, 3 bytes
      12, 2, 1, 0,  // stdout writable
      13, 1, 0, 1,  // the file at its end: readable, 0 bytes, hangup
      8,            // a subscription on a descriptor that is not open: EBADF
      0,            // sched_yield
  };
  EXPECT_EQ(std::vector<uint8_t>(r.output.begin(), r.output.end()), expected);
}

std::string ReadWat(int len) {
  return R"((module
    (import "wasi_snapshot_preview1" "path_open"
      (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 20)
    (data (i32.const 100) "big")
    (func (export "_start")
      (drop (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 3) (i32.const 0)
                        (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 50)))
      (i32.store (i32.const 0) (i32.const 4096))
      (i32.store (i32.const 4) (i32.const )" +
         std::to_string(len) + R"())
      (drop (call $read (i32.load (i32.const 50)) (i32.const 0) (i32.const 1) (i32.const 8))))))";
}

JobInput BigFileInput(size_t size) {
  JobInput input;
  input.mounts = {Mount("/data", true, {FileNode("big", std::string(size, 'b'))})};
  return input;
}

TEST_P(WasiFsEngineTest, FileBytesCostOneFuelEach) {
  RunResult none = Run(testing::WatToWasm(ReadWat(0)), BigFileInput(5000));
  RunResult some = Run(testing::WatToWasm(ReadWat(1000)), BigFileInput(5000));
  ASSERT_EQ(none.report.outcome, Outcome::kOk) << none.report.message;
  ASSERT_EQ(some.report.outcome, Outcome::kOk) << some.report.message;
  EXPECT_EQ(some.report.fuel_used - none.report.fuel_used, 1000u);
  // Two calls on open descriptors (open, read) and the path's 3 bytes, on top of the code.
  JobInput no_mount;
  RunResult bare = Run(testing::WatToWasm(ReadWat(0)), std::move(no_mount));
  EXPECT_EQ(none.report.fuel_used - bare.report.fuel_used, 2 * kWasiCallFuel + 3);
}

TEST_P(WasiFsEngineTest, FuelRunsOutInAFilesystemCall) {
  Limits limits;
  limits.fuel = 50'000;
  RunResult r = Run(testing::WatToWasm(ReadWat(1 << 20)), BigFileInput(1 << 20), limits);
  EXPECT_EQ(r.report.outcome, Outcome::kFuelExhausted) << r.report.message;
  EXPECT_EQ(r.report.fuel_used, limits.fuel);
  EXPECT_THAT(r.report.message, HasSubstr("filesystem call"));
}

// A job that fills its file quota is told (ENOSPC) and decides; one that then fails is
// reported with the limit named, and the run ends cleanly either way.
TEST_P(WasiFsEngineTest, AJobThatFillsItsQuotaIsToldAndAFailureNamesTheLimit) {
  // Creates /out/x.txt and writes 100 bytes to it; exits 1 if the write failed, 2 if the open did.
  const std::string wasm = WatToWasm(R"((module
    (import "wasi_snapshot_preview1" "path_open"
      (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "x.txt")
    (func (export "_start")
      (if (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 1)
                      (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 32))
        (then (call $exit (i32.const 2))))
      (i32.store (i32.const 64) (i32.const 1024))
      (i32.store (i32.const 68) (i32.const 100))
      (call $exit (i32.ne (call $write (i32.load (i32.const 32)) (i32.const 64) (i32.const 1)
                                       (i32.const 80))
                          (i32.const 0))))))");
  JobInput input;
  input.output_dir = "/out";
  Limits roomy;
  roomy.fs_bytes = 1000;
  RunResult fits = Run(wasm, input, roomy);
  EXPECT_EQ(fits.report.outcome, Outcome::kOk) << fits.report.message;
  EXPECT_EQ(fits.report.exit_code, 0);
  EXPECT_EQ(fits.report.fs_bytes_written, 100u);
  EXPECT_EQ(fits.report.fs_bytes_refusals, 0u);
  ASSERT_EQ(fits.files.size(), 1u);
  EXPECT_EQ(fits.files[0].bytes.size(), 100u);

  Limits tight;
  tight.fs_bytes = 50;
  RunResult full = Run(wasm, input, tight);
  EXPECT_EQ(full.report.outcome, Outcome::kOk);
  EXPECT_EQ(full.report.exit_code, 1);
  EXPECT_EQ(full.report.fs_bytes_refusals, 1u);
  EXPECT_EQ(full.report.fs_bytes_written, 0u);  // a write that does not fit fails whole
  EXPECT_THAT(full.report.message, HasSubstr("exited with code 1 after a write past its file "
                                             "limit of 50 bytes was refused (ENOSPC); raise "
                                             "--storage"));
  ASSERT_EQ(full.files.size(), 1u);  // the file was made, empty
  EXPECT_EQ(full.files[0].bytes, "");

  Limits no_files;
  no_files.fs_files = 0;
  RunResult none = Run(wasm, input, no_files);
  EXPECT_EQ(none.report.exit_code, 2);
  EXPECT_EQ(none.report.fs_files_refusals, 1u);
  EXPECT_THAT(none.report.message, HasSubstr("its limit of 0 created entries (EDQUOT)"));
}

TEST_P(WasiFsEngineTest, AMalformedImageIsRefusedBeforeTheRun) {
  JobInput input;
  input.mounts = {Mount("/m", true, {FileNode("a/b", "")})};
  auto r = RunOn(GetParam(), testing::WatToWasm(ReadWat(0)), std::move(input));
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
}

INSTANTIATE_TEST_SUITE_P(Engines, WasiFsEngineTest,
                         ::testing::Values(EngineKind::kInterp, EngineKind::kAot),
                         [](const auto& info) { return std::string(EngineName(info.param)); });

}  // namespace
}  // namespace mesh::wasm
