// `mesh run`: runs one module locally in a one-worker sandboxed pool (no daemon). Registered by
// main.cc; `exit_code` receives the outcome's exit status (README "Using the CLI" has the
// table). Single-threaded.
#pragma once

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli_context.h"
#include "mesh/wasm/run_report.h"

namespace mesh::cli {

void AddRunCommand(CLI::App& app, CliContext& ctx, absl::Status& result, int& exit_code);

// Exit status per outcome (README, "Using the CLI"); `mesh submit --wait` uses it too.
int ExitCodeForOutcome(const wasm::RunReport& report);

}  // namespace mesh::cli
