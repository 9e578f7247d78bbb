#include "mesh/common/process_tuning.h"

#include "absl/synchronization/mutex.h"
#include "mesh/common/malloc_tuning.h"

namespace mesh {

bool TuneProcess() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return TuneMalloc();
}

}  // namespace mesh
