// Waiting for a job's end in the benchmarks that run nodes in process (mesh_bench, split_bench):
// woken by the node's event bus, as the HTTP API's long poll is, not by polling the job store.
// A poll every millisecond read the job's row (spec and report, parsed) about a thousand times a
// second, on a core the measured work needed: on 2 cores with both busy running chunks, that
// was CPU taken from the workers and counted against the mesh.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "mesh/job/job_state.h"
#include "mesh/node/node.h"

namespace mesh::bench {

inline bool IsFinalEvent(const std::string& type) {
  return type == "job.succeeded" || type == "job.failed" || type == "job.cancelled";
}

// One waiting thread's wake-up: the bus calls Wake() (under its lock, so it only counts and
// notifies), the thread waits for the count to move.
class Waker {
 public:
  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++n_;
    }
    cv_.notify_one();
  }
  uint64_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return n_;
  }
  // False after `timeout` without a wake-up.
  bool WaitPast(uint64_t seen, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return n_ != seen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t n_ = 0;
};

// The record of job `id` on `n` once it has ended: read again after each of the job's events
// (and once a second, should an event be missed). A job not known to `n` is an error.
inline absl::StatusOr<node::JobRecord> WaitEnded(node::Node& n, const std::string& id) {
  Waker waker;
  const uint64_t subscription = n.events().Subscribe(id, [&waker] { waker.Wake(); });
  absl::StatusOr<node::JobRecord> job;
  for (;;) {
    const uint64_t seen = waker.count();
    job = n.compute().Get(id);
    if (!job.ok() || job::IsTerminal(job->state)) break;
    waker.WaitPast(seen, std::chrono::seconds(1));
  }
  n.events().Unsubscribe(subscription);
  return job;
}

}  // namespace mesh::bench
