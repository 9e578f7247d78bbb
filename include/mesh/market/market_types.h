// The values the market core (market/market.h) works with: what it is told about a job, a peer,
// this node and its trust terms, and what it reports back. Plain value types; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/job/job_spec.h"
#include "mesh/job/job_state.h"
#include "mesh/job/market.h"
#include "mesh/sched/bidding.h"
#include "mesh/sched/selection.h"
#include "mesh/verify/verification_policy.h"
#include "nlohmann/json.hpp"

namespace mesh::market {

// The labels that make a job a chunk of a split job (node/split_coordinator.h sets them).
inline constexpr std::string_view kSplitJobLabel = "mesh.split.job";
inline constexpr std::string_view kSplitChunkLabel = "mesh.split.chunk";

// How an executor's AssignmentAck refusal starts when it is merely full: the submitter may ask
// it again in a later round (any other refusal excludes it from the job).
inline constexpr std::string_view kNoCapacityRefusal = "no capacity";
// The decline code of an executor that refuses a module the node died with too often.
inline constexpr std::string_view kModuleRefusedCode = "module_refused";

// A job handed to the market to be placed on another node (the submitter's side). The shell
// reads the facts the core cannot (blob sizes, the latest checkpoint in the history).
struct Ticket {
  std::string id;
  job::JobSpec spec;
  std::string envelope;  // the submitter-signed spec, sent with each assignment
  absl::Time submitted_at = absl::UnixEpoch();
  // Where a restart found it: the round it had reached, the attempts made, its last executor,
  // and whether an executor was running it (then that run is written off: a new round).
  uint32_t round = 0;
  int attempts = 0;
  std::string peer;
  bool was_running = false;
  std::string checkpoint;  // latest checkpoint an executor sent: a new executor resumes from it
  uint64_t module_bytes = 0;
  uint64_t input_bytes = 0;
};

// Another node as membership last saw it (node/peer_table.h keeps the table; the core keeps the
// facts it decides on).
struct PeerView {
  std::string did;
  std::string address;
  bool alive = false;  // in this node's view: asked for bids, relayed through
  // Not alive only because it left this node's active view (membership's Disconnect): it still
  // runs what it was given, so its jobs are not taken back.
  bool disconnected = false;
  bool draining = false;
  uint32_t max_concurrent = 1;
  uint32_t running = 0;
  uint32_t queued = 0;
  std::optional<absl::Duration> rtt;
  std::vector<std::string> peers;  // DIDs its last heartbeat listed (it reaches them itself)
  bool has_free_slot() const { return !draining && uint64_t{running} + queued < max_concurrent; }
};

// What the core reads of reputation and credit terms. Implementations answer from memory
// (node: the settlement's books; tests and meshsim: plain maps); every call is a pure read.
struct ExecutorStanding {
  bool is_new = true;
  double score = 0;
  uint64_t verified_results = 0;
};
class TrustView {
 public:
  virtual ~TrustView() = default;
  virtual ExecutorStanding Standing(const std::string& did) const = 0;
  // Credits one replica of the job may be paid at most (its max_price, or the default).
  virtual int64_t MaxPrice(const job::JobSpec& spec) const = 0;
  virtual int64_t NetworkFee(int64_t price) const = 0;
  // Replicas the escrow was sized for.
  virtual int EscrowReplicas(const job::JobSpec& spec) const = 0;
  virtual verify::AdaptivePolicy Adaptive() const = 0;
  virtual int MaxReplicas() const = 0;
  // Opens an assignment's signed job spec, which claims to be job `id`: job::OpenJobSpec (the
  // signature, the spec, its submitter). meshsim, which signed every spec itself, answers an
  // unsigned run's from its own copy of the bytes, as it trusts that run's messages.
  virtual absl::StatusOr<job::SignedJobSpec> OpenSpec(const std::string& envelope,
                                                      const std::string& id) const {
    (void)id;
    return job::OpenJobSpec(envelope);
  }
};

// The credits one replica of `spec` may be paid at most: its max_price, capped at 2^52 (far
// from overflow once multiplied by replicas and fees added), or `default_max_price` when it
// names none. What every TrustView's MaxPrice answers (the node's settlement, meshsim, tests).
int64_t MaxPriceOf(const job::JobSpec& spec, int64_t default_max_price);

// A node known beyond this node's live peers, and where to reach it.
struct KnownNode {
  std::string did;
  std::string address;
};
// What the core reads of the nodes this one knows but does not ask: membership's passive view,
// which shuffles keep a random mix of the whole network. A job that the neighbourhood cannot
// serve (a capability or federation only a few nodes far away have) is announced to a sample
// of them. Implementations answer from memory (node: the peer table; meshsim: the simulated
// membership); a pure read.
class Directory {
 public:
  virtual ~Directory() = default;
  virtual std::vector<KnownNode> Beyond() const = 0;
};

// What the market does with reputation (ledger::ReputationEvent, without the dependency).
enum class Standing { kSuccess, kFailure, kTimeout, kOutvoted };

// A delegated job's end, as the submitter records it.
struct JobResult {
  std::string job_id;
  job::JobState state = job::JobState::kFailed;
  std::string reason;
  std::string outcome;  // the executor's wasm::OutcomeName ("ok", "trap", ...)
  int32_t exit_code = 0;
  uint64_t fuel_used = 0;
  std::string output_cid;
  std::string files_cid;  // the output tree (a manifest CID); empty when the spec names none
  std::string report_json;
  std::string peer;  // the executor whose result it is
  uint32_t round = 0;
  int attempts = 0;
  absl::Time started_at = absl::UnixEpoch();
  absl::Time finished_at = absl::UnixEpoch();
};

// A local run of a job another node assigned here, as the compute service reports its end.
struct LocalRunEnd {
  std::string job_id;
  std::string origin, origin_address;  // the submitter's node (from the stored job)
  uint32_t round = 0;
  // Not run at all (its blobs could not be fetched, the compute service refused it, or this
  // node restarted under it): the receipt says "error" with this message.
  bool error = false;
  std::string message;
  job::JobState state = job::JobState::kFailed;
  std::string outcome;
  int32_t exit_code = 0;
  std::string output_cid;
  uint64_t output_bytes = 0;
  std::string files_cid;  // the output tree, when the spec names an output_dir
  uint64_t fuel_used = 0;
  std::string report_json;
  std::string reason;
  absl::Time started_at = absl::UnixEpoch();
  absl::Time finished_at = absl::UnixEpoch();
};

// The options of the market, from node::MeshOptions.
struct MarketOptions {
  std::string self;     // this node's DID
  std::string address;  // where peers reach it
  absl::Duration bid_window = absl::Milliseconds(200);
  size_t enough_bids = 8;
  absl::Duration no_bid_retry = absl::Seconds(1);
  absl::Duration receipt_grace = absl::Seconds(10);
  absl::Duration dead_after = absl::Seconds(5);  // for the reason a dead executor's job gives
  int announce_ttl = 2;
  // Once a job's widest round (announce_ttl + Market's widening) found no bid, each further
  // round also announces it to this many nodes drawn at random from the Directory (a fresh
  // draw every round), which relay it one hop further than announce_ttl. 0: never.
  size_t beyond_fanout = 8;
  // Jobs like one just auctioned (the same module, limits, requirements, verification and input
  // size class) go to the executors that auction ranked, at their bids, without an auction of
  // their own, for this long: a lease, as a split job's chunks share one. Each is selected from
  // the holders' bids as its own auction would (reputation, round trip and load as they are
  // now); an executor that fails, is outvoted or would be filtered loses it; the first such job
  // after it expires auctions again. Only jobs verified by hash (or not at all): replicated and
  // adaptive jobs are always auctioned. Zero: every job is auctioned.
  absl::Duration lease_ttl = absl::Seconds(5);
  sched::SelectionPolicy selection;
  sched::PricingPolicy pricing;
  sched::PlacementPolicy placement;
  sched::RetryPolicy retry;
  // Receipts not delivered are retried with backoff (200 ms doubling up to 10 s), this often.
  int receipt_tries = 30;
  // Announcements answered, remembered so a relayed copy is not answered twice: at most this
  // many, for at most this long (copies come within seconds; a retry is a new round).
  size_t answers_kept = 50000;
  absl::Duration answers_ttl = absl::Seconds(60);
  // Whether the history blocks of a closed auction and a won lease carry their detail (the
  // selection, declines and holders, as JSON). meshsim keeps no history and turns it off:
  // building it was a tenth of its run. The blocks themselves, and every decision, are the same.
  bool history_details = true;
};

// Counters the shell exports (/metrics).
enum class Counter {
  kAnnounced,         // auction rounds opened
  kBids,              // bids received
  kDeclines,          // declines received (label: code)
  kClosed,            // auctions closed (label: winner | no_winner)
  kExecutorFailures,  // delegated runs lost
  kReceipts,          // receipts (label: accepted | late | executor_error | invalid | bad_output)
  kBidsSent,
  kDeclinesSent,   // label: code
  kAssignments,    // assignments taken
  kOutvoted,       // replica results outvoted
  kLeaseAssigned,  // jobs assigned on a lease, without an auction of their own (label: kind)
  kAskedBeyond,    // announcements sent beyond the neighbourhood (Directory), one per node
  kRunAtHome,      // delegated jobs no peer bid on, run on this node after all
};

struct MarketStats {
  size_t auctions_open = 0;      // delegated jobs being placed or waiting for bids
  size_t delegated_running = 0;  // delegated jobs on an executor
  size_t assigned = 0;           // jobs run here for other nodes
  size_t starting = 0;           // assignments taken whose blobs are being fetched
};

}  // namespace mesh::market
