#include "mesh/node/node_profiler.h"

#include <memory>
#include <utility>

#include "mesh/cas/cid.h"
#include "mesh/common/file_util.h"
#include "mesh/common/replace_file.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

void Leb(uint64_t v, std::string& out) {
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    if (v != 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v != 0);
}

// Signed LEB128 of a non-negative value below 2^63 (i64.const's immediate).
void Sleb(uint64_t v, std::string& out) {
  while (true) {
    const uint8_t byte = v & 0x7f;
    v >>= 7;
    if (v == 0 && (byte & 0x40) == 0) {
      out.push_back(static_cast<char>(byte));
      return;
    }
    out.push_back(static_cast<char>(byte | 0x80));
  }
}

void Section(uint8_t id, const std::string& body, std::string& out) {
  out.push_back(static_cast<char>(id));
  Leb(body.size(), out);
  out += body;
}

constexpr std::string_view kSpeedFile = "speed.json";

}  // namespace

std::string CalibrationModule(uint64_t iterations) {
  // (func (export "_start") (local $i i64) (local $x i64)
  //   x = seed; i = iterations
  //   loop: x ^= x << 13; x ^= x >> 7; x ^= x << 17; i -= 1; br_if (i != 0)
  //   i64.store [0] x)
  std::string code;
  code += std::string("\x01\x02\x7e", 3);  // locals: 2 x i64
  code += "\x42";                          // i64.const seed
  Sleb(0x2545F4914F6CDD1DULL, code);
  code += std::string("\x21\x01", 2);  // local.set $x
  code += "\x42";
  Sleb(iterations == 0 ? 1 : iterations, code);
  code += std::string("\x21\x00\x03\x40", 4);  // local.set $i; loop
  for (const auto& [shift, op] : {std::pair{13, '\x86'}, {7, '\x88'}, {17, '\x86'}}) {
    // local.get x; local.get x; i64.const shift; shl|shr_u; i64.xor; local.set x
    code += std::string("\x20\x01\x20\x01\x42", 5);
    code.push_back(static_cast<char>(shift));
    code.push_back(op);
    code += std::string("\x85\x21\x01", 3);
  }
  // local.get i; i64.const 1; i64.sub; local.tee i; i64.const 0; i64.ne; br_if 0; end
  code += std::string("\x20\x00\x42\x01\x7d\x22\x00\x42\x00\x52\x0d\x00\x0b", 13);
  // i32.const 0; local.get x; i64.store align=3 offset=0; end
  code += std::string("\x41\x00\x20\x01\x37\x03\x00\x0b", 8);
  std::string body;
  Leb(code.size(), body);
  body += code;

  std::string wasm("\0asm\1\0\0\0", 8);
  Section(1, std::string("\x01\x60\x00\x00", 4), wasm);                    // type 0: [] -> []
  Section(3, std::string("\x01\x00", 2), wasm);                            // func 0: type 0
  Section(5, std::string("\x01\x00\x01", 3), wasm);                        // memory 0: 1 page
  Section(7, std::string("\x02\x06memory\x02\x00\x06_start\x00\x00", 19),  // exports
          wasm);
  Section(10, std::string("\x01", 1) + body, wasm);  // code
  return wasm;
}

uint64_t CalibrationIterations(std::string_view engine) {
  // Measured on the 2-core build machine: aot ~1.3 ns per round, the interpreter ~0.2 us.
  return engine == "aot" ? uint64_t{1} << 25 : uint64_t{1} << 18;
}

uint64_t FuelPerSecond(uint64_t fuel, absl::Duration cpu_time, absl::Duration wall_time) {
  const absl::Duration t = cpu_time > absl::ZeroDuration() ? cpu_time : wall_time;
  if (t <= absl::ZeroDuration()) return 0;
  return static_cast<uint64_t>(static_cast<double>(fuel) / absl::ToDoubleSeconds(t));
}

NodeProfiler::NodeProfiler(std::filesystem::path data_dir, std::string version, JobRunner* runner,
                           OnReady on_ready,
                           std::function<HostProfile(const std::filesystem::path&)> collect)
    : data_dir_(std::move(data_dir)),
      version_(std::move(version)),
      runner_(runner),
      on_ready_(std::move(on_ready)),
      collect_(std::move(collect)) {}

NodeProfiler::~NodeProfiler() {
  Stop();
  Join();
}

void NodeProfiler::Start() {
  if (thread_.joinable()) return;  // started already
  thread_ = std::thread([this] { Run(); });
}

HostProfile NodeProfiler::Get() const {
  absl::MutexLock lock(&mu_);
  return profile_;
}

bool NodeProfiler::ready() const {
  absl::MutexLock lock(&mu_);
  return ready_;
}

void NodeProfiler::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

void NodeProfiler::Join() {
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<uint64_t> NodeProfiler::Measure(const std::string& engine) {
  exec::RunRequest request;
  const std::string module = CalibrationModule(CalibrationIterations(engine));
  request.module_id = cas::Cid::Of(module).ToString();
  request.module_wasm = std::make_shared<const std::string>(module);
  wasm::Limits limits;
  limits.fuel = uint64_t{1} << 40;
  limits.memory_bytes = 1 << 20;
  limits.wall_time = absl::Seconds(30);  // an aot node's first start compiles the kernel
  request.limits = limits;
  MESH_ASSIGN_OR_RETURN(wasm::RunResult run, runner_->Run(std::move(request)));
  if (!run.report.ok()) {
    return absl::InternalError(
        mesh::StrCat("the calibration kernel did not finish: ", run.report.message));
  }
  const uint64_t speed =
      FuelPerSecond(run.report.fuel_used, run.report.cpu_time, run.report.wall_time);
  if (speed == 0) return absl::InternalError("the calibration kernel took no measurable time");
  spdlog::info("node speed score: {} fuel/s ({} fuel in {} of CPU, engine {})", speed,
               run.report.fuel_used, absl::FormatDuration(run.report.cpu_time), engine);
  return speed;
}

void NodeProfiler::Run() {
  HostProfile profile = collect_(data_dir_);
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    profile_ = profile;
  }
  const std::string engine = runner_->engine();
  const std::string kernel =
      cas::Cid::Of(CalibrationModule(CalibrationIterations(engine))).ToString();
  const std::filesystem::path cache = data_dir_ / kSpeedFile;
  const nlohmann::json key = {{"cpu_model", profile.cpu_model},
                              {"version", version_},
                              {"engine", engine},
                              {"kernel", kernel}};
  if (absl::StatusOr<std::string> text = ReadFileToString(cache, 64 << 10); text.ok()) {
    const nlohmann::json saved = nlohmann::json::parse(*text, nullptr, false);
    if (saved.is_object() && saved.value("key", nlohmann::json()) == key &&
        saved.value("fuel_per_second", uint64_t{0}) > 0) {
      profile.fuel_per_second = saved.value("fuel_per_second", uint64_t{0});
      profile.speed_source = "cached";
    }
  }
  if (profile.fuel_per_second == 0) {
    absl::StatusOr<uint64_t> speed = Measure(engine);
    if (speed.ok()) {
      profile.fuel_per_second = *speed;
      profile.speed_source = "measured";
      const nlohmann::json saved = {{"key", key}, {"fuel_per_second", *speed}};
      if (absl::Status s = ReplaceFileAtomically(cache, saved.dump(2) + "\n", 0644); !s.ok()) {
        spdlog::warn("node profile: cannot cache the speed score: {}", s.ToString());
      }
    } else {
      spdlog::warn("node profile: no speed score: {}", speed.status().ToString());
    }
  }
  profile.speed_engine = profile.fuel_per_second > 0 ? engine : "";
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  profile_ = profile;
  ready_ = true;
  // Under mu_: Stop() returns only once this is done, and nothing runs it after.
  if (on_ready_) on_ready_(profile);
}

}  // namespace mesh::node
