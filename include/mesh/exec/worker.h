// The body of a mesh-worker process: creates its engine, confines itself (sandbox.h), greets
// the pool, then serves run requests on its channel one at a time until the pool closes it.
// While a job runs, its progress reports go to the pool as they come (at most one frame per
// 50 ms, but always the first and the first at 100%), always before the job's answer.
// An aot worker also holds an interp engine: each run request names the engine (tiering runs a
// module on the interpreter until its compile is done; see worker_pool.h).
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
