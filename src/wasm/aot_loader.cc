#include "aot_loader.h"

#include <dlfcn.h>
#include <wasm-rt.h>

#include <algorithm>
#include <cstdlib>

#include "mesh/common/strings.h"

namespace mesh::wasm::aot {
namespace {

// Stack overflows are reported through SIGSEGV, whose handler needs a stack of its own. The
// runtime sets one up only on the thread that calls wasm_rt_init; every thread that runs a job
// gets one here, released when the thread exits.
class ThreadAltStack {
 public:
  void Ensure() {
    if (installed_) return;
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) {
      installed_ = true;  // someone else (wasm_rt_init, a sanitizer) already gave it one
      return;
    }
    const size_t size = std::max<size_t>(SIGSTKSZ, 64 << 10);
    memory_.reset(new char[size]);
    stack_t ss{};
    ss.ss_sp = memory_.get();
    ss.ss_size = size;
    if (::sigaltstack(&ss, nullptr) == 0) {
      installed_ = true;
      owned_ = true;
    }
  }
  ~ThreadAltStack() {
    if (!owned_) return;
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    ::sigaltstack(&ss, nullptr);
  }

 private:
  std::unique_ptr<char[]> memory_;
  bool installed_ = false;
  bool owned_ = false;
};

thread_local ThreadAltStack t_alt_stack;

template <typename Fn>
absl::Status Resolve(void* handle, const char* name, Fn& fn, const std::filesystem::path& so) {
  void* sym = ::dlsym(handle, name);
  if (sym == nullptr) {
    return absl::FailedPreconditionError(mesh::StrCat("compiled module ", so.string(), " lacks ",
                                                      name, "; delete it to have it rebuilt"));
  }
  fn = reinterpret_cast<Fn>(sym);
  return absl::OkStatus();
}

}  // namespace

AotLoader& AotLoader::Get() {
  static AotLoader* loader = new AotLoader();  // never destroyed: modules stay loaded
  return *loader;
}

AotLoader::AotLoader() {
  // wasm_rt_init installs the runtime's SIGSEGV/SIGBUS handler for good. Capture it and put the
  // previous handlers back, so that outside job runs a crash stays a crash (core dump, sanitizer
  // report) instead of a longjmp into a stale trap buffer. Calling it here also makes the linker
  // keep the runtime object, whose symbols the executable exports to the modules.
  struct sigaction old_segv {
  }, old_bus{};
  ::sigaction(SIGSEGV, nullptr, &old_segv);
  ::sigaction(SIGBUS, nullptr, &old_bus);
  // wasm_rt_init also replaces this thread's alternate signal stack with a malloc'd one and
  // never gives it back; whoever set the old one (e.g. AddressSanitizer, which unmaps it at
  // thread exit) must find it again. Threads that run jobs get theirs from ThreadAltStack.
  stack_t old_alt{};
  const bool had_alt = ::sigaltstack(nullptr, &old_alt) == 0;
  wasm_rt_init();
  ::sigaction(SIGSEGV, nullptr, &wasm_rt_segv_);
  ::sigaction(SIGBUS, nullptr, &wasm_rt_bus_);
  ::sigaction(SIGSEGV, &old_segv, nullptr);
  ::sigaction(SIGBUS, &old_bus, nullptr);
  if (had_alt) {
    if (old_alt.ss_flags & SS_DISABLE) {
      old_alt = stack_t{};
      old_alt.ss_flags = SS_DISABLE;
    } else {
      old_alt.ss_flags = 0;
    }
    ::sigaltstack(&old_alt, nullptr);
  }
}

const AotModule* AotLoader::Find(const std::string& key) {
  std::lock_guard<std::mutex> lock(load_mu_);
  auto it = modules_.find(key);
  return it == modules_.end() ? nullptr : it->second.get();
}

absl::StatusOr<const AotModule*> AotLoader::Load(const std::string& key,
                                                 const std::filesystem::path& so) {
  std::lock_guard<std::mutex> lock(load_mu_);
  if (auto it = modules_.find(key); it != modules_.end()) return it->second.get();
  void* handle = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = ::dlerror();
    return absl::FailedPreconditionError(mesh::StrCat(
        "cannot load compiled module ", so.string(), ": ", error ? error : "unknown error",
        " (an undefined wasm_rt_ symbol means the executable does not export the wasm2c "
        "runtime: link it with mesh::wasm, which adds --dynamic-list)"));
  }
  auto module = std::make_unique<AotModule>();
  module->handle = handle;
  uint32_t (*abi_version)() = nullptr;
  size_t (*instance_size)() = nullptr;
  void (*init)() = nullptr;
  absl::Status status = Resolve(handle, "mesh_aot_abi_version", abi_version, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_instance_size", instance_size, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_init", init, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_set_host", module->set_host, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_instantiate", module->instantiate, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_run_start", module->run_start, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_memory", module->memory, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_fuel", module->fuel, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_depth", module->depth, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_grow_failed", module->grow_failed, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_func", module->func, so);
  if (status.ok()) status = Resolve(handle, "mesh_aot_free", module->free, so);
  if (status.ok() && abi_version() != kAotAbiVersion) {
    status = absl::FailedPreconditionError(
        mesh::StrCat("compiled module ", so.string(), " has glue ABI ", abi_version(),
                     ", this build expects ", kAotAbiVersion, "; delete it to have it rebuilt"));
  }
  if (!status.ok()) {
    ::dlclose(handle);
    return status;
  }
  module->instance_size = instance_size();
  {
    // Registers the module's function types in the runtime's global table.
    std::lock_guard<std::mutex> run_lock(run_mu_);
    init();
  }
  const AotModule* loaded = module.get();
  modules_.emplace(key, std::move(module));
  return loaded;
}

AotLoader::RunScope::RunScope(AotLoader& loader) : loader_(loader), lock_(loader.run_mu_) {
  t_alt_stack.Ensure();
  ::sigaction(SIGSEGV, &loader_.wasm_rt_segv_, &saved_segv_);
  ::sigaction(SIGBUS, &loader_.wasm_rt_bus_, &saved_bus_);
}

AotLoader::RunScope::~RunScope() {
  ::sigaction(SIGSEGV, &saved_segv_, nullptr);
  ::sigaction(SIGBUS, &saved_bus_, nullptr);
}

}  // namespace mesh::wasm::aot
