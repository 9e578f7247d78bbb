// libFuzzer target over module loading and instrumentation: arbitrary bytes must never crash
// the instrumenter, and whatever it accepts must come out as a module that decodes and
// validates again (the engines load exactly that output), with every table capped.
//
// Random bytes rarely reach the limits, so an input that starts with 0xff is a recipe for a
// hostile module instead (see Expand): nesting thousands to millions deep, counts around the
// JS API limits, huge tables, many locals, huge bodies. The custom mutator makes recipes now
// and then, so they are explored without a seed corpus, while inputs stay a few bytes long.
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target module_fuzzer
//   build/fuzz/fuzz/module_fuzzer -max_total_time=60 build/fuzz/corpus
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/ir.h>
#include <wabt/validator.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "job_features.h"
#include "mesh/wasm/instrumenter.h"
#include "mesh/wasm/job_host.h"
#include "mesh/wasm/module_limits.h"
#include "testing/wasm_bytes.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

constexpr uint8_t kRecipe = 0xff;
constexpr size_t kRecipeSize = 8;

using mesh::wasm::testing::Leb;
using mesh::wasm::testing::Section;

std::string Repeat(std::string_view s, uint64_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (uint64_t i = 0; i < n; ++i) out += s;
  return out;
}

// A WASI-command skeleton around one function body (after its locals) and extra sections.
std::string Command(const std::string& locals_and_code, const std::string& extra = "",
                    const std::string& imports = "", uint64_t import_count = 0) {
  std::string m("\0asm\1\0\0\0", 8);
  m += Section(1, std::string("\1\x60\0\0", 4));
  if (import_count > 0) m += Section(2, Leb(import_count) + imports);
  m += Section(3, std::string("\1\0", 2));
  m += extra;
  m += Section(7, std::string("\1\6_start\0", 9) + Leb(import_count));
  m += Section(10, "\1" + Leb(locals_and_code.size()) + locals_and_code);
  return m;
}

// Recipe: 0xff, kind, a 32-bit parameter n (little-endian), two selector bytes.
std::string Expand(const uint8_t* r) {
  uint32_t n;
  std::memcpy(&n, r + 2, 4);
  const uint8_t a = r[6], b = r[7];
  switch (r[1] % 6) {
    case 0: {  // nesting, around the limit or far past it
      const uint64_t depth = (a & 1) ? 1020 + n % 8 : n % 2'000'000;
      static constexpr std::string_view kOpen[] = {"\x02\x40", "\x03\x40",
                                                   std::string_view("\x41\x00\x04\x40", 4)};
      return Command(std::string(1, '\0') + Repeat(kOpen[b % 3], depth) +
                     std::string(depth + 1, '\x0b'));
    }
    case 1: {  // many well-formed entries in one section: just past the limit, or few
      // Accepted modules stay small, so each run is quick; the limits are probed from above.
      static constexpr uint64_t kLimit[] = {100'000, 1'000'000, 100'000, 1'000'000, 100'000};
      const uint64_t count = (a & 1) ? kLimit[b % 5] + 1 + n % 2 : n % 5000;
      switch (b % 5) {
        case 0:  // imports of one WASI function
          return Command(
              std::string("\0\x0b", 2), "",
              Repeat(std::string("\x16wasi_snapshot_preview1\x0bsched_yield\0\0", 37), count),
              count);
        case 1:  // globals
          return Command(
              std::string("\0\x0b", 2),
              Section(6, Leb(count) + Repeat(std::string("\x7f\0\x41\0\x0b", 5), count)));
        case 2:  // data segments (with a memory)
          return Command(
              std::string("\0\x0b", 2),
              Section(5, std::string("\1\0\1", 3)) +
                  Section(11, Leb(count) + Repeat(std::string("\0\x41\0\x0b\0", 5), count)));
        case 3:  // exports of the same function under distinct names would need names: types
          return Command(std::string("\0\x0b", 2),
                         Section(1, Leb(count) + Repeat(std::string("\x60\0\0", 3), count)));
        default:  // a bare count with no entries
          return Command(std::string("\0\x0b", 2), Section(9, Leb(count)));
      }
    }
    case 2: {  // a table: initial n, optional maximum
      std::string table =
          std::string("\1\x70", 2) + ((a & 1) ? "\1" : std::string(1, '\0')) + Leb(n % 20'000'000);
      if (a & 1) table += Leb(n);
      return Command(std::string("\0\x0b", 2), Section(4, table));
    }
    case 3:  // locals
      return Command("\1" + Leb(n % 100'000) + "\x7f\x0b");
    case 4:  // a body of nops, around the size limit
      return Command(std::string(1, '\0') +
                     std::string((a & 1) ? 7'654'322 + n % 64 : n % 65536, '\x01') + "\x0b");
    default:  // deep nesting under a br_table with many targets
      return Command(std::string(1, '\0') + Repeat("\x02\x40", 900) + "\x41\0\x0e" + Leb(n % 4096) +
                     std::string(n % 4096 + 1, '\0') + std::string(901, '\x0b'));
  }
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  if (seed % 16 == 0 && max_size >= kRecipeSize) {
    data[0] = kRecipe;
    for (size_t i = 1; i < kRecipeSize; ++i) data[i] = static_cast<uint8_t>(seed >> (i * 4));
    data[1] = static_cast<uint8_t>(seed >> 4);
    return kRecipeSize;
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string recipe;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (size >= kRecipeSize && data[0] == kRecipe) {
    recipe = Expand(data);
    bytes = recipe;
  }
  auto module = mesh::wasm::Instrument(bytes);
  if (!module.ok()) return 0;
  // Binding imports must also cope with anything the module declares.
  (void)mesh::wasm::JobHost::Bind(module->imports);
  // Every table has a maximum within the limit (RunScope::Admit reserves it).
  auto tables = mesh::wasm::ScanTableEntries(module->wasm);
  if (!tables.ok() || tables->max < tables->initial) std::abort();

  const wabt::Features features = mesh::wasm::JobFeatures();
  wabt::Errors errors;
  wabt::Module reread;
  const wabt::ReadBinaryOptions options(features, nullptr, false, true, false);
  if (wabt::Failed(wabt::ReadBinaryIr("instrumented", module->wasm.data(), module->wasm.size(),
                                      options, &errors, &reread)) ||
      wabt::Failed(wabt::ValidateModule(&reread, &errors, wabt::ValidateOptions(features)))) {
    std::abort();  // the instrumenter produced a module that does not load: a bug
  }
  for (const wabt::Table* table : reread.tables) {
    if (!table->elem_limits.has_max || table->elem_limits.max > 10'000'000) std::abort();
  }
  return 0;
}
