#include "mesh/exec/worker_pool.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <thread>
#include <unordered_set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/cid.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/exec/compile_queue.h"
#include "mesh/exec/engine_factory.h"
#include "mesh/exec/module_builder.h"
#include "mesh/exec/module_cache.h"
#include "mesh/exec/shared_input.h"
#include "mesh/exec/worker_config.h"
#include "mesh/exec/worker_process.h"
#include "mesh/wasm/aot_engine.h"

namespace mesh::exec {
namespace {

using Clock = std::chrono::steady_clock;

// Preparing a module is linear in its size: below this it takes milliseconds (the examples are
// 3-40 KB), above it the job lends its slot while its prepare process works (a hostile module
// of 50,000 empty functions is 200 KB and takes about a second on a debug build).
constexpr size_t kLongPrepareBytes = 128 << 10;

// Tells a RunRequest's on_build_wait when its job starts and stops waiting for its module's
// compile: Begin at most once, End (or destruction) after it, once.
class BuildWait {
 public:
  explicit BuildWait(const std::function<void(bool)>& callback) : callback_(callback) {}
  ~BuildWait() { End(); }
  BuildWait(const BuildWait&) = delete;
  BuildWait& operator=(const BuildWait&) = delete;

  void Begin() {
    if (waiting_ || ended_ || !callback_) return;
    waiting_ = true;
    callback_(true);
  }
  void End() {
    if (!waiting_) return;
    waiting_ = false;
    ended_ = true;
    callback_(false);
  }

 private:
  const std::function<void(bool)>& callback_;
  bool waiting_ = false;
  bool ended_ = false;
};

// The pool keeps no more module ids per worker than this; past it the set starts over and the
// worker's kNeedModule answers refill it.
constexpr size_t kMaxKnownModules = 4096;

uint32_t CpuSeconds(const PoolOptions& options, const wasm::Limits& limits) {
  const absl::Duration budget = options.cpu_time_limit > absl::ZeroDuration()
                                    ? options.cpu_time_limit
                                    : limits.wall_time + absl::Seconds(1);
  const int64_t seconds = absl::ToInt64Seconds(absl::Ceil(budget, absl::Seconds(1)));
  return static_cast<uint32_t>(std::clamp<int64_t>(seconds, 1, UINT32_MAX));
}

wasm::RunResult StoppedResult(wasm::Outcome outcome, std::string message, wasm::EngineKind engine,
                              const wasm::Limits& limits, absl::Duration wall) {
  wasm::RunResult result;
  result.report.outcome = outcome;
  result.report.message = std::move(message);
  result.report.engine = std::string(wasm::EngineName(engine));
  result.report.fuel_limit = limits.fuel;
  result.report.wall_time = wall;
  result.report.output_cid = cas::Cid::Of("").ToString();
  return result;
}

}  // namespace

class WorkerPool::Impl {
 public:
  Impl(PoolOptions options, WorkerConfig config, std::vector<std::string> worker_env,
       BuildOptions build, std::unique_ptr<wasm::AotEngine> aot_cache)
      : options_(std::move(options)),
        config_(std::move(config)),
        worker_env_(std::move(worker_env)),
        builder_(std::move(build)),
        aot_cache_(std::move(aot_cache)),
        modules_(options_.module_cache_bytes),
        shared_inputs_(options_.shared_input_bytes),
        slots_(static_cast<size_t>(options_.workers)) {
    if (aot_cache_ != nullptr) {
      compiles_ =
          std::make_unique<CompileQueue>(&builder_, aot_cache_.get(), options_.compile_concurrency);
    }
  }

  ~Impl() { Shutdown(absl::ZeroDuration()); }

  absl::Status StartWorkers() {
    std::vector<std::unique_ptr<WorkerProcess>> started;
    for (size_t i = 0; i < slots_.size(); ++i) {
      MESH_ASSIGN_OR_RETURN(auto proc, SpawnWorker());
      started.push_back(std::move(proc));
    }
    const Deadline deadline = Clock::now() + absl::ToChronoNanoseconds(options_.startup_timeout);
    for (auto& proc : started) MESH_RETURN_IF_ERROR(proc->AwaitHello(deadline).status());
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].proc = std::move(started[i]);
      idle_.push_back(static_cast<int>(i));
    }
    workers_spawned_ += slots_.size();
    return absl::OkStatus();
  }

  absl::StatusOr<wasm::RunResult> Run(RunRequest request) {
    Call call{.tag = request.tag};
    Call* const tracked = request.tag != 0 ? &call : nullptr;
    MESH_RETURN_IF_ERROR(EnterCall(tracked));
    absl::StatusOr<wasm::RunResult> result = RunEntered(std::move(request), tracked);
    LeaveCall(tracked);
    return result;
  }

  void RunAsync(RunRequest request, Callback done) {
    {
      absl::MutexLock lock(&mu_);
      if (!shutting_down_) {
        if (async_threads_.empty()) {
          for (size_t i = 0; i < slots_.size(); ++i) {
            async_threads_.emplace_back([this] { AsyncLoop(); });
          }
        }
        async_queue_.emplace_back(std::move(request), std::move(done));
        return;
      }
    }
    done(absl::UnavailableError("the worker pool is shut down"));
  }

  bool Cancel(uint64_t tag) {
    if (tag == 0) return false;
    std::vector<Callback> unqueued;
    bool found = false;
    {
      absl::MutexLock lock(&mu_);
      for (auto it = async_queue_.begin(); it != async_queue_.end();) {
        if (it->first.tag == tag) {
          unqueued.push_back(std::move(it->second));
          it = async_queue_.erase(it);
        } else {
          ++it;
        }
      }
      cancelled_ += unqueued.size();
      // Between the queue and a worker: Acquire (or RunEntered) sees the mark.
      for (Call* call : calls_) {
        if (call->tag == tag && !call->running) {
          call->cancelled = true;
          found = true;
        }
      }
      // Preparing: its build process dies now, and RunEntered sees the mark.
      for (auto& [build_tag, build] : builds_) {
        if (build_tag == tag) {
          build->Kill();
          found = true;
        }
      }
      // Running: the exchange sees the worker die and WorkerFailed sees the mark. Under mu_ the
      // slot's process cannot be swapped or destroyed, so the kill reaches the job's worker or
      // one that is already dead (which Exchange replaces, then checks the mark).
      for (Slot& slot : slots_) {
        if (slot.busy && slot.tag == tag) {
          slot.cancelled = true;
          if (slot.proc != nullptr) slot.proc->Kill();
          found = true;
        }
      }
    }
    // Waiting for a compile: the wait ends now, and a compile no other job waits for dies.
    if (compiles_ != nullptr && compiles_->Cancel(tag)) found = true;
    for (Callback& done : unqueued) done(absl::CancelledError("job cancelled before it started"));
    return found || !unqueued.empty();
  }

  absl::StatusOr<wasm::RunResult> RunTestHook(TestHook hook) {
    MESH_RETURN_IF_ERROR(EnterCall(nullptr));
    absl::StatusOr<wasm::RunResult> result = [&]() -> absl::StatusOr<wasm::RunResult> {
      MESH_ASSIGN_OR_RETURN(int slot, Acquire(nullptr));
      wasm::Limits limits = options_.default_limits;
      limits.wall_time = absl::Seconds(10);
      absl::StatusOr<wasm::RunResult> r = Exchange(slot, "", nullptr, EncodeTestHook(hook), limits);
      Release(slot, nullptr);
      return r;
    }();
    LeaveCall(nullptr);
    return result;
  }

  void Shutdown(absl::Duration grace) {
    {
      absl::MutexLock lock(&mu_);
      if (shutting_down_) {
        mu_.Await(absl::Condition(&shutdown_done_));
        return;
      }
      shutting_down_ = true;
      // Untrusted build work stops at once, whatever the grace period: a compile may take
      // minutes and is not a job's result.
      for (auto& [tag, build] : builds_) build->Kill();
    }
    if (compiles_ != nullptr) compiles_->Shutdown();
    // Running jobs get the grace period; then their workers are killed, which ends their
    // callers' waits at once.
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return busy_ == 0; };
    if (!mu_.LockWhenWithTimeout(absl::Condition(&idle), grace)) {
      for (Slot& slot : slots_) {
        if (slot.busy && slot.proc != nullptr) {
          slot.killed_at_shutdown = true;
          slot.proc->Kill();
        }
      }
    }
    mu_.Unlock();
    std::vector<std::thread> threads;
    {
      auto no_calls = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_calls_ == 0; };
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&no_calls));
      threads.swap(async_threads_);
    }
    for (std::thread& t : threads) t.join();
    // Every worker is idle now. They exit when their channel closes.
    std::vector<std::unique_ptr<WorkerProcess>> workers;
    {
      absl::MutexLock lock(&mu_);
      for (Slot& slot : slots_) {
        if (slot.proc != nullptr) workers.push_back(std::move(slot.proc));
      }
    }
    for (auto& worker : workers) worker->CloseChannel();
    for (auto& worker : workers) worker->Reap(absl::Seconds(2));
    absl::MutexLock lock(&mu_);
    shutdown_done_ = true;
  }

  PoolStats stats() const {
    absl::MutexLock lock(&mu_);
    PoolStats s;
    for (const Slot& slot : slots_) s.workers += slot.proc != nullptr ? 1 : 0;
    s.busy = busy_;
    s.jobs_started = jobs_started_;
    s.jobs_finished = jobs_finished_;
    s.timeouts = timeouts_;
    s.crashes = crashes_;
    s.cancelled = cancelled_;
    s.workers_spawned = workers_spawned_;
    if (compiles_ != nullptr) s.compiles = compiles_->stats();
    return s;
  }

  std::vector<pid_t> WorkerPids() const {
    absl::MutexLock lock(&mu_);
    std::vector<pid_t> pids;
    for (const Slot& slot : slots_) {
      if (slot.proc != nullptr) pids.push_back(slot.proc->pid());
    }
    return pids;
  }

  wasm::EngineKind engine() const { return config_.engine; }

  std::vector<pid_t> CompilePids() const {
    return compiles_ != nullptr ? compiles_->RunningPidsForTesting() : std::vector<pid_t>{};
  }

 private:
  struct Slot {
    // Replaced only by the thread holding the slot (busy), under mu_; read by Shutdown and
    // Cancel under mu_.
    std::unique_ptr<WorkerProcess> proc;
    bool busy = false;
    bool killed_at_shutdown = false;
    uint64_t tag = 0;        // the running job's RunRequest::tag, until its answer is in
    bool cancelled = false;  // Cancel() killed (or tried to kill) the worker for that job
  };

  // A cancellable job (tag != 0) the pool has accepted, from then until its Run returns, so
  // that Cancel finds it between the RunAsync queue and a worker (instrumenting, compiling,
  // waiting for an idle worker). Lives on the running thread's stack; fields guarded by mu_.
  struct Call {
    uint64_t tag = 0;
    bool running = false;    // holds a worker: Cancel goes through its slot instead
    bool cancelled = false;  // cancelled while it held no worker
  };

  // `call` (may be null: not cancellable) is registered until LeaveCall.
  absl::Status EnterCall(Call* call) {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return absl::UnavailableError("the worker pool is shut down");
    EnterCallLocked(call);
    return absl::OkStatus();
  }

  void EnterCallLocked(Call* call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++active_calls_;
    if (call != nullptr) calls_.push_back(call);
  }

  void LeaveCall(Call* call) {
    absl::MutexLock lock(&mu_);
    --active_calls_;
    if (call != nullptr) calls_.erase(std::find(calls_.begin(), calls_.end(), call));
  }

  // Cancelled if `call` (may be null) was cancelled before it got a worker.
  absl::Status CheckNotCancelled(const Call* call) {
    if (call == nullptr) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    return call->cancelled ? CountCancelledBeforeStart() : absl::OkStatus();
  }

  absl::Status CountCancelledBeforeStart() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++cancelled_;
    return absl::CancelledError("job cancelled before it started");
  }

  absl::StatusOr<wasm::RunResult> RunEntered(RunRequest request, Call* call) {
    if (request.engine != wasm::EngineKind::kAuto && request.engine != config_.engine) {
      return absl::InvalidArgumentError(
          mesh::StrCat("this worker pool runs the ", wasm::EngineName(config_.engine),
                       " engine; the request asks for ", wasm::EngineName(request.engine)));
    }
    if (request.module_id.empty()) {
      return absl::InvalidArgumentError("run request without a module id");
    }
    const wasm::Limits limits = request.limits.value_or(options_.default_limits);
    if (limits.wall_time <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("the wall-time limit must be positive");
    }
    // Preparing the module and waiting for its compile count against the job's wall limit
    // (waiting for a worker does not): a job never runs past its limit because its module was
    // costly to build.
    const Clock::time_point job_start = Clock::now();
    BuildWait build_wait(request.on_build_wait);
    absl::StatusOr<std::shared_ptr<const wasm::InstrumentedModule>> module =
        Instrument(request, call, limits.wall_time, build_wait);
    if (absl::IsDeadlineExceeded(module.status())) {
      return StoppedResult(wasm::Outcome::kTimeout,
                           mesh::StrCat("job exceeded its wall-time limit of ",
                                        absl::FormatDuration(limits.wall_time),
                                        " while its module was being prepared; raise --timeout"),
                           config_.engine, limits, absl::FromChrono(Clock::now() - job_start));
    }
    if (absl::IsCancelled(module.status())) {
      MESH_RETURN_IF_ERROR(CheckNotCancelled(call));
      return absl::UnavailableError("the worker pool is shut down");
    }
    if (absl::IsNotFound(module.status()) || absl::IsUnavailable(module.status()) ||
        absl::IsFailedPrecondition(module.status()) || absl::IsAborted(module.status())) {
      return module.status();
    }
    if (!module.ok()) {
      return StoppedResult(
          wasm::Outcome::kInvalidModule,
          mesh::StrCat("module ", request.module_id, " cannot run: ", module.status().message()),
          config_.engine, limits, absl::ZeroDuration());
    }
    MESH_RETURN_IF_ERROR(CheckNotCancelled(call));
    // Tiering (compile_queue.h): aot once compiled, the interpreter until then or for good if
    // the module cannot be compiled within the limits. A job waits for a compile at most a
    // quarter of its wall limit (capped), so it never times out behind its own compile.
    wasm::EngineKind engine = config_.engine;
    if (compiles_ != nullptr) {
      const absl::Duration spent = absl::FromChrono(Clock::now() - job_start);
      const absl::Duration wait =
          std::min({limits.wall_time / 4, options_.max_compile_wait, limits.wall_time - spent});
      absl::StatusOr<wasm::EngineKind> chosen = compiles_->Choose(
          request.module_id, *module, wait, request.tag, [&build_wait] { build_wait.Begin(); });
      if (absl::IsCancelled(chosen.status())) MESH_RETURN_IF_ERROR(CheckNotCancelled(call));
      if (!chosen.ok()) return chosen.status();
      engine = *chosen;
    }
    const absl::Duration spent = absl::FromChrono(Clock::now() - job_start);
    if (spent >= limits.wall_time) {
      return StoppedResult(wasm::Outcome::kTimeout,
                           mesh::StrCat("job exceeded its wall-time limit of ",
                                        absl::FormatDuration(limits.wall_time),
                                        " while its module was being prepared; raise --timeout"),
                           engine, limits, spent);
    }
    build_wait.End();
    for (int attempt = 0;; ++attempt) {
      MESH_ASSIGN_OR_RETURN(int slot, Acquire(call));
      absl::StatusOr<wasm::RunResult> result =
          Exchange(slot, request.module_id, module->get(), std::string(), limits, &request.input,
                   engine, spent);
      Release(slot, call);
      // A compiled module gone from the aot cache (deleted, or found corrupted by the worker):
      // run on the interpreter, and compile it again for later jobs.
      if (engine != wasm::EngineKind::kAot || attempt > 0 ||
          !absl::IsFailedPrecondition(result.status())) {
        return result;
      }
      compiles_->Forget(request.module_id);
      engine = wasm::EngineKind::kInterp;
    }
  }

  // The instrumented module of `request`, from the cache or a prepare process (killed by a
  // cancel of `call`, may be null, or by shutdown: Cancelled then).
  // The prepare process gets at most the job's wall limit: past it the job has timed out
  // (DeadlineExceeded, not remembered: a job with a longer limit may prepare the module).
  absl::StatusOr<std::shared_ptr<const wasm::InstrumentedModule>> Instrument(
      const RunRequest& request, Call* call, absl::Duration job_wall, BuildWait& build_wait) {
    KillSwitch build;
    const std::pair<uint64_t, KillSwitch*> entry{call != nullptr ? call->tag : 0, &build};
    {
      absl::MutexLock lock(&mu_);
      if (shutting_down_ || (call != nullptr && call->cancelled)) build.Kill();
      builds_.push_back(entry);
    }
    absl::StatusOr<std::shared_ptr<const wasm::InstrumentedModule>> module =
        modules_.Get(request.module_id, request.module_wasm.get(),
                     [&](std::string_view wasm) -> absl::StatusOr<wasm::InstrumentedModule> {
                       if (wasm.size() >= kLongPrepareBytes) build_wait.Begin();
                       if (job_wall >= builder_.options().prepare.wall_time) {
                         return builder_.Instrument(wasm, &build);
                       }
                       BuildOptions capped = builder_.options();
                       capped.prepare.wall_time = job_wall;
                       const Clock::time_point start = Clock::now();
                       absl::StatusOr<wasm::InstrumentedModule> made =
                           ModuleBuilder(std::move(capped)).Instrument(wasm, &build);
                       if (absl::IsResourceExhausted(made.status()) &&
                           Clock::now() - start >= absl::ToChronoNanoseconds(job_wall)) {
                         return absl::DeadlineExceededError(made.status().message());
                       }
                       return made;
                     });
    absl::MutexLock lock(&mu_);
    builds_.erase(std::find(builds_.begin(), builds_.end(), entry));
    return module;
  }

  absl::StatusOr<std::unique_ptr<WorkerProcess>> SpawnWorker() const {
    return WorkerProcess::Spawn(options_.worker_path, config_.ToArgs(), worker_env_,
                                options_.inherit_stderr);
  }

  // Waits for an idle worker; a cancel of `call` (may be null) ends the wait.
  absl::StatusOr<int> Acquire(Call* call) {
    auto ready = [this, call]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || shutting_down_ || (call != nullptr && call->cancelled);
    };
    absl::MutexLock lock(&mu_, absl::Condition(&ready));
    if (shutting_down_) return absl::UnavailableError("the worker pool is shut down");
    if (call != nullptr && call->cancelled) return CountCancelledBeforeStart();
    const int slot = idle_.back();  // most recently used first: its caches are warm
    idle_.pop_back();
    slots_[slot].busy = true;
    slots_[slot].tag = call != nullptr ? call->tag : 0;
    slots_[slot].cancelled = false;
    if (call != nullptr) call->running = true;
    ++busy_;
    return slot;
  }

  void Release(int slot, Call* call) {
    bool cancelled;
    {
      absl::MutexLock lock(&mu_);
      cancelled = slots_[slot].cancelled;
      slots_[slot].cancelled = false;
      slots_[slot].tag = 0;
      if (call != nullptr) call->running = false;
    }
    if (cancelled) {
      // A cancel crossed the job's end (or came while Exchange replaced a dead worker): the
      // kill may have reached this worker, so it must not get the next job.
      if (WorkerProcess* worker = slots_[slot].proc.get(); worker != nullptr) {
        worker->Kill();
        worker->Reap();
      }
      ReplaceOrLog(slot);
    }
    absl::MutexLock lock(&mu_);
    slots_[slot].busy = false;
    idle_.push_back(slot);
    --busy_;
  }

  // Puts a fresh worker in `slot` (held by the caller). The old one must be reaped.
  absl::Status Replace(int slot) {
    std::unique_ptr<WorkerProcess> old;
    absl::StatusOr<std::unique_ptr<WorkerProcess>> fresh = absl::UnavailableError("shutting down");
    if (!ShuttingDown()) {
      fresh = SpawnWorker();
      if (fresh.ok()) {
        absl::Status ready =
            (*fresh)
                ->AwaitHello(Clock::now() + absl::ToChronoNanoseconds(options_.startup_timeout))
                .status();
        if (!ready.ok()) fresh = ready;
      }
    }
    absl::MutexLock lock(&mu_);
    old = std::move(slots_[slot].proc);
    if (fresh.ok()) {
      slots_[slot].proc = *std::move(fresh);
      ++workers_spawned_;
    }
    return fresh.status();
  }

  void ReplaceOrLog(int slot) {
    const pid_t pid = slots_[slot].proc != nullptr ? slots_[slot].proc->pid() : 0;
    if (absl::Status s = Replace(slot); !s.ok() && !ShuttingDown()) {
      std::fprintf(stderr, "mesh: could not replace worker %d: %s\n", static_cast<int>(pid),
                   std::string(s.message()).c_str());
    }
  }

  bool ShuttingDown() const {
    absl::MutexLock lock(&mu_);
    return shutting_down_;
  }

  // One request/answer exchange with the worker in `slot`: a run request (module + input) or a
  // prepared frame (test hooks).
  absl::StatusOr<wasm::RunResult> Exchange(int slot, const std::string& module_id,
                                           const wasm::InstrumentedModule* module,
                                           std::string frame, const wasm::Limits& limits,
                                           const wasm::JobInput* input = nullptr,
                                           wasm::EngineKind engine = wasm::EngineKind::kAuto,
                                           absl::Duration spent = absl::ZeroDuration()) {
    WorkerProcess* worker = slots_[slot].proc.get();
    if (worker == nullptr || worker->IdleChannelBroken()) {
      // It died while idle, or spoke out of turn: either way it is not to be trusted with a job.
      if (worker != nullptr) {
        worker->Kill();
        worker->Reap();
      }
      MESH_RETURN_IF_ERROR(Replace(slot));
      worker = slots_[slot].proc.get();
      // A cancel that came meanwhile may have killed the old worker only. (One that comes
      // after this check kills the new one, which the exchange below then sees.)
      absl::MutexLock lock(&mu_);
      if (slots_[slot].cancelled) return CountCancelledBeforeStart();  // Release replaces it
    }
    const uint32_t cpu_seconds = CpuSeconds(options_, limits);
    // Large named inputs go as shared memory (shared_input.h); `fds` and `held` carry and keep
    // open the memfds of those the worker is not known to hold.
    std::vector<PieceSend> how;
    std::vector<int> fds;
    std::vector<std::shared_ptr<const ScopedFd>> held;
    // The input's pieces (stdin's, then the mounts' files), listed once for the whole exchange.
    const std::vector<const wasm::StdinPiece*> pieces =
        input != nullptr ? InputPieces(*input) : std::vector<const wasm::StdinPiece*>{};
    // `everything`: the module and every shared input's descriptor (the worker lacked one).
    auto encode = [&](bool everything) -> absl::StatusOr<std::string> {
      PlanPieces(*worker, pieces, everything, &how, &fds, &held);
      const bool send_module = everything || !worker->known_modules().contains(module_id);
      return EncodeRun(module_id, send_module ? module : nullptr, *input, limits, cpu_seconds,
                       engine, how);
    };
    uint64_t stdin_bytes = 0;
    if (input != nullptr) {
      MESH_ASSIGN_OR_RETURN(frame, encode(false));
      stdin_bytes = input->stdin_bytes.size();
      for (const wasm::StdinPiece* p : pieces) stdin_bytes += p->bytes.size();
    }
    if (const uint64_t body = std::max<uint64_t>(frame.size() - kFrameHeaderBytes, stdin_bytes);
        body > options_.max_frame_bytes) {
      return absl::ResourceExhaustedError(mesh::StrCat(
          "the job's module and input take ", body, " bytes, over the worker message limit of ",
          options_.max_frame_bytes, " bytes; pass less input per job or split it"));
    }
    const Clock::time_point start = Clock::now();
    const Deadline deadline = start + absl::ToChronoNanoseconds(limits.wall_time - spent);
    absl::Status sent = worker->Send(frame, fds, deadline);
    {
      absl::MutexLock lock(&mu_);
      ++jobs_started_;
    }
    for (bool resent = false;;) {
      absl::StatusOr<std::string> body =
          sent.ok() ? worker->Receive(options_.max_frame_bytes, deadline) : sent;
      if (!body.ok()) return WorkerFailed(slot, body.status(), limits, start, engine);
      absl::StatusOr<MessageType> type = PeekType(*body);
      if (type.ok() && (*type == MessageType::kNeedModule || *type == MessageType::kNeedInput) &&
          input != nullptr && !resent) {
        // The worker dropped the module or a shared input from its cache: send it again, with
        // the module's bytes and every shared input's descriptor.
        resent = true;
        MESH_ASSIGN_OR_RETURN(frame, encode(true));
        sent = worker->Send(frame, fds, deadline);
        continue;
      }
      if (type.ok() && *type == MessageType::kProgress && input != nullptr) {
        absl::StatusOr<wasm::ProgressRecord> progress = DecodeProgress(*body);
        if (!progress.ok()) return WorkerFailed(slot, progress.status(), limits, start, engine);
        if (input->on_progress) input->on_progress(*progress);
        continue;  // the answer is still to come, by the same deadline
      }
      if (type.ok() && (*type == MessageType::kCheckpoint || *type == MessageType::kPartial) &&
          input != nullptr) {
        absl::StatusOr<JobBytes> made = DecodeJobBytes(*type, *body);
        if (!made.ok()) return WorkerFailed(slot, made.status(), limits, start, engine);
        const auto& callback =
            *type == MessageType::kCheckpoint ? input->on_checkpoint : input->on_partial;
        if (callback) callback(made->bytes, made->fuel);
        continue;
      }
      if (type.ok() && *type == MessageType::kResult) {
        absl::StatusOr<wasm::RunResult> result = DecodeResult(*body);
        if (!result.ok()) return WorkerFailed(slot, result.status(), limits, start, engine);
        if (worker->known_modules().size() >= kMaxKnownModules) worker->known_modules().clear();
        worker->known_modules().insert(module_id);
        if (worker->known_inputs().size() >= kMaxKnownModules) worker->known_inputs().clear();
        for (size_t i = 0; i < how.size(); ++i) {
          if (how[i] != PieceSend::kInline) worker->known_inputs().insert(pieces[i]->cid);
        }
        result->report.output_bytes = result->output.size();
        result->report.output_cid = cas::Cid::Of(result->output).ToString();
        absl::MutexLock lock(&mu_);
        ++jobs_finished_;
        slots_[slot].tag = 0;  // done: from now on Cancel no longer finds it
        return result;
      }
      if (type.ok() && *type == MessageType::kError) {
        absl::StatusOr<absl::Status> error = DecodeError(*body);
        if (!error.ok()) return WorkerFailed(slot, error.status(), limits, start, engine);
        absl::MutexLock lock(&mu_);
        ++jobs_finished_;
        slots_[slot].tag = 0;
        return *error;
      }
      return WorkerFailed(
          slot,
          type.ok() ? absl::InvalidArgumentError("the worker answered out of turn") : type.status(),
          limits, start, engine);
    }
  }

  // How each of an input's `pieces` (InputPieces) goes to `worker` (PieceSend): small or unnamed
  // pieces inline; large named ones by CID, with the memfd's descriptor (in `fds`, kept open by
  // `held`) unless the worker is known to hold it and `everything` is false. A piece whose
  // memfd cannot be made, or past kMaxFrameFds descriptors, goes inline.
  void PlanPieces(WorkerProcess& worker, const std::vector<const wasm::StdinPiece*>& pieces,
                  bool everything, std::vector<PieceSend>* how, std::vector<int>* fds,
                  std::vector<std::shared_ptr<const ScopedFd>>* held) {
    how->assign(pieces.size(), PieceSend::kInline);
    fds->clear();
    held->clear();
    for (size_t i = 0; i < pieces.size(); ++i) {
      const wasm::StdinPiece& p = *pieces[i];
      if (p.cid.empty() || p.bytes.size() < kMinSharedInputBytes) continue;
      if (!everything && worker.known_inputs().contains(p.cid)) {
        (*how)[i] = PieceSend::kShared;
        continue;
      }
      if (fds->size() >= kMaxFrameFds) continue;
      absl::StatusOr<std::shared_ptr<const ScopedFd>> memfd = shared_inputs_.Get(p.cid, p.bytes);
      if (!memfd.ok()) continue;
      (*how)[i] = PieceSend::kSharedWithFd;
      fds->push_back((*memfd)->get());
      held->push_back(*std::move(memfd));
    }
  }

  // The exchange with the worker in `slot` failed: deadline, death (Cancel's kill among them),
  // or a broken answer. Ends the worker (if it still runs), reaps and replaces it, and says
  // what happened to the job.
  absl::StatusOr<wasm::RunResult> WorkerFailed(int slot, const absl::Status& error,
                                               const wasm::Limits& limits, Clock::time_point start,
                                               wasm::EngineKind engine) {
    if (engine == wasm::EngineKind::kAuto) engine = config_.engine;
    WorkerProcess* worker = slots_[slot].proc.get();
    const bool timed_out = absl::IsDeadlineExceeded(error);
    // On end-of-stream the worker is exiting by itself; give it a moment to show how.
    const bool closed = absl::IsOutOfRange(error) || absl::IsUnavailable(error);
    if (!closed) worker->Kill();
    const ExitInfo exit = worker->Reap(absl::Seconds(1));
    const absl::Duration wall = absl::FromChrono(Clock::now() - start);
    const pid_t pid = worker->pid();
    bool at_shutdown, cancelled;
    {
      absl::MutexLock lock(&mu_);
      at_shutdown = slots_[slot].killed_at_shutdown;
      // The job's end is decided here: a later Cancel no longer finds it, and Release does not
      // replace the worker a second time.
      cancelled = slots_[slot].cancelled;
      slots_[slot].cancelled = false;
      slots_[slot].tag = 0;
      if (cancelled) {
        ++cancelled_;
      } else if (timed_out || (exit.signaled && exit.signal == SIGXCPU)) {
        ++timeouts_;
      } else {
        ++crashes_;
      }
    }
    ReplaceOrLog(slot);
    if (cancelled) return absl::CancelledError("job cancelled while running");
    if (at_shutdown) {
      return absl::AbortedError(
          "the worker pool shut down before the job finished (it ran past the grace period)");
    }
    if (timed_out) {
      return StoppedResult(
          wasm::Outcome::kTimeout,
          mesh::StrCat("job exceeded its wall-time limit of ",
                       absl::FormatDuration(limits.wall_time), "; raise --timeout"),
          engine, limits, wall);
    }
    if (exit.signaled && exit.signal == SIGXCPU) {
      return StoppedResult(
          wasm::Outcome::kTimeout,
          mesh::StrCat("job exceeded its CPU-time limit of ", CpuSeconds(options_, limits),
                       "s (the worker got SIGXCPU); raise --timeout"),
          engine, limits, wall);
    }
    std::string message =
        mesh::StrCat("worker process ", pid, " ", exit.Describe(), " while running the job");
    if (exit.signaled && exit.signal == SIGSYS) {
      message += ": it attempted a system call the sandbox forbids";
    } else if (!closed) {
      message += mesh::StrCat(" (", error.message(), ")");
    }
    return StoppedResult(wasm::Outcome::kCrashed, std::move(message), engine, limits, wall);
  }

  void AsyncLoop() {
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !async_queue_.empty() || shutting_down_;
    };
    while (true) {
      std::pair<RunRequest, Callback> job;
      Call call;
      Call* tracked = nullptr;
      bool entered = false;
      {
        // Taking the job off the queue and registering it are one step, so Cancel always
        // finds it in one place or the other.
        absl::MutexLock lock(&mu_, absl::Condition(&ready));
        if (async_queue_.empty()) return;
        job = std::move(async_queue_.front());
        async_queue_.pop_front();
        if (!shutting_down_) {
          call.tag = job.first.tag;
          tracked = call.tag != 0 ? &call : nullptr;
          EnterCallLocked(tracked);
          entered = true;
        }
      }
      if (!entered) {  // once shutting down, queued jobs are answered Unavailable
        job.second(absl::UnavailableError("the worker pool is shut down"));
        continue;
      }
      absl::StatusOr<wasm::RunResult> result = RunEntered(std::move(job.first), tracked);
      LeaveCall(tracked);
      job.second(std::move(result));
    }
  }

  const PoolOptions options_;
  const WorkerConfig config_;
  const std::vector<std::string> worker_env_;
  const ModuleBuilder builder_;
  const std::unique_ptr<wasm::AotEngine> aot_cache_;  // aot pools: what the cache holds
  std::unique_ptr<CompileQueue> compiles_;            // aot pools; set in the constructor
  ModuleCache modules_;
  SharedInputFiles shared_inputs_;  // memfds of large inputs, by CID

  mutable absl::Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);  // fixed size; see Slot for who may touch what
  std::vector<int> idle_ ABSL_GUARDED_BY(mu_);
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  int active_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(mu_) = false;
  // Build processes running for jobs (tag 0: not cancellable), for Cancel and Shutdown.
  std::vector<std::pair<uint64_t, KillSwitch*>> builds_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<RunRequest, Callback>> async_queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Call*> calls_ ABSL_GUARDED_BY(mu_);  // cancellable jobs accepted (see Call)
  std::vector<std::thread> async_threads_ ABSL_GUARDED_BY(mu_);
  uint64_t jobs_started_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t jobs_finished_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t timeouts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t crashes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t workers_spawned_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Start(PoolOptions options) {
  if (options.worker_path.empty()) {
    return absl::InvalidArgumentError("worker pool options lack the mesh-worker path");
  }
  if (options.workers <= 0) {
    options.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  EngineOptions engine_options{.aot_cache_dir = options.aot_cache_dir,
                               .aot_compiler = options.aot_compiler};
  WorkerConfig config;
  config.engine = ResolveEngineKind(options.engine, engine_options);
  std::vector<std::string> worker_env;
  if (config.engine == wasm::EngineKind::kAot) {
    // Workers have no environment of their own: they get the cache directory and compiler the
    // pool uses, and its PATH, so that they find the same compiler (part of the cache key).
    if (engine_options.aot_cache_dir.empty()) engine_options.aot_cache_dir = DefaultAotCacheDir();
    if (engine_options.aot_compiler.empty()) {
      const char* cc = std::getenv("CC");
      engine_options.aot_compiler = cc != nullptr ? cc : "";
    }
    if (const char* path = std::getenv("PATH"); path != nullptr) {
      worker_env.push_back(mesh::StrCat("PATH=", path));
    }
  }
  BuildOptions build{.worker_path = options.worker_path,
                     .env = worker_env,
                     .aot_cache_dir = engine_options.aot_cache_dir,
                     .aot_compiler = engine_options.aot_compiler,
                     .prepare = {options.prepare_cpu_time, options.prepare_wall_time,
                                 options.prepare_memory_bytes},
                     .compile = {options.compile_cpu_time, options.compile_wall_time,
                                 options.compile_memory_bytes},
                     .max_frame_bytes = options.max_frame_bytes};
  std::unique_ptr<wasm::AotEngine> aot_cache;
  if (config.engine == wasm::EngineKind::kAot) {
    // The pool never compiles itself (compile processes do); it only asks the cache.
    MESH_ASSIGN_OR_RETURN(aot_cache,
                          wasm::AotEngine::Create({.cache_dir = engine_options.aot_cache_dir,
                                                   .compiler = engine_options.aot_compiler,
                                                   .allow_compile = false}));
    // The pool asked `cc --version` once: its workers and compile processes reuse the answer.
    engine_options.aot_compiler_version = aot_cache->compiler_version();
    build.aot_compiler_version = engine_options.aot_compiler_version;
    if (options.compile_concurrency <= 0) {
      options.compile_concurrency =
          static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2));
    }
  }
  config.aot_cache_dir = engine_options.aot_cache_dir;
  config.aot_compiler = engine_options.aot_compiler;
  config.aot_compiler_version = engine_options.aot_compiler_version;
  config.sandbox.channel_fd = kWorkerChannelFd;
  config.sandbox.address_space_bytes = options.address_space_bytes;
  config.sandbox.max_open_files = options.max_open_files;
  config.max_frame_bytes = options.max_frame_bytes;
  config.module_cache_bytes = options.worker_module_cache_bytes;
  config.input_cache_bytes = options.worker_input_cache_bytes;
  config.test_hooks = options.enable_test_hooks;
  const wasm::EngineKind engine = config.engine;
  auto impl = std::make_unique<Impl>(std::move(options), std::move(config), std::move(worker_env),
                                     std::move(build), std::move(aot_cache));
  MESH_RETURN_IF_ERROR(impl->StartWorkers());
  return std::unique_ptr<WorkerPool>(new WorkerPool(std::move(impl), engine));
}

WorkerPool::WorkerPool(std::unique_ptr<Impl> impl, wasm::EngineKind engine)
    : impl_(std::move(impl)), engine_(engine) {}

WorkerPool::~WorkerPool() = default;

absl::StatusOr<wasm::RunResult> WorkerPool::Run(RunRequest request) {
  return impl_->Run(std::move(request));
}

void WorkerPool::RunAsync(RunRequest request, Callback done) {
  impl_->RunAsync(std::move(request), std::move(done));
}

bool WorkerPool::Cancel(uint64_t tag) { return impl_->Cancel(tag); }

void WorkerPool::Shutdown(absl::Duration grace) { impl_->Shutdown(grace); }

PoolStats WorkerPool::stats() const { return impl_->stats(); }

std::vector<pid_t> WorkerPool::WorkerPids() const { return impl_->WorkerPids(); }

std::vector<pid_t> WorkerPool::CompilePidsForTesting() const { return impl_->CompilePids(); }

absl::StatusOr<wasm::RunResult> WorkerPool::RunTestHookForTesting(TestHook hook) {
  return impl_->RunTestHook(hook);
}

}  // namespace mesh::exec
