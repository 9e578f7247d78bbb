// RunDaemon: meshd's life — start a Node and its HTTP API from a NodeConfig, announce where it
// listens (stdout and <data dir>/meshd.url), serve until SIGTERM or SIGINT, then drain: refuse
// new jobs, give running ones the configured grace period, persist, stop, return 0.
// `mesh node start` and the meshd executable both call it. Call once per process, from main.
#pragma once

#include "mesh/node/node_config.h"

namespace mesh::api {

// Returns the process exit status: 0 after an orderly stop, 1 if the node could not start
// (the reason is logged).
int RunDaemon(node::NodeConfig config);

}  // namespace mesh::api
