// The `interp` engine: WABT's interpreter. Slow (hundreds of times native) but needs no
// compiler, starts instantly and is the reference the aot engine is checked against.
#include <time.h>

#include <wabt/binary-reader.h>
#include <wabt/interp/binary-reader-interp.h>
#include <wabt/interp/interp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "job_features.h"
#include "mesh/common/strings.h"
#include "mesh/wasm/engine.h"

namespace mesh::wasm {
namespace {

namespace wi = wabt::interp;

// Tables are charged at kTableEntryBytes per entry, which covers WABT's own.
static_assert(sizeof(wi::Ref) <= kTableEntryBytes);

class InterpEngine final : public Engine {
 public:
  std::string_view name() const override { return "interp"; }

  absl::StatusOr<RunResult> Run(const std::string& module_id, const InstrumentedModule& module,
                                JobInput input, const Limits& limits) override {
    RunScope scope("interp", limits);
    RunResult& result = scope.result();
    RunReport& report = scope.report();
    auto ids = scope.Admit(module);
    if (!ids) return std::move(result);

    const wabt::Features features = JobFeatures();
    wi::Store store(features);
    wi::ModuleDesc desc;
    wabt::Errors errors;
    const wabt::ReadBinaryOptions options(features, nullptr, false, true, false);
    if (wabt::Failed(wi::ReadBinaryInterp(module_id, module.wasm.data(), module.wasm.size(),
                                          options, &errors, &desc))) {
      report.outcome = Outcome::kInvalidModule;
      report.message = errors.empty() ? "module failed to load" : errors.front().message;
      return result;
    }
    // The memory limit (less the tables' reserve) becomes the memory's maximum: memory.grow
    // past it returns -1.
    const uint64_t limit_pages = scope.memory_limit_pages();
    for (auto& mem : desc.memories) {
      auto& lim = mem.type.limits;
      if (!lim.has_max || lim.max > limit_pages) {
        lim.max = limit_pages;
        lim.has_max = true;
      }
    }

    JobHost host(std::move(input), limits);
    if (!host.status().ok()) return host.status();
    wi::Module::Ptr wasm_module = wi::Module::New(store, desc);
    wi::Memory::Ptr memory;
    wi::Global::Ptr fuel_global;
    HostAction last_action = HostAction::kContinue;

    wi::RefVec imports;
    for (size_t i = 0; i < desc.imports.size(); ++i) {
      const auto* func_type = wabt::cast<wi::FuncType>(desc.imports[i].type.type.get());
      const HostFuncId id = (*ids)[i];
      const size_t num_results = func_type->results.size();
      auto func = wi::HostFunc::New(
          store, *func_type,
          [&, id, num_results](wi::Thread&, const wi::Values& params, wi::Values& results,
                               wi::Trap::Ptr* out_trap) -> wabt::Result {
            uint64_t args[16] = {};
            for (size_t p = 0; p < params.size() && p < 16; ++p) args[p] = params[p].Get<wi::u64>();
            uint64_t ret = 0;
            GuestMemory view;
            if (memory) view = {memory->UnsafeData(), memory->ByteSize()};
            last_action = host.Call(id, args, &ret, view);
            if (last_action != HostAction::kContinue) {
              *out_trap = wi::Trap::New(store, last_action == HostAction::kExit ? "exit" : "stop");
              return wabt::Result::Error;
            }
            if (num_results == 1) results[0] = wi::Value::Make(static_cast<wi::u32>(ret));
            return wabt::Result::Ok;
          });
      imports.push_back(func.ref());
    }

    wi::Trap::Ptr trap;
    wi::Instance::Ptr instance =
        wi::Instance::Instantiate(store, wasm_module.ref(), imports, &trap);
    if (!instance) {
      report.outcome = Outcome::kTrap;
      report.trap_kind = trap ? trap->message() : "instantiation failed";
      report.message = mesh::StrCat("module failed to instantiate: ", report.trap_kind);
      return result;
    }
    wi::Func::Ptr start;
    wi::Global::Ptr depth_global, grow_global, func_global;
    const auto& export_types = wasm_module->export_types();
    for (size_t i = 0; i < export_types.size(); ++i) {
      const std::string& name = export_types[i].name;
      const wi::Ref ref = instance->exports()[i];
      if (name == "memory") memory = store.UnsafeGet<wi::Memory>(ref);
      if (name == "_start") start = store.UnsafeGet<wi::Func>(ref);
      if (name == kFuelExport) fuel_global = store.UnsafeGet<wi::Global>(ref);
      if (name == kDepthExport) depth_global = store.UnsafeGet<wi::Global>(ref);
      if (name == kGrowFailedExport) grow_global = store.UnsafeGet<wi::Global>(ref);
      if (name == kFuncExport) func_global = store.UnsafeGet<wi::Global>(ref);
    }
    if (!start || !fuel_global || !depth_global || !grow_global || !func_global) {
      return absl::InternalError("instrumented module lacks _start or the metering globals");
    }
    fuel_global->UnsafeSet(wi::Value::Make(static_cast<wi::u64>(limits.fuel)));
    host.set_fuel_probe([&]() -> uint64_t {
      const auto left = static_cast<int64_t>(fuel_global->Get().Get<wi::u64>());
      return left < 0 ? limits.fuel : limits.fuel - static_cast<uint64_t>(left);
    });
    // Host work (file I/O) comes off the same counter; the next metering point sees it.
    host.set_fuel_charge([&](uint64_t fuel) -> bool {
      const int64_t left = static_cast<int64_t>(fuel_global->Get().Get<wi::u64>()) -
                           static_cast<int64_t>(std::min<uint64_t>(fuel, INT64_MAX));
      fuel_global->UnsafeSet(wi::Value::Make(static_cast<wi::u64>(left)));
      return left >= 0;
    });

    wi::Thread thread(store);
    wi::Values results;
    const wabt::Result run = start->Call(thread, {}, results, &trap);

    EndState end;
    end.trapped = wabt::Failed(run);
    end.trap_message = end.trapped && trap ? trap->message() : "";
    end.host_action = last_action;
    end.fuel_left = static_cast<int64_t>(fuel_global->Get().Get<wi::u64>());
    end.depth = depth_global->Get().Get<wi::u32>();
    end.grows_refused = grow_global->Get().Get<wi::u32>();
    end.function = FunctionLabel(module, static_cast<int32_t>(func_global->Get().Get<wi::u32>()));
    ClassifyEnd(end, host, limits, report);
    // WABT's own call-stack guard sits above kMaxCallDepth, but classify it the same way.
    if (report.outcome == Outcome::kTrap && report.trap_kind == "call stack exhausted") {
      report.outcome = Outcome::kStackOverflow;
    }

    return scope.Finish(host, memory ? memory->ByteSize() : 0);
  }
};

}  // namespace

std::unique_ptr<Engine> MakeInterpEngine() { return std::make_unique<InterpEngine>(); }

}  // namespace mesh::wasm
