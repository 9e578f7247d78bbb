#include "mesh/node/node_flags.h"

#include <cstdlib>
#include <filesystem>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/did_key.h"
#include "mesh/node/data_dir.h"

namespace mesh::node {

std::string DefaultDataDirPath() {
  if (const char* env = std::getenv("MESH_DATA_DIR"); env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return mesh::StrCat(home != nullptr ? home : ".", "/.mesh");
}

void AddNodeFlags(CLI::App& app, NodeFlags& f) {
  app.add_option("--data-dir", f.data_dir, "Node state: key, token, jobs, blobs (default ~/.mesh)");
  app.add_option("--config", f.config, "TOML config file (default <data dir>/meshd.toml)");
  app.add_option("--listen", f.listen,
                 "API address HOST:PORT (default 127.0.0.1:7420; port 0 = any)");
  app.add_option("--max-concurrent", f.max_concurrent, "Jobs run at once (default: cores)");
  app.add_option("--engine", f.engine, "auto, aot or interp");
  app.add_option("--fuel", f.fuel, "Default fuel limit per job");
  app.add_option("--memory", f.memory, "Default memory limit per job, e.g. 100MiB");
  app.add_option("--timeout", f.timeout, "Default wall-time limit per job, e.g. 30s");
  app.add_option("--grace", f.grace, "On SIGTERM, how long running jobs may take (e.g. 30s)");
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error, off");
  app.add_option("--worker", f.worker, "Path of mesh-worker (default: next to this executable)");
  app.add_option("--peer", f.peers, "Bootstrap peer HOST:PORT (repeatable)");
  app.add_option("--allow-peer", f.allowed_peers,
                 "A node DID allowed to connect; once any is given, only listed nodes may "
                 "(repeatable; adds to [mesh] allowed_peers). Without any, every node may join");
  app.add_option("--mesh-listen", f.mesh_listen,
                 "Peer address HOST:PORT, mutual TLS (default 127.0.0.1:7421; port 0 = any)");
  app.add_option("--advertise", f.advertise, "Address peers should dial, if not --mesh-listen");
  app.add_option("--capability", f.capabilities, "A capability this node offers (repeatable)");
  app.add_option("--federation", f.federations, "A federation this node is in (repeatable)");
  app.add_flag("--no-mesh", f.no_mesh, "Run alone: no peers, every job runs here");
  app.add_option("--fault", f.faults,
                 "TESTS ONLY: misbehave as an executor: lie[=RATE] (altered output), stall (no "
                 "receipt), die (exit mid-job). Repeatable");
}

absl::Status ParseFault(std::string_view text, FaultOptions& faults) {
  if (text == "stall") {
    faults.stall = true;
  } else if (text == "die") {
    faults.die_mid_job = true;
  } else if (text == "lie") {
    faults.lie_rate = 1;
  } else if (text.substr(0, 4) == "lie=") {
    const std::string rate(text.substr(4));
    char* end = nullptr;
    const double v = std::strtod(rate.c_str(), &end);
    if (rate.empty() || end != rate.c_str() + rate.size() || !(v > 0 && v <= 1)) {
      return absl::InvalidArgumentError(mesh::StrCat(
          "--fault ", text, ": the lie rate must be a number in (0, 1], e.g. lie=0.5"));
    }
    faults.lie_rate = v;
  } else {
    return absl::InvalidArgumentError(
        mesh::StrCat("--fault ", text, ": not a fault; use lie, lie=RATE, stall or die"));
  }
  return absl::OkStatus();
}

absl::StatusOr<NodeConfig> ResolveNodeConfig(const NodeFlags& f) {
  NodeConfig config;
  config.data_dir = f.data_dir.empty() ? DefaultDataDirPath() : f.data_dir;
  const std::filesystem::path file =
      f.config.empty() ? DataDir{config.data_dir}.config_path() : std::filesystem::path(f.config);
  std::error_code ec;
  if (!f.config.empty() || std::filesystem::exists(file, ec)) {
    MESH_RETURN_IF_ERROR(LoadNodeConfig(file, config));
  }
  if (!f.listen.empty()) MESH_RETURN_IF_ERROR(ParseListenAddress(f.listen, config));
  if (f.max_concurrent >= 0) config.max_concurrent = f.max_concurrent;
  if (!f.engine.empty()) {
    MESH_ASSIGN_OR_RETURN(config.engine, wasm::ParseEngineKind(f.engine));
  }
  if (!f.fuel.empty()) {
    MESH_ASSIGN_OR_RETURN(config.default_limits.fuel, wasm::ParseByteSize(f.fuel));
  }
  if (!f.memory.empty()) {
    MESH_ASSIGN_OR_RETURN(config.default_limits.memory_bytes, wasm::ParseByteSize(f.memory));
  }
  if (!f.timeout.empty()) {
    MESH_ASSIGN_OR_RETURN(config.default_limits.wall_time, wasm::ParseWallTime(f.timeout));
  }
  if (!f.grace.empty()) {
    MESH_ASSIGN_OR_RETURN(config.shutdown_grace, wasm::ParseWallTime(f.grace));
  }
  if (!f.log_level.empty()) config.log_level = f.log_level;
  if (!f.worker.empty()) config.worker_path = f.worker;
  for (const std::string& p : f.peers) config.mesh.peers.push_back(p);
  for (const std::string& did : f.allowed_peers) {
    if (absl::Status s = crypto::DidKey::Parse(did).status(); !s.ok()) {
      return absl::InvalidArgumentError(
          mesh::StrCat("--allow-peer ", did, ": ", s.message(),
                       "; give a node DID as `mesh id show` prints it"));
    }
    config.mesh.allowed_peers.push_back(did);
  }
  if (!f.mesh_listen.empty()) config.mesh.listen = f.mesh_listen;
  if (!f.advertise.empty()) config.mesh.advertise = f.advertise;
  for (const std::string& c : f.capabilities) config.mesh.capabilities.push_back(c);
  for (const std::string& c : f.federations) config.mesh.federations.push_back(c);
  if (f.no_mesh) config.mesh.enabled = false;
  for (const std::string& fault : f.faults) {
    MESH_RETURN_IF_ERROR(ParseFault(fault, config.mesh.fault));
  }
  if (config.mesh.listen.empty()) {
    // The API on any free port (tests, demos) means the mesh too: fixed ports would collide.
    config.mesh.listen =
        mesh::StrCat(config.listen_host, ":", config.listen_port == 0 ? 0 : kDefaultMeshPort);
  }
  return config;
}

}  // namespace mesh::node
