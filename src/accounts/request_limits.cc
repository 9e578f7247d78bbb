#include "mesh/accounts/request_limits.h"

#include <algorithm>
#include <vector>

namespace mesh::accounts {

std::optional<absl::Duration> RequestLimits::TakeRequest(std::string_view user, int64_t per_second,
                                                         absl::Time now) {
  if (per_second <= 0) return std::nullopt;
  const double rate = static_cast<double>(per_second);
  absl::MutexLock lock(&mu_);
  auto [it, fresh] = buckets_.try_emplace(std::string(user));
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = rate;
  } else if (now > b.at) {
    b.tokens = std::min(rate, b.tokens + absl::ToDoubleSeconds(now - b.at) * rate);
  }
  b.at = std::max(b.at, now);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  return absl::Seconds((1 - b.tokens) / rate);
}

bool RequestLimits::CanSubmit(std::string_view user, int64_t max) const {
  if (max <= 0) return true;
  return static_cast<int64_t>(InFlight(user)) < max;
}

void RequestLimits::Submitted(std::string_view user, std::string job_id) {
  absl::MutexLock lock(&mu_);
  owner_[std::string(job_id)] = std::string(user);
  in_flight_[std::string(user)].insert(std::move(job_id));
}

void RequestLimits::Ended(std::string_view job_id) {
  absl::MutexLock lock(&mu_);
  auto owner = owner_.find(std::string(job_id));
  if (owner == owner_.end()) return;
  auto jobs = in_flight_.find(owner->second);
  if (jobs != in_flight_.end()) {
    jobs->second.erase(std::string(job_id));
    if (jobs->second.empty()) in_flight_.erase(jobs);
  }
  owner_.erase(owner);
}

size_t RequestLimits::InFlight(std::string_view user) const {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(std::string(user));
  return it == in_flight_.end() ? 0 : it->second.size();
}

std::vector<std::string> RequestLimits::JobsOf(std::string_view user) const {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(std::string(user));
  if (it == in_flight_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

}  // namespace mesh::accounts
