// SplitCoordinator: runs the jobs whose spec has a split (job/split_spec.h) on the node they were
// submitted to. It splits the job's first input into chunks (a built-in splitter, or the user's
// split module run here in the sandbox), stores each chunk as a blob and submits one chunk job
// per chunk to the compute service, which places each like any job: here, or through the market,
// where chunks of one split job share a lease (node/mesh_service.h). Every other input of the
// job goes whole to every chunk, after the chunk's bytes (a broadcast input, fetched once per
// executor). When every chunk has succeeded it merges the outputs in chunk order (concatenation,
// or the user's merge module run here), builds the Merkle tree over the chunk outputs
// (verify/merkle_tree.h), signs a split receipt naming the root, and finishes the job.
//
// A chunk job is a real job: signed by this node, paid for from the split job's submitter's
// credits, labelled mesh.split.job = <split job id> and mesh.split.chunk = <index>, with env
// MESH_CHUNK_INDEX, MESH_CHUNK_COUNT and MESH_SPLIT_JOB, and verified like any job (the split
// job's verification applies per chunk). A split module gets the first input on stdin and
// MESH_SPLIT_PARTS, and writes frames (job/splitters.h: EncodeFrames); a merge module reads the
// chunk outputs as frames on stdin and writes the merged output.
//
// Durable: the chunk list is a "split" block in the job's history, written before the job is
// marked running; chunk jobs are submitted with idempotency keys "split/<job>/<index>", so a
// restart at any point splits again (deterministically) and finds the chunks it had made. A
// chunk that fails, or is cancelled, fails the split job and cancels the other chunks.
//
// Progress: each chunk that ends publishes job.progress for the split job (chunks done of total,
// and an ETA from the mean time per chunk so far). Thread-safe; the blocking work (splitting,
// merging) runs on the coordinator's own thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/blob_store.h"
#include "mesh/common/task_pool.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/module_loader.h"
#include "mesh/verify/merkle_tree.h"

namespace mesh::node {

inline constexpr std::string_view kSplitJobLabel = "mesh.split.job";
inline constexpr std::string_view kSplitChunkLabel = "mesh.split.chunk";
inline constexpr std::string_view kSplitReceiptType = "application/vnd.mesh.split-receipt.v1+json";

struct ChunkStatus {
  uint32_t index = 0;
  std::string job_id;
  std::string input_cid;
  uint64_t input_bytes = 0;
  job::JobState state = job::JobState::kQueued;
  std::string output_cid;
  std::string executor;  // the node that ran it; empty = this node
  uint64_t fuel_used = 0;
};

struct SplitStatus {
  std::string job_id;
  // splitting (the chunks are not made yet), running, merging, or the job's terminal state.
  std::string stage;
  std::vector<ChunkStatus> chunks;
  uint32_t done = 0;        // chunks that succeeded
  std::string merkle_root;  // hex; set once merged
};

// A chunk output's place in the split job's Merkle tree.
struct ChunkProof {
  uint32_t index = 0;
  std::string output_cid;
  std::string merkle_root;  // hex
  verify::InclusionProof proof;
};

class SplitCoordinator final : public SplitHandler {
 public:
  // `compute` must outlive the coordinator; Stop() before destroying either.
  SplitCoordinator(NodeEnv env, ComputeService* compute, ComputeOptions options);
  ~SplitCoordinator() override;

  void Stop();

  // SplitHandler
  void Take(const JobRecord& job) override;
  bool Cancel(const std::string& id) override;
  void OnFinished(const JobRecord& job) override;

  // The chunks of a split job (running or finished); NotFound for a job that is not one.
  absl::StatusOr<SplitStatus> Status(const std::string& id);
  // FailedPrecondition until the job has merged; OutOfRange for a bad index.
  absl::StatusOr<ChunkProof> Proof(const std::string& id, uint32_t index);

 private:
  struct Split {
    JobRecord job;
    std::vector<ChunkStatus> chunks;
    absl::flat_hash_map<std::string, uint32_t> by_job;  // chunk job id -> index
    absl::Time running_since = absl::InfinitePast();
    bool ending = false;  // merging, failing or cancelling: no more chunk updates act
    // Concatenated outputs are merged as they come: `merged` leading chunks' outputs are in
    // `merging` already (null while MergeAhead appends, or before the first), so the merge at
    // the end appends only the chunks that ended last.
    std::unique_ptr<cas::PendingBlob> merging;
    uint32_t merged = 0;
    bool merge_ahead_posted = false;
  };

  void Prepare(JobRecord job);
  // The chunks of `job`: from its "split" history block, or by splitting and submitting.
  absl::StatusOr<std::vector<ChunkStatus>> MakeChunks(const JobRecord& job);
  absl::StatusOr<std::vector<std::string>> RunSplitModule(const JobRecord& job, std::string input);
  // `segment`: the chunk reads only that segment of `input_cid`, a stored file.
  absl::StatusOr<std::string> SubmitChunk(const JobRecord& job, uint32_t index, uint32_t count,
                                          const std::string& input_cid,
                                          std::optional<uint32_t> segment = std::nullopt);
  // Records a chunk's end; queues the merge or the failure on the worker.
  void ChunkEnded(Split& split, uint32_t index, const JobRecord& chunk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends the outputs of the chunks that now extend the merged prefix (concatenation only).
  void MergeAhead(std::string id);
  void Merge(std::string id);
  // The merged output's CID. Concatenation continues `ahead` (the first `merged` outputs
  // appended; null: none), or starts a writer.
  absl::StatusOr<std::string> MergeOutputs(const JobRecord& job,
                                           const std::vector<ChunkStatus>& chunks,
                                           std::unique_ptr<cas::PendingBlob> ahead,
                                           uint32_t merged);
  // Appends chunk outputs [from, to) to `writer`, each read (verified) from the store.
  absl::Status AppendOutputs(const std::vector<ChunkStatus>& chunks, uint32_t from, uint32_t to,
                             cas::PendingBlob& writer);
  void End(std::string id, job::JobState state, std::string reason);
  void PublishProgress(const Split& split) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<SplitStatus> StatusFromHistory(const std::string& id);
  absl::StatusOr<wasm::RunResult> RunHere(const JobRecord& job, const std::string& module,
                                          std::string stdin_bytes,
                                          std::vector<std::pair<std::string, std::string>> env);

  const NodeEnv env_;
  ComputeService* const compute_;
  const ComputeOptions options_;
  ModuleLoader modules_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Split>> splits_ ABSL_GUARDED_BY(mu_);
  // Last: destroyed (stopped) first, while everything its tasks use is still there.
  TaskPool work_{1};
};

}  // namespace mesh::node
