#include <gtest/gtest.h>

#include "mesh/common/clock.h"

namespace mesh {
namespace {

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000));
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_EQ(clock.Now(), absl::FromUnixMillis(1001500));
  clock.Set(absl::FromUnixSeconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(5));
}

TEST(SystemClockTest, IsCloseToAbslNow) {
  SystemClock clock;
  const Clock& as_interface = clock;
  EXPECT_LT(absl::AbsDuration(as_interface.Now() - absl::Now()), absl::Seconds(5));
}

}  // namespace
}  // namespace mesh
