// Engine: runs one instrumented job module to completion inside the current process and
// reports how it went. Engines never throw and never return an error for anything the module
// does: traps, limits and bad modules are outcomes in the RunReport. A Status error means the
// engine itself could not work (e.g. the C compiler for aot is missing).
//
// Engines do not enforce wall time (WABT's interpreter and wasm2c code run to completion): the
// worker pool kills the worker process when wall time runs out. Engines are thread-compatible;
// the aot engine runs one instance per process at a time (wasm2c's runtime state is global).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/wasm/instrumenter.h"
#include "mesh/wasm/job_host.h"
#include "mesh/wasm/limits.h"
#include "mesh/wasm/module_limits.h"
#include "mesh/wasm/run_report.h"

namespace mesh::wasm {

enum class EngineKind { kAuto, kInterp, kAot };
std::string_view EngineName(EngineKind kind);
absl::StatusOr<EngineKind> ParseEngineKind(std::string_view text);

struct RunResult {
  RunReport report;
  std::string output;      // stdout
  std::string partials;    // concatenated emit_partial bytes
  std::string checkpoint;  // the last checkpoint's bytes
  // What the job left under JobInput::output_dir, parents before children, sorted by path.
  std::vector<OutputFile> files;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string_view name() const = 0;
  // `module_id` names the module for caches (its CID string).
  virtual absl::StatusOr<RunResult> Run(const std::string& module_id,
                                        const InstrumentedModule& module, JobInput input,
                                        const Limits& limits) = 0;
};

std::unique_ptr<Engine> MakeInterpEngine();

// Shared by engines: classifies how a run ended from the host's state and the
// instrumentation globals read after the run.
struct EndState {
  bool trapped = false;
  std::string trap_message;
  HostAction host_action = HostAction::kContinue;
  int64_t fuel_left = 0;
  uint32_t depth = 0;
  uint32_t grows_refused = 0;  // memory.grow calls that returned -1
  std::string function;        // FunctionLabel() of the function running when it ended
};
void ClassifyEnd(const EndState& end, const JobHost& host, const Limits& limits, RunReport& report);

// What one table entry costs against the memory limit, on every engine: wasm2c's funcref entry
// (wasm_rt_funcref_t, 24 bytes), the larger of the two engines' (WABT's interpreter keeps an
// 8-byte Ref). One figure for all engines keeps admission, table.grow and the reported peak the
// same wherever a job runs, as replicated verification needs.
inline constexpr uint64_t kTableEntryBytes = 24;

// What every engine does around its own work: starts the clocks, makes the checks that come
// before instantiation, and moves the host's results into the RunResult at the end.
class RunScope {
 public:
  RunScope(std::string_view engine, const Limits& limits);

  // Binds the imports and checks the initial memory plus the tables at their maximum (at
  // kTableEntryBytes each) against the memory limit. On failure returns nullopt with the
  // outcome already in result().
  std::optional<std::vector<HostFuncId>> Admit(const InstrumentedModule& module);
  // After Admit: the most pages linear memory may grow to, i.e. the memory limit less what the
  // tables reserve. Engines make it the memory's maximum, so memory.grow past it returns -1.
  uint64_t memory_limit_pages() const { return memory_limit_bytes_ / 65536; }
  // Outputs, recorded calls, sizes and times; call once, after ClassifyEnd. The reported peak
  // is `memory_bytes` plus the tables' reserve.
  RunResult Finish(JobHost& host, uint64_t memory_bytes);

  RunResult& result() { return result_; }
  RunReport& report() { return result_.report; }

 private:
  const Limits& limits_;
  const std::chrono::steady_clock::time_point wall_start_;
  const absl::Duration cpu_start_;
  uint64_t memory_limit_bytes_;
  uint64_t table_reserved_bytes_ = 0;  // set by Admit
  RunResult result_;
};

}  // namespace mesh::wasm
