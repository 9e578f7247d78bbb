// The mesh commands: `mesh peers`, `mesh job ID --explain` and `--history`, and the placement
// flags of `mesh submit` (--remote, --local, --require, --federation, --max-price, --verify, ...).
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli_context.h"
#include "nlohmann/json.hpp"
#include "node_client.h"

namespace mesh::cli {

struct PlacementFlags {
  bool remote = false, local = false;
  std::vector<std::string> capabilities, federations;
  uint64_t max_price = 0;
  double min_reputation = 0;
  std::string trust_scope;
  uint32_t cpu_cores = 0;
  std::string verification;  // --verify: none, hash, replicate(k), adaptive
};

void AddPlacementFlags(CLI::App* submit, PlacementFlags& flags);
// Adds "placement", "requirements" and "verification" to a job request; InvalidArgument naming
// the flag for a contradiction or an unknown verification mode.
absl::Status AddPlacement(const PlacementFlags& flags, nlohmann::json& request);

absl::Status ExplainJob(const CliContext& ctx, const NodeTarget& node, const std::string& id);
absl::Status ShowHistory(const CliContext& ctx, const NodeTarget& node, const std::string& id);

void AddMeshCommands(CLI::App& app, CliContext& ctx, absl::Status& result);

}  // namespace mesh::cli
