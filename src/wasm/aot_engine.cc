// The `aot` engine. Run() mirrors InterpEngine::Run step by step (imports, memory limit, fuel
// probe, end classification, report) so that both engines report the same outcome, output and
// fuel for every module; only loading and running the code differ.
#include "mesh/wasm/aot_engine.h"

#include <time.h>
#include <wasm-rt.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>

#include "aot_cache.h"
#include "aot_codegen.h"
#include "aot_compiler.h"
#include "aot_loader.h"
#include "mesh/common/check.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::wasm {
namespace {

static_assert(aot::kAotHostStopTrap == WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
static_assert(sizeof(wasm_rt_funcref_t) <= kTableEntryBytes);

// Messages chosen to contain the same words as WABT's interpreter reports for the same trap.
std::string TrapMessage(int code, HostAction last_action) {
  switch (code) {
    case WASM_RT_TRAP_OOB:
      return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW:
      return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO:
      return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION:
      return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE:
      return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT:
      // wasm2c does not tell an undefined table element from a signature mismatch.
      return "indirect call to an undefined table element or with a mismatched signature";
    case WASM_RT_TRAP_EXHAUSTION:
      return "call stack exhausted";
    case aot::kAotHostStopTrap:
      return last_action == HostAction::kExit ? "exit" : "stop";
    default:
      return mesh::StrCat("wasm2c trap ", code);
  }
}

// What the glue's host calls reach: the run's JobHost and the import -> host function map.
struct HostContext {
  JobHost* host;
  const std::vector<HostFuncId>* ids;
  HostAction last_action = HostAction::kContinue;
};

extern "C" int MeshAotHostCall(void* ctx, uint32_t import_index, const uint64_t* args,
                               uint64_t* result, uint8_t* memory, uint64_t memory_size) {
  auto* c = static_cast<HostContext*>(ctx);
  c->last_action = c->host->Call((*c->ids)[import_index], args, result, {memory, memory_size});
  return c->last_action == HostAction::kContinue ? 0 : 1;
}

// A module instance: zeroed storage for wasm2c's instance struct, released (memories, tables,
// then the storage) when it goes out of scope, inside the RunScope.
class Instance {
 public:
  explicit Instance(const aot::AotModule& module)
      : module_(module), storage_(std::calloc(1, std::max<size_t>(module.instance_size, 1))) {
    MESH_CHECK(storage_ != nullptr);
  }
  ~Instance() {
    module_.free(storage_);
    std::free(storage_);
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  void* get() const { return storage_; }

 private:
  const aot::AotModule& module_;
  void* storage_;
};

std::string DefaultCacheDir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return mesh::StrCat(xdg, "/mesh/aot");
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return mesh::StrCat(home, "/.cache/mesh/aot");
  }
  return "";
}

class AotEngineImpl final : public AotEngine {
 public:
  explicit AotEngineImpl(std::unique_ptr<aot::AotCache> cache) : cache_(std::move(cache)) {}

  std::string_view name() const override { return "aot"; }
  AotStats stats() const override { return cache_->stats(); }
  const std::string& compiler_version() const override { return cache_->compiler_version(); }

  absl::Status Prepare(const InstrumentedModule& module) override {
    return cache_->Ensure(cache_->KeyFor(module), module).status();
  }

  bool IsCompiled(const InstrumentedModule& module) const override {
    return cache_->Has(cache_->KeyFor(module));
  }
  std::optional<std::string> RecordedFailure(const InstrumentedModule& module) const override {
    return cache_->Failure(cache_->KeyFor(module));
  }
  absl::Status RecordCompileFailure(const InstrumentedModule& module,
                                    std::string_view reason) const override {
    return cache_->RecordFailure(cache_->KeyFor(module), reason);
  }

  absl::StatusOr<RunResult> Run(const std::string& module_id, const InstrumentedModule& module,
                                JobInput input, const Limits& limits) override {
    RunScope run("aot", limits);
    RunResult& result = run.result();
    RunReport& report = run.report();
    auto ids = run.Admit(module);
    if (!ids) return std::move(result);
    auto loaded = Load(module);
    if (!loaded.ok()) {
      if (!absl::IsInvalidArgument(loaded.status())) {
        return absl::Status(loaded.status().code(),
                            mesh::StrCat("aot engine, module ", module_id, ": ",
                                         std::string(loaded.status().message())));
      }
      report.outcome = Outcome::kInvalidModule;
      report.message = std::string(loaded.status().message());
      return result;
    }
    const aot::AotModule& code = **loaded;

    JobHost host(std::move(input), limits);
    if (!host.status().ok()) return host.status();
    HostContext ctx{&host, &*ids};
    aot::AotLoader::RunScope scope(aot::AotLoader::Get());
    code.set_host(&MeshAotHostCall, &ctx);
    Instance instance(code);
    // The memory limit becomes the memory's maximum: memory.grow past it returns -1.
    const uint64_t limit_pages =
        std::min<uint64_t>(run.memory_limit_pages(), std::numeric_limits<uint32_t>::max());
    const int inst_trap = code.instantiate(instance.get(), static_cast<uint32_t>(limit_pages));
    if (inst_trap != 0) {
      report.outcome = Outcome::kTrap;
      report.trap_kind = TrapMessage(inst_trap, ctx.last_action);
      report.message = mesh::StrCat("module failed to instantiate: ", report.trap_kind);
      return result;
    }
    // A fresh instance starts with depth and grow_failed at 0, as in the interp engine.
    uint64_t* fuel = code.fuel(instance.get());
    *fuel = limits.fuel;
    host.set_fuel_probe([&]() -> uint64_t {
      const auto left = static_cast<int64_t>(*fuel);
      return left < 0 ? limits.fuel : limits.fuel - static_cast<uint64_t>(left);
    });
    // Host work (file I/O) comes off the same counter, exactly as in the interp engine.
    host.set_fuel_charge([&](uint64_t charge) -> bool {
      const int64_t left =
          static_cast<int64_t>(*fuel) - static_cast<int64_t>(std::min<uint64_t>(charge, INT64_MAX));
      *fuel = static_cast<uint64_t>(left);
      return left >= 0;
    });

    const int trap = code.run_start(instance.get());
    if (trap == aot::kAotGsFailedTrap) {
      return absl::FailedPreconditionError(mesh::StrCat(
          "aot engine, module ", module_id,
          ": cannot point the GS segment at the module's memory (this kernel allows neither "
          "wrgsbase nor arch_prctl(ARCH_SET_GS)); use --engine interp"));
    }

    EndState end;
    end.trapped = trap != 0;
    end.trap_message = end.trapped ? TrapMessage(trap, ctx.last_action) : "";
    end.host_action = ctx.last_action;
    end.fuel_left = static_cast<int64_t>(*fuel);
    end.depth = *code.depth(instance.get());
    end.grows_refused = *code.grow_failed(instance.get());
    end.function = FunctionLabel(module, static_cast<int32_t>(*code.func(instance.get())));
    ClassifyEnd(end, host, limits, report);
    // A native stack overflow below kMaxCallDepth (huge frames) is classified the same way.
    if (report.outcome == Outcome::kTrap && report.trap_kind == "call stack exhausted") {
      report.outcome = Outcome::kStackOverflow;
    }

    uint64_t memory_size = 0;
    const bool has_memory = code.memory(instance.get(), &memory_size) != nullptr;
    return run.Finish(host, has_memory ? memory_size : 0);
  }

 private:
  absl::StatusOr<const aot::AotModule*> Load(const InstrumentedModule& module) {
    const std::string key = cache_->KeyFor(module);
    aot::AotLoader& loader = aot::AotLoader::Get();
    if (const aot::AotModule* loaded = loader.Find(key)) return loaded;
    MESH_ASSIGN_OR_RETURN(std::filesystem::path so, cache_->Ensure(key, module));
    return loader.Load(key, so);
  }

  const std::unique_ptr<aot::AotCache> cache_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AotEngine>> AotEngine::Create(const AotOptions& options) {
  const std::string dir = options.cache_dir.empty() ? DefaultCacheDir() : options.cache_dir;
  if (dir.empty()) {
    return absl::FailedPreconditionError(
        "no directory for the aot cache: set a data directory, XDG_CACHE_HOME or HOME");
  }
  MESH_ASSIGN_OR_RETURN(aot::CCompiler compiler, aot::CCompiler::Find(options.compiler));
  MESH_ASSIGN_OR_RETURN(auto cache,
                        aot::AotCache::Open(dir, std::move(compiler), options.allow_compile,
                                            options.compiler_version));
  return std::unique_ptr<AotEngine>(new AotEngineImpl(std::move(cache)));
}

bool AotAvailable(const AotOptions& options) { return aot::CCompiler::Find(options.compiler).ok(); }

absl::StatusOr<std::unique_ptr<Engine>> MakeEngine(EngineKind kind, const AotOptions& options) {
  if (kind == EngineKind::kInterp || (kind == EngineKind::kAuto && !AotAvailable(options))) {
    return MakeInterpEngine();
  }
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<AotEngine> engine, AotEngine::Create(options));
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace mesh::wasm
