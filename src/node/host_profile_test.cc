// The host profile: its parsers on fixed inputs (cpuinfo, meminfo, os-release, an hwloc XML
// export with two GPUs), the real machine, the calibration kernel, and the profiler's speed
// score (measured once, then cached by CPU model, version, engine and kernel).
#include "mesh/node/host_profile.h"

#include <atomic>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/testing.h"
#include "mesh/node/node_profiler.h"
#include "mesh/wasm/engine.h"
#include "mesh/wasm/instrumenter.h"

namespace mesh::node {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::string_view kX86CpuInfo = R"(processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
model name	: AMD EPYC 7B13 64-Core Processor
flags		: fpu vme sse4_1 sse4_2 avx aes avx2 fma sha_ni avx512f avx512bw

processor	: 1
model name	: something else entirely
flags		: fpu
)";

constexpr std::string_view kArmCpuInfo = R"(processor	: 0
BogoMIPS	: 48.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve
CPU implementer	: 0x41

Model		: Raspberry Pi 5 Model B Rev 1.0
)";

TEST(HostProfileTest, CpuInfoGivesTheModelAndTheKnownIsaFeatures) {
  const CpuInfo x86 = ParseCpuInfo(kX86CpuInfo);
  EXPECT_EQ(x86.model, "AMD EPYC 7B13 64-Core Processor");
  // Only kIsaFeatures, in their order; sha_ni is reported as sha; the second CPU is not read.
  EXPECT_THAT(x86.isa, ElementsAre("sse4_2", "avx", "avx2", "fma", "avx512f", "aes", "sha"));
  const CpuInfo arm = ParseCpuInfo(kArmCpuInfo);
  EXPECT_THAT(arm.isa, ElementsAre("aes", "sha", "neon", "sve"));
  EXPECT_EQ(ParseCpuInfo("").model, "");
  EXPECT_TRUE(ParseCpuInfo("garbage without colons\n\n\n").isa.empty());
}

TEST(HostProfileTest, MemInfoAndOsReleaseAreRead) {
  const MemInfo m = ParseMemInfo(
      "MemTotal:       24683784 kB\nMemFree: 1 kB\n"
      "MemAvailable:   20000000 kB\nBuffers: x kB\n");
  EXPECT_EQ(m.total, 24683784ull * 1024);
  EXPECT_EQ(m.available, 20000000ull * 1024);
  EXPECT_EQ(ParseMemInfo("MemTotal: lots\n").total, 0u);
  EXPECT_EQ(ParseOsRelease("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 "
                           "(bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(ParseOsRelease("NAME=Alpine\n"), "Alpine");
  EXPECT_EQ(ParseOsRelease("nonsense"), "");
}

TEST(HostProfileTest, AnHwlocTopologyGivesCoresCachesAndOnlyTheDisplayControllers) {
  ASSERT_OK_AND_ASSIGN(std::string xml,
                       ReadFileToString(std::string(MESH_NODE_TESTDATA) + "/topology_gpu.xml",
                                        kMaxTopologyXmlBytes));
  ASSERT_OK_AND_ASSIGN(HostProfile p, TopologyFromXml(xml));
  EXPECT_EQ(p.packages, 1u);
  EXPECT_EQ(p.cores, 2u);
  EXPECT_EQ(p.threads, 2u);
  EXPECT_EQ(p.l1d_bytes, 32u << 10);
  EXPECT_EQ(p.l2_bytes, 1u << 20);
  EXPECT_EQ(p.l3_bytes, 32u << 20);
  EXPECT_EQ(p.cpu_model, "AMD EPYC 7B13 64-Core Processor");
  // The fixture's virtio disk and network card are PCI devices too, but not display
  // controllers; its server BMC's VGA is one, but no compute GPU.
  ASSERT_EQ(p.gpus.size(), 3u);
  EXPECT_EQ(p.gpus[0], (GpuInfo{"NVIDIA", "GA102 [GeForce RTX 3090]", "0000:00:04.0", 0, true}));
  EXPECT_EQ(p.gpus[1], (GpuInfo{"AMD", "0x73bf", "0000:00:05.0", 0, true}));
  EXPECT_EQ(p.gpus[2], (GpuInfo{"ASPEED Technology, Inc.", "ASPEED Graphics Family", "0000:00:06.0",
                                0, false}));
  EXPECT_THAT(FormatProfile(p), HasSubstr("ASPEED Graphics Family (0000:00:06.0, display only)"));

  p.isa = {"avx2"};
  EXPECT_THAT(DerivedCapabilities(p), ElementsAre("avx2", "gpu", "gpu:nvidia", "gpu:amd"));
  // A machine whose only display controller is its BMC's VGA offers no GPU.
  HostProfile bmc_only = p;
  bmc_only.gpus = {p.gpus[2]};
  EXPECT_THAT(DerivedCapabilities(bmc_only), ElementsAre("avx2"));
  // What the API sends reads back the same (the CLI prints it with FormatProfile).
  p.fuel_per_second = 1'500'000'000;
  p.speed_engine = "aot";
  p.speed_source = "cached";
  p.os = "Debian GNU/Linux 12 (bookworm)";
  EXPECT_EQ(HostProfileFromJson(ToJson(p)), p);
  EXPECT_EQ(HostProfileFromJson(nlohmann::json::array()), HostProfile{});
  EXPECT_EQ(HostProfileFromJson({{"cores", "two"}, {"gpus", {1, 2}}}), HostProfile{});
  p.gpus.clear();
  EXPECT_THAT(DerivedCapabilities(p), ElementsAre("avx2"));
}

TEST(HostProfileTest, ABadOrOversizedTopologyIsRefused) {
  EXPECT_EQ(TopologyFromXml("<topology version=\"2.0\"><object").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TopologyFromXml("not xml at all").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<HostProfile> big = TopologyFromXml(std::string(kMaxTopologyXmlBytes + 1, ' '));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(big.status().message()), HasSubstr("exceeds"));
}

TEST(HostProfileTest, TheRealMachineIsProfiled) {
  const HostProfile p = CollectHostProfile(std::filesystem::temp_directory_path());
  EXPECT_GE(p.cores, 1u);
  EXPECT_GE(p.threads, p.cores);
  EXPECT_FALSE(p.cpu_model.empty());
  EXPECT_GT(p.memory_total_bytes, 0u);
  EXPECT_GT(p.disk_free_bytes, 0u);
  EXPECT_FALSE(p.kernel.empty());
  EXPECT_EQ(p.fuel_per_second, 0u);  // the profiler measures it, not the collection
  const std::string text = FormatProfile(p);
  EXPECT_THAT(text, HasSubstr(p.cpu_model));
  EXPECT_THAT(text, HasSubstr("not measured yet"));
  EXPECT_EQ(ToJson(p)["speed"]["source"], "pending");
}

TEST(CalibrationTest, TheKernelIsAValidCommandWhoseFuelGrowsWithItsRounds) {
  auto fuel = [](uint64_t rounds) -> uint64_t {
    absl::StatusOr<wasm::InstrumentedModule> m = wasm::Instrument(CalibrationModule(rounds));
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return 0;
    absl::StatusOr<wasm::RunResult> r = wasm::MakeInterpEngine()->Run("k", *m, {}, wasm::Limits{});
    EXPECT_TRUE(r.ok() && r->report.ok()) << (r.ok() ? r->report.message : r.status().ToString());
    return r.ok() ? r->report.fuel_used : 0;
  };
  const uint64_t a = fuel(1000), b = fuel(2000), c = fuel(3000);
  ASSERT_GT(a, 1000u);
  // Exactly linear: each round costs the same fuel.
  EXPECT_EQ(c - b, b - a);
  EXPECT_EQ(fuel(2000), b);
  EXPECT_EQ(FuelPerSecond(1'000'000, absl::Milliseconds(10), absl::Seconds(1)), 100'000'000u);
  EXPECT_EQ(FuelPerSecond(1'000'000, absl::ZeroDuration(), absl::Milliseconds(20)), 50'000'000u);
  EXPECT_EQ(FuelPerSecond(1'000'000, absl::ZeroDuration(), absl::ZeroDuration()), 0u);
}

// Runs the kernel in this process with the interpreter, counting the calls.
class InterpRunner final : public JobRunner {
 public:
  absl::StatusOr<wasm::RunResult> Run(exec::RunRequest request) override {
    ++runs;
    if (fail) return absl::UnavailableError("no workers");
    MESH_ASSIGN_OR_RETURN(wasm::InstrumentedModule m, wasm::Instrument(*request.module_wasm));
    return wasm::MakeInterpEngine()->Run(request.module_id, m, {}, *request.limits);
  }
  bool Cancel(uint64_t) override { return false; }
  std::string engine() const override { return "interp"; }
  std::atomic<int> runs{0};
  bool fail = false;
};

class ProfilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mesh-profiler-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Profiles once with a fixed machine of `model`; returns what on_ready was given.
  HostProfile Profile(const std::string& model, const std::string& version = "1.0") {
    HostProfile fixed;
    fixed.cpu_model = model;
    fixed.isa = {"avx2"};
    std::vector<HostProfile> ready;
    {
      NodeProfiler profiler(
          dir_, version, &runner_, [&](const HostProfile& p) { ready.push_back(p); },
          [fixed](const std::filesystem::path&) { return fixed; });
      profiler.Start();
      profiler.Start();  // does nothing: one collection, one on_ready
      profiler.Join();
      EXPECT_TRUE(profiler.ready());
      EXPECT_EQ(profiler.Get(), ready.empty() ? HostProfile{} : ready.back());
    }
    EXPECT_EQ(ready.size(), 1u);
    return ready.empty() ? HostProfile{} : ready.back();
  }

  std::filesystem::path dir_;
  InterpRunner runner_;
};

TEST_F(ProfilerTest, TheSpeedIsMeasuredOnceThenReadFromTheCache) {
  const HostProfile first = Profile("cpu A");
  EXPECT_EQ(runner_.runs, 1);
  EXPECT_GT(first.fuel_per_second, 0u);
  EXPECT_EQ(first.speed_source, "measured");
  EXPECT_EQ(first.speed_engine, "interp");
  EXPECT_EQ(first.cpu_model, "cpu A");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "speed.json"));

  const HostProfile again = Profile("cpu A");
  EXPECT_EQ(runner_.runs, 1) << "the cached score was not used";
  EXPECT_EQ(again.fuel_per_second, first.fuel_per_second);
  EXPECT_EQ(again.speed_source, "cached");

  // Another CPU model or another version measures again.
  EXPECT_EQ(Profile("cpu B").speed_source, "measured");
  EXPECT_EQ(runner_.runs, 2);
  EXPECT_EQ(Profile("cpu B", "2.0").speed_source, "measured");
  EXPECT_EQ(runner_.runs, 3);
}

TEST_F(ProfilerTest, ABrokenCacheOrAFailedRunLeavesNoScoreButAProfile) {
  std::ofstream(dir_ / "speed.json") << "{not json";
  runner_.fail = true;
  const HostProfile p = Profile("cpu A");
  EXPECT_EQ(p.fuel_per_second, 0u);
  EXPECT_EQ(p.cpu_model, "cpu A");
  EXPECT_THAT(p.isa, ElementsAre("avx2"));
  runner_.fail = false;
  EXPECT_EQ(Profile("cpu A").speed_source, "measured");
}

TEST_F(ProfilerTest, AStoppedProfilerTellsNobody) {
  int calls = 0;
  NodeProfiler profiler(dir_, "1.0", &runner_, [&](const HostProfile&) { ++calls; });
  profiler.Stop();
  profiler.Start();
  profiler.Join();
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(profiler.ready());
}

}  // namespace
}  // namespace mesh::node
