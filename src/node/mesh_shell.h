// MeshService's private parts, shared by its source files: its metrics and how a local run's end
// reads to the core. Not a public header.
#pragma once

#include <map>

#include "mesh/common/metrics.h"
#include "mesh/node/mesh_service.h"

namespace mesh::node {

struct MeshService::Metrics {
  explicit Metrics(MetricsRegistry& r);
  Counter* blob_bytes;
  std::map<market::Counter, Counter*> market;  // the core's counters (Count actions)
  Histogram* delegated_seconds;
};

// A job run here for another node ended: what its receipt reports.
market::LocalRunEnd LocalRunEndOf(const JobRecord& job, cas::BlobStore& blobs);

}  // namespace mesh::node
