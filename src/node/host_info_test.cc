#include "mesh/node/host_info.h"

#include <gtest/gtest.h>

#include <memory>

namespace mesh::node {
namespace {

TEST(SystemHostProbeTest, ReadsTheMachine) {
  const std::unique_ptr<HostProbe> probe = std::make_unique<SystemHostProbe>();
  const HostInfo host = probe->Host();
  EXPECT_GE(host.cpu_cores, 1u);
  EXPECT_GT(host.memory_bytes, 0u);
  EXPECT_GT(probe->FreeBytes("/tmp"), 0u);
}

TEST(SystemHostProbeTest, FreeBytesOfAMissingDirectoryIsZero) {
  SystemHostProbe probe;
  EXPECT_EQ(probe.FreeBytes("/nonexistent/mesh/host_info_test"), 0u);
  EXPECT_EQ(probe.FreeBytes(""), 0u);
}

TEST(FixedHostProbeTest, ReturnsWhatItWasGiven) {
  const HostInfo given{.cpu_cores = 64, .memory_bytes = uint64_t{256} << 30};
  const FixedHostProbe fixed(given, uint64_t{5} << 40);
  const HostProbe& probe = fixed;
  EXPECT_EQ(probe.Host(), given);
  EXPECT_EQ(probe.FreeBytes("/tmp"), uint64_t{5} << 40);
  // Whatever the path, even one that does not exist: no file system is read.
  EXPECT_EQ(probe.FreeBytes("/nonexistent"), uint64_t{5} << 40);
}

TEST(FixedHostProbeTest, CanDescribeAnEmptyMachine) {
  const FixedHostProbe probe(HostInfo{.cpu_cores = 1, .memory_bytes = 0}, 0);
  EXPECT_EQ(probe.Host().memory_bytes, 0u);
  EXPECT_EQ(probe.FreeBytes("/tmp"), 0u);
}

}  // namespace
}  // namespace mesh::node
