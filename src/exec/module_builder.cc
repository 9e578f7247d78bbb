#include "mesh/exec/module_builder.h"

#include <signal.h>

#include <chrono>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/exec/protocol.h"
#include "mesh/exec/worker_config.h"
#include "mesh/exec/worker_process.h"

namespace mesh::exec {
namespace {

using Clock = std::chrono::steady_clock;

std::string Seconds(absl::Duration d) {
  return absl::FormatDuration(absl::Ceil(d, absl::Seconds(1)));
}

}  // namespace

void KillSwitch::Kill() {
  absl::MutexLock lock(&mu_);
  killed_ = true;
  if (process_ != nullptr) process_->KillGroup();
}

bool KillSwitch::killed() const {
  absl::MutexLock lock(&mu_);
  return killed_;
}

pid_t KillSwitch::pid() const {
  absl::MutexLock lock(&mu_);
  return process_ != nullptr ? process_->pid() : 0;
}

bool KillSwitch::Arm(WorkerProcess* process) {
  absl::MutexLock lock(&mu_);
  if (killed_) return false;
  process_ = process;
  return true;
}

void KillSwitch::Disarm() {
  absl::MutexLock lock(&mu_);
  process_ = nullptr;
}

absl::StatusOr<std::string> ModuleBuilder::Exchange(bool compile, std::string frame,
                                                    KillSwitch* kill) const {
  const BuildLimits& limits = compile ? options_.compile : options_.prepare;
  const std::string_view what = compile ? "module compilation" : "module preparation";
  WorkerConfig config;
  config.mode = compile ? WorkerMode::kCompile : WorkerMode::kPrepare;
  config.build_cpu_seconds = static_cast<uint64_t>(
      std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(limits.cpu_time, absl::Seconds(1)))));
  config.sandbox.channel_fd = kWorkerChannelFd;
  config.sandbox.address_space_bytes = limits.memory_bytes;
  config.max_frame_bytes = options_.max_frame_bytes;
  if (compile) {
    config.engine = wasm::EngineKind::kAot;
    config.aot_cache_dir = options_.aot_cache_dir;
    config.aot_compiler = options_.aot_compiler;
    config.aot_compiler_version = options_.aot_compiler_version;
  }
  const Deadline deadline = Clock::now() + absl::ToChronoNanoseconds(limits.wall_time);
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<WorkerProcess> process,
                        WorkerProcess::Spawn(options_.worker_path, config.ToArgs(),
                                             compile ? options_.env : std::vector<std::string>{},
                                             /*inherit_stderr=*/false));
  if (kill != nullptr && !kill->Arm(process.get())) {
    process->KillGroup();
    process->Reap();
    return absl::CancelledError(mesh::StrCat(what, " cancelled"));
  }
  absl::StatusOr<std::string> body = [&]() -> absl::StatusOr<std::string> {
    MESH_RETURN_IF_ERROR(process->AwaitHello(deadline).status());
    MESH_RETURN_IF_ERROR(process->Send(frame, deadline));
    frame.clear();
    return process->Receive(options_.max_frame_bytes, deadline);
  }();
  if (kill != nullptr) kill->Disarm();
  const bool late = Clock::now() >= deadline;
  // Whatever happened, nothing of the build outlives the call: the compiler's processes are in
  // the build process's group, which cannot be recycled until the leader is reaped below.
  process->KillGroup();
  const ExitInfo exit = process->Reap(absl::Seconds(1));
  if (kill != nullptr && kill->killed()) {
    return absl::CancelledError(mesh::StrCat(what, " cancelled"));
  }
  if (body.ok()) return body;
  if (absl::IsFailedPrecondition(body.status())) return body.status();  // set-up, not the module
  if (late || absl::IsDeadlineExceeded(body.status())) {
    return absl::ResourceExhaustedError(mesh::StrCat(what, " exceeded its wall-time limit of ",
                                                     Seconds(limits.wall_time),
                                                     "; the module is too costly to build"));
  }
  if (exit.signaled && (exit.signal == SIGXCPU || exit.signal == SIGKILL)) {
    return absl::ResourceExhaustedError(mesh::StrCat(what, " exceeded its CPU-time limit of ",
                                                     Seconds(limits.cpu_time),
                                                     "; the module is too costly to build"));
  }
  if (exit.signaled && exit.signal == SIGSYS) {
    return absl::InternalError(
        mesh::StrCat(what, " attempted a system call the sandbox forbids and was killed"));
  }
  return absl::InternalError(
      mesh::StrCat(what, " process ", exit.Describe(), " (limits: ", limits.memory_bytes >> 20,
                   " MiB of memory, ", Seconds(limits.cpu_time), " of CPU)"));
}

absl::StatusOr<wasm::InstrumentedModule> ModuleBuilder::Instrument(std::string_view wasm,
                                                                   KillSwitch* kill) const {
  MESH_ASSIGN_OR_RETURN(std::string frame, EncodeInstrument(wasm));
  MESH_ASSIGN_OR_RETURN(std::string body, Exchange(false, std::move(frame), kill));
  MESH_ASSIGN_OR_RETURN(MessageType type, PeekType(body));
  if (type == MessageType::kError) {
    MESH_ASSIGN_OR_RETURN(absl::Status error, DecodeError(body));
    return error;
  }
  return DecodeInstrumented(body);
}

absl::Status ModuleBuilder::Compile(const wasm::InstrumentedModule& module,
                                    KillSwitch* kill) const {
  MESH_ASSIGN_OR_RETURN(std::string frame, EncodeCompile(module));
  MESH_ASSIGN_OR_RETURN(std::string body, Exchange(true, std::move(frame), kill));
  MESH_ASSIGN_OR_RETURN(MessageType type, PeekType(body));
  if (type == MessageType::kError) {
    MESH_ASSIGN_OR_RETURN(absl::Status error, DecodeError(body));
    return error;
  }
  if (type != MessageType::kCompiled) {
    return absl::InternalError("the compile process answered out of turn");
  }
  return absl::OkStatus();
}

}  // namespace mesh::exec
