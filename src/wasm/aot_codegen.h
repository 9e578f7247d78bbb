// C code generation for the aot engine: wasm2c's translation of an instrumented module plus a
// small glue file that gives the host a fixed C ABI (below), so C++ never depends on the layout
// of wasm2c's instance struct or on its name mangling. Pure functions; thread-safe.
//
// The glue ABI (all symbols `extern "C"`, visibility default, everything else hidden):
//   uint32_t mesh_aot_abi_version(void);          kAotAbiVersion
//   size_t   mesh_aot_instance_size(void);        bytes to allocate (zeroed) per instance
//   void     mesh_aot_init(void);                 once per process after dlopen
//   void     mesh_aot_set_host(MeshAotHostFn, void* ctx);
//   int      mesh_aot_instantiate(void* inst, uint32_t max_pages);  wasm_rt_trap_t, 0 = ok
//   int      mesh_aot_run_start(void* inst);      wasm_rt_trap_t of _start, 0 = returned,
//                                                 kAotGsFailedTrap: GS could not be set
//   uint8_t* mesh_aot_memory(void* inst, uint64_t* size);  exported "memory" or NULL
//   uint64_t* mesh_aot_fuel(void*); uint32_t* mesh_aot_depth(void*);
//   uint32_t* mesh_aot_grow_failed(void*); uint32_t* mesh_aot_func(void*);
//   void     mesh_aot_free(void* inst);           releases memories and tables, not `inst`
// Each import becomes a C function that packs its arguments into uint64_t slots and calls the
// host function; a non-zero return makes the glue trap with kAotHostStopTrap, which unwinds to
// the setjmp in mesh_aot_run_start after the host function (C++) has returned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mesh/wasm/instrumenter.h"

namespace mesh::wasm::aot {

// Bump when the glue's ABI or behaviour changes: it is part of the cache key.
inline constexpr uint32_t kAotAbiVersion = 6;  // 6: linear memory through the GS segment

// The wasm2c trap code the glue uses when the host asks to stop (proc_exit, a limit): wasm2c
// raises WASM_RT_TRAP_UNCAUGHT_EXCEPTION only for the exceptions proposal, which jobs cannot use.
inline constexpr int kAotHostStopTrap = 7;

// What mesh_aot_run_start returns, before any of the module runs, when it cannot point the GS
// segment at the module's memory (neither wrgsbase nor arch_prctl allowed): not a wasm2c trap.
inline constexpr int kAotGsFailedTrap = 100;

// Host entry point called by the glue for every import call. Returns 0 to continue.
extern "C" typedef int (*MeshAotHostFn)(void* ctx, uint32_t import_index, const uint64_t* args,
                                        uint64_t* result, uint8_t* memory, uint64_t memory_size);

struct AotSources {
  std::string module_c;  // job.c, wasm2c's translation
  std::string module_h;  // job.h
  std::string glue_c;    // mesh_glue.c
};

// InvalidArgument when WABT cannot read or translate the module; Internal when wasm2c's output
// lacks what the glue needs (an instrumentation bug).
absl::StatusOr<AotSources> GenerateAotSources(const InstrumentedModule& module);

// The fixed part of the glue, hashed into cache keys so that editing it recompiles modules even
// when kAotAbiVersion was not bumped.
std::string_view GlueTemplate();

// The wasm2c runtime headers Mesh was built with (wasm-rt.h, wasm-rt-impl.h), embedded so that
// modules always compile against the runtime linked into this binary.
std::string_view WasmRtHeader();
std::string_view WasmRtImplHeader();

}  // namespace mesh::wasm::aot
