// Simulator: the event loop, the nodes' lives (start, crash, restart, leave, join), the
// workload's arrivals and the sampling of the series. The shell is in sim_shell.cc.
#include "mesh/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "mesh/cas/cid.h"
#include "mesh/common/check.h"
#include "mesh/common/strings.h"
#include "sim_world.h"

namespace mesh::sim {
namespace {

constexpr int64_t kStartCredits = 1'000'000'000'000;

// The `q` quantile (0..1) of sorted values, nearest rank; 0 when there are none.
double QuantileOf(const std::vector<double>& sorted, double q) {
  return sorted.empty() ? 0 : sorted[size_t(q * double(sorted.size() - 1) + 0.5)];
}

// Of sorted values.
Percentiles PercentilesOf(const std::vector<double>& sorted) {
  if (sorted.empty()) return {};
  double sum = 0;
  for (double v : sorted) sum += v;
  return {QuantileOf(sorted, 0.5), QuantileOf(sorted, 0.9), QuantileOf(sorted, 0.99), sorted.back(),
          sum / double(sorted.size())};
}

// A default value of a variant's `i`th alternative (to name a message type by its index).
template <typename V, size_t... I>
V VariantAtImpl(size_t i, std::index_sequence<I...>) {
  V v;
  ((i == I ? (void)v.template emplace<I>() : void()), ...);
  return v;
}
template <typename V>
V VariantAt(size_t i) {
  return VariantAtImpl<V>(i, std::make_index_sequence<std::variant_size_v<V>>{});
}

double Exponential(Rng& rng, double rate) { return -std::log(1 - rng.UniformDouble()) / rate; }

double Draw(Rng& rng, const LogNormal& d) {
  // Box-Muller: one normal deviate from two uniforms.
  const double u1 = std::max(1e-300, rng.UniformDouble()), u2 = rng.UniformDouble();
  const double z = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  return std::clamp(d.median * std::exp(d.sigma * z), d.min, d.max);
}

}  // namespace

Simulator::Impl::Impl(Scenario scenario)
    : s(std::move(scenario)),
      rng(s.seed),
      now(absl::FromUnixSeconds(1'800'000'000)),
      start(now),
      book([] {
        ledger::BookOptions o;
        o.network_fee_bps = 100;
        o.network_fee_flat = 1;
        return o;
      }()),
      last_sample(now) {}

void Simulator::Impl::Prefetch() const {
  if (queue.empty()) return;
  // The event after next: its parked event and its node's first lines.
  if (const QueuedEvent* after = queue.second(); after != nullptr) {
    __builtin_prefetch(&parked[after->slot]);
    if (after->node != UINT32_MAX) {
      const char* n = reinterpret_cast<const char*>(nodes[after->node].get());
      for (int line = 0; line < 3; ++line) __builtin_prefetch(n + 64 * line);
    }
  }
  // The next event: what its node points to (its node was fetched while the last one ran).
  const QueuedEvent& next = queue.top();
  if (next.node == UINT32_MAX) return;
  const SimNode& n = *nodes[next.node];
  __builtin_prefetch(n.members.get());
  __builtin_prefetch(n.market.get());
  __builtin_prefetch(n.active_news.data());
  if (const auto* m = std::get_if<MembersArrive>(&parked[next.slot].what)) {
    __builtin_prefetch(&nodes[m->from]->inbound);  // its Received is the sender's
  }
}

void Simulator::Impl::Schedule(absl::Time at, Pending pending) {
  uint32_t node = pending.node;
  if (const auto* m = std::get_if<MembersArrive>(&pending.what)) node = m->to;
  if (const auto* m = std::get_if<MarketArrive>(&pending.what)) node = m->to;
  const uint32_t slot = parked.Park(std::move(pending));
  // Rounded up: an event never runs before its time (a core woken early would ask again).
  int64_t us = absl::ToInt64Microseconds(at - start);
  if (start + absl::Microseconds(us) < at) ++us;
  queue.push({us, seq++, slot, node});
}

void Simulator::Impl::At(absl::Time at, std::function<void()> run) {
  Schedule(at, {std::move(run)});
}

void Simulator::Impl::AtNode(uint32_t node, absl::Time at, What what) {
  Schedule(at, {std::move(what), node, nodes[node]->incarnation});
}

void Simulator::Impl::Dispatch(uint32_t node, What& what) {
  std::visit(
      [&](auto& w) {
        using T = std::decay_t<decltype(w)>;
        if constexpr (std::is_same_v<T, std::function<void()>>) {
          w();
        } else if constexpr (std::is_same_v<T, MembersArrive> || std::is_same_v<T, MarketArrive>) {
          Deliver(w);
        } else if constexpr (std::is_same_v<T, MarketAnswer>) {
          StepMarket(node, std::move(w.result));
        } else if constexpr (std::is_same_v<T, MembersTimer>) {
          SimNode& n = *nodes[node];
          if (n.members_timer != w.generation) return;
          n.members_timer_at = absl::InfinitePast();
          StepMembers(node, membership::TimerFired{});
        } else if constexpr (std::is_same_v<T, MarketTimer>) {
          if (nodes[node]->market_timer == w.generation) StepMarket(node, market::TimerFired{});
        }
      },
      what);
}

// ---- Nodes ----------------------------------------------------------------------------------

uint32_t Simulator::Impl::AddNode(Role role) {
  const uint32_t index = uint32_t(nodes.size());
  auto n = std::make_unique<SimNode>();
  n->index = index;
  n->role = role;
  n->region = uint32_t(rng.Uniform(s.network.regions.size()));
  std::string seed = mesh::StrCat("meshsim-", s.seed, "-", index);
  seed.resize(crypto::kSeedSize, '.');
  n->key = std::make_unique<crypto::KeyPair>(*crypto::KeyPair::FromSeed(seed));
  n->did = n->key->did().ToString();
  // Short enough for a string's inline buffer (15 bytes) at 100,000 nodes: a Contact or PeerView
  // copied allocates for its DID only.
  n->address = mesh::StrCat("s", index, ".", s.network.regions[n->region]);
  n->slots = s.node.min_slots + uint32_t(rng.Uniform(s.node.max_slots - s.node.min_slots + 1));
  n->speed = s.node.min_speed + (s.node.max_speed - s.node.min_speed) * rng.UniformDouble();
  n->rng = std::make_unique<SeededRng>(s.seed * 1'000'003 + index);
  n->trust = std::make_unique<SimTrust>(&n->reputation, &now, book.options(),
                                        s.sign_messages ? nullptr : &jobs);
  for (const auto& [name, share] : s.node.capabilities) {
    if (rng.UniformDouble() < share) n->capabilities.push_back(name);
  }
  for (const auto& [name, share] : s.node.federations) {
    if (rng.UniformDouble() < share) n->federations.push_back(name);
  }
  n->id = membership::PeerId(n->did);
  n->inbound = membership::Received{{n->id, n->address}, membership::Ping{}};
  by_did[n->did] = index;
  did_tails.push_back(DidTail(n->did));
  id_hashes.push_back(n->id.hash());
  (void)book.Post(book.DecideGrant(n->did, kStartCredits, "meshsim credits", now));
  ++out.nodes_by_role[std::string(RoleName(role))];
  nodes.push_back(std::move(n));
  reach.emplace_back();
  Mirror(index);
  return index;
}

void Simulator::Impl::Mirror(uint32_t node) {
  const SimNode& n = *nodes[node];
  reach[node] = {n.incarnation, n.region, uint16_t(n.active.size()), n.alive};
}

void Simulator::Impl::StartNode(uint32_t node, bool restart) {
  SimNode& n = *nodes[node];
  n.alive = true;
  ++n.incarnation;  // the events of the last incarnation are dropped, its timers too
  n.members_timer_at = absl::InfinitePast();
  market::MarketOptions o;
  o.self = n.did;
  o.address = n.address;
  o.bid_window = absl::Milliseconds(s.bid_window_ms);
  o.enough_bids = s.enough_bids;
  o.announce_ttl = s.announce_ttl;
  o.lease_ttl = absl::Seconds(s.lease_s);
  o.beyond_fanout = size_t(s.beyond_fanout);
  o.selection.finish_weight = s.finish_weight;
  o.receipt_grace = absl::Seconds(s.receipt_grace_s);
  o.dead_after = s.membership.dead_after;
  o.pricing.base_fee = s.node.base_fee;
  o.pricing.rate_per_gfuel = s.node.rate_per_gfuel;
  o.pricing.max_queue = s.node.max_queue;
  // Answers are kept to answer a relayed copy of an announcement alike, and copies arrive within
  // a second here: 10 s is plenty, and at 100,000 nodes the node's 60 s would be gigabytes.
  o.answers_ttl = absl::Seconds(10);
  o.history_details = false;           // no history is kept here (the summary counts on its own)
  if (n.role == Role::kUnderbidder) {  // the lowest price there is, to win every auction
    o.pricing.base_fee = 0;
    o.pricing.rate_per_gfuel = 0;
    o.pricing.load_markup = 0;
  }
  if (n.directory == nullptr) n.directory = std::make_unique<SimDirectory>(&n.members);
  n.market = std::make_unique<market::Market>(o, n.trust.get(), n.rng.get(), n.directory.get());
  n.members = std::make_unique<membership::Membership>(
      s.membership, membership::Contact{n.id, n.address}, n.rng.get());
  n.active.clear();
  n.active_news.clear();
  Mirror(node);
  live.push_back(node);
  TellCapacity(node);
  StepMembers(node, membership::Start{Contacts(node, 3)});
  if (!restart) return;
  // Back from a crash: the runs it lost end with an error, and the delegated jobs it had
  // persisted are handed to the new market core as tickets.
  for (market::LocalRunEnd& end : std::exchange(n.lost, {})) {
    AtNode(node, now, [this, node, end] { StepMarket(node, market::LocalEnded{end}); });
  }
  for (const std::string& id : n.delegated) {
    StepMarket(node, market::JobHanded{TicketOf(id, jobs.at(id))});
  }
}

std::vector<membership::Contact> Simulator::Impl::Contacts(uint32_t except, size_t n) {
  std::vector<membership::Contact> out;
  for (size_t tries = 0; tries < 4 * n && out.size() < n && !live.empty(); ++tries) {
    const uint32_t pick = live[rng.Uniform(live.size())];
    if (pick == except) continue;
    out.push_back({nodes[pick]->id, nodes[pick]->address});
  }
  return out;
}

void Simulator::Impl::Crash(uint32_t node) {
  SimNode& n = *nodes[node];
  if (!n.alive) return;
  ++out.crashes;
  n.alive = false;
  ++n.incarnation;
  Mirror(node);
  std::erase(live, node);
  for (auto& [id, run] : n.runs) {
    if (run.running) n.busy_slot_seconds += absl::ToDoubleSeconds(now - run.started);
    const SimNode::EndedRun cut{.cut_short = true};
    n.ended[id] = cut;
    n.lost.push_back(EndOf(node, id, run.run, cut));
  }
  n.runs.clear();
  n.waiting.clear();
  n.running = 0;
  At(now + absl::Seconds(s.churn.downtime_s), [this, node] { Restart(node); });
}

void Simulator::Impl::Restart(uint32_t node) {
  if (nodes[node]->leaving) Abandon(node);  // it crashed while leaving: it is not coming back
  if (nodes[node]->alive || nodes[node]->leaving) return;
  StartNode(node, /*restart=*/true);
}

void Simulator::Impl::Abandon(uint32_t node) {
  // The jobs it submitted that have not ended never will (no node holds their tickets): they
  // fail here, or the run would wait for them until max_sim_s.
  for (const std::string& id : std::vector<std::string>(nodes[node]->delegated)) {
    market::JobResult result;
    result.job_id = id;
    result.state = job::JobState::kFailed;
    result.reason = "its submitter left the mesh before it ended";
    Finish(node, result);
  }
}

void Simulator::Impl::BeginLeave(uint32_t node) {
  SimNode& n = *nodes[node];
  if (!n.alive || n.leaving) return;
  ++out.leaves;
  n.leaving = true;
  TellCapacity(node);  // draining: no new work
  MaybeDepart(node, now + absl::Minutes(10));
}

void Simulator::Impl::MaybeDepart(uint32_t node, absl::Time deadline) {
  SimNode& n = *nodes[node];
  // A graceful leave waits for the runs here and the jobs it submitted (a bounded while).
  if ((!n.runs.empty() || !n.delegated.empty()) && now < deadline) {
    AtNode(node, now + absl::Seconds(5), [this, node, deadline] { MaybeDepart(node, deadline); });
    return;
  }
  Abandon(node);
  StepMembers(node, membership::Leave{});
  for (const auto& [id, run] : n.runs) {  // what was still running at the deadline is lost
    if (run.running) n.busy_slot_seconds += absl::ToDoubleSeconds(now - run.started);
  }
  n.alive = false;
  ++n.incarnation;
  Mirror(node);
  std::erase(live, node);
}

void Simulator::Impl::ScheduleChurn(double per_hour, std::function<void()> what) {
  if (per_hour <= 0) return;
  const double rate = per_hour * s.nodes / 3600.0;  // events per second, network-wide
  At(now + absl::Seconds(Exponential(rng, rate)), [this, per_hour, what] {
    if (submitted >= s.jobs && out.jobs_completed + out.jobs_failed >= submitted) return;
    what();
    ScheduleChurn(per_hour, what);
  });
}

// ---- The workload ---------------------------------------------------------------------------

void Simulator::Impl::ScheduleArrival() {
  if (submitted >= s.jobs) return;
  const Workload& w = s.workload;
  const double peak = w.rate_per_s * (w.arrival == "burst"     ? w.burst_factor
                                      : w.arrival == "diurnal" ? 1.8
                                                               : 1.0);
  absl::Time at = now;
  // Thinning: candidates at the peak rate, each kept with rate(t) / peak.
  for (;;) {
    at += absl::Seconds(Exponential(rng, peak));
    const double t = absl::ToDoubleSeconds(at - start);
    double rate = w.rate_per_s;
    if (w.arrival == "burst" && std::fmod(t, w.burst_every_s) < w.burst_length_s) {
      rate *= w.burst_factor;
    } else if (w.arrival == "diurnal") {
      rate *= 1 + 0.8 * std::sin(2 * M_PI * t / w.diurnal_period_s);
    }
    if (rng.UniformDouble() * peak < rate) break;
  }
  At(at, [this] {
    Submit();
    ScheduleArrival();
  });
}

void Simulator::Impl::Submit() {
  // Any live node that is not leaving submits (free-riders too: submitting is what they do).
  uint32_t node = 0;
  for (int tries = 0;; ++tries) {
    if (live.empty() || tries > 64) return;
    node = live[rng.Uniform(live.size())];
    if (!nodes[node]->leaving) break;
  }
  SimNode& n = *nodes[node];
  const Workload& w = s.workload;
  const uint64_t number = ++submitted;
  const uint64_t fuel = uint64_t(Draw(rng, w.fuel));
  const uint64_t input_bytes = uint64_t(Draw(rng, w.input_bytes));
  job::JobSpec spec;
  spec.module = cas::Cid::Of(mesh::StrCat("module ", rng.Uniform(w.modules))).ToString();
  spec.inputs.push_back(cas::Cid::Of(mesh::StrCat("input ", number)).ToString());
  spec.limits.fuel = fuel * 2;
  spec.limits.memory_bytes = 64 << 20;
  spec.limits.wall_time_ms = uint64_t(w.wall_time_s * 1000);
  spec.created_at_ms = absl::ToUnixMillis(now);
  spec.nonce = Nonce(number);
  spec.placement = "remote";
  double total = 0, pick = 0;
  for (const auto& [mode, share] : w.verification) total += share;
  pick = rng.UniformDouble() * total;
  for (const auto& [mode, share] : w.verification) {
    spec.verification = mode;
    if ((pick -= share) < 0) break;
  }
  std::string requirement;
  for (const auto& [name, share] : w.require) {
    if (rng.UniformDouble() >= share) continue;
    spec.requirements.capabilities.push_back(name);
    requirement += mesh::StrCat(requirement.empty() ? "" : "+", "capability:", name);
  }
  if (!w.federation.empty()) {
    double pick_federation = rng.UniformDouble();
    for (const auto& [name, share] : w.federation) {
      if ((pick_federation -= share) >= 0) continue;
      spec.requirements.federations = {name};
      requirement += mesh::StrCat(requirement.empty() ? "" : "+", "federation:", name);
      break;
    }
  }
  // Drawn only when the scenario has split jobs: a scenario without them keeps its draws.
  const bool split = w.split_share > 0 && rng.UniformDouble() < w.split_share;
  if (!split) {
    const std::string id =
        AddJob(node, job::SignJobSpec(std::move(spec), *n.key), fuel, input_bytes);
    SimJob& job = jobs.at(id);
    job.requirement = requirement;
    if (!requirement.empty()) ++out.by_requirement[requirement].submitted;
    HandOver(node, id, job);
    return;
  }
  // A split job, as the node's coordinator makes one: its chunks share the fuel and the input
  // out evenly, carry the split labels (the market gives them one lease) and are handed over
  // together; the split job itself never reaches the market.
  const std::string id = job::SignJobSpec(spec, *n.key).id.ToString();
  SimJob& parent = jobs[id];
  parent.submitter = node;
  parent.submitted_at = now;
  parent.requirement = requirement;
  parent.chunks_left = w.split_chunks;
  if (!requirement.empty()) ++out.by_requirement[requirement].submitted;
  ++out.split.submitted;
  const uint64_t chunk_fuel = std::max<uint64_t>(1, fuel / w.split_chunks);
  for (uint32_t i = 0; i < w.split_chunks; ++i) {
    job::JobSpec c = spec;
    c.inputs = {cas::Cid::Of(mesh::StrCat("input ", number, "/", i)).ToString()};
    c.limits.fuel = chunk_fuel * 2;
    c.labels = {{std::string(market::kSplitJobLabel), id},
                {std::string(market::kSplitChunkLabel), std::to_string(i)}};
    const std::string chunk_id = AddJob(node, job::SignJobSpec(std::move(c), *n.key), chunk_fuel,
                                        std::max<uint64_t>(1, input_bytes / w.split_chunks));
    jobs.at(id).chunks.push_back(chunk_id);
    SimJob& chunk = jobs.at(chunk_id);
    chunk.split = id;
    ++out.split.chunks;
    HandOver(node, chunk_id, chunk);
  }
}

std::string Simulator::Impl::AddJob(uint32_t node, job::SignedJobSpec signed_spec, uint64_t fuel,
                                    uint64_t input_bytes) {
  const std::string id = signed_spec.id.ToString();
  SimJob& job = jobs[id];
  job.submitter = node;
  job.spec = std::make_unique<job::JobSpec>(std::move(signed_spec.spec));
  job.envelope = std::move(signed_spec.envelope);
  job.cid = signed_spec.id;
  job.submitted_at = now;
  job.fuel = fuel;
  job.input_bytes = input_bytes;
  job.module_bytes = s.workload.module_bytes;
  return id;
}

void Simulator::Impl::HandOver(uint32_t node, const std::string& id, SimJob& job) {
  SimNode& n = *nodes[node];
  job.honest_output = cas::Cid::Of(mesh::StrCat("output of ", id)).ToString();
  job_order.push_back(id);
  n.blobs.insert(BlobKey(job.spec->module));
  n.blobs.insert(BlobKey(job.spec->inputs[0]));
  blob_bytes[BlobKey(job.spec->module)] = job.module_bytes;
  blob_bytes[BlobKey(job.spec->inputs[0])] = job.input_bytes;
  // The submitter's node escrows max price (and fee) × replicas, as the node's settlement does.
  const int64_t price = n.trust->MaxPrice(*job.spec);
  ledger::EscrowRequest escrow;
  escrow.job_id = id;
  escrow.submitter = n.did;
  escrow.max_price = price + n.trust->NetworkFee(price);
  escrow.replicas = n.trust->EscrowReplicas(*job.spec);
  (void)book.Post(book.DecideEscrow(escrow, now));
  n.delegated.push_back(id);
  StepMarket(node, market::JobHanded{TicketOf(id, job)});
}

market::Ticket Simulator::Impl::TicketOf(const std::string& id, const SimJob& job) {
  market::Ticket t;
  t.id = id;
  t.spec = *job.spec;
  t.envelope = job.envelope;
  t.submitted_at = job.submitted_at;
  t.round = job.round;
  t.attempts = job.attempts;
  t.peer = job.peer;
  t.was_running = job.running;
  t.module_bytes = job.module_bytes;
  t.input_bytes = job.input_bytes;
  return t;
}

// ---- The run --------------------------------------------------------------------------------

void Simulator::Impl::Sample() {
  double busy = 0, slots = 0;
  for (uint32_t i : live) {
    const SimNode& n = *nodes[i];
    busy += n.running;
    slots += n.slots;
  }
  out.series_t.push_back(absl::ToDoubleSeconds(now - start));
  out.series_utilisation.push_back(slots > 0 ? busy / slots : 0);
  std::map<std::string, std::pair<double, int>> by_role;
  for (const auto& n : nodes) {
    const ledger::Reputation r = global_reputation.Get(n->did, now);
    if (r.is_new()) continue;
    auto& [sum, count] = by_role[std::string(RoleName(n->role))];
    sum += r.score;
    ++count;
  }
  for (const auto& [role, sc] : by_role) {
    std::vector<double>& series = out.series_reputation[role];
    series.resize(out.series_t.size() - 1, std::nan(""));
    series.push_back(sc.first / sc.second);
  }
  slot_seconds += slots * absl::ToDoubleSeconds(now - last_sample);
  last_sample = now;
}

Summary Simulator::Impl::Run() {
  const Adversaries& a = s.adversaries;
  // Roles by fraction, then shuffled over the node indexes.
  std::vector<Role> roles;
  auto add = [&](Role r, double share) {
    for (uint32_t i = 0; i < uint32_t(std::floor(share * s.nodes + 0.5)); ++i) roles.push_back(r);
  };
  add(Role::kLiar, a.liars);
  add(Role::kStaller, a.stallers);
  add(Role::kCrasher, a.crashers);
  add(Role::kUnderbidder, a.underbidders);
  add(Role::kFreeRider, a.free_riders);
  roles.resize(s.nodes, Role::kHonest);
  for (size_t i = roles.size(); i > 1; --i) std::swap(roles[i - 1], roles[rng.Uniform(i)]);
  for (Role r : roles) AddNode(r);
  // Nodes come up over the first seconds, each through a few that are up already.
  for (uint32_t i = 0; i < s.nodes; ++i) {
    At(now + absl::Milliseconds(int64_t(i) * 5000 / std::max<uint32_t>(1, s.nodes)),
       [this, i] { StartNode(i, false); });
  }
  const absl::Duration warmup = absl::Seconds(10);
  At(now + warmup, [this] {
    ScheduleArrival();
    ScheduleChurn(s.churn.crashes, [this] {
      if (live.size() > 1) Crash(live[rng.Uniform(live.size())]);
    });
    ScheduleChurn(s.churn.leaves, [this] {
      if (live.size() > 1) BeginLeave(live[rng.Uniform(live.size())]);
    });
    ScheduleChurn(s.churn.joins, [this] {
      ++out.nodes_joined;
      StartNode(AddNode(Role::kHonest), false);
    });
  });
  std::function<void()> sampler = [this, &sampler] {
    Sample();
    At(now + absl::Seconds(s.sample_every_s), sampler);
  };
  At(now + absl::Seconds(s.sample_every_s), sampler);

  const absl::Time end = start + absl::Seconds(s.max_sim_s);
  while (!queue.empty()) {
    if (submitted >= s.jobs && out.jobs_completed + out.jobs_failed >= submitted &&
        now > start + warmup) {
      break;
    }
    const QueuedEvent e = queue.top();
    if (start + absl::Microseconds(e.at_us) > end) break;
    queue.pop();
    Prefetch();
    // Run in place (a deque's elements stay put as events are added); the slot is reused once
    // the event is done.
    Pending& p = parked[e.slot];
    now = start + absl::Microseconds(e.at_us);
    ++events;
    if (p.node == UINT32_MAX ||
        (nodes[p.node]->alive && nodes[p.node]->incarnation == p.incarnation)) {
      Dispatch(p.node, p.what);
    }  // else: for a node that crashed (or left) since
    p.what.emplace<0>();
    parked.Free(e.slot);
  }
  Sample();
  return Summarise();
}

Summary Simulator::Impl::Summarise() {
  Summary& o = out;
  o.scenario = s.name;
  o.seed = s.seed;
  o.signed_messages = s.sign_messages;
  o.nodes = s.nodes;
  o.sim_seconds = absl::ToDoubleSeconds(now - start);
  o.events = events;
  o.jobs_submitted = submitted;
  o.jobs_waiting = submitted - o.jobs_completed - o.jobs_failed;
  o.nodes_alive_end = uint32_t(live.size());
  std::vector<double> l = latencies_ms;
  std::sort(l.begin(), l.end());
  o.latency_ms = PercentilesOf(l);
  if (!l.empty()) {
    for (int i = 0; i <= 100; ++i) o.latency_cdf_ms.push_back(QuantileOf(l, i / 100.0));
  }
  std::sort(split_latencies_ms.begin(), split_latencies_ms.end());
  o.split.latency_ms = PercentilesOf(split_latencies_ms);
  if (o.split.completed > 0) {
    o.split.executors_mean = double(split_executors) / double(o.split.completed);
  }
  for (auto& [requirement, latencies] : latencies_by_requirement) {
    std::sort(latencies.begin(), latencies.end());
    o.by_requirement[requirement].latency_ms = PercentilesOf(latencies);
  }
  const double jobs_n = std::max<double>(1, double(submitted));
  o.messages_per_job = double(o.market_messages) / jobs_n;
  auto count_by_type = [&](const auto& counts, auto name_of, std::string_view prefix) {
    for (size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] > 0) o.messages_by_type[mesh::StrCat(prefix, name_of(i))] = counts[i];
    }
  };
  count_by_type(
      market_by_type, [](size_t i) { return job::MessageName(VariantAt<job::Message>(i)); }, "");
  count_by_type(
      membership_by_type,
      [](size_t i) { return membership::MessageName(VariantAt<membership::Message>(i)); },
      "membership.");
  double busy = 0;
  for (const auto& n : nodes) {
    busy += n->busy_slot_seconds;
    for (const auto& [id, run] : n->runs) {
      if (run.running) busy += absl::ToDoubleSeconds(now - run.started);
    }
  }
  const double node_seconds = double(s.nodes) * std::max(1e-9, o.sim_seconds);
  o.membership_messages_per_node_s = double(o.membership_messages) / node_seconds;
  o.blob_bytes_per_job = double(blob_bytes_fetched) / jobs_n;
  o.message_bytes_per_job = double(market_message_bytes) / jobs_n;
  o.utilisation = slot_seconds > 0 ? busy / slot_seconds : 0;
  o.adversary_share_of_credits =
      o.credits_paid > 0 ? double(o.credits_paid_to_adversaries) / double(o.credits_paid) : 0;
  std::vector<double> honest;
  for (const auto& n : nodes) {
    o.assignments_by_role[std::string(RoleName(n->role))] += n->assignments;
    if (n->role == Role::kHonest) honest.push_back(double(n->assignments));
  }
  double honest_sum = 0;
  for (double a : honest) honest_sum += a;
  if (honest_sum > 0) {
    const double mean = honest_sum / double(honest.size());
    o.honest_assignments_max_over_mean = *std::max_element(honest.begin(), honest.end()) / mean;
    o.honest_assignments_min_over_mean = *std::min_element(honest.begin(), honest.end()) / mean;
  }
  double active = 0, passive = 0;
  for (uint32_t i : live) {
    const double a = double(nodes[i]->members->active().size());
    active += a;
    passive += double(nodes[i]->members->passive().size());
    o.max_active_view = std::max(o.max_active_view, a);
  }
  if (!live.empty()) {
    o.mean_active_view = active / double(live.size());
    o.mean_passive_view = passive / double(live.size());
  }
  return o;
}

Simulator::Simulator(Scenario scenario) : impl_(std::make_unique<Impl>(std::move(scenario))) {}
Simulator::~Simulator() = default;
Summary Simulator::Run() { return impl_->Run(); }

}  // namespace mesh::sim
