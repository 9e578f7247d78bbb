// MeshService: this node's part in the mesh. It is the transport's Handler (every message a
// peer sends arrives here) and the compute service's Delegator (every job the node accepts is
// placed here or sent to the market).
//
// Membership: heartbeats to every known peer carry capacity, load and a sample of peers (peer
// exchange); silence for dead_after marks a peer dead. Submitter side: a delegated job is
// announced to live peers, bids and declines are collected until every peer answered, enough
// bids are in or the window ends, sched::Select picks the winner, a signed Assignment goes to
// it, and its signed Receipt is checked and its output fetched and checked by CID before the
// job ends. A dead or late executor, or a bad receipt, excludes that executor and re-announces
// the job (bounded retries with backoff); no bids leaves the job waiting, with its reason,
// until capacity appears. The chunks of a split job share a lease instead of an auction each
// (market_lease.cc). Executor side: announcements are answered with a Bid or a Decline
// (sched::DecideBid), an Assignment's module and inputs (and the checkpoint it resumes from)
// are fetched by CID and checked, and the job runs in this node's ComputeService; progress,
// checkpoints, partial outputs (Artifact) and the receipt go back to the origin.
//
// Every message is a signed envelope (job/market.h), checked for size, signature, author (the
// TLS-authenticated peer), staleness and replay; refusals are counted in /metrics. Each step
// of a job is a block in its history (JobStore::AppendHistory) and an event on the bus.
//
// Thread-safe. Blocking work (blob transfers) runs on the service's own threads, never on
// transport threads; a ticker thread drives heartbeats, bid windows, deadlines and retries.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/job/market.h"
#include "mesh/ledger/reputation.h"
#include "mesh/net/transport.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/mesh_options.h"
#include "mesh/node/peer_table.h"
#include "mesh/node/replay_guard.h"
#include "mesh/sched/bidding.h"
#include "mesh/sched/selection.h"

namespace mesh::node {

struct MeshStats {
  size_t peers_alive = 0, peers_known = 0;
  size_t auctions_open = 0;      // delegated jobs being placed or waiting for bids
  size_t delegated_running = 0;  // delegated jobs on an executor
  size_t assigned = 0;           // jobs run here for other nodes
};

class MeshService final : public net::Handler, public Delegator {
 public:
  // `transport` must be unstarted; Start() starts it with this service as its handler.
  MeshService(MeshOptions options, NodeEnv env, ComputeService* compute, net::Transport* transport,
              std::unique_ptr<PeerTable> peers, const ComputeOptions& compute_options);
  ~MeshService() override;

  absl::Status Start();
  // Stops heartbeats, auctions and transfers, then the transport. Idempotent.
  void Stop();

  std::string address() const { return transport_->address(); }
  std::vector<Peer> Peers() const { return peers_->All(); }
  MeshStats Stats();
  // Runs the time-driven work now (tests call it instead of waiting for the ticker).
  void Tick();

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
  class Metrics;
  struct Auction;
  struct PendingReceipt;
  struct AuctionResult;
  struct Lease;

  // Messages
  std::string Seal(job::Message message);
  absl::StatusOr<job::OpenedMessage> OpenChecked(std::string_view bytes,
                                                 const std::optional<crypto::DidKey>& from);
  void SendTo(const Peer& peer, job::Message message, int ttl,
              std::function<void(absl::StatusOr<job::OpenedMessage>)> done);
  void Refused(std::string_view reason);

  // Membership (mesh_service.cc)
  job::Heartbeat MakeHeartbeat();
  void SendHeartbeats(absl::Time now);
  void OnHeartbeat(const job::Heartbeat& hb, absl::Time now, std::optional<absl::Duration> rtt);
  void PeersDied(const std::vector<std::string>& dids);
  sched::LocalCapacity Capacity() ABSL_LOCKS_EXCLUDED(mu_);

  // Submitter side (market_submitter.cc)
  void OpenRound(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnBidReply(const std::string& id, uint32_t round, const std::string& asked,
                  absl::StatusOr<job::OpenedMessage> reply);
  void AddBid(Auction& a, const job::Bid& bid, const crypto::Envelope& envelope)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What this node has assigned to each bidder and not seen finish (sched::BidView).
  void SetAssignedLoad(Auction& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeClose(Auction& a, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AssignNext(Auction& a, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAck(const std::string& id, uint32_t round, const std::string& executor,
             absl::StatusOr<job::OpenedMessage> reply);
  // `penalty`: what the executor's reputation records.
  void ExecutorFailed(Auction& a, const std::string& why, absl::Time now,
                      ledger::ReputationEvent penalty = ledger::ReputationEvent::kFailure)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WaitForBids(Auction& a, std::string reason, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailDelegated(Auction& a, std::string reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> OnReceipt(const job::Receipt& receipt,
                                        const crypto::Envelope& envelope);
  void CollectOutput(job::Receipt receipt, std::string receipt_envelope);
  // Verification (market_verifier.cc): decides on the auction's newest result. Returns the job
  // to finish (and has erased the auction) when the results are enough; otherwise the auction
  // waits for another replica or has failed.
  std::optional<JobRecord> Judge(Auction& a, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WakeOldestWaiting(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pays the executors of `paid`, records reputation, refunds the rest of the escrow (deferred).
  void Settle(Auction& a, std::vector<AuctionResult> paid, std::vector<std::string> outvoted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnRemoteProgress(const job::Progress& progress);
  // A checkpoint or partial output from the executor: fetched, checked by CID, recorded in the
  // job's history; the latest checkpoint goes with the job's next assignment.
  void OnRemoteArtifact(const job::Artifact& artifact);

  // Leases of split jobs' chunks (market_lease.cc).
  // Places a chunk waiting in `a`: on a free slot of its lease, or by opening the auction that
  // wins the lease, or it waits for the lease being won.
  void PlaceChunk(Auction& a, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives the lease's waiting chunks (lowest index first) to holders with a free slot.
  void AssignFromLease(const std::string& split_job, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The auction of a chunk closed with `a.selection`: its ranked bidders become the lease.
  void WinLease(Auction& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The chunk's executor failed it: the holder is lost for the lease.
  void LoseHolder(const Auction& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TickAuctions(absl::Time now);
  void History(const std::string& id, std::string_view phase, nlohmann::json detail);

  // Executor side (market_executor.cc)
  absl::StatusOr<std::string> OnAnnounce(const crypto::DidKey& from, const job::Announce& a,
                                         const crypto::Envelope& envelope, int ttl);
  void Relay(const crypto::DidKey& from, const job::Announce& a, std::string envelope, int ttl);
  absl::StatusOr<std::string> OnAssignment(const job::Assignment& a,
                                           const crypto::Envelope& envelope);
  void RunAssignment(job::Assignment a, std::string assignment_cid);
  void DieOnceRunning(const std::string& id);  // FaultOptions::die_mid_job
  absl::Status FetchBlob(const std::string& cid, const std::vector<Peer>& sources);
  absl::StatusOr<std::string> OnCancel(const job::CancelJob& c);
  void SendReceipt(const JobRecord& job, std::string assignment_cid, std::string outcome,
                   std::string message);
  void TickReceipts(absl::Time now);

  // Calls into the compute service and the transport are made outside mu_ (they may call
  // back): code under mu_ defers them, and every entry point runs them once it unlocked.
  void Defer(std::function<void()> action) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunDeferred() ABSL_LOCKS_EXCLUDED(mu_);
  // Work that blocks (blob transfers) runs here, off the transport's threads.
  void Post(std::function<void()> task);
  void WorkLoop();
  void TickLoop();

  const MeshOptions options_;
  const NodeEnv env_;
  ComputeService* const compute_;
  net::Transport* const transport_;
  std::unique_ptr<PeerTable> peers_;
  const uint64_t max_module_bytes_;
  const uint64_t max_input_bytes_;
  ReplayGuard replay_;
  std::unique_ptr<Metrics> metrics_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Auction>> auctions_ ABSL_GUARDED_BY(mu_);
  // By split job id.
  absl::flat_hash_map<std::string, std::unique_ptr<Lease>> leases_ ABSL_GUARDED_BY(mu_);
  // Executor side: assignment CID of each job run here for another node, and receipts not yet
  // delivered.
  absl::flat_hash_map<std::string, std::string> assignments_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<PendingReceipt>> receipts_ ABSL_GUARDED_BY(mu_);
  // Assignments accepted and not yet handed to the compute service (fetching their blobs).
  uint32_t starting_ ABSL_GUARDED_BY(mu_) = 0;
  // The answer (sealed bid or decline) to each announcement seen, by "job id/round": a
  // duplicate (relayed) copy is not answered twice. Oldest first in answer_order_.
  absl::flat_hash_map<std::string, std::string> answers_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> answer_order_ ABSL_GUARDED_BY(mu_);
  absl::Time last_heartbeat_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> deferred_ ABSL_GUARDED_BY(mu_);

  absl::Mutex work_mu_;
  std::deque<std::function<void()>> work_ ABSL_GUARDED_BY(work_mu_);
  bool work_stop_ ABSL_GUARDED_BY(work_mu_) = false;
  std::vector<std::thread> workers_;
  std::thread ticker_;
  bool started_ = false;
};

}  // namespace mesh::node
