// The node daemon's HTTP API under tiny jobs (issue 4): a real meshd child process on a fresh
// data dir, driven through HttpClient with the empty job (examples/noop.c).
//
//  - latency: one client, sequential POST /v1/jobs?wait=10s round trips (submit to the job's
//    final state in the answer), p50/p99/max; goal p50 < 2 ms;
//  - throughput: 8 clients, each with its own keep-alive connection, each submitting with
//    ?wait=10s and submitting again as soon as the answer arrives (a closed loop; every job
//    counted has completed), for a fixed time; rate = completed jobs / (first submit to last
//    completion); goal >= 2,000 jobs/s; plus the same without ?wait (clients only submit, the
//    rate counts until the node has finished every submitted job), for information;
//  - memory: meshd's own VmRSS just after start (fresh data dir) and after the load plus 2 s
//    idle; goals < 20 MiB after start and < 30 MiB after the load (its mesh-worker children are
//    separate processes, listed apart);
//  - start-up: exec to the "meshd ready at" line (goal < 50 ms).
//
// Baselines in the same run (goals are ratios against them, never timed tests): the same job
// through an in-process exec::WorkerPool with as many workers (the sandbox round trip without
// HTTP, signing, the job database or the blob store), sequential (latency) and from 8 threads
// (throughput). Each engine gets its own baseline pool and its own meshd; the pool is shut
// down before meshd starts, so the two never share the 2 cores.
//
//   build/release/bench/api_bench                        # both engines, ~1 min
//   build/release/bench/api_bench --engine interp --seconds 5 --requests 2000
//   build/release/bench/api_bench --meshd build/release/apps/mesh/meshd --examples DIR
//   build/release/bench/api_bench --short --json FILE   (~25 s; the figures as JSON records)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.h"
#include "bench_stats.h"
#include "mesh/api/http_client.h"
#include "mesh/cas/cid.h"
#include "mesh/common/file_util.h"
#include "mesh/exec/worker_pool.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace {

using mesh::bench::Latency;
using mesh::bench::Median;
using mesh::bench::MsSince;
using mesh::bench::Percentile;
using mesh::bench::SteadyClock;
using mesh::bench::Summarize;
using mesh::exec::RunRequest;
using mesh::exec::WorkerPool;
using mesh::wasm::EngineKind;

constexpr const char* kAotCache = "/tmp/mesh_api_bench_cache";  // XDG_CACHE_HOME of meshd too

struct Options {
  std::string meshd = MESH_MESHD_PATH;
  std::string examples = MESH_EXAMPLES_DIR;
  std::vector<std::string> engines = {"interp", "aot"};
  int requests = 2000;  // sequential round trips measured
  int warmup = 300;     // round trips before measuring
  double seconds = 5;   // each throughput phase
  int clients = 8;
  int workers = 2;  // meshd --max-concurrent and the baseline pool's workers (the cores)
  int starts = 5;   // extra start-ups timed (fresh data dir each)
  double hold = 0;  // keep the idle meshd this long after measuring (to inspect it)
};

pid_t g_meshd = -1;  // the running meshd child, stopped by Die

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "api_bench: %s\n", what.c_str());
  if (g_meshd > 0) {
    ::kill(g_meshd, SIGKILL);
    ::waitpid(g_meshd, nullptr, 0);
  }
  std::exit(1);
}

// ---- statistics -------------------------------------------------------------------------

struct Throughput {
  uint64_t jobs = 0;
  uint64_t errors = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(jobs) / seconds : 0; }
};

// `threads` threads each call their own `job()` (made by make_job(i) before the clock starts)
// back to back for `seconds`; a job counts once job() has returned true. The time is from the
// common start to the last completion.
Throughput ClosedLoop(int threads, double seconds,
                      const std::function<std::function<bool()>(int)>& make_job) {
  std::vector<std::function<bool()>> jobs;
  for (int i = 0; i < threads; ++i) jobs.push_back(make_job(i));
  std::atomic<bool> stop{false};
  std::latch go(1);
  std::vector<uint64_t> done(threads, 0), failed(threads, 0);
  std::vector<SteadyClock::time_point> last(threads);
  SteadyClock::time_point t0;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      go.wait();
      while (!stop.load(std::memory_order_relaxed)) {
        if (jobs[i]()) {
          ++done[i];
          last[i] = SteadyClock::now();
        } else {
          ++failed[i];
        }
      }
    });
  }
  t0 = SteadyClock::now();
  go.count_down();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  Throughput r;
  SteadyClock::time_point end = t0;
  for (int i = 0; i < threads; ++i) {
    r.jobs += done[i];
    r.errors += failed[i];
    if (done[i] > 0) end = std::max(end, last[i]);
  }
  r.seconds = std::chrono::duration<double>(end - t0).count();
  return r;
}

// ---- the noop job through an in-process pool (the baseline) -----------------------------

std::shared_ptr<const std::string> NoopModule(const Options& o) {
  auto b = mesh::ReadFileToString(o.examples + "/noop.wasm", 1 << 20);
  if (!b.ok()) Die("noop.wasm: " + std::string(b.status().message()));
  return std::make_shared<const std::string>(*std::move(b));
}

struct BaselineResult {
  Latency latency;
  Throughput throughput;
};

BaselineResult RunBaseline(const Options& o, EngineKind engine, const std::string& worker) {
  mesh::exec::PoolOptions options;
  options.worker_path = worker;
  options.workers = o.workers;
  options.engine = engine;
  options.aot_cache_dir = std::string(kAotCache) + "/mesh/aot";
  auto started = WorkerPool::Start(options);
  if (!started.ok()) Die("pool: " + std::string(started.status().message()));
  std::unique_ptr<WorkerPool> pool = *std::move(started);
  RunRequest request;
  request.module_wasm = NoopModule(o);
  request.module_id = mesh::cas::Cid::Of(*request.module_wasm).ToString();
  auto run = [&pool, &request] {
    auto r = pool->Run(request);
    return r.ok() && r->report.ok();
  };
  for (int i = 0; i < o.warmup; ++i) {
    if (!run()) Die("baseline: the noop job failed in the pool");
  }
  BaselineResult out;
  std::vector<double> ms;
  ms.reserve(o.requests);
  for (int i = 0; i < o.requests; ++i) {
    const auto t0 = SteadyClock::now();
    if (!run()) Die("baseline: the noop job failed in the pool");
    ms.push_back(MsSince(t0));
  }
  out.latency = Summarize(std::move(ms));
  out.throughput = ClosedLoop(o.clients, o.seconds, [&](int) { return run; });
  pool->Shutdown();
  return out;
}

// ---- meshd as a child process ------------------------------------------------------------

struct MemKib {
  long rss = 0, anon = 0, file = 0, hwm = 0, threads = 0;
};

MemKib ReadMem(pid_t pid) {
  MemKib m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    auto field = [&line](const char* name, long& out) {
      const size_t len = std::strlen(name);
      if (line.compare(0, len, name) == 0) out = std::strtol(line.c_str() + len, nullptr, 10);
    };
    field("VmRSS:", m.rss);
    field("RssAnon:", m.anon);
    field("RssFile:", m.file);
    field("VmHWM:", m.hwm);
    field("Threads:", m.threads);
  }
  return m;
}

// Direct children of `parent` (the mesh-worker processes of a meshd).
std::vector<pid_t> Children(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    const size_t paren = stat.rfind(')');  // the command may hold spaces and parentheses
    if (paren == std::string::npos) continue;
    char state;
    long ppid = 0;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent) {
      out.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return out;
}

long ChildrenRssKib(pid_t parent, int* count) {
  long sum = 0;
  const std::vector<pid_t> kids = Children(parent);
  for (pid_t k : kids) sum += ReadMem(k).rss;
  if (count != nullptr) *count = static_cast<int>(kids.size());
  return sum;
}

// CPU time (user + system) a process has used, in seconds.
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

// CPU seconds of meshd, of its workers and of this process (the clients), at one moment.
struct CpuSample {
  double meshd = 0, workers = 0, clients = 0;
};

CpuSample SampleCpu(pid_t meshd) {
  CpuSample s;
  s.meshd = CpuSeconds(meshd);
  for (pid_t k : Children(meshd)) s.workers += CpuSeconds(k);
  s.clients = CpuSeconds(::getpid());
  return s;
}

class Meshd {
 public:
  // Starts meshd on `data_dir` and waits for its "meshd ready at URL" line.
  Meshd(const Options& o, const std::string& engine, const std::filesystem::path& data_dir)
      : data_dir_(data_dir) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) Die("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<std::string> args = {o.meshd,
                                     "--data-dir",
                                     data_dir.string(),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--max-concurrent",
                                     std::to_string(o.workers),
                                     "--engine",
                                     engine,
                                     "--log-level",
                                     "warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The aot cache of meshd and of the baseline pool: one directory, kept between runs.
    std::vector<std::string> env_strings = {std::string("XDG_CACHE_HOME=") + kAotCache};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "XDG_CACHE_HOME=", 15) != 0) env_strings.emplace_back(*e);
    }
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    const auto t0 = SteadyClock::now();
    const int rc = posix_spawn(&pid_, o.meshd.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) Die("cannot start " + o.meshd + ": " + std::strerror(rc));
    g_meshd = pid_;
    stdout_fd_ = out[0];
    std::string line;
    while (line.find('\n') == std::string::npos) {
      pollfd p{stdout_fd_, POLLIN, 0};
      const double left = 20000 - MsSince(t0);
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
        Die("meshd printed no ready line within 20 s");
      }
      char buf[512];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
      if (n <= 0) Die("meshd exited before it was ready (see its stderr above)");
      line.append(buf, static_cast<size_t>(n));
    }
    ready_ms_ = MsSince(t0);
    constexpr std::string_view kReady = "meshd ready at ";
    const size_t at = line.find(kReady);
    if (at == std::string::npos) Die("unexpected first line from meshd: " + line);
    const size_t url_start = at + kReady.size();
    url_ = line.substr(url_start, line.find_first_of(" \n", url_start) - url_start);
    if (const size_t in = line.find("started in "); in != std::string::npos) {
      reported_ms_ = std::strtod(line.c_str() + in + 11, nullptr);
    }
  }

  ~Meshd() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto t0 = SteadyClock::now();
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (MsSince(t0) > 15000) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    g_meshd = -1;
    ::close(stdout_fd_);
  }

  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }
  double ready_ms() const { return ready_ms_; }        // exec to the ready line, measured here
  double reported_ms() const { return reported_ms_; }  // meshd's own "started in" figure

  std::unique_ptr<mesh::api::HttpClient> Client() const {
    auto client = mesh::api::HttpClient::Create(url_);
    if (!client.ok()) Die(std::string(client.status().message()));
    auto token = mesh::ReadFileToString(data_dir_ / "api.token", 4096);
    if (!token.ok()) Die("api.token: " + std::string(token.status().message()));
    std::string t = *token;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    (*client)->set_token(t);
    return *std::move(client);
  }

 private:
  std::filesystem::path data_dir_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string url_;
  double ready_ms_ = 0;
  double reported_ms_ = 0;
};

// A fresh, empty data dir under /tmp; removed when this goes away.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mesh_api_bench_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
    path_ = std::filesystem::path(tmpl) / "node";  // meshd creates it (0700)
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_.parent_path(), ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ---- /metrics ----------------------------------------------------------------------------

// "name{labels}" -> value, for every sample line.
std::map<std::string, double> ScrapeMetrics(mesh::api::HttpClient& client) {
  std::map<std::string, double> out;
  auto r = client.Request("GET", "/metrics");
  if (!r.ok() || r->status != 200) return out;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

// Mean of a histogram over the interval between two scrapes, in ms ("" labels: none).
double HistogramMeanMs(const std::map<std::string, double>& before,
                       const std::map<std::string, double>& after, const std::string& name,
                       const std::string& labels = "") {
  auto get = [](const std::map<std::string, double>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? 0.0 : it->second;
  };
  const std::string suffix = labels.empty() ? "" : "{" + labels + "}";
  const double sum = get(after, name + "_sum" + suffix) - get(before, name + "_sum" + suffix);
  const double count = get(after, name + "_count" + suffix) - get(before, name + "_count" + suffix);
  return count > 0 ? 1000 * sum / count : 0;
}

// ---- the API benchmark -------------------------------------------------------------------

struct StageBreakdown {   // medians over the sequential round trips, ms
  double client = 0;      // what the client measured
  double queue_wait = 0;  // job JSON queue_wait_ms: submitted_at to started_at
  double run = 0;         // job JSON run_ms: started_at to finished_at
  double sandbox = 0;     // report.wall_time_ms: the pool's run of the module
  // /metrics means over the same interval
  double http_server_mean = 0;  // mesh_http_request_seconds{route="/v1/jobs"}
  double queue_wait_mean = 0;   // mesh_job_queue_wait_seconds
  double run_mean = 0;          // mesh_job_run_seconds (the pool's run)
};

struct ApiResult {
  double ready_ms = 0, reported_ms = 0;
  MemKib mem_start;
  long workers_rss_start = 0;
  int workers = 0;
  Latency latency;
  StageBreakdown stages;
  Throughput wait_loop;  // 8 clients, ?wait=10s
  Throughput no_wait;    // 8 clients, submit only; counted until the node finished them
  uint64_t no_wait_submitted = 0;
  MemKib mem_idle;
  long workers_rss_idle = 0;
  // CPU used during each phase (seconds): where the cores went.
  CpuSample seq_cpu, wait_cpu, no_wait_cpu;
};

CpuSample Minus(const CpuSample& a, const CpuSample& b) {
  return {a.meshd - b.meshd, a.workers - b.workers, a.clients - b.clients};
}

std::string JobBody(const std::string& cid) { return R"({"module":")" + cid + R"("})"; }

bool Succeeded(const absl::StatusOr<mesh::api::ClientResponse>& r) {
  return r.ok() && r->status == 201 && r->body.find(R"("state":"succeeded")") != std::string::npos;
}

uint64_t Completed(mesh::api::HttpClient& client) {
  auto r = client.Request("GET", "/v1/node");
  if (!r.ok() || r->status != 200) Die("GET /v1/node failed");
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) Die("GET /v1/node: not JSON");
  return j["stats"]["completed"].get<uint64_t>();
}

ApiResult RunApi(const Options& o, const std::string& engine) {
  TempDir dir;
  ApiResult out;
  Meshd meshd(o, engine, dir.path());
  out.ready_ms = meshd.ready_ms();
  out.reported_ms = meshd.reported_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the workers settle
  out.mem_start = ReadMem(meshd.pid());
  out.workers_rss_start = ChildrenRssKib(meshd.pid(), &out.workers);

  auto client = meshd.Client();
  auto uploaded = client->UploadFile("/v1/blobs", o.examples + "/noop.wasm");
  if (!uploaded.ok() || uploaded->status != 201) {
    Die("upload of noop.wasm failed: " +
        (uploaded.ok() ? uploaded->body : std::string(uploaded.status().message())));
  }
  const std::string cid = nlohmann::json::parse(uploaded->body)["cid"].get<std::string>();
  const std::string body = JobBody(cid);
  const std::string target = "/v1/jobs?wait=10s";

  for (int i = 0; i < o.warmup; ++i) {
    auto r = client->Request("POST", target, body);
    if (!Succeeded(r)) {
      Die("warm-up job failed: " +
          (r.ok() ? std::to_string(r->status) + " " + r->body : std::string(r.status().message())));
    }
  }

  // Sequential round trips.
  const auto m0 = ScrapeMetrics(*client);
  const CpuSample c0 = SampleCpu(meshd.pid());
  std::vector<double> ms, queue, run, sandbox;
  std::vector<std::string> bodies;
  bodies.reserve(o.requests);
  for (int i = 0; i < o.requests; ++i) {
    const auto t0 = SteadyClock::now();
    auto r = client->Request("POST", target, body);
    const double took = MsSince(t0);
    if (!Succeeded(r)) Die("job failed during the latency run");
    ms.push_back(took);
    bodies.push_back(std::move(r->body));
  }
  out.seq_cpu = Minus(SampleCpu(meshd.pid()), c0);
  const auto m1 = ScrapeMetrics(*client);
  for (const std::string& b : bodies) {
    auto j = nlohmann::json::parse(b, nullptr, false);
    if (j.is_discarded()) continue;
    queue.push_back(j.value("queue_wait_ms", 0.0));
    run.push_back(j.value("run_ms", 0.0));
    if (j.contains("report")) sandbox.push_back(j["report"].value("wall_time_ms", 0.0));
  }
  out.stages.client = Median(ms);
  out.stages.queue_wait = Median(queue);
  out.stages.run = Median(run);
  out.stages.sandbox = Median(sandbox);
  out.stages.http_server_mean =
      HistogramMeanMs(m0, m1, "mesh_http_request_seconds", R"(route="/v1/jobs")");
  out.stages.queue_wait_mean = HistogramMeanMs(m0, m1, "mesh_job_queue_wait_seconds");
  out.stages.run_mean = HistogramMeanMs(m0, m1, "mesh_job_run_seconds");
  out.latency = Summarize(std::move(ms));

  // 8 clients, each waiting for its job before submitting the next.
  const CpuSample c1 = SampleCpu(meshd.pid());
  out.wait_loop = ClosedLoop(o.clients, o.seconds, [&](int) -> std::function<bool()> {
    std::shared_ptr<mesh::api::HttpClient> c = meshd.Client();
    return [c, &body, &target] { return Succeeded(c->Request("POST", target, body)); };
  });
  out.wait_cpu = Minus(SampleCpu(meshd.pid()), c1);

  // 8 clients only submitting; then wait until the node has run all of them.
  {
    const CpuSample c2 = SampleCpu(meshd.pid());
    const uint64_t completed_before = Completed(*client);
    const auto t0 = SteadyClock::now();
    Throughput submitted = ClosedLoop(o.clients, o.seconds, [&](int) -> std::function<bool()> {
      std::shared_ptr<mesh::api::HttpClient> c = meshd.Client();
      return [c, &body] {
        auto r = c->Request("POST", "/v1/jobs", body);
        return r.ok() && r->status == 201;
      };
    });
    uint64_t completed = 0;
    while ((completed = Completed(*client) - completed_before) < submitted.jobs) {
      if (MsSince(t0) > 600000) Die("the node did not finish the submitted jobs in 10 min");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    out.no_wait_submitted = submitted.jobs;
    out.no_wait.jobs = completed;
    out.no_wait.errors = submitted.errors;
    out.no_wait.seconds = MsSince(t0) / 1000;
    out.no_wait_cpu = Minus(SampleCpu(meshd.pid()), c2);
  }

  client.reset();  // close the keep-alive connection: an idle node has no clients
  std::this_thread::sleep_for(std::chrono::seconds(2));
  out.mem_idle = ReadMem(meshd.pid());
  out.workers_rss_idle = ChildrenRssKib(meshd.pid(), nullptr);
  if (o.hold > 0) {
    std::printf("holding the idle meshd (pid %d, %s) for %.0f s\n", meshd.pid(),
                meshd.url().c_str(), o.hold);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.hold));
  }
  return out;
}

// ---- report ------------------------------------------------------------------------------

double Mib(long kib) { return static_cast<double>(kib) / 1024.0; }

// `goal_mib`: issue 15's RSS goal for this moment (20 MiB after start, 30 after the load).
void PrintMem(const char* what, const MemKib& m, long workers_kib, int workers, long goal_mib) {
  std::printf("  %-34s %6.1f MiB (anon %.1f, file %.1f; peak %.1f; %ld threads)", what, Mib(m.rss),
              Mib(m.anon), Mib(m.file), Mib(m.hwm), m.threads);
  if (workers > 0) {
    std::printf("; %d mesh-worker(s) %.1f MiB", workers, Mib(workers_kib));
  } else {
    std::printf("; mesh-worker(s) %.1f MiB", Mib(workers_kib));
  }
  std::printf("  (goal < %ld MiB: %s)\n", goal_mib, m.rss < goal_mib * 1024 ? "met" : "MISSED");
}

void Report(const std::string& engine, int workers, const BaselineResult& base,
            const ApiResult& api) {
  std::printf("\n== engine %s ==\n", engine.c_str());
  std::printf("baseline, direct WorkerPool::Run (%d workers, in-process):\n", workers);
  std::printf("  sequential round trip       p50 %.3f ms  p99 %.3f ms  max %.3f ms  (n=%zu)\n",
              base.latency.p50, base.latency.p99, base.latency.max, base.latency.n);
  std::printf("  8 threads                   %.0f jobs/s (%llu jobs in %.2f s, %llu errors)\n",
              base.throughput.rate(), static_cast<unsigned long long>(base.throughput.jobs),
              base.throughput.seconds, static_cast<unsigned long long>(base.throughput.errors));
  std::printf("meshd, HTTP API:\n");
  std::printf("  start-up (exec to ready)    %.1f ms (meshd says %.0f ms)  (goal < 50 ms: %s)\n",
              api.ready_ms, api.reported_ms, api.ready_ms < 50 ? "met" : "MISSED");
  const double ratio_p50 = base.latency.p50 > 0 ? api.latency.p50 / base.latency.p50 : 0;
  std::printf(
      "  API latency                 p50 %.3f ms (%.1fx the direct pool round trip)  "
      "p99 %.3f ms (%.1fx)  max %.3f ms  (n=%zu)  (goal p50 < 2 ms: %s)\n",
      api.latency.p50, ratio_p50, api.latency.p99,
      base.latency.p99 > 0 ? api.latency.p99 / base.latency.p99 : 0, api.latency.max, api.latency.n,
      api.latency.p50 < 2 ? "met" : "MISSED");
  std::printf(
      "    where it goes (medians, ms): client round trip %.3f = queue wait %.3f + run "
      "%.3f (of which the sandbox %.3f) + the rest (HTTP, JSON, signing, job database "
      "before submit and after finish) %.3f\n",
      api.stages.client, api.stages.queue_wait, api.stages.run, api.stages.sandbox,
      api.stages.client - api.stages.queue_wait - api.stages.run);
  std::printf(
      "    /metrics means (ms): POST /v1/jobs handled %.3f, queue wait %.3f, pool run "
      "%.3f\n",
      api.stages.http_server_mean, api.stages.queue_wait_mean, api.stages.run_mean);
  const double ratio_rate =
      base.throughput.rate() > 0 ? api.wait_loop.rate() / base.throughput.rate() : 0;
  std::printf(
      "  8 clients, ?wait (completed) %.0f jobs/s (%.2fx direct pool; %llu jobs in %.2f s, "
      "%llu errors)  (goal >= 2000: %s)\n",
      api.wait_loop.rate(), ratio_rate, static_cast<unsigned long long>(api.wait_loop.jobs),
      api.wait_loop.seconds, static_cast<unsigned long long>(api.wait_loop.errors),
      api.wait_loop.rate() >= 2000 ? "met" : "MISSED");
  std::printf(
      "  8 clients, no wait           %.0f jobs/s completed (%llu submitted, all finished "
      "%.2f s after the first submit, %llu errors)\n",
      api.no_wait.rate(), static_cast<unsigned long long>(api.no_wait_submitted),
      api.no_wait.seconds, static_cast<unsigned long long>(api.no_wait.errors));
  auto cpu = [](const char* what, const CpuSample& c, uint64_t jobs, double seconds) {
    if (jobs == 0 || seconds <= 0) return;
    const double us = 1e6 / static_cast<double>(jobs);
    std::printf(
        "    CPU per job, %-13s meshd %.0f us, workers %.0f us, clients %.0f us "
        "(%.2f of the cores busy)\n",
        what, c.meshd * us, c.workers * us, c.clients * us,
        (c.meshd + c.workers + c.clients) / seconds);
  };
  std::printf("  CPU (from /proc/PID/stat):\n");
  cpu("sequential:", api.seq_cpu, api.latency.n, api.latency.mean * api.latency.n / 1000);
  cpu("8 clients:", api.wait_cpu, api.wait_loop.jobs, api.wait_loop.seconds);
  cpu("no wait:", api.no_wait_cpu, api.no_wait.jobs, api.no_wait.seconds);
  std::printf("  meshd RSS (VmRSS):\n");
  PrintMem("after start, fresh data dir", api.mem_start, api.workers_rss_start, api.workers, 20);
  PrintMem("after the load + 2 s idle", api.mem_idle, api.workers_rss_idle, 0, 30);
}

// Short (scripts/bench): fewer round trips and shorter throughput phases; flags still win.
// The figures of one engine's run and their goals (issue 15 for throughput, memory and start-up;
// bench/README.md for the latency).
void AddRecords(mesh::bench::Report& report, const std::string& engine, const BaselineResult& base,
                const ApiResult& api) {
  using mesh::bench::Goal;
  using mesh::bench::RatioOf;
  report.Add({.figure = "8 clients, ?wait, " + engine + " (baseline: direct pool, 8 threads)",
              .value = api.wait_loop.rate(),
              .unit = "jobs/s",
              .baseline = base.throughput.rate(),
              .ratio = RatioOf(api.wait_loop.rate(), base.throughput.rate()),
              .goal = Goal().ValueAtLeast(2000)});
  report.Add({.figure = "submit-to-complete p50, " + engine + " (baseline: direct pool)",
              .value = api.latency.p50,
              .unit = "ms",
              .baseline = base.latency.p50,
              .ratio = RatioOf(api.latency.p50, base.latency.p50),
              .goal = Goal().ValueBelow(2)});
  report.Add({.figure = "submit-to-complete p99, " + engine + " (baseline: direct pool)",
              .value = api.latency.p99,
              .unit = "ms",
              .baseline = base.latency.p99,
              .ratio = RatioOf(api.latency.p99, base.latency.p99)});
  if (api.wait_loop.jobs > 0) {
    report.Add({.figure = "meshd CPU per job, 8 clients, " + engine,
                .value = 1000 * api.wait_cpu.meshd / static_cast<double>(api.wait_loop.jobs),
                .unit = "ms"});
  }
  report.Add({.figure = "meshd RSS after start (fresh data dir), " + engine,
              .value = Mib(api.mem_start.rss),
              .unit = "MiB",
              .goal = Goal().ValueBelow(20)});
  report.Add({.figure = "meshd RSS after the load + 2 s idle, " + engine,
              .value = Mib(api.mem_idle.rss),
              .unit = "MiB",
              .goal = Goal().ValueBelow(30)});
}

Options ParseArgs(int argc, char** argv, bool short_mode) {
  Options o;
  if (short_mode) {
    o.requests = 500;
    o.warmup = 100;
    o.seconds = 2;
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg != "--help" && arg != "-h") {
      if (i + 1 >= argc) Die(arg + " needs a value");
      value = argv[++i];
    }
    if (arg == "--meshd") {
      o.meshd = value;
    } else if (arg == "--examples") {
      o.examples = value;
    } else if (arg == "--engine") {
      o.engines = value == "both" ? std::vector<std::string>{"interp", "aot"}
                                  : std::vector<std::string>{value};
    } else if (arg == "--requests") {
      o.requests = std::stoi(value);
    } else if (arg == "--warmup") {
      o.warmup = std::stoi(value);
    } else if (arg == "--seconds") {
      o.seconds = std::stod(value);
    } else if (arg == "--clients") {
      o.clients = std::stoi(value);
    } else if (arg == "--workers") {
      o.workers = std::stoi(value);
    } else if (arg == "--starts") {
      o.starts = std::stoi(value);
    } else if (arg == "--hold") {
      o.hold = std::stod(value);
    } else {
      std::printf(
          "usage: api_bench [--meshd PATH] [--examples DIR] [--engine interp|aot|both]\n"
          "                 [--requests N] [--warmup N] [--seconds S] [--clients N]\n"
          "                 [--workers N] [--starts N] [--hold SECONDS] [--short] [--json FILE]\n"
          "defaults: --meshd %s --examples %s --engine both --requests 2000 --warmup 300\n"
          "          --seconds 5 --clients 8 --workers 2 --starts 5\n"
          "--short: --requests 500 --warmup 100 --seconds 2; --json FILE: the figures as records\n",
          MESH_MESHD_PATH, MESH_EXAMPLES_DIR);
      std::exit(arg == "--help" || arg == "-h" ? 0 : 2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) Die(error);
  const Options o = ParseArgs(argc, argv, common.short_mode);
  mesh::bench::Report report("api_bench");
  // The worker binary beside meshd: the one meshd itself runs.
  const std::string worker =
      (std::filesystem::path(o.meshd).parent_path() / "mesh-worker").string();
  signal(SIGPIPE, SIG_IGN);
  std::printf(
      "api_bench: meshd %s, %d worker(s), %d clients, %d sequential requests, %.0f s "
      "per throughput phase\n",
      o.meshd.c_str(), o.workers, o.clients, o.requests, o.seconds);
  for (const std::string& engine : o.engines) {
    EngineKind kind = engine == "aot" ? EngineKind::kAot : EngineKind::kInterp;
    if (engine != "aot" && engine != "interp") Die("--engine: interp, aot or both");
    const BaselineResult base = RunBaseline(o, kind, worker);
    const ApiResult api = RunApi(o, engine);
    Report(engine, o.workers, base, api);
    AddRecords(report, engine, base, api);
    std::fflush(stdout);
  }
  if (o.starts > 0) {
    std::vector<double> ready, reported;
    for (int i = 0; i < o.starts; ++i) {
      TempDir dir;
      Meshd meshd(o, o.engines.front(), dir.path());
      ready.push_back(meshd.ready_ms());
      reported.push_back(meshd.reported_ms());
    }
    const Latency r = Summarize(ready);
    std::printf(
        "\nmeshd start-up, fresh data dir, engine %s, %d starts: exec to ready line "
        "median %.1f ms (min %.1f, max %.1f; meshd's own figure median %.0f ms)  "
        "(goal < 50 ms: %s)\n",
        o.engines.front().c_str(), o.starts, r.p50, *std::min_element(ready.begin(), ready.end()),
        r.max, Median(reported), r.p50 < 50 ? "met" : "MISSED");
    report.Add({.figure = "meshd start-up, exec to ready, median of " + std::to_string(o.starts) +
                          " starts (" + o.engines.front() + ")",
                .value = r.p50,
                .unit = "ms",
                .goal = mesh::bench::Goal().ValueBelow(50)});
  }
  std::printf("\nfigures and goals (issue 15):\n%s", report.Text().c_str());
  if (absl::Status s = report.Write(common.json); !s.ok()) Die(std::string(s.message()));
  return 0;
}
