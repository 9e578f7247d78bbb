#include "idle_trim.h"

namespace mesh::api {

bool IdleTrim::Observe(const node::ServiceStats& stats, absl::Time now) {
  const uint64_t ended = stats.succeeded + stats.failed + stats.cancelled;
  const bool idle = stats.queued == 0 && stats.running == 0 && stats.delegated == 0;
  // Idle for the whole period: at the last observation too, and nothing ended in between.
  const bool settled = idle && idle_before_ && ended == ended_before_;
  idle_before_ = idle;
  ended_before_ = ended;
  if (!settled) return false;
  if (ended == ended_at_trim_ && now - trimmed_at_ < quiet_every_) return false;
  ended_at_trim_ = ended;
  trimmed_at_ = now;
  return true;
}

}  // namespace mesh::api
