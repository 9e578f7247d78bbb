// MeshService's private parts, shared by its source files: its metrics, the fetch pool, and
// how a local run's end reads to the core. Not a public header.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "mesh/common/metrics.h"
#include "mesh/node/mesh_service.h"

namespace mesh::node {

struct MeshService::Metrics {
  explicit Metrics(MetricsRegistry& r);
  Counter* messages;
  Counter* refused;
  Counter* blob_bytes;
  std::map<market::Counter, Counter*> market;  // the core's counters (Count actions)
  Histogram* delegated_seconds;
};

// A few threads for blob transfers, which block (the executor must not). Stopping drops the
// fetches not started and waits for those running (Transport::Shutdown ends them).
class MeshService::FetchPool {
 public:
  explicit FetchPool(int threads);
  ~FetchPool();
  void Post(std::function<void()> task);

 private:
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// A job run here for another node ended: what its receipt reports.
market::LocalRunEnd LocalRunEndOf(const JobRecord& job, cas::BlobStore& blobs);

}  // namespace mesh::node
