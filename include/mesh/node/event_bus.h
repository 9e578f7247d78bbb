// EventBus: the node's live events (job lifecycle and progress) for the API's event stream and
// for clients waiting on a job. Events get increasing sequence numbers and the bus keeps the
// last `capacity` of them, so a client that reconnects with the last id it saw misses nothing
// unless it fell more than `capacity` events behind (Since() then says so).
//
// Subscribers are woken, not handed events: Publish() calls each matching subscriber's wake
// function (which must be cheap and must not call back into the bus), and the subscriber reads
// what it has not seen with Since(). A slow reader therefore never blocks a publisher.
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace mesh::node {

struct Event {
  uint64_t seq = 0;
  std::string type;    // "job.queued", "job.running", "job.progress", "job.succeeded", ...
  std::string job_id;  // empty for node-wide events
  std::string state;   // the job's state the event reports ("" if none)
  // The whole event as one JSON object (its fields plus seq, type, job_id, time), serialised
  // once when published: that is what streams send, and it keeps the ring of events small.
  std::string json;

  nlohmann::json ToJson() const { return nlohmann::json::parse(json); }
};

struct EventBatch {
  std::vector<Event> events;
  bool gap = false;         // events after the given seq were dropped before the reader got them
  uint64_t scanned_to = 0;  // the last seq looked at: pass it as `after` next time
};

class EventBus {
 public:
  explicit EventBus(size_t capacity = 4096) : capacity_(capacity) {}

  // Assigns the sequence number and time, stores, wakes subscribers; returns the seq.
  uint64_t Publish(std::string type, std::string job_id, absl::Time time, nlohmann::json data);

  // Events with seq > after (at most `max`), those of `job_id` only when it is non-empty.
  EventBatch Since(uint64_t after, const std::string& job_id = "", size_t max = 1024) const;
  uint64_t last_seq() const;

  // `wake` runs on the publishing thread for each event of `job_id` (all events when empty).
  uint64_t Subscribe(std::string job_id, std::function<void()> wake);
  void Unsubscribe(uint64_t subscription);
  size_t subscribers() const;

 private:
  struct Subscriber {
    std::string job_id;
    std::function<void()> wake;
  };

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_subscription_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::node
