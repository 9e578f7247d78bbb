#include "mesh/exec/worker_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mesh/common/testing.h"

namespace mesh::exec {
namespace {

absl::StatusOr<WorkerConfig> Parse(const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"mesh-worker"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return ParseWorkerArgs(static_cast<int>(argv.size()), argv.data());
}

// Workers take the compiler version from the pool (it is part of the aot cache keys), as one
// argument however many spaces, parentheses or '=' it holds.
TEST(WorkerConfigTest, CompilerVersionRoundTrips) {
  WorkerConfig config;
  config.engine = wasm::EngineKind::kAot;
  config.aot_cache_dir = "/data/cache/aot";
  config.aot_compiler = "ccache gcc";
  config.aot_compiler_version = "gcc (Debian 12.2.0-14) 12.2.0 a=b";
  ASSERT_OK_AND_ASSIGN(WorkerConfig parsed, Parse(config.ToArgs()));
  EXPECT_EQ(parsed.engine, wasm::EngineKind::kAot);
  EXPECT_EQ(parsed.aot_cache_dir, config.aot_cache_dir);
  EXPECT_EQ(parsed.aot_compiler, config.aot_compiler);
  EXPECT_EQ(parsed.aot_compiler_version, config.aot_compiler_version);
}

TEST(WorkerConfigTest, NoCompilerVersionMeansTheWorkerAsks) {
  WorkerConfig config;
  for (const std::string& arg : config.ToArgs()) {
    EXPECT_EQ(arg.find("--aot-compiler-version"), std::string::npos) << arg;
  }
  ASSERT_OK_AND_ASSIGN(WorkerConfig parsed, Parse(config.ToArgs()));
  EXPECT_TRUE(parsed.aot_compiler_version.empty());
}

TEST(WorkerConfigTest, RefusesUnknownAndMalformedOptions) {
  EXPECT_FALSE(Parse({"--aot-compiler-versions=x"}).ok());
  EXPECT_FALSE(Parse({"--aot-compiler-version"}).ok());
  EXPECT_FALSE(Parse({"aot-compiler-version=x"}).ok());
}

}  // namespace
}  // namespace mesh::exec
