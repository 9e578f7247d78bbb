// StoredOutputs: a job that names store_output ("K+M") has its output stored across the mesh
// once it succeeds (node/file_store.h), for the job's user: the submitting node puts the output
// blob through the CES pipeline on a thread of its own, then records the stored file's CID on
// the job (JobRecord::stored_output, event job.output_stored). A put that fails (too few peers,
// say) leaves the job succeeded with its output in the blob store, and says why (event
// job.output_store_failed).
//
// Thread-safe. Stop() before the file store or the compute service goes.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/blob_store.h"
#include "mesh/common/task_pool.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/file_store.h"

namespace mesh::node {

class StoredOutputs {
 public:
  StoredOutputs(std::string node_did, cas::BlobStore* blobs, FileStore* files,
                ComputeService* compute);
  ~StoredOutputs();

  // Queues the put of `job`'s output; returns at once.
  void Store(const JobRecord& job) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for the put in progress; queued ones are dropped. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Status StoreNow(const JobRecord& job);

  const std::string node_did_;
  cas::BlobStore* const blobs_;
  FileStore* const files_;
  ComputeService* const compute_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<TaskPool> pool_ ABSL_GUARDED_BY(mu_);  // made by the first Store
};

}  // namespace mesh::node
