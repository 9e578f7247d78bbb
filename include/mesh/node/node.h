// Node: one machine's Mesh services, wired together from a NodeConfig — the data dir (key,
// token, job database, blob store), the sandboxed worker pool and the compute service, with
// the event bus and metrics they report to. The HTTP API (api/) and meshd drive a Node.
//
// Start() holds the data dir's lock for the node's lifetime, so two nodes never share one.
// Drain() is the orderly stop. Thread-safe after Start; the accessors' objects live as long as
// the Node.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "mesh/accounts/user_store.h"
#include "mesh/cas/blob_store.h"
#include "mesh/common/clock.h"
#include "mesh/common/metrics.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/exec/worker_pool.h"
#include "mesh/net/transport.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/data_dir.h"
#include "mesh/node/event_bus.h"
#include "mesh/node/file_store.h"
#include "mesh/node/host_info.h"
#include "mesh/node/job_store.h"
#include "mesh/node/mesh_service.h"
#include "mesh/node/node_config.h"
#include "mesh/node/node_profiler.h"
#include "mesh/node/settlement.h"
#include "mesh/node/shard_holder.h"
#include "mesh/node/split_coordinator.h"
#include "mesh/node/storage_keeper.h"
#include "mesh/node/store_db.h"
#include "mesh/node/stored_inputs.h"
#include "mesh/node/stored_outputs.h"

namespace mesh::node {

// Makes the transport the mesh runs on; the default is gRPC with mutual TLS.
using TransportFactory = std::function<absl::StatusOr<std::unique_ptr<net::Transport>>(
    const crypto::KeyPair& key, const MeshOptions& options, MetricsRegistry& metrics)>;

class Node {
 public:
  // `clock` and `rng` must outlive the node.
  static absl::StatusOr<std::unique_ptr<Node>> Start(NodeConfig config, const Clock& clock,
                                                     Rng& rng, TransportFactory transport = {});
  ~Node();

  const NodeConfig& config() const { return config_; }
  const DataDir& data_dir() const { return dir_; }
  const crypto::KeyPair& key() const { return key_; }
  // The API's users, roles and tokens (<data_dir>/users.db); api.token is user "admin".
  accounts::UserStore& users() { return *users_; }
  std::string engine() const;
  int workers() const { return options_workers_; }
  absl::Time started_at() const { return started_at_; }
  const Clock& clock() const { return clock_; }

  ComputeService& compute() { return *compute_; }
  cas::BlobStore& blobs() { return *blobs_; }
  EventBus& events() { return events_; }
  MetricsRegistry& metrics() { return metrics_; }
  JobStore& jobs() { return *jobs_; }
  // The credit ledger and reputation book (<data_dir>/ledger.db, reputation.db).
  Settlement& settlement() { return *settlement_; }
  const job::VerifiedSpecs& specs() const { return specs_; }
  // Runs the jobs whose spec has a split: chunks, merge, Merkle root.
  SplitCoordinator& splits() { return *split_; }
  // Null when the mesh is disabled ([mesh] enabled = false).
  MeshService* mesh() { return mesh_.get(); }
  // Files stored across the mesh (`mesh store`), and the shards held here for others (null
  // when the mesh is disabled).
  FileStore& files() { return *files_; }
  ShardHolder* holder() { return holder_.get(); }
  StoredInputs& stored_inputs() { return *stored_inputs_; }
  // Audits and repairs this node's stored files (null when the mesh is disabled).
  StorageKeeper* keeper() { return keeper_.get(); }
  // The host profile and speed score, collected and measured in the background once
  // StartProfiler() is called (meshd calls it once it is ready: the profile's hwloc scan and
  // calibration run would otherwise share the 2 cores with start-up). Later calls do nothing.
  const NodeProfiler& profiler() const { return *profiler_; }
  void StartProfiler();

  // Stops taking jobs, gives running ones `grace`, stops the workers. Idempotent.
  void Drain(absl::Duration grace);

 private:
  Node(NodeConfig config, const Clock& clock, crypto::KeyPair key);

  NodeConfig config_;
  DataDir dir_;
  const Clock& clock_;
  crypto::KeyPair key_;
  absl::Time started_at_;
  int options_workers_ = 0;
  ScopedFd lock_;
  const SystemHostProbe host_;
  MetricsRegistry metrics_;
  EventBus events_;
  std::unique_ptr<accounts::UserStore> users_;
  std::unique_ptr<cas::BlobStore> blobs_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<Settlement> settlement_;
  std::unique_ptr<exec::WorkerPool> pool_;
  std::unique_ptr<PoolRunner> runner_;
  job::VerifiedSpecs specs_;  // before compute_env_, which points at it
  NodeEnv compute_env_;
  std::unique_ptr<ComputeService> compute_;
  std::unique_ptr<SplitCoordinator> split_;
  std::unique_ptr<StoreDb> store_db_;
  std::unique_ptr<ShardStaging> staging_;  // before mesh_, which serves staged shards
  std::unique_ptr<ShardHolder> holder_;    // before mesh_, which answers peers with it
  std::unique_ptr<net::Transport> transport_;
  std::unique_ptr<MeshService> mesh_;
  std::unique_ptr<FileStore> files_;             // after mesh_, whose transport it uses
  std::unique_ptr<StoredInputs> stored_inputs_;  // set on compute_ and mesh_ before they start
  std::unique_ptr<StoredOutputs> stored_outputs_;
  std::unique_ptr<StorageKeeper> keeper_;
  std::unique_ptr<NodeProfiler> profiler_;  // last: its thread uses the runner and the mesh
};

}  // namespace mesh::node
