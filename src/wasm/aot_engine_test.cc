// The aot engine's own behaviour (the compile cache, engine selection) and a cross-check against
// the interp engine on every example job: same output bytes, exit code, outcome and fuel.
#include "mesh/wasm/aot_engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "aot_codegen.h"
#include "mesh/common/check.h"
#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"
#include "testing/wat.h"

extern char** environ;

namespace mesh::wasm {
namespace {

namespace fs = std::filesystem;

// A module whose bytes no other test (or earlier run) produced: compiled modules stay loaded in
// the process, so cache tests need modules the process has not seen.
std::string FreshWat() {
  static std::atomic<int> counter{0};
  const auto nonce = std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
                     "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const std::string wat = R"((module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 100) "fresh )" +
                          nonce + R"(\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 100))
      (i32.store (i32.const 4) (i32.const )" +
                          std::to_string(7 + nonce.size()) + R"())
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))))";
  return wat;
}

InstrumentedModule FreshModule(const std::string& wat = FreshWat()) {
  auto module = Instrument(testing::WatToWasm(wat));
  MESH_CHECK(module.ok());
  return *std::move(module);
}

std::unique_ptr<AotEngine> NewAot(const fs::path& dir, bool allow_compile = true) {
  AotOptions options;
  options.cache_dir = dir.string();
  options.allow_compile = allow_compile;
  auto engine = AotEngine::Create(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

TEST(AotEngineTest, CompilesOnceWhenManyThreadsAskAtOnce) {
  ScopedTempDir dir;
  auto engine = NewAot(dir.path());
  ASSERT_NE(engine, nullptr);
  const InstrumentedModule module = FreshModule();
  std::vector<RunResult> results(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      auto r = engine->Run("fresh", module, {}, {});
      ASSERT_TRUE(r.ok()) << r.status();
      results[i] = *std::move(r);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(engine->stats().compilations, 1u);
  for (const RunResult& r : results) {
    EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
    EXPECT_EQ(r.report.engine, "aot");
    EXPECT_EQ(r.output.substr(0, 6), "fresh ");
    EXPECT_EQ(r.output, results[0].output);
  }
}

// The child side of CompilesOnceAcrossProcesses: prepares the module in $MESH_AOT_TEST_DIR and
// records how many compilations it did.
TEST(AotEngineTest, DISABLED_ChildPrepares) {
  const char* dir = std::getenv("MESH_AOT_TEST_DIR");
  ASSERT_NE(dir, nullptr);
  ASSERT_OK_AND_ASSIGN(std::string wat, ReadFileToString(fs::path(dir) / "module.wat", 1 << 20));
  auto engine = NewAot(dir);
  ASSERT_NE(engine, nullptr);
  ASSERT_OK(engine->Prepare(FreshModule(wat)));
  std::ofstream(fs::path(dir) / ("count." + std::to_string(::getpid())))
      << engine->stats().compilations;
}

TEST(AotEngineTest, CompilesOnceAcrossProcesses) {
  ScopedTempDir dir;
  std::ofstream(dir.path() / "module.wat") << FreshWat();
  ::setenv("MESH_AOT_TEST_DIR", dir.path().c_str(), 1);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=AotEngineTest.DISABLED_ChildPrepares";
  std::string disabled = "--gtest_also_run_disabled_tests";
  char* argv[] = {self.data(), filter.data(), disabled.data(), nullptr};
  posix_spawn_file_actions_t quiet;  // the children's gtest chatter
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
  std::vector<pid_t> children(3);
  for (pid_t& pid : children) {
    ASSERT_EQ(::posix_spawn(&pid, self.c_str(), &quiet, nullptr, argv, environ), 0);
  }
  posix_spawn_file_actions_destroy(&quiet);
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  ::unsetenv("MESH_AOT_TEST_DIR");
  int compilations = 0, counts = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("count.", 0) != 0) continue;
    int n = 0;
    std::ifstream(entry.path()) >> n;
    compilations += n;
    ++counts;
  }
  EXPECT_EQ(counts, 3);
  EXPECT_EQ(compilations, 1);
}

TEST(AotEngineTest, SecondEngineReusesTheCache) {
  ScopedTempDir dir;
  const InstrumentedModule module = FreshModule();
  auto first = NewAot(dir.path());
  ASSERT_NE(first, nullptr);
  ASSERT_OK(first->Prepare(module));
  EXPECT_EQ(first->stats().compilations, 1u);
  auto second = NewAot(dir.path());
  ASSERT_NE(second, nullptr);
  ASSERT_OK_AND_ASSIGN(RunResult r, second->Run("fresh", module, {}, {}));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(second->stats().compilations, 0u);
  EXPECT_EQ(second->stats().disk_hits, 1u);
}

TEST(AotEngineTest, EngineThatMayNotCompileRunsOnlyPreparedModules) {
  ScopedTempDir dir;
  const InstrumentedModule module = FreshModule();
  auto reader = NewAot(dir.path(), /*allow_compile=*/false);
  ASSERT_NE(reader, nullptr);
  auto missing = reader->Run("fresh", module, {}, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(missing.status())) << missing.status();
  EXPECT_NE(missing.status().message().find("Prepare"), std::string::npos) << missing.status();
  auto writer = NewAot(dir.path());
  ASSERT_NE(writer, nullptr);
  ASSERT_OK(writer->Prepare(module));
  ASSERT_OK_AND_ASSIGN(RunResult r, reader->Run("fresh", module, {}, {}));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(reader->stats().compilations, 0u);
}

// Workers get the compiler version their pool asked (AotOptions::compiler_version): the same
// version finds the same cache entries; another version (a compiler upgrade) finds none.
TEST(AotEngineTest, GivenCompilerVersionKeysTheCache) {
  ScopedTempDir dir;
  const InstrumentedModule module = FreshModule();
  auto asked = NewAot(dir.path());
  ASSERT_NE(asked, nullptr);
  EXPECT_FALSE(asked->compiler_version().empty());
  ASSERT_OK(asked->Prepare(module));
  AotOptions given;
  given.cache_dir = dir.path().string();
  given.allow_compile = false;
  given.compiler_version = asked->compiler_version();
  ASSERT_OK_AND_ASSIGN(auto same, AotEngine::Create(given));
  EXPECT_EQ(same->compiler_version(), asked->compiler_version());
  EXPECT_TRUE(same->IsCompiled(module));
  given.compiler_version = "cc (upgraded) 99.0.0";
  ASSERT_OK_AND_ASSIGN(auto upgraded, AotEngine::Create(given));
  EXPECT_EQ(upgraded->compiler_version(), "cc (upgraded) 99.0.0");
  EXPECT_FALSE(upgraded->IsCompiled(module));
  // One line only: a newline could forge the key fields that follow the version.
  given.compiler_version = "cc 1\n-O0";
  EXPECT_TRUE(absl::IsInvalidArgument(AotEngine::Create(given).status()));
}

TEST(AotEngineTest, CorruptedCacheEntryIsRebuilt) {
  ScopedTempDir dir;
  const InstrumentedModule module = FreshModule();
  auto first = NewAot(dir.path());
  ASSERT_NE(first, nullptr);
  ASSERT_OK(first->Prepare(module));
  int corrupted = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().extension() != ".so") continue;
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64);
    f.write("garbage!", 8);
    ++corrupted;
  }
  ASSERT_EQ(corrupted, 1);
  auto second = NewAot(dir.path());
  ASSERT_NE(second, nullptr);
  ASSERT_OK_AND_ASSIGN(RunResult r, second->Run("fresh", module, {}, {}));
  EXPECT_EQ(r.report.outcome, Outcome::kOk) << r.report.message;
  EXPECT_EQ(second->stats().rebuilds, 1u);
  EXPECT_EQ(second->stats().compilations, 1u);
}

// The wasm2c this was built with is the one the GS rewrite was written against: every load and
// store goes through the segment, every bulk operation sits between barriers, and the glue points
// GS at the memory under the same condition job.c uses it. Another wasm2c's text would leave the
// module on the generic path (correct, but a third slower on matmul): this says so.
TEST(AotEngineTest, GeneratedCodeReachesMemoryThroughGs) {
  auto sources = aot::GenerateAotSources(FreshModule());
  ASSERT_TRUE(sources.ok()) << sources.status();
  const std::string& c = sources->module_c;
  EXPECT_NE(c.find("MESH_LOAD(t1, result, mem, addr);"), std::string::npos);
  EXPECT_NE(c.find("MESH_STORE(t1, mem, addr, wrapped);"), std::string::npos);
  EXPECT_EQ(c.find("wasm_rt_memcpy(&result, &mem->data[addr]"), std::string::npos);
  EXPECT_NE(c.find("MESH_BARRIER();\n  memset("), std::string::npos);
  EXPECT_NE(c.find("MESH_BARRIER();\n  memmove("), std::string::npos);
  EXPECT_NE(c.find("MESH_BARRIER();\n  LOAD_DATA((*dest)"), std::string::npos);
  const size_t condition = c.find("#if defined(__x86_64__) && defined(__SEG_GS)");
  ASSERT_NE(condition, std::string::npos);
  const std::string line = c.substr(condition, c.find('\n', condition) - condition);
  EXPECT_NE(sources->glue_c.find(line.substr(4)), std::string::npos) << line;
  EXPECT_NE(sources->glue_c.find("wrgsbase"), std::string::npos);
}

TEST(AotEngineTest, MissingCompilerIsNamedAndAutoFallsBack) {
  ScopedTempDir dir;
  AotOptions options;
  options.cache_dir = dir.path().string();
  options.compiler = "/nonexistent/mesh-cc";
  auto engine = AotEngine::Create(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(engine.status()));
  EXPECT_NE(engine.status().message().find("/nonexistent/mesh-cc"), std::string::npos);
  EXPECT_NE(engine.status().message().find("--engine interp"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto fallback, MakeEngine(EngineKind::kAuto, options));
  EXPECT_EQ(fallback->name(), "interp");
  options.compiler.clear();
  ASSERT_OK_AND_ASSIGN(auto preferred, MakeEngine(EngineKind::kAuto, options));
  EXPECT_EQ(preferred->name(), AotAvailable(options) ? "aot" : "interp");
}

TEST(AotEngineTest, InstantiationTrapMatchesInterp) {
  ScopedTempDir dir;
  auto aot = NewAot(dir.path());
  ASSERT_NE(aot, nullptr);
  // A data segment past the end of memory traps while the instance is being created.
  ASSERT_OK_AND_ASSIGN(InstrumentedModule module,
                       Instrument(testing::WatToWasm(R"((module (memory 1)
                         (data (i32.const 70000) "x") (func (export "_start"))))")));
  ASSERT_OK_AND_ASSIGN(RunResult a, aot->Run("m", module, {}, {}));
  ASSERT_OK_AND_ASSIGN(RunResult b, MakeInterpEngine()->Run("m", module, {}, {}));
  EXPECT_EQ(a.report.outcome, Outcome::kTrap) << a.report.message;
  EXPECT_EQ(a.report.outcome, b.report.outcome) << b.report.message;
  EXPECT_EQ(b.report.trap_kind.rfind(a.report.trap_kind, 0), 0u)
      << a.report.trap_kind << " | " << b.report.trap_kind;
  EXPECT_NE(a.report.message.find("failed to instantiate"), std::string::npos);
}

// --- cross-engine check over the example jobs --------------------------------------------------

struct ExampleCase {
  std::string label;
  std::string wasm;  // file name in MESH_EXAMPLES_DIR
  std::vector<std::string> args;
  std::string stdin_bytes;
  Limits limits;
};

std::string Pseudorandom(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  for (char& c : out) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    c = static_cast<char>(seed >> 56);
  }
  return out;
}

std::vector<ExampleCase> ExampleCases() {
  std::vector<ExampleCase> cases;
  auto add = [&](std::string label, std::string wasm, std::vector<std::string> args = {},
                 std::string stdin_bytes = "", Limits limits = {}) {
    cases.push_back(
        {std::move(label), std::move(wasm), std::move(args), std::move(stdin_bytes), limits});
  };
  const std::string text = "the quick brown fox\njumps over\tthe lazy dog\n\n  end";
  add("echo", "echo.wasm", {}, Pseudorandom(200000, 1));
  add("wordcount", "wordcount.wasm", {}, text + Pseudorandom(5000, 2));
  add("sha256", "sha256.wasm", {}, Pseudorandom(100000, 3));
  add("matmul", "matmul.wasm", {"--gen", "16", "1"});
  add("primes", "primes.wasm", {"10000"});
  add("primes_bad_arg", "primes.wasm", {"x"});
  add("hello", "hello.wasm");
  add("noop", "noop.wasm");
  add("probe", "probe.wasm");
  add("progress", "progress.wasm", {"1000"});
  for (const char* mode : {"unreachable", "divzero", "oob", "indirect", "badsig", "exit42", "?"}) {
    add(std::string("trap_") + mode, "trap.wasm", {mode});
  }
  Limits small_fuel;
  small_fuel.fuel = 1'000'000;
  add("loop", "loop.wasm", {}, "", small_fuel);
  add("recursion", "recursion.wasm");
  add("recursion_bounded", "recursion.wasm", {"500"});
  Limits small_memory;
  small_memory.memory_bytes = 8 << 20;
  add("membomb", "membomb.wasm", {}, "", small_memory);
  add("memcache", "memcache.wasm", {}, "", small_memory);
  return cases;
}

TEST(AotEngineTest, MatchesInterpOnEveryExample) {
  const fs::path examples = MESH_EXAMPLES_DIR;
  if (!fs::exists(examples / "hello.wasm")) {
    GTEST_SKIP() << "examples not built in " << examples << " (build target examples_wasm)";
  }
  ScopedTempDir dir;
  auto aot = NewAot(dir.path());
  ASSERT_NE(aot, nullptr);
  auto interp = MakeInterpEngine();
  std::map<std::string, InstrumentedModule> modules;
  for (const ExampleCase& c : ExampleCases()) {
    if (modules.count(c.wasm)) continue;
    ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(examples / c.wasm, 64 << 20));
    ASSERT_OK_AND_ASSIGN(modules[c.wasm], Instrument(bytes));
  }
  // Compile on every core at once (gcc -O2 takes ~1-3 s per example); this also exercises
  // concurrent compilations of different modules.
  std::vector<const InstrumentedModule*> queue;
  for (const auto& [name, module] : modules) queue.push_back(&module);
  std::atomic<size_t> next{0};
  std::vector<std::thread> compilers;
  for (unsigned t = 0; t < std::max(2u, std::thread::hardware_concurrency()); ++t) {
    compilers.emplace_back([&] {
      for (size_t i; (i = next++) < queue.size();) EXPECT_OK(aot->Prepare(*queue[i]));
    });
  }
  for (auto& t : compilers) t.join();
  EXPECT_EQ(aot->stats().compilations, modules.size());
  for (const ExampleCase& c : ExampleCases()) {
    SCOPED_TRACE(c.label);
    const InstrumentedModule& module = modules.at(c.wasm);
    JobInput input;
    input.args = c.args;
    input.stdin_bytes = c.stdin_bytes;
    input.seed.fill(42);
    ASSERT_OK_AND_ASSIGN(RunResult a, aot->Run(c.wasm, module, input, c.limits));
    ASSERT_OK_AND_ASSIGN(RunResult b, interp->Run(c.wasm, module, input, c.limits));
    EXPECT_EQ(a.report.outcome, b.report.outcome) << a.report.message << " | " << b.report.message;
    EXPECT_EQ(a.report.exit_code, b.report.exit_code);
    EXPECT_EQ(a.report.fuel_used, b.report.fuel_used);
    EXPECT_TRUE(a.output == b.output) << a.output.size() << " vs " << b.output.size();
    EXPECT_EQ(a.report.stderr_tail, b.report.stderr_tail);
    EXPECT_EQ(a.partials, b.partials);
    EXPECT_EQ(a.checkpoint, b.checkpoint);
    EXPECT_EQ(a.report.progress.size(), b.report.progress.size());
    EXPECT_EQ(a.report.peak_memory_bytes, b.report.peak_memory_bytes);
    EXPECT_EQ(a.report.trap_function, b.report.trap_function);
    EXPECT_EQ(a.report.memory_grows_refused, b.report.memory_grows_refused);
    if (c.label == "memcache") {  // malloc's NULL at the limit is handled: the job carries on
      EXPECT_EQ(a.report.outcome, Outcome::kOk) << a.report.message;
      EXPECT_EQ(a.report.exit_code, 0);
      EXPECT_GE(a.report.memory_grows_refused, 1u);
      EXPECT_EQ(a.output.rfind("cache: ", 0), 0u) << a.output;
      EXPECT_NE(a.output.find("refused at the limit; served 1000 rounds"), std::string::npos)
          << a.output;
    }
    if (a.report.outcome == Outcome::kTrap && c.label != "trap_indirect" &&
        c.label != "trap_badsig") {
      // wasm2c names both indirect-call traps alike; the others use WABT's words.
      EXPECT_EQ(b.report.trap_kind.rfind(a.report.trap_kind, 0), 0u)
          << a.report.trap_kind << " | " << b.report.trap_kind;
    }
  }
}

}  // namespace
}  // namespace mesh::wasm
