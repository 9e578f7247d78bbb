#include "mesh/node/event_bus.h"

#include <algorithm>

namespace mesh::node {

uint64_t EventBus::Publish(std::string type, std::string job_id, absl::Time time,
                           nlohmann::json data) {
  if (!data.is_object()) data = nlohmann::json::object();
  data["type"] = type;
  if (!job_id.empty()) data["job_id"] = job_id;
  data["time"] = absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone());
  std::string state = data.value("state", "");
  std::vector<std::function<void()>*> to_wake;
  absl::MutexLock lock(&mu_);
  const uint64_t seq = next_seq_++;
  data["seq"] = seq;
  Event e{seq, std::move(type), std::move(job_id), std::move(state),
          data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
  // dump() appends, so the string's capacity is up to twice its size; the ring keeps 4,096.
  e.json.shrink_to_fit();
  for (auto& [id, sub] : subscribers_) {
    if (sub.job_id.empty() || sub.job_id == e.job_id) to_wake.push_back(&sub.wake);
  }
  events_.push_back(std::move(e));
  if (events_.size() > capacity_) events_.pop_front();
  // Woken under the lock so that Unsubscribe() returning means the wake will not run again.
  for (auto* wake : to_wake) (*wake)();
  return seq;
}

EventBatch EventBus::Since(uint64_t after, const std::string& job_id, size_t max) const {
  EventBatch batch;
  batch.scanned_to = after;
  absl::MutexLock lock(&mu_);
  if (events_.empty()) return batch;
  const uint64_t first = events_.front().seq;
  batch.gap = after + 1 < first;
  const size_t start = after + 1 <= first ? 0 : static_cast<size_t>(after + 1 - first);
  for (size_t i = start; i < events_.size() && batch.events.size() < max; ++i) {
    if (job_id.empty() || events_[i].job_id == job_id) batch.events.push_back(events_[i]);
    batch.scanned_to = events_[i].seq;
  }
  return batch;
}

uint64_t EventBus::last_seq() const {
  absl::MutexLock lock(&mu_);
  return next_seq_ - 1;
}

uint64_t EventBus::Subscribe(std::string job_id, std::function<void()> wake) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_subscription_++;
  subscribers_.emplace(id, Subscriber{std::move(job_id), std::move(wake)});
  return id;
}

void EventBus::Unsubscribe(uint64_t subscription) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(subscription);
}

size_t EventBus::subscribers() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

}  // namespace mesh::node
