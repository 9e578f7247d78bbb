// Market: this node's part in the job market, as a state machine without I/O.
//
// It holds both roles. Submitter: a delegated job is announced to live peers, bids and declines
// are collected until every peer answered, enough bids are in or the window ends, sched::Select
// picks the winner, a signed Assignment goes to it, its Receipt's output is fetched (by the
// shell) and judged (none/hash: accepted; replicate(k)/adaptive: replicas on other executors
// vote), the agreeing executors are paid and the rest of the escrow refunded. A dead or late
// executor, or a bad receipt, excludes that executor and re-announces the job (bounded rounds
// with backoff); no bids leaves the job waiting, with its reason, until capacity appears. The
// chunks of a split job share a lease (the executors ranked in one auction) instead of an
// auction each. Executor: announcements are answered with a Bid or a Decline
// (sched::DecideBid), an Assignment is taken or refused against the slots and queue, its blobs
// fetched and the job run here; progress, checkpoints, partial outputs and the receipt go back.
//
// One entry point: Step(now, input) → actions. The core reads no clock, opens no socket or file,
// starts no thread and logs nothing: time comes in with each input, randomness from the injected
// Rng, reputation and credit terms from the injected TrustView (pure reads), and everything it
// wants done comes out as typed actions that the shell (node/mesh_service.h) or meshsim carries
// out, in order. The actions of one step that persist (history blocks, market state) belong in
// one transaction. Every step ends with the time the core next needs a TimerFired, if any.
//
// Not thread-safe: one caller at a time (the shell holds one lock around Step).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "mesh/common/rng.h"
#include "mesh/market/market_types.h"

namespace mesh::market {

// ---- Inputs ---------------------------------------------------------------------------------

// A message from a peer: a request it sent (Announce, Bid sent on its own, Assignment, Receipt,
// Progress, Artifact, CancelJob). The shell opened the envelope and checked its signature,
// author (`from`, the TLS-authenticated peer; for a relayed Announce, its origin), size,
// staleness and replay. A request's answer is the step's Send with `reply` set, if any.
struct Received {
  std::string from;          // DID of the peer that sent it
  job::Message message;      // never a Heartbeat or BlobRequest (the shell's)
  std::string envelope;      // the signed bytes as received
  std::string envelope_cid;  // their CID (cas::Cid::Of), computed by the shell
  int ttl = 1;               // announcements: relay while > 1
};

// What came of a Send that carried a token: the peer's answer (a Bid, Decline or
// AssignmentAck, opened and checked by the shell), no answer (delivered), or an error.
struct SendResult {
  uint64_t token = 0;
  absl::Status status;  // not OK: the peer could not be reached or refused the message
  std::optional<job::Message> reply;
  std::string reply_envelope_cid;  // the CID of the reply's signed bytes (a bid's CID)
};

// A Fetch that carried a token ended: every CID is in the blob store and checked, or not.
struct FetchResult {
  uint64_t token = 0;
  absl::Status status;
};

// The time the core asked for (or later) has come.
struct TimerFired {};

// This node's capacity and load as the compute service reports it (and what it offers).
struct CapacityChanged {
  sched::LocalCapacity capacity;
  // Modules this node refuses to run (it died with them too often), with the reason.
  std::map<std::string, std::string> refused_modules;
};

// Membership's news of a peer (a heartbeat, or its death).
struct PeerChanged {
  PeerView peer;
};

// A job for the market to place elsewhere (new, or taken up again after a restart).
struct JobHanded {
  Ticket ticket;
};

// The submitter cancels a job the market holds.
struct JobCancelled {
  std::string job_id;
  std::string reason = "cancelled by request";
};

// A run of an assigned job here, as the compute service reports it.
struct LocalProgress {
  std::string job_id;
  std::string origin, origin_address;
  uint32_t round = 0;
  double percent = 0;
  std::string message;
};
struct LocalArtifact {
  std::string job_id;
  std::string origin, origin_address;
  uint32_t round = 0;
  std::string kind;  // "checkpoint" | "partial"
  uint32_t index = 0;
  std::string cid;
  uint64_t bytes = 0;
  uint64_t fuel = 0;
};
struct LocalEnded {
  LocalRunEnd run;
};

using Input =
    std::variant<Received, SendResult, FetchResult, TimerFired, CapacityChanged, PeerChanged,
                 JobHanded, JobCancelled, LocalProgress, LocalArtifact, LocalEnded>;

// ---- Actions --------------------------------------------------------------------------------

// Send `message` (the shell seals it) or, for a relay, `raw` (an envelope as received) to a
// peer. `reply`: the answer to the request of this step's Received. `token` != 0: the shell
// reports the outcome as a SendResult.
struct Send {
  std::string to;  // DID
  std::string address;
  std::optional<job::Message> message;
  std::string raw;
  int ttl = 1;
  bool reply = false;
  uint64_t token = 0;
};

// Fetch these blobs by CID (each checked against its CID; at most `max_bytes` each) from the
// first source that has them; report a FetchResult with the token.
struct FetchSource {
  std::string did;
  std::string address;
};
struct Fetch {
  uint64_t token = 0;
  std::string job_id;
  std::vector<std::string> cids;
  std::vector<FetchSource> sources;
};

// Append a block to a job's hash-linked history (and publish "job.phase" with its CID).
struct Block {
  std::string phase;
  nlohmann::json detail;
};
// A job's market state: its role's peer and round (SetMarket), or put it back in the queue.
struct MarketState {
  job::JobRole role = job::JobRole::kDelegated;
  std::string peer, peer_address;
  uint32_t round = 0;
};
struct Persist {
  std::string job_id;
  std::vector<Block> blocks;  // in order, after any requeue block
  std::optional<MarketState> market;
  std::optional<std::string> requeue;  // why: a running job goes back to queued
};

// Record that a delegated job runs (an executor took it) with this many attempts.
struct MarkRunning {
  std::string job_id;
  absl::Time at;
  int attempts = 0;
};
// The delegated job ended (the submitter's record).
struct Finish {
  JobResult result;
};

// Run the assigned job here (its blobs are in the store).
struct RunHere {
  job::Assignment assignment;
  std::string assignment_cid;
};
// Stop the local run of an assigned job: its submitter (`origin`) cancelled it. The shell stops
// it only if the stored job is an assigned one of that origin and has not ended (after a
// restart the core does not know the runs it had).
struct CancelRun {
  std::string job_id;
  std::string origin;
  std::string reason;
};

// Credits: pay an executor out of the job's escrow (once per assignment), or refund the rest
// and close the escrow. In order, after the step's Persist.
struct Pay {
  std::string job_id;
  std::string executor;
  int64_t price = 0;
  std::string assignment;  // "<job id>/<round>"
};
struct Refund {
  std::string job_id;
  std::string why;
};
struct RecordStanding {
  std::string executor;
  Standing event = Standing::kSuccess;
};

// An event on the node's bus ("job.waiting", "job.progress", "job.checkpoint", ...).
struct Publish {
  std::string topic;
  std::string job_id;
  nlohmann::json data;
};

struct Count {
  Counter counter;
  std::string label;
  double by = 1;
};
// A line for the operator's log (the core has no logger).
struct Log {
  enum class Level { kInfo, kWarning, kError };
  Level level = Level::kInfo;
  std::string text;
};
// A delegated job's submission-to-result time (the mesh_market_delegated_job_seconds histogram).
struct Observe {
  absl::Duration delegated;
};

// Call Step(TimerFired) at `at` (replaces any earlier timer; absent: no timer needed).
struct SetTimer {
  absl::Time at;
};

// Run on this node after all a job it handed to the market (an "auto" job, waiting for bids no
// peer makes: what it needs only this node offers, or every peer is busy) now that this node
// has a free slot and can run it. The auction is gone; a Refund of its escrow comes with it. The
// shell queues the stored job as a local one.
struct RunAtHome {
  std::string job_id;
  std::string reason;
};

using Action =
    std::variant<Send, Fetch, Persist, MarkRunning, Finish, RunHere, RunAtHome, CancelRun, Pay,
                 Refund, RecordStanding, Publish, Count, Log, Observe, SetTimer>;

// ---- The core -------------------------------------------------------------------------------

class Market {
 public:
  // `directory` (may be null: the neighbourhood is all there is) must outlive the market.
  Market(MarketOptions options, const TrustView* trust, Rng* rng,
         const Directory* directory = nullptr);
  ~Market();
  Market(const Market&) = delete;
  Market& operator=(const Market&) = delete;

  std::vector<Action> Step(absl::Time now, Input input);

  // Pure reads, for the shell's synchronous questions.
  // Run the job here or delegate it (sched::Place on this node's capacity and live peers).
  sched::Placement Place(const job::JobSpec& spec, uint64_t module_bytes,
                         uint64_t input_bytes) const;
  bool Holds(const std::string& job_id) const;  // a delegated job this market places
  MarketStats Stats() const;
  size_t alive_peers() const;
  const sched::LocalCapacity& capacity() const;
  std::optional<absl::Time> next_timer() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

std::string_view CounterName(Counter counter);

}  // namespace mesh::market
