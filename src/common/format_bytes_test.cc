#include "mesh/common/format_bytes.h"

#include <gtest/gtest.h>

namespace mesh {
namespace {

TEST(FormatBytesTest, WholeUnitsHaveNoDecimalsOthersOne) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{256} << 20), "256 MiB");
  EXPECT_EQ(FormatBytes((uint64_t{3} << 30) / 2), "1.5 GiB");
  EXPECT_EQ(FormatBytes(uint64_t{33'505'406'976}), "31.2 GiB");
  EXPECT_EQ(FormatBytes(~uint64_t{0}), "16.0 EiB");
}

}  // namespace
}  // namespace mesh
