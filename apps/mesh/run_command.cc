// `mesh run MODULE.wasm [--input FILE|-] [limits] [--env K=V]... [--dir HOST[::GUEST]]...
// [--output-dir GUEST[::HOST]] [-- ARGS...]`: runs a job on this machine in a sandboxed
// mesh-worker process and reports how it went. Directories are read here and given to the job
// as data (the worker opens no host file); what it leaves in its output directory is written
// out after the run.
//
// The module's CID is its id. stdout of the job goes to stdout, byte for byte; the report goes
// to stderr (human-readable, or one JSON object with --json). The job's seed, in deterministic
// mode, is SHA-256 over "mesh-run-seed-v1\0" followed by the module CID (text), the input bytes
// and each argument, each preceded by its length as a u64 little-endian (arguments also by
// their count), so the same module, input and arguments always draw the same random bytes.
#include "run_command.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "mesh/cas/cid.h"
#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"
#include "mesh/exec/engine_factory.h"
#include "mesh/exec/worker_pool.h"
#include "mesh/job/job_mounts.h"
#include "mesh/wasm/host_tree.h"
#include "mesh/wasm/limits.h"

namespace mesh::cli {
namespace {

// Inputs and modules are held in memory by `mesh run`; bigger ones belong to meshd's jobs.
constexpr size_t kMaxModuleBytes = 256ull << 20;
constexpr size_t kMaxInputBytes = 256ull << 20;

struct RunFlags {
  std::string module;
  std::vector<std::string> args;
  std::string input;
  uint64_t fuel = wasm::Limits{}.fuel;
  std::string memory;
  std::string timeout;
  std::string max_output;
  std::string engine = "auto";
  std::vector<std::string> env;
  bool nondeterministic = false;
  std::vector<std::string> dirs;     // HOST[::GUEST], read-write on a private copy
  std::vector<std::string> dirs_ro;  // HOST[::GUEST], read-only
  std::string output_dir;            // GUEST[::HOST]
  std::string storage;               // bytes the job may write to its files
};

// "HOST::GUEST" (wasmtime's syntax) or "HOST", whose guest path is then HOST's own: "." and
// "./" are the guest's root (wasi-libc resolves relative paths from "/"), a relative HOST is
// under "/", an absolute one keeps its path.
absl::StatusOr<wasm::FsMount> MountOf(const std::string& flag, bool read_only,
                                      uint64_t& bytes_left) {
  const size_t sep = flag.find("::");
  const std::string host = flag.substr(0, sep);
  std::string guest = sep == std::string::npos ? host : flag.substr(sep + 2);
  if (host.empty() || guest.empty()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("--dir '", flag, "' is not HOST[::GUEST] (e.g. --dir data::/data)"));
  }
  if (guest[0] != '/') guest = "/" + guest;
  MESH_ASSIGN_OR_RETURN(guest, job::NormaliseGuestPath(guest, "--dir's guest path"));
  MESH_ASSIGN_OR_RETURN(
      wasm::FsMount mount,
      wasm::ReadHostTree(host, guest, read_only,
                         {.max_bytes = bytes_left, .max_entries = wasm::Limits{}.fs_files * 10}));
  for (const wasm::FsNode& n : mount.nodes) bytes_left -= n.content.bytes.size();
  return mount;
}

// The mounts of --dir and --dir-ro, in the order given, each guest path once.
absl::Status AddMounts(const RunFlags& flags, wasm::JobInput& input) {
  uint64_t bytes_left = kMaxInputBytes - input.stdin_bytes.size();
  for (const auto& [list, read_only] :
       {std::pair{&flags.dirs, false}, std::pair{&flags.dirs_ro, true}}) {
    for (const std::string& flag : *list) {
      MESH_ASSIGN_OR_RETURN(wasm::FsMount mount, MountOf(flag, read_only, bytes_left));
      for (const wasm::FsMount& other : input.mounts) {
        if (other.guest_path == mount.guest_path) {
          return absl::InvalidArgumentError(
              mesh::StrCat("two directories are mounted at ", mount.guest_path));
        }
      }
      input.mounts.push_back(std::move(mount));
    }
  }
  if (!flags.output_dir.empty()) {
    const size_t sep = flags.output_dir.find("::");
    if (sep != std::string::npos && sep + 2 == flags.output_dir.size()) {
      return absl::InvalidArgumentError(
          mesh::StrCat("--output-dir '", flags.output_dir,
                       "' names no host directory after '::' (GUEST[::HOST])"));
    }
    MESH_ASSIGN_OR_RETURN(input.output_dir, job::NormaliseGuestPath(flags.output_dir.substr(0, sep),
                                                                    "--output-dir's guest path"));
  }
  return absl::OkStatus();
}

// Where --output-dir GUEST[::HOST] writes the job's files: HOST, or GUEST's last name here.
std::filesystem::path OutputDestination(const std::string& flag) {
  const size_t sep = flag.find("::");
  if (sep != std::string::npos) return flag.substr(sep + 2);
  const std::filesystem::path guest(flag);
  const std::string name = guest.filename().empty() ? guest.parent_path().filename().string()
                                                    : guest.filename().string();
  return name.empty() ? std::filesystem::path("output") : std::filesystem::path(name);
}

}  // namespace

int ExitCodeForOutcome(const wasm::RunReport& report) {
  // A job that failed after memory.grow was refused most likely ran out of memory (the report's
  // message says so): the status says it too, whatever the program did next.
  const bool failed = report.outcome == wasm::Outcome::kTrap ||
                      (report.outcome == wasm::Outcome::kOk && report.exit_code != 0);
  if (failed && report.memory_grows_refused > 0) return 13;
  switch (report.outcome) {
    case wasm::Outcome::kOk:
      return report.exit_code == 0 ? 0 : 10;
    case wasm::Outcome::kTrap:
      return 11;
    case wasm::Outcome::kFuelExhausted:
      return 12;
    case wasm::Outcome::kMemoryLimit:
      return 13;
    case wasm::Outcome::kTimeout:
      return 14;
    case wasm::Outcome::kStackOverflow:
      return 15;
    case wasm::Outcome::kOutputTooLarge:
    case wasm::Outcome::kStderrTooLarge:
      return 16;
    case wasm::Outcome::kInvalidModule:
      return 17;
    case wasm::Outcome::kUnsupportedImport:
      return 18;
    case wasm::Outcome::kCrashed:
      return 19;
  }
  return 1;
}

namespace {

absl::StatusOr<std::string> ReadInput(const std::string& name) {
  if (name.empty()) return std::string();  // no --input: the job's stdin is empty
  if (name != "-") {
    absl::StatusOr<std::string> data = ReadFileToString(name, kMaxInputBytes);
    if (absl::IsResourceExhausted(data.status())) {
      return absl::ResourceExhaustedError(
          mesh::StrCat("input ", name, " is larger than mesh run's limit of ", kMaxInputBytes,
                       " bytes; store it with `mesh blob put` and submit a job to meshd instead"));
    }
    return data;
  }
  std::string data;
  char buffer[64 * 1024];
  while (true) {
    MESH_ASSIGN_OR_RETURN(size_t n, ReadSome(STDIN_FILENO, buffer, sizeof(buffer)));
    if (n == 0) return data;
    if (data.size() + n > kMaxInputBytes) {
      return absl::ResourceExhaustedError(
          mesh::StrCat("stdin is larger than mesh run's limit of ", kMaxInputBytes, " bytes"));
    }
    data.append(buffer, n);
  }
}

std::array<uint8_t, 32> JobSeed(const std::string& module_cid, const wasm::JobInput& input) {
  crypto::Sha256 h;
  h.Update(std::string_view("mesh-run-seed-v1\0", 17));
  auto u64 = [&](uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    h.Update(std::string_view(b, 8));
  };
  auto part = [&](std::string_view s) {
    u64(s.size());
    h.Update(s);
  };
  part(module_cid);
  part(input.stdin_bytes);
  u64(input.args.size());
  for (const std::string& a : input.args) part(a);
  return h.Finish();
}

std::string Bytes(uint64_t n) {
  if (n < 10 * 1024) return mesh::StrCat(n, " B");
  if (n < 10 * 1024 * 1024) return mesh::StrCat(n / 1024, " KiB");
  return mesh::StrCat(n / (1024 * 1024), " MiB");
}

std::string Time(absl::Duration d) {
  return absl::FormatDuration(
      absl::Trunc(d, d < absl::Seconds(1) ? absl::Microseconds(10) : absl::Milliseconds(1)));
}

void PrintHumanReport(const wasm::RunReport& r, const std::string& module_cid,
                      const wasm::Limits& limits) {
  // A worker that was killed (timeout, crash) could not say what the job used.
  const bool measured =
      r.outcome != wasm::Outcome::kTimeout && r.outcome != wasm::Outcome::kCrashed;
  std::string out = mesh::StrCat("outcome:     ", wasm::OutcomeName(r.outcome), "\n");
  if (!r.message.empty()) out += mesh::StrCat("message:     ", r.message, "\n");
  if (!r.trap_kind.empty()) out += mesh::StrCat("trap:        ", r.trap_kind, "\n");
  if (r.outcome == wasm::Outcome::kOk) out += mesh::StrCat("exit code:   ", r.exit_code, "\n");
  if (measured) {
    out += mesh::StrCat("fuel:        ", r.fuel_used, " used of ", r.fuel_limit, "\n");
    out += mesh::StrCat("memory:      ", Bytes(r.peak_memory_bytes), " peak of ",
                        Bytes(limits.memory_bytes),
                        r.memory_grows_refused == 0
                            ? std::string()
                            : mesh::StrCat(" (", r.memory_grows_refused, " memory.grow refused)"),
                        "\n");
    if (r.fs_bytes_written != 0 || r.fs_files_created != 0 || r.fs_bytes_refusals != 0 ||
        r.fs_files_refusals != 0) {
      const uint32_t refused = r.fs_bytes_refusals + r.fs_files_refusals;
      out += mesh::StrCat("files:       ", r.fs_files_created, " created, ",
                          Bytes(r.fs_bytes_written), " written of ", Bytes(limits.fs_bytes),
                          refused == 0 ? std::string() : mesh::StrCat(" (", refused, " refused)"),
                          "\n");
    }
    out += mesh::StrCat("time:        ", Time(r.wall_time), " wall, ", Time(r.cpu_time),
                        " cpu (limit ", Time(limits.wall_time), ")\n");
  } else {
    out += mesh::StrCat("fuel:        not measured (the worker was stopped); limit ", r.fuel_limit,
                        "\n");
    out += mesh::StrCat("time:        ", Time(r.wall_time), " wall (limit ", Time(limits.wall_time),
                        ")\n");
  }
  out += mesh::StrCat("engine:      ", r.engine, "\n");
  out += mesh::StrCat("module:      ", module_cid, "\n");
  out += mesh::StrCat("output:      ", r.output_bytes, " bytes, ", r.output_cid, "\n");
  out += mesh::StrCat("reported:    ", r.progress.size(), " progress, ", r.checkpoints.size(),
                      " checkpoints, ", r.partials.size(), " partial outputs\n");
  if (!r.progress.empty()) {
    const auto& last = r.progress.back();
    out += mesh::StrCat("progress:    ", last.percent, "% ", last.message, "\n");
  }
  if (!r.stderr_tail.empty()) {
    out += "stderr:\n";
    size_t start = 0;
    while (start < r.stderr_tail.size()) {
      size_t end = r.stderr_tail.find('\n', start);
      if (end == std::string::npos) end = r.stderr_tail.size();
      out += mesh::StrCat("  | ", std::string_view(r.stderr_tail).substr(start, end - start), "\n");
      start = end + 1;
    }
  }
  std::cerr << out;
}

absl::Status RunJob(const CliContext& ctx, const RunFlags& flags, int& exit_code) {
  absl::StatusOr<std::string> module = ReadFileToString(flags.module, kMaxModuleBytes);
  if (absl::IsResourceExhausted(module.status())) {
    return absl::InvalidArgumentError(
        mesh::StrCat("module ", flags.module, " is larger than ", kMaxModuleBytes, " bytes"));
  }
  MESH_RETURN_IF_ERROR(module.status());
  const std::string module_cid = cas::Cid::Of(*module).ToString();

  exec::RunRequest request;
  request.module_id = module_cid;
  request.module_wasm = std::make_shared<const std::string>(*std::move(module));
  MESH_ASSIGN_OR_RETURN(request.input.stdin_bytes, ReadInput(flags.input));
  request.input.args = flags.args;
  for (const std::string& kv : flags.env) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          mesh::StrCat("--env '", kv, "' is not NAME=VALUE (e.g. --env LANG=C)"));
    }
    request.input.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  request.input.deterministic = !flags.nondeterministic;
  request.input.seed = JobSeed(module_cid, request.input);
  MESH_RETURN_IF_ERROR(AddMounts(flags, request.input));
  std::filesystem::path output_to;
  if (!flags.output_dir.empty()) {
    // Checked before the run: a job's output is not thrown away for want of a place to put it.
    output_to = OutputDestination(flags.output_dir);
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(output_to, ec)) &&
        (!std::filesystem::is_directory(output_to, ec) ||
         !std::filesystem::is_empty(output_to, ec))) {
      return absl::AlreadyExistsError(mesh::StrCat(
          "--output-dir: ", output_to.string(),
          " already exists and is not an empty directory; name another with GUEST::HOST"));
    }
  }

  wasm::Limits limits;
  limits.fuel = flags.fuel;
  if (!flags.memory.empty()) {
    MESH_ASSIGN_OR_RETURN(limits.memory_bytes, wasm::ParseByteSize(flags.memory));
  }
  if (!flags.max_output.empty()) {
    MESH_ASSIGN_OR_RETURN(limits.max_output_bytes, wasm::ParseByteSize(flags.max_output));
  }
  if (!flags.timeout.empty()) {
    MESH_ASSIGN_OR_RETURN(limits.wall_time, wasm::ParseWallTime(flags.timeout));
  }
  if (!flags.storage.empty()) {
    MESH_ASSIGN_OR_RETURN(limits.fs_bytes, wasm::ParseByteSize(flags.storage));
  }
  request.limits = limits;
  MESH_ASSIGN_OR_RETURN(wasm::EngineKind engine, wasm::ParseEngineKind(flags.engine));

  exec::PoolOptions options;
  MESH_ASSIGN_OR_RETURN(options.worker_path, exec::DefaultWorkerPath());
  options.workers = 1;
  options.engine = engine;
  if (engine != wasm::EngineKind::kInterp) {
    // Compiled modules are kept with the rest of the user's Mesh state, reused across runs.
    MESH_RETURN_IF_ERROR(EnsureDataDir(ctx));
    options.aot_cache_dir = (ctx.DataDir() / "cache" / "aot").string();
  }
  options.default_limits = limits;
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<exec::WorkerPool> pool,
                        exec::WorkerPool::Start(std::move(options)));
  MESH_ASSIGN_OR_RETURN(wasm::RunResult result, pool->Run(std::move(request)));
  pool->Shutdown();

  const wasm::RunReport& report = result.report;
  exit_code = ExitCodeForOutcome(report);
  MESH_RETURN_IF_ERROR(WriteAll(STDOUT_FILENO, result.output));
  if (!output_to.empty()) {
    MESH_RETURN_IF_ERROR(wasm::WriteOutputFiles(result.files, output_to));
  }
  if (ctx.json) {
    nlohmann::json j = wasm::ToJson(report);
    j["module_cid"] = module_cid;
    j["exit_status"] = exit_code;
    std::cerr << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (report.outcome == wasm::Outcome::kInvalidModule) {
    std::cerr << "mesh: error: " << flags.module << ": " << report.message << "\n";
  } else {
    PrintHumanReport(report, module_cid, limits);
    if (!output_to.empty()) {
      std::cerr << "output dir:  " << result.files.size() << " entries written to "
                << output_to.string() << "\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace

void AddRunCommand(CLI::App& app, CliContext& ctx, absl::Status& result, int& exit_code) {
  auto flags = std::make_shared<RunFlags>();
  auto* run = app.add_subcommand(
      "run", "Run a WebAssembly job here, sandboxed; its stdout to stdout, the report to stderr");
  run->add_option("MODULE", flags->module, "The job's module (a WASI command .wasm file)")
      ->required();
  run->add_option("ARGS", flags->args, "Arguments for the job (put them after --)");
  run->add_option("--input", flags->input, "File whose bytes are the job's stdin, or - for stdin");
  run->add_option("--fuel", flags->fuel, "Fuel limit (units of metered work)");
  run->add_option("--memory", flags->memory, "Linear memory limit, e.g. 100MiB (default 100MiB)");
  run->add_option("--timeout", flags->timeout, "Wall-time limit, e.g. 30s or 500ms (default 30s)");
  run->add_option("--max-output", flags->max_output,
                  "Limit on stdout plus partial outputs, e.g. 1MiB (default 64MiB)");
  run->add_option("--engine", flags->engine, "auto, interp or aot (default auto)");
  run->add_option("--env", flags->env, "NAME=VALUE for the job's environment (repeatable)")
      ->allow_extra_args(false);  // one value per --env: never swallow MODULE
  run->add_flag("--nondeterministic", flags->nondeterministic,
                "Give the job the real clock and real randomness");
  run->add_option("--dir", flags->dirs,
                  "HOST[::GUEST]: give the job a host directory at GUEST (default: HOST's path; "
                  "'.' is /), read-write on a private copy: the host's files never change "
                  "(repeatable)")
      ->allow_extra_args(false);
  run->add_option("--dir-ro", flags->dirs_ro, "HOST[::GUEST]: as --dir, read-only (repeatable)")
      ->allow_extra_args(false);
  run->add_option("--output-dir", flags->output_dir,
                  "GUEST[::HOST]: after the run, write what the job left in GUEST to HOST "
                  "(default: GUEST's last name, here), which must be new or empty");
  run->add_option("--storage", flags->storage,
                  "Bytes the job may write to its files, e.g. 16MiB (default 64MiB)");
  run->callback([&ctx, &result, &exit_code, flags] { result = RunJob(ctx, *flags, exit_code); });
}

}  // namespace mesh::cli
