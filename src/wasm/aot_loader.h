// The process-wide side of the aot engine: compiled modules loaded with dlopen (once per module
// per process, kept until exit) and the lock that serialises runs, because the wasm2c runtime
// keeps its trap jmp_buf and signal handler in globals. Thread-safe; a singleton, since the
// state it guards is per process.
#pragma once

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "aot_codegen.h"

namespace mesh::wasm::aot {

// The glue ABI of one loaded module (see aot_codegen.h).
struct AotModule {
  void* handle = nullptr;
  size_t instance_size = 0;
  void (*set_host)(MeshAotHostFn, void*) = nullptr;
  int (*instantiate)(void*, uint32_t) = nullptr;
  int (*run_start)(void*) = nullptr;
  uint8_t* (*memory)(void*, uint64_t*) = nullptr;
  uint64_t* (*fuel)(void*) = nullptr;
  uint32_t* (*depth)(void*) = nullptr;
  uint32_t* (*grow_failed)(void*) = nullptr;
  uint32_t* (*func)(void*) = nullptr;
  void (*free)(void*) = nullptr;
};

class AotLoader {
 public:
  static AotLoader& Get();

  // The module loaded under `key`, or nullptr.
  const AotModule* Find(const std::string& key);
  // Loads `so` (once) under `key`. FailedPrecondition naming the file and the fix.
  absl::StatusOr<const AotModule*> Load(const std::string& key, const std::filesystem::path& so);

  // Held for the whole of one run (instantiate, run, free): takes the run lock, installs the
  // wasm2c runtime's SIGSEGV/SIGBUS handler (memory guard pages and stack exhaustion become
  // traps) and gives the thread an alternate signal stack; restores the previous handlers after.
  class RunScope {
   public:
    explicit RunScope(AotLoader& loader);
    ~RunScope();
    RunScope(const RunScope&) = delete;
    RunScope& operator=(const RunScope&) = delete;

   private:
    AotLoader& loader_;
    std::lock_guard<std::mutex> lock_;
    struct sigaction saved_segv_ {};
    struct sigaction saved_bus_ {};
  };

 private:
  AotLoader();

  std::mutex load_mu_;  // taken before run_mu_ when both are needed
  std::map<std::string, std::unique_ptr<AotModule>> modules_;  // guarded by load_mu_
  std::mutex run_mu_;
  struct sigaction wasm_rt_segv_ {};  // the runtime's handlers, captured once
  struct sigaction wasm_rt_bus_ {};
};

}  // namespace mesh::wasm::aot
