// Market's private state, shared by its source files (market.cc: inputs, peers, timers;
// market_submitter.cc; market_lease.cc; market_verifier.cc; market_executor.cc). Not a
// public header.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "mesh/market/market.h"

namespace mesh::market {

// A delegated run's result: its receipt, after its output was fetched and checked by CID.
struct AuctionResult {
  job::Receipt receipt;
  std::string assignment;  // "<job id>/<round>": what a payment is for (paid once)
  uint64_t price = 0;      // the executor's bid
};

struct DeclineSeen {
  std::string executor, code, message;
};
struct Unanswered {
  std::string executor, error;
};

// One delegated job's place in the market, on the submitter's node.
struct Auction {
  enum class Stage { kBidding, kWaiting, kAssigning, kExecuting, kCollecting };
  Ticket ticket;
  Stage stage = Stage::kWaiting;
  bool running = false;  // the stored job is "running" (an executor took it)
  uint32_t round = 0;
  bool opened = false;  // a round has been announced at least once
  int attempts = 0;
  job::Announce announce;
  absl::Time deadline = absl::InfiniteFuture();  // bid window, or receipt due
  absl::Time assigned_at = absl::InfinitePast();
  int64_t promised_finish_ms = 0;  // the assigned bid's expected finish (0: it named none)
  int64_t promised_run_ms = 0;     // and its run at its speed (finish - start: no clock skew)
  absl::Time retry_at = absl::InfinitePast();
  size_t asked = 0;
  bool relayed = false;  // the announcement reaches executors beyond our own peers
  std::vector<sched::BidView> bids;
  std::vector<DeclineSeen> declines;
  std::vector<Unanswered> unanswered;
  std::optional<sched::Selection> selection;
  size_t next = 0;  // next candidate in selection->ranked
  std::vector<std::string> excluded;
  int failures = 0;           // executors that failed this job (bounded by RetryPolicy::max_rounds)
  int waits = 0;              // auctions that ended without a bid
  bool asked_beyond = false;  // a round also asked nodes beyond the neighbourhood
  std::string executor, executor_address;
  uint64_t price = 0;  // the current executor's bid
  std::string waiting_reason;
  // The receipt being checked (its output is being fetched).
  std::optional<job::Receipt> collecting;
  std::string collecting_envelope_cid;
  std::string collecting_envelope;

  // The lease it runs on: its split job's id for a chunk, or the key of the jobs like it
  // (LeaseKeyOf). Empty: every round is an auction of its own (MarketOptions::lease_ttl 0, or
  // a job checked by replicas).
  std::string lease;
  bool split_chunk = false;
  uint32_t chunk = 0;          // a chunk's index in its split job
  uint64_t lease_order = 0;    // the order its lease serves it in: chunk index, or arrival
  bool on_lease_slot = false;  // waiting for a free slot of a usable lease holder
  bool from_lease = false;     // its current assignment is on the lease (no auction)

  verify::Verification verification;
  int replicas = 1;  // results wanted so far (replicate(k): k; adaptive: decided on the first)
  std::vector<AuctionResult> results;
};

// The executors a split job's chunks, or a stream of jobs alike, run on: won in one auction
// (by the job that opened it) and then given job after job, up to each executor's slots. A
// stream's lease ends `expires`; a split job's when its last chunk has ended.
struct Lease {
  struct Holder {
    sched::ScoredBid bid;  // how it ranked in the auction that won the lease
    sched::BidView view;   // its bid: each job on the lease is selected again from these
    uint32_t slots = 2;    // jobs in flight: the executor's max_concurrent + 1 (one queued)
    bool lost = false;
  };
  bool stream = false;                        // jobs alike, not a split job's chunks
  std::vector<Holder> holders;                // best first
  std::string bidder;                         // the job whose auction is out to win (more of) it
  std::string won_by;                         // "<job id>/<round>" of the auction that won it last
  absl::Time expires = absl::InfinitePast();  // a stream's holders are asked again after it
  std::map<uint64_t, std::string> jobs;       // the auctions on it, by Auction::lease_order
};

// An assignment this node took, as the executor.
struct Run {
  std::string origin, origin_address;
  uint32_t round = 0;
  std::string assignment_cid;
  bool starting = true;                 // its blobs are being fetched (counts as queued)
  std::optional<job::Receipt> receipt;  // made when it ended: sent again on a new assignment
};

// A receipt not yet delivered.
struct PendingReceipt {
  job::Receipt receipt;
  std::string origin, address;
  absl::Time next_try = absl::InfinitePast();
  int tries = 0;
  uint64_t in_flight = 0;  // token of the send under way
};

// What a Send with a token was for.
struct SendContext {
  enum class Kind { kAnnounce, kAssignment, kReceipt };
  Kind kind = Kind::kAnnounce;
  std::string job_id;
  uint32_t round = 0;
  std::string peer;
};

// What a Fetch was for.
struct FetchContext {
  enum class Kind { kAssignmentBlobs, kOutput, kArtifact };
  Kind kind = Kind::kOutput;
  std::string job_id;
  uint32_t round = 0;
  job::Assignment assignment;
  job::Artifact artifact;
};

class Market::State {
 public:
  State(MarketOptions options, const TrustView* trust, Rng* rng, const Directory* directory)
      : options(std::move(options)), trust(trust), rng(rng), directory(directory) {}

  // The step being taken.
  void Emit(Action action) { out.push_back(std::move(action)); }
  void Bump(Counter c, std::string label = "", double by = 1) {
    Emit(Count{c, std::move(label), by});
  }
  void Warn(std::string text) { Emit(Log{Log::Level::kWarning, std::move(text)}); }
  void History(const std::string& job_id, std::string phase, nlohmann::json detail);
  Persist& PersistFor(const std::string& job_id);
  uint64_t Token() { return next_token++; }

  // market.cc
  void OnPeer(const PeerView& peer);
  void OnReceived(Received& r);
  void OnSendResult(SendResult& r);
  void OnFetchResult(const FetchResult& r);
  void OnTimer();
  std::optional<absl::Time> NextTimer() const;
  const PeerView* FindPeer(const std::string& did) const;
  std::vector<const PeerView*> AlivePeers() const;

  // market_submitter.cc
  void Take(Ticket ticket);
  void OpenRound(Auction& a);
  // What a round of `a` announces (the announcement's fields from its spec and state).
  job::Announce AnnounceOf(const Auction& a) const;
  // The bid window of a round asking `asked`: options.bid_window, or longer when the slowest
  // peer's round trip needs it (at most kMaxBidWindow).
  absl::Duration BidWindow(const std::vector<const PeerView*>& asked) const;
  static constexpr absl::Duration kMaxBidWindow = absl::Seconds(2);
  // Extra relay hops for a job whose rounds found no bid (see OpenRound).
  static constexpr int kMaxWidening = 2;
  // Up to options.beyond_fanout nodes of the directory, drawn at random, that are neither live
  // peers, excluded from `a`, nor this node.
  std::vector<KnownNode> SampleBeyond(const Auction& a) const;
  void OnBidReply(Auction& a, const std::string& asked, SendResult& reply);
  void AddBid(Auction& a, const job::Bid& bid, const std::string& bid_cid);
  void SetAssignedLoad(Auction& a);
  void MaybeClose(Auction& a);
  void AssignNext(Auction& a);
  void OnAck(Auction& a, const std::string& executor, SendResult& reply);
  void ExecutorFailed(Auction& a, const std::string& why, Standing penalty = Standing::kFailure);
  void WaitForBids(Auction& a, std::string reason);
  void FailDelegated(Auction& a, std::string reason);
  // Ends the job with no result (failed or cancelled): Finish, refund the escrow, erase `a`.
  void EndUnpaid(Auction& a, job::JobState state, std::string reason, std::string refund_why);
  void TickAuctions();
  void Cancel(const JobCancelled& c);
  void OnReceipt(const job::Receipt& receipt, const Received& r);
  void OnOutputFetched(Auction& a, const absl::Status& fetched);
  void OnRemoteProgress(const job::Progress& p);
  void OnRemoteArtifact(const job::Artifact& a);
  void OnArtifactFetched(const FetchContext& c, const absl::Status& fetched);
  void PeerDied(const std::string& did);
  void CapacityAppeared();
  // A receipt for `a` came now: compares the run with what the assigned bid promised.
  void JudgeSpeed(const Auction& a);
  // After every step: the "auto" jobs waiting for bids this node can now run itself (a free
  // slot, the requirements met) leave the market for the local queue (RunAtHome), in id order.
  void BringHome();
  void SendCancel(const Auction& a, const std::string& reason);

  // market_verifier.cc: decides on the auction's newest result; erases it when done.
  void Judge(Auction& a);
  void WakeOldestWaiting();
  void Settle(const Auction& a, const std::vector<AuctionResult>& paid,
              const std::vector<std::string>& outvoted);

  // market_lease.cc
  void PlaceOnLease(Auction& a);
  void AssignFromLease(const std::string& key);
  void WinLease(Auction& a);
  void LoseHolder(const std::string& key, const std::string& executor);
  // The holder's peer if it may take `a`, now or once it has a free slot (not lost, not
  // excluded from `a`, alive in our view); null otherwise.
  const PeerView* HolderFor(const Auction& a, const Lease::Holder& h) const;
  bool AnyHolderFor(const Auction& a, const Lease& lease) const;
  // Forgets stream leases that expired with no job on them (at most one per key seen within
  // lease_ttl is kept).
  void SweepLeases();

  // market_executor.cc
  void OnAnnounce(const job::Announce& an, const Received& r);
  void Relay(const job::Announce& an, const Received& r);
  void OnAssignment(const job::Assignment& as, const Received& r);
  void OnAssignmentBlobs(const FetchContext& c, const absl::Status& fetched);
  void OnCancelJob(const job::CancelJob& c);
  void OnLocalProgress(const LocalProgress& p);
  void OnLocalArtifact(const LocalArtifact& a);
  void OnLocalEnded(const LocalRunEnd& run);
  void QueueReceipt(job::Receipt receipt, const std::string& origin, const std::string& address);
  void SendReceipts();
  void OnReceiptSent(const SendContext& c, const SendResult& r);
  uint32_t Starting() const;

  const MarketOptions options;
  const TrustView* const trust;  // null: market jobs are free (no settlement)
  Rng* const rng;
  const Directory* const directory;  // null: no nodes known beyond the live peers

  absl::Time now = absl::InfinitePast();
  std::vector<Action> out;
  std::optional<absl::Time> timer;  // the last SetTimer emitted

  // Executors whose runs for us took much longer than their bids' speed scores promised: the
  // share of the promise they kept (< 1; a broken promise counts at once, each kept one brings
  // it halfway back to 1). Their bids' expected runs are stretched by it (BidView::speed_trust);
  // at 0.9 or more an executor leaves the map.
  absl::flat_hash_map<std::string, double> speed_trust;
  sched::LocalCapacity capacity;
  bool capacity_told = false;  // a CapacityChanged came: `capacity` is the shell's, not a default
  std::map<std::string, std::string> refused_modules;
  absl::flat_hash_map<std::string, PeerView> peers;

  // Submitter.
  absl::flat_hash_map<std::string, std::unique_ptr<Auction>> auctions;
  // By split job id, or by the key of the jobs alike (LeaseKeyOf).
  absl::flat_hash_map<std::string, std::unique_ptr<Lease>> leases;
  std::deque<std::pair<absl::Time, std::string>> lease_expiry;  // stream leases, oldest first
  uint64_t arrivals = 0;  // stream jobs taken: their Auction::lease_order

  // Executor.
  absl::flat_hash_map<std::string, Run> runs;
  absl::flat_hash_map<std::string, PendingReceipt> receipts;
  // The receipts delivered (the last MarketOptions::answers_kept, oldest first in
  // delivered_order): a job assigned here again (a new round: its submitter restarted) is not
  // run twice; its receipt goes again, as the node did when it found the job in its store.
  // In nodes: a table of 330-byte slots, most of them empty, was the larger part of it.
  absl::node_hash_map<std::string, job::Receipt> delivered;
  std::deque<std::string> delivered_order;
  // The answer (bid or decline) to each announcement seen, by "job id/round": a duplicate
  // (relayed) copy is answered the same. Oldest first in answer_order. In nodes: a table of
  // 400-byte slots, most of them empty, was a quarter of meshsim's memory at 10,000 nodes.
  absl::node_hash_map<std::string, job::Message> answers;
  std::deque<std::pair<absl::Time, std::string>> answer_order;  // (answered at, key)

  uint64_t next_token = 1;
  absl::flat_hash_map<uint64_t, SendContext> sends;
  absl::flat_hash_map<uint64_t, FetchContext> fetches;
};

// "did:key:z6Mk…abcdef": short enough for a reason line.
std::string Short(const std::string& did);

// The lease key of a job that is not a split job's chunk: jobs with the same key are priced and
// accepted alike by every executor's bid (module, limits, requirements, the escrow's price cap,
// verification, and the power of two above the input's size).
std::string LeaseKeyOf(const Ticket& ticket, uint64_t max_price);

}  // namespace mesh::market
