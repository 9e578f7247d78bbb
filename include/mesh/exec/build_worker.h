// The body of a mesh-worker build process (--mode=prepare or --mode=compile): one untrusted
// module's decoding, instrumentation or code generation, done out of the pool's process so
// that a hostile module costs a killable child, never meshd's stack, memory or threads.
//  - prepare: confines itself like a job worker (no files, no sockets, no processes: the
//    seccomp filter of sandbox.h), under RLIMIT_AS and RLIMIT_CPU, then answers one
//    kInstrument request with the instrumented module (validation plus gas metering).
//  - compile: under RLIMIT_AS, RLIMIT_CPU and RLIMIT_CORE 0 (inherited by the C compiler it
//    starts), runs wasm2c and the C compiler for one instrumented module into the aot cache
//    (aot_engine.h) and answers one kCompile request. It may not be seccomp-filtered (it starts
//    the compiler and writes the cache), so its wall time is the pool's to enforce: the pool
//    starts it in a process group of its own and kills the whole group on its deadline, on a
//    cancel and at shutdown (module_builder.h).
// Runs on the process's only thread.
#pragma once

#include "mesh/exec/worker_config.h"

namespace mesh::exec {

// Returns the process exit code (worker_config.h lists them).
int RunBuildWorker(const WorkerConfig& config);

}  // namespace mesh::exec
