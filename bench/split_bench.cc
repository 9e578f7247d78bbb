// Split jobs: a 1000x1000 float64 matrix product (examples/matmul.c, `--block N`) split into row
// blocks across in-process meshes, against one unsplit run of the same module on a single node,
// all with the aot engine, all in this run:
//
//  baseline   one node (mesh off, one slot): the whole product as one job.
//  1 executor submitter A + executor B (one slot): the product in --chunks chunks.
//  2 executors submitter A + executors B and C (one slot each).
//
// The three set-ups live at once and take turns, round by round (--repeats rounds, after one
// unmeasured round that compiles the module on every executor): a noisy moment of the machine
// falls on all of them alike. Reported: the median submit -> merged result of each, and the
// speed-up as the median (and range) of the per-round ratios baseline / split. Every result is
// checked byte for byte against the product computed here natively.
//
// Overhead per chunk: 100 chunks of the empty job (examples/noop.c) on the 2-executor mesh, time
// per chunk, against a local empty job on one node (submit -> end) measured in the same run. And
// with the 8 MB broadcast input: 100 chunks of one row of A each (every chunk reads B whole),
// per chunk, against one such chunk run locally.
//
// A plain binary, not Google Benchmark (whole meshes, seconds per sample).
//
//   build/release/bench/split_bench                     # N=1000, 10 chunks, 5 rounds, ~1 min
//   build/release/bench/split_bench --n 500 --chunks 20 --repeats 5
//   build/release/bench/split_bench --short --json FILE  (3 rounds; the figures as JSON records)
#include <sys/resource.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench_report.h"
#include "bench_stats.h"
#include "job_wait.h"
#include "mesh/common/clock.h"
#include "mesh/common/file_util.h"
#include "mesh/common/process_tuning.h"
#include "mesh/common/rng.h"
#include "mesh/common/strings.h"
#include "mesh/exec/worker_pool.h"
#include "mesh/node/node.h"
#include "spdlog/spdlog.h"

namespace {

using mesh::bench::Median;
using mesh::bench::MsSince;
using mesh::bench::SteadyClock;
using mesh::node::JobRecord;
using mesh::node::Node;
using mesh::node::NodeConfig;

struct Options {
  uint32_t n = 1000;
  uint32_t chunks = 10;
  int repeats = 5;
  int overhead_chunks = 100;
  bool timeline = false;   // print when each chunk of one more 2-executor run ran
  bool pool_only = false;  // only the pool's copied against shared input (PoolInputs)
  std::string worker = MESH_WORKER_PATH;
  std::string examples = MESH_EXAMPLES_DIR;
  std::string json;  // --json FILE: the figures as records (bench_report.h)
};

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "split_bench: %s\n", why.c_str());
  std::exit(1);
}

// examples/matmul.c's generator and loop order, natively.
struct Product {
  std::string a, b, c;
};

Product MakeProduct(uint32_t n) {
  const size_t count = size_t{n} * n;
  std::vector<double> a(count), b(count), c(count, 0.0);
  uint64_t state = 7;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * (1.0 / 4503599627370496.0) - 1.0;
  };
  for (double& x : a) x = next();
  for (double& x : b) x = next();
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < n; ++k) {
      const double aik = a[i * n + k];
      double* ci = &c[i * n];
      const double* bk = &b[k * n];
      for (size_t j = 0; j < n; ++j) {
        volatile double p = aik * bk[j];  // no FMA: the same rounding as the module
        ci[j] += p;
      }
    }
  }
  auto bytes = [](const std::vector<double>& v) {
    std::string s(v.size() * 8, '\0');
    std::memcpy(s.data(), v.data(), s.size());
    return s;
  };
  return {bytes(a), bytes(b), bytes(c)};
}

class Mesh {
 public:
  Mesh(const Options& o, std::filesystem::path root) : o_(o), root_(std::move(root)) {}
  ~Mesh() {
    for (auto& m : members_) m->node->Drain(absl::ZeroDuration());
  }

  Node& Add(bool mesh_on, int slots) {
    auto m = std::make_unique<Member>();
    NodeConfig c;
    c.data_dir = root_ / ("n" + std::to_string(members_.size()));
    c.listen_port = 0;
    c.max_concurrent = slots;
    c.engine = mesh::wasm::EngineKind::kAot;
    // Jobs wait for their module's aot compile (each node has its own cache) rather than run on
    // the interpreter meanwhile: on a loaded machine the compile outlasts the default wait, and
    // the measured rounds would time the interpreter.
    c.max_compile_wait = absl::Minutes(10);
    c.worker_path = o_.worker;
    c.mesh.enabled = mesh_on;
    // Enough credits for every run: the bench measures speed, not the ledger's limits.
    c.trust.regen.cap = int64_t{1} << 50;
    c.mesh.listen = "127.0.0.1:0";
    if (!members_.empty()) c.mesh.peers = {members_[0]->node->mesh()->address()};
    absl::StatusOr<std::unique_ptr<Node>> node = Node::Start(c, clock_, m->rng);
    if (!node.ok()) Die("node start: " + std::string(node.status().message()));
    m->node = *std::move(node);
    members_.push_back(std::move(m));
    return *members_.back()->node;
  }

  std::vector<Node*> nodes() const {
    std::vector<Node*> out;
    for (const auto& m : members_) out.push_back(m->node.get());
    return out;
  }

  void WaitFormed() {
    const auto t0 = SteadyClock::now();
    for (;;) {
      bool all = true;
      for (auto& m : members_) {
        if (m->node->mesh()->Stats().peers_alive + 1 < members_.size()) all = false;
      }
      if (all) return;
      if (MsSince(t0) > 30000) Die("the mesh did not form within 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  struct Member {
    mesh::SecureRng rng;
    std::unique_ptr<Node> node;
  };
  const Options& o_;
  std::filesystem::path root_;
  mesh::SystemClock clock_;
  std::vector<std::unique_ptr<Member>> members_;
};

std::string Put(Node& n, std::string_view bytes) {
  absl::StatusOr<mesh::cas::Cid> cid = n.blobs().PutBytes(bytes);
  if (!cid.ok()) Die("put: " + std::string(cid.status().message()));
  return cid->ToString();
}

std::string Example(const Options& o, const std::string& name) {
  absl::StatusOr<std::string> bytes =
      mesh::ReadFileToString(o.examples + "/" + name + ".wasm", 64 << 20);
  if (!bytes.ok()) Die("cannot read example " + name);
  return *bytes;
}

// Submits and waits for the end (woken by the job's events); returns the record.
JobRecord Run(Node& n, mesh::node::SubmitRequest request) {
  absl::StatusOr<mesh::node::SubmitResult> submitted = n.compute().Submit(std::move(request));
  if (!submitted.ok()) Die("submit: " + std::string(submitted.status().message()));
  absl::StatusOr<JobRecord> job = mesh::bench::WaitEnded(n, submitted->job.id);
  if (!job.ok()) Die("job " + submitted->job.id + ": " + std::string(job.status().message()));
  return *job;
}

std::string Output(Node& n, const JobRecord& job) {
  absl::StatusOr<mesh::cas::Cid> cid = mesh::cas::Cid::Parse(job.output_cid);
  if (!cid.ok()) Die("job " + job.id + " has no output: " + job.reason);
  absl::StatusOr<std::string> bytes = n.blobs().Get(*cid, 1ull << 30);
  if (!bytes.ok()) Die("output: " + std::string(bytes.status().message()));
  return *bytes;
}

mesh::node::SubmitRequest MatmulRequest(Node& n, const Options& o, const Product& p, bool split) {
  mesh::node::SubmitRequest r;
  r.spec.module = Put(n, Example(o, "matmul"));
  r.spec.inputs = {Put(n, p.a), Put(n, p.b)};
  r.spec.args = {"--block", std::to_string(o.n)};
  r.spec.limits.fuel = 500'000'000'000;
  r.spec.limits.memory_bytes = 512ull << 20;
  r.spec.limits.wall_time_ms = 600'000;
  if (split) {
    mesh::job::SplitSpec s;
    s.splitter.kind = mesh::job::Splitter::kBytes;
    const uint64_t rows = (o.n + o.chunks - 1) / o.chunks;
    s.splitter.chunk_bytes = rows * o.n * 8;
    r.spec.split = s;
    r.spec.placement = "remote";
  } else {
    r.spec.placement = "local";
  }
  return r;
}

// One run of the product, checked byte for byte; its time in ms. `executors` gets the chunks each
// executor ran (split runs).
double RunOnce(Node& submitter, const Options& o, const Product& p, bool split,
               std::string* executors, std::string* id = nullptr) {
  // Timed from the submission: putting the module and the inputs into the blob store (16 MB
  // hashed again each run) comes before it, as it would for a user.
  mesh::node::SubmitRequest request = MatmulRequest(submitter, o, p, split);
  const auto t0 = SteadyClock::now();
  JobRecord job = Run(submitter, std::move(request));
  if (id != nullptr) *id = job.id;
  const double took = MsSince(t0);
  if (job.state != mesh::job::JobState::kSucceeded) Die("matmul job failed: " + job.reason);
  if (Output(submitter, job) != p.c) Die("the product differs from the native one");
  if (split && executors != nullptr) {
    *executors = nlohmann::json::parse(job.report_json)["split"]["executors"].dump();
  }
  return took;
}

// The figures of one run (medians, ms) and issue 15's goals for them.
struct Figures {
  double base = 0, one = 0, two = 0;        // one aot run on one node; split on 1 and 2 executors
  double speedup_one = 0, speedup_two = 0;  // medians of the per-round ratios base / split
  double per_chunk = 0, local_empty = 0;    // overhead per empty chunk; a local empty job
};

void AddRecords(mesh::bench::Report& report, const Options& o, const Figures& f) {
  using mesh::bench::Goal;
  const std::string product = std::to_string(o.n) + "x" + std::to_string(o.n) + " in " +
                              std::to_string(o.chunks) + " chunks";
  report.Add({.figure = product + " on 2 executors, speed-up over one aot run",
              .value = f.two,
              .unit = "ms",
              .baseline = f.base,
              .ratio = f.speedup_two,
              .goal = Goal().RatioAtLeast(1.7)});
  report.Add({.figure = product + " on 1 executor, speed-up over one aot run",
              .value = f.one,
              .unit = "ms",
              .baseline = f.base,
              .ratio = f.speedup_one,
              .goal = Goal().RatioAtLeast(0.9)});
  report.Add({.figure = "overhead per chunk, " + std::to_string(o.overhead_chunks) +
                        " empty chunks on 2 executors (baseline: a local empty job)",
              .value = f.per_chunk,
              .unit = "ms",
              .baseline = f.local_empty,
              .ratio = mesh::bench::RatioOf(f.per_chunk, f.local_empty)});
}

// Issue 15's per-chunk overhead with an 8 MB broadcast input (goal <= 5 ms per chunk), for the
// measurement that adds it: call with its median ms per chunk and, if it has one, its baseline.
void AddBroadcastOverheadRecord(mesh::bench::Report& report, int chunks, double ms_per_chunk,
                                std::optional<double> baseline_ms) {
  report.Add(
      {.figure = "overhead per chunk with an 8 MB broadcast input, " + std::to_string(chunks) +
                 " chunks on 2 executors",
       .value = ms_per_chunk,
       .unit = "ms",
       .baseline = baseline_ms,
       .ratio = baseline_ms ? mesh::bench::RatioOf(ms_per_chunk, *baseline_ms) : std::nullopt,
       .goal = mesh::bench::Goal().ValueAtMost(5)});
}

// --pool: the 8 MB broadcast input at the worker pool alone, copied into every run request
// against passed as shared memory (exec/shared_input.h): one-row chunks of matmul --block N on
// one aot worker, the two ways taking turns; the median time per job of each.
void PoolInputs(const Options& o, const Product& p) {
  mesh::exec::PoolOptions options;
  options.worker_path = o.worker;
  options.workers = 1;
  options.engine = mesh::wasm::EngineKind::kAot;
  options.default_limits.wall_time = absl::Seconds(600);
  options.default_limits.memory_bytes = 512ull << 20;
  options.max_compile_wait = absl::Minutes(10);
  char dir[] = "/tmp/split_bench_pool_XXXXXX";
  if (::mkdtemp(dir) == nullptr) Die("mkdtemp failed");
  options.aot_cache_dir = dir;
  absl::StatusOr<std::unique_ptr<mesh::exec::WorkerPool>> pool =
      mesh::exec::WorkerPool::Start(options);
  if (!pool.ok()) Die("pool: " + std::string(pool.status().message()));
  auto module = std::make_shared<const std::string>(Example(o, "matmul"));
  const std::string row = p.a.substr(0, size_t{8} * o.n);
  const std::string b_cid = mesh::cas::Cid::Of(p.b).ToString();
  auto request = [&](bool shared) {
    mesh::exec::RunRequest r;
    r.module_wasm = module;
    r.module_id = mesh::cas::Cid::Of(*module).ToString();
    r.input.args = {"--block", std::to_string(o.n)};
    if (shared) {
      r.input.stdin_bytes = row;
      r.input.stdin_pieces.push_back({.cid = b_cid, .bytes = p.b, .keep = nullptr});
    } else {
      r.input.stdin_bytes = row + p.b;
    }
    return r;
  };
  const std::string want = p.c.substr(0, row.size());
  std::vector<double> copied, shared;
  for (int i = 0; i <= 40; ++i) {
    for (bool share : {false, true}) {
      const auto t0 = SteadyClock::now();
      absl::StatusOr<mesh::wasm::RunResult> r = (*pool)->Run(request(share));
      const double took = MsSince(t0);
      if (!r.ok() || r->output != want) Die("pool one-row job failed or differs");
      if (i > 0) (share ? shared : copied).push_back(took);
    }
  }
  std::printf(
      "pool: one-row job + 8 MB input, copied: %.2f ms, shared memory: %.2f ms (median of %zu)\n",
      Median(copied), Median(shared), copied.size());
  (*pool)->Shutdown(absl::ZeroDuration());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// --timeline: when each chunk of the split job `id` ran, in ms from the split job's submission,
// as the node that ran it recorded it (the submitter's record when no other node has one).
void PrintTimeline(const Mesh& mesh, Node& submitter, const std::string& id) {
  absl::StatusOr<JobRecord> split = submitter.compute().Get(id);
  absl::StatusOr<mesh::node::SplitStatus> status = submitter.splits().Status(id);
  if (!split.ok() || !status.ok()) return;
  auto ms = [&](absl::Time t) { return absl::ToDoubleMilliseconds(t - split->submitted_at); };
  std::printf(
      "  chunk  node  queued  started  finished  role      run wall  run cpu  (ms from submission; "
      "the worker's own times)\n");
  for (const mesh::node::ChunkStatus& c : status->chunks) {
    const std::vector<Node*> nodes = mesh.nodes();
    for (size_t n = nodes.size(); n-- > 0;) {
      absl::StatusOr<JobRecord> job = nodes[n]->compute().Get(c.job_id);
      if (!job.ok()) continue;
      const nlohmann::json report = nlohmann::json::parse(job->report_json, nullptr, false);
      auto field = [&](const char* key) {
        return report.is_object() ? report.value(key, 0.0) : 0.0;
      };
      std::printf("  %5u  %4zu  %6.1f  %7.1f  %8.1f  %-8s  %8.1f  %7.1f\n", c.index, n,
                  ms(job->submitted_at), ms(job->started_at), ms(job->finished_at),
                  std::string(mesh::job::JobRoleName(job->role)).c_str(), field("wall_time_ms"),
                  field("cpu_time_ms"));
      break;
    }
  }
  // The submitter's side of each chunk: every phase of its history, when it was recorded.
  std::printf("  chunk  phases on the submitter (ms from submission)\n");
  for (const mesh::node::ChunkStatus& c : status->chunks) {
    absl::StatusOr<std::vector<mesh::node::HistoryBlock>> history =
        submitter.jobs().History(c.job_id);
    if (!history.ok()) continue;
    std::string line;
    for (const mesh::node::HistoryBlock& h : *history) {
      line += mesh::StrCat(" ", h.phase, "@", absl::StrFormat("%.1f", ms(h.at)));
    }
    std::printf("  %5u %s\n", c.index, line.c_str());
  }
  std::printf("  merged at %.1f\n", ms(split->finished_at));
}

}  // namespace

int main(int argc, char** argv) {
  mesh::TuneProcess();  // As meshd does, before any thread starts.
  Options o;
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) Die(error);
  o.json = common.json;
  if (common.short_mode) o.repeats = 3;  // short: 3 rounds (--repeats still wins)
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--n") {
      o.n = static_cast<uint32_t>(std::stoul(value()));
    } else if (arg == "--chunks") {
      o.chunks = static_cast<uint32_t>(std::stoul(value()));
    } else if (arg == "--repeats") {
      o.repeats = std::stoi(value());
    } else if (arg == "--overhead-chunks") {
      o.overhead_chunks = std::stoi(value());
    } else if (arg == "--timeline") {
      o.timeline = true;
    } else if (arg == "--pool") {
      o.pool_only = true;
    } else {
      Die("usage: split_bench [--n N] [--chunks K] [--repeats R] [--overhead-chunks C] "
          "[--timeline] [--pool] [--short] [--json FILE]");
    }
  }
  if (o.n < 1 || o.chunks < 1 || o.chunks > o.n || o.repeats < 1 || o.overhead_chunks < 1) {
    Die("bad arguments");
  }
  spdlog::set_level(spdlog::level::warn);
  if (std::getenv("XDG_CACHE_HOME") == nullptr) {
    ::setenv("XDG_CACHE_HOME", "/tmp/split_bench_cache", 1);  // the workers' aot cache
  }
  char tmpl[] = "/tmp/split_bench_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  const std::filesystem::path root = tmpl;
  // Removed after the meshes below are stopped (destroyed in reverse order): removed before,
  // their nodes' last peer-table saves failed with warnings.
  struct RemoveAtExit {
    std::filesystem::path dir;
    ~RemoveAtExit() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } const remove_root{root};
  std::printf("split_bench: %u cores, %ux%u float64 product, %u chunks, median of %d runs\n",
              std::thread::hardware_concurrency(), o.n, o.n, o.chunks, o.repeats);
  const auto t0 = SteadyClock::now();
  const Product p = MakeProduct(o.n);
  std::printf("native product (gcc -O2, one thread, no FMA):  %8.1f ms\n", MsSince(t0));
  if (o.pool_only) {
    PoolInputs(o, p);
    return 0;
  }

  // All three set-ups live at once and take turns, run by run, so a noisy moment of the machine
  // falls on all of them alike; the speed-up is the median of the per-round ratios.
  Mesh single(o, root / "single");
  Node& solo = single.Add(/*mesh_on=*/false, 1);
  Mesh mesh1(o, root / "mesh1");
  Node& a1 = mesh1.Add(true, 1);
  mesh1.Add(true, 1);
  Mesh mesh2(o, root / "mesh2");
  Node& a2 = mesh2.Add(true, 1);
  mesh2.Add(true, 1);
  mesh2.Add(true, 1);
  mesh1.WaitFormed();
  mesh2.WaitFormed();
  std::string per1, per2;
  // Unmeasured: the aot compile of the module on every executor (then cached).
  RunOnce(solo, o, p, false, nullptr);
  RunOnce(a1, o, p, true, &per1);
  RunOnce(a2, o, p, true, &per2);
  std::vector<double> base, one, two, ratio1, ratio2;
  for (int r = 0; r < o.repeats; ++r) {
    base.push_back(RunOnce(solo, o, p, false, nullptr));
    one.push_back(RunOnce(a1, o, p, true, &per1));
    two.push_back(RunOnce(a2, o, p, true, &per2));
    ratio1.push_back(base.back() / one.back());
    ratio2.push_back(base.back() / two.back());
  }
  auto range = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    char text[64];
    std::snprintf(text, sizeof text, "%.2f-%.2f", v.front(), v.back());
    return std::string(text);
  };
  std::printf("baseline: one aot run on one node:             %8.1f ms\n", Median(base));
  std::printf(
      "split on 1 executor:                           %8.1f ms  speed-up %.2fx (%s)  "
      "chunks per executor: %s\n",
      Median(one), Median(ratio1), range(ratio1).c_str(), per1.c_str());
  std::printf(
      "split on 2 executors:                          %8.1f ms  speed-up %.2fx (%s)  "
      "chunks per executor: %s\n",
      Median(two), Median(ratio2), range(ratio2).c_str(), per2.c_str());

  if (o.timeline) {
    std::string id;
    // The nodes' own CPU (this process: the three nodes, not their workers) in the run.
    auto process_cpu_ms = [] {
      struct rusage u {};
      ::getrusage(RUSAGE_SELF, &u);
      return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
             (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
    };
    const double cpu0 = process_cpu_ms();
    const double took = RunOnce(a2, o, p, true, nullptr, &id);
    std::printf("timeline of one more run on 2 executors: %.1f ms, the nodes' own CPU %.1f ms\n",
                took, process_cpu_ms() - cpu0);
    PrintTimeline(mesh2, a2, id);
  }

  // Overhead per chunk: chunks of the empty job on the 2-executor mesh, against a local empty
  // job on the single node.
  std::vector<double> local;
  const std::string noop_solo = Put(solo, Example(o, "noop"));
  for (int i = 0; i < 50; ++i) {
    mesh::node::SubmitRequest r;
    r.spec.module = noop_solo;
    r.spec.placement = "local";
    const auto s0 = SteadyClock::now();
    if (Run(solo, std::move(r)).state != mesh::job::JobState::kSucceeded) Die("noop failed");
    local.push_back(MsSince(s0));
  }
  std::string lines;
  for (int i = 0; i < o.overhead_chunks; ++i) lines += "x\n";
  mesh::node::SubmitRequest r;
  r.spec.module = Put(a2, Example(o, "noop"));
  r.spec.inputs = {Put(a2, lines)};
  mesh::job::SplitSpec split;
  split.splitter.kind = mesh::job::Splitter::kLines;
  split.splitter.parts = static_cast<uint32_t>(o.overhead_chunks);
  r.spec.split = split;
  r.spec.placement = "remote";
  std::vector<double> per_chunk;
  for (int i = 0; i <= o.repeats; ++i) {
    const auto s0 = SteadyClock::now();
    JobRecord job = Run(a2, r);
    if (job.state != mesh::job::JobState::kSucceeded) Die("noop split failed: " + job.reason);
    if (i > 0) per_chunk.push_back(MsSince(s0) / o.overhead_chunks);
  }
  std::printf(
      "overhead: %d empty chunks on 2 executors:      %8.2f ms per chunk "
      "(a local empty job, submit -> end: %.2f ms)\n",
      o.overhead_chunks, Median(per_chunk), Median(local));

  // Overhead per chunk with the 8 MB broadcast input: chunks of one row of A each (matmul
  // --block N, so every chunk reads B whole, and computes a single row, about a millisecond)
  // on the 2-executor mesh, per chunk, against one such chunk run locally on one node.
  const int rows = std::min<int>(o.overhead_chunks, static_cast<int>(o.n));
  const std::string a_rows = p.a.substr(0, std::min<size_t>(p.a.size(), size_t{8} * o.n * rows));
  mesh::node::SubmitRequest one_row;
  one_row.spec.module = Put(solo, Example(o, "matmul"));
  one_row.spec.inputs = {Put(solo, a_rows.substr(0, size_t{8} * o.n)), Put(solo, p.b)};
  one_row.spec.args = {"--block", std::to_string(o.n)};
  one_row.spec.limits.memory_bytes = 512ull << 20;
  one_row.spec.placement = "local";
  std::vector<double> local_row;
  for (int i = 0; i <= 20; ++i) {
    const auto s0 = SteadyClock::now();
    JobRecord job = Run(solo, one_row);
    if (job.state != mesh::job::JobState::kSucceeded) Die("one-row job failed: " + job.reason);
    if (i > 0) local_row.push_back(MsSince(s0));
  }
  mesh::node::SubmitRequest rows_split;
  rows_split.spec.module = Put(a2, Example(o, "matmul"));
  rows_split.spec.inputs = {Put(a2, a_rows), Put(a2, p.b)};
  rows_split.spec.args = {"--block", std::to_string(o.n)};
  rows_split.spec.limits.memory_bytes = 512ull << 20;
  mesh::job::SplitSpec by_row;
  by_row.splitter.kind = mesh::job::Splitter::kBytes;
  by_row.splitter.chunk_bytes = size_t{8} * o.n;
  rows_split.spec.split = by_row;
  rows_split.spec.placement = "remote";
  std::vector<double> per_row;
  for (int i = 0; i <= o.repeats; ++i) {
    const auto s0 = SteadyClock::now();
    JobRecord job = Run(a2, rows_split);
    if (job.state != mesh::job::JobState::kSucceeded) Die("one-row split failed: " + job.reason);
    if (Output(a2, job) != p.c.substr(0, a_rows.size())) Die("the one-row product differs");
    if (i > 0) per_row.push_back(MsSince(s0) / rows);
  }
  std::printf(
      "overhead: %d one-row chunks + 8 MB broadcast:  %8.2f ms per chunk "
      "(one such chunk run locally, submit -> end: %.2f ms)\n",
      rows, Median(per_row), Median(local_row));
  mesh::bench::Report report("split_bench");
  AddRecords(report, o,
             {.base = Median(base),
              .one = Median(one),
              .two = Median(two),
              .speedup_one = Median(ratio1),
              .speedup_two = Median(ratio2),
              .per_chunk = Median(per_chunk),
              .local_empty = Median(local)});
  AddBroadcastOverheadRecord(report, rows, Median(per_row), Median(local_row));
  std::printf("\nfigures and goals:\n%s", report.Text().c_str());
  if (absl::Status s = report.Write(o.json); !s.ok()) Die(std::string(s.message()));
  return 0;
}
