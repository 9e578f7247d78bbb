// `mesh init` and `mesh node start`.
#include <iostream>

#include "cli_context.h"
#include "mesh/api/daemon.h"
#include "mesh/common/rng.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/node/data_dir.h"
#include "mesh/node/host_profile.h"
#include "mesh/node/node_flags.h"
#include "nlohmann/json.hpp"
#include "node_client.h"

namespace mesh::cli {
namespace {

absl::Status Init(const CliContext& ctx) {
  const node::DataDir dir{ctx.DataDir()};
  SecureRng rng;
  MESH_ASSIGN_OR_RETURN(node::InitResult result, node::InitDataDir(dir, rng));
  MESH_ASSIGN_OR_RETURN(crypto::KeyPair key, crypto::KeyPair::Load(dir.key_path()));
  if (ctx.json) {
    std::cout << nlohmann::json{{"data_dir", dir.root.string()},
                                {"did", key.did().ToString()},
                                {"key", dir.key_path().string()},
                                {"token", dir.token_path().string()},
                                {"config", dir.config_path().string()},
                                {"created_key", result.created_key},
                                {"created_token", result.created_token},
                                {"created_config", result.created_config}}
                     .dump()
              << "\n";
    return absl::OkStatus();
  }
  auto line = [](std::string_view what, const std::filesystem::path& p, bool created) {
    std::cout << mesh::StrCat(what, p.string(), created ? " (created)" : " (kept)") << "\n";
  };
  std::cout << "data dir: " << dir.root.string() << "\n";
  std::cout << "node:     " << key.did().ToString() << "\n";
  line("key:      ", dir.key_path(), result.created_key);
  line("token:    ", dir.token_path(), result.created_token);
  line("config:   ", dir.config_path(), result.created_config);
  std::cout << "next:     mesh node start\n";
  return absl::OkStatus();
}

absl::Status Profile(const CliContext& ctx, const NodeTarget& target) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, target, false));
  MESH_ASSIGN_OR_RETURN(nlohmann::json body,
                        JsonOrError(client->Request("GET", "/v1/node/profile")));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  // The readable form is the node's own (node::FormatProfile), from the profile it sent.
  std::cout << node::FormatProfile(node::HostProfileFromJson(body));
  return absl::OkStatus();
}

}  // namespace

void AddNodeCommands(CLI::App& app, CliContext& ctx, absl::Status& result, int& exit_code) {
  CLI::App* init = app.add_subcommand(
      "init", "Create the data dir: identity key, API token (0600) and a default meshd.toml");
  init->callback([&ctx, &result] { result = Init(ctx); });

  CLI::App* node = app.add_subcommand("node", "Run a node, or read its hardware profile");
  node->require_subcommand(1);
  node::NodeFlags* flags = &ctx.node_flags;
  CLI::App* start = node->add_subcommand(
      "start", "Run meshd in the foreground until SIGTERM or Ctrl-C (drains running jobs)");
  node::AddNodeFlags(*start, *flags);
  start->callback([&ctx, &result, &exit_code, flags] {
    node::NodeFlags f = *flags;
    if (f.data_dir.empty()) f.data_dir = ctx.data_dir;
    absl::StatusOr<node::NodeConfig> config = node::ResolveNodeConfig(f);
    if (!config.ok()) {
      result = config.status();
      return;
    }
    exit_code = api::RunDaemon(*std::move(config));
  });
  auto* target = new NodeTarget;  // lives as long as the CLI11 app
  CLI::App* profile = node->add_subcommand(
      "profile",
      "The running node's hardware: CPU, cores, caches, ISA, memory, disk, GPUs, OS, "
      "speed score and the capabilities derived from them");
  profile->add_option("--node", target->url, "Node API URL (default: the data dir's running node)");
  profile->callback([&ctx, &result, target] { result = Profile(ctx, *target); });
}

}  // namespace mesh::cli
