#include "testing/market_harness.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <utility>

#include "absl/strings/str_join.h"
#include "mesh/cas/cid.h"
#include "mesh/common/strings.h"
#include "mesh/job/job_spec.h"
#include "mesh/verify/verification_policy.h"

namespace mesh::market::testing {
namespace {

// A reputation book in plain maps, updated by the market's RecordStanding actions.
class FakeTrust final : public TrustView {
 public:
  explicit FakeTrust(const HarnessOptions& options) : options_(options) {}

  ExecutorStanding Standing(const std::string& did) const override {
    auto it = book_.find(did);
    return it == book_.end() ? ExecutorStanding{} : it->second;
  }
  int64_t MaxPrice(const job::JobSpec& spec) const override {
    return spec.requirements.max_price > 0
               ? static_cast<int64_t>(std::min<uint64_t>(spec.requirements.max_price, 1ull << 52))
               : options_.default_max_price;
  }
  int64_t NetworkFee(int64_t price) const override {
    return price <= 0 ? 0 : price * options_.fee_bps / 10000 + 1;
  }
  int EscrowReplicas(const job::JobSpec& spec) const override {
    absl::StatusOr<verify::Verification> v = verify::ParseVerification(spec.verification);
    if (!v.ok()) return 1;
    if (v->mode == verify::Mode::kReplicate) return std::max(1, v->replicas);
    if (v->mode == verify::Mode::kAdaptive) {
      const verify::AdaptivePolicy p = Adaptive();
      return std::max({p.unknown_replicas, p.suspect_replicas, p.high_value_replicas, 1});
    }
    return 1;
  }
  verify::AdaptivePolicy Adaptive() const override { return {}; }
  int MaxReplicas() const override { return verify::kMaxReplicas; }

  void Record(const std::string& did, market::Standing event) {
    ExecutorStanding& s = book_[did];
    s.is_new = false;
    int& good = good_[did];
    int& bad = bad_[did];
    if (event == market::Standing::kSuccess) {
      ++good;
      ++s.verified_results;
    } else {
      ++bad;
    }
    s.score = static_cast<double>(good + 1) / (good + bad + 2);
  }

 private:
  const HarnessOptions& options_;
  std::map<std::string, ExecutorStanding> book_;
  std::map<std::string, int> good_, bad_;
};

std::string Hex32(uint64_t n) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%032llx", static_cast<unsigned long long>(n));
  return buf;
}

const char* StandingName(market::Standing s) {
  switch (s) {
    case market::Standing::kSuccess:
      return "success";
    case market::Standing::kFailure:
      return "failure";
    case market::Standing::kTimeout:
      return "timeout";
    case market::Standing::kOutvoted:
      return "outvoted";
  }
  return "?";
}

std::string InputName(const Input& input) {
  static constexpr const char* kNames[] = {
      "received",   "send_result",   "fetch_result",   "timer_fired", "capacity",   "peer",
      "job_handed", "job_cancelled", "local_progress", "artifact",    "local_ended"};
  return kNames[input.index()];
}

}  // namespace

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

// ---- Node ---------------------------------------------------------------------------------

struct MarketHarness::Node {
  struct Active {
    RunHere run;
    bool running = false;
    size_t log = 0;  // index in runs
  };

  Node(int index, NodeConfig config, const HarnessOptions& options)
      : index(index),
        config(std::move(config)),
        key(*crypto::KeyPair::FromSeed(Seed(options.seed, index))),
        did(key.did().ToString()),
        address(mesh::StrCat("node", index, ".test:7000")),
        trust(options) {}

  static std::string Seed(uint64_t seed, int index) {
    std::string s = mesh::StrCat("harness-", seed, "-", index);
    s.resize(crypto::kSeedSize, '.');
    return s;
  }

  int index;
  NodeConfig config;
  crypto::KeyPair key;
  std::string did, address;
  FakeTrust trust;
  std::unique_ptr<SeededRng> rng;
  std::unique_ptr<Market> market;
  bool alive = true;
  bool cut = false;
  uint64_t incarnation = 0;  // bumped by Kill and Restart: events of an earlier one are dropped
  uint64_t cut_generation = 0;
  int starts = 0;
  uint64_t timer_generation = 0;
  std::optional<absl::Time> timer;
  std::set<std::string> blobs;
  std::map<std::string, Active> active;  // runs here, queued or running, by job id
  std::deque<std::string> waiting;       // queued, in order
  uint32_t running = 0;
  // How each job run here ended (the compute service's store): a job is run once per node.
  std::map<std::string, LocalRunEnd> ended;
  std::vector<RunHere> lost;  // runs a crash cut short: they end with the restart
  std::vector<RunLog> runs;
  std::map<std::string, std::vector<Standing>> standings;
  std::vector<Publish> published;
  std::map<std::string, std::string> refused_modules;
};

// ---- MarketHarness -------------------------------------------------------------------------

MarketHarness::MarketHarness(HarnessOptions options)
    : options_(options),
      rng_(options.seed ^ 0x9e3779b97f4a7c15ull),
      now_(absl::FromUnixSeconds(1'780'000'000)) {}

MarketHarness::~MarketHarness() = default;

std::string MarketHarness::CidOf(std::string_view bytes) { return cas::Cid::Of(bytes).ToString(); }

std::string MarketHarness::HonestOutput(const job::JobSpec& spec) {
  return CidOf(mesh::StrCat("output of ", spec.module, " on ", absl::StrJoin(spec.inputs, ","),
                            " with ", absl::StrJoin(spec.args, " ")));
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

uint64_t MarketHarness::TraceHash() const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (const std::string& line : trace_) {
    for (unsigned char c : line) h = (h ^ c) * 1099511628211ull;
    h = (h ^ '\n') * 1099511628211ull;
  }
  return h;
}

void MarketHarness::Record(int node, const std::string& line) {
  trace_.push_back(mesh::StrCat(absl::ToUnixMillis(now_) % 10'000'000, " n", node, " ", line));
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
  spec.placement = "remote";
  spec.verification = options.verification;
  job::SignedJobSpec signed_spec = job::SignJobSpec(std::move(spec), n.key);
  const std::string id = signed_spec.id.ToString();
  n.blobs.insert(signed_spec.spec.module);
  for (const std::string& input : signed_spec.spec.inputs) n.blobs.insert(input);

  JobLog& log = jobs_[id];
  log.id = id;
  log.submitter = node;
  log.spec = signed_spec.spec;
  log.envelope = signed_spec.envelope;
  log.submitted_at = now_;
  log.module_bytes = options.module.size();
  for (const std::string& input : options.inputs) log.input_bytes += input.size();
  const int64_t price = n.trust.MaxPrice(log.spec);
  log.escrowed = (price + n.trust.NetworkFee(price)) * n.trust.EscrowReplicas(log.spec);

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

// ---- Stepping and carrying out actions --------------------------------------------------------

void MarketHarness::StepNode(int node, Input input) {
  Node& n = *nodes_.at(node);
  if (!n.alive) return;
  const uint64_t incarnation = n.incarnation;
  Record(node, mesh::StrCat("< ", InputName(input)));
  std::vector<Action> actions = n.market->Step(now_, std::move(input));
  Execute(node, incarnation, std::move(actions));
}

namespace {

std::string Describe(const Action& action, const MarketHarness& h) {
  auto who = [&](const std::string& did) {
    const int i = h.IndexOf(did);
    return i < 0 ? did : mesh::StrCat("n", i);
  };
  return std::visit(
      [&](const auto& a) -> std::string {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, Send>) {
          return mesh::StrCat("send ", a.message ? job::MessageName(*a.message) : "raw", " to ",
                              who(a.to), " ttl=", a.ttl, a.reply ? " reply" : "",
                              a.token != 0 ? " token" : "", " ",
                              a.message ? job::ToJson(*a.message).dump() : a.raw);
        } else if constexpr (std::is_same_v<T, Fetch>) {
          return mesh::StrCat("fetch ", a.job_id.substr(0, 16), " ", absl::StrJoin(a.cids, ","));
        } else if constexpr (std::is_same_v<T, Persist>) {
          std::string s = mesh::StrCat("persist ", a.job_id.substr(0, 16));
          if (a.requeue) s += mesh::StrCat(" requeue(", *a.requeue, ")");
          for (const Block& b : a.blocks) s += mesh::StrCat(" ", b.phase, b.detail.dump());
          if (a.market)
            s += mesh::StrCat(" market(", who(a.market->peer), ",", a.market->round, ")");
          return s;
        } else if constexpr (std::is_same_v<T, MarkRunning>) {
          return mesh::StrCat("running ", a.job_id.substr(0, 16), " attempts=", a.attempts);
        } else if constexpr (std::is_same_v<T, Finish>) {
          return mesh::StrCat("finish ", a.result.job_id.substr(0, 16), " ",
                              job::JobStateName(a.result.state), " ", who(a.result.peer), " ",
                              a.result.reason);
        } else if constexpr (std::is_same_v<T, RunHere>) {
          return mesh::StrCat("run ", a.assignment.job_id.substr(0, 16), " round ",
                              a.assignment.round);
        } else if constexpr (std::is_same_v<T, CancelRun>) {
          return mesh::StrCat("cancel run ", a.job_id.substr(0, 16), " ", a.reason);
        } else if constexpr (std::is_same_v<T, Pay>) {
          return mesh::StrCat("pay ", who(a.executor), " ", a.price, " for ", a.assignment);
        } else if constexpr (std::is_same_v<T, Refund>) {
          return mesh::StrCat("refund ", a.job_id.substr(0, 16), " ", a.why);
        } else if constexpr (std::is_same_v<T, RecordStanding>) {
          return mesh::StrCat("standing ", who(a.executor), " ", StandingName(a.event));
        } else if constexpr (std::is_same_v<T, Publish>) {
          return mesh::StrCat("publish ", a.topic, " ", a.job_id.substr(0, 16), " ", a.data.dump());
        } else if constexpr (std::is_same_v<T, Count>) {
          return mesh::StrCat("count ", CounterName(a.counter), " ", a.label, " ", a.by);
        } else if constexpr (std::is_same_v<T, Log>) {
          return mesh::StrCat("log ", a.text);
        } else if constexpr (std::is_same_v<T, Observe>) {
          return mesh::StrCat("observe ", absl::FormatDuration(a.delegated));
        } else if constexpr (std::is_same_v<T, SetTimer>) {
          return mesh::StrCat("timer ", absl::ToUnixMillis(a.at) % 10'000'000);
        }
      },
      action);
}

}  // namespace

void MarketHarness::Execute(int node, uint64_t incarnation, std::vector<Action> actions) {
  Node& n = *nodes_[node];
  std::optional<absl::Time> wanted;
  bool load_changed = false;
  for (Action& action : actions) {
    Record(node, Describe(action, *this));
    if (n.incarnation != incarnation || !n.alive) continue;
    std::visit(
        [&](auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, Send>) {
            if (a.reply) {
              anomalies_.push_back(mesh::StrCat("n", node, ": a reply outside a request's step"));
            } else {
              DoSend(node, a);
            }
          } else if constexpr (std::is_same_v<T, Fetch>) {
            DoFetch(node, a);
          } else if constexpr (std::is_same_v<T, Persist>) {
            DoPersist(node, a);
          } else if constexpr (std::is_same_v<T, MarkRunning>) {
            auto it = jobs_.find(a.job_id);
            if (it != jobs_.end()) {
              it->second.running = true;
              it->second.attempts = a.attempts;
            }
          } else if constexpr (std::is_same_v<T, Finish>) {
            auto it = jobs_.find(a.result.job_id);
            if (it == jobs_.end() || it->second.submitter != node) {
              anomalies_.push_back(
                  mesh::StrCat("n", node, ": finish of a job it does not hold ", a.result.job_id));
            } else {
              it->second.finishes.push_back(a.result);
              it->second.running = false;
            }
          } else if constexpr (std::is_same_v<T, RunHere>) {
            DoRunHere(node, a);
            load_changed = true;
          } else if constexpr (std::is_same_v<T, CancelRun>) {
            // Only a run that origin assigned, and only while it runs (the shell's check).
            auto run = n.active.find(a.job_id);
            if (run != n.active.end() && run->second.run.assignment.origin == a.origin) {
              EndRun(node, a.job_id, true, a.reason);
              load_changed = true;
            }
          } else if constexpr (std::is_same_v<T, Pay>) {
            DoPay(node, a);
          } else if constexpr (std::is_same_v<T, Refund>) {
            DoRefund(a);
          } else if constexpr (std::is_same_v<T, RecordStanding>) {
            n.trust.Record(a.executor, a.event);
            n.standings[a.executor].push_back(a.event);
          } else if constexpr (std::is_same_v<T, Publish>) {
            n.published.push_back(a);
          } else if constexpr (std::is_same_v<T, Count>) {
            counts_[{node, a.counter, a.label}] += a.by;
          } else if constexpr (std::is_same_v<T, SetTimer>) {
            wanted = a.at;
          }
        },
        action);
  }
  if (n.incarnation != incarnation || !n.alive) return;
  if (!wanted.has_value()) wanted = n.market->next_timer();
  if (wanted.has_value() && wanted != n.timer) ArmTimer(node, *wanted);
  if (load_changed) {
    At(now_, [this, node, incarnation] {
      if (nodes_[node]->incarnation == incarnation) SendCapacity(node);
    });
  }
}

void MarketHarness::ArmTimer(int node, absl::Time at) {
  Node& n = *nodes_[node];
  n.timer = at;
  const uint64_t generation = ++n.timer_generation;
  const uint64_t incarnation = n.incarnation;
  At(at, [this, node, generation, incarnation] {
    Node& n = *nodes_[node];
    if (n.incarnation != incarnation || n.timer_generation != generation) return;
    n.timer.reset();
    StepNode(node, TimerFired{});
  });
}

void MarketHarness::DoSend(int node, const Send& send) {
  Node& n = *nodes_[node];
  job::Message message;
  std::string envelope;
  if (send.message.has_value()) {
    message = *send.message;
    std::visit(
        [&](auto& m) {
          m.header.sent_at_ms = absl::ToUnixMillis(now_);
          m.header.nonce = Hex32(envelope_seq_ + 1);
        },
        message);
    envelope = Envelope(node, message);
    sent_.emplace_back(node, message);
  } else {
    auto it = envelopes_.find(send.raw);
    if (it == envelopes_.end()) {
      anomalies_.push_back(mesh::StrCat("n", node, ": a relay of bytes it never received"));
      return;
    }
    message = it->second;
    envelope = send.raw;
  }
  const int target = IndexOf(send.to);
  const uint64_t token = send.token;
  const uint64_t incarnation = n.incarnation;
  auto answer = [this, node, incarnation, token](absl::Time at, SendResult result) {
    if (token == 0) return;
    result.token = token;
    At(at, [this, node, incarnation, result = std::move(result)]() mutable {
      if (nodes_[node]->incarnation != incarnation) return;  // the sender restarted
      StepNode(node, std::move(result));
    });
  };
  if (target < 0) {
    anomalies_.push_back(mesh::StrCat("n", node, ": a send to an unknown DID ", send.to));
    answer(now_ + Latency(), SendResult{0, absl::NotFoundError("unknown peer"), {}, {}});
    return;
  }
  if (n.config.staller && !forging_ && std::holds_alternative<job::Receipt>(message)) {
    // --fault stall: the receipt is withheld (the shell's send "succeeds" for the core).
    Record(node, "stall: receipt withheld");
    answer(now_ + 2 * options_.latency, SendResult{});
    return;
  }
  if (!Reachable(node) || Lost()) {
    answer(now_ + 2 * Latency(),
           SendResult{0, absl::UnavailableError("connection failed"), {}, {}});
    return;
  }
  const absl::Time arrives = now_ + Latency();
  const uint64_t target_incarnation = nodes_[target]->incarnation;
  const std::string from = n.did;
  const int ttl = send.ttl;
  At(arrives, [this, node, target, target_incarnation, from, message, envelope, ttl, token,
               answer] {
    Node& t = *nodes_[target];
    if (!Reachable(target) || t.incarnation != target_incarnation) {
      answer(now_ + Latency(), SendResult{0, absl::UnavailableError("peer unreachable"), {}, {}});
      return;
    }
    Received r;
    r.from = from;
    r.message = message;
    r.envelope = envelope;
    r.envelope_cid = CidOf(envelope);
    r.ttl = ttl;
    const uint64_t incarnation = t.incarnation;
    std::vector<Action> actions = t.market->Step(now_, std::move(r));
    std::optional<job::Message> reply;
    std::vector<Action> rest;
    for (Action& a : actions) {
      if (auto* s = std::get_if<Send>(&a); s != nullptr && s->reply) {
        Record(target, mesh::StrCat("reply to n", node, " ",
                                    s->message ? job::ToJson(*s->message).dump() : "(raw)"));
        if (reply.has_value()) {
          anomalies_.push_back(mesh::StrCat("n", target, ": two replies to one request"));
        }
        if (s->message.has_value()) reply = *s->message;
        continue;
      }
      rest.push_back(std::move(a));
    }
    Execute(target, incarnation, std::move(rest));
    if (token == 0) return;
    if (Lost()) {
      answer(now_ + Latency(), SendResult{0, absl::UnavailableError("reply lost"), {}, {}});
      return;
    }
    SendResult result;
    if (reply.has_value()) {
      std::visit(
          [&](auto& m) {
            m.header.sent_at_ms = absl::ToUnixMillis(now_);
            m.header.nonce = Hex32(envelope_seq_ + 1);
          },
          *reply);
      result.reply_envelope_cid = CidOf(Envelope(target, *reply));
      sent_.emplace_back(target, *reply);
      result.reply = std::move(reply);
    }
    answer(now_ + Latency(), std::move(result));
  });
}

void MarketHarness::DoFetch(int node, const Fetch& fetch) {
  const uint64_t incarnation = nodes_[node]->incarnation;
  At(now_ + options_.fetch_time, [this, node, incarnation, fetch] {
    Node& n = *nodes_[node];
    if (n.incarnation != incarnation || !n.alive) return;
    absl::Status status;
    for (const std::string& cid : fetch.cids) {
      if (n.blobs.contains(cid)) continue;
      bool found = false;
      for (const FetchSource& source : fetch.sources) {
        const int s = IndexOf(source.did);
        if (s >= 0 && Reachable(s) && !n.cut && nodes_[s]->blobs.contains(cid)) {
          found = true;
          break;
        }
      }
      if (!found) {
        status = absl::UnavailableError(mesh::StrCat("no source has ", cid));
        break;
      }
    }
    if (status.ok()) {
      for (const std::string& cid : fetch.cids) n.blobs.insert(cid);
    }
    StepNode(node, FetchResult{fetch.token, status});
  });
}

void MarketHarness::DoRunHere(int node, const RunHere& run) {
  Node& n = *nodes_[node];
  const std::string& id = run.assignment.job_id;
  // The compute service has the job already (assigned again: a new round, or after a restart
  // of the core). As the node did before the core: a run goes on and reports in the new round;
  // an ended one reports its end again, in the new round.
  if (auto it = n.active.find(id); it != n.active.end()) {
    Record(node, "run goes on in the new round");
    it->second.run = run;
    return;
  }
  if (auto it = n.ended.find(id); it != n.ended.end()) {
    Record(node, "run ended already: its end is reported again");
    LocalRunEnd end = it->second;
    end.origin = run.assignment.origin;
    end.origin_address = run.assignment.origin_address;
    end.round = run.assignment.round;
    const uint64_t incarnation = n.incarnation;
    At(now_, [this, node, incarnation, end] {
      if (nodes_[node]->incarnation == incarnation) StepNode(node, LocalEnded{end});
    });
    return;
  }
  Node::Active a;
  a.run = run;
  a.log = n.runs.size();
  n.runs.push_back(RunLog{id, run.assignment.round, run.assignment.resume_checkpoint, now_});
  n.active[id] = std::move(a);
  n.waiting.push_back(id);
  if (n.running < n.config.slots) StartRun(node, n.waiting.front());
}

void MarketHarness::StartRun(int node, std::string job_id) {  // a copy: it erases it from waiting
  Node& n = *nodes_[node];
  n.waiting.erase(std::find(n.waiting.begin(), n.waiting.end(), job_id));
  Node::Active& a = n.active.at(job_id);
  a.running = true;
  ++n.running;
  n.runs[a.log].started = now_;
  const uint64_t incarnation = n.incarnation;
  const size_t log = a.log;
  auto still = [this, node, incarnation, job_id, log] {
    Node& n = *nodes_[node];
    auto it = n.active.find(job_id);
    return n.incarnation == incarnation && it != n.active.end() && it->second.log == log;
  };
  if (n.config.checkpoint_every > absl::ZeroDuration()) {
    uint32_t index = 0;
    for (absl::Duration t = n.config.checkpoint_every; t < n.config.run_time;
         t += n.config.checkpoint_every, ++index) {
      At(now_ + t, [this, node, job_id, index, still, log] {
        if (!still()) return;
        Node& n = *nodes_[node];
        const job::Assignment& as = n.active.at(job_id).run.assignment;
        LocalArtifact art;
        art.job_id = job_id;
        art.origin = as.origin;
        art.origin_address = as.origin_address;
        art.round = as.round;
        art.kind = "checkpoint";
        art.index = index;
        art.cid =
            CidOf(mesh::StrCat("checkpoint ", index, " of ", job_id, " by n", node, "/", log));
        art.bytes = 64;
        art.fuel = 1000 * (index + 1);
        n.blobs.insert(art.cid);
        StepNode(node, std::move(art));
      });
    }
  }
  At(now_ + n.config.run_time, [this, node, job_id, still] {
    if (still()) EndRun(node, job_id, false, "");
  });
}

void MarketHarness::EndRun(int node, const std::string& job_id, bool cancelled,
                           const std::string& reason) {
  Node& n = *nodes_[node];
  auto it = n.active.find(job_id);
  if (it == n.active.end()) return;
  Node::Active a = std::move(it->second);
  n.active.erase(it);
  if (a.running) {
    --n.running;
  } else {
    n.waiting.erase(std::find(n.waiting.begin(), n.waiting.end(), job_id));
  }
  RunLog& log = n.runs[a.log];
  log.ended = true;
  log.cancelled = cancelled;

  LocalRunEnd end;
  end.job_id = job_id;
  end.origin = a.run.assignment.origin;
  end.origin_address = a.run.assignment.origin_address;
  end.round = a.run.assignment.round;
  end.started_at = log.started;
  end.finished_at = now_;
  if (cancelled) {
    end.state = job::JobState::kCancelled;
    end.reason = reason;
  } else {
    auto spec = jobs_.find(job_id);
    std::string output = spec == jobs_.end() ? CidOf(job_id) : HonestOutput(spec->second.spec);
    if (n.config.liar) output = CidOf(mesh::StrCat(output, " altered by n", node));
    n.blobs.insert(output);
    end.state = job::JobState::kSucceeded;
    end.outcome = "ok";
    end.output_cid = output;
    end.output_bytes = 32;
    end.fuel_used = options_.fuel_used;
    end.report_json = "{}";
  }
  n.ended[job_id] = end;
  if (!n.waiting.empty() && n.running < n.config.slots) StartRun(node, n.waiting.front());
  StepNode(node, LocalEnded{std::move(end)});
  const uint64_t incarnation = n.incarnation;
  At(now_, [this, node, incarnation] {
    if (nodes_[node]->incarnation == incarnation) SendCapacity(node);
  });
}

void MarketHarness::DoPersist(int node, const Persist& p) {
  auto it = jobs_.find(p.job_id);
  // A split job's lease is not a job the harness handed; an executor's record of the job is
  // its own (the harness keeps the submitter's).
  if (it == jobs_.end() || it->second.submitter != node) return;
  JobLog& log = it->second;
  if (p.requeue.has_value()) {
    log.blocks.push_back(Block{"requeued", {{"reason", *p.requeue}}});
    log.running = false;
  }
  for (const Block& b : p.blocks) log.blocks.push_back(b);
  if (p.market.has_value()) log.market = p.market;
}

void MarketHarness::DoPay(int node, const Pay& pay) {
  auto it = jobs_.find(pay.job_id);
  if (it == jobs_.end()) {
    anomalies_.push_back(mesh::StrCat("pay for an unknown job ", pay.job_id));
    return;
  }
  JobLog& log = it->second;
  if (log.submitter != node) {
    anomalies_.push_back(mesh::StrCat("n", node, ": pays for a job it did not submit"));
    return;
  }
  const Node& submitter = *nodes_[log.submitter];
  if (log.refunds > 0) {
    log.escrow_errors.push_back(mesh::StrCat("pay after the refund: ", pay.assignment));
    return;
  }
  for (const Pay& p : log.payments) {
    if (p.assignment == pay.assignment) {
      log.escrow_errors.push_back(mesh::StrCat("paid twice: ", pay.assignment));
      return;
    }
  }
  const int64_t cost = pay.price + submitter.trust.NetworkFee(pay.price);
  if (log.spent + cost > log.escrowed) {
    log.escrow_errors.push_back(
        mesh::StrCat("over the escrow: ", log.spent, " + ", cost, " > ", log.escrowed));
    return;
  }
  log.spent += cost;
  log.payments.push_back(pay);
}

void MarketHarness::DoRefund(const Refund& refund) {
  auto it = jobs_.find(refund.job_id);
  if (it == jobs_.end()) return;
  JobLog& log = it->second;
  if (++log.refunds > 1) log.escrow_errors.push_back("refunded twice");
}

}  // namespace mesh::market::testing
