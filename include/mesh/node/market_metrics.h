// The market's Prometheus series: the core's counters (market::Count actions), the delegated
// jobs' latency (market::Observe) and the bytes of blobs fetched from peers. The names are the
// ones /metrics has always shown (mesh_market_*, mesh_verify_outvoted_total,
// mesh_net_blob_bytes_fetched_total). Thread-safe (the registry's series are).
#pragma once

#include <map>

#include "absl/time/time.h"
#include "mesh/common/metrics.h"
#include "mesh/market/market.h"

namespace mesh::node {

class MarketMetrics {
 public:
  explicit MarketMetrics(MetricsRegistry& registry);

  void Count(const market::Count& count);
  void Observe(const market::Observe& observe);
  void BlobBytes(uint64_t bytes) { blob_bytes_->Inc(static_cast<double>(bytes)); }
  // One group commit of market steps (mesh_group_commit.h): its transactions and writes.
  void Committed(size_t transactions, size_t failed, size_t writes);

 private:
  std::map<market::Counter, Counter*> counters_;
  Counter* blob_bytes_;
  Histogram* delegated_seconds_;
  Counter* step_commits_;
  Counter* step_writes_;
};

}  // namespace mesh::node
