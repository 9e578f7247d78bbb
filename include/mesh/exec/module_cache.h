// ModuleCache: the pool's instrumented modules, by module id (the module's CID). Instrumenting
// (validation plus gas metering) costs milliseconds for a typical module, so it happens once
// per id, through the caller's instrument function (the pool's runs it in a sandboxed build
// process, module_builder.h), and workers receive the instrumented bytes. Modules that fail
// instrumentation are remembered too, so a bad module is refused quickly every time; failures
// that are not the module's (cancelled, shut down, no process could start, the job's own
// deadline) are not kept.
//
// In memory only: the cache is rebuilt after a restart, which costs one instrumentation per
// module; compiled aot code, which is expensive to rebuild, lives in the aot engine's own cache.
// Least recently used entries are dropped past the byte budget. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/wasm/instrumenter.h"

namespace mesh::exec {

class ModuleCache {
 public:
  explicit ModuleCache(uint64_t max_bytes = 512ull << 20) : max_bytes_(max_bytes) {}

  using InstrumentFn =
      std::function<absl::StatusOr<wasm::InstrumentedModule>(std::string_view wasm)>;

  // The instrumented module for `module_id`, instrumenting `wasm` on a miss with `instrument`
  // (empty: wasm::Instrument in this process, for tests) (`wasm` may be null when the caller
  // expects a hit: NotFound then). Instrumentation errors are returned as `instrument` gave
  // them. The result is shared: the cache and every job running it hold it, and a dropped
  // entry lives until its last job ends.
  absl::StatusOr<std::shared_ptr<const wasm::InstrumentedModule>> Get(
      const std::string& module_id, const std::string* wasm, const InstrumentFn& instrument = {});

  uint64_t instrumentations() const;

 private:
  struct Entry {
    absl::StatusOr<std::shared_ptr<const wasm::InstrumentedModule>> module;
    uint64_t bytes = 0;
    std::list<std::string>::iterator lru;
  };

  void InsertLocked(const std::string& module_id, Entry entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t max_bytes_;
  mutable absl::Mutex mu_;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t instrumentations_ ABSL_GUARDED_BY(mu_) = 0;
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::exec
