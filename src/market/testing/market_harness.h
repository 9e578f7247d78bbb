// MarketHarness: a few market::Market cores driven the way the node shell would drive them,
// with a virtual clock and an in-memory network, for tests. No sockets, no threads, no sleeps:
// every delivery, timer, fetch and local run is an event in one queue ordered by virtual time
// (ties in the order they were queued), so a run is a pure function of its options and seed.
//
// It carries out each action as the shell would: a Send is delivered as a Received after the
// network's latency and the target's reply goes back as a SendResult; a Fetch succeeds when a
// live source holds every blob; RunHere "runs" the job for a while and steps LocalEnded with an
// output CID derived from the job (a liar derives another one; a staller's receipts are lost;
// a job the node ran before is not run again: its stored end is reported in the new round);
// Persist, MarkRunning, Finish, Pay, Refund and RecordStanding are recorded (escrow, payments
// and refunds are posted to a ledger::LedgerBook, the ledger's rules, which the node's ledger
// keeps in front of its store); SetTimer steps
// TimerFired. Membership is played too: PeerChanged for each pair at start, heartbeats every
// `heartbeat` while alive, and PeerChanged{alive=false} `dead_after` after a node dies.
//
// Test-only. Not thread-safe. Nodes are referred to by their index (0, 1, ...).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/ledger/ledger_book.h"
#include "mesh/market/market.h"

namespace mesh::market::testing {

// A node's character, as the fault options of meshd would make it.
struct NodeConfig {
  uint32_t slots = 1;      // max_concurrent of its compute service
  uint32_t max_queue = 4;  // pricing.max_queue
  std::vector<std::string> capabilities;
  absl::Duration run_time = absl::Milliseconds(100);  // how long a job runs here
  bool liar = false;      // reports an output CID of its own making (a real blob it holds)
  bool staller = false;   // runs jobs but its receipts are never delivered
  bool tamperer = false;  // its outputs' bytes do not match its receipts: they cannot be fetched
  // Reports the honest stdout but an output tree of its own (a job with an output_dir).
  bool files_liar = false;
  // A checkpoint artifact every this often while a job runs (none if zero).
  absl::Duration checkpoint_every = absl::ZeroDuration();
  bool progress = false;         // reports 50% progress half-way through each run
  uint64_t base_fee = 1;         // pricing.base_fee: a lower one wins the auction
  uint64_t fuel_per_second = 0;  // the speed score its bids name (0: none), whatever run_time is
  // Changes to the market options of this node (applied after the harness's defaults).
  std::function<void(MarketOptions&)> market;
};

struct HarnessOptions {
  uint64_t seed = 1;
  absl::Duration latency = absl::Milliseconds(2);  // one way
  absl::Duration jitter = absl::ZeroDuration();    // extra one-way latency, uniform in [0, jitter]
  double drop_rate = 0;  // a message (request or reply) is lost: the send fails (Unavailable)
  absl::Duration fetch_time = absl::Milliseconds(3);
  absl::Duration heartbeat = absl::Seconds(1);
  absl::Duration dead_after = absl::Seconds(5);
  int64_t default_max_price = 1000;
  int64_t fee_bps = 100;           // network fee: price × bps / 10000 + 1 (the book's)
  uint64_t fuel_used = 5'000'000;  // what an honest run reports
  bool keep_trace = false;         // keep the trace's lines (its hash is always kept)
};

// What the node shell keeps of a delegated job (its store, history and escrow).
struct JobLog {
  std::string id;
  int submitter = 0;
  job::JobSpec spec;
  std::string envelope;
  absl::Time submitted_at;
  uint64_t module_bytes = 0, input_bytes = 0;
  std::vector<Block> blocks;  // the history, in order ("requeued" for each requeue)
  std::optional<MarketState> market;
  bool running = false;  // MarkRunning seen since the last requeue
  int attempts = 0;
  std::vector<JobResult> finishes;   // one, when all is well
  std::vector<std::string> at_home;  // RunAtHome's reasons: it left the market to run locally
  // The escrow.
  int64_t escrowed = 0;
  int64_t spent = 0;
  std::vector<Pay> payments;
  int refunds = 0;
  // Pay twice, pay after the refund, beyond the escrow, refund twice: what the book refused
  // or found a duplicate (a correct core asks for none of these).
  std::vector<std::string> escrow_errors;

  std::vector<std::string> Phases() const;
  std::vector<const Block*> BlocksOf(std::string_view phase) const;
  int PaymentsTo(const std::string& did) const;
};

// A run of an assigned job on an executor, as the harness saw it.
struct RunLog {
  std::string job_id;
  uint32_t round = 0;
  std::string resume_checkpoint;
  absl::Time started = absl::InfinitePast();
  bool ended = false;
  bool cancelled = false;
};

struct JobOptions {
  std::string module = "module";  // the module's bytes (its CID is the module)
  std::vector<std::string> inputs = {"input"};
  std::string verification = "hash";
  uint64_t max_price = 0;  // 0: the default
  uint64_t fuel = 10'000'000;
  uint64_t wall_time_ms = 1000;
  std::vector<std::string> capabilities;
  std::map<std::string, std::string> labels;
  std::string placement = "remote";  // "auto": it may come home (RunAtHome)
  std::string output_dir;            // the job leaves an output tree (HonestFiles)
  std::vector<std::string> mounts;   // trees (their bytes; mounted at /m0, /m1, ...)
};

class MarketHarness {
 public:
  explicit MarketHarness(HarnessOptions options = {});
  ~MarketHarness();
  MarketHarness(const MarketHarness&) = delete;
  MarketHarness& operator=(const MarketHarness&) = delete;

  // A node joins now: it learns of every live node and they of it.
  int AddNode(NodeConfig config = {});
  // Signs the job with the submitter node's key, escrows it and hands it to that node's market
  // now. Returns the job id.
  std::string Submit(int node, const JobOptions& job = {});

  // A crash: the node stops at once (its runs and messages are lost); the others hear of its
  // death `dead_after` later. Restart brings it back with a new Market (a new incarnation): its
  // lost runs end with an error, and the delegated jobs it held are handed again as Tickets
  // from what it persisted (round, attempts, peer, running, latest checkpoint).
  void Kill(int node);
  void Restart(int node);
  // Messages to and from the node fail (as if unreachable) while cut; nothing else changes.
  void Cut(int node, bool cut);
  // Modules the node's compute service refuses from now on (reported with its capacity).
  void RefuseModules(int node, std::map<std::string, std::string> refused);

  // Steps a node directly (for inputs a test forges: a duplicate receipt, a late one...).
  void Inject(int node, Input input);
  // Delivers `message` from `from` to `node` as a Received, after the network latency.
  void SendMessage(int from, int node, job::Message message);

  // Messages lost from now on (HarnessOptions::drop_rate).
  void set_drop_rate(double rate) { options_.drop_rate = rate; }

  void Advance(absl::Duration d);
  // Runs events until `done()` holds (checked after every event) or `max` of virtual time
  // passed. True if done.
  bool RunUntil(const std::function<bool()>& done, absl::Duration max = absl::Seconds(60));
  // Runs until every handed job has finished (once) or `max` passed.
  bool RunUntilAllFinished(absl::Duration max = absl::Seconds(120));

  absl::Time now() const { return now_; }
  size_t size() const { return nodes_.size(); }
  const std::string& did(int node) const;
  int IndexOf(const std::string& did) const;  // -1 if unknown
  bool alive(int node) const;
  const Market& market(int node) const;
  const NodeConfig& config(int node) const;

  const JobLog& job(const std::string& id) const;
  // The book every escrow, payment and refund is posted to.
  const ledger::LedgerBook& book() const { return book_; }
  const std::map<std::string, JobLog>& jobs() const { return jobs_; }
  const std::vector<RunLog>& runs(int node) const;
  // Runs of `job_id` on every node.
  int RunsOf(const std::string& job_id) const;
  // RecordStanding actions a node took, per executor DID.
  const std::map<std::string, std::vector<Standing>>& standings(int node) const;
  // Publish actions per topic of a node (the job ids, in order).
  std::vector<Publish> Published(int node, std::string_view topic) const;
  // The sum of a node's Count actions for this counter and label.
  double Counted(int node, Counter counter, const std::string& label = "") const;
  // Every Send of a message of this type (job::MessageName: "announce", "assignment"...),
  // across nodes, in order.
  std::vector<job::Message> Sent(std::string_view name) const;
  // Every input and action so far, one line each ("<ms> n<i> <what>"; kept only with
  // HarnessOptions::keep_trace), how many, and their hash.
  const std::vector<std::string>& trace() const { return trace_; }
  size_t trace_lines() const { return trace_lines_; }
  uint64_t TraceHash() const { return trace_hash_; }
  // Problems the harness saw that no correct core causes (an unknown token, a reply where no
  // request was, a RunHere for a job already running here...).
  const std::vector<std::string>& anomalies() const { return anomalies_; }

  // A blob's CID from its bytes (how the harness names modules, inputs and outputs).
  static std::string CidOf(std::string_view bytes);
  // The output an honest executor produces for `spec`.
  static std::string HonestOutput(const job::JobSpec& spec);
  // The output tree an honest executor reports for a job with an output_dir (a dag-json CID).
  static std::string HonestFiles(const job::JobSpec& spec);

 private:
  struct Node;
  struct Event {
    absl::Time at;
    uint64_t seq;
    std::function<void()> run;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };

  void At(absl::Time at, std::function<void()> run);
  bool RunOne(absl::Time limit);
  absl::Duration Latency();
  bool Lost();
  bool Reachable(int node) const;

  void StepNode(int node, Input input);
  void Execute(int node, uint64_t incarnation, std::vector<Action> actions);
  void DoSend(int node, const Send& send);
  void DoFetch(int node, const Fetch& fetch);
  void DoRunHere(int node, const RunHere& run);
  void StartRun(int node, std::string job_id);
  void EndRun(int node, const std::string& job_id, bool cancelled, const std::string& reason);
  void DoPersist(int node, const Persist& p);
  void DoPay(int node, const Pay& pay);
  void DoRefund(int node, const Refund& refund);
  void ArmTimer(int node, absl::Time at);
  void SendCapacity(int node);
  void Heartbeat(int node);
  PeerView ViewOf(int node, bool alive) const;
  void Record(int node, const std::string& line);
  std::string Envelope(int node, const job::Message& message);

  HarnessOptions options_;
  SeededRng rng_;
  absl::Time now_;
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, JobLog> jobs_;
  ledger::LedgerBook book_;
  std::map<std::string, job::Message> envelopes_;  // fake envelope bytes → the message sealed
  uint64_t envelope_seq_ = 0;
  bool forging_ = false;
  std::vector<std::string> trace_;
  size_t trace_lines_ = 0;
  uint64_t trace_hash_ = 1469598103934665603ull;  // FNV-1a
  std::vector<std::string> anomalies_;
  std::vector<std::pair<int, job::Message>> sent_;  // every message sent, by sender
  std::map<std::tuple<int, Counter, std::string>, double> counts_;
};

}  // namespace mesh::market::testing
