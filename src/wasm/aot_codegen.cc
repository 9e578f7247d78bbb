// wasm2c is used as a library (wabt::WriteC on the IR read by ReadBinaryIr), following the steps
// of the wasm2c tool (read, validate, generate names, apply names, write): no subprocess, no
// temp files, and the translation cannot pick up a different wasm2c binary from PATH.
//
// The glue is written against wasm2c's generated header, which it parses for the exact names of
// the import functions, export accessors and the memory field, instead of re-implementing
// wasm2c's name mangling: the header is the contract wasm2c documents.
#include "aot_codegen.h"

#include <wabt/apply-names.h>
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/c-writer.h>
#include <wabt/generate-names.h>
#include <wabt/ir.h>
#include <wabt/stream.h>
#include <wabt/validator.h>

#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "job_features.h"
#include "mesh/common/strings.h"

namespace mesh::wasm::aot {
namespace {

constexpr char kModuleName[] = "job";  // symbols: Z_job_*, Z_jobZ_<export>
constexpr char kHeaderName[] = "job.h";

// A function prototype from the generated header: `RET NAME(PARAM, PARAM, ...);`.
struct CProto {
  std::string ret;
  std::string name;
  std::vector<std::string> params;
};

struct HeaderInfo {
  std::string instance_type;                                      // Z_job_instance_t
  std::map<std::pair<std::string, std::string>, CProto> imports;  // (module, name) -> proto
  std::map<std::string, std::string> exports;                     // export name -> C function
  std::optional<std::string> memory_field;                        // wasm_rt_memory_t member
  size_t instantiate_imports = 0;  // Z_job_instantiate's instance pointers, one per import module
};

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == ';')) s.remove_suffix(1);
  return std::string(s);
}

std::optional<CProto> ParseProto(std::string_view line) {
  const size_t open = line.find('(');
  const size_t close = line.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  const std::string head = Trim(line.substr(0, open));
  const size_t name_start = head.find_last_of(" *");
  if (name_start == std::string::npos) return std::nullopt;
  CProto proto{Trim(head.substr(0, name_start + 1)), head.substr(name_start + 1), {}};
  std::string_view params = line.substr(open + 1, close - open - 1);
  while (!params.empty()) {
    const size_t comma = params.find(',');
    proto.params.push_back(Trim(params.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    params.remove_prefix(comma + 1);
  }
  return proto;
}

// Reads `'a' 'b'` (import) or `'a'` (export) from a `/* import: ... */` comment. Only names the
// host binds (plain identifiers) and Mesh's own exports are looked up, so no escapes occur.
std::vector<std::string> QuotedNames(std::string_view comment) {
  std::vector<std::string> names;
  size_t pos = 0;
  while ((pos = comment.find('\'', pos)) != std::string_view::npos) {
    const size_t end = comment.find('\'', pos + 1);
    if (end == std::string_view::npos) break;
    names.emplace_back(comment.substr(pos + 1, end - pos - 1));
    pos = end + 1;
  }
  return names;
}

absl::StatusOr<HeaderInfo> ParseHeader(const std::string& header) {
  HeaderInfo info;
  std::istringstream in(header);
  std::string line;
  bool in_instance = false;
  while (std::getline(in, line)) {
    if (line.rfind("typedef struct Z_", 0) == 0 &&
        line.find("_instance_t {") != std::string::npos) {
      in_instance = true;
      continue;
    }
    if (in_instance) {
      if (line.rfind("} ", 0) == 0) {
        info.instance_type = Trim(line.substr(2));
        in_instance = false;
      } else if (const std::string field = Trim(line); field.rfind("wasm_rt_memory_t ", 0) == 0) {
        info.memory_field = field.substr(std::string_view("wasm_rt_memory_t ").size());
      }
      continue;
    }
    if (line.rfind("void Z_job_instantiate(", 0) == 0) {
      std::optional<CProto> proto = ParseProto(line);
      if (!proto || proto->params.empty()) {
        return absl::InternalError(mesh::StrCat("wasm2c header: cannot parse '", line, "'"));
      }
      info.instantiate_imports = proto->params.size() - 1;
      continue;
    }
    const bool is_import = line.rfind("/* import: ", 0) == 0;
    const bool is_export = line.rfind("/* export: ", 0) == 0;
    if (!is_import && !is_export) continue;
    const std::vector<std::string> names = QuotedNames(line);
    std::string decl;
    if (!std::getline(in, decl)) break;
    std::optional<CProto> proto = ParseProto(decl);
    if (!proto) {
      return absl::InternalError(mesh::StrCat("wasm2c header: cannot parse '", decl, "'"));
    }
    if (is_import && names.size() == 2) {
      info.imports.emplace(std::make_pair(names[0], names[1]), *std::move(proto));
    } else if (is_export && names.size() == 1) {
      info.exports.emplace(names[0], proto->name);
    }
  }
  if (info.instance_type.empty()) {
    return absl::InternalError("wasm2c header: no instance struct found");
  }
  return info;
}

// wasm2c ends every load with `asm("" :: "r"(value))`, so that a load whose value is unused is
// still made and traps on the guard pages like the interpreter's. "r" forces the value into a
// general register: for f32/f64 that is a move out of the SSE register per load, and often a
// second load of the same bytes (matmul's inner loop: 24 -> 20 instructions per two elements).
// On x86 float loads use "x" instead: the value must still be in a register, so the load is
// still made. Integer loads keep "r" ("rx" for them lets gcc park integers in SSE registers).
// Text wasm2c does not emit (another version) is left alone.
std::string LetFloatLoadsStayInSseRegisters(std::string c) {
  constexpr std::string_view kForcedRead = R"(wasm_asm("" ::"r"(result));)";
  constexpr std::string_view kTypedRead = "MESH_FORCE_READ(t1, result);";
  bool replaced = false;
  for (size_t pos = 0; (pos = c.find(kForcedRead, pos)) != std::string::npos;) {
    c.replace(pos, kForcedRead.size(), kTypedRead);
    pos += kTypedRead.size();
    replaced = true;
  }
  if (!replaced) return c;
  constexpr char kDefinition[] =
      R"(#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MESH_FORCE_READ(t, v)                                   \
  do {                                                          \
    if (__builtin_types_compatible_p(t, float) ||               \
        __builtin_types_compatible_p(t, double)) {              \
      __asm__("" ::"x"(v));                                     \
    } else {                                                    \
      __asm__("" ::"r"(v));                                     \
    }                                                           \
  } while (0)
#else
#define MESH_FORCE_READ(t, v) wasm_asm("" ::"r"(v))
#endif
)";
  return kDefinition + c;
}

// The condition under which job.c reaches linear memory through GS and the glue points GS at the
// memory before _start: one text in both files, so that they cannot disagree. The guard-page
// memory check is what makes it sound: the memory then grows in place inside its 8 GiB
// reservation and never moves, and every address a module can form (a u32 plus a u32 offset)
// lands in that reservation.
constexpr char kSegueCondition[] =
    "defined(__x86_64__) && defined(__SEG_GS) && WASM_RT_MEMCHECK_SIGNAL_HANDLER && "
    "!WABT_BIG_ENDIAN";

// wasm2c reaches linear memory as memcpy to and from `instance->memory.data + addr`. A store
// through a byte pointer may change any memory, the instance included, so gcc reloads the
// memory's base, and every global such as the stack pointer, after each store: matmul's inner
// loop made three loads per element where native code makes two (1000x1000: 1.4x native, 1.76x
// with the fuel counted; 1.1x and 1.05-1.1x through GS, measured by wasm_bench). Here
// the loads and stores go through the GS segment instead, whose base the glue sets to the memory
// ("segue", as later wasm2c versions do with clang): `%gs:(addr)` is another address space, which
// gcc knows no generic store can change, so the base is never reloaded. Within the segment,
// accesses are unaligned and may alias each other (wasm memory has no types).
// memory.fill, memory.copy and memory.init still use the generic pointer; a compiler barrier on
// each side keeps GS accesses from moving across them. Calls (host imports) order both already.
// Text from another wasm2c version is left as it is: the generic path.
std::string AddressMemoryThroughGs(std::string c) {
  const std::pair<std::string_view, std::string_view> edits[] = {
      {"wasm_rt_memcpy(&result, &mem->data[addr], sizeof(t1));",
       "MESH_LOAD(t1, result, mem, addr);"},
      {"wasm_rt_memcpy(&mem->data[addr], &wrapped, sizeof(t1));",
       "MESH_STORE(t1, mem, addr, wrapped);"},
      {"  memset(mem->data + d, val, n);",
       "  MESH_BARRIER();\n  memset(mem->data + d, val, n);\n  MESH_BARRIER();"},
      {"  memmove(dest->data + dest_addr, src->data + src_addr, n);",
       "  MESH_BARRIER();\n  memmove(dest->data + dest_addr, src->data + src_addr, n);\n"
       "  MESH_BARRIER();"},
      {"  LOAD_DATA((*dest), dest_addr, src + src_addr, n);",
       "  MESH_BARRIER();\n  LOAD_DATA((*dest), dest_addr, src + src_addr, n);\n  MESH_BARRIER();"},
  };
  // After job.h, which includes wasm-rt.h: the condition reads its WASM_RT_MEMCHECK_* macro.
  constexpr std::string_view kAnchor = "#include \"job.h\"\n";
  if (c.find(kAnchor) == std::string::npos) return c;
  for (const auto& [from, to] : edits) {
    if (c.find(from) == std::string::npos) return c;
  }
  for (const auto& [from, to] : edits) {
    for (size_t pos = 0; (pos = c.find(from, pos)) != std::string::npos; pos += to.size()) {
      c.replace(pos, from.size(), to);
    }
  }
  const std::string definitions = mesh::StrCat("#if ", kSegueCondition, R"(
#define MESH_LOAD(t, r, m, a)                                         \
  do {                                                                \
    typedef t __attribute__((may_alias, aligned(1))) mesh_unaligned;  \
    (r) = *(const __seg_gs mesh_unaligned*)(uintptr_t)(a);            \
  } while (0)
#define MESH_STORE(t, m, a, v)                                        \
  do {                                                                \
    typedef t __attribute__((may_alias, aligned(1))) mesh_unaligned;  \
    *(__seg_gs mesh_unaligned*)(uintptr_t)(a) = (v);                  \
  } while (0)
#define MESH_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define MESH_LOAD(t, r, m, a) wasm_rt_memcpy(&(r), &(m)->data[a], sizeof(t))
#define MESH_STORE(t, m, a, v) wasm_rt_memcpy(&(m)->data[a], &(v), sizeof(t))
#define MESH_BARRIER() do {} while (0)
#endif
)");
  c.insert(c.find(kAnchor) + kAnchor.size(), definitions);
  return c;
}

absl::StatusOr<std::pair<std::string, std::string>> WasmToC(const std::string& wasm) {
  const wabt::Features features = JobFeatures();
  wabt::Errors errors;
  wabt::Module module;
  const wabt::ReadBinaryOptions read_options(features, nullptr, /*read_debug_names=*/false,
                                             /*stop_on_first_error=*/true,
                                             /*fail_on_custom_section_error=*/false);
  wabt::Result result =
      wabt::ReadBinaryIr("job.wasm", wasm.data(), wasm.size(), read_options, &errors, &module);
  if (wabt::Succeeded(result)) {
    result = wabt::ValidateModule(&module, &errors, wabt::ValidateOptions(features));
  }
  if (wabt::Failed(result)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("wasm2c cannot read the module: ",
                     errors.empty() ? std::string("invalid module") : errors.front().message));
  }
  if (wabt::Failed(wabt::GenerateNames(&module)) || wabt::Failed(wabt::ApplyNames(&module))) {
    return absl::InvalidArgumentError("wasm2c cannot name the module's items");
  }
  wabt::MemoryStream c_stream, h_stream;
  wabt::WriteCOptions options;
  options.module_name = kModuleName;
  if (wabt::Failed(wabt::WriteC(&c_stream, &h_stream, kHeaderName, &module, options))) {
    return absl::InvalidArgumentError("wasm2c cannot translate the module to C");
  }
  auto text = [](wabt::MemoryStream& s) {
    const auto& data = s.output_buffer().data;
    return std::string(reinterpret_cast<const char*>(data.data()), data.size());
  };
  return std::make_pair(AddressMemoryThroughGs(LetFloatLoadsStayInSseRegisters(text(c_stream))),
                        text(h_stream));
}

// A C expression turning parameter `p` (of wasm type `t`) into a uint64_t slot as JobHost
// expects: i32 zero-extended, floats as their bits.
std::string ToSlot(ValType t, const std::string& p) {
  switch (t) {
    case ValType::kI32:
    case ValType::kI64:
      return mesh::StrCat("(uint64_t)", p);
    case ValType::kF32:
      return mesh::StrCat("mesh_f32_bits(", p, ")");
    case ValType::kF64:
      return mesh::StrCat("mesh_f64_bits(", p, ")");
  }
  return "0";
}

std::string FromSlot(ValType t, const std::string& ret) {
  switch (t) {
    case ValType::kI32:
      return mesh::StrCat("(u32)", ret);
    case ValType::kI64:
      return mesh::StrCat("(u64)", ret);
    case ValType::kF32:
      return mesh::StrCat("mesh_bits_f32(", ret, ")");
    case ValType::kF64:
      return mesh::StrCat("mesh_bits_f64(", ret, ")");
  }
  return "0";
}

// The fixed part of the glue. Everything specific to a module comes in as the macros listed at
// the top, defined by GlueDefines() from wasm2c's header in place of @DEFINES@.
constexpr char kGluePrologue[] =
    R"(/* Generated by Mesh: the host ABI over wasm2c module "job"; see src/wasm/aot_codegen.h.
 * Module-specific macros (defined right below):
 *   MESH_INSTANCE, MESH_INSTANTIATE(i), MESH_START(i), MESH_FUEL(i), MESH_DEPTH(i),
 *   MESH_GROW_FAILED(i), MESH_FUNC(i), MESH_ABI_VERSION, MESH_GS_FAILED; when the module has a memory
 *   MESH_MEMORY(i), and when it exports it as "memory" MESH_EXPORTED_MEMORY(i). */
@DEFINES@
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "job.h"
#include "wasm-rt-impl.h"

#define MESH_EXPORT __attribute__((visibility("default")))

#if (@SEGUE@) && defined(MESH_MEMORY)
#include <asm/prctl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>
/* job.c reaches the memory through GS (see AddressMemoryThroughGs): point GS at it on this
 * thread. wrgsbase where the kernel allows it (Linux 5.9+ on CPUs with FSGSBASE), else the
 * arch_prctl system call. Nothing else in a Linux x86-64 process uses GS (TLS is FS).
 * MESH_GS_BY_SYSCALL (a -D in the compiler command, which is part of the cache key) leaves the
 * instruction out: the tests take the system call's path on a machine that has FSGSBASE. */
static int mesh_point_gs_at(uint8_t* base) {
#ifndef MESH_GS_BY_SYSCALL
  if (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) {
    __asm__ volatile("wrgsbase %0" ::"r"(base) : "memory");
    return 0;
  }
#endif
  return syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)base) == 0 ? 0 : -1;
}
#define MESH_POINT_GS(i) mesh_point_gs_at(MESH_MEMORY(i)->data)
#else
#define MESH_POINT_GS(i) 0
#endif

typedef int (*mesh_aot_host_fn)(void* ctx, uint32_t import_index, const uint64_t* args,
                                uint64_t* result, uint8_t* memory, uint64_t memory_size);
static mesh_aot_host_fn mesh_host;
static void* mesh_host_ctx;
static MESH_INSTANCE* mesh_running; /* for the memory view passed to host calls */

static inline uint64_t mesh_f32_bits(f32 v) { uint32_t b; memcpy(&b, &v, 4); return b; }
static inline uint64_t mesh_f64_bits(f64 v) { uint64_t b; memcpy(&b, &v, 8); return b; }
static inline f32 mesh_bits_f32(uint64_t b) {
  uint32_t w = (uint32_t)b; f32 v; memcpy(&v, &w, 4); return v;
}
static inline f64 mesh_bits_f64(uint64_t b) { f64 v; memcpy(&v, &b, 8); return v; }

static void mesh_call_host(uint32_t index, const uint64_t* args, uint64_t* result) {
  uint8_t* data = NULL;
  uint64_t size = 0;
#ifdef MESH_EXPORTED_MEMORY
  /* Like the interp engine, host calls see only the memory exported as "memory". */
  if (mesh_running) {
    data = MESH_EXPORTED_MEMORY(mesh_running)->data;
    size = MESH_EXPORTED_MEMORY(mesh_running)->size;
  }
#endif
  /* The host has returned before the trap unwinds: no C++ frame is ever longjmp'ed over. */
  if (mesh_host(mesh_host_ctx, index, args, result, data, size) != 0) {
    wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
  }
}

MESH_EXPORT uint32_t mesh_aot_abi_version(void) { return MESH_ABI_VERSION; }
MESH_EXPORT size_t mesh_aot_instance_size(void) { return sizeof(MESH_INSTANCE); }
MESH_EXPORT void mesh_aot_init(void) {
  wasm_rt_init();
  Z_job_init_module();
}
MESH_EXPORT void mesh_aot_set_host(mesh_aot_host_fn fn, void* ctx) {
  mesh_host = fn;
  mesh_host_ctx = ctx;
}
MESH_EXPORT int mesh_aot_instantiate(void* inst, uint32_t max_pages) {
  mesh_running = (MESH_INSTANCE*)inst;
  int code = wasm_rt_impl_try();
  if (code != 0) return code;
  MESH_INSTANTIATE(inst);
#ifdef MESH_MEMORY
  /* The limit becomes the memory's maximum (as in the interp engine), at most 65535 pages:
   * wasm2c 1.0.32 keeps the byte size in a uint32_t, which 65536 pages would wrap to 0. */
  if (max_pages > 65535u) max_pages = 65535u;
  if (MESH_MEMORY(inst)->max_pages > max_pages) MESH_MEMORY(inst)->max_pages = max_pages;
#if WASM_RT_MEMCHECK_SIGNAL_HANDLER
  /* Memory the module touches from here on (its input, its heap) is faulted in 2 MiB at a time
   * where the kernel can (transparent huge pages, "madvise" mode): a fresh 10 MB memory is 5
   * faults instead of 2,500, each of which costs microseconds in a virtual machine. Growing the
   * memory splits this mapping; the parts keep the advice. Advice only: an error changes nothing. */
  if (MESH_MEMORY(inst)->data) madvise(MESH_MEMORY(inst)->data, 0x200000000ul, MADV_HUGEPAGE);
#endif
#endif
  return 0;
}
MESH_EXPORT int mesh_aot_run_start(void* inst) {
  mesh_running = (MESH_INSTANCE*)inst;
  if (MESH_POINT_GS(inst) != 0) return MESH_GS_FAILED;
  int code = wasm_rt_impl_try();
  if (code != 0) return code;
  MESH_START(inst);
  return 0;
}
MESH_EXPORT uint8_t* mesh_aot_memory(void* inst, uint64_t* size) {
#ifdef MESH_EXPORTED_MEMORY
  *size = MESH_EXPORTED_MEMORY(inst)->size;
  return MESH_EXPORTED_MEMORY(inst)->data;
#else
  *size = 0;
  return NULL;
#endif
}
MESH_EXPORT uint64_t* mesh_aot_fuel(void* inst) { return MESH_FUEL(inst); }
MESH_EXPORT uint32_t* mesh_aot_depth(void* inst) { return MESH_DEPTH(inst); }
MESH_EXPORT uint32_t* mesh_aot_grow_failed(void* inst) { return MESH_GROW_FAILED(inst); }
MESH_EXPORT uint32_t* mesh_aot_func(void* inst) { return MESH_FUNC(inst); }
MESH_EXPORT void mesh_aot_free(void* inst) {
#if defined(MESH_MEMORY) && WASM_RT_MEMCHECK_SIGNAL_HANDLER
  /* wasm_rt_free_memory unmaps only the accessible part of the 8 GiB guard reservation that
   * wasm_rt_allocate_memory made; without this every run would leak ~8 GiB of address space. */
  wasm_rt_memory_t* memory = MESH_MEMORY(inst);
  if (memory->data) munmap(memory->data + memory->size, 0x200000000ul - memory->size);
#endif
  Z_job_free((MESH_INSTANCE*)inst);
  mesh_running = NULL;
}
)";

// The module-specific macros the glue template expects (see kGluePrologue).
absl::StatusOr<std::string> GlueDefines(const HeaderInfo& info) {
  std::string defines =
      mesh::StrCat("#define MESH_INSTANCE ", info.instance_type, "\n", "#define MESH_ABI_VERSION ",
                   kAotAbiVersion, "u\n", "#define MESH_GS_FAILED ", kAotGsFailedTrap, "\n");
  const std::pair<std::string_view, std::string_view> accessors[] = {
      {"MESH_START", "_start"},
      {"MESH_FUEL", kFuelExport},
      {"MESH_DEPTH", kDepthExport},
      {"MESH_GROW_FAILED", kGrowFailedExport},
      {"MESH_FUNC", kFuncExport}};
  for (const auto& [macro, export_name] : accessors) {
    auto it = info.exports.find(std::string(export_name));
    if (it == info.exports.end()) {
      return absl::InternalError(mesh::StrCat("wasm2c output lacks the export ", export_name));
    }
    defines += mesh::StrCat("#define ", macro, "(i) ", it->second, "((MESH_INSTANCE*)(i))\n");
  }
  if (auto it = info.exports.find("memory"); it != info.exports.end()) {
    defines +=
        mesh::StrCat("#define MESH_EXPORTED_MEMORY(i) ", it->second, "((MESH_INSTANCE*)(i))\n");
  }
  if (info.memory_field) {
    defines +=
        mesh::StrCat("#define MESH_MEMORY(i) (&((MESH_INSTANCE*)(i))->", *info.memory_field, ")\n");
  }
  // Import functions reach the host through the glue's globals, not through wasm2c's per-import-
  // module instance pointers, which stay NULL.
  defines += "#define MESH_INSTANTIATE(i) Z_job_instantiate((MESH_INSTANCE*)(i)";
  for (size_t i = 0; i < info.instantiate_imports; ++i) defines += ", NULL";
  defines += ")\n";
  return defines;
}

absl::StatusOr<std::string> GlueC(const HeaderInfo& info, const InstrumentedModule& module) {
  auto defines = GlueDefines(info);
  if (!defines.ok()) return defines.status();
  std::string glue = kGluePrologue;
  glue.replace(glue.find("@DEFINES@"), std::string_view("@DEFINES@").size(), *defines);
  glue.replace(glue.find("@SEGUE@"), std::string_view("@SEGUE@").size(), kSegueCondition);

  // One definition per distinct (module, name): a module may import the same function twice,
  // and JobHost::Bind has checked that such imports agree; the first index serves both.
  std::map<std::pair<std::string, std::string>, size_t> first_index;
  for (size_t i = 0; i < module.imports.size(); ++i) {
    first_index.emplace(std::make_pair(module.imports[i].module, module.imports[i].name), i);
  }
  for (const auto& [key, index] : first_index) {
    const FuncImport& import = module.imports[index];
    auto it = info.imports.find(key);
    if (it == info.imports.end()) {
      return absl::InternalError(
          mesh::StrCat("wasm2c output lacks the import ", import.module, ".", import.name));
    }
    const CProto& proto = it->second;
    if (proto.params.size() != import.params.size() + 1 || import.results.size() > 1) {
      return absl::InternalError(mesh::StrCat("wasm2c's prototype of ", import.module, ".",
                                              import.name, " does not match the import"));
    }
    std::string def = mesh::StrCat(proto.ret, " ", proto.name, "(", proto.params[0], " ctx");
    std::string slots;
    for (size_t p = 0; p < import.params.size(); ++p) {
      const std::string arg = mesh::StrCat("a", p);
      def += mesh::StrCat(", ", proto.params[p + 1], " ", arg);
      slots += mesh::StrCat(p ? ", " : "", ToSlot(import.params[p], arg));
    }
    def += mesh::StrCat(") {\n  uint64_t args[", std::max<size_t>(1, import.params.size()), "] = {",
                        slots.empty() ? "0" : slots, "};\n  uint64_t result = 0;\n",
                        "  mesh_call_host(", index, "u, args, &result);\n");
    if (!import.results.empty()) {
      def += mesh::StrCat("  return ", FromSlot(import.results[0], "result"), ";\n");
    }
    glue += mesh::StrCat("\n/* import: ", import.module, ".", import.name, " */\n", def, "}\n");
  }
  return glue;
}

}  // namespace

std::string_view GlueTemplate() { return kGluePrologue; }

absl::StatusOr<AotSources> GenerateAotSources(const InstrumentedModule& module) {
  auto c = WasmToC(module.wasm);
  if (!c.ok()) return c.status();
  auto info = ParseHeader(c->second);
  if (!info.ok()) return info.status();
  auto glue = GlueC(*info, module);
  if (!glue.ok()) return glue.status();
  return AotSources{std::move(c->first), std::move(c->second), *std::move(glue)};
}

}  // namespace mesh::wasm::aot
