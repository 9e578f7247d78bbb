// Simulator::Impl, the simulated world, shared by its source files: simulator.cc (the event
// loop, the workload, churn, the summary) and sim_shell.cc (what a node's shell does with its
// cores' actions: messages, fetches, runs, payments). Private to src/sim.
#pragma once

#include <array>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "event_queue.h"
#include "mesh/cas/cid.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/ledger/ledger_book.h"
#include "mesh/ledger/reputation_scores.h"
#include "mesh/market/market.h"
#include "mesh/membership/membership.h"
#include "mesh/sim/simulator.h"

namespace mesh::sim {

// A message or spec nonce (32 hex digits, as OpenMessage requires) from a counter: unique in a
// run, and the same in every run of the seed.
inline std::string Nonce(uint64_t n) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%032llx", static_cast<unsigned long long>(n));
  return buf;
}

struct SimJob;
// By node: a million jobs' records in place would be a table of 2 million slots, half of them
// empty, and twice that while it grows.
using SimJobs = absl::node_hash_map<std::string, SimJob>;

// The trust terms a node's market reads: its own reputation book, the ledger book's fee; and, in
// an unsigned run (`jobs` set), the job specs the world signed, opened from its own copy.
class SimTrust final : public market::TrustView {
 public:
  SimTrust(const ledger::ReputationScores* scores, const absl::Time* now, ledger::BookOptions book,
           const SimJobs* jobs)
      : scores_(scores), now_(now), book_(book), jobs_(jobs) {}
  market::ExecutorStanding Standing(const std::string& did) const override;
  int64_t MaxPrice(const job::JobSpec& spec) const override;
  int64_t NetworkFee(int64_t price) const override { return ledger::NetworkFee(book_, price); }
  int EscrowReplicas(const job::JobSpec& spec) const override;
  verify::AdaptivePolicy Adaptive() const override { return {}; }
  int MaxReplicas() const override { return verify::kMaxReplicas; }
  // The spec as signed, when `envelope` is byte for byte the one the world made for job `id`
  // (verifying its Ed25519 signature again was a twelfth of a run); else job::OpenJobSpec.
  absl::StatusOr<job::SignedJobSpec> OpenSpec(const std::string& envelope,
                                              const std::string& id) const override;
  static constexpr int64_t kDefaultMaxPrice = 100'000;

 private:
  const ledger::ReputationScores* scores_;
  const absl::Time* now_;
  ledger::BookOptions book_;
  const SimJobs* jobs_;  // null in a signed run: every spec is verified
};

// What a simulated node's market reads of the nodes it knows beyond its active view: its
// membership's passive view (meshd's reads the same through its peer table).
class SimDirectory final : public market::Directory {
 public:
  explicit SimDirectory(const std::unique_ptr<membership::Membership>* members)
      : members_(members) {}
  std::vector<market::KnownNode> Beyond() const override {
    std::vector<market::KnownNode> out;
    if (*members_ == nullptr) return out;
    for (const membership::Contact& c : (*members_)->passive()) {
      out.push_back({c.id.str(), c.address});
    }
    return out;
  }

 private:
  const std::unique_ptr<membership::Membership>* members_;
};

struct SimNode {
  // What its peers last told it (pings carry the sender's load and active view).
  struct PeerNews {
    uint32_t slots = 1, running = 0, queued = 0;
    bool draining = false;
    absl::InlinedVector<uint32_t, 8> peers;  // its active view, as node indexes
    friend bool operator==(const PeerNews&, const PeerNews&) = default;
  };
  // What most events read first, together in the first cache lines (the event loop fetches
  // them ahead: at 100,000 nodes an event's time was mostly misses on its node).
  uint32_t index = 0;
  Role role = Role::kHonest;
  uint32_t region = 0;
  bool alive = false;
  bool leaving = false;
  uint64_t incarnation = 0;  // bumped by a crash and a restart: older events are dropped
  uint64_t market_timer = 0, members_timer = 0;        // generations of the one timer each core has
  absl::Time members_timer_at = absl::InfinitePast();  // the membership tick scheduled
  std::unique_ptr<SimTrust> trust;
  std::unique_ptr<market::Market> market;
  std::unique_ptr<membership::Membership> members;
  std::unique_ptr<SimDirectory> directory;  // reads `members`
  std::vector<uint32_t> active;             // its membership's active view, as node indexes
  // What each of `active` last told, in the same order (a few entries beside each other: a
  // hash map's lookup per ping was a cache miss or two). A ping from outside the active view
  // is not kept: a new neighbour's news starts from what it tells when it joins.
  std::vector<PeerNews> active_news;
  std::string did, address;
  membership::PeerId id;  // its DID as membership passes it: every contact of it shares one string
  std::unique_ptr<crypto::KeyPair> key;
  uint32_t slots = 1;
  double speed = 1;  // 10^9 fuel per second
  std::vector<std::string> capabilities, federations;
  std::unique_ptr<SeededRng> rng;
  ledger::ReputationScores reputation;  // read by `trust`
  // What its membership messages arrive as: Received from it (its DID and address), the message
  // set per delivery. Kept, so that a heartbeat copies no strings.
  membership::Input inbound;
  // Inputs made while the market core's actions are carried out (a run's end, a capacity
  // change) are stepped after them, in order, as the node's serial executor does.
  std::deque<market::Input> inbox;
  bool stepping = false;
  absl::flat_hash_set<uint64_t> blobs;  // hashes of the CIDs it holds
  // Its compute service: runs queued or running, by job id.
  struct Run {
    market::RunHere run;
    bool running = false;
    absl::Time started;
  };
  std::map<std::string, Run> runs;
  std::deque<std::string> waiting;
  uint32_t running = 0;
  // The runs that ended here, as the node's job store keeps them: a job assigned here again
  // (a new round) does not run again, its end is reported again (EndOf rebuilds it). A job
  // runs once per node. A record, not the report: 40 bytes, where the report was 700.
  struct EndedRun {
    absl::Time started_at, finished_at;
    uint64_t fuel_used = 0;
    bool cut_short = false;  // by a crash of this node
  };
  absl::flat_hash_map<std::string, EndedRun> ended;
  std::vector<market::LocalRunEnd> lost;  // the ends of the runs a crash cut short
  std::vector<std::string> delegated;     // jobs it submitted, in flight
  double busy_slot_seconds = 0;
  uint64_t assignments = 0;  // RunHere actions for jobs new to it
};

// A job as the world knows it (what the submitter's store would hold, and the truth).
struct SimJob {
  uint32_t submitter = 0;
  std::unique_ptr<job::JobSpec> spec;  // until the job ends (720 bytes)
  std::string envelope;
  std::optional<cas::Cid> cid;  // its id (a split job, never handed over, has none)
  absl::Time submitted_at;
  uint64_t fuel = 0;  // what an honest run uses (every honest executor measures the same)
  uint64_t input_bytes = 0, module_bytes = 0;
  std::string honest_output;
  std::string requirement;  // "" or what it asked ("capability:gpu", "federation:lab", ...)
  // A split job (never handed to the market): its chunks, those still running, and what their
  // results said. A chunk: its split job's id.
  std::vector<std::string> chunks;
  uint32_t chunks_left = 0;
  std::vector<std::string> executors;  // distinct, of the chunks that succeeded
  bool wrong = false;                  // a chunk's accepted output was not the honest one
  bool misplaced = false;              // a chunk ran where its requirements are not offered
  std::string split;
  // The submitter's persisted market state, for a restart.
  uint32_t round = 0;
  std::string peer;
  bool running = false;
  int attempts = 0;
  // Ends the submitter recorded.
  int ends = 0;
  bool succeeded = false;
  absl::Time ended_at;
};

struct Simulator::Impl {
  explicit Impl(Scenario s);

  // ---- The event loop (simulator.cc) ----
  // The queue holds small keys (time, order, slot, node); the events wait in `parked`, so
  // that ordering them moves 24 bytes. The frequent events are typed (a message's delivery, a
  // core's timer): a std::function of their size would cost a malloc and a free each.
  // A membership message reaches `to` (a heartbeat carries `news`, the sender's load).
  struct MembersArrive {
    uint32_t from = 0, to = 0;
    uint64_t incarnation = 0;  // of `to` when sent
    bool ping = false;
    SimNode::PeerNews news;
    membership::Message message;
  };
  // A market message reaches `to`; its answer goes back to `from` for `token`.
  struct MarketArrive {
    uint32_t from = 0, to = 0;
    uint64_t incarnation = 0;  // of `to` when sent
    uint64_t token = 0;
    int ttl = 0;
    std::string envelope;
    job::Message message;
  };
  struct MarketAnswer {  // a send's result reaches its sender
    market::SendResult result;
  };
  struct MembersTimer {
    uint64_t generation = 0;
  };
  struct MarketTimer {
    uint64_t generation = 0;
  };
  using What = std::variant<std::function<void()>, MembersArrive, MarketArrive, MarketAnswer,
                            MembersTimer, MarketTimer>;
  struct Pending {
    What what;
    uint32_t node = UINT32_MAX;  // with `incarnation`: dropped if that node crashed meanwhile
    uint64_t incarnation = 0;
  };
  void Schedule(absl::Time at, Pending pending);
  void At(absl::Time at, std::function<void()> run);
  // Runs `what` (a typed event or a closure) at `at` if the node is still the same incarnation.
  void AtNode(uint32_t node, absl::Time at, What what);
  void Dispatch(uint32_t node, What& what);
  // Fetches into the cache what the next events will read: their nodes and parked events.
  void Prefetch() const;
  Summary Run();

  // ---- Nodes, churn and the workload (simulator.cc) ----
  uint32_t AddNode(Role role);
  void StartNode(uint32_t node, bool restart);
  void Crash(uint32_t node);
  void Restart(uint32_t node);
  void BeginLeave(uint32_t node);
  void MaybeDepart(uint32_t node, absl::Time deadline);
  // A node gone for good: the jobs it submitted and still held fail (Finish).
  void Abandon(uint32_t node);
  void ScheduleArrival();
  void ScheduleChurn(double per_hour, std::function<void()> what);
  void Submit();
  // The ticket the node hands its market for a job (new, or again after a restart).
  static market::Ticket TicketOf(const std::string& id, const SimJob& job);
  // What `node` reports of run `job_id` that ended as `e`, to the submitter and in the round of
  // `run` (the assignment it ran under, or a later one).
  market::LocalRunEnd EndOf(uint32_t node, const std::string& job_id, const market::RunHere& run,
                            const SimNode::EndedRun& e) const;
  std::vector<membership::Contact> Contacts(uint32_t except, size_t n);
  void Sample();
  Summary Summarise();

  // ---- The shell (sim_shell.cc) ----
  void StepMarket(uint32_t node, market::Input input);
  void DrainInbox(uint32_t node);
  void StepMembers(uint32_t node, const membership::Input& input);
  void Deliver(MembersArrive& m);
  void Deliver(MarketArrive& m);
  void CarryOut(uint32_t node, std::vector<market::Action> actions);
  void SendMarket(uint32_t node, market::Send& send);  // takes the message out of `send`
  // A send that cannot be delivered fails for its sender after the network's timeout.
  void SendTimedOut(uint32_t node, uint64_t token, std::string why);
  void Fetch(uint32_t node, const market::Fetch& fetch);
  void RunHere(uint32_t node, const market::RunHere& run);
  void StartRun(uint32_t node, std::string job_id);
  void EndRun(uint32_t node, const std::string& job_id);
  void TellCapacity(uint32_t node);
  sched::LocalCapacity CapacityOf(const SimNode& n) const;
  // A free-rider offers nothing; a leaving node takes nothing new.
  static bool Draining(const SimNode& n) { return n.leaving || n.role == Role::kFreeRider; }
  // What a node's heartbeat tells its neighbours: its load and its active view.
  SimNode::PeerNews NewsOf(const SimNode& n) const;
  market::PeerView ViewOf(const SimNode& n, const membership::PeerId& peer) const;
  market::PeerView ViewOf(const SimNode& n, uint32_t peer) const;  // by node index
  void Finish(uint32_t node, const market::JobResult& result);
  // A job's end as the summary counts it (a split job's, once its chunks decided it).
  void CountEnd(SimJob& job, bool succeeded, bool wrong, bool misplaced, const std::string& reason);
  void ChunkEnded(uint32_t node, SimJob& chunk, const market::JobResult& result);
  // A new job of the workload in `jobs`, as `node` signed it; its id.
  std::string AddJob(uint32_t node, job::SignedJobSpec signed_spec, uint64_t fuel,
                     uint64_t input_bytes);
  // Hands a new job to `node`'s market: its escrow, its blobs, and the ticket.
  void HandOver(uint32_t node, const std::string& id, SimJob& job);
  void Pay(const market::Pay& pay);
  void Refund(const market::Refund& refund);
  // The network.
  bool Reachable(uint32_t from, uint32_t to) const;
  absl::Duration Latency(uint32_t from, uint32_t to);
  bool Lost();
  std::optional<uint32_t> IndexOf(const std::string& did) const;
  std::optional<uint32_t> IndexOf(const std::string& did, std::string_view address) const;
  std::optional<uint32_t> IndexOf(const membership::PeerId& id) const;
  std::optional<uint32_t> IndexOf(const membership::PeerId& id, std::string_view address) const;
  // The index a simulated address names ("s<index>.<region>"), if it is one.
  std::optional<uint32_t> IndexIn(std::string_view address) const;
  // Whether `executor` offers every capability and one of the federations `r` asks.
  bool Offers(const std::string& executor, const job::Requirements& r) const;
  // Sealing: real Ed25519 envelopes when the scenario signs, numbered stand-ins when not.
  std::string Seal(uint32_t node, job::Message& message);
  absl::StatusOr<job::Message> Open(const std::string& envelope, job::Message sent);
  static uint64_t BlobKey(std::string_view cid);
  // The last 8 bytes of a DID (its key's random tail) and its length, as one word.
  static uint64_t DidTail(std::string_view did);

  Scenario s;
  SeededRng rng;
  absl::Time now;
  const absl::Time start;
  uint64_t seq = 0;
  uint64_t events = 0;
  EventQueue queue;
  Parking<Pending> parked;  // the events in `queue`, by slot
  std::vector<std::unique_ptr<SimNode>> nodes;
  // What a sender reads of its receiver (Reachable, Latency, the incarnation a message is for,
  // whether its active view has room), side by side by index: read from each receiver's node it
  // was a cache miss per message at 100,000 nodes. A copy of the node's fields: Mirror(node)
  // after every change of them.
  struct Reach {
    uint64_t incarnation = 0;
    uint32_t region = 0;
    uint16_t active = 0;  // the size of its active view
    bool alive = false;
  };
  std::vector<Reach> reach;
  void Mirror(uint32_t node);
  absl::flat_hash_map<std::string, uint32_t> by_did;
  // Each node's DidTail, by index: IndexOf checks an address against it without reading the DID.
  std::vector<uint64_t> did_tails;
  std::vector<uint64_t> id_hashes;  // each node's PeerId hash, by index, for the same check
  std::vector<uint32_t> live;       // indexes of live nodes (for picking submitters and contacts)
  SimJobs jobs;
  std::vector<std::string> job_order;  // submission order, for a deterministic summary
  absl::flat_hash_map<uint64_t, uint64_t> blob_bytes;  // by CID hash
  // Relays carry an announcement's envelope as received; unsigned stand-ins map back to it.
  absl::flat_hash_map<std::string, job::Message> relay_messages;
  std::deque<std::pair<absl::Time, std::string>> relay_expiry;
  ledger::LedgerBook book;
  ledger::ReputationScores global_reputation;  // every RecordStanding, for the series
  uint64_t submitted = 0;
  uint64_t envelope_seq = 0;
  // Counters for the summary.
  Summary out;
  // Latencies of ended jobs by requirement (Summary::by_requirement's percentiles).
  std::map<std::string, std::vector<double>> latencies_by_requirement;
  // Messages sent, by type (Summary::messages_by_type at the end: a map per message was slow).
  std::array<uint64_t, std::variant_size_v<job::Message>> market_by_type{};
  std::array<uint64_t, std::variant_size_v<membership::Message>> membership_by_type{};
  uint64_t market_message_bytes = 0;  // sealed envelopes' bytes (with signing on)
  std::vector<double> latencies_ms;
  std::vector<double> split_latencies_ms;
  uint64_t split_executors = 0;  // summed over completed split jobs
  uint64_t blob_bytes_fetched = 0;
  double slot_seconds = 0;  // of live nodes, integrated by Sample
  absl::Time last_sample;
};

}  // namespace mesh::sim
