#include "mesh/storage/shard_fetch_plan.h"

#include <algorithm>
#include <tuple>

namespace mesh::storage {

SegmentFetchPlan::SegmentFetchPlan(int k, const std::vector<std::optional<absl::Duration>>& rtt,
                                   const std::vector<bool>& unavailable, ShardFetchOptions options,
                                   std::optional<absl::Duration> typical)
    : k_(k), options_(options), shards_(rtt.size()), prior_typical_(typical) {
  for (size_t i = 0; i < rtt.size(); ++i) {
    if (i < unavailable.size() && unavailable[i]) {
      shards_[i].state = State::kNoHolder;
    } else {
      order_.push_back(static_cast<int>(i));
    }
  }
  auto key = [&](int i) {
    return std::make_tuple(!rtt[i].has_value(), rtt[i].value_or(absl::ZeroDuration()), i >= k, i);
  };
  std::sort(order_.begin(), order_.end(), [&](int a, int b) { return key(a) < key(b); });
}

std::optional<int> SegmentFetchPlan::NextWaiting() {
  for (int i : order_) {
    if (shards_[i].state == State::kWaiting) return i;
  }
  return std::nullopt;
}

std::vector<int> SegmentFetchPlan::Start(absl::Time now) {
  std::vector<int> start;
  while (static_cast<int>(start.size()) < k_) {
    std::optional<int> next = NextWaiting();
    if (!next.has_value()) break;
    shards_[*next].state = State::kRunning;
    shards_[*next].started = now;
    start.push_back(*next);
  }
  return start;
}

std::vector<int> SegmentFetchPlan::Finished(int shard, bool ok, absl::Time now) {
  if (shard < 0 || shard >= static_cast<int>(shards_.size()) ||
      shards_[shard].state != State::kRunning) {
    return {};
  }
  Shard& s = shards_[shard];
  if (ok) {
    s.state = State::kArrived;
    took_.push_back(now - s.started);
    arrived_list_.push_back(shard);
    ++arrived_;
    return {};
  }
  s.state = State::kFailed;
  if (done()) return {};
  // Still k arriving without a replacement? A hedge may have started one already.
  int running = 0;
  for (const Shard& other : shards_) running += other.state == State::kRunning;
  if (arrived_ + running >= k_) return {};
  std::optional<int> next = NextWaiting();
  if (!next.has_value()) return {};
  shards_[*next].state = State::kRunning;
  shards_[*next].started = now;
  return {*next};
}

absl::Duration SegmentFetchPlan::HedgeDelay() const {
  const std::optional<absl::Duration> typical = Typical();
  if (!typical.has_value()) return options_.first_hedge;
  return std::max(options_.min_hedge, *typical * options_.hedge_factor);
}

std::vector<int> SegmentFetchPlan::Tick(absl::Time now) {
  std::vector<int> start;
  if (done()) return start;
  const absl::Duration delay = HedgeDelay();
  for (Shard& s : shards_) {
    if (s.state != State::kRunning || s.hedged || now - s.started < delay) continue;
    std::optional<int> next = NextWaiting();
    if (!next.has_value()) break;
    s.hedged = true;
    shards_[*next].state = State::kRunning;
    shards_[*next].started = now;
    start.push_back(*next);
  }
  return start;
}

absl::Time SegmentFetchPlan::next_tick() const {
  if (done()) return absl::InfiniteFuture();
  bool waiting = false;
  for (const Shard& s : shards_) waiting |= s.state == State::kWaiting;
  if (!waiting) return absl::InfiniteFuture();
  absl::Time next = absl::InfiniteFuture();
  const absl::Duration delay = HedgeDelay();
  for (const Shard& s : shards_) {
    if (s.state == State::kRunning && !s.hedged) next = std::min(next, s.started + delay);
  }
  return next;
}

bool SegmentFetchPlan::failed() const {
  int possible = arrived_;
  for (const Shard& s : shards_)
    possible += s.state == State::kWaiting || s.state == State::kRunning;
  return possible < k_;
}

std::optional<absl::Duration> SegmentFetchPlan::Typical() const {
  if (took_.empty()) return prior_typical_;
  std::vector<absl::Duration> sorted = took_;
  std::sort(sorted.begin(), sorted.end());
  return sorted[sorted.size() / 2];
}

}  // namespace mesh::storage
