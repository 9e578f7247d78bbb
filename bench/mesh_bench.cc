// The mesh under tiny jobs and one big blob: in-process nodes (each with its own data dir,
// worker pool and gRPC transport with mutual TLS on loopback), as src/node/mesh_test.cc makes
// them, driven through their ComputeService with the empty job (examples/noop.c).
//
//  (a) latency: node A submits one job at a time with placement "remote" to a 3-node mesh
//      (A, B, C) and waits for its final state; p50/p99 of submit -> final state observed on A,
//      goals p50 <= 3 ms, p99 <= 15 ms. Baseline in the same run, interleaved job by job: the same
//      job with placement "local" on A. A job's end is observed through A's EventBus (Subscribe to
//      the job, woken by its events, read with Since from the seq seen before the submit): no
//      polling, no sleeps. Where the time goes is read from the events all three nodes
//      published for each job (their times are the wall clock the in-process nodes share).
//  (b) throughput: 8 submitter threads on A, each submitting and waiting (closed loop) for a
//      fixed time; executors B and C run max_concurrent = cores. Goal >= 1,000 delegated
//      jobs/s; baseline: the same threads with placement "local" (A runs them). The same
//      breakdown as in (a), from events a recorder thread copies off the buses every 20 ms,
//      shows where the time goes under load; CPU per job is read from /proc.
//  (c) blob transfer: FetchBlob of a 256 MiB blob between two GrpcTransports on loopback
//      (the server streams it from a cas::BlobStore reader, as a node does), MB/s, goal
//      >= 800 MB/s and >= 0.5x the baseline; baseline: reading the same blob from the local
//      BlobStore (verified streaming reader). Also, for information: the server streaming from
//      memory, and the client hashing what it receives (the node checks every fetched blob's CID).
//
// Probes, for the analysis: a bare gRPC + mTLS round trip between two transports, and a
// durable BlobStore::PutBytes of a receipt-sized blob (what the submitter did per receipt until
// the receipt moved into the history block).
//
// A plain binary, not Google Benchmark (percentiles, phases sharing one mesh).
//
//   build/release/bench/mesh_bench                       # everything, ~1 min
//   build/release/bench/mesh_bench --only latency --jobs 2000
//   build/release/bench/mesh_bench --only blob --blob-mib 1024
//   build/release/bench/mesh_bench --engine aot --seconds 10 --threads 8
//   build/release/bench/mesh_bench --only latency,throughput --lease-ms 0  (every job auctioned)
//   build/release/bench/mesh_bench --short --json FILE  (~35 s, no probes; figures as JSON)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.h"
#include "bench_stats.h"
#include "job_wait.h"
#include "mesh/cas/blob_store.h"
#include "mesh/cas/byte_source.h"
#include "mesh/common/clock.h"
#include "mesh/common/file_util.h"
#include "mesh/common/process_tuning.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/crypto/sha256.h"
#include "mesh/net/grpc_transport.h"
#include "mesh/node/blob_transfer.h"
#include "mesh/node/node.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace {

using mesh::bench::Latency;
using mesh::bench::MsSince;
using mesh::bench::Percentile;
using mesh::bench::SteadyClock;
using mesh::bench::Summarize;
using mesh::node::EventBatch;
using mesh::node::EventBus;
using mesh::node::Node;
using mesh::node::NodeConfig;

struct Options {
  std::string worker = MESH_WORKER_PATH;
  std::string examples = MESH_EXAMPLES_DIR;
  std::string engine = "interp";
  std::set<std::string> only = {"probes", "latency", "throughput", "blob"};
  int jobs = 1000;     // sequential jobs measured per placement (latency)
  int warmup = 100;    // per placement, before measuring
  double seconds = 5;  // each throughput phase
  int threads = 8;     // submitter threads (throughput)
  int workers = 0;     // max_concurrent of every node; 0 = cores
  int blob_mib = 256;
  int repeats = 3;    // blob transfers timed per variant
  int lease_ms = -1;  // [mesh] lease of every node; -1 = the default (jobs alike skip auctions)
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "mesh_bench: %s\n", what.c_str());
  std::fflush(stdout);
  std::_Exit(1);
}

// ---- statistics ---------------------------------------------------------------------------

// CPU seconds (user + system) of a process, from /proc.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<pid_t> Children(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state;
    long ppid = 0;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent) {
      out.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return out;
}

// CPU milliseconds (user + system) of this process so far, all threads.
double ProcessCpuMs() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return 1e3 * static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-3 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// CPU seconds of this process (the three nodes and the submitters) and of its mesh-workers.
struct CpuSample {
  double nodes = 0, workers = 0;
};

CpuSample SampleCpu() {
  CpuSample s;
  s.nodes = CpuSeconds(::getpid());
  for (pid_t k : Children(::getpid())) s.workers += CpuSeconds(k);
  return s;
}

// ---- the mesh -----------------------------------------------------------------------------

struct Member {
  std::filesystem::path dir;
  mesh::SecureRng rng;
  std::unique_ptr<Node> node;
};

class Mesh {
 public:
  Mesh(const Options& o, const std::filesystem::path& root) : o_(o), root_(root) {}
  ~Mesh() { Stop(); }

  Node& Add() {
    auto m = std::make_unique<Member>();
    m->dir = root_ / ("n" + std::to_string(members_.size()));
    NodeConfig c;
    c.data_dir = m->dir;
    c.listen_port = 0;
    c.max_concurrent = o_.workers;  // 0 = cores
    c.engine = o_.engine == "aot" ? mesh::wasm::EngineKind::kAot : mesh::wasm::EngineKind::kInterp;
    c.worker_path = o_.worker;
    c.mesh.listen = "127.0.0.1:0";
    if (!members_.empty()) c.mesh.peers = {members_[0]->node->mesh()->address()};
    // Default market timings (bid window 200 ms, heartbeat 1 s, lease 5 s): the bench measures
    // what a deployment gets. --lease-ms 0 auctions every job (the A/B of the lease).
    if (o_.lease_ms >= 0) c.mesh.lease = absl::Milliseconds(o_.lease_ms);
    auto node = Node::Start(c, clock_, m->rng);
    if (!node.ok()) Die("node start: " + std::string(node.status().message()));
    m->node = *std::move(node);
    members_.push_back(std::move(m));
    return *members_.back()->node;
  }

  void WaitFormed() {
    const auto t0 = SteadyClock::now();
    while (true) {
      bool all = true;
      for (auto& m : members_) {
        if (m->node->mesh()->Stats().peers_alive + 1 < members_.size()) all = false;
      }
      if (all) break;
      if (MsSince(t0) > 30000) Die("the mesh did not form within 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::printf("mesh of %zu nodes formed in %.0f ms\n", members_.size(), MsSince(t0));
  }

  Node& node(size_t i) { return *members_[i]->node; }
  size_t size() const { return members_.size(); }
  char Letter(const std::string& did) const {
    for (size_t i = 0; i < members_.size(); ++i) {
      if (members_[i]->node->key().did().ToString() == did) return static_cast<char>('A' + i);
    }
    return '?';
  }

  void Stop() {
    for (auto& m : members_) {
      if (m->node != nullptr) m->node->Drain(absl::ZeroDuration());
    }
    members_.clear();
  }

 private:
  const Options& o_;
  std::filesystem::path root_;
  mesh::SystemClock clock_;
  std::vector<std::unique_ptr<Member>> members_;
};

using mesh::bench::IsFinalEvent;
using mesh::bench::Waker;

struct JobOutcome {
  std::string id;
  std::string final_type;  // job.succeeded, ...
  std::string executor;    // the DID a delegated job ran on
  absl::Time submitted, observed;
  double ms = 0;  // submit call to the final event seen here (steady clock)
};

// Submits the noop job on `n` and waits, on n's event bus, for its final event.
JobOutcome SubmitAndWait(Node& n, const std::string& module, const std::string& placement,
                         Waker& waker, bool want_executor) {
  EventBus& bus = n.events();
  JobOutcome out;
  uint64_t after = bus.last_seq();
  out.submitted = absl::Now();
  const auto t0 = SteadyClock::now();
  mesh::node::SubmitRequest request;
  request.spec.module = module;
  request.spec.placement = placement;
  absl::StatusOr<mesh::node::SubmitResult> r = n.compute().Submit(std::move(request));
  if (!r.ok()) Die("submit: " + std::string(r.status().message()));
  out.id = r->job.id;
  const uint64_t sub = bus.Subscribe(out.id, [&waker] { waker.Wake(); });
  while (out.final_type.empty()) {
    const uint64_t seen = waker.count();
    EventBatch batch = bus.Since(after, out.id, 64);
    for (const mesh::node::Event& e : batch.events) {
      if (!IsFinalEvent(e.type)) continue;
      out.final_type = e.type;
      if (want_executor) {
        nlohmann::json j = nlohmann::json::parse(e.json, nullptr, false);
        if (j.is_object()) out.executor = j.value("executor", "");
      }
    }
    after = batch.scanned_to;
    if (batch.gap && out.final_type.empty()) {  // fell behind the bus's ring: ask the node
      absl::StatusOr<mesh::node::JobRecord> job = n.compute().Get(out.id);
      if (job.ok() && mesh::job::IsTerminal(job->state)) {
        out.final_type = "job." + std::string(mesh::job::JobStateName(job->state));
        out.executor = job->peer;
      }
    }
    if (!out.final_type.empty()) break;
    if (!waker.WaitPast(seen, std::chrono::seconds(60))) {
      Die("job " + out.id + " (" + placement + ") did not end within 60 s");
    }
  }
  out.ms = MsSince(t0);
  out.observed = absl::Now();
  bus.Unsubscribe(sub);
  return out;
}

// ---- (a) latency, with where the time goes ------------------------------------------------

struct TimedEvent {
  char node;  // 'A', 'B', 'C'
  std::string job_id, name;
  absl::Time at;
};

struct RawEvent {
  char node;
  mesh::node::Event event;
};

// Copies every event published since `cursor` on a node's bus (parsed later, off the clock).
void Drain(EventBus& bus, char letter, uint64_t& cursor, std::vector<RawEvent>& out) {
  while (true) {
    EventBatch b = bus.Since(cursor, "", 4096);
    if (b.gap) std::fprintf(stderr, "mesh_bench: node %c: events lost for the breakdown\n", letter);
    for (mesh::node::Event& e : b.events) {
      if (!e.job_id.empty()) out.push_back({letter, std::move(e)});
    }
    if (b.scanned_to == cursor) return;
    cursor = b.scanned_to;
  }
}

std::vector<TimedEvent> Parse(const std::vector<RawEvent>& raw) {
  std::vector<TimedEvent> out;
  out.reserve(raw.size());
  for (const RawEvent& r : raw) {
    nlohmann::json j = nlohmann::json::parse(r.event.json, nullptr, false);
    if (!j.is_object()) continue;
    std::string name = r.event.type;
    if (name == "job.phase") name = j.value("phase", "phase");
    absl::Time at;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, j.value("time", ""), &at, &err)) continue;
    out.push_back({r.node, r.event.job_id, std::move(name), at});
  }
  return out;
}

// Keeps every node's events while jobs run (the buses keep the last 4,096 only): a thread
// copies them every 20 ms.
class Recorder {
 public:
  explicit Recorder(Mesh& mesh) : mesh_(mesh) {
    for (size_t i = 0; i < mesh.size(); ++i) cursors_.push_back(mesh.node(i).events().last_seq());
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        DrainAll();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  // Stops and returns the events.
  std::vector<RawEvent> Finish() {
    stop_ = true;
    thread_.join();
    DrainAll();
    return std::move(events_);
  }

 private:
  void DrainAll() {
    for (size_t n = 0; n < mesh_.size(); ++n) {
      Drain(mesh_.node(n).events(), static_cast<char>('A' + n), cursors_[n], events_);
    }
  }
  Mesh& mesh_;
  std::vector<uint64_t> cursors_;
  std::vector<RawEvent> events_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Segment {
  const char* label;
  const char* from;  // "A:job.queued", "X:job.running" (X = the executor), "submit", "observed"
  const char* to;
};

// The path of one delegated job, in order. Each time is when that node published the event
// (history phases: before their block is written; job.* events: after the job store write).
constexpr Segment kRemoteSegments[] = {
    {"submit: sign, placement, job row + block (A)", "submit", "A:job.queued"},
    {"open round: announce built, bidding_open block (A)", "A:job.queued", "A:bidding_open"},
    {"announce -> both bids back, window closes (A<->B,C)", "A:bidding_open", "A:bidding_closed"},
    {"select + bidding_closed block + set market (A)", "A:bidding_closed", "A:assigned"},
    {"assignment -> executor accepted, fetched, queued (X)", "A:assigned", "X:job.queued"},
    {"executor queue wait + mark running (X)", "X:job.queued", "X:job.running"},
    {"run: load, sandbox, output, finish row (X)", "X:job.running", "X:job.succeeded"},
    {"receipt: seal, send, check, fetch output (X->A)", "X:job.succeeded", "A:receipt"},
    {"finish: job row + completed block (A)", "A:receipt", "A:job.succeeded"},
    {"event -> submitter wakes (A)", "A:job.succeeded", "observed"},
};

constexpr Segment kLocalSegments[] = {
    {"submit: sign, job row + block", "submit", "A:job.queued"},
    {"queue wait + mark running", "A:job.queued", "A:job.running"},
    {"run: load, sandbox, output, finish row", "A:job.running", "A:job.succeeded"},
    {"event -> submitter wakes", "A:job.succeeded", "observed"},
};

template <size_t N>
void Breakdown(const char* title, const Segment (&segments)[N], const std::vector<JobOutcome>& jobs,
               const std::vector<TimedEvent>& events, const Mesh& mesh) {
  std::map<std::string, std::map<std::string, absl::Time>> by_job;  // first time of each event
  std::map<std::string, char> executor_of;
  for (const JobOutcome& j : jobs) {
    by_job[j.id]["submit"] = j.submitted;
    by_job[j.id]["observed"] = j.observed;
    if (!j.executor.empty()) executor_of[j.id] = mesh.Letter(j.executor);
  }
  for (const TimedEvent& e : events) {
    auto it = by_job.find(e.job_id);
    if (it == by_job.end()) continue;
    char who = e.node;
    if (auto x = executor_of.find(e.job_id); x != executor_of.end() && x->second == e.node) {
      who = 'X';
    }
    const std::string key = std::string(1, who) + ":" + e.name;
    it->second.emplace(key, e.at);  // first occurrence wins
  }
  std::printf("\n%s (medians over %zu jobs; ms):\n", title, jobs.size());
  double sum = 0;
  size_t complete = 0;
  for (const Segment& s : segments) {
    std::vector<double> ms;
    for (auto& [id, t] : by_job) {
      auto a = t.find(s.from), b = t.find(s.to);
      if (a == t.end() || b == t.end()) continue;
      ms.push_back(absl::ToDoubleMilliseconds(b->second - a->second));
    }
    const Latency l = Summarize(ms);
    sum += l.p50;
    complete = std::max(complete, ms.size());
    std::printf("  %-58s p50 %7.3f  p90 %7.3f  p99 %7.3f  (n=%zu)\n", s.label, l.p50, l.p90, l.p99,
                l.n);
  }
  std::printf("  %-58s %7.3f\n", "sum of the medians", sum);
  // Out-of-line steps: the submitter marks the job running once the executor's ack is back.
  std::vector<double> ack;
  for (auto& [id, t] : by_job) {
    auto a = t.find("A:assigned"), b = t.find("A:job.running");
    if (a != t.end() && b != t.end())
      ack.push_back(absl::ToDoubleMilliseconds(b->second - a->second));
  }
  if (!ack.empty()) {
    std::printf("  (A: assigned -> job.running after the ack, off the path: p50 %.3f ms)\n",
                Summarize(ack).p50);
  }
}

// What the submitter's market did, from A's history phases: rounds, declines, the load (per
// slot, queued work included, or what A assigned since the bid if higher) the winners were
// scored with, assignments an executor refused ("requeued") and jobs that had to wait.
void PrintMarketActivity(const std::vector<RawEvent>& raw) {
  size_t rounds = 0, no_winner = 0, declines = 0, requeued = 0, waiting = 0;
  std::vector<double> winner_load, loser_load;
  std::map<std::string, size_t> refusals;  // reason (up to its first ':') -> count
  for (const RawEvent& r : raw) {
    if (r.node != 'A') continue;
    if (r.event.type == "job.waiting") ++waiting;
    if (r.event.type != "job.phase") continue;
    nlohmann::json j = nlohmann::json::parse(r.event.json, nullptr, false);
    if (!j.is_object()) continue;
    const std::string phase = j.value("phase", "");
    if (phase == "requeued") {
      ++requeued;
      const std::string reason = j.value("reason", "");
      ++refusals[reason.substr(0, reason.find(':', reason.find(':') + 1))];
    }
    if (phase != "bidding_closed") continue;
    ++rounds;
    if (j.contains("declines") && j["declines"].is_array()) declines += j["declines"].size();
    const nlohmann::json& sel = j.contains("selection") ? j["selection"] : nlohmann::json();
    if (!sel.is_object() || !sel.value("has_winner", false)) ++no_winner;
    if (!sel.is_object() || !sel.contains("ranked")) continue;
    for (const nlohmann::json& b : sel["ranked"]) {
      (b.value("won", false) ? winner_load : loser_load).push_back(b.value("load", 0.0));
    }
  }
  const Latency w = Summarize(winner_load), l = Summarize(loser_load);
  std::printf(
      "  market on A: %zu rounds closed (%zu without a winner), %zu declines, %zu assignments "
      "refused (requeued), %zu job.waiting\n  load per slot scored, winners: p50 %.2f p90 %.2f "
      "max %.2f; losers: p50 %.2f p90 %.2f max %.2f\n",
      rounds, no_winner, declines, requeued, waiting, w.p50, w.p90, w.max, l.p50, l.p90, l.max);
  for (const auto& [reason, n] : refusals)
    std::printf("    requeued %zux: %s\n", n, reason.c_str());
}

void PrintLatency(const char* what, const Latency& l) {
  std::printf("  %-36s p50 %7.3f ms  p90 %7.3f  p99 %7.3f  max %7.3f  mean %7.3f  (n=%zu)\n", what,
              l.p50, l.p90, l.p99, l.max, l.mean, l.n);
}

// Prints a histogram's count and mean from the node's /metrics text.
void PrintHistogram(Node& n, const std::string& name, double* count_out = nullptr,
                    double* sum_out = nullptr) {
  const std::string text = n.metrics().RenderText();
  std::istringstream in(text);
  std::string line;
  double count = 0, sum = 0;
  std::vector<std::string> buckets;
  while (std::getline(in, line)) {
    if (line.rfind(name + "_count", 0) == 0) count = std::stod(line.substr(line.rfind(' ') + 1));
    if (line.rfind(name + "_sum", 0) == 0) sum = std::stod(line.substr(line.rfind(' ') + 1));
    if (line.rfind(name + "_bucket", 0) == 0) buckets.push_back(line);
  }
  if (count_out != nullptr) *count_out = count;
  if (sum_out != nullptr) *sum_out = sum;
  std::printf("  %s: count %.0f, mean %.3f ms; cumulative buckets:", name.c_str(), count,
              count > 0 ? 1000 * sum / count : 0);
  for (const std::string& b : buckets) {
    const size_t le = b.find("le=\"");
    if (le == std::string::npos) continue;
    std::printf(" %s", b.substr(le + 4, b.find('"', le + 4) - le - 4).c_str());
    std::printf("=%s", b.substr(b.rfind(' ') + 1).c_str());
  }
  std::printf("\n");
}

// The market's counters on every node (non-zero series only), to see declines, waits and
// fetches.
void PrintCounters(Mesh& mesh) {
  static const char* kNames[] = {
      "mesh_market_auctions_closed_total",   "mesh_market_declines_received_total",
      "mesh_market_executor_failures_total", "mesh_market_receipts_total",
      "mesh_market_assignments_total",       "mesh_net_blob_bytes_fetched_total",
      "mesh_net_messages_refused_total",     "mesh_market_step_commits_total",
      "mesh_market_step_writes_total",       "mesh_net_messages_total",
      "mesh_market_announcements_total",     "mesh_market_bids_sent_total"};
  for (size_t i = 0; i < mesh.size(); ++i) {
    std::istringstream in(mesh.node(i).metrics().RenderText());
    std::string line, out;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#' || line.ends_with(" 0")) continue;
      for (const char* name : kNames) {
        if (line.rfind(name, 0) == 0) out += " " + line.substr(std::strlen("mesh_")) + ";";
      }
    }
    std::printf("  node %c:%s\n", static_cast<char>('A' + i), out.empty() ? " -" : out.c_str());
  }
}

// The history phases the last delegated job left on A and on its executor.
void PrintPhases(Mesh& mesh, const JobOutcome& job) {
  for (size_t i = 0; i < mesh.size(); ++i) {
    auto blocks = mesh.node(i).jobs().History(job.id);
    if (!blocks.ok()) continue;
    std::printf("  history blocks of a delegated job on %c (%zu):", static_cast<char>('A' + i),
                blocks->size());
    for (const auto& b : *blocks) std::printf(" %s", b.phase.c_str());
    std::printf("\n");
  }
}

struct LatencyResult {
  Latency remote, local;
};

LatencyResult RunLatency(const Options& o, Mesh& mesh, const std::string& module) {
  Node& a = mesh.node(0);
  Waker waker;
  for (int i = 0; i < o.warmup; ++i) {
    if (SubmitAndWait(a, module, "remote", waker, false).final_type != "job.succeeded") {
      Die("warm-up: a remote noop job did not succeed");
    }
    if (SubmitAndWait(a, module, "local", waker, false).final_type != "job.succeeded") {
      Die("warm-up: a local noop job did not succeed");
    }
  }
  std::vector<uint64_t> cursors;
  for (size_t i = 0; i < mesh.size(); ++i) cursors.push_back(mesh.node(i).events().last_seq());
  std::vector<RawEvent> raw;
  std::vector<JobOutcome> remote, local;
  std::vector<double> remote_ms, local_ms;
  std::map<char, int> per_executor;
  std::vector<double> remote_cpu, local_cpu;
  for (int i = 0; i < o.jobs; ++i) {
    // Interleaved, so the machine's noise falls on both alike.
    const double c0 = ProcessCpuMs();
    JobOutcome l = SubmitAndWait(a, module, "local", waker, false);
    const double c1 = ProcessCpuMs();
    JobOutcome r = SubmitAndWait(a, module, "remote", waker, true);
    const double c2 = ProcessCpuMs();
    local_cpu.push_back(c1 - c0);
    remote_cpu.push_back(c2 - c1);
    if (l.final_type != "job.succeeded" || r.final_type != "job.succeeded") {
      Die("a measured job did not succeed: local " + l.final_type + ", remote " + r.final_type);
    }
    local_ms.push_back(l.ms);
    remote_ms.push_back(r.ms);
    ++per_executor[mesh.Letter(r.executor)];
    local.push_back(std::move(l));
    remote.push_back(std::move(r));
    // Outside the timed part: keep every event for the breakdown (the ring holds 4,096).
    for (size_t n = 0; n < mesh.size(); ++n) {
      Drain(mesh.node(n).events(), static_cast<char>('A' + n), cursors[n], raw);
    }
  }
  LatencyResult out{Summarize(remote_ms), Summarize(local_ms)};
  std::printf(
      "\n(a) latency, one job at a time, submit -> final state seen on A (EventBus), %d each:\n",
      o.jobs);
  PrintLatency("remote (delegated to B or C)", out.remote);
  PrintLatency("local on A (baseline)", out.local);
  std::printf("  ratio remote / local at p50: %.1fx; executors:", out.remote.p50 / out.local.p50);
  for (auto& [who, count] : per_executor) std::printf(" %c=%d", who, count);
  std::printf(
      "\n  CPU of this process (all three nodes) per job, median: remote %.3f ms, local %.3f ms\n",
      Summarize(remote_cpu).p50, Summarize(local_cpu).p50);
  std::printf("  goal p50 <= 3 ms and p99 <= 15 ms: %s\n",
              out.remote.p50 <= 3 && out.remote.p99 <= 15 ? "met" : "MISSED");
  const std::vector<TimedEvent> events = Parse(raw);
  Breakdown("where a delegated job's time goes", kRemoteSegments, remote, events, mesh);
  Breakdown("where a local job's time goes", kLocalSegments, local, events, mesh);
  PrintHistogram(a, "mesh_market_delegated_job_seconds");
  PrintPhases(mesh, remote.back());
  PrintMarketActivity(raw);
  std::printf("  market counters after the latency phase:\n");
  PrintCounters(mesh);
  return out;
}

// ---- (b) throughput ------------------------------------------------------------------------

struct Throughput {
  uint64_t jobs = 0, failed = 0;
  double seconds = 0;
  double cpu_nodes = 0, cpu_workers = 0;  // CPU seconds during the phase
  std::map<char, uint64_t> per_executor;
  std::vector<JobOutcome> outcomes;  // jobs that ended after the first second
  std::vector<RawEvent> events;
  double rate() const { return seconds > 0 ? static_cast<double>(jobs) / seconds : 0; }
};

Throughput ClosedLoop(const Options& o, Mesh& mesh, const std::string& module,
                      const std::string& placement) {
  Node& a = mesh.node(0);
  const bool remote = placement == "remote";
  std::atomic<bool> stop{false};
  std::latch go(1);
  std::vector<uint64_t> done(o.threads, 0), failed(o.threads, 0);
  std::vector<SteadyClock::time_point> last(o.threads);
  std::vector<std::map<char, uint64_t>> where(o.threads);
  std::vector<std::vector<JobOutcome>> outcomes(o.threads);
  std::vector<std::thread> pool;
  const absl::Time steady_from = absl::Now() + absl::Seconds(1);  // after the ramp-up
  for (int i = 0; i < o.threads; ++i) {
    pool.emplace_back([&, i] {
      Waker waker;
      go.wait();
      while (!stop.load(std::memory_order_relaxed)) {
        JobOutcome r = SubmitAndWait(a, module, placement, waker, remote);
        if (r.final_type == "job.succeeded") {
          ++done[i];
          last[i] = SteadyClock::now();
          if (remote) ++where[i][mesh.Letter(r.executor)];
          if (r.submitted >= steady_from) outcomes[i].push_back(std::move(r));
        } else {
          ++failed[i];
        }
      }
    });
  }
  Recorder recorder(mesh);
  const CpuSample cpu0 = SampleCpu();
  const auto t0 = SteadyClock::now();
  go.count_down();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& t : pool) t.join();
  const CpuSample cpu1 = SampleCpu();
  Throughput r;
  r.events = recorder.Finish();
  for (auto& v : outcomes) {
    for (auto& j : v) r.outcomes.push_back(std::move(j));
  }
  SteadyClock::time_point end = t0;
  for (int i = 0; i < o.threads; ++i) {
    r.jobs += done[i];
    r.failed += failed[i];
    if (done[i] > 0) end = std::max(end, last[i]);
    for (auto& [who, n] : where[i]) r.per_executor[who] += n;
  }
  r.seconds = std::chrono::duration<double>(end - t0).count();
  r.cpu_nodes = cpu1.nodes - cpu0.nodes;
  r.cpu_workers = cpu1.workers - cpu0.workers;
  return r;
}

void PrintThroughput(const char* what, const Throughput& t) {
  std::printf(
      "  %-36s %8.0f jobs/s  (%llu jobs in %.2f s, %llu failed; CPU per job: nodes %.3f ms, "
      "workers %.3f ms)",
      what, t.rate(), static_cast<unsigned long long>(t.jobs), t.seconds,
      static_cast<unsigned long long>(t.failed),
      t.jobs ? 1000 * t.cpu_nodes / static_cast<double>(t.jobs) : 0,
      t.jobs ? 1000 * t.cpu_workers / static_cast<double>(t.jobs) : 0);
  for (auto& [who, n] : t.per_executor) {
    std::printf(" %c=%llu", who, static_cast<unsigned long long>(n));
  }
  std::printf("\n");
}

struct ThroughputResult {
  double local = 0, remote = 0;  // jobs/s
  double remote_cpu_ms = 0;      // CPU of the nodes per delegated job
};

ThroughputResult RunThroughput(const Options& o, Mesh& mesh, const std::string& module) {
  double c0 = 0, s0 = 0;
  std::printf("\n(b) throughput, %d submitter threads on A, closed loop, %.0f s each:\n", o.threads,
              o.seconds);
  const Throughput local = ClosedLoop(o, mesh, module, "local");
  PrintThroughput("local on A (baseline)", local);
  // The delegated-job histogram before and after, to report this phase alone.
  std::printf("  before the remote phase:\n  ");
  PrintHistogram(mesh.node(0), "mesh_market_delegated_job_seconds", &c0, &s0);
  const Throughput remote = ClosedLoop(o, mesh, module, "remote");
  PrintThroughput("remote (delegated to B, C)", remote);
  double c1 = 0, s1 = 0;
  std::printf("  after:\n  ");
  PrintHistogram(mesh.node(0), "mesh_market_delegated_job_seconds", &c1, &s1);
  if (c1 > c0) {
    std::printf("  delegated jobs of this phase: mean submit -> verified result %.3f ms\n",
                1000 * (s1 - s0) / (c1 - c0));
  }
  Breakdown("where a local job's time goes under load (8 in flight)", kLocalSegments,
            local.outcomes, Parse(local.events), mesh);
  Breakdown("where a delegated job's time goes under load (8 in flight)", kRemoteSegments,
            remote.outcomes, Parse(remote.events), mesh);
  PrintMarketActivity(remote.events);
  std::printf("  market counters after the throughput phase:\n");
  PrintCounters(mesh);
  std::printf("  ratio remote / local: %.2fx\n  goal >= 1,000 delegated jobs/s: %s\n",
              local.rate() > 0 ? remote.rate() / local.rate() : 0,
              remote.rate() >= 1000 ? "met" : "MISSED");
  return {local.rate(), remote.rate(),
          remote.jobs ? 1000 * remote.cpu_nodes / static_cast<double>(remote.jobs) : 0};
}

// ---- (c) blob transfer ---------------------------------------------------------------------

std::string RandomBytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, 8);
  }
  return out;
}

// Serves the blob store's blobs by CID text ("memory" = the bytes from RAM), as a node does.
class BlobHandler final : public mesh::net::Handler {
 public:
  BlobHandler(mesh::cas::BlobStore* store, const std::string* memory)
      : store_(store), memory_(memory) {}
  absl::StatusOr<std::string> OnMessage(const mesh::crypto::DidKey&, std::string_view,
                                        int) override {
    return std::string();
  }
  absl::StatusOr<std::unique_ptr<mesh::cas::ByteSource>> OpenBlob(
      const mesh::crypto::DidKey&, std::string_view request) override {
    if (request == "memory") return std::make_unique<mesh::cas::StringSource>(*memory_);
    auto cid = mesh::cas::Cid::Parse(std::string(request));
    if (!cid.ok()) return cid.status();
    auto reader = store_->Open(*cid);
    if (!reader.ok()) return reader.status();
    return std::unique_ptr<mesh::cas::ByteSource>(*std::move(reader));
  }

 private:
  mesh::cas::BlobStore* store_;
  const std::string* memory_;
};

double MBps(uint64_t bytes, double seconds) { return static_cast<double>(bytes) / seconds / 1e6; }

void PrintRates(const char* what, const std::vector<double>& rates) {
  std::vector<double> s = rates;
  std::sort(s.begin(), s.end());
  std::printf("  %-52s median %7.0f MB/s  (min %.0f, max %.0f; %zu runs)\n", what, s[s.size() / 2],
              s.front(), s.back(), s.size());
}

struct BlobResult {
  double local = 0, fetch = 0, memory = 0;  // medians, MB/s
};

BlobResult RunBlob(const Options& o, const std::filesystem::path& root) {
  const uint64_t size = uint64_t(o.blob_mib) << 20;
  mesh::SystemClock clock;
  auto store = mesh::cas::BlobStore::Open({.root = root / "blobs", .durable = false}, clock);
  if (!store.ok()) Die("blob store: " + std::string(store.status().message()));
  std::string bytes = RandomBytes(size, 0x9e3779b97f4a7c15ull);
  auto cid = (*store)->PutBytes(bytes);
  if (!cid.ok()) Die("put: " + std::string(cid.status().message()));
  const std::string cid_text = cid->ToString();
  std::printf("\n(c) blob transfer, %d MiB blob (MB = 10^6 bytes), page cache warm:\n", o.blob_mib);

  // Baseline: the verified streaming reader, in wire-sized chunks.
  std::vector<double> local;
  std::string buffer(mesh::net::kBlobChunkBytes, '\0');
  for (int i = 0; i < o.repeats + 1; ++i) {  // the first run warms the page cache
    const auto t0 = SteadyClock::now();
    auto reader = (*store)->Open(*cid);
    if (!reader.ok()) Die("open: " + std::string(reader.status().message()));
    uint64_t got = 0;
    while (true) {
      auto n = (*reader)->Read(buffer.data(), buffer.size());
      if (!n.ok()) Die("read: " + std::string(n.status().message()));
      if (*n == 0) break;
      got += *n;
    }
    if (got != size) Die("short local read");
    if (i > 0) local.push_back(MBps(size, MsSince(t0) / 1000));
  }

  mesh::crypto::KeyPair server_key = mesh::crypto::KeyPair::Generate();
  mesh::crypto::KeyPair client_key = mesh::crypto::KeyPair::Generate();
  BlobHandler handler(store->get(), &bytes);
  BlobHandler client_handler(store->get(), &bytes);
  auto server = mesh::net::MakeGrpcTransport(server_key, {});
  auto client = mesh::net::MakeGrpcTransport(client_key, {});
  if (!server.ok() || !client.ok()) Die("transport");
  if (!(*server)->Start(&handler).ok() || !(*client)->Start(&client_handler).ok()) {
    Die("transport start");
  }
  const mesh::net::Endpoint from{(*server)->address(), server_key.did()};

  auto fetch = [&](const std::string& request, bool hash) {
    uint64_t got = 0;
    mesh::crypto::Sha256 sha;
    const auto t0 = SteadyClock::now();
    absl::Status s = (*client)->FetchBlob(from, request, absl::Minutes(5), [&](std::string_view c) {
      got += c.size();
      if (hash) sha.Update(c);
      return absl::OkStatus();
    });
    const double ms = MsSince(t0);
    if (!s.ok()) Die("fetch: " + std::string(s.message()));
    if (got != size) Die("short fetch");
    if (hash && mesh::cas::Cid::FromDigest(sha.Finish(), cid->codec()) != *cid) {
      Die("fetched bytes do not hash to the CID");
    }
    return MBps(size, ms / 1000);
  };
  // What a node does with a fetched blob: node::FetchBlobFrom into its own store (hashed and
  // written once as chunks arrive, visible after the CID matched), deleted again after each run.
  auto fetched_store =
      mesh::cas::BlobStore::Open({.root = root / "fetched", .durable = false}, clock);
  if (!fetched_store.ok()) Die("blob store: " + std::string(fetched_store.status().message()));
  auto fetch_into_store = [&] {
    const auto t0 = SteadyClock::now();
    absl::StatusOr<uint64_t> got = mesh::node::FetchBlobFrom(**client, from, cid_text, *cid, size,
                                                             absl::Minutes(5), **fetched_store);
    const double ms = MsSince(t0);
    if (!got.ok()) Die("fetch into store: " + std::string(got.status().message()));
    if (*got != size) Die("short fetch into store");
    if (!(*fetched_store)->Delete(*cid).ok()) Die("delete fetched blob");
    return MBps(size, ms / 1000);
  };
  (void)fetch("memory", false);  // connect, TLS handshake, warm the flow-control window
  std::vector<double> grpc_store, grpc_memory, grpc_hashed, grpc_node;
  for (int i = 0; i < o.repeats; ++i) {
    grpc_store.push_back(fetch(cid_text, false));
    grpc_memory.push_back(fetch("memory", false));
    grpc_hashed.push_back(fetch(cid_text, true));
    grpc_node.push_back(fetch_into_store());
  }
  PrintRates("local BlobStore reader, verified (baseline)", local);
  PrintRates("FetchBlob over mTLS, served from the BlobStore", grpc_store);
  PrintRates("  (served from memory: the transport alone)", grpc_memory);
  PrintRates("  (from the BlobStore, client hashes too: a node's fetch)", grpc_hashed);
  PrintRates("  (node::FetchBlobFrom into a BlobStore, durable = false)", grpc_node);
  std::sort(grpc_store.begin(), grpc_store.end());
  std::sort(local.begin(), local.end());
  const double median = grpc_store[grpc_store.size() / 2];
  const double ratio = median / local[local.size() / 2];
  std::printf("  ratio FetchBlob / local read: %.2fx\n  goal >= 800 MB/s and >= 0.5x: %s\n", ratio,
              median >= 800 && ratio >= 0.5 ? "met" : "MISSED");
  (*client)->Shutdown();
  (*server)->Shutdown();
  std::sort(grpc_memory.begin(), grpc_memory.end());
  return {local[local.size() / 2], median, grpc_memory[grpc_memory.size() / 2]};
}

// ---- probes: the floor under the market's steps ----------------------------------------------

// Answers every message with an envelope of the same size (as a bid answers an announcement).
class EchoHandler final : public mesh::net::Handler {
 public:
  absl::StatusOr<std::string> OnMessage(const mesh::crypto::DidKey&, std::string_view envelope,
                                        int) override {
    return std::string(envelope);
  }
  absl::StatusOr<std::unique_ptr<mesh::cas::ByteSource>> OpenBlob(const mesh::crypto::DidKey&,
                                                                  std::string_view) override {
    return absl::NotFoundError("no blobs here");
  }
};

void RunProbes(const Options& o, const std::filesystem::path& root) {
  std::printf("\nprobes (what one step of the market costs at least on this machine):\n");
  {
    mesh::crypto::KeyPair ka = mesh::crypto::KeyPair::Generate();
    mesh::crypto::KeyPair kb = mesh::crypto::KeyPair::Generate();
    EchoHandler ha, hb;
    auto ta = mesh::net::MakeGrpcTransport(ka, {});
    auto tb = mesh::net::MakeGrpcTransport(kb, {});
    if (!ta.ok() || !tb.ok() || !(*ta)->Start(&ha).ok() || !(*tb)->Start(&hb).ok()) {
      Die("probe transports");
    }
    const mesh::net::Endpoint to{(*tb)->address(), kb.did()};
    const std::string envelope(1024, 'x');
    auto send = [&] {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false, ok = false;
      (*ta)->Send(to, envelope, 1, absl::Seconds(5), [&](absl::StatusOr<std::string> r) {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
        ok = r.ok() && r->size() == envelope.size();
        cv.notify_one();
      });
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done; });
      if (!ok) Die("probe: a Send failed");
    };
    for (int i = 0; i < 200; ++i) send();
    std::vector<double> ms;
    for (int i = 0; i < 2000; ++i) {
      const auto t0 = SteadyClock::now();
      send();
      ms.push_back(MsSince(t0));
    }
    PrintLatency("gRPC + mTLS Send, 1 KiB both ways", Summarize(ms));
    (*ta)->Shutdown();
    (*tb)->Shutdown();
  }
  mesh::SystemClock clock;
  for (bool durable : {true, false}) {
    auto store = mesh::cas::BlobStore::Open(
        {.root = root / (durable ? "probe-durable" : "probe-fast"), .durable = durable}, clock);
    if (!store.ok()) Die("probe store");
    std::vector<double> ms;
    for (int i = 0; i < 300; ++i) {
      std::string receipt = RandomBytes(1200, 77 + i + (durable ? 1000 : 0));  // new bytes each
      const auto t0 = SteadyClock::now();
      if (!(*store)->PutBytes(receipt).ok()) Die("probe put");
      ms.push_back(MsSince(t0));
    }
    PrintLatency(durable ? "BlobStore::PutBytes 1.2 KB, durable" : "  the same, durable = false",
                 Summarize(ms));
  }
  (void)o;
}

// ---- main ----------------------------------------------------------------------------------

// Short (scripts/bench): no probes, fewer jobs, shorter phases, a smaller blob; flags still win.
Options ParseArgs(int argc, char** argv, bool short_mode) {
  Options o;
  if (short_mode) {
    o.only = {"latency", "throughput", "blob"};
    o.jobs = 300;
    o.warmup = 50;
    o.seconds = 3;
    o.blob_mib = 128;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--worker") {
      o.worker = value();
    } else if (arg == "--examples") {
      o.examples = value();
    } else if (arg == "--engine") {
      o.engine = value();
      if (o.engine != "interp" && o.engine != "aot") Die("--engine: interp or aot");
    } else if (arg == "--only") {
      o.only.clear();
      std::istringstream in(value());
      std::string part;
      while (std::getline(in, part, ',')) o.only.insert(part);
    } else if (arg == "--jobs") {
      o.jobs = std::stoi(value());
    } else if (arg == "--warmup") {
      o.warmup = std::stoi(value());
    } else if (arg == "--seconds") {
      o.seconds = std::stod(value());
    } else if (arg == "--threads") {
      o.threads = std::stoi(value());
    } else if (arg == "--workers") {
      o.workers = std::stoi(value());
    } else if (arg == "--blob-mib") {
      o.blob_mib = std::stoi(value());
    } else if (arg == "--repeats") {
      o.repeats = std::max(1, std::stoi(value()));
    } else if (arg == "--lease-ms") {
      o.lease_ms = std::max(0, std::stoi(value()));
    } else {
      Die("unknown argument " + arg +
          " (--only probes,latency,throughput,blob --jobs N --warmup N --seconds S --threads N "
          "--workers N --engine interp|aot --blob-mib N --repeats N --lease-ms N --worker PATH "
          "--examples DIR --short --json FILE)");
    }
  }
  return o;
}

// The figures and issue 15's goals for them.
void AddRecords(mesh::bench::Report& report, const Options& o,
                const std::optional<LatencyResult>& latency,
                const std::optional<ThroughputResult>& throughput,
                const std::optional<BlobResult>& blob) {
  using mesh::bench::Goal;
  using mesh::bench::RatioOf;
  if (latency) {
    report.Add({.figure = "delegated job p50, one at a time (baseline: local on A)",
                .value = latency->remote.p50,
                .unit = "ms",
                .baseline = latency->local.p50,
                .ratio = RatioOf(latency->remote.p50, latency->local.p50),
                .goal = Goal().ValueAtMost(3)});
    report.Add({.figure = "delegated job p99, one at a time (baseline: local on A)",
                .value = latency->remote.p99,
                .unit = "ms",
                .baseline = latency->local.p99,
                .ratio = RatioOf(latency->remote.p99, latency->local.p99),
                .goal = Goal().ValueAtMost(15)});
  }
  if (throughput) {
    report.Add({.figure = "delegated jobs/s, " + std::to_string(o.threads) +
                          " submitters (baseline: local on A)",
                .value = throughput->remote,
                .unit = "jobs/s",
                .baseline = throughput->local,
                .ratio = RatioOf(throughput->remote, throughput->local),
                .goal = Goal().ValueAtLeast(1000).RatioAtLeast(0.8)});
    report.Add({.figure = "CPU of the three nodes per delegated job, under load",
                .value = throughput->remote_cpu_ms,
                .unit = "ms"});
  }
  if (blob) {
    const std::string size = std::to_string(o.blob_mib) + " MiB";
    report.Add({.figure = "FetchBlob " + size + " over mTLS (baseline: local verified read)",
                .value = blob->fetch,
                .unit = "MB/s",
                .baseline = blob->local,
                .ratio = RatioOf(blob->fetch, blob->local),
                .goal = Goal().ValueAtLeast(800).RatioAtLeast(0.5)});
    report.Add({.figure = "FetchBlob " + size + " served from memory (the transport alone)",
                .value = blob->memory,
                .unit = "MB/s"});
  }
}

}  // namespace

int main(int argc, char** argv) {
  mesh::TuneProcess();  // As meshd does, before any thread starts.
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) Die(error);
  const Options o = ParseArgs(argc, argv, common.short_mode);
  std::optional<LatencyResult> latency;
  std::optional<ThroughputResult> throughput;
  std::optional<BlobResult> blob;
  spdlog::set_level(spdlog::level::warn);
  if (o.engine == "aot" && std::getenv("XDG_CACHE_HOME") == nullptr) {
    ::setenv("XDG_CACHE_HOME", "/tmp/mesh_bench_cache", 1);  // the workers' aot cache
  }
  char tmpl[] = "/tmp/mesh_bench_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  const std::filesystem::path root = tmpl;
  std::printf("mesh_bench: %u cores, engine %s, max_concurrent %d per node, data under %s\n",
              std::thread::hardware_concurrency(), o.engine.c_str(),
              o.workers > 0 ? o.workers : static_cast<int>(std::thread::hardware_concurrency()),
              root.c_str());
  if (o.only.contains("probes")) RunProbes(o, root);
  if (o.only.contains("latency") || o.only.contains("throughput")) {
    auto module = mesh::ReadFileToString(o.examples + "/noop.wasm", 1 << 20);
    if (!module.ok()) Die("noop.wasm: " + std::string(module.status().message()));
    Mesh mesh(o, root);
    Node& a = mesh.Add();
    mesh.Add();
    mesh.Add();
    mesh.WaitFormed();
    auto cid = a.blobs().PutBytes(*module);
    if (!cid.ok()) Die("put noop.wasm: " + std::string(cid.status().message()));
    const std::string noop = cid->ToString();
    if (o.only.contains("latency")) latency = RunLatency(o, mesh, noop);
    std::fflush(stdout);
    if (o.only.contains("throughput")) throughput = RunThroughput(o, mesh, noop);
    std::fflush(stdout);
  }
  if (o.only.contains("blob")) blob = RunBlob(o, root);
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  mesh::bench::Report report("mesh_bench");
  AddRecords(report, o, latency, throughput, blob);
  std::printf("\nfigures and goals (issue 15):\n%s", report.Text().c_str());
  if (absl::Status s = report.Write(common.json); !s.ok()) Die(std::string(s.message()));
  return 0;
}
