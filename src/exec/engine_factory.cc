// ENGINE SWITCH: the only place in exec that knows the concrete engines (see the header).
#include "mesh/exec/engine_factory.h"

#include <cstdlib>
#include <filesystem>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/wasm/aot_engine.h"

namespace mesh::exec {
namespace {

wasm::AotOptions ToAotOptions(const EngineOptions& options, bool allow_compile) {
  wasm::AotOptions aot;
  aot.cache_dir = options.aot_cache_dir;
  aot.compiler = options.aot_compiler;
  aot.compiler_version = options.aot_compiler_version;
  aot.allow_compile = allow_compile;
  return aot;
}

}  // namespace

std::string DefaultAotCacheDir() {
  // The same rule as the aot engine's own default (aot_engine.h).
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return mesh::StrCat(xdg, "/mesh/aot");
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return mesh::StrCat(home, "/.cache/mesh/aot");
  }
  return "";
}

wasm::EngineKind ResolveEngineKind(wasm::EngineKind kind, const EngineOptions& options) {
  if (kind != wasm::EngineKind::kAuto) return kind;
  return wasm::AotAvailable(ToAotOptions(options, true)) ? wasm::EngineKind::kAot
                                                         : wasm::EngineKind::kInterp;
}

bool EngineLoadsNativeCode(wasm::EngineKind kind) { return kind == wasm::EngineKind::kAot; }

absl::StatusOr<std::unique_ptr<wasm::Engine>> CreateEngine(wasm::EngineKind kind,
                                                           const EngineOptions& options) {
  switch (kind) {
    case wasm::EngineKind::kInterp:
      return wasm::MakeInterpEngine();
    case wasm::EngineKind::kAot: {
      MESH_ASSIGN_OR_RETURN(std::unique_ptr<wasm::AotEngine> engine,
                            wasm::AotEngine::Create(ToAotOptions(options, false)));
      return std::unique_ptr<wasm::Engine>(std::move(engine));
    }
    case wasm::EngineKind::kAuto:
      break;
  }
  return absl::InternalError("CreateEngine needs a resolved engine kind, not auto");
}

absl::StatusOr<std::string> DefaultWorkerPath() {
  if (const char* env = std::getenv("MESH_WORKER"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return absl::InternalError(
        mesh::StrCat("cannot locate this executable (/proc/self/exe): ", ec.message(),
                     "; set MESH_WORKER to the mesh-worker path"));
  }
  return (self.parent_path() / "mesh-worker").string();
}

}  // namespace mesh::exec
