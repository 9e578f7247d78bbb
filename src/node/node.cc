#include "mesh/node/node.h"
#include "mesh/node/stored_inputs.h"

#include <algorithm>
#include <thread>

#include "mesh/common/file_util.h"
#include "mesh/common/replace_file.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/exec/engine_factory.h"
#include "mesh/net/grpc_transport.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

// Resident set size from /proc, for the process_resident_memory_bytes gauge.
double ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace

Node::Node(NodeConfig config, const Clock& clock, crypto::KeyPair key)
    : config_(std::move(config)),
      dir_{config_.data_dir},
      clock_(clock),
      key_(std::move(key)),
      started_at_(clock.Now()) {}

Node::~Node() { Drain(absl::ZeroDuration()); }

absl::StatusOr<std::unique_ptr<net::Transport>> GrpcTransportFactory(const crypto::KeyPair& key,
                                                                     const MeshOptions& options,
                                                                     MetricsRegistry& metrics) {
  net::GrpcTransportOptions grpc;
  grpc.listen = options.listen;
  grpc.advertise = options.advertise;
  grpc.metrics = &metrics;
  grpc.handshake_timeout = options.handshake_timeout;
  grpc.max_handshakes = options.max_handshakes;
  grpc.blob_stream = options.blob_stream;
  grpc.blob_port = options.blob_port;
  if (!options.allowed_peers.empty()) {
    std::vector<std::string> allowed = options.allowed_peers;
    grpc.admit = [allowed](const crypto::DidKey& did) {
      return std::find(allowed.begin(), allowed.end(), did.ToString()) != allowed.end();
    };
  }
  return net::MakeGrpcTransport(key, std::move(grpc));
}

absl::StatusOr<std::unique_ptr<Node>> Node::Start(NodeConfig config, const Clock& clock, Rng& rng,
                                                  TransportFactory transport) {
  if (config.data_dir.empty()) return absl::InvalidArgumentError("the node needs a data dir");
  DataDir dir{config.data_dir};
  MESH_RETURN_IF_ERROR(InitDataDir(dir, rng).status());
  MESH_ASSIGN_OR_RETURN(ScopedFd lock, LockDataDir(dir));
  MESH_ASSIGN_OR_RETURN(crypto::KeyPair key, crypto::KeyPair::Load(dir.key_path()));
  std::unique_ptr<Node> node(new Node(std::move(config), clock, std::move(key)));
  Node& n = *node;
  n.lock_ = std::move(lock);
  MESH_ASSIGN_OR_RETURN(const std::string api_token, ReadApiToken(dir));
  MESH_ASSIGN_OR_RETURN(n.users_, accounts::UserStore::Open(dir.root / "users.db", n.key_,
                                                            api_token, rng, clock.Now()));

  int concurrency = n.config_.max_concurrent;
  if (concurrency <= 0) concurrency = static_cast<int>(n.host_.Host().cpu_cores);
  n.options_workers_ = concurrency;
  exec::PoolOptions pool;
  if (n.config_.worker_path.empty()) {
    MESH_ASSIGN_OR_RETURN(pool.worker_path, exec::DefaultWorkerPath());
  } else {
    pool.worker_path = n.config_.worker_path;
  }
  pool.workers = concurrency;
  pool.engine = n.config_.engine;
  pool.default_limits = n.config_.default_limits;
  // The node's own aot cache, as README says: never the per-user ~/.cache shared by nodes.
  pool.aot_cache_dir = (dir.root / "cache" / "aot").string();
  pool.prepare_cpu_time = n.config_.prepare_cpu_time;
  pool.prepare_wall_time = n.config_.prepare_wall_time;
  pool.prepare_memory_bytes = n.config_.prepare_memory_bytes;
  pool.compile_cpu_time = n.config_.compile_cpu_time;
  pool.compile_wall_time = n.config_.compile_wall_time;
  pool.compile_memory_bytes = n.config_.compile_memory_bytes;
  pool.compile_concurrency = n.config_.compile_concurrency;
  pool.max_compile_wait = n.config_.max_compile_wait;
  // The worker pool starts beside the rest of the node: asking the compiler its version and
  // starting the workers (exec, load, sandbox, hello) took 35 of the node's 62 ms of start-up,
  // and needs none of what follows. It is joined before the compute service starts its runners,
  // the first callers of the pool; an error below joins it on the way out (jthread).
  absl::StatusOr<std::unique_ptr<exec::WorkerPool>> started_pool =
      absl::UnknownError("the worker pool did not start");
  std::jthread pool_starter([&started_pool, pool = std::move(pool)]() mutable {
    started_pool = exec::WorkerPool::Start(std::move(pool));
  });

  MESH_ASSIGN_OR_RETURN(
      n.blobs_, cas::BlobStore::Open(
                    {.root = dir.store_dir(), .quota_bytes = n.config_.blob_quota_bytes}, clock));
  MESH_ASSIGN_OR_RETURN(n.jobs_, JobStore::Open(dir.db_path()));
  n.runner_ = std::make_unique<PoolRunner>();

  n.metrics_.AddGaugeCallback("process_resident_memory_bytes", "Resident memory of meshd",
                              ResidentBytes);
  const double start_seconds = absl::ToDoubleSeconds(n.started_at_ - absl::UnixEpoch());
  n.metrics_.AddGaugeCallback("process_start_time_seconds", "When meshd started (Unix time)",
                              [start_seconds] { return start_seconds; });
  n.metrics_.AddGaugeCallback("mesh_blob_store_bytes", "Bytes held in the blob store",
                              [&n] { return static_cast<double>(n.blobs_->used_bytes()); });
  ComputeOptions compute;
  compute.max_concurrent = concurrency;
  compute.default_limits = n.config_.default_limits;
  compute.max_input_bytes = n.config_.max_input_bytes;
  compute.max_module_bytes = n.config_.max_module_bytes;
  compute.module_refusal = n.config_.module_refusal;
  MESH_ASSIGN_OR_RETURN(n.settlement_, Settlement::Open(dir.root, n.key_, clock, n.config_.trust));
  n.compute_env_ = NodeEnv{.clock = &clock,
                           .rng = &rng,
                           .key = &n.key_,
                           .blobs = n.blobs_.get(),
                           .jobs = n.jobs_.get(),
                           .events = &n.events_,
                           .metrics = &n.metrics_,
                           .runner = n.runner_.get(),
                           .settlement = n.settlement_.get(),
                           .host = &n.host_,
                           .specs = &n.specs_};
  n.compute_ = std::make_unique<ComputeService>(compute, n.compute_env_);
  n.split_ = std::make_unique<SplitCoordinator>(n.compute_env_, n.compute_.get(), compute);
  MESH_ASSIGN_OR_RETURN(n.store_db_, StoreDb::Open(dir.storage_db_path()));
  MESH_ASSIGN_OR_RETURN(n.staging_, ShardStaging::Open(dir.staging_dir()));
  n.compute_->SetSplitHandler(n.split_.get());
  if (n.config_.mesh.enabled) {
    if (n.config_.mesh.listen.empty()) {
      n.config_.mesh.listen = mesh::StrCat(n.config_.listen_host, ":",
                                           n.config_.listen_port == 0 ? 0 : kDefaultMeshPort);
    }
    if (!transport) transport = GrpcTransportFactory;
    MESH_ASSIGN_OR_RETURN(n.transport_, transport(n.key_, n.config_.mesh, n.metrics_));
    MESH_ASSIGN_OR_RETURN(std::unique_ptr<PeerTable> peers,
                          PeerTable::Open(dir.root / "peers.json", n.key_.did().ToString()));
    n.mesh_ = std::make_unique<MeshService>(n.config_.mesh, n.compute_env_, n.compute_.get(),
                                            n.transport_.get(), std::move(peers), compute);
    n.compute_->SetDelegator(n.mesh_.get());
    MESH_ASSIGN_OR_RETURN(
        n.holder_, ShardHolder::Create(
                       {.quota_bytes = n.config_.hold_quota_bytes}, n.key_.did().ToString(),
                       n.store_db_.get(), n.blobs_.get(), &clock,
                       [mesh = n.mesh_.get()](const std::string& did, const std::string& address,
                                              const std::string& cid, uint64_t bytes) {
                         return mesh->FetchShard(did, address, cid, bytes);
                       }));
    n.mesh_->SetShardHolder(n.holder_.get(), n.config_.zone);
    n.mesh_->SetShardStaging(n.staging_.get());
    n.metrics_.AddGaugeCallback(
        "mesh_storage_held_bytes", "Bytes of other nodes' shards held here ([storage] quota)",
        [holder = n.holder_.get()] { return static_cast<double>(holder->held_bytes()); });
  }
  FileStoreOptions files;
  files.defaults = n.config_.store;
  files.fetch_timeout = n.config_.mesh.fetch_timeout;
  files.holder_timeout = n.config_.mesh.fetch_timeout;
  n.files_ = std::make_unique<FileStore>(files, &n.key_, &rng, &clock, n.blobs_.get(),
                                         n.staging_.get(), n.store_db_.get(), n.mesh_.get());
  n.stored_inputs_ = std::make_unique<StoredInputs>(&n.key_, n.store_db_.get(), n.files_.get());
  n.compute_->SetStoredInputs(n.stored_inputs_.get());
  n.stored_outputs_ = std::make_unique<StoredOutputs>(n.key_.did().ToString(), n.blobs_.get(),
                                                      n.files_.get(), n.compute_.get());
  n.compute_->SetOutputStorer(
      [outputs = n.stored_outputs_.get()](const JobRecord& job) { outputs->Store(job); });
  if (n.mesh_ != nullptr) {
    n.mesh_->SetStoredInputs(n.stored_inputs_.get());
    MESH_RETURN_IF_ERROR(n.mesh_->Start());
    // Rewritten at every start: atomic for readers, no fsync (replace_file.h).
    MESH_RETURN_IF_ERROR(
        ReplaceFileAtomically(dir.root / "mesh.addr", n.mesh_->address() + "\n", 0644));
    StorageKeeperOptions keeper;
    keeper.upkeep = n.config_.upkeep;
    keeper.tick =
        std::clamp(n.config_.upkeep.audit_interval / 4, absl::Milliseconds(100), absl::Minutes(1));
    keeper.rent_per_gib_hour = n.config_.rent_per_gib_hour;
    n.keeper_ = std::make_unique<StorageKeeper>(keeper, n.key_.did().ToString(), n.files_.get(),
                                                n.store_db_.get(), n.settlement_.get(), &clock,
                                                &n.metrics_);
  }
  pool_starter.join();
  MESH_ASSIGN_OR_RETURN(n.pool_, std::move(started_pool));
  n.runner_->Attach(n.pool_.get());
  MESH_RETURN_IF_ERROR(n.compute_->Start());
  n.profiler_ = std::make_unique<NodeProfiler>(
      dir.root, MESH_VERSION, n.runner_.get(), [mesh = n.mesh_.get()](const HostProfile& p) {
        if (mesh != nullptr) mesh->SetProfile(DerivedCapabilities(p), p.fuel_per_second);
      });
  if (n.keeper_ != nullptr) n.keeper_->Start();
  spdlog::info("node {} started: {} worker(s), engine {}, data dir {}", n.key_.did().ToString(),
               concurrency, n.engine(), dir.root.string());
  return node;
}

void Node::StartProfiler() { profiler_->Start(); }

std::string Node::engine() const { return runner_ != nullptr ? runner_->engine() : "none"; }

void Node::Drain(absl::Duration grace) {
  // Jobs run here for other nodes still send their receipts while the compute service drains;
  // the mesh stops after it. The profiler tells the mesh nothing once draining starts, and its
  // calibration run (if any) ends with the pool.
  if (profiler_ != nullptr) profiler_->Stop();
  if (compute_ != nullptr) compute_->Drain(grace);
  if (split_ != nullptr) split_->Stop();
  if (stored_outputs_ != nullptr) stored_outputs_->Stop();  // the put in flight ends first
  if (keeper_ != nullptr) keeper_->Stop();
  if (mesh_ != nullptr) mesh_->Stop();
  if (pool_ != nullptr) pool_->Shutdown(absl::Seconds(2));
  if (profiler_ != nullptr) profiler_->Join();
}

}  // namespace mesh::node
