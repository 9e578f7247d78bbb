// Shared state and helpers of the `mesh` CLI: global flags, where the data lives, how errors
// become one-line messages and exit codes. Single-threaded.
#pragma once

#include <filesystem>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "mesh/node/node_flags.h"

namespace mesh::cli {

struct CliContext {
  std::string data_dir;
  bool json = false;
  node::NodeFlags node_flags;  // `mesh node start`

  std::filesystem::path DataDir() const { return data_dir; }
  std::filesystem::path DefaultKeyPath() const { return DataDir() / "identity.key"; }
  std::filesystem::path StoreDir() const { return DataDir() / "store"; }
};

// Exit codes: 0 ok, 1 internal, 2 bad input, 3 not found, 4 already exists, 5 permission,
// 6 data loss, 7 resource exhausted, 8 unavailable.
int ExitCodeFor(const absl::Status& status);

// The default data dir: $MESH_DATA_DIR, else ~/.mesh.
std::string DefaultDataDir();

// Creates the data dir (mode 0700) if needed.
absl::Status EnsureDataDir(const CliContext& ctx);

void AddIdCommands(CLI::App& app, CliContext& ctx, absl::Status& result);
void AddBlobCommands(CLI::App& app, CliContext& ctx, absl::Status& result);
void AddStoreCommands(CLI::App& app, CliContext& ctx, absl::Status& result);  // store_commands.cc
void AddNodeCommands(CLI::App& app, CliContext& ctx, absl::Status& result, int& exit_code);
void AddJobCommands(CLI::App& app, CliContext& ctx, absl::Status& result, int& exit_code);
// `mesh ledger balance|history|verify` and `mesh reputation` (ledger_commands.cc).
void AddLedgerCommands(CLI::App& app, CliContext& ctx, absl::Status& result);
void AddUserCommands(CLI::App& app, CliContext& ctx, absl::Status& result);

}  // namespace mesh::cli
