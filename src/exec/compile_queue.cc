#include "mesh/exec/compile_queue.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "mesh/common/strings.h"

namespace mesh::exec {

CompileQueue::CompileQueue(const ModuleBuilder* builder, const wasm::AotEngine* cache,
                           int max_concurrent)
    : builder_(builder), cache_(cache), max_concurrent_(std::max(1, max_concurrent)) {}

CompileQueue::~CompileQueue() { Shutdown(); }

std::string CompileQueue::LimitsLine() const {
  const BuildLimits& l = builder_->options().compile;
  return mesh::StrCat("limits: cpu ", absl::FormatDuration(l.cpu_time), ", wall ",
                      absl::FormatDuration(l.wall_time), ", memory ", l.memory_bytes >> 20, " MiB");
}

absl::StatusOr<wasm::EngineKind> CompileQueue::Choose(
    const std::string& module_id, std::shared_ptr<const wasm::InstrumentedModule> module,
    absl::Duration max_wait, uint64_t tag, const std::function<void()>& before_wait) {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return absl::UnavailableError("the worker pool is shut down");
    if (auto it = known_.find(module_id); it != known_.end()) {
      return it->second ? wasm::EngineKind::kAot : wasm::EngineKind::kInterp;
    }
  }
  // What the cache on disk says: compiled by an earlier run, or failed under these limits.
  bool compiled = cache_->IsCompiled(*module);
  bool failed = false;
  if (!compiled) {
    std::optional<std::string> failure = cache_->RecordedFailure(*module);
    failed = failure.has_value() && failure->substr(0, failure->find('\n')) == LimitsLine();
  }
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the worker pool is shut down");
  if (compiled || failed) {
    known_[module_id] = compiled;
    return compiled ? wasm::EngineKind::kAot : wasm::EngineKind::kInterp;
  }
  if (auto it = known_.find(module_id); it != known_.end()) {
    return it->second ? wasm::EngineKind::kAot : wasm::EngineKind::kInterp;
  }
  std::shared_ptr<Entry> entry;
  if (auto it = entries_.find(module_id); it != entries_.end()) {
    entry = it->second;
  } else {
    entry = std::make_shared<Entry>();
    entry->module_id = module_id;
    entry->module = std::move(module);
    entry->starter_tag = tag;
    entries_.emplace(module_id, entry);
    queue_.push_back(entry);
    ++stats_.queued;
    if (threads_.empty()) {
      for (int i = 0; i < max_concurrent_; ++i) threads_.emplace_back([this] { Loop(); });
    }
  }
  if (entry->state == State::kQueued) {
    // Waiting makes sense only for a compile that runs now or is about to: one queued behind
    // others may take minutes to start.
    const auto pos = std::find(queue_.begin(), queue_.end(), entry) - queue_.begin();
    if (pos >= max_concurrent_ - stats_.running) return wasm::EngineKind::kInterp;
  }
  if (max_wait <= absl::ZeroDuration()) return wasm::EngineKind::kInterp;
  Waiter waiter{.tag = tag, .entry = entry.get()};
  waiters_.push_back(&waiter);
  ++entry->waiters;
  auto ended = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entry->state == State::kDone || entry->state == State::kFailed ||
           entry->state == State::kDropped || shutting_down_ || waiter.cancelled;
  };
  if (before_wait) {
    // Registered as a waiter first, so a cancel or the compile's end meanwhile is not missed.
    mu_.Unlock();
    before_wait();
    mu_.Lock();
  }
  mu_.AwaitWithTimeout(absl::Condition(&ended), max_wait);
  --entry->waiters;
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
  if (waiter.cancelled) {
    return absl::CancelledError("job cancelled before it started (its module was compiling)");
  }
  if (shutting_down_) return absl::UnavailableError("the worker pool is shut down");
  return entry->state == State::kDone ? wasm::EngineKind::kAot : wasm::EngineKind::kInterp;
}

void CompileQueue::Forget(const std::string& module_id) {
  absl::MutexLock lock(&mu_);
  known_.erase(module_id);
}

bool CompileQueue::Cancel(uint64_t tag) {
  if (tag == 0) return false;
  absl::MutexLock lock(&mu_);
  bool found = false;
  for (Waiter* w : waiters_) {
    if (w->tag == tag) {
      w->cancelled = true;
      found = true;
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = *it->second;
    const bool others_wait = std::any_of(waiters_.begin(), waiters_.end(), [&](Waiter* w) {
      return w->entry == &e && !w->cancelled;
    });
    if (e.starter_tag != tag || others_wait) {
      ++it;
      continue;
    }
    found = true;
    if (e.state == State::kQueued) {
      e.state = State::kDropped;
      queue_.erase(std::find(queue_.begin(), queue_.end(), it->second));
      --stats_.queued;
      it = entries_.erase(it);
    } else {
      e.kill.Kill();  // the compile thread reaps it and drops the entry
      ++it;
    }
  }
  return found;
}

void CompileQueue::Shutdown() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (auto& [id, entry] : entries_) {
      if (entry->state == State::kRunning) entry->kill.Kill();
      if (entry->state == State::kQueued) entry->state = State::kDropped;
    }
    stats_.queued = 0;
    queue_.clear();
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void CompileQueue::Loop() {
  auto ready = [this]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || shutting_down_; };
  while (true) {
    std::shared_ptr<Entry> entry;
    {
      absl::MutexLock lock(&mu_, absl::Condition(&ready));
      if (shutting_down_) return;
      entry = queue_.front();
      queue_.pop_front();
      entry->state = State::kRunning;
      --stats_.queued;
      ++stats_.running;
      ++stats_.started;
    }
    const absl::Status status = builder_->Compile(*entry->module, &entry->kill);
    bool record = false;
    {
      absl::MutexLock lock(&mu_);
      --stats_.running;
      if (auto it = entries_.find(entry->module_id); it != entries_.end() && it->second == entry) {
        entries_.erase(it);
      }
      if (status.ok()) {
        entry->state = State::kDone;
        known_[entry->module_id] = true;
        ++stats_.compiled;
      } else if (absl::IsCancelled(status) || shutting_down_ || absl::IsUnavailable(status) ||
                 absl::IsFailedPrecondition(status)) {
        // Killed, or the compiler could not be started at all: not the module's fault.
        entry->state = State::kDropped;
        ++stats_.killed;
      } else {
        entry->state = State::kFailed;
        known_[entry->module_id] = false;
        ++stats_.failed;
        record = true;
      }
    }
    if (record) {
      if (absl::Status s = cache_->RecordCompileFailure(
              *entry->module, mesh::StrCat(LimitsLine(), "\n", status.message(), "\n"));
          !s.ok()) {
        std::fprintf(stderr, "mesh: could not record the failed compile of %s: %s\n",
                     entry->module_id.c_str(), std::string(s.message()).c_str());
      }
    }
    if (!status.ok() && !absl::IsCancelled(status)) {
      std::fprintf(stderr, "mesh: module %s stays on the interpreter: %s\n",
                   entry->module_id.c_str(), std::string(status.message()).c_str());
    }
    absl::MutexLock lock(&mu_);
    entry->module.reset();
  }
}

CompileStats CompileQueue::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::vector<pid_t> CompileQueue::RunningPidsForTesting() const {
  absl::MutexLock lock(&mu_);
  std::vector<pid_t> pids;
  for (const auto& [id, entry] : entries_) {
    if (const pid_t pid = entry->kill.pid(); pid != 0) pids.push_back(pid);
  }
  return pids;
}

}  // namespace mesh::exec
