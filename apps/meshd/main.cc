// meshd: the Mesh node daemon. Configuration: <data dir>/meshd.toml (or --config), then flags.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "mesh/api/daemon.h"
#include "mesh/common/process_tuning.h"
#include "mesh/node/node_flags.h"

int main(int argc, char** argv) {
  mesh::TuneProcess();  // Before any thread starts (see process_tuning.h).
  CLI::App app{"meshd: the Mesh node daemon (HTTP API, persistent job queue, sandboxed workers)"};
  mesh::node::NodeFlags flags;
  mesh::node::AddNodeFlags(app, flags);
  bool insecure_anonymous_reads = false;
  app.add_flag("--insecure-anonymous-reads", insecure_anonymous_reads,
               "Allow [api] anonymous_reads = true on a listen address other hosts can reach "
               "(anyone there can then read every job's env, args, inputs and outputs)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; a bad command line is exit code 2, like a bad meshd.toml (and like mesh).
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  absl::StatusOr<mesh::node::NodeConfig> config = mesh::node::ResolveNodeConfig(flags);
  if (!config.ok()) {
    std::fprintf(stderr, "meshd: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  config->insecure_anonymous_reads = insecure_anonymous_reads;
  return mesh::api::RunDaemon(*std::move(config));
}
