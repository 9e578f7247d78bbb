// MeshService: the shell around this node's market core (market/market.h). It is the
// transport's Handler (every message a peer sends arrives here) and the compute service's
// Delegator (every job the node accepts is placed here or handed to the market).
//
// What it does itself: opens and checks every envelope (size, signature, author = the
// TLS-authenticated peer, staleness, replay; refusals counted in /metrics), answers blob
// requests, and carries membership: the membership core (membership/membership.h, bounded
// active and passive views) decides whom this node exchanges heartbeats with (capacity, load and
// its active view ride on them), gossips to and hears as dead; the peer table mirrors its views
// (and peers.json); the market core hears of each active peer (PeerChanged). Everything the market
// decides is decided by the core: a message, a send's or fetch's outcome, a timer, a peer's or this
// node's capacity change, a job handed over, a local run's progress or end become market inputs,
// and the actions of each step are carried out here in step order on one serial executor (a
// mesh::Scheduler): one SQLite transaction for the history blocks and market state of the steps
// waiting for the executor together (group commit, mesh_group_commit.h: nothing leaves before the
// commit it depends on), sealed sends, blob fetches (on a small pool of their own: they block), the
// compute service, the settlement, events, metrics and the one timer the core asks for. Test faults
// (MeshOptions::fault) live here too.
//
// Thread-safe: one mutex around the core and the shell's own state; the core is stepped under it
// and the step's actions are queued on the executor before it is released.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "mesh/common/metrics.h"
#include "mesh/common/scheduler.h"
#include "mesh/common/task_pool.h"
#include "mesh/job/market.h"
#include "mesh/market/market.h"
#include "mesh/membership/membership.h"
#include "mesh/net/transport.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/envelope_guard.h"
#include "mesh/node/host_info.h"
#include "mesh/node/market_metrics.h"
#include "mesh/node/mesh_options.h"
#include "mesh/node/peer_table.h"
#include "mesh/node/shard_holder.h"
#include "mesh/node/shard_staging.h"
#include "mesh/node/storage_peers.h"

namespace mesh::node {

struct MeshStats {
  size_t peers_alive = 0;        // the active view's peers whose heartbeat is in
  size_t peers_known = 0;        // both views: a lower bound of the network's size
  size_t auctions_open = 0;      // delegated jobs being placed or waiting for bids
  size_t delegated_running = 0;  // delegated jobs on an executor
  size_t assigned = 0;           // jobs run here for other nodes
};

class MeshService final : public net::Handler, public Delegator, public StoragePeers {
 public:
  // `transport` must be unstarted; Start() starts it with this service as its handler.
  MeshService(MeshOptions options, NodeEnv env, ComputeService* compute, net::Transport* transport,
              std::unique_ptr<PeerTable> peers, const ComputeOptions& compute_options);
  ~MeshService() override;

  absl::Status Start();
  // Stops the executor, the fetches and the transport, and saves the peer table. Idempotent.
  void Stop();

  std::string address() const override { return transport_->address(); }
  std::vector<Peer> Peers() const { return peers_->All(); }
  MeshStats Stats();
  // What the host profile adds to this node's offer (node_profiler.h): capabilities derived
  // from it, beside the configured ones, and its speed score. The market hears of it at once.
  void SetProfile(std::vector<std::string> capabilities, uint64_t fuel_per_second)
      ABSL_LOCKS_EXCLUDED(profile_mu_);

  // Stored files (mesh_storage.cc). Before Start: the shards this node holds for others answer
  // StoreShards and DropShards (without it they are refused), and heartbeats advertise its room
  // and `zone` (a failure domain). The holder must outlive the service.
  void SetShardHolder(ShardHolder* holder, std::string zone);
  // Before Start: grants the keys of stored-file inputs to executors, and keeps those granted
  // here while their jobs run (stored_inputs.h).
  void SetStoredInputs(StoredInputs* stored) { stored_inputs_ = stored; }
  // Shards this node is placing: served to the holders that pull them (before the blob store).
  void SetShardStaging(ShardStaging* staging) { staging_ = staging; }
  // StoragePeers
  std::vector<storage::HolderCandidate> HolderCandidates() override;
  std::optional<absl::Duration> RoundTrip(const std::string& did) override;
  absl::StatusOr<job::Message> Ask(const std::string& did, const std::string& address,
                                   job::Message request, absl::Duration timeout) override;
  absl::Status FetchFrom(const std::string& did, const std::string& address, const std::string& cid,
                         uint64_t limit, absl::Duration timeout,
                         const net::ChunkSink& sink) override;
  // ShardHolder's fetch: pulls a shard from its owner into the blob store.
  absl::Status FetchShard(const std::string& did, const std::string& address,
                          const std::string& cid, uint64_t bytes);

  // net::Handler
  absl::StatusOr<std::string> OnMessage(const crypto::DidKey& peer, std::string_view envelope,
                                        int ttl) override;
  absl::StatusOr<std::unique_ptr<cas::ByteSource>> OpenBlob(const crypto::DidKey& peer,
                                                            std::string_view request) override;
  // Delegator
  bool ShouldDelegate(JobRecord& job) override;
  void Take(const JobRecord& job) override;
  bool Cancel(const std::string& id) override;
  void OnProgress(const JobRecord& job, const wasm::ProgressRecord& progress) override;
  void OnArtifact(const JobRecord& job, std::string_view kind, uint32_t index,
                  const std::string& cid, uint64_t bytes, uint64_t fuel) override;
  void OnFinished(const JobRecord& job) override;

 private:
  using Actions = std::vector<market::Action>;

  // Steps (mesh_service.cc).
  // Steps the core with `input` and queues the step's actions on the executor (in step order).
  // Returns the step's answer to a request (its Send with `reply` set), if any. `carried_out`
  // is notified once the actions ran.
  std::optional<market::Send> Feed(market::Input input,
                                   std::shared_ptr<absl::Notification> carried_out = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<market::Send> FeedLocked(market::Input input,
                                         std::shared_ptr<absl::Notification> carried_out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Membership and this node's capacity (mesh_membership.cc).
  void Beat();  // every options_.heartbeat, on the executor: capacity, hellos, peers.json
  // Steps the membership core and carries out its actions: the market hears of peers joining
  // and leaving the active view in step order (under members_mu_); sends go after.
  void StepMembers(membership::Input input) ABSL_LOCKS_EXCLUDED(members_mu_);
  void StepMembersLocked(membership::Input input, std::vector<membership::Send>& sends)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(members_mu_);
  // A Ping is sent as `beat` (the step's one heartbeat, set when the step has a Ping).
  void SendMembership(const membership::Send& send, const std::optional<job::Heartbeat>& beat);
  void Leave();  // tells the active peers (Stop), waiting for them a little
  // A heartbeat to an address whose DID is not known yet; its signed reply names it.
  void SayHello(const std::string& address);
  // The signed heartbeat in a peer's reply (from `from`, if its DID is known), or none.
  std::optional<job::Heartbeat> HeartbeatIn(std::string_view reply,
                                            const std::optional<crypto::DidKey>& from);
  membership::Contact Self() const;  // this node as membership names it
  job::Heartbeat MakeHeartbeat();
  // A heartbeat from a peer (a ping, or the reply to ours; rtt set for a reply).
  void OnHeartbeat(const job::Heartbeat& hb, absl::Time now, std::optional<absl::Duration> rtt);
  sched::LocalCapacity Capacity();  // the compute service's and the host's
  // Tells the core this node's capacity (and whether it refuses `module`, if given) when either
  // changed since it was last told.
  void RefreshCapacity(const std::string& module = "") ABSL_LOCKS_EXCLUDED(mu_);

  // The host's figures (cores, memory, free storage), read at most once per kHostFiguresFor:
  // reading them (/proc, statvfs) on every announce and assignment cost more than the decision.
  struct HostFigures {
    HostInfo host;
    uint64_t storage_free = 0;
  };
  HostFigures Host() ABSL_LOCKS_EXCLUDED(host_mu_);
  static constexpr absl::Duration kHostFiguresFor = absl::Seconds(1);
  absl::Mutex host_mu_;
  std::optional<HostFigures> host_ ABSL_GUARDED_BY(host_mu_);
  absl::Mutex profile_mu_;
  std::vector<std::string> profile_capabilities_ ABSL_GUARDED_BY(profile_mu_);
  uint64_t fuel_per_second_ ABSL_GUARDED_BY(profile_mu_) = 0;
  absl::Time host_read_ ABSL_GUARDED_BY(host_mu_) = absl::InfinitePast();

  // Where a peer is dialled: its address, and its DID if it has a valid one.
  static net::Endpoint EndpointOf(const std::string& did, const std::string& address);
  // Carrying out actions (mesh_actions.cc), on the executor.
  // Takes the steps waiting in pending_ (at most kMaxStepsPerDrain) and carries out their
  // actions with one transaction for the writes of consecutive steps (mesh_group_commit.h).
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);
  void CarryOne(const market::Action& action);  // any action but a Persist
  void Dropped(const market::Action& action);   // its step's writes were not recorded
  absl::Status Persist(const std::vector<const market::Persist*>& writes);
  void SendMessage(const market::Send& send);
  std::string SealForPeer(job::Message message);      // applies the lie fault to receipts
  bool Stored(const std::vector<std::string>& cids);  // every blob is in the store
  void Fetch(const market::Fetch& fetch);             // on the fetch pool
  absl::Status FetchBlob(const std::string& cid, const std::vector<market::FetchSource>& sources);
  // The files of the tree `cid` names when it is a directory manifest (already fetched).
  absl::Status FetchTreeFiles(const std::string& cid,
                              const std::vector<market::FetchSource>& sources);
  void RunHere(const market::RunHere& run);
  void RunAtHome(const market::RunAtHome& home);
  void CancelRun(const market::CancelRun& cancel);  // on the fetch pool: it waits for the run
  void Finish(const market::JobResult& result);
  void SetTimer(absl::Time at);
  void DieOnceRunning(const std::string& id);  // FaultOptions::die_mid_job: polls the job

  // A StoreShards or DropShards from `peer`, answered by the holder.
  absl::StatusOr<std::string> OnStorageMessage(const crypto::DidKey& peer,
                                               const job::Message& message);

  const MeshOptions options_;
  const NodeEnv env_;
  ShardHolder* holder_ = nullptr;          // set before Start
  StoredInputs* stored_inputs_ = nullptr;  // set before Start
  ShardStaging* staging_ = nullptr;        // set before Start
  std::string zone_;
  ComputeService* const compute_;
  net::Transport* const transport_;
  std::unique_ptr<PeerTable> peers_;
  const uint64_t max_module_bytes_;
  const uint64_t max_input_bytes_;
  EnvelopeGuard envelopes_;
  MarketMetrics metrics_;
  std::unique_ptr<market::TrustView> trust_;
  std::unique_ptr<market::Directory> directory_;  // peers_'s passive view, for the market
  std::unique_ptr<RealScheduler> scheduler_;
  std::unique_ptr<TaskPool> fetches_;             // blob transfers and stopping runs: they block
  std::atomic<std::thread::id> executor_thread_;  // scheduler_'s thread
  bool started_ = false;

  absl::Mutex mu_;
  std::unique_ptr<market::Market> market_ ABSL_GUARDED_BY(mu_);  // made by Start()
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // What the core was last told of this node, and the modules it refuses (ModuleRefusal).
  std::optional<market::CapacityChanged> told_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> refused_ ABSL_GUARDED_BY(mu_);
  // Steps whose actions wait for the executor, in step order, and whether a Drain is queued.
  struct PendingStep {
    Actions actions;
    std::shared_ptr<absl::Notification> carried_out;
  };
  static constexpr size_t kMaxStepsPerDrain = 64;  // bounds a transaction and a drain's latency
  std::vector<PendingStep> pending_ ABSL_GUARDED_BY(mu_);
  bool drain_queued_ ABSL_GUARDED_BY(mu_) = false;
  // RunHere actions stepped and not yet through ComputeService::Submit (as good as queued).
  uint32_t submitting_ ABSL_GUARDED_BY(mu_) = 0;
  // Membership, stepped under its own mutex (taken before mu_, never after).
  absl::Mutex members_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::unique_ptr<SeededRng> members_rng_ ABSL_GUARDED_BY(members_mu_);
  std::unique_ptr<membership::Membership> members_ ABSL_GUARDED_BY(members_mu_);  // by Start()
  absl::Time members_timer_at_ ABSL_GUARDED_BY(members_mu_) = absl::InfinitePast();
  uint64_t members_timer_ ABSL_GUARDED_BY(members_mu_) = 0;  // the armed timer's generation
  size_t known_ ABSL_GUARDED_BY(members_mu_) = 0;  // both views' sizes after the last step
  // The executor's own: only tasks on scheduler_ touch them.
  Scheduler::TimerId timer_ = 0;
  absl::Time peers_saved_ = absl::InfinitePast();
  uint64_t beats_ = 0;
};

}  // namespace mesh::node
