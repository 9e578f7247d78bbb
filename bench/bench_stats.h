// What the plain benchmark binaries (api_bench, mesh_bench, split_bench) share: elapsed time and
// latency statistics (nearest-rank percentiles).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <vector>

namespace mesh::bench {

using SteadyClock = std::chrono::steady_clock;

inline double MsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
}

struct Latency {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// The nearest-rank p-th percentile (0 < p <= 1) of sorted values; 0 for none.
inline double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

inline Latency Summarize(std::vector<double> v) {
  Latency l;
  if (v.empty()) return l;
  std::sort(v.begin(), v.end());
  l.n = v.size();
  l.p50 = Percentile(v, 0.50);
  l.p90 = Percentile(v, 0.90);
  l.p99 = Percentile(v, 0.99);
  l.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  l.mean = sum / static_cast<double>(v.size());
  return l;
}

inline double Median(std::vector<double> v) { return Summarize(std::move(v)).p50; }

}  // namespace mesh::bench
