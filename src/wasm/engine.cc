#include "mesh/wasm/engine.h"

#include <time.h>

#include "mesh/common/strings.h"

namespace mesh::wasm {
namespace {

absl::Duration ThreadCpuTime() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

}  // namespace

std::string_view EngineName(EngineKind kind) {
  switch (kind) {
    case EngineKind::kAuto:
      return "auto";
    case EngineKind::kInterp:
      return "interp";
    case EngineKind::kAot:
      return "aot";
  }
  return "unknown";
}

absl::StatusOr<EngineKind> ParseEngineKind(std::string_view text) {
  if (text == "auto") return EngineKind::kAuto;
  if (text == "interp") return EngineKind::kInterp;
  if (text == "aot") return EngineKind::kAot;
  return absl::InvalidArgumentError(
      mesh::StrCat("unknown engine '", text, "'; use auto, interp or aot"));
}

void ClassifyEnd(const EndState& end, const JobHost& host, const Limits& limits,
                 RunReport& report) {
  report.fuel_limit = limits.fuel;
  report.fuel_used = end.fuel_left < 0 ? limits.fuel : limits.fuel - end.fuel_left;
  report.exit_code = host.exit_code();
  if (host.stop_outcome() != Outcome::kOk) {
    report.outcome = host.stop_outcome();
    report.message = host.stop_message();
  } else if (end.host_action == HostAction::kExit || !end.trapped) {
    report.outcome = Outcome::kOk;
  } else if (end.fuel_left < 0) {
    report.outcome = Outcome::kFuelExhausted;
    report.message = mesh::StrCat("job exceeded its fuel limit of ", limits.fuel,
                                  "; raise --fuel or split the input");
  } else if (end.depth > kMaxCallDepth) {
    report.outcome = Outcome::kStackOverflow;
    report.message = mesh::StrCat("job exceeded the call depth limit of ", kMaxCallDepth,
                                  " nested calls; make the recursion iterative");
  } else {
    report.outcome = Outcome::kTrap;
    report.trap_kind = end.trap_message;
    report.message = mesh::StrCat("job trapped: ", end.trap_message);
  }
  if (report.outcome == Outcome::kTrap || report.outcome == Outcome::kFuelExhausted ||
      report.outcome == Outcome::kStackOverflow) {
    report.trap_function = end.function;
    if (!end.function.empty()) report.message += mesh::StrCat(" (in function ", end.function, ")");
  }
  // memory.grow past the limit returned -1 (the spec's answer) and the program chose what to do;
  // the outcome is what it did. One that then failed most likely ran out of memory: say so.
  report.memory_grows_refused = end.grows_refused;
  if (end.grows_refused != 0 && (report.outcome == Outcome::kTrap ||
                                 (report.outcome == Outcome::kOk && report.exit_code != 0))) {
    const std::string what = report.outcome == Outcome::kTrap
                                 ? mesh::StrCat("trapped (", report.message, ")")
                                 : mesh::StrCat("exited with code ", report.exit_code);
    report.message = mesh::StrCat("the job ", what, " after the memory limit of ",
                                  limits.memory_bytes, " bytes was reached (", end.grows_refused,
                                  " memory.grow refused); raise --memory");
  }
}

}  // namespace mesh::wasm

namespace mesh::wasm {

RunScope::RunScope(std::string_view engine, const Limits& limits)
    : limits_(limits),
      wall_start_(std::chrono::steady_clock::now()),
      cpu_start_(ThreadCpuTime()),
      memory_limit_bytes_(limits.memory_bytes) {
  result_.report.engine = std::string(engine);
  result_.report.fuel_limit = limits.fuel;
}

std::optional<std::vector<HostFuncId>> RunScope::Admit(const InstrumentedModule& module) {
  RunReport& report = result_.report;
  auto ids = JobHost::Bind(module.imports);
  if (!ids.ok()) {
    report.outcome = Outcome::kUnsupportedImport;
    report.message = std::string(ids.status().message());
    return std::nullopt;
  }
  if (module.initial_memory_bytes > limits_.memory_bytes) {
    report.outcome = Outcome::kMemoryLimit;
    report.message = mesh::StrCat("module needs ", module.initial_memory_bytes,
                                  " bytes of memory at start; the limit is ", limits_.memory_bytes,
                                  "; raise --memory");
    return std::nullopt;
  }
  // Tables live outside linear memory but in the same worker: they count against the same
  // limit, at their maximum, which is what lets table.grow go unchecked at run time. At most
  // 100,000 tables of 10,000,000 entries of a few bytes: no overflow.
  auto tables = ScanTableEntries(module.wasm);
  if (!tables.ok()) {
    report.outcome = Outcome::kInvalidModule;
    report.message = std::string(tables.status().message());
    return std::nullopt;
  }
  const uint64_t table_bytes = tables->max * kTableEntryBytes;
  if (table_bytes > limits_.memory_bytes - module.initial_memory_bytes) {
    report.outcome = Outcome::kMemoryLimit;
    report.message =
        mesh::StrCat("module needs ", module.initial_memory_bytes, " bytes of memory and ",
                     table_bytes, " bytes for tables of up to ", tables->max, " entries (",
                     kTableEntryBytes, " bytes each); the limit is ", limits_.memory_bytes,
                     "; raise --memory or declare a smaller table maximum");
    return std::nullopt;
  }
  memory_limit_bytes_ = limits_.memory_bytes - table_bytes;
  table_reserved_bytes_ = table_bytes;
  return *std::move(ids);
}

RunResult RunScope::Finish(JobHost& host, uint64_t memory_bytes) {
  RunReport& report = result_.report;
  // Tables at their reserve, not their current size: engines agree on it (wasm2c's tables are
  // not visible to the aot engine) and it is what the job was allowed.
  report.peak_memory_bytes = memory_bytes + table_reserved_bytes_;
  host.FillReport(report);
  // A job that failed after a file call was refused for a full quota most likely could not
  // write what it meant to: say which limit, as for memory.
  const bool failed =
      report.outcome == Outcome::kTrap || (report.outcome == Outcome::kOk && report.exit_code != 0);
  if (failed && report.memory_grows_refused == 0 &&
      (report.fs_bytes_refusals != 0 || report.fs_files_refusals != 0)) {
    const std::string what = report.outcome == Outcome::kTrap
                                 ? mesh::StrCat("trapped (", report.message, ")")
                                 : mesh::StrCat("exited with code ", report.exit_code);
    report.message =
        report.fs_bytes_refusals != 0
            ? mesh::StrCat("the job ", what, " after a write past its file limit of ",
                           limits_.fs_bytes, " bytes was refused (ENOSPC); raise --storage")
            : mesh::StrCat("the job ", what, " after it was refused a file past its limit of ",
                           limits_.fs_files, " created entries (EDQUOT)");
  }
  result_.output = std::move(host.stdout_bytes());
  result_.partials = host.partial_bytes();
  result_.checkpoint = host.last_checkpoint();
  result_.files = host.OutputFiles();
  report.output_bytes = result_.output.size();
  report.wall_time = absl::FromChrono(std::chrono::steady_clock::now() - wall_start_);
  report.cpu_time = ThreadCpuTime() - cpu_start_;
  return std::move(result_);
}

}  // namespace mesh::wasm
