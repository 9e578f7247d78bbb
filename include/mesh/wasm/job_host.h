// JobHost: the world a job sees, the same for every engine. It implements WASI preview1 for
// a job: args, environ, clocks, random_get, proc_exit, sched_yield, poll_oneoff (clock and
// stdio/file subscriptions; it never blocks: a clock event is reported as due at once), stdio
// (fd_read(0), fd_write(1, 2)) and the whole filesystem (every fd_* and path_* call) over the
// job's mounts and output directory, in memory (WasiFs, wasi_fs.h): no host file is reachable.
// It also implements the `mesh` module (progress, checkpoint, emit_partial, restore).
// proc_raise answers ENOSYS and sock_* ENOTCAPABLE: there is no network.
//
// Determinism: in deterministic mode the clock is virtual (1 ns per unit of fuel used, from a
// fixed epoch), random_get is a ChaCha20 stream keyed by the job's seed and file timestamps
// come from the same virtual clock, so a job produces the same bytes on every node.
//
// Fuel: filesystem calls cost fuel beyond the instructions around them (kWasiCallFuel per call
// that reaches an open descriptor, plus 1 per byte of file data, directory listing, link target
// and path moved; poll_oneoff kWasiCallFuel per subscription), charged through
// set_fuel_charge so both engines count the same. Stdio stays free.
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
#include "mesh/wasm/wasi_types.h"

namespace mesh::wasm {

struct GuestMemory {
  uint8_t* data = nullptr;
  uint64_t size = 0;
};

// Fuel a filesystem call costs on top of its bytes (see the header comment).
inline constexpr uint64_t kWasiCallFuel = 100;
// iovecs per fd_read/fd_write call, as Linux's IOV_MAX: past it EINVAL.
inline constexpr uint32_t kMaxIovs = 1024;

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

class WasiFs;  // wasi_fs.h (C++20; this header is also read by C++17 code: interp_engine.cc)

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
  kFdAdvise,
  kFdAllocate,
  kFdDatasync,
  kFdFdstatSetFlags,
  kFdFdstatSetRights,
  kFdFilestatGet,
  kFdFilestatSetSize,
  kFdFilestatSetTimes,
  kFdPread,
  kFdPrestatGet,
  kFdPrestatDirName,
  kFdPwrite,
  kFdReaddir,
  kFdRenumber,
  kFdSync,
  kFdTell,
  kPathCreateDirectory,
  kPathFilestatGet,
  kPathFilestatSetTimes,
  kPathLink,
  kPathOpen,
  kPathReadlink,
  kPathRemoveDirectory,
  kPathRename,
  kPathSymlink,
  kPathUnlinkFile,
  kPollOneoff,
  kStubNosys,       // proc_raise
  kStubNotcapable,  // sock_*: no network
};

// What the engine must do after a host call.
enum class HostAction { kContinue, kExit, kTrap };

class JobHost {
 public:
  JobHost(JobInput input, const Limits& limits);
  ~JobHost();

  // Resolves each import to a host function; Unimplemented naming the first import that is not
  // provided or whose signature differs from WASI's.
  static absl::StatusOr<std::vector<HostFuncId>> Bind(const std::vector<FuncImport>& imports);

  // Runs a host function. `args` holds one slot per parameter (i32 zero-extended, floats as
  // bits); the result, if any, goes to `*result`. On kExit see exit_code(); on kTrap see
  // stop_outcome() and stop_message().
  HostAction Call(HostFuncId id, const uint64_t* args, uint64_t* result, GuestMemory memory);

  // Not OK when the input's file image is malformed (WasiFs::Create): engines then refuse the
  // run with this status before starting it.
  const absl::Status& status() const { return status_; }

  // Fuel used so far; drives the virtual clock and stamps progress records.
  void set_fuel_probe(std::function<uint64_t()> probe) { fuel_probe_ = std::move(probe); }
  // Takes fuel from the job for host work (filesystem calls): the engine subtracts it from its
  // counter, so both engines count alike, and returns false when that left the counter below
  // zero; the call then stops the run (kFuelExhausted).
  void set_fuel_charge(std::function<bool(uint64_t)> charge) { fuel_charge_ = std::move(charge); }

  int32_t exit_code() const { return exit_code_; }
  Outcome stop_outcome() const { return stop_outcome_; }
  const std::string& stop_message() const { return stop_message_; }

  std::string& stdout_bytes() { return stdout_; }
  std::string stderr_tail() const { return stderr_; }
  const std::string& partial_bytes() const { return partials_; }
  const std::string& last_checkpoint() const { return checkpoint_; }
  // Moves the recorded progress, checkpoint and partial entries, and the filesystem's counts,
  // into `report`.
  void FillReport(RunReport& report);
  // What the job left in its output directory (WasiFs::CollectOutput); empty without one.
  std::vector<OutputFile> OutputFiles() const;

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
  uint64_t NowNs(uint32_t clock_id) const;  // clock 0 realtime, else monotonic
  // job_host_fs.cc: the fd_* and path_* calls on descriptors, and poll_oneoff.
  HostAction FsCall(HostFuncId id, const uint64_t* args, uint64_t* result, GuestMemory m);
  wasi::Errno FsDispatch(HostFuncId id, const uint64_t* args, GuestMemory m, uint64_t& fuel);
  wasi::Errno PollOneoff(GuestMemory m, const uint64_t* args, uint64_t& fuel);
  uint64_t StdinLeft() const;

  JobInput input_;
  const Limits limits_;
  std::function<uint64_t()> fuel_probe_;
  std::function<bool(uint64_t)> fuel_charge_;
  absl::Status status_;
  std::unique_ptr<WasiFs> fs_;  // null when status_ is not OK
  size_t stdin_piece_ = 0;      // 0: stdin_bytes; i > 0: stdin_pieces[i - 1]
  uint64_t stdin_offset_ = 0;   // within that piece
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
