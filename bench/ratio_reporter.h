// A Google Benchmark console reporter that also remembers each benchmark's rate and time, so a
// bench binary can print ratios measured in the same run (goals are ratios against baselines,
// never absolute timings). Single-threaded, like the benchmark runner.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace mesh::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      // "BM_Name" or "BM_Name/arg:value": without the iteration and timing suffixes.
      std::string name = run.run_name.function_name;
      if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
      auto it = run.counters.find("bytes_per_second");
      if (it != run.counters.end()) rates_[name] = it->second.value;
      auto items = run.counters.find("items_per_second");
      if (items != run.counters.end()) rates_[name] = items->second.value;
      seconds_[name] = run.GetAdjustedRealTime() * TimeUnitSeconds(run.time_unit);
    }
  }
  // bytes/s or items/s of benchmark `name` ("BM_X" or "BM_X/arg:1"); 0 if it did not run.
  double Rate(const std::string& name) const { return Lookup(rates_, name); }
  // Seconds per iteration of benchmark `name`; 0 if it did not run.
  double Seconds(const std::string& name) const { return Lookup(seconds_, name); }

 private:
  static double TimeUnitSeconds(benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kNanosecond:
        return 1e-9;
      case benchmark::kMicrosecond:
        return 1e-6;
      case benchmark::kMillisecond:
        return 1e-3;
      default:
        return 1;
    }
  }
  static double Lookup(const std::map<std::string, double>& m, const std::string& name) {
    auto it = m.find(name);
    return it == m.end() ? 0 : it->second;
  }
  std::map<std::string, double> rates_;
  std::map<std::string, double> seconds_;
};

}  // namespace mesh::bench
