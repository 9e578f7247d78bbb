#include "mesh/exec/build_worker.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "mesh/common/strings.h"
#include "mesh/exec/engine_factory.h"
#include "mesh/exec/frame.h"
#include "mesh/exec/protocol.h"
#include "mesh/exec/sandbox.h"
#include "mesh/wasm/aot_engine.h"
#include "mesh/wasm/instrumenter.h"

namespace mesh::exec {
namespace {

absl::Status SetLimit(int resource, const char* name, rlim_t soft, rlim_t hard) {
  const rlimit limit = {soft, hard};
  if (::setrlimit(resource, &limit) != 0) {
    return absl::InternalError(mesh::StrCat("setrlimit ", name, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

int SetupFailed(int fd, const absl::Status& status) {
  const std::string message = std::string(status.message());
  if (!WriteFrame(fd, EncodeHello({.engine = "build", .error = message})).ok()) {
    std::fprintf(stderr, "mesh-worker: %s\n", message.c_str());
  }
  return kWorkerExitSetup;
}

// Reads the one request; on a broken channel the pool is gone and there is no one to answer.
absl::StatusOr<std::string> ReadRequest(const WorkerConfig& config) {
  return ReadFrame(config.sandbox.channel_fd, config.max_frame_bytes);
}

std::string MemoryError(const WorkerConfig& config, std::string_view what) {
  return mesh::StrCat(what, " exceeded its memory limit of ",
                      config.sandbox.address_space_bytes >> 20,
                      " MiB; the module is too large to build on this node");
}

int Prepare(const WorkerConfig& config) {
  const int fd = config.sandbox.channel_fd;
  if (absl::Status s = CloseOtherFds(fd); !s.ok()) return SetupFailed(fd, s);
  SandboxConfig sandbox = config.sandbox;
  sandbox.allow_native_code = false;
  if (absl::Status s = ApplyResourceLimits(sandbox); !s.ok()) return SetupFailed(fd, s);
  if (absl::Status s = SetCpuBudget(static_cast<uint32_t>(config.build_cpu_seconds)); !s.ok()) {
    return SetupFailed(fd, s);
  }
  if (absl::Status s = InstallSyscallFilter(sandbox); !s.ok()) return SetupFailed(fd, s);
  if (!WriteFrame(fd, EncodeHello({.engine = "prepare", .error = {}})).ok()) {
    return kWorkerExitProtocol;
  }
  absl::StatusOr<std::string> body = ReadRequest(config);
  if (!body.ok()) return kWorkerExitProtocol;
  absl::StatusOr<std::string> wasm = DecodeInstrument(*body);
  body->clear();
  body->shrink_to_fit();
  if (!wasm.ok()) return WriteFrame(fd, EncodeError(wasm.status())).ok() ? 0 : kWorkerExitProtocol;
  absl::StatusOr<std::string> answer;
  try {
    absl::StatusOr<wasm::InstrumentedModule> module = wasm::Instrument(*wasm);
    answer = module.ok() ? EncodeInstrumented(*module) : module.status();
  } catch (const std::bad_alloc&) {
    answer = absl::ResourceExhaustedError(MemoryError(config, "module preparation"));
  }
  const std::string frame = answer.ok() ? *std::move(answer) : EncodeError(answer.status());
  return WriteFrame(fd, frame).ok() ? kWorkerExitOk : kWorkerExitProtocol;
}

int Compile(const WorkerConfig& config) {
  const int fd = config.sandbox.channel_fd;
  if (absl::Status s = CloseOtherFds(fd); !s.ok()) return SetupFailed(fd, s);
  // No core files from this process or the compiler; memory and CPU bounded for both (each
  // process of the compiler gets the CPU budget; the pool's wall deadline bounds the sum).
  if (absl::Status s = SetLimit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0); !s.ok()) {
    return SetupFailed(fd, s);
  }
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  if (const uint64_t as = config.sandbox.address_space_bytes; as != 0) {
    if (absl::Status s = SetLimit(RLIMIT_AS, "RLIMIT_AS", as, as); !s.ok()) {
      return SetupFailed(fd, s);
    }
  }
#endif
  if (const uint64_t cpu = config.build_cpu_seconds; cpu != 0) {
    if (absl::Status s = SetLimit(RLIMIT_CPU, "RLIMIT_CPU", cpu, cpu + 1); !s.ok()) {
      return SetupFailed(fd, s);
    }
  }
  // No file the compile writes (the C source, the object, the library) may be larger than its
  // memory limit: a module cannot make the compiler fill the disk.
  if (const uint64_t as = config.sandbox.address_space_bytes; as != 0) {
    if (absl::Status s = SetLimit(RLIMIT_FSIZE, "RLIMIT_FSIZE", as, as); !s.ok()) {
      return SetupFailed(fd, s);
    }
  }
  if (absl::Status s = InstallCompilerFilter(); !s.ok()) return SetupFailed(fd, s);
  absl::StatusOr<std::unique_ptr<wasm::AotEngine>> engine =
      wasm::AotEngine::Create({.cache_dir = config.aot_cache_dir,
                               .compiler = config.aot_compiler,
                               .allow_compile = true,
                               .compiler_version = config.aot_compiler_version});
  if (!engine.ok()) return SetupFailed(fd, engine.status());
  if (!WriteFrame(fd, EncodeHello({.engine = "compile", .error = {}})).ok()) {
    return kWorkerExitProtocol;
  }
  absl::StatusOr<std::string> body = ReadRequest(config);
  if (!body.ok()) return kWorkerExitProtocol;
  absl::StatusOr<wasm::InstrumentedModule> module = DecodeCompile(*body);
  body->clear();
  body->shrink_to_fit();
  absl::Status compiled = module.status();
  if (module.ok()) {
    try {
      compiled = (*engine)->Prepare(*module);
    } catch (const std::bad_alloc&) {
      compiled = absl::ResourceExhaustedError(MemoryError(config, "module compilation"));
    }
  }
  const std::string frame = compiled.ok() ? EncodeCompiled() : EncodeError(compiled);
  return WriteFrame(fd, frame).ok() ? kWorkerExitOk : kWorkerExitProtocol;
}

}  // namespace

int RunBuildWorker(const WorkerConfig& config) {
  struct stat st;
  if (::fstat(config.sandbox.channel_fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    std::fprintf(stderr,
                 "mesh-worker: fd %d is not a socket; build processes are started by "
                 "the worker pool, not by hand\n",
                 config.sandbox.channel_fd);
    return kWorkerExitUsage;
  }
  return config.mode == WorkerMode::kPrepare ? Prepare(config) : Compile(config);
}

}  // namespace mesh::exec
