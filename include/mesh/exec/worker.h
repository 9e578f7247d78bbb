// The body of a mesh-worker process: creates its engine, confines itself (sandbox.h), greets
// the pool, then serves run requests on its channel one at a time until the pool closes it.
// Jobs in one worker share nothing but the cache of instrumented modules: each run gets a new
// engine instance (fresh linear memory, globals and host state), and nothing a job does
// reaches the next one. Runs on the process's only thread; never returns to a caller that
// wants to do anything else (the sandbox stays in force).
#pragma once

#include "mesh/exec/worker_config.h"

namespace mesh::exec {

// Returns the process exit code (worker_config.h lists them).
int RunWorker(const WorkerConfig& config);

}  // namespace mesh::exec
