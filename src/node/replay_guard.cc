#include "mesh/node/replay_guard.h"

#include "mesh/common/strings.h"

namespace mesh::node {

absl::Status ReplayGuard::Check(const job::MessageHeader& header, absl::Time now) {
  const absl::Time sent = absl::FromUnixMillis(header.sent_at_ms);
  if (sent < now - max_age_ || sent > now + max_age_) {
    return absl::FailedPreconditionError(
        mesh::StrCat("stale message: sent at ", absl::FormatTime(sent), ", more than ",
                     absl::FormatDuration(max_age_), " from this node's clock (",
                     absl::FormatTime(now), "); check the clocks"));
  }
  const int64_t oldest = absl::ToUnixMillis(now - max_age_);
  absl::MutexLock lock(&mu_);
  // Messages are mostly in sent order; an out-of-order old entry is dropped a little late.
  while (!order_.empty() && order_.front().first < oldest) {
    seen_.erase(order_.front().second);
    order_.pop_front();
  }
  if (!seen_.insert(header.nonce).second) {
    return absl::AlreadyExistsError(
        mesh::StrCat("replayed message: nonce ", header.nonce, " was already seen"));
  }
  order_.emplace_back(header.sent_at_ms, header.nonce);
  return absl::OkStatus();
}

size_t ReplayGuard::remembered() const {
  absl::MutexLock lock(&mu_);
  return seen_.size();
}

}  // namespace mesh::node
