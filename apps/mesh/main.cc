// mesh: the command-line client of the Mesh compute mesh.
#include <iostream>

#include "absl/status/status.h"
#include "cli_context.h"
#include "mesh/common/logging.h"
#include "mesh_commands.h"
#include "run_command.h"
#include "split_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"mesh: verified WebAssembly compute mesh", "mesh"};
  app.require_subcommand(1);
  app.fallthrough();
  mesh::cli::CliContext ctx;
  ctx.data_dir = mesh::cli::DefaultDataDir();
  std::string log_level = "warn";
  (void)mesh::InitLogging(log_level);
  app.add_option("--data-dir", ctx.data_dir, "Data directory (default $MESH_DATA_DIR or ~/.mesh)");
  app.add_flag("--json", ctx.json, "Print machine-readable JSON");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->trigger_on_parse()
      ->check([](const std::string& level) {
        auto s = mesh::InitLogging(level);
        return s.ok() ? std::string() : std::string(s.message());
      });
  app.set_version_flag("--version", "mesh 0.1.0");

  absl::Status result;
  int run_exit_code = 0;  // `mesh run`, `mesh submit --wait`, `mesh job`: the job's outcome
  mesh::cli::AddIdCommands(app, ctx, result);
  mesh::cli::AddBlobCommands(app, ctx, result);
  mesh::cli::AddStoreCommands(app, ctx, result);
  mesh::cli::AddRunCommand(app, ctx, result, run_exit_code);
  mesh::cli::AddNodeCommands(app, ctx, result, run_exit_code);
  mesh::cli::AddJobCommands(app, ctx, result, run_exit_code);
  mesh::cli::AddMeshCommands(app, ctx, result);
  mesh::cli::AddLedgerCommands(app, ctx, result);
  mesh::cli::AddSplitCommands(app, ctx, result);
  mesh::cli::AddUserCommands(app, ctx, result);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; every usage error is exit code 2, like other bad input.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!result.ok()) {
    std::cerr << "mesh: error: " << result.message() << "\n";
    return mesh::cli::ExitCodeFor(result);
  }
  return run_exit_code;
}
