#include "mesh/wasm/run_report.h"

namespace mesh::wasm {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kTrap:
      return "trap";
    case Outcome::kFuelExhausted:
      return "fuel_exhausted";
    case Outcome::kMemoryLimit:
      return "memory_limit";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kStackOverflow:
      return "stack_overflow";
    case Outcome::kOutputTooLarge:
      return "output_too_large";
    case Outcome::kStderrTooLarge:
      return "stderr_too_large";
    case Outcome::kInvalidModule:
      return "invalid_module";
    case Outcome::kUnsupportedImport:
      return "unsupported_import";
    case Outcome::kCrashed:
      return "crashed";
  }
  return "unknown";
}

nlohmann::json ToJson(const RunReport& r) {
  nlohmann::json j = {
      {"outcome", OutcomeName(r.outcome)},
      {"exit_code", r.exit_code},
      {"fuel_used", r.fuel_used},
      {"fuel_limit", r.fuel_limit},
      {"peak_memory_bytes", r.peak_memory_bytes},
      {"wall_time_ms", absl::ToDoubleMilliseconds(r.wall_time)},
      {"cpu_time_ms", absl::ToDoubleMilliseconds(r.cpu_time)},
      {"engine", r.engine},
      {"output_bytes", r.output_bytes},
  };
  if (!r.message.empty()) j["message"] = r.message;
  if (!r.trap_kind.empty()) j["trap_kind"] = r.trap_kind;
  if (!r.trap_function.empty()) j["trap_function"] = r.trap_function;
  if (!r.output_cid.empty()) j["output_cid"] = r.output_cid;
  if (!r.stderr_tail.empty()) j["stderr_tail"] = r.stderr_tail;
  // Left out at 0, like the fields above: a job that used neither keeps its report's bytes.
  if (r.memory_grows_refused != 0) j["memory_grows_refused"] = r.memory_grows_refused;
  if (r.fs_bytes_written != 0) j["fs_bytes_written"] = r.fs_bytes_written;
  if (r.fs_files_created != 0) j["fs_files_created"] = r.fs_files_created;
  if (r.fs_bytes_refusals != 0) j["fs_bytes_refusals"] = r.fs_bytes_refusals;
  if (r.fs_files_refusals != 0) j["fs_files_refusals"] = r.fs_files_refusals;
  auto& progress = j["progress"] = nlohmann::json::array();
  for (const auto& p : r.progress) {
    progress.push_back({{"percent", p.percent}, {"message", p.message}, {"fuel", p.fuel}});
  }
  auto& checkpoints = j["checkpoints"] = nlohmann::json::array();
  for (const auto& c : r.checkpoints) {
    checkpoints.push_back({{"size", c.size}, {"sha256", c.sha256_hex}, {"fuel", c.fuel}});
  }
  auto& partials = j["partials"] = nlohmann::json::array();
  for (const auto& p : r.partials) {
    partials.push_back({{"offset", p.offset}, {"size", p.size}, {"fuel", p.fuel}});
  }
  return j;
}

}  // namespace mesh::wasm
