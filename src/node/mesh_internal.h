// MeshService's private state, shared by its three source files (mesh_service.cc: messages
// and membership; market_submitter.cc; market_executor.cc). Not a public header.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mesh/common/metrics.h"
#include "mesh/node/mesh_service.h"
#include "mesh/verify/verification_policy.h"

namespace mesh::node {

// A delegated run's result: its receipt, after its output was fetched and checked by CID.
struct MeshService::AuctionResult {
  job::Receipt receipt;
  std::string assignment;  // "<job id>/<round>": what a payment is for (paid once)
  uint64_t price = 0;      // the executor's bid
};

// One delegated job's place in the market, on the submitter's node.
struct MeshService::Auction {
  enum class Stage { kBidding, kWaiting, kAssigning, kExecuting, kCollecting };
  JobRecord job;
  Stage stage = Stage::kWaiting;
  uint32_t round = 0;
  bool opened = false;  // a round has been announced at least once
  job::Announce announce;
  absl::Time deadline = absl::InfiniteFuture();  // bid window, or receipt due
  absl::Time retry_at = absl::InfinitePast();
  size_t asked = 0;
  std::vector<sched::BidView> bids;
  nlohmann::json declines = nlohmann::json::array();    // {executor, code, message}
  nlohmann::json unanswered = nlohmann::json::array();  // {peer, error}
  std::optional<sched::Selection> selection;
  size_t next = 0;  // next candidate in selection->ranked
  std::vector<std::string> excluded;
  int failures = 0;  // executors that failed this job (bounded by RetryPolicy::max_rounds)
  int waits = 0;     // auctions that ended without a bid
  std::string executor, executor_address;
  uint64_t price = 0;  // the current executor's bid
  std::string waiting_reason;

  // A chunk of a split job (node/split_coordinator.h): it runs on the split job's lease
  // (market_lease.cc). Empty for any other job.
  std::string lease;
  uint32_t chunk = 0;
  // The latest checkpoint an executor sent (fetched into the blob store): a new executor
  // resumes from it.
  std::string checkpoint;

  // Verification (market_verifier.cc). One result per executor; replicas run one after another
  // on distinct executors until the quorum decides.
  verify::Verification verification;
  int replicas = 1;  // results wanted so far (replicate(k): k; adaptive: decided on the first)
  std::vector<AuctionResult> results;
};

// The executors a split job's chunks run on, won once in one auction (by the chunk that opened
// it) and then given chunk after chunk, up to each executor's slots, without an auction per
// chunk. A holder that fails a chunk or dies is lost: no more chunks go to it.
struct MeshService::Lease {
  struct Holder {
    sched::ScoredBid bid;  // the bid that won the lease (its price is paid per chunk)
    uint32_t slots = 2;    // chunks in flight: the executor's max_concurrent + 1 (one queued)
    bool lost = false;
  };
  std::vector<Holder> holders;  // best first
  std::string bidder;           // the chunk whose auction is out to win (more of) it
  // The chunk auctions on this node, by chunk index.
  std::map<uint32_t, std::string> chunks;
};

// A receipt the executor still has to deliver.
struct MeshService::PendingReceipt {
  std::string envelope;
  std::string address;
  std::string origin;
  absl::Time next_try = absl::InfinitePast();
  int tries = 0;
};

class MeshService::Metrics {
 public:
  explicit Metrics(MetricsRegistry& r)
      : messages(
            r.AddCounter("mesh_net_messages_total", "Peer messages received, by type", {"type"})),
        refused(r.AddCounter("mesh_net_messages_refused_total",
                             "Peer messages refused: bad signature, wrong signer, stale, "
                             "replayed, malformed or too large",
                             {"reason"})),
        announced(
            r.AddCounter("mesh_market_announcements_total", "Auction rounds this node opened")),
        bids(r.AddCounter("mesh_market_bids_received_total", "Bids received")),
        declines(r.AddCounter("mesh_market_declines_received_total", "Declines received, by code",
                              {"code"})),
        closed(r.AddCounter("mesh_market_auctions_closed_total", "Auctions closed, by result",
                            {"result"})),
        executor_failures(r.AddCounter("mesh_market_executor_failures_total",
                                       "Delegated runs lost: executor dead, late, refused or "
                                       "a bad receipt")),
        receipts(
            r.AddCounter("mesh_market_receipts_total", "Receipts received, by result", {"result"})),
        bids_sent(r.AddCounter("mesh_market_bids_sent_total", "Bids this node made")),
        declines_sent(r.AddCounter("mesh_market_declines_sent_total",
                                   "Announcements this node declined, by code", {"code"})),
        assignments(r.AddCounter("mesh_market_assignments_total",
                                 "Jobs other nodes assigned to this node")),
        blob_bytes(
            r.AddCounter("mesh_net_blob_bytes_fetched_total", "Bytes of blobs fetched from peers")),
        outvoted(r.AddCounter("mesh_verify_outvoted_total",
                              "Replica results outvoted by the majority (not paid, penalised)")),
        delegated_seconds(r.AddHistogram("mesh_market_delegated_job_seconds",
                                         "Submission to verified result of delegated jobs",
                                         ExponentialBuckets(0.001, 4, 10))) {}

  Counter* messages;
  Counter* refused;
  Counter* announced;
  Counter* bids;
  Counter* declines;
  Counter* closed;
  Counter* executor_failures;
  Counter* receipts;
  Counter* bids_sent;
  Counter* declines_sent;
  Counter* assignments;
  Counter* blob_bytes;
  Counter* outvoted;
  Histogram* delegated_seconds;
};

std::string NewNonce(Rng& rng);

// How an executor's AssignmentAck refusal starts when it is merely full: the submitter may ask
// it again in a later round (any other refusal excludes it from the job).
inline constexpr std::string_view kNoCapacityRefusal = "no capacity";

// The decline code of an executor that refuses a module the node died with too often
// (ComputeService::ModuleRefusal).
inline constexpr std::string_view kModuleRefusedCode = "module_refused";

}  // namespace mesh::node
