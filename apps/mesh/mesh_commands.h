// The mesh commands: `mesh peers`, `mesh job ID --explain` and `--history`, and the placement
// flags of `mesh submit` (--remote, --local, --require, --federation, --max-price, ...).
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
};

void AddPlacementFlags(CLI::App* submit, PlacementFlags& flags);
// Adds "placement" and "requirements" to a job request.
absl::Status AddPlacement(const PlacementFlags& flags, nlohmann::json& request);

absl::Status ExplainJob(const CliContext& ctx, const NodeTarget& node, const std::string& id);
absl::Status ShowHistory(const CliContext& ctx, const NodeTarget& node, const std::string& id);

void AddMeshCommands(CLI::App& app, CliContext& ctx, absl::Status& result);

}  // namespace mesh::cli
