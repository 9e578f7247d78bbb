// NodeConfig: everything meshd can be told, from a TOML file (meshd.toml in the data dir, or
// --config) and then command-line flags, which win. Every field has a default that works on a
// laptop: a node bound to 127.0.0.1, as many concurrent jobs as cores, the default limits.
// LoadNodeConfig's errors name the file, the key and what was expected. Plain value type.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/node/mesh_options.h"
#include "mesh/node/trust_options.h"
#include "mesh/storage/store_file.h"
#include "mesh/storage/upkeep_planner.h"
#include "mesh/wasm/engine.h"
#include "mesh/wasm/limits.h"

namespace mesh::node {

inline constexpr int kDefaultApiPort = 7420;

struct NodeConfig {
  std::filesystem::path data_dir;
  // [api]
  std::string listen_host = "127.0.0.1";
  int listen_port = kDefaultApiPort;  // 0: any free port (written to <data_dir>/meshd.url)
  int api_threads = 2;
  uint64_t max_json_bytes = 1ull << 20;  // bodies of JSON requests
  uint64_t max_blob_bytes = 1ull << 30;  // POST /v1/blobs
  // Reads (GET) without the bearer token. Off by default: job env, args, inputs and outputs are
  // readable by anyone who can read the API. GET /v1/node and GET /metrics are always open.
  bool anonymous_reads = false;
  // Set by --insecure-anonymous-reads only (never from the file): allows anonymous reads on a
  // non-loopback listen address, which meshd otherwise refuses to start with.
  bool insecure_anonymous_reads = false;
  // Host header names (besides loopback names and addresses and the listen address) that the
  // API answers; any other Host gets 421 (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  absl::Duration idle_timeout = absl::Seconds(60);    // between requests on a connection
  absl::Duration header_timeout = absl::Seconds(10);  // first byte to end of a request header
  absl::Duration body_timeout = absl::Seconds(60);    // then min_body_rate must be kept up
  uint64_t min_body_rate = 16ull << 10;               // bytes/s on average; 0: no minimum
  int max_connections = 1024;  // open API connections in all (capped below the fd limit)
  int max_connections_per_address = 64;
  // [compute]
  int max_concurrent = 0;  // 0: the number of cores
  wasm::EngineKind engine = wasm::EngineKind::kAuto;
  std::string worker_path;  // empty: mesh-worker next to the running executable
  uint64_t max_input_bytes = 256ull << 20;
  // The largest module this node loads (at most wasm::ModuleLimits' 64 MiB, which the
  // sandboxed pre-scan enforces whatever this says).
  uint64_t max_module_bytes = 64ull << 20;
  // How long this node refuses a module it died with twice (compute_service.h: poison jobs).
  absl::Duration module_refusal = absl::Hours(7 * 24);
  // [compute] build processes (exec/module_builder.h): preparing (decoding, validating,
  // instrumenting) a module, and compiling it for aot, each under CPU, wall and memory limits.
  absl::Duration prepare_cpu_time = absl::Seconds(10);
  absl::Duration prepare_wall_time = absl::Seconds(15);
  uint64_t prepare_memory_bytes = 1ull << 30;
  absl::Duration compile_cpu_time = absl::Seconds(60);
  absl::Duration compile_wall_time = absl::Seconds(120);
  uint64_t compile_memory_bytes = 2ull << 30;
  int compile_concurrency = 0;  // 0: max(1, cores / 2)
  absl::Duration max_compile_wait = absl::Seconds(10);
  // [limits]: per-job defaults, used when a job names none
  wasm::Limits default_limits;
  // [storage]
  uint64_t blob_quota_bytes = 0;           // 0: no quota
  uint64_t hold_quota_bytes = 1ull << 30;  // other nodes' shards held here; 0: none
  std::string zone;                        // this node's failure domain, for shard placement
  storage::StoreOptions store;             // code (4+2) and segment size of `mesh store put`
  storage::UpkeepOptions upkeep;           // audits and repair of this node's stored files
  int64_t rent_per_gib_hour = 10;          // credits an owner pays a holder; 0: free
  // [node]
  absl::Duration shutdown_grace = absl::Seconds(30);
  std::string log_level = "info";
  // [mesh]
  MeshOptions mesh;
  // [trust]
  TrustOptions trust;
};

// Reads `path` over the defaults in `config`. Unknown keys are errors (a typo must not be
// silently ignored).
absl::Status LoadNodeConfig(const std::filesystem::path& path, NodeConfig& config);
// "127.0.0.1:7420", "[::1]:0", ":8080" (all interfaces is spelled 0.0.0.0 explicitly).
absl::Status ParseListenAddress(std::string_view text, NodeConfig& config);
// The commented file `mesh init` writes.
std::string DefaultConfigToml();

}  // namespace mesh::node
