// libFuzzer target over module loading and instrumentation: arbitrary bytes must never crash
// the instrumenter, and whatever it accepts must come out as a module that decodes and
// validates again (the engines load exactly that output).
//
//   cmake --preset fuzz && cmake --build --preset fuzz
//   build/fuzz/fuzz/module_fuzzer -max_total_time=60 build/fuzz/corpus
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/ir.h>
#include <wabt/validator.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "job_features.h"
#include "mesh/wasm/instrumenter.h"
#include "mesh/wasm/job_host.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto module = mesh::wasm::Instrument(bytes);
  if (!module.ok()) return 0;
  // Binding imports must also cope with anything the module declares.
  (void)mesh::wasm::JobHost::Bind(module->imports);

  const wabt::Features features = mesh::wasm::JobFeatures();
  wabt::Errors errors;
  wabt::Module reread;
  const wabt::ReadBinaryOptions options(features, nullptr, false, true, false);
  if (wabt::Failed(wabt::ReadBinaryIr("instrumented", module->wasm.data(), module->wasm.size(),
                                      options, &errors, &reread)) ||
      wabt::Failed(wabt::ValidateModule(&reread, &errors, wabt::ValidateOptions(features)))) {
    std::abort();  // the instrumenter produced a module that does not load: a bug
  }
  return 0;
}
