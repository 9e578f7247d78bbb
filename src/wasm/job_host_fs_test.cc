// JobHost's filesystem calls at the guest ABI, without an engine: argument slots in, guest
// memory written, errno out, and the fuel each call charges.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "mesh/wasm/job_host.h"
#include "testing/fs_image.h"

namespace mesh::wasm {
namespace {

using testing::FileNode;
using testing::LinkNode;
using testing::Mount;

class JobHostFsTest : public ::testing::Test {
 protected:
  JobHostFsTest() : memory_(1 << 16) {
    JobInput input;
    input.stdin_bytes = "in";
    input.mounts = {Mount("/data", true, {FileNode("f.txt", "0123456789"), LinkNode("l", "f.txt")}),
                    Mount("/work", false, {})};
    host_ = std::make_unique<JobHost>(std::move(input), Limits{});
    host_->set_fuel_probe([this] { return fuel_used_; });
    host_->set_fuel_charge([this](uint64_t fuel) {
      charged_ += fuel;
      fuel_used_ += fuel;
      return fuel_used_ <= fuel_limit_;
    });
  }
  uint32_t Call(HostFuncId id, std::vector<uint64_t> args) {
    uint64_t result = 0;
    last_action_ = host_->Call(id, args.data(), &result, {memory_.data(), memory_.size()});
    return static_cast<uint32_t>(result);
  }
  uint32_t Put(uint32_t at, std::string_view bytes) {
    std::memcpy(memory_.data() + at, bytes.data(), bytes.size());
    return static_cast<uint32_t>(bytes.size());
  }
  template <typename T>
  T Get(uint32_t at) const {
    T v;
    std::memcpy(&v, memory_.data() + at, sizeof v);
    return v;
  }
  uint32_t OpenFile(std::string_view path, uint32_t dirfd = 3, uint64_t rights = 2) {
    const uint32_t len = Put(1000, path);
    EXPECT_EQ(Call(HostFuncId::kPathOpen, {dirfd, 1, 1000, len, 0, rights, rights, 0, 60}), 0u);
    return Get<uint32_t>(60);
  }

  std::vector<uint8_t> memory_;
  std::unique_ptr<JobHost> host_;
  uint64_t fuel_used_ = 0;
  uint64_t fuel_limit_ = 1'000'000;
  uint64_t charged_ = 0;
  HostAction last_action_ = HostAction::kContinue;
};

TEST_F(JobHostFsTest, PrestatNamesThePreopens) {
  EXPECT_EQ(Call(HostFuncId::kFdPrestatGet, {4, 100}), 0u);
  EXPECT_EQ(Get<uint8_t>(100), 0);                                   // a directory
  EXPECT_EQ(Get<uint32_t>(104), 5u);                                 // "/work"
  EXPECT_EQ(Call(HostFuncId::kFdPrestatDirName, {4, 200, 4}), 37u);  // ENAMETOOLONG
  EXPECT_EQ(Call(HostFuncId::kFdPrestatDirName, {4, 200, 5}), 0u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(memory_.data() + 200), 5), "/work");
  EXPECT_EQ(Call(HostFuncId::kFdPrestatGet, {5, 100}), 8u);
  EXPECT_EQ(Call(HostFuncId::kFdPrestatGet, {0, 100}), 8u);
}

TEST_F(JobHostFsTest, StatAndFdstatLayouts) {
  const uint32_t len = Put(1000, "f.txt");
  EXPECT_EQ(Call(HostFuncId::kPathFilestatGet, {3, 0, 1000, len, 300}), 0u);
  EXPECT_EQ(Get<uint64_t>(300), 1u);   // dev: the first mount
  EXPECT_EQ(Get<uint64_t>(308), 2u);   // ino: tree order
  EXPECT_EQ(Get<uint8_t>(316), 4);     // regular file
  EXPECT_EQ(Get<uint64_t>(324), 1u);   // nlink
  EXPECT_EQ(Get<uint64_t>(332), 10u);  // size
  const uint32_t fd = OpenFile("f.txt");
  EXPECT_EQ(Call(HostFuncId::kFdFdstatGet, {fd, 400}), 0u);
  EXPECT_EQ(Get<uint8_t>(400), 4);
  EXPECT_EQ(Get<uint64_t>(408) & 2, 2u);                      // FD_READ
  EXPECT_EQ(Get<uint64_t>(408) & 64, 0u);                     // no FD_WRITE
  EXPECT_EQ(Call(HostFuncId::kFdFilestatGet, {1, 500}), 0u);  // stdio: all zero, as wasmtime
  EXPECT_EQ(Get<uint64_t>(532), 0u);
  EXPECT_EQ(Call(HostFuncId::kFdFilestatGet, {fd, 500}), 0u);
  EXPECT_EQ(Get<uint64_t>(532), 10u);
}

TEST_F(JobHostFsTest, ReadsPreadsTellsAndReadlinkCutsToTheBuffer) {
  const uint32_t fd = OpenFile("f.txt");
  // iovecs at 0: [2000, 3) and [2100, 2)
  std::memcpy(memory_.data(), "\xd0\x07\0\0\x03\0\0\0\x34\x08\0\0\x02\0\0\0", 16);
  EXPECT_EQ(Call(HostFuncId::kFdRead, {fd, 0, 2, 50}), 0u);
  EXPECT_EQ(Get<uint32_t>(50), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(memory_.data() + 2000), 3), "012");
  EXPECT_EQ(std::string(reinterpret_cast<char*>(memory_.data() + 2100), 2), "34");
  EXPECT_EQ(Call(HostFuncId::kFdPread, {fd, 0, 1, 7, 50}), 0u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(memory_.data() + 2000), 3), "789");
  EXPECT_EQ(Call(HostFuncId::kFdTell, {fd, 60}), 0u);
  EXPECT_EQ(Get<uint64_t>(60), 5u);
  EXPECT_EQ(Call(HostFuncId::kFdTell, {0, 60}), 70u);  // ESPIPE on stdio
  const uint32_t len = Put(1000, "l");
  EXPECT_EQ(Call(HostFuncId::kPathReadlink, {3, 1000, len, 3000, 3, 70}), 0u);
  EXPECT_EQ(Get<uint32_t>(70), 3u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(memory_.data() + 3000), 3), "f.t");
  // Writing needs a writable mount: read-only gives EPERM at open.
  const uint32_t name = Put(1000, "f.txt");
  EXPECT_EQ(Call(HostFuncId::kPathOpen, {3, 1, 1000, name, 0, 64, 64, 0, 60}), 63u);
}

TEST_F(JobHostFsTest, CallsChargeABaseFeePlusBytes) {
  const uint32_t fd = OpenFile("f.txt");
  EXPECT_EQ(charged_, kWasiCallFuel + 5);  // path_open: the call and the path's 5 bytes
  std::memcpy(memory_.data(), "\xd0\x07\0\0\x40\0\0\0", 8);  // one iovec of 64 bytes
  charged_ = 0;
  EXPECT_EQ(Call(HostFuncId::kFdRead, {fd, 0, 1, 50}), 0u);
  EXPECT_EQ(charged_, kWasiCallFuel + 10);  // the file's 10 bytes
  charged_ = 0;
  EXPECT_EQ(Call(HostFuncId::kFdRead, {9, 0, 1, 50}), 8u);
  EXPECT_EQ(Call(HostFuncId::kFdWrite, {1, 0, 1, 50}), 0u);  // stdio stays free
  EXPECT_EQ(charged_, 0u);
  // A charge past the limit stops the run as out of fuel.
  fuel_limit_ = fuel_used_ + 50;
  EXPECT_EQ(Call(HostFuncId::kFdSeek, {fd, 0, 0, 50}), 0u);
  EXPECT_EQ(last_action_, HostAction::kTrap);
  EXPECT_EQ(host_->stop_outcome(), Outcome::kFuelExhausted);
}

TEST_F(JobHostFsTest, WritesAndOutputAreCounted) {
  const uint32_t len = Put(1000, "new.txt");
  EXPECT_EQ(Call(HostFuncId::kPathOpen, {4, 1, 1000, len, 0, 66, 66, 0, 60}), 44u);  // ENOENT
  EXPECT_EQ(Call(HostFuncId::kPathOpen, {4, 1, 1000, len, 1, 66, 66, 1, 60}), 0u);
  const uint32_t w = Get<uint32_t>(60);
  Put(2000, "abc");
  std::memcpy(memory_.data(), "\xd0\x07\0\0\x03\0\0\0", 8);
  EXPECT_EQ(Call(HostFuncId::kFdWrite, {w, 0, 1, 50}), 0u);
  EXPECT_EQ(Call(HostFuncId::kFdPwrite, {w, 0, 1, 0, 50}), 0u);  // append mode: appends
  EXPECT_EQ(Call(HostFuncId::kFdFilestatGet, {w, 500}), 0u);
  EXPECT_EQ(Get<uint64_t>(532), 6u);
  RunReport report;
  host_->FillReport(report);
  EXPECT_EQ(report.fs_bytes_written, 6u);
  EXPECT_EQ(report.fs_files_created, 1u);
  EXPECT_TRUE(host_->OutputFiles().empty());  // no output directory
}

}  // namespace
}  // namespace mesh::wasm
