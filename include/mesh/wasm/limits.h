// Per-run resource limits of a job and their defaults. Fuel is the unit of compute (see
// instrumenter.h); memory is the WASM linear memory; wall time is enforced by the worker pool.
// Plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mesh::wasm {

struct Limits {
  uint64_t fuel = 10'000'000'000;
  uint64_t memory_bytes = 100ull << 20;
  absl::Duration wall_time = absl::Seconds(30);
  uint64_t max_output_bytes = 64ull << 20;
  uint64_t max_stderr_bytes = 1ull << 20;
  // The job's files (mounts and output directory): bytes it may write (the sizes of the files
  // it creates or changes, counted once each) and entries it may create (files, directories,
  // symlinks). Past either, the call fails with ENOSPC (bytes) or EDQUOT (entries).
  uint64_t fs_bytes = 64ull << 20;
  uint64_t fs_files = 10'000;
};

// "100MiB", "64KiB", "1GiB", "1000000", "10MB" -> bytes.
absl::StatusOr<uint64_t> ParseByteSize(std::string_view text);
// "30s", "500ms", "2m" -> duration (absl::ParseDuration syntax).
absl::StatusOr<absl::Duration> ParseWallTime(std::string_view text);

}  // namespace mesh::wasm
