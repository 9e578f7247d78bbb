#include "mesh/api/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "api_access.h"
#include "idle_trim.h"
#include "mesh/api/api_service.h"
#include "mesh/api/http_server.h"
#include "mesh/common/clock.h"
#include "mesh/common/file_util.h"
#include "mesh/common/host_port.h"
#include "mesh/common/logging.h"
#include "mesh/common/replace_file.h"
#include "mesh/common/rng.h"
#include "mesh/common/strings.h"
#include "mesh/node/node.h"
#include "spdlog/spdlog.h"

namespace mesh::api {

namespace {

// Descriptors kept back from API connections for the node's own files: databases, blobs,
// workers' pipes, peers' connections.
constexpr uint64_t kReservedFiles = 256;

// Refuses a listen address other hosts can reach with anonymous reads (anyone there could read
// every job's env, args, inputs and outputs) unless the operator said so; warns in any case.
absl::Status CheckExposure(const node::NodeConfig& config) {
  if (IsLoopbackName(config.listen_host)) return absl::OkStatus();
  if (config.anonymous_reads && !config.insecure_anonymous_reads) {
    return absl::FailedPreconditionError(mesh::StrCat(
        "the API would listen on ", config.listen_host,
        ", which other hosts can reach, with [api] anonymous_reads = true: anyone there could "
        "read every job's env, args, inputs and outputs. Listen on 127.0.0.1, set "
        "anonymous_reads = false, or pass --insecure-anonymous-reads if that is what you want"));
  }
  spdlog::warn(
      "the HTTP API listens on {}, which other hosts can reach; it is plain HTTP (use a TLS "
      "proxy or a firewall) and every route but GET /v1/node and /metrics needs the token{}",
      config.listen_host,
      config.anonymous_reads ? ". WARNING: --insecure-anonymous-reads: anyone who can reach it "
                               "can read every job's env, args, inputs and outputs"
                             : "");
  return absl::OkStatus();
}

// The connection cap, lowered to leave the node kReservedFiles descriptors, plus one for each
// mesh handshake that may be in progress ([mesh] max_handshakes).
int ConnectionCap(const node::NodeConfig& config) {
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) {
    return config.max_connections;
  }
  const uint64_t reserved =
      kReservedFiles +
      (config.mesh.enabled ? static_cast<uint64_t>(std::max(0, config.mesh.max_handshakes)) : 0);
  const uint64_t usable =
      files.rlim_cur > 2 * reserved ? files.rlim_cur - reserved : files.rlim_cur / 2;
  if (usable >= static_cast<uint64_t>(config.max_connections)) return config.max_connections;
  spdlog::warn(
      "[api] max_connections {} lowered to {}: the open-file limit is {} and {} are kept for "
      "the node's own files (raise the limit with ulimit -n or LimitNOFILE=)",
      config.max_connections, usable, files.rlim_cur, files.rlim_cur - usable);
  return static_cast<int>(usable);
}

// An open mesh (empty [mesh] allowed_peers) on an address other hosts can reach: anyone there
// may join and send this node work. Legitimate for a public mesh, so a warning, not a refusal.
void WarnIfOpenMesh(const node::NodeConfig& config) {
  if (!config.mesh.enabled || !config.mesh.allowed_peers.empty()) return;
  const std::optional<HostPort> split = SplitHostPort(config.mesh.listen);
  if (IsLoopbackName(split.has_value() ? split->host : config.mesh.listen)) return;
  spdlog::warn(
      "the mesh listens on {}, which other hosts can reach, and [mesh] allowed_peers is empty: "
      "any node that can reach it may join and send this node work; list your nodes' DIDs in "
      "allowed_peers to close the mesh",
      config.mesh.listen);
}

}  // namespace

int RunDaemon(node::NodeConfig config) {
  const auto t0 = std::chrono::steady_clock::now();
  if (absl::Status s = InitLogging(config.log_level); !s.ok()) {
    std::fprintf(stderr, "meshd: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  // Signals are taken by sigwait below, never by a handler on a random thread; every thread
  // started from here on inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // glibc gives each thread that allocates its own arena, and freed memory stays in them; two
  // arenas keep an idle node small (measured: -2.7 MiB) at no cost to the API's throughput.
  mallopt(M_ARENA_MAX, 2);
  // Each client connection, event stream and long poll holds a descriptor: use what the
  // system allows (the soft limit is often 1024) rather than failing at the first thousand.
  if (struct rlimit files;
      getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &files);
  }

  if (absl::Status s = CheckExposure(config); !s.ok()) {
    spdlog::error("meshd cannot start: {}", std::string(s.message()));
    return 1;
  }
  const int max_connections = ConnectionCap(config);

  // The composition root: the real clock and randomness, injected from here down.
  SystemClock clock;
  SecureRng rng;
  absl::StatusOr<std::unique_ptr<node::Node>> node = node::Node::Start(config, clock, rng);
  if (!node.ok()) {
    spdlog::error("meshd cannot start: {}", std::string(node.status().message()));
    return 1;
  }
  WarnIfOpenMesh((*node)->config());
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Listen({.host = config.listen_host,
                          .port = config.listen_port,
                          .threads = config.api_threads,
                          .idle_timeout = config.idle_timeout,
                          .header_timeout = config.header_timeout,
                          .body_timeout = config.body_timeout,
                          .min_body_rate = config.min_body_rate,
                          .max_connections = max_connections,
                          .max_connections_per_address =
                              std::min(config.max_connections_per_address, max_connections)});
  if (!server.ok()) {
    spdlog::error("meshd cannot start: {}", std::string(server.status().message()));
    return 1;
  }
  auto api = std::make_unique<ApiService>(node->get(), server->get());
  (*server)->Serve(api.get());
  const std::string host = config.listen_host.find(':') != std::string::npos
                               ? "[" + config.listen_host + "]"
                               : config.listen_host;
  const std::string url = mesh::StrCat("http://", host, ":", (*server)->port());
  const node::DataDir& dir = (*node)->data_dir();
  // Rewritten at every start: atomic for readers (the CLI), no fsync (replace_file.h).
  if (absl::Status s = ReplaceFileAtomically(dir.url_path(), url + "\n", 0600); !s.ok()) {
    spdlog::warn("cannot write {}: {}", dir.url_path().string(), std::string(s.message()));
  }
  const double start_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("meshd ready at %s (node %s, %d worker(s), engine %s, started in %.0f ms)\n",
              url.c_str(), (*node)->key().did().ToString().c_str(), (*node)->workers(),
              (*node)->engine().c_str(), start_ms);
  std::fflush(stdout);
  (*node)->StartProfiler();

  // Until a stop signal: once a second, hand freed heap back to the system when the node has
  // gone idle (idle_trim.h).
  IdleTrim idle_trim;
  int signal_number = 0;
  for (const timespec period = {.tv_sec = 1, .tv_nsec = 0};;) {
    signal_number = sigtimedwait(&stop_signals, nullptr, &period);
    if (signal_number > 0) break;
    if (idle_trim.Observe((*node)->compute().Stats(), clock.Now())) malloc_trim(0);
  }
  spdlog::info("{}: draining (running jobs get {})", strsignal(signal_number),
               absl::FormatDuration(config.shutdown_grace));
  (*node)->compute().Drain(config.shutdown_grace);
  api->Shutdown();
  (*server)->Stop();
  (*node)->Drain(absl::ZeroDuration());
  std::error_code ec;
  std::filesystem::remove(dir.url_path(), ec);
  spdlog::info("meshd stopped");
  return 0;
}

}  // namespace mesh::api
