#include "mesh/exec/worker_config.h"

#include <charconv>
#include <string_view>

#include "mesh/common/strings.h"

namespace mesh::exec {
namespace {

absl::StatusOr<uint64_t> ParseNumber(std::string_view name, std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("mesh-worker: --", name, " needs a number, got '", text, "'"));
  }
  return value;
}

}  // namespace

std::vector<std::string> WorkerConfig::ToArgs() const {
  std::vector<std::string> args = {
      mesh::StrCat("--channel-fd=", sandbox.channel_fd),
      mesh::StrCat("--engine=", wasm::EngineName(engine)),
      mesh::StrCat("--address-space=", sandbox.address_space_bytes),
      mesh::StrCat("--max-open-files=", sandbox.max_open_files),
      mesh::StrCat("--max-frame=", max_frame_bytes),
      mesh::StrCat("--module-cache=", module_cache_bytes),
      mesh::StrCat("--input-cache=", input_cache_bytes),
  };
  if (mode != WorkerMode::kRun) {
    args.push_back(mode == WorkerMode::kPrepare ? "--mode=prepare" : "--mode=compile");
    args.push_back(mesh::StrCat("--build-cpu-seconds=", build_cpu_seconds));
  }
  if (!aot_cache_dir.empty()) args.push_back(mesh::StrCat("--aot-cache-dir=", aot_cache_dir));
  if (!aot_compiler.empty()) args.push_back(mesh::StrCat("--aot-compiler=", aot_compiler));
  if (!aot_compiler_version.empty()) {
    args.push_back(mesh::StrCat("--aot-compiler-version=", aot_compiler_version));
  }
  if (test_hooks) args.push_back("--test-hooks");
  return args;
}

absl::StatusOr<WorkerConfig> ParseWorkerArgs(int argc, const char* const* argv) {
  WorkerConfig config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--test-hooks") {
      config.test_hooks = true;
      continue;
    }
    const size_t eq = arg.find('=');
    if (arg.substr(0, 2) != "--" || eq == std::string_view::npos) {
      return absl::InvalidArgumentError(mesh::StrCat(
          "mesh-worker: unexpected argument '", arg,
          "'; mesh-worker is started by the worker pool, not by hand (see worker_config.h)"));
    }
    const std::string_view name = arg.substr(2, eq - 2);
    const std::string_view value = arg.substr(eq + 1);
    if (name == "engine") {
      absl::StatusOr<wasm::EngineKind> kind = wasm::ParseEngineKind(value);
      if (!kind.ok()) return kind.status();
      config.engine = *kind;
    } else if (name == "mode") {
      if (value == "run") {
        config.mode = WorkerMode::kRun;
      } else if (value == "prepare") {
        config.mode = WorkerMode::kPrepare;
      } else if (value == "compile") {
        config.mode = WorkerMode::kCompile;
      } else {
        return absl::InvalidArgumentError(
            mesh::StrCat("mesh-worker: --mode is run, prepare or compile, not '", value, "'"));
      }
    } else if (name == "aot-cache-dir") {
      config.aot_cache_dir = std::string(value);
    } else if (name == "aot-compiler") {
      config.aot_compiler = std::string(value);
    } else if (name == "aot-compiler-version") {
      config.aot_compiler_version = std::string(value);
    } else {
      absl::StatusOr<uint64_t> number = ParseNumber(name, value);
      if (!number.ok()) return number.status();
      if (name == "channel-fd") {
        if (*number > 1024) return absl::InvalidArgumentError("mesh-worker: bad --channel-fd");
        config.sandbox.channel_fd = static_cast<int>(*number);
      } else if (name == "address-space") {
        config.sandbox.address_space_bytes = *number;
      } else if (name == "max-open-files") {
        config.sandbox.max_open_files = *number;
      } else if (name == "max-frame") {
        config.max_frame_bytes = *number;
      } else if (name == "build-cpu-seconds") {
        config.build_cpu_seconds = *number;
      } else if (name == "module-cache") {
        config.module_cache_bytes = *number;
      } else if (name == "input-cache") {
        config.input_cache_bytes = *number;
      } else {
        return absl::InvalidArgumentError(mesh::StrCat("mesh-worker: unknown option --", name));
      }
    }
  }
  return config;
}

}  // namespace mesh::exec
