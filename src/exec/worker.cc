#include "mesh/exec/worker.h"

#include <fcntl.h>
#include <malloc.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"
#include "mesh/exec/engine_factory.h"
#include "mesh/exec/frame.h"
#include "mesh/exec/protocol.h"
#include "mesh/exec/sandbox.h"
#include "mesh/exec/shared_input.h"

namespace mesh::exec {
namespace {

// Instrumented modules by id, the oldest dropped first once over the byte budget. The entry
// just inserted is never dropped, so a pointer from Insert/Find stays valid until the next
// Insert.
class ModuleStore {
 public:
  explicit ModuleStore(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  const wasm::InstrumentedModule* Find(const std::string& id) const {
    auto it = modules_.find(id);
    return it == modules_.end() ? nullptr : &it->second;
  }

  const wasm::InstrumentedModule* Insert(const std::string& id, wasm::InstrumentedModule m) {
    if (auto it = modules_.find(id); it != modules_.end()) return &it->second;
    bytes_ += Size(m);
    order_.push_back(id);
    const wasm::InstrumentedModule* stored = &modules_.emplace(id, std::move(m)).first->second;
    while (bytes_ > max_bytes_ && order_.size() > 1) {
      auto old = modules_.find(order_.front());
      bytes_ -= Size(old->second);
      modules_.erase(old);
      order_.pop_front();
    }
    return stored;
  }

 private:
  static uint64_t Size(const wasm::InstrumentedModule& m) {
    return m.wasm.size() + 64 * m.imports.size();
  }

  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::list<std::string> order_;
  std::unordered_map<std::string, wasm::InstrumentedModule> modules_;
};

// At most one progress frame per this much wall time, so a job calling mesh.progress in a
// tight loop costs the pool a few frames a second rather than one per call.
constexpr auto kProgressInterval = std::chrono::milliseconds(50);

// Forwards one job's progress reports to the pool, rate-limited: the first report and the
// first that reaches 100% always go; between those, a report goes only if kProgressInterval
// has passed since the last one sent; the rest are dropped here (the run report still holds
// them). Stops at the first failed write: the pool is gone, and the answer will fail too.
class ProgressSender {
 public:
  explicit ProgressSender(int fd) : fd_(fd) {}

  void Report(const wasm::ProgressRecord& progress) {
    if (broken_) return;
    const auto now = std::chrono::steady_clock::now();
    const bool first = !sent_any_;
    const bool reached_100 = progress.percent >= 100 && !sent_100_;
    if (!first && !reached_100 && now - last_sent_ < kProgressInterval) return;
    sent_any_ = true;
    sent_100_ = sent_100_ || progress.percent >= 100;
    last_sent_ = now;
    broken_ = !WriteFrame(fd_, EncodeProgress(progress)).ok();
  }

 private:
  const int fd_;
  bool sent_any_ = false;
  bool sent_100_ = false;
  bool broken_ = false;
  std::chrono::steady_clock::time_point last_sent_;
};

// Jobs whose linear memory grew past this hand the heap back to the kernel afterwards, so one
// big job does not leave the worker holding its memory while it waits for tiny ones.
constexpr uint64_t kTrimAfterBytes = 64ull << 20;

class Worker {
 public:
  Worker(const WorkerConfig& config, std::unique_ptr<wasm::Engine> engine,
         std::unique_ptr<wasm::Engine> interp)
      : config_(config),
        fd_(config.sandbox.channel_fd),
        engine_(std::move(engine)),
        interp_(std::move(interp)),
        modules_(config.module_cache_bytes),
        inputs_(config.input_cache_bytes) {}

  int Serve() {
    while (true) {
      // Run requests may bring descriptors of shared inputs (shared_input.h).
      std::vector<ScopedFd> fds;
      absl::StatusOr<std::string> body =
          ReadFrameWithFds(fd_, config_.max_frame_bytes, kMaxFrameFds, &fds);
      if (absl::IsOutOfRange(body.status())) return kWorkerExitOk;
      if (!body.ok()) {
        // The stream is out of step (oversized or truncated frame): say why, then stop.
        (void)WriteFrame(fd_, EncodeError(body.status()));
        return kWorkerExitProtocol;
      }
      absl::Status sent = Handle(*body, fds);
      if (!sent.ok()) return kWorkerExitProtocol;  // the pool is gone
    }
  }

 private:
  absl::Status Handle(const std::string& body, std::vector<ScopedFd>& fds) {
    absl::StatusOr<MessageType> type = PeekType(body);
    if (!type.ok()) return WriteFrame(fd_, EncodeError(type.status()));
    switch (*type) {
      case MessageType::kRun:
        return HandleRun(body, fds);
      case MessageType::kTestHook:
        return HandleTestHook(body);
      default:
        return WriteFrame(
            fd_, EncodeError(absl::InvalidArgumentError("the worker accepts only run requests")));
    }
  }

  absl::Status HandleRun(const std::string& body, std::vector<ScopedFd>& fds) {
    absl::StatusOr<RunMessage> request = DecodeRun(body);
    if (!request.ok()) return WriteFrame(fd_, EncodeError(request.status()));
    std::string missing;
    if (absl::Status s = ResolveSharedInputs(*request, fds, &missing); !s.ok()) {
      return WriteFrame(fd_, EncodeError(s));
    }
    fds.clear();  // mapped (or refused): the descriptors are not needed any more
    if (!missing.empty()) return WriteFrame(fd_, EncodeNeedInput(missing));
    const wasm::InstrumentedModule* module =
        request->module.has_value()
            ? modules_.Insert(request->module_id, *std::move(request->module))
            : modules_.Find(request->module_id);
    if (module == nullptr) return WriteFrame(fd_, EncodeNeedModule(request->module_id));
    if (absl::Status s = SetCpuBudget(request->cpu_seconds); !s.ok()) {
      return WriteFrame(fd_, EncodeError(s));
    }
    // Progress goes to the pool as the job reports it, from inside the engine's host call, so
    // every frame leaves before the answer below.
    ProgressSender progress(fd_);
    request->input.on_progress = [&progress](const wasm::ProgressRecord& p) { progress.Report(p); };
    // Checkpoints and partial outputs go as they are made, each in full (never rate-limited:
    // the node keeps every partial and the latest checkpoint).
    bool broken = false;
    auto send = [this, &broken](MessageType type, std::string_view bytes, uint64_t fuel) {
      if (broken) return;
      absl::StatusOr<std::string> frame = EncodeJobBytes(type, bytes, fuel);
      broken = !frame.ok() || !WriteFrame(fd_, *frame).ok();
    };
    request->input.on_checkpoint = [&send](std::string_view bytes, uint64_t fuel) {
      send(MessageType::kCheckpoint, bytes, fuel);
    };
    request->input.on_partial = [&send](std::string_view bytes, uint64_t fuel) {
      send(MessageType::kPartial, bytes, fuel);
    };
    wasm::Engine* engine = engine_.get();
    if (request->engine == wasm::EngineKind::kInterp && interp_ != nullptr) {
      engine = interp_.get();
    } else if (request->engine != wasm::EngineKind::kAuto && request->engine != config_.engine) {
      return WriteFrame(fd_, EncodeError(absl::InvalidArgumentError(mesh::StrCat(
                                 "this worker runs the ", wasm::EngineName(config_.engine),
                                 " engine, not ", wasm::EngineName(request->engine)))));
    }
    absl::StatusOr<wasm::RunResult> result =
        engine->Run(request->module_id, *module, std::move(request->input), request->limits);
    if (!result.ok()) return WriteFrame(fd_, EncodeError(result.status()));
    const bool trim = result->report.peak_memory_bytes > kTrimAfterBytes;
    absl::StatusOr<std::string> frame = EncodeResult(*result);
    result = absl::StatusOr<wasm::RunResult>();  // free the job's output before trimming
    if (trim) ::malloc_trim(0);
    if (!frame.ok()) return WriteFrame(fd_, EncodeError(frame.status()));
    return WriteFrame(fd_, *frame);
  }

  // Fills in the input pieces (InputPieces) that came as shared memory: maps those sent with a
  // descriptor (and keeps them by CID), takes the others from the cache. The first CID the cache
  // lacks goes to `*missing` (the pool resends it with its descriptor). Errors: descriptors that do
  // not match the request, a mapping refused (shared_input.h), stdin over the frame limit.
  absl::Status ResolveSharedInputs(RunMessage& request, std::vector<ScopedFd>& fds,
                                   std::string* missing) {
    size_t with_fd = 0;
    const std::vector<wasm::StdinPiece*> pieces = InputPieces(request.input);
    uint64_t total = request.input.stdin_bytes.size();
    for (const wasm::StdinPiece* p : pieces) total += p->bytes.size();
    for (const SharedPieceRef& ref : request.shared) {
      with_fd += ref.with_fd ? 1 : 0;
      total += ref.size;
      if (ref.size > config_.max_frame_bytes || total > config_.max_frame_bytes) {
        return absl::ResourceExhaustedError(
            mesh::StrCat("the job's input (stdin and mounted files) is over the worker's limit of ",
                         config_.max_frame_bytes, " bytes (shared input ", pieces[ref.index]->cid,
                         " alone claims ", ref.size, ")"));
      }
    }
    if (with_fd != fds.size()) {
      return absl::InvalidArgumentError(mesh::StrCat("the run request names ", with_fd,
                                                     " shared inputs sent with it but came with ",
                                                     fds.size(), " descriptors"));
    }
    size_t next_fd = 0;
    for (const SharedPieceRef& ref : request.shared) {
      wasm::StdinPiece& piece = *pieces[ref.index];
      if (ref.with_fd) {
        absl::StatusOr<wasm::StdinPiece> mapped =
            MapSharedInput(fds[next_fd++].get(), piece.cid, ref.size);
        if (!mapped.ok()) return mapped.status();
        inputs_.Insert(*mapped);
        piece = *std::move(mapped);
      } else if (const wasm::StdinPiece* cached = inputs_.Find(piece.cid, ref.size)) {
        piece = *cached;
      } else if (missing->empty()) {
        *missing = piece.cid;
      }
    }
    return absl::OkStatus();
  }

  // Each hook attempts something the sandbox forbids; reaching the answer means it failed.
  absl::Status HandleTestHook(const std::string& body) {
    absl::StatusOr<TestHook> hook = DecodeTestHook(body);
    if (!hook.ok()) return WriteFrame(fd_, EncodeError(hook.status()));
    if (!config_.test_hooks) {
      return WriteFrame(
          fd_, EncodeError(absl::PermissionDeniedError("test hooks are disabled in this worker")));
    }
    std::string what;
    switch (*hook) {
      case TestHook::kOpenForWriting: {
        const int fd = ::open("/tmp/mesh-worker-sandbox-probe", O_WRONLY | O_CREAT, 0600);
        what = mesh::StrCat("open for writing returned ", fd);
        break;
      }
      case TestHook::kCreateSocket: {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        what = mesh::StrCat("socket returned ", fd);
        break;
      }
      case TestHook::kSpawnProcess: {
        const pid_t pid = ::fork();
        if (pid == 0) ::_exit(0);
        what = mesh::StrCat("fork returned ", pid);
        break;
      }
    }
    return WriteFrame(fd_, EncodeError(absl::InternalError(
                               mesh::StrCat("sandbox did not stop the test hook: ", what))));
  }

  const WorkerConfig& config_;
  const int fd_;
  std::unique_ptr<wasm::Engine> engine_;
  std::unique_ptr<wasm::Engine> interp_;  // aot workers: the tier for modules not compiled yet
  ModuleStore modules_;
  InputCache inputs_;  // shared inputs by CID, mapped read-only
};

// Reports a set-up failure to the pool, which names it in its own error. Only if the pool
// cannot be told does it go to stderr, and only while that is safe: once RLIMIT_FSIZE is 0, a
// write to a stderr redirected to a file would end the worker with SIGXFSZ.
int SetupFailed(int fd, std::string_view engine, const absl::Status& status, bool stderr_usable) {
  const std::string message = std::string(status.message());
  if (!WriteFrame(fd, EncodeHello({.engine = std::string(engine), .error = message})).ok() &&
      stderr_usable) {
    std::fprintf(stderr, "mesh-worker: %s\n", message.c_str());
  }
  return kWorkerExitSetup;
}

}  // namespace

int RunWorker(const WorkerConfig& config) {
  const int fd = config.sandbox.channel_fd;
  const std::string_view engine_name = wasm::EngineName(config.engine);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    std::fprintf(stderr,
                 "mesh-worker: fd %d is not a socket; mesh-worker is started by the worker pool "
                 "(mesh run, meshd), not by hand\n",
                 fd);
    return kWorkerExitUsage;
  }
  // Libraries that open files or read the kernel's randomness on first use do so now, before
  // the filter: libsodium (random_get of non-deterministic jobs) and OpenSSL, whose first
  // digest loads its configuration file (checkpoint hashes).
  if (sodium_init() < 0) {
    return SetupFailed(fd, engine_name, absl::InternalError("sodium_init failed"), true);
  }
  (void)crypto::Sha256Of("warm-up");
  absl::StatusOr<std::unique_ptr<wasm::Engine>> engine =
      CreateEngine(config.engine, {.aot_cache_dir = config.aot_cache_dir,
                                   .aot_compiler = config.aot_compiler,
                                   .aot_compiler_version = config.aot_compiler_version});
  if (!engine.ok()) return SetupFailed(fd, engine_name, engine.status(), true);
  std::unique_ptr<wasm::Engine> interp;
  if (config.engine == wasm::EngineKind::kAot) {
    absl::StatusOr<std::unique_ptr<wasm::Engine>> made =
        CreateEngine(wasm::EngineKind::kInterp, {});
    if (!made.ok()) return SetupFailed(fd, engine_name, made.status(), true);
    interp = *std::move(made);
  }
  if (absl::Status s = CloseOtherFds(fd); !s.ok()) return SetupFailed(fd, engine_name, s, true);
  SandboxConfig sandbox = config.sandbox;
  sandbox.allow_native_code = EngineLoadsNativeCode(config.engine);
  if (absl::Status s = ApplyResourceLimits(sandbox); !s.ok()) {
    return SetupFailed(fd, engine_name, s, false);
  }
  if (absl::Status s = InstallSyscallFilter(sandbox); !s.ok()) {
    return SetupFailed(fd, engine_name, s, false);
  }
  if (!WriteFrame(fd, EncodeHello({.engine = std::string(engine_name), .error = {}})).ok()) {
    return kWorkerExitProtocol;
  }
  Worker worker(config, *std::move(engine), std::move(interp));
  return worker.Serve();
}

}  // namespace mesh::exec
