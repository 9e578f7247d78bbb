#include "testing/market_harness.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_join.h"
#include "mesh/cas/cid.h"
#include "mesh/common/strings.h"
#include "mesh/job/job_spec.h"
#include "testing/market_harness_node.h"

namespace mesh::market::testing {

// ---- JobLog -------------------------------------------------------------------------------

std::vector<std::string> JobLog::Phases() const {
  std::vector<std::string> phases;
  for (const Block& b : blocks) phases.push_back(b.phase);
  return phases;
}

std::vector<const Block*> JobLog::BlocksOf(std::string_view phase) const {
  std::vector<const Block*> out;
  for (const Block& b : blocks) {
    if (b.phase == phase) out.push_back(&b);
  }
  return out;
}

int JobLog::PaymentsTo(const std::string& did) const {
  return static_cast<int>(std::count_if(payments.begin(), payments.end(),
                                        [&](const Pay& p) { return p.executor == did; }));
}

// ---- MarketHarness -------------------------------------------------------------------------

MarketHarness::MarketHarness(HarnessOptions options)
    : options_(options),
      rng_(options.seed ^ 0x9e3779b97f4a7c15ull),
      now_(absl::FromUnixSeconds(1'780'000'000)),
      book_(BookOptionsOf(options)) {}

MarketHarness::~MarketHarness() = default;

std::string MarketHarness::CidOf(std::string_view bytes) { return cas::Cid::Of(bytes).ToString(); }

std::string MarketHarness::HonestOutput(const job::JobSpec& spec) {
  return CidOf(mesh::StrCat("output of ", spec.module, " on ", absl::StrJoin(spec.inputs, ","),
                            " with ", absl::StrJoin(spec.args, " ")));
}

std::string MarketHarness::HonestFiles(const job::JobSpec& spec) {
  return cas::Cid::Of(mesh::StrCat("tree of ", HonestOutput(spec)), cas::Codec::kDagJson)
      .ToString();
}

void MarketHarness::At(absl::Time at, std::function<void()> run) {
  events_.push(Event{std::max(at, now_), seq_++, std::move(run)});
}

bool MarketHarness::RunOne(absl::Time limit) {
  if (events_.empty() || events_.top().at > limit) return false;
  Event e = events_.top();
  events_.pop();
  now_ = e.at;
  e.run();
  return true;
}

absl::Duration MarketHarness::Latency() {
  absl::Duration d = options_.latency;
  if (options_.jitter > absl::ZeroDuration()) {
    d += absl::Microseconds(static_cast<int64_t>(
        rng_.Uniform(uint64_t(absl::ToInt64Microseconds(options_.jitter)) + 1)));
  }
  return d;
}

bool MarketHarness::Lost() {
  return options_.drop_rate > 0 && rng_.UniformDouble() < options_.drop_rate;
}

bool MarketHarness::Reachable(int node) const {
  return node >= 0 && node < int(nodes_.size()) && nodes_[node]->alive && !nodes_[node]->cut;
}

const std::string& MarketHarness::did(int node) const { return nodes_.at(node)->did; }
bool MarketHarness::alive(int node) const { return nodes_.at(node)->alive; }
const Market& MarketHarness::market(int node) const { return *nodes_.at(node)->market; }
const NodeConfig& MarketHarness::config(int node) const { return nodes_.at(node)->config; }
const std::vector<RunLog>& MarketHarness::runs(int node) const { return nodes_.at(node)->runs; }
const std::map<std::string, std::vector<Standing>>& MarketHarness::standings(int node) const {
  return nodes_.at(node)->standings;
}

int MarketHarness::IndexOf(const std::string& did) const {
  for (const auto& n : nodes_) {
    if (n->did == did) return n->index;
  }
  return -1;
}

const JobLog& MarketHarness::job(const std::string& id) const { return jobs_.at(id); }

int MarketHarness::RunsOf(const std::string& job_id) const {
  int n = 0;
  for (const auto& node : nodes_) {
    for (const RunLog& r : node->runs) n += r.job_id == job_id ? 1 : 0;
  }
  return n;
}

std::vector<Publish> MarketHarness::Published(int node, std::string_view topic) const {
  std::vector<Publish> out;
  for (const Publish& p : nodes_.at(node)->published) {
    if (p.topic == topic) out.push_back(p);
  }
  return out;
}

void MarketHarness::Record(int node, const std::string& what) {
  std::string line = mesh::StrCat(absl::ToUnixMillis(now_) % 10'000'000, " n", node, " ", what);
  for (unsigned char c : line) trace_hash_ = (trace_hash_ ^ c) * 1099511628211ull;
  trace_hash_ = (trace_hash_ ^ '\n') * 1099511628211ull;
  ++trace_lines_;
  if (options_.keep_trace) trace_.push_back(std::move(line));
}

std::string MarketHarness::Envelope(int node, const job::Message& message) {
  std::string bytes =
      mesh::StrCat("envelope/", ++envelope_seq_, "/n", node, "/", job::MessageName(message));
  envelopes_[bytes] = message;
  return bytes;
}

PeerView MarketHarness::ViewOf(int node, bool alive) const {
  const Node& n = *nodes_[node];
  PeerView v;
  v.did = n.did;
  v.address = n.address;
  v.alive = alive;
  v.max_concurrent = n.config.slots;
  v.running = n.running;
  v.queued = static_cast<uint32_t>(n.waiting.size()) + (n.market ? n.market->Stats().starting : 0);
  v.rtt = 2 * options_.latency;
  for (const auto& other : nodes_) {
    if (other->index != node && Reachable(other->index)) v.peers.push_back(other->did);
  }
  return v;
}

int MarketHarness::AddNode(NodeConfig config) {
  const int index = static_cast<int>(nodes_.size());
  nodes_.push_back(std::make_unique<Node>(index, std::move(config), options_));
  Node& n = *nodes_.back();
  n.incarnation = 1;
  // The node's market is built the way the shell builds it; Restart builds it again.
  n.alive = false;
  Restart(index);
  return index;
}

void MarketHarness::Restart(int node) {
  Node& n = *nodes_.at(node);
  n.alive = true;
  n.cut = false;
  ++n.incarnation;
  ++n.starts;
  n.timer.reset();
  MarketOptions o;
  o.self = n.did;
  o.address = n.address;
  o.dead_after = options_.dead_after;
  o.pricing.max_queue = n.config.max_queue;
  o.pricing.base_fee = n.config.base_fee;
  if (n.config.market) n.config.market(o);
  n.rng = std::make_unique<SeededRng>(options_.seed * 7919 + node * 131 + n.incarnation);
  n.market = std::make_unique<Market>(std::move(o), &n.trust, n.rng.get());
  Record(node, mesh::StrCat("start (incarnation ", n.incarnation, ")"));
  SendCapacity(node);
  // Membership: it hears of every live node, and they of it.
  for (const auto& other : nodes_) {
    if (other->index == node || !Reachable(other->index)) continue;
    StepNode(node, PeerChanged{ViewOf(other->index, true)});
    StepNode(other->index, PeerChanged{ViewOf(node, true)});
  }
  const uint64_t incarnation = n.incarnation;
  At(now_ + options_.heartbeat, [this, node, incarnation] {
    if (nodes_[node]->incarnation == incarnation) Heartbeat(node);
  });
  // Runs a crash cut short end now, with an error: this node restarted under them.
  std::vector<RunHere> lost = std::move(n.lost);
  n.lost.clear();
  for (const RunHere& r : lost) {
    LocalRunEnd end;
    end.job_id = r.assignment.job_id;
    end.origin = r.assignment.origin;
    end.origin_address = r.assignment.origin_address;
    end.round = r.assignment.round;
    end.error = true;
    end.message = "this node restarted while the job ran";
    end.finished_at = now_;
    StepNode(node, LocalEnded{end});
  }
  // The delegated jobs it held are handed again, as the shell reads them from its store.
  for (auto& [id, log] : jobs_) {
    if (log.submitter != node || !log.finishes.empty()) continue;
    if (n.starts == 1) continue;  // first start: Submit hands them
    Ticket t;
    t.id = id;
    t.spec = log.spec;
    t.envelope = log.envelope;
    t.submitted_at = log.submitted_at;
    t.attempts = log.attempts;
    if (log.market.has_value()) {
      t.round = log.market->round;
      t.peer = log.market->peer;
    }
    t.was_running = log.running;
    for (const Block* b : log.BlocksOf("checkpoint")) t.checkpoint = b->detail.value("cid", "");
    t.module_bytes = log.module_bytes;
    t.input_bytes = log.input_bytes;
    StepNode(node, JobHanded{t});
  }
}

void MarketHarness::Kill(int node) {
  Node& n = *nodes_.at(node);
  if (!n.alive) return;
  Record(node, "killed");
  n.alive = false;
  ++n.incarnation;
  for (auto& [id, a] : n.active) {
    n.lost.push_back(a.run);
    LocalRunEnd end;
    end.job_id = id;
    end.error = true;
    end.message = "this node restarted while the job ran";
    n.ended[id] = end;
  }
  n.active.clear();
  n.waiting.clear();
  n.running = 0;
  const uint64_t incarnation = n.incarnation;
  At(now_ + options_.dead_after, [this, node, incarnation] {
    if (nodes_[node]->incarnation != incarnation) return;  // back already
    for (const auto& other : nodes_) {
      if (other->index != node && other->alive) {
        StepNode(other->index, PeerChanged{ViewOf(node, false)});
      }
    }
  });
}

void MarketHarness::Cut(int node, bool cut) {
  Node& n = *nodes_.at(node);
  if (n.cut == cut) return;
  Record(node, cut ? "cut" : "joined again");
  n.cut = cut;
  const uint64_t generation = ++n.cut_generation;
  if (!cut) return;  // the next heartbeats bring it back
  At(now_ + options_.dead_after, [this, node, generation] {
    Node& n = *nodes_[node];
    if (n.cut_generation != generation || !n.cut || !n.alive) return;
    for (const auto& other : nodes_) {
      if (other->index == node || !other->alive) continue;
      StepNode(other->index, PeerChanged{ViewOf(node, false)});
      StepNode(node, PeerChanged{ViewOf(other->index, false)});
    }
  });
}

void MarketHarness::RefuseModules(int node, std::map<std::string, std::string> refused) {
  nodes_.at(node)->refused_modules = std::move(refused);
  SendCapacity(node);
}

double MarketHarness::Counted(int node, Counter counter, const std::string& label) const {
  auto it = counts_.find({node, counter, label});
  return it == counts_.end() ? 0 : it->second;
}

std::vector<job::Message> MarketHarness::Sent(std::string_view name) const {
  std::vector<job::Message> out;
  for (const auto& [node, m] : sent_) {
    if (job::MessageName(m) == name) out.push_back(m);
  }
  return out;
}

void MarketHarness::Heartbeat(int node) {
  Node& n = *nodes_[node];
  if (!n.alive) return;
  if (!n.cut) {
    for (const auto& other : nodes_) {
      if (other->index == node || !Reachable(other->index)) continue;
      StepNode(other->index, PeerChanged{ViewOf(node, true)});
    }
  }
  const uint64_t incarnation = n.incarnation;
  At(now_ + options_.heartbeat, [this, node, incarnation] {
    if (nodes_[node]->incarnation == incarnation) Heartbeat(node);
  });
}

void MarketHarness::SendCapacity(int node) {
  Node& n = *nodes_[node];
  CapacityChanged c;
  c.capacity.did = n.did;
  c.capacity.address = n.address;
  c.capacity.cpu_cores = 4;
  c.capacity.memory_bytes = 1ull << 30;
  c.capacity.storage_free = 1ull << 40;
  c.capacity.max_concurrent = n.config.slots;
  c.capacity.running = n.running;
  c.capacity.queued = static_cast<uint32_t>(n.waiting.size());
  c.capacity.capabilities = n.config.capabilities;
  c.capacity.fuel_per_second = n.config.fuel_per_second;
  c.refused_modules = n.refused_modules;
  StepNode(node, std::move(c));
}

std::string MarketHarness::Submit(int node, const JobOptions& options) {
  Node& n = *nodes_.at(node);
  job::JobSpec spec;
  spec.module = CidOf(options.module);
  for (const std::string& input : options.inputs) spec.inputs.push_back(CidOf(input));
  spec.limits.fuel = options.fuel;
  spec.limits.memory_bytes = 64 << 20;
  spec.limits.wall_time_ms = options.wall_time_ms;
  spec.labels = options.labels;
  spec.created_at_ms = absl::ToUnixMillis(now_);
  spec.nonce = Hex32(jobs_.size() + 1 + (uint64_t(node) << 32));
  spec.requirements.capabilities = options.capabilities;
  spec.requirements.max_price = options.max_price;
  spec.placement = options.placement;
  spec.verification = options.verification;
  spec.output_dir = options.output_dir;
  for (size_t i = 0; i < options.mounts.size(); ++i) {
    spec.mounts.push_back({.cid = cas::Cid::Of(options.mounts[i], cas::Codec::kDagJson).ToString(),
                           .path = mesh::StrCat("/m", i)});
  }
  job::SignedJobSpec signed_spec = job::SignJobSpec(std::move(spec), n.key);
  const std::string id = signed_spec.id.ToString();
  n.blobs.insert(signed_spec.spec.module);
  for (const std::string& input : signed_spec.spec.inputs) n.blobs.insert(input);
  for (const job::JobMount& mount : signed_spec.spec.mounts) n.blobs.insert(mount.cid);

  JobLog& log = jobs_[id];
  log.id = id;
  log.submitter = node;
  log.spec = signed_spec.spec;
  log.envelope = signed_spec.envelope;
  log.submitted_at = now_;
  log.module_bytes = options.module.size();
  for (const std::string& input : options.inputs) log.input_bytes += input.size();
  // The node escrows (its max price and fee) × replicas of the submitter's credits first.
  const int64_t price = n.trust.MaxPrice(log.spec);
  ledger::EscrowRequest escrow;
  escrow.job_id = id;
  escrow.submitter = n.did;
  escrow.max_price = price + n.trust.NetworkFee(price);
  escrow.replicas = n.trust.EscrowReplicas(log.spec);
  if (absl::StatusOr<ledger::Balance> b = book_.BalanceOf(n.did, now_);
      b.ok() && b->available < escrow.max_price * escrow.replicas) {
    (void)book_.Post(book_.DecideGrant(n.did, 1'000'000'000, "test credits", now_));
  }
  if (absl::StatusOr<ledger::Posted> held = book_.Post(book_.DecideEscrow(escrow, now_));
      !held.ok()) {
    anomalies_.push_back(mesh::StrCat("cannot escrow ", id, ": ", held.status().ToString()));
  }
  log.escrowed = escrow.max_price * escrow.replicas;

  Ticket t;
  t.id = id;
  t.spec = log.spec;
  t.envelope = log.envelope;
  t.submitted_at = now_;
  t.module_bytes = log.module_bytes;
  t.input_bytes = log.input_bytes;
  Record(node, mesh::StrCat("submit ", id.substr(0, 16)));
  StepNode(node, JobHanded{std::move(t)});
  return id;
}

void MarketHarness::Inject(int node, Input input) { StepNode(node, std::move(input)); }

void MarketHarness::SendMessage(int from, int node, job::Message message) {
  Send s;
  s.to = did(node);
  s.address = nodes_.at(node)->address;
  s.message = std::move(message);
  forging_ = true;  // a test's message goes out whatever the sender's faults
  DoSend(from, s);
  forging_ = false;
}

void MarketHarness::Advance(absl::Duration d) {
  const absl::Time end = now_ + d;
  while (RunOne(end)) {
  }
  now_ = end;
}

bool MarketHarness::RunUntil(const std::function<bool()>& done, absl::Duration max) {
  const absl::Time end = now_ + max;
  absl::Time last = now_;
  int same_time = 0;
  while (!done()) {
    if (!RunOne(end)) {
      now_ = end;
      return done();
    }
    same_time = now_ == last ? same_time + 1 : 0;
    last = now_;
    if (same_time > 200'000) {
      anomalies_.push_back(mesh::StrCat("no progress: 200000 events at ", absl::FormatTime(now_)));
      return false;
    }
  }
  return true;
}

bool MarketHarness::RunUntilAllFinished(absl::Duration max) {
  return RunUntil(
      [this] {
        for (const auto& [id, log] : jobs_) {
          if (log.finishes.empty()) return false;
        }
        return true;
      },
      max);
}

}  // namespace mesh::market::testing
