// mesh-worker: one sandboxed job-running process of a worker pool, or (--mode=prepare|compile)
// one build process that instruments or compiles a single module (build_worker.h). Started by the
// pool (posix_spawn, channel on fd 3), never by hand; see include/mesh/exec/worker.h.
#include <cstdio>
#include <string>

#include "mesh/exec/build_worker.h"
#include "mesh/exec/worker.h"
#include "mesh/exec/worker_config.h"

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds only. LeakSanitizer's exit-time scan runs in a new thread under ptrace, which
// the worker's seccomp filter forbids; and the aot engine's SIGSEGV handler (wasm2c traps on
// guard pages) must see its faults before AddressSanitizer reports them as crashes.
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0:allow_user_segv_handler=1:handle_segv=0:handle_sigbus=0";
}
#endif

int main(int argc, char** argv) {
  absl::StatusOr<mesh::exec::WorkerConfig> config = mesh::exec::ParseWorkerArgs(argc, argv);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return mesh::exec::kWorkerExitUsage;
  }
  if (config->mode != mesh::exec::WorkerMode::kRun) return mesh::exec::RunBuildWorker(*config);
  return mesh::exec::RunWorker(*config);
}
