// The simulated node shell: what meshd's MeshService does with the cores' actions (send, fetch,
// run, pay, record), played on the modelled network and compute, with each adversary's twist.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "mesh/cas/cid.h"
#include "mesh/common/check.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "sim_world.h"

namespace mesh::sim {

market::ExecutorStanding SimTrust::Standing(const std::string& did) const {
  const ledger::Reputation r = scores_->Get(did, *now_);
  return {r.is_new(), r.score, uint64_t(r.successes)};
}

int64_t SimTrust::MaxPrice(const job::JobSpec& spec) const {
  return market::MaxPriceOf(spec, kDefaultMaxPrice);
}

absl::StatusOr<job::SignedJobSpec> SimTrust::OpenSpec(const std::string& envelope,
                                                      const std::string& id) const {
  if (jobs_ != nullptr) {
    auto it = jobs_->find(id);
    if (it != jobs_->end() && it->second.cid.has_value() && it->second.spec != nullptr &&
        it->second.envelope == envelope) {
      return job::SignedJobSpec{*it->second.spec, envelope, *it->second.cid};
    }
  }
  return job::OpenJobSpec(envelope);
}

int SimTrust::EscrowReplicas(const job::JobSpec& spec) const {
  absl::StatusOr<verify::Verification> v = verify::ParseVerification(spec.verification);
  return v.ok() ? verify::EscrowReplicas(*v, Adaptive()) : 1;
}

uint64_t Simulator::Impl::BlobKey(std::string_view cid) {
  return std::hash<std::string_view>{}(cid);
}

uint64_t Simulator::Impl::DidTail(std::string_view did) {
  uint64_t tail = 0;
  const size_t n = std::min<size_t>(did.size(), sizeof tail);
  std::memcpy(&tail, did.data() + did.size() - n, n);
  return tail ^ (uint64_t(did.size()) << 56);
}

std::optional<uint32_t> Simulator::Impl::IndexOf(const std::string& did) const {
  auto it = by_did.find(did);
  if (it == by_did.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> Simulator::Impl::IndexOf(const membership::PeerId& id) const {
  return IndexOf(id.str());
}

std::optional<uint32_t> Simulator::Impl::IndexIn(std::string_view address) const {
  constexpr std::string_view kPrefix = "s";
  if (address.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  uint64_t index = 0;
  size_t i = kPrefix.size();
  for (; i < address.size() && address[i] >= '0' && address[i] <= '9'; ++i) {
    index = index * 10 + uint64_t(address[i] - '0');
    if (index >= nodes.size()) return std::nullopt;
  }
  if (i == kPrefix.size() || i == address.size() || address[i] != '.') return std::nullopt;
  return uint32_t(index);
}

// A simulated address is "s<index>.<region>": read the index, then check the DID (an address
// may be stale); hashing a DID for every message was a tenth of a run. The DID is checked by a
// word held beside the others' (its tail, or the hash its PeerId carries): reading each node's own
// string was a cache miss per message. (In the simulation a node's address and DID never part:
// they travel together.)
std::optional<uint32_t> Simulator::Impl::IndexOf(const std::string& did,
                                                 std::string_view address) const {
  if (std::optional<uint32_t> index = IndexIn(address);
      index.has_value() && did_tails[*index] == DidTail(did)) {
    return index;
  }
  return IndexOf(did);
}

std::optional<uint32_t> Simulator::Impl::IndexOf(const membership::PeerId& id,
                                                 std::string_view address) const {
  if (std::optional<uint32_t> index = IndexIn(address);
      index.has_value() && id_hashes[*index] == id.hash()) {
    return index;
  }
  return IndexOf(id);
}

bool Simulator::Impl::Reachable(uint32_t from, uint32_t to) const {
  if (!reach[to].alive || !reach[from].alive) return false;
  const double at = absl::ToDoubleSeconds(now - start);
  for (const NetworkModel::Partition& p : s.network.partitions) {
    if (at < p.start_s || at >= p.end_s) continue;
    auto cut = [&](uint32_t region) {
      return std::find(p.regions.begin(), p.regions.end(), s.network.regions[region]) !=
             p.regions.end();
    };
    if (cut(reach[from].region) != cut(reach[to].region)) return false;
  }
  return true;
}

absl::Duration Simulator::Impl::Latency(uint32_t from, uint32_t to) {
  const double ms = s.network.latency_ms[reach[from].region][reach[to].region] +
                    s.network.jitter_ms * rng.UniformDouble();
  return absl::Microseconds(int64_t(ms * 1000));
}

bool Simulator::Impl::Lost() { return s.network.loss > 0 && rng.UniformDouble() < s.network.loss; }

std::string Simulator::Impl::Seal(uint32_t node, job::Message& message) {
  const std::string nonce = Nonce(++envelope_seq);
  if (s.sign_messages) {
    return job::SealMessage(*nodes[node]->key, message, absl::ToUnixMillis(now), nonce).Serialize();
  }
  std::visit(
      [&](auto& m) {
        m.header.sent_at_ms = absl::ToUnixMillis(now);
        m.header.nonce = nonce;
      },
      message);
  return mesh::StrCat("sim-envelope:", envelope_seq);
}

absl::StatusOr<job::Message> Simulator::Impl::Open(const std::string& envelope, job::Message sent) {
  if (!s.sign_messages) return sent;
  MESH_ASSIGN_OR_RETURN(job::OpenedMessage opened, job::OpenMessage(envelope, 1 << 20));
  return std::move(opened.message);
}

// ---- Stepping the cores ---------------------------------------------------------------------

void Simulator::Impl::StepMarket(uint32_t node, market::Input input) {
  SimNode& n = *nodes[node];
  if (!n.alive) return;
  n.inbox.push_back(std::move(input));
  if (!n.stepping) DrainInbox(node);  // else it waits for the end of the step carried out
}

void Simulator::Impl::DrainInbox(uint32_t node) {
  SimNode& n = *nodes[node];
  n.stepping = true;
  while (!n.inbox.empty() && n.alive) {
    market::Input next = std::move(n.inbox.front());
    n.inbox.pop_front();
    CarryOut(node, n.market->Step(now, std::move(next)));
  }
  n.stepping = false;
  n.inbox.clear();  // what is left was for an incarnation that crashed meanwhile
}

void Simulator::Impl::StepMembers(uint32_t node, const membership::Input& input) {
  SimNode& n = *nodes[node];
  if (!n.alive) return;
  for (membership::Action& action : n.members->Step(now, input)) {
    if (auto* send = std::get_if<membership::Send>(&action)) {
      ++out.membership_messages;
      ++membership_by_type[send->message.index()];
      std::optional<uint32_t> to = IndexOf(send->to.id, send->to.address);
      if (!to.has_value() || !Reachable(node, *to) || Lost()) {
        AtNode(node, now + absl::Milliseconds(s.network.timeout_ms),
               [this, node, id = send->to.id] { StepMembers(node, membership::SendFailed{id}); });
        continue;
      }
      MembersArrive m;
      m.from = node;
      m.to = *to;
      m.incarnation = reach[m.to].incarnation;
      // A ping carries the sender's load and active view (the node's heartbeat payload).
      m.ping = std::holds_alternative<membership::Ping>(send->message);
      if (m.ping) m.news = NewsOf(n);
      m.message = std::move(send->message);
      // The ping lists the sender's active view for a receiver with room for candidates.
      if (m.ping && reach[m.to].active < s.membership.active_size) {
        m.message = membership::Ping{n.members->active()};
      }
      const absl::Time at = now + Latency(node, m.to);
      Schedule(at, {std::move(m)});
    } else if (auto* up = std::get_if<membership::PeerUp>(&action)) {
      // Until its first ping, what we know of a new neighbour is what it told when it joined.
      if (std::optional<uint32_t> p = IndexOf(up->peer.id, up->peer.address)) {
        n.active.push_back(*p);
        n.active_news.push_back(NewsOf(*nodes[*p]));
        Mirror(node);
        StepMarket(node, market::PeerChanged{ViewOf(n, *p)});
      } else {
        StepMarket(node, market::PeerChanged{ViewOf(n, up->peer.id)});
      }
    } else if (auto* down = std::get_if<membership::PeerDown>(&action)) {
      market::PeerView view = ViewOf(n, down->id);
      view.alive = false;
      view.disconnected = down->alive;
      if (std::optional<uint32_t> p = IndexOf(down->id)) {
        if (auto it = std::find(n.active.begin(), n.active.end(), *p); it != n.active.end()) {
          n.active_news.erase(n.active_news.begin() + (it - n.active.begin()));
          n.active.erase(it);
          Mirror(node);
        }
      }
      StepMarket(node, market::PeerChanged{std::move(view)});
    } else if (auto* timer = std::get_if<membership::SetTimer>(&action)) {
      // Membership names its next tick after every step; most steps do not move it, and an
      // event per step would fill the queue with stale timers.
      const absl::Time at = std::max(timer->at, now);
      if (at == n.members_timer_at) continue;
      n.members_timer_at = at;
      AtNode(node, at, What{MembersTimer{++n.members_timer}});
    }
  }
}

void Simulator::Impl::Deliver(MembersArrive& m) {
  SimNode& t = *nodes[m.to];
  if (!t.alive || t.incarnation != m.incarnation) return;
  bool changed = false;
  if (m.ping) {
    // The market hears of a neighbour's load when it changed, not on every ping.
    if (auto it = std::find(t.active.begin(), t.active.end(), m.from); it != t.active.end()) {
      SimNode::PeerNews& known = t.active_news[size_t(it - t.active.begin())];
      changed = !(known == m.news);
      if (changed) known = std::move(m.news);
    }
  }
  // The sender's Received, its message replaced: no DID or address copied per delivery.
  membership::Input& in = nodes[m.from]->inbound;
  std::get<membership::Received>(in).message = std::move(m.message);
  StepMembers(m.to, in);
  // The sender's index cannot have changed: a node keeps its key across restarts.
  if (changed && std::find(t.active.begin(), t.active.end(), m.from) != t.active.end()) {
    StepMarket(m.to, market::PeerChanged{ViewOf(t, m.from)});
  }
}

market::PeerView Simulator::Impl::ViewOf(const SimNode& n, const membership::PeerId& peer) const {
  if (std::optional<uint32_t> p = IndexOf(peer)) {
    market::PeerView v = ViewOf(n, *p);
    v.alive = n.members->IsActive(peer);
    return v;
  }
  market::PeerView v;
  v.did = peer.str();
  v.alive = n.members->IsActive(peer);
  return v;
}

market::PeerView Simulator::Impl::ViewOf(const SimNode& n, uint32_t p) const {
  const SimNode& peer = *nodes[p];
  market::PeerView v;
  v.did = peer.did;
  v.address = peer.address;
  v.rtt = 2 * absl::Milliseconds(s.network.latency_ms[n.region][peer.region]);
  // `active` mirrors the membership's active view (PeerUp and PeerDown), by index.
  if (auto it = std::find(n.active.begin(), n.active.end(), p); it != n.active.end()) {
    v.alive = true;
    const SimNode::PeerNews& news = n.active_news[size_t(it - n.active.begin())];
    v.max_concurrent = news.slots;
    v.running = news.running;
    v.queued = news.queued;
    v.draining = news.draining;
    for (uint32_t q : news.peers) v.peers.push_back(nodes[q]->did);
  }
  return v;
}

SimNode::PeerNews Simulator::Impl::NewsOf(const SimNode& n) const {
  // What CapacityOf tells the node's own market, without copying its names and lists.
  SimNode::PeerNews news{n.slots, n.running, uint32_t(n.waiting.size()), Draining(n), {}};
  news.peers.assign(n.active.begin(), n.active.end());
  return news;
}

sched::LocalCapacity Simulator::Impl::CapacityOf(const SimNode& n) const {
  sched::LocalCapacity c;
  c.did = n.did;
  c.address = n.address;
  c.cpu_cores = n.slots;
  c.max_concurrent = n.slots;
  c.memory_bytes = 8ull << 30;
  c.storage_free = 1ull << 40;
  c.running = n.running;
  c.queued = uint32_t(n.waiting.size());
  c.draining = Draining(n);
  // Its speed score, as a node's profiler measures it: a simulated node's speed is exact.
  c.fuel_per_second = uint64_t(n.speed * 1e9);
  c.capabilities = n.capabilities;
  c.federations = n.federations;
  return c;
}

void Simulator::Impl::TellCapacity(uint32_t node) {
  StepMarket(node, market::CapacityChanged{CapacityOf(*nodes[node]), {}});
}

// ---- Carrying out the market's actions ------------------------------------------------------

void Simulator::Impl::CarryOut(uint32_t node, std::vector<market::Action> actions) {
  SimNode& n = *nodes[node];
  for (market::Action& action : actions) {
    if (!n.alive) return;  // a crasher went down mid-step
    std::visit(
        [&](auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, market::Send>) {
            SendMarket(node, a);
          } else if constexpr (std::is_same_v<T, market::Fetch>) {
            Fetch(node, a);
          } else if constexpr (std::is_same_v<T, market::Persist>) {
            auto it = jobs.find(a.job_id);
            if (a.market.has_value() && it != jobs.end() && it->second.submitter == node) {
              it->second.round = a.market->round;
              it->second.peer = a.market->peer;
            }
            if (a.requeue.has_value() && it != jobs.end()) it->second.running = false;
            if (it != jobs.end() && !it->second.split.empty()) {
              for (const market::Block& b : a.blocks) {
                if (b.phase == "bidding_open") ++out.split.chunk_auctions;
              }
            }
          } else if constexpr (std::is_same_v<T, market::MarkRunning>) {
            if (auto it = jobs.find(a.job_id); it != jobs.end()) {
              it->second.running = true;
              it->second.attempts = a.attempts;
            }
          } else if constexpr (std::is_same_v<T, market::Finish>) {
            Finish(node, a.result);
          } else if constexpr (std::is_same_v<T, market::RunHere>) {
            RunHere(node, a);
          } else if constexpr (std::is_same_v<T, market::RunAtHome>) {
            // Only "auto" jobs come home; meshsim's are all "remote" (Submit).
            MESH_CHECK(false);
          } else if constexpr (std::is_same_v<T, market::CancelRun>) {
            auto it = n.runs.find(a.job_id);
            if (it != n.runs.end() && it->second.run.assignment.origin == a.origin) {
              if (it->second.running) {
                --n.running;
                n.busy_slot_seconds += absl::ToDoubleSeconds(now - it->second.started);
              } else {
                std::erase(n.waiting, a.job_id);
              }
              n.runs.erase(it);
              TellCapacity(node);
            }
          } else if constexpr (std::is_same_v<T, market::Pay>) {
            Pay(a);
          } else if constexpr (std::is_same_v<T, market::Refund>) {
            Refund(a);
          } else if constexpr (std::is_same_v<T, market::RecordStanding>) {
            const auto event = static_cast<ledger::ReputationEvent>(int(a.event));
            n.reputation.Record(a.executor, event, now);
            global_reputation.Record(a.executor, event, now);
          } else if constexpr (std::is_same_v<T, market::SetTimer>) {
            AtNode(node, std::max(a.at, now), What{MarketTimer{++n.market_timer}});
          } else if constexpr (std::is_same_v<T, market::Count>) {
            if (a.counter == market::Counter::kAskedBeyond) {
              out.announcements_beyond += static_cast<uint64_t>(a.by);
            }
          }
          // Publish, Log, Observe and the other counts inform an operator; the summary has its
          // own.
        },
        action);
  }
}

void Simulator::Impl::SendMarket(uint32_t node, market::Send& send) {
  SimNode& n = *nodes[node];
  job::Message message;
  std::string envelope;
  if (send.message.has_value()) {
    message = *std::move(send.message);
    if (n.role == Role::kStaller && std::holds_alternative<job::Receipt>(message)) {
      if (send.token != 0) {  // withheld; the shell's send "succeeds"
        AtNode(node, now, [this, node, token = send.token] {
          StepMarket(node, market::SendResult{.token = token});
        });
      }
      return;
    }
    envelope = Seal(node, message);
    if (std::holds_alternative<job::Announce>(message) && !s.sign_messages) {
      // Relays of an announcement follow it within a second; the stand-in is kept for 10.
      relay_messages[envelope] = message;
      relay_expiry.emplace_back(now, envelope);
      while (now - relay_expiry.front().first > absl::Seconds(10)) {
        relay_messages.erase(relay_expiry.front().second);
        relay_expiry.pop_front();
      }
    }
  } else {
    auto it = relay_messages.find(send.raw);
    if (s.sign_messages) {
      absl::StatusOr<job::OpenedMessage> opened = job::OpenMessage(send.raw, 1 << 20);
      if (!opened.ok()) return;
      message = std::move(opened->message);
    } else if (it != relay_messages.end()) {
      message = it->second;
    } else {
      return;  // expired: a relay minutes late would be refused as stale anyway
    }
    envelope = std::move(send.raw);
  }
  ++out.market_messages;
  ++market_by_type[message.index()];
  if (s.sign_messages) market_message_bytes += envelope.size();
  std::optional<uint32_t> target = IndexOf(send.to, send.address);
  const uint64_t token = send.token;
  if (!target.has_value() || !Reachable(node, *target) || Lost()) {
    return SendTimedOut(node, token, "the peer did not answer");
  }
  MarketArrive m;
  m.from = node;
  m.to = *target;
  m.incarnation = reach[m.to].incarnation;
  m.token = token;
  m.ttl = send.ttl;
  m.envelope = std::move(envelope);
  m.message = std::move(message);
  const absl::Time at = now + Latency(node, m.to);
  Schedule(at, {std::move(m)});
}

void Simulator::Impl::Deliver(MarketArrive& m) {
  const uint32_t node = m.from, to = m.to;
  const uint64_t token = m.token;
  SimNode& t = *nodes[to];
  if (!t.alive || t.incarnation != m.incarnation || !Reachable(node, to)) {
    return SendTimedOut(node, token, "peer went away");
  }
  absl::StatusOr<job::Message> opened = Open(m.envelope, std::move(m.message));
  if (!opened.ok()) return;
  market::Received r;
  r.from = nodes[node]->did;  // a node keeps its key (and DID) across restarts
  r.message = *std::move(opened);
  r.envelope_cid = s.sign_messages ? cas::Cid::Of(m.envelope).ToString() : m.envelope;
  r.envelope = std::move(m.envelope);
  r.ttl = m.ttl;
  MESH_CHECK(!t.stepping);  // deliveries are events of their own, never nested in a step
  t.stepping = true;
  std::vector<market::Action> actions = t.market->Step(now, std::move(r));
  // The request's answer goes back on the same call; the rest is carried out here.
  std::optional<job::Message> reply;
  std::vector<market::Action> rest;
  for (market::Action& a : actions) {
    if (auto* send = std::get_if<market::Send>(&a); send != nullptr && send->reply) {
      if (send->message.has_value()) reply = std::move(send->message);
    } else {
      rest.push_back(std::move(a));
    }
  }
  CarryOut(to, std::move(rest));
  t.stepping = false;
  if (t.alive) DrainInbox(to);
  if (token == 0) return;
  market::SendResult result{.token = token};
  std::string reply_envelope;
  if (reply.has_value()) {
    ++out.market_messages;
    ++market_by_type[reply->index()];
    reply_envelope = Seal(to, *reply);
    if (s.sign_messages) market_message_bytes += reply_envelope.size();
    absl::StatusOr<job::Message> back = Open(reply_envelope, *std::move(reply));
    if (back.ok()) {
      result.reply = *std::move(back);
      result.reply_envelope_cid =
          s.sign_messages ? cas::Cid::Of(reply_envelope).ToString() : reply_envelope;
    }
  }
  AtNode(node, now + Latency(to, node), What{MarketAnswer{std::move(result)}});
}

void Simulator::Impl::SendTimedOut(uint32_t node, uint64_t token, std::string why) {
  if (token == 0) return;  // nobody waits for its outcome
  AtNode(node, now + absl::Milliseconds(s.network.timeout_ms), [this, node, token, why] {
    StepMarket(node, market::SendResult{.token = token, .status = absl::UnavailableError(why)});
  });
}

void Simulator::Impl::Fetch(uint32_t node, const market::Fetch& fetch) {
  SimNode& n = *nodes[node];
  uint64_t bytes = 0;
  bool have_all = true;
  for (const std::string& cid : fetch.cids) {
    const uint64_t key = BlobKey(cid);
    if (!n.blobs.contains(key)) {
      have_all = false;
      auto size = blob_bytes.find(key);
      bytes += size == blob_bytes.end() ? 0 : size->second;
    }
  }
  if (have_all) {
    AtNode(node, now, [this, node, token = fetch.token] {
      StepMarket(node, market::FetchResult{token, absl::OkStatus()});
    });
    return;
  }
  for (const market::FetchSource& source : fetch.sources) {
    std::optional<uint32_t> from = IndexOf(source.did);
    if (!from.has_value() || !Reachable(node, *from)) continue;
    const SimNode& src = *nodes[*from];
    const bool holds = std::all_of(fetch.cids.begin(), fetch.cids.end(), [&](const std::string& c) {
      return n.blobs.contains(BlobKey(c)) || src.blobs.contains(BlobKey(c));
    });
    if (!holds) continue;
    const absl::Duration took = 2 * Latency(node, *from) +
                                absl::Seconds(double(bytes) * 8 / (s.network.bandwidth_mbps * 1e6));
    blob_bytes_fetched += bytes;
    AtNode(node, now + took, [this, node, token = fetch.token, cids = fetch.cids] {
      for (const std::string& c : cids) nodes[node]->blobs.insert(BlobKey(c));
      StepMarket(node, market::FetchResult{token, absl::OkStatus()});
    });
    return;
  }
  AtNode(node, now + absl::Milliseconds(s.network.timeout_ms), [this, node, token = fetch.token] {
    StepMarket(node,
               market::FetchResult{token, absl::UnavailableError("no source holds the blobs")});
  });
}

// ---- The simulated compute service ----------------------------------------------------------

void Simulator::Impl::RunHere(uint32_t node, const market::RunHere& run) {
  SimNode& n = *nodes[node];
  const std::string& id = run.assignment.job_id;
  if (auto it = n.runs.find(id); it != n.runs.end()) {
    it->second.run = run;  // assigned again: the run goes on and reports in the new round
    return;
  }
  if (auto it = n.ended.find(id); it != n.ended.end()) {
    // Ran here before: its end is reported again, in the new round.
    market::LocalRunEnd end = EndOf(node, id, run, it->second);
    AtNode(node, now, [this, node, end] { StepMarket(node, market::LocalEnded{end}); });
    return;
  }
  ++n.assignments;
  if (n.role == Role::kUnderbidder) return;  // took it, never runs it
  n.runs[id] = SimNode::Run{run, false, now};
  n.waiting.push_back(id);
  if (n.running < n.slots) StartRun(node, n.waiting.front());
  TellCapacity(node);
}

void Simulator::Impl::StartRun(uint32_t node, std::string job_id) {  // a copy: erased below
  SimNode& n = *nodes[node];
  if (n.role == Role::kCrasher) {
    Crash(node);  // dies whenever a job starts
    return;
  }
  std::erase(n.waiting, job_id);
  SimNode::Run& r = n.runs.at(job_id);
  r.running = true;
  r.started = now;
  ++n.running;
  auto it = jobs.find(job_id);
  const uint64_t fuel = it == jobs.end() ? 1'000'000'000 : it->second.fuel;
  const absl::Duration took = absl::Seconds(double(fuel) / (n.speed * 1e9));
  AtNode(node, now + took, [this, node, job_id] { EndRun(node, job_id); });
}

void Simulator::Impl::EndRun(uint32_t node, const std::string& job_id) {
  SimNode& n = *nodes[node];
  auto it = n.runs.find(job_id);
  if (it == n.runs.end() || !it->second.running) return;  // cancelled meanwhile
  const SimNode::Run r = std::move(it->second);
  n.runs.erase(it);
  --n.running;
  n.busy_slot_seconds += absl::ToDoubleSeconds(now - r.started);
  const auto job = jobs.find(job_id);
  const SimNode::EndedRun ended{r.started, now, job == jobs.end() ? 0 : job->second.fuel};
  market::LocalRunEnd end = EndOf(node, job_id, r.run, ended);
  n.blobs.insert(BlobKey(end.output_cid));
  blob_bytes[BlobKey(end.output_cid)] = end.output_bytes;
  n.ended[job_id] = ended;
  if (!n.waiting.empty() && n.running < n.slots) StartRun(node, n.waiting.front());
  if (!n.alive) return;
  StepMarket(node, market::LocalEnded{std::move(end)});
  TellCapacity(node);
}

market::LocalRunEnd Simulator::Impl::EndOf(uint32_t node, const std::string& job_id,
                                           const market::RunHere& run,
                                           const SimNode::EndedRun& e) const {
  market::LocalRunEnd end;
  end.job_id = job_id;
  end.origin = run.assignment.origin;
  end.origin_address = run.assignment.origin_address;
  end.round = run.assignment.round;
  if (e.cut_short) {
    end.error = true;
    end.message = "this node restarted while the job ran";  // the compute service's words
    return end;
  }
  const SimNode& n = *nodes[node];
  const auto job = jobs.find(job_id);
  end.started_at = e.started_at;
  end.finished_at = e.finished_at;
  end.state = job::JobState::kSucceeded;
  end.outcome = "ok";
  end.output_cid = job == jobs.end() ? cas::Cid::Of(job_id).ToString() : job->second.honest_output;
  if (n.role == Role::kLiar) {
    end.output_cid = cas::Cid::Of(mesh::StrCat(end.output_cid, " altered by ", n.did)).ToString();
  }
  end.output_bytes = 1024;
  end.fuel_used = e.fuel_used;
  end.report_json = "{}";
  return end;
}

// ---- Results and credits --------------------------------------------------------------------

bool Simulator::Impl::Offers(const std::string& executor, const job::Requirements& r) const {
  std::optional<uint32_t> e = IndexOf(executor);
  if (!e.has_value()) return false;
  const SimNode& n = *nodes[*e];
  auto has = [](const std::vector<std::string>& offered, const std::string& name) {
    return std::find(offered.begin(), offered.end(), name) != offered.end();
  };
  for (const std::string& c : r.capabilities) {
    if (!has(n.capabilities, c)) return false;
  }
  if (r.federations.empty()) return true;
  for (const std::string& f : r.federations) {
    if (has(n.federations, f)) return true;
  }
  return false;
}

void Simulator::Impl::Finish(uint32_t node, const market::JobResult& result) {
  auto it = jobs.find(result.job_id);
  if (it == jobs.end() || it->second.submitter != node) return;
  SimJob& job = it->second;
  ++job.ends;
  if (job.ends > 1) {
    ++out.jobs_completed_twice;
    return;
  }
  job.ended_at = now;
  job.succeeded = result.state == job::JobState::kSucceeded;
  if (job.split.empty()) {
    CountEnd(
        job, job.succeeded, job.succeeded && result.output_cid != job.honest_output,
        job.succeeded && !job.requirement.empty() && !Offers(result.peer, job.spec->requirements),
        result.reason);
  } else {
    ChunkEnded(node, job, result);
  }
  std::erase(nodes[node]->delegated, result.job_id);
  // The spec and envelope are no longer needed (a restart does not hand ended jobs again).
  job.spec.reset();
  job.envelope = std::string();
}

void Simulator::Impl::CountEnd(SimJob& job, bool succeeded, bool wrong, bool misplaced,
                               const std::string& reason) {
  if (succeeded) {
    ++out.jobs_completed;
    if (wrong) ++out.wrong_results_accepted;
  } else {
    ++out.jobs_failed;
    std::string first = reason.substr(0, reason.find_first_of(":(;"));
    if (first.size() > 60) first.resize(60);
    ++out.failure_reasons[first];
  }
  latencies_ms.push_back(absl::ToDoubleMilliseconds(now - job.submitted_at));
  if (!job.requirement.empty()) {
    RequirementJobs& r = out.by_requirement[job.requirement];
    ++(succeeded ? r.completed : r.failed);
    if (misplaced) ++r.misplaced;
    latencies_by_requirement[job.requirement].push_back(latencies_ms.back());
  }
}

void Simulator::Impl::ChunkEnded(uint32_t node, SimJob& chunk, const market::JobResult& result) {
  SimJob& split = jobs.at(chunk.split);
  if (split.ends > 0) return;  // it failed already, and its other chunks were cancelled
  if (chunk.succeeded) {
    split.wrong |= result.output_cid != chunk.honest_output;
    split.misplaced |= !Offers(result.peer, chunk.spec->requirements);
    if (std::find(split.executors.begin(), split.executors.end(), result.peer) ==
        split.executors.end()) {
      split.executors.push_back(result.peer);
    }
    if (--split.chunks_left > 0) return;
  }
  // Every chunk succeeded (merged: the outputs are here already), or one failed: the job
  // fails and the chunks still running are cancelled, as the node's coordinator does.
  split.ends = 1;
  split.ended_at = now;
  split.succeeded = chunk.succeeded;
  CountEnd(split, split.succeeded, split.wrong, split.misplaced,
           split.succeeded ? "" : mesh::StrCat("a chunk ", result.reason));
  split_latencies_ms.push_back(latencies_ms.back());
  if (split.succeeded) {
    ++out.split.completed;
    split_executors += split.executors.size();
    return;
  }
  ++out.split.failed;
  for (const std::string& id : split.chunks) {
    if (id == result.job_id || jobs.at(id).ends > 0) continue;
    StepMarket(node, market::JobCancelled{id, "its split job failed"});
  }
}

void Simulator::Impl::Pay(const market::Pay& pay) {
  const int64_t fee = ledger::NetworkFee(book.options(), pay.price);
  absl::StatusOr<ledger::Posted> posted =
      book.Post(book.DecidePay(pay.job_id, pay.executor, pay.price, fee, pay.assignment, now));
  if (!posted.ok() || posted->duplicate) return;
  out.credits_paid += pay.price;
  std::optional<uint32_t> to = IndexOf(pay.executor);
  const Role role = to.has_value() ? nodes[*to]->role : Role::kHonest;
  out.credits_paid_by_role[std::string(RoleName(role))] += pay.price;
  if (role != Role::kHonest) out.credits_paid_to_adversaries += pay.price;
}

void Simulator::Impl::Refund(const market::Refund& refund) {
  (void)book.Post(book.DecideRefund(refund.job_id, refund.why, now));
}

}  // namespace mesh::sim
