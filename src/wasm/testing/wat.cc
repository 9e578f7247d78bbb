#include "wat.h"

#include <wabt/binary-writer.h>
#include <wabt/resolve-names.h>
#include <wabt/stream.h>
#include <wabt/wast-lexer.h>
#include <wabt/wast-parser.h>

#include <cstdio>
#include <cstdlib>

namespace mesh::wasm::testing {

std::string WatToWasm(std::string_view wat) {
  wabt::Errors errors;
  auto lexer = wabt::WastLexer::CreateBufferLexer("test.wat", wat.data(), wat.size(), &errors);
  wabt::Features features;
  wabt::WastParseOptions options(features);
  std::unique_ptr<wabt::Module> module;
  if (wabt::Failed(wabt::ParseWatModule(lexer.get(), &module, &errors, &options)) ||
      wabt::Failed(wabt::ResolveNamesModule(module.get(), &errors))) {
    for (const auto& e : errors) std::fprintf(stderr, "wat: %s\n", e.message.c_str());
    std::abort();
  }
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options(features, true, false, /*write_debug_names=*/true);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, module.get(), write_options))) std::abort();
  const auto& data = stream.output_buffer().data;
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace mesh::wasm::testing
