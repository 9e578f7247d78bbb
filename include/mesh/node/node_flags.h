// The command-line flags of a node, shared by meshd and `mesh node start`: where the data dir
// and config file are, and overrides for the config file's most used settings. Flags win over
// the file, which wins over the defaults. Plain value type; single-threaded.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "mesh/node/node_config.h"

namespace mesh::node {

struct NodeFlags {
  std::string data_dir;  // empty: $MESH_DATA_DIR, else ~/.mesh
  std::string config;    // empty: <data dir>/meshd.toml if it exists
  std::string listen;
  int max_concurrent = -1;
  std::string engine;
  std::string fuel, memory, timeout, grace;
  std::string log_level;
  std::string worker;
  std::vector<std::string> peers;
  std::vector<std::string> allowed_peers;  // --allow-peer DID
  std::string mesh_listen, advertise;
  std::vector<std::string> capabilities, federations;
  bool no_mesh = false;
  std::vector<std::string> faults;  // test-only: --fault lie[=RATE] | stall | die
};

void AddNodeFlags(CLI::App& app, NodeFlags& flags);
absl::StatusOr<NodeConfig> ResolveNodeConfig(const NodeFlags& flags);
// $MESH_DATA_DIR, else ~/.mesh.
std::string DefaultDataDirPath();

}  // namespace mesh::node
