// ReplayGuard: refuses a peer message that is stale (sent more than max_age ago, or that far
// in the future by the sender's clock) or that was seen before (same nonce). Signatures make
// messages unforgeable; this makes them single-use. Nonces are remembered only while their
// message could still pass the age check, so memory is bounded by the message rate times
// 2 * max_age. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/job/market.h"

namespace mesh::node {

class ReplayGuard {
 public:
  explicit ReplayGuard(absl::Duration max_age) : max_age_(max_age) {}
  // FailedPrecondition for a stale message, AlreadyExists for a replayed one.
  absl::Status Check(const job::MessageHeader& header, absl::Time now);
  size_t remembered() const;

 private:
  const absl::Duration max_age_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<int64_t, std::string>> order_ ABSL_GUARDED_BY(mu_);  // (sent_at, nonce)
};

}  // namespace mesh::node
