// WorkerConfig: how a mesh-worker process is set up, and its command-line form. The pool turns
// its options into arguments (ToArgs) and the worker parses them back (ParseWorkerArgs), so
// both sides agree on one definition. Plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/exec/frame.h"
#include "mesh/exec/sandbox.h"
#include "mesh/wasm/engine.h"

namespace mesh::exec {

// The fd on which a worker finds its channel to the pool.
inline constexpr int kWorkerChannelFd = 3;

// mesh-worker exit codes.
inline constexpr int kWorkerExitOk = 0;         // the pool closed the channel
inline constexpr int kWorkerExitUsage = 64;     // bad arguments
inline constexpr int kWorkerExitSetup = 70;     // engine or sandbox set-up failed
inline constexpr int kWorkerExitProtocol = 71;  // the channel broke inside a frame

// What a mesh-worker process does: serve jobs, or answer one build request (build_worker.h).
enum class WorkerMode { kRun, kPrepare, kCompile };

struct WorkerConfig {
  WorkerMode mode = WorkerMode::kRun;
  // Build modes: the process's CPU-time budget (RLIMIT_CPU, whole seconds; 0 = none). In
  // compile mode it is inherited by the C compiler, which gets its own budget of that size.
  uint64_t build_cpu_seconds = 0;
  SandboxConfig sandbox;
  wasm::EngineKind engine = wasm::EngineKind::kInterp;  // resolved, never kAuto
  std::string aot_cache_dir;
  std::string aot_compiler;  // empty: the aot engine's default ($CC, else cc)
  // The pool's `<compiler> --version` line (cache key); empty: the worker asks the compiler.
  std::string aot_compiler_version;
  uint64_t max_frame_bytes = kDefaultMaxFrameBytes;
  // Instrumented modules the worker keeps between jobs (by module id), oldest dropped first.
  uint64_t module_cache_bytes = 256ull << 20;
  // The worker's shared inputs kept by CID (shared_input.h).
  uint64_t input_cache_bytes = 128ull << 20;
  bool test_hooks = false;  // honour TestHook requests (tests of the sandbox only)

  // argv[1..] for mesh-worker.
  std::vector<std::string> ToArgs() const;
};

// Parses argv[1..argc-1]; InvalidArgument naming the bad argument.
absl::StatusOr<WorkerConfig> ParseWorkerArgs(int argc, const char* const* argv);

}  // namespace mesh::exec
