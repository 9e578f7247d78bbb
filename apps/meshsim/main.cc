// meshsim: the production market and membership cores at scale, on virtual time.
//
//   meshsim sim/scenarios/baseline.toml [--seed N] [--nodes N] [--jobs N] [--out DIR]
//
// Flags override the scenario file. Prints the readable summary; with --out, writes
// DIR/summary.json (byte-identical for the same scenario and seed), DIR/run.json (wall time,
// events per second, peak memory: figures of this machine) and, unless --no-plots, the PNG plots
// (scripts/sim_plots.py, python3-matplotlib).
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "mesh/sim/simulator.h"

namespace {

uint64_t PeakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return uint64_t(u.ru_maxrss) * 1024;
}

uint64_t MemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? uint64_t(pages) * uint64_t(size) : 0;
}

bool WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  return bool(f);
}

// Runs the plotting script on DIR; its failure is reported, not fatal (the summary stands).
void Plot(const std::string& script, const std::string& dir) {
  const pid_t pid = fork();
  if (pid == 0) {
    // Debian's interpreter first: python3-matplotlib is installed for it, and a python3 earlier
    // on PATH (a pyenv, a venv) may not have it.
    execl("/usr/bin/python3", "python3", script.c_str(), dir.c_str(), static_cast<char*>(nullptr));
    execlp("python3", "python3", script.c_str(), dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "meshsim: the plots were not made (%s %s); the summary stands\n",
                 script.c_str(), dir.c_str());
  }
}

// The simulated world is gigabytes read at random, and with 4 KiB pages most of those reads
// missed the TLB too: with transparent huge pages scale_10k ran in 0.8-0.9 of the time. glibc's
// malloc asks the kernel for them when its tunable says so, and reads the tunable at start-up
// only: so meshsim sets it and starts itself again, once. A tunable the user set is kept; where
// the kernel gives no huge pages, or the exec fails, the run is the same, only slower.
void UseHugePages(char** argv) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr &&
      std::string_view(tunables).find("glibc.malloc.hugetlb") != std::string_view::npos) {
    return;
  }
  std::string value = "glibc.malloc.hugetlb=1";
  if (tunables != nullptr && *tunables != '\0') value = std::string(tunables) + ":" + value;
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("GLIBC_TUNABLES");  // not started again: leave the environment as it was
  if (tunables != nullptr) setenv("GLIBC_TUNABLES", tunables, 1);
}

}  // namespace

int main(int argc, char** argv) {
  UseHugePages(argv);
  // A run's memory only grows, in waves: what one wave frees, the next takes. Kept, rather than
  // handed back at the heap's top or unmapped and faulted in again (a huge page's fault clears
  // 2 MiB), it halved the page faults of a 100,000-node run and took 0.9 of its time.
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  CLI::App app{"meshsim: the Mesh market and membership at scale, on virtual time"};
  std::string file, out_dir, plot_script = MESHSIM_PLOT_SCRIPT;
  uint64_t seed = 0, nodes = 0, jobs = 0;
  bool no_plots = false;
  app.add_option("scenario", file, "Scenario file (TOML), e.g. sim/scenarios/baseline.toml")
      ->required();
  app.add_option("--seed", seed, "Override the scenario's seed");
  app.add_option("--nodes", nodes, "Override the number of nodes");
  app.add_option("--jobs", jobs, "Override the number of jobs");
  app.add_option("--out", out_dir, "Write summary.json, run.json and the plots here");
  app.add_flag("--no-plots", no_plots, "Do not make the PNG plots");
  app.add_option("--plot-script", plot_script, "The plotting script")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<mesh::sim::Scenario> scenario = mesh::sim::ReadScenarioFile(file);
  if (!scenario.ok()) {
    std::fprintf(stderr, "meshsim: %s\n", std::string(scenario.status().message()).c_str());
    return 2;
  }
  if (app.count("--seed") > 0) scenario->seed = seed;
  if (app.count("--nodes") > 0) scenario->nodes = uint32_t(nodes);
  if (app.count("--jobs") > 0) scenario->jobs = jobs;
  if (absl::Status s = mesh::sim::Validate(*scenario); !s.ok()) {
    std::fprintf(stderr, "meshsim: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  const uint64_t need = mesh::sim::EstimateBytes(*scenario), have = MemoryBytes();
  if (have > 0 && need > have * 9 / 10) {
    std::fprintf(stderr,
                 "meshsim: this run needs about %.1f GiB and the machine has %.1f GiB; use fewer "
                 "nodes or jobs (or a lower workload.rate_per_s: fewer jobs in flight)\n",
                 double(need) / (1 << 30), double(have) / (1 << 30));
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  // The world is not freed: at 10^5 nodes that took seconds, and the process ends below.
  auto* simulator = new mesh::sim::Simulator(*scenario);
  mesh::sim::Summary summary = simulator->Run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fputs(mesh::sim::ToText(summary).c_str(), stdout);
  const uint64_t rss = PeakRssBytes();
  std::printf("run: %.1f s of wall time, %.0f events/s, peak RSS %.0f MiB (estimate %.0f MiB)\n",
              wall, double(summary.events) / std::max(wall, 1e-9), double(rss) / (1 << 20),
              double(need) / (1 << 20));
  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    const std::filesystem::path dir(out_dir);
    nlohmann::json run = {{"wall_seconds", wall},
                          {"events_per_second", double(summary.events) / std::max(wall, 1e-9)},
                          {"peak_rss_bytes", rss},
                          {"estimated_bytes", need}};
    if (ec || !WriteFile(dir / "summary.json", mesh::sim::ToJson(summary).dump(2) + "\n") ||
        !WriteFile(dir / "run.json", run.dump(2) + "\n")) {
      std::fprintf(stderr, "meshsim: cannot write to %s\n", out_dir.c_str());
      return 1;
    }
    if (!no_plots) Plot(plot_script, out_dir);
  }
  std::fflush(nullptr);
  std::_Exit(0);  // without running destructors: `simulator` is left to the operating system
}
