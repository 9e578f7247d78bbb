// JobHost: the world a job sees, the same for every engine. It implements Mesh's WASI
// preview1 subset (args, environ, fd_read(0), fd_write(1, 2), fd_close, fd_fdstat_get,
// fd_prestat_get, clock_time_get, random_get, proc_exit, sched_yield) and the `mesh` module
// (progress, checkpoint, emit_partial, restore). Every other WASI function answers EBADF, ENOSYS or
// ENOTCAPABLE, so nothing of the host machine is reachable.
//
// Determinism: in deterministic mode the clock is virtual (1 ns per unit of fuel used, from a
// fixed epoch) and random_get is a ChaCha20 stream keyed by the job's seed, so a job produces
// the same bytes on every node.
//
// Progress: each mesh.progress call is recorded for the run report and, when the input carries
// an on_progress callback, also handed to it at once, on the engine's thread, so a caller can
// watch a job while it runs (the worker forwards it to the pool; protocol.h).
//
// Engines bind the module's imports once (Bind), then forward each call with raw 64-bit
// argument slots and a view of linear memory. One JobHost per run; not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/wasm/fs_image.h"
#include "mesh/wasm/instrumenter.h"
#include "mesh/wasm/limits.h"
#include "mesh/wasm/run_report.h"

namespace mesh::wasm {

struct GuestMemory {
  uint8_t* data = nullptr;
  uint64_t size = 0;
};

// A progress message longer than this is cut to it.
inline constexpr size_t kMaxProgressMessageBytes = 256;

struct JobInput {
  // The job's stdin: stdin_bytes, then each of stdin_pieces in order.
  std::string stdin_bytes;
  std::vector<StdinPiece> stdin_pieces;
  std::vector<std::string> args;  // argv[1..]; argv[0] is the program name
  std::vector<std::pair<std::string, std::string>> env;
  std::array<uint8_t, 32> seed{};  // random_get stream key (the job id's digest)
  bool deterministic = true;
  // Optional: called with each progress record as the job reports it (percent clamped to 100,
  // message cut to kMaxProgressMessageBytes), on the thread running the job, before the run
  // ends. Not part of the job: never serialised, and it cannot change what the job computes.
  std::function<void(const ProgressRecord&)> on_progress;
  // Optional, like on_progress: each mesh.checkpoint (the bytes and the fuel used so far) and
  // each mesh.emit_partial, as the job makes it, on the thread running the job.
  std::function<void(std::string_view bytes, uint64_t fuel)> on_checkpoint;
  std::function<void(std::string_view bytes, uint64_t fuel)> on_partial;
  // Part of the job's input when set: the checkpoint this run resumes from, which the module
  // reads with mesh.restore (the resume convention: docs/architecture.md, "Long jobs").
  std::optional<std::string> resume_checkpoint;
  // Directory trees preopened for the job (fds 3, 4, ... in this order; fs_image.h). Part of the
  // job's input: the same mounts give the same tree, listings and timestamps on every node.
  std::vector<FsMount> mounts;
  // A guest path (absolute) whose files are read back after the run into RunResult::files.
  // Inside a writable mount it is made there (with its parents); elsewhere it is preopened
  // empty and writable after the mounts. Empty: none.
  std::string output_dir;
};

// The job's whole stdin as one string (stdin_bytes, then the pieces): for tests and callers
// that need it in one place; engines read the pieces where they are.
std::string StdinOf(const JobInput& input);

enum class HostFuncId : uint16_t {
  kArgsGet,
  kArgsSizesGet,
  kEnvironGet,
  kEnvironSizesGet,
  kClockResGet,
  kClockTimeGet,
  kFdClose,
  kFdFdstatGet,
  kFdRead,
  kFdSeek,
  kFdWrite,
  kProcExit,
  kRandomGet,
  kSchedYield,
  kMeshProgress,
  kMeshCheckpoint,
  kMeshEmitPartial,
  kMeshRestore,
  kStubBadf,        // fd operations Mesh does not offer (and fd_prestat_get: no preopens)
  kStubNosys,       // poll_oneoff, proc_raise
  kStubNotcapable,  // path_* and sock_*: no file system, no network
};

// What the engine must do after a host call.
enum class HostAction { kContinue, kExit, kTrap };

class JobHost {
 public:
  JobHost(JobInput input, const Limits& limits);

  // Resolves each import to a host function; Unimplemented naming the first import that is not
  // provided or whose signature differs from WASI's.
  static absl::StatusOr<std::vector<HostFuncId>> Bind(const std::vector<FuncImport>& imports);

  // Runs a host function. `args` holds one slot per parameter (i32 zero-extended, floats as
  // bits); the result, if any, goes to `*result`. On kExit see exit_code(); on kTrap see
  // stop_outcome() and stop_message().
  HostAction Call(HostFuncId id, const uint64_t* args, uint64_t* result, GuestMemory memory);

  // Fuel used so far; drives the virtual clock and stamps progress records.
  void set_fuel_probe(std::function<uint64_t()> probe) { fuel_probe_ = std::move(probe); }

  int32_t exit_code() const { return exit_code_; }
  Outcome stop_outcome() const { return stop_outcome_; }
  const std::string& stop_message() const { return stop_message_; }

  std::string& stdout_bytes() { return stdout_; }
  std::string stderr_tail() const { return stderr_; }
  const std::string& partial_bytes() const { return partials_; }
  const std::string& last_checkpoint() const { return checkpoint_; }
  // Moves the recorded progress, checkpoint and partial entries into `report`.
  void FillReport(RunReport& report);

 private:
  uint32_t ArgsSizesGet(GuestMemory m, uint32_t count_ptr, uint32_t size_ptr);
  uint32_t ArgsGet(GuestMemory m, uint32_t argv_ptr, uint32_t buf_ptr);
  uint32_t EnvironSizesGet(GuestMemory m, uint32_t count_ptr, uint32_t size_ptr);
  uint32_t EnvironGet(GuestMemory m, uint32_t env_ptr, uint32_t buf_ptr);
  uint32_t FdRead(GuestMemory m, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t out);
  HostAction FdWrite(GuestMemory m, const uint64_t* args, uint64_t* result);
  uint32_t FdFdstatGet(GuestMemory m, uint32_t fd, uint32_t out);
  uint32_t ClockTimeGet(GuestMemory m, uint32_t clock_id, uint32_t out);
  uint32_t ClockResGet(GuestMemory m, uint32_t clock_id, uint32_t out);
  uint32_t RandomGet(GuestMemory m, uint32_t buf, uint32_t len);
  HostAction MeshCall(HostFuncId id, GuestMemory m, const uint64_t* args);
  HostAction MeshRestore(GuestMemory m, const uint64_t* args, uint64_t* result);
  HostAction Stop(Outcome outcome, std::string message);
  uint64_t FuelNow() const { return fuel_probe_ ? fuel_probe_() : 0; }

  JobInput input_;
  const Limits limits_;
  std::function<uint64_t()> fuel_probe_;
  size_t stdin_piece_ = 0;     // 0: stdin_bytes; i > 0: stdin_pieces[i - 1]
  uint64_t stdin_offset_ = 0;  // within that piece
  uint64_t random_offset_ = 0;
  bool stdin_closed_ = false;
  std::string stdout_;
  std::string stderr_;
  std::string partials_;
  std::string checkpoint_;
  std::vector<ProgressRecord> progress_;
  std::vector<CheckpointRecord> checkpoints_;
  std::vector<PartialRecord> partial_records_;
  int32_t exit_code_ = 0;
  Outcome stop_outcome_ = Outcome::kOk;
  std::string stop_message_;
};

}  // namespace mesh::wasm
