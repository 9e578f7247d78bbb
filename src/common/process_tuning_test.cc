#include "mesh/common/process_tuning.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/synchronization/mutex.h"

namespace mesh {
namespace {

// Locks two mutexes in one order, then in the other: a lock-order cycle, which Abseil's
// deadlock detection (on in Debian's build) reports by aborting. Run in a child process so the
// setting does not reach the other tests of this binary.
void LockInBothOrders() {
  absl::Mutex a, b;
  {
    absl::MutexLock la(&a);
    absl::MutexLock lb(&b);
  }
  {
    absl::MutexLock lb(&b);
    absl::MutexLock la(&a);
  }
}

TEST(ProcessTuningDeathTest, TurnsOffLockOrderChecks) {
  EXPECT_EXIT(
      {
        // False under a sanitizer, whose allocator refuses glibc's malloc settings: not the
        // point here.
        (void)TuneProcess();
        LockInBothOrders();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace mesh
