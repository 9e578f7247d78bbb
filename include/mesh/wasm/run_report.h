// RunReport: everything a run of a job tells its caller: how it ended, what it cost, what it
// produced, and what it reported along the way (progress, checkpoints, partial outputs).
// Plain value type; serialises to JSON for the CLI, the API and receipts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace mesh::wasm {

enum class Outcome {
  kOk,    // _start returned or proc_exit was called (see exit_code)
  kTrap,  // the module trapped: trap_kind says which
  kFuelExhausted,
  kMemoryLimit,        // memory.grow or instantiation would pass the memory limit
  kTimeout,            // wall time ran out; the worker was killed
  kStackOverflow,      // call depth passed kMaxCallDepth
  kOutputTooLarge,     // stdout (plus partial outputs) passed max_output_bytes
  kStderrTooLarge,     // stderr passed max_stderr_bytes
  kInvalidModule,      // malformed or invalid WASM; message names the byte offset
  kUnsupportedImport,  // the module imports something Mesh does not provide
  kCrashed,            // the worker process died for another reason
};

std::string_view OutcomeName(Outcome outcome);

struct ProgressRecord {
  uint32_t percent = 0;
  std::string message;
  uint64_t fuel = 0;  // fuel used when it was reported
};

struct CheckpointRecord {
  uint64_t size = 0;
  std::string sha256_hex;
  uint64_t fuel = 0;
};

struct PartialRecord {
  uint64_t offset = 0;  // where these bytes start in the stream of partial outputs
  uint64_t size = 0;
  uint64_t fuel = 0;
};

struct RunReport {
  Outcome outcome = Outcome::kOk;
  std::string message;        // human-readable: what happened, the limit, the way out
  std::string trap_kind;      // for kTrap: e.g. "unreachable", "integer divide by zero"
  std::string trap_function;  // best effort: the function index/name where it trapped
  int32_t exit_code = 0;
  uint64_t fuel_used = 0;
  uint64_t fuel_limit = 0;
  uint64_t peak_memory_bytes = 0;
  absl::Duration wall_time;
  absl::Duration cpu_time;
  std::string engine;
  std::string output_cid;
  uint64_t output_bytes = 0;
  std::string stderr_tail;
  std::vector<ProgressRecord> progress;
  std::vector<CheckpointRecord> checkpoints;
  std::vector<PartialRecord> partials;
  uint32_t memory_grows_refused = 0;  // memory.grow calls that returned -1 (the memory limit)
  uint64_t fs_bytes_written = 0;   // bytes of files the job created or changed (Limits::fs_bytes)
  uint64_t fs_files_created = 0;   // entries the job created (Limits::fs_files)
  uint32_t fs_bytes_refusals = 0;  // file calls refused with ENOSPC (Limits::fs_bytes was full)
  uint32_t fs_files_refusals = 0;  // file calls refused with EDQUOT (Limits::fs_files was full)

  bool ok() const { return outcome == Outcome::kOk && exit_code == 0; }
};

nlohmann::json ToJson(const RunReport& report);

}  // namespace mesh::wasm
