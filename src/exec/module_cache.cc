#include "mesh/exec/module_cache.h"

#include <utility>

#include "mesh/common/strings.h"

namespace mesh::exec {

absl::StatusOr<std::shared_ptr<const wasm::InstrumentedModule>> ModuleCache::Get(
    const std::string& module_id, const std::string* wasm, const InstrumentFn& instrument) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = entries_.find(module_id); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.module;
    }
  }
  if (wasm == nullptr) {
    return absl::NotFoundError(mesh::StrCat(
        "module ", module_id, " is not in the worker pool's cache and the request has no bytes"));
  }
  // Instrument outside the lock: other modules keep flowing meanwhile. Two callers racing on
  // the same new module both instrument it; the results are identical and one is kept.
  Entry entry;
  absl::StatusOr<wasm::InstrumentedModule> instrumented =
      instrument ? instrument(*wasm) : wasm::Instrument(*wasm);
  const absl::StatusCode code = instrumented.status().code();
  if (code == absl::StatusCode::kCancelled || code == absl::StatusCode::kUnavailable ||
      code == absl::StatusCode::kFailedPrecondition || code == absl::StatusCode::kAborted ||
      code == absl::StatusCode::kDeadlineExceeded) {
    return instrumented.status();  // not (only) the module's fault: the next job tries again
  }
  if (instrumented.ok()) {
    entry.bytes = instrumented->wasm.size() + 64 * instrumented->imports.size();
    entry.module = std::make_shared<const wasm::InstrumentedModule>(*std::move(instrumented));
  } else {
    entry.bytes = 256 + instrumented.status().message().size();
    entry.module = instrumented.status();
  }
  absl::MutexLock lock(&mu_);
  ++instrumentations_;
  if (auto it = entries_.find(module_id); it != entries_.end()) return it->second.module;
  auto result = entry.module;
  InsertLocked(module_id, std::move(entry));
  return result;
}

void ModuleCache::InsertLocked(const std::string& module_id, Entry entry) {
  lru_.push_front(module_id);
  entry.lru = lru_.begin();
  bytes_ += entry.bytes;
  entries_.emplace(module_id, std::move(entry));
  while (bytes_ > max_bytes_ && lru_.size() > 1) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    entries_.erase(victim);
    lru_.pop_back();
  }
}

uint64_t ModuleCache::instrumentations() const {
  absl::MutexLock lock(&mu_);
  return instrumentations_;
}

}  // namespace mesh::exec
