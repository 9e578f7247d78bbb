#include "mesh/node/stored_outputs.h"

#include <utility>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/node/blob_transfer.h"
#include "mesh/storage/store_file.h"
#include "spdlog/spdlog.h"

namespace mesh::node {

StoredOutputs::StoredOutputs(std::string node_did, cas::BlobStore* blobs, FileStore* files,
                             ComputeService* compute)
    : node_did_(std::move(node_did)), blobs_(blobs), files_(files), compute_(compute) {}

StoredOutputs::~StoredOutputs() { Stop(); }

void StoredOutputs::Store(const JobRecord& job) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  // One put at a time: each already spreads its shards over many peers at once.
  if (pool_ == nullptr) pool_ = std::make_unique<TaskPool>(1);
  pool_->Post([this, job] {
    const absl::Status stored = StoreNow(job);
    if (!stored.ok()) {
      spdlog::warn("job {}: its output was not stored ({}): {}", job.id, job.spec.store_output,
                   stored.ToString());
      (void)compute_->RecordStoredOutput(job.id, stored);
    }
  });
}

void StoredOutputs::Stop() {
  std::unique_ptr<TaskPool> pool;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    pool = std::move(pool_);
  }
  if (pool != nullptr) pool->Stop(TaskPool::Pending::kDrop);
}

absl::Status StoredOutputs::StoreNow(const JobRecord& job) {
  storage::StoreOptions code;
  MESH_RETURN_IF_ERROR(storage::ParseStoreCode(job.spec.store_output, code));
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<cas::ByteSource> output,
                        OpenBlobAt(*blobs_, job.output_cid, 0));
  PutRequest request;
  request.name = mesh::StrCat("output of job ", job.id);
  // The job's user owns it (empty: the node itself, as for a file it stored).
  if (job.spec.submitter != node_did_) request.user = job.spec.submitter;
  request.k = code.k;
  request.m = code.m;
  MESH_ASSIGN_OR_RETURN(StoredFileRecord file, files_->Put(*output, request));
  return compute_->RecordStoredOutput(job.id, file.cid);
}

}  // namespace mesh::node
