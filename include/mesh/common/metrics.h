// Metrics: counters, gauges and histograms rendered in the Prometheus text format 0.0.4.
// A MetricsRegistry is owned by whoever creates it and passed to the code that records into it
// (never a global). All methods are thread-safe; Inc/Set/Add/Observe on a handle are lock-free,
// WithLabels takes a per-family mutex, RenderText the registry's. The registry owns every
// metric; the pointers it hands out stay valid for its lifetime. Bad names, duplicate names and
// wrong label counts are programming errors and MESH_CHECK-fail.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "mesh/common/check.h"

namespace mesh {

// The Content-Type a /metrics endpoint serves RenderText() with.
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

class MetricsRegistry;

namespace metrics_internal {

// A double updated by compare-and-swap on its bits: lock-free wherever atomic<uint64_t> is.
class AtomicDouble {
 public:
  double Load() const { return std::bit_cast<double>(bits_.load(std::memory_order_relaxed)); }
  void Store(double v) { bits_.store(std::bit_cast<uint64_t>(v), std::memory_order_relaxed); }
  void Add(double delta) {
    uint64_t old = bits_.load(std::memory_order_relaxed);
    while (!bits_.compare_exchange_weak(old,
                                        std::bit_cast<uint64_t>(std::bit_cast<double>(old) + delta),
                                        std::memory_order_relaxed)) {
    }
  }

 private:
  std::atomic<uint64_t> bits_{0};  // The bits of +0.0.
};

// Orders label-value tuples; transparent so lookups need not build a std::vector<std::string>.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// Prometheus spelling of a sample value: integers without exponent or decimals, other finite
// values in the shortest form that round-trips, and +Inf, -Inf, NaN.
std::string FormatValue(double v);

// One time series, or the root of a family that owns one child series per label-value tuple.
class Series {
 public:
  virtual ~Series();
  Series(const Series&) = delete;
  Series& operator=(const Series&) = delete;

 protected:
  explicit Series(std::vector<std::string> label_names) : label_names_(std::move(label_names)) {}

  // The child for `values` (created on first use); `this` for a family without labels.
  Series* Child(std::span<const std::string_view> values);
  Series* Child(std::initializer_list<std::string_view> values) {
    return Child(std::span<const std::string_view>(values.begin(), values.size()));
  }
  Series* Child(const std::vector<std::string>& values);
  // A labelled family's root carries no samples of its own; recording into it is a bug.
  void CheckRecordable() const { MESH_CHECK(label_names_.empty()); }

 private:
  friend class ::mesh::MetricsRegistry;

  virtual std::unique_ptr<Series> MakeChild() const = 0;
  // Appends this series' sample lines; `labels` is `a="x",b="y"` (already escaped) or empty.
  virtual void RenderSamples(std::string_view name, std::string_view labels,
                             std::string* out) const = 0;
  // Appends the samples of this series or, for a labelled root, of its children in label order.
  void RenderFamily(std::string_view name, std::string* out) const;

  const std::vector<std::string> label_names_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Series>, LabelValuesLess> children_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace metrics_internal

// A value that only goes up (requests served, bytes sent).
class Counter final : public metrics_internal::Series {
 public:
  void Inc(double v = 1) {
    MESH_CHECK(v >= 0);
    CheckRecordable();
    value_.Add(v);
  }
  double Value() const { return value_.Load(); }
  Counter* WithLabels(std::initializer_list<std::string_view> values) {
    return static_cast<Counter*>(Child(values));
  }
  Counter* WithLabels(const std::vector<std::string>& values) {
    return static_cast<Counter*>(Child(values));
  }

 private:
  friend class MetricsRegistry;
  explicit Counter(std::vector<std::string> label_names) : Series(std::move(label_names)) {}
  std::unique_ptr<Series> MakeChild() const override;
  void RenderSamples(std::string_view name, std::string_view labels,
                     std::string* out) const override;

  metrics_internal::AtomicDouble value_;
};

// A value that goes up and down (connections open, bytes buffered).
class Gauge final : public metrics_internal::Series {
 public:
  void Set(double v) {
    CheckRecordable();
    value_.Store(v);
  }
  void Add(double v) {
    CheckRecordable();
    value_.Add(v);
  }
  void Sub(double v) { Add(-v); }
  double Value() const { return value_.Load(); }
  Gauge* WithLabels(std::initializer_list<std::string_view> values) {
    return static_cast<Gauge*>(Child(values));
  }
  Gauge* WithLabels(const std::vector<std::string>& values) {
    return static_cast<Gauge*>(Child(values));
  }

 private:
  friend class MetricsRegistry;
  explicit Gauge(std::vector<std::string> label_names) : Series(std::move(label_names)) {}
  std::unique_ptr<Series> MakeChild() const override;
  void RenderSamples(std::string_view name, std::string_view labels,
                     std::string* out) const override;

  metrics_internal::AtomicDouble value_;
};

// Observations counted into buckets by upper bound (inclusive), plus their sum and count.
class Histogram final : public metrics_internal::Series {
 public:
  // NaN lands in the +Inf bucket and makes the sum NaN, as in the Go client.
  void Observe(double v);
  uint64_t Count() const;
  double Sum() const { return sum_.Load(); }
  const std::vector<double>& bucket_upper_bounds() const { return bounds_; }
  Histogram* WithLabels(std::initializer_list<std::string_view> values) {
    return static_cast<Histogram*>(Child(values));
  }
  Histogram* WithLabels(const std::vector<std::string>& values) {
    return static_cast<Histogram*>(Child(values));
  }

 private:
  friend class MetricsRegistry;
  Histogram(std::vector<double> bounds, std::vector<std::string> label_names);
  std::unique_ptr<Series> MakeChild() const override;
  void RenderSamples(std::string_view name, std::string_view labels,
                     std::string* out) const override;

  const std::vector<double> bounds_;  // Strictly increasing, finite; +Inf is implicit.
  // Non-cumulative: counts_[i] for bounds_[i], counts_[bounds_.size()] for +Inf.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  metrics_internal::AtomicDouble sum_;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter* AddCounter(std::string name, std::string help,
                      std::vector<std::string> label_names = {});
  Gauge* AddGauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  // `bucket_upper_bounds` must be strictly increasing; a trailing +Inf may be given or not.
  Histogram* AddHistogram(std::string name, std::string help,
                          std::vector<double> bucket_upper_bounds,
                          std::vector<std::string> label_names = {});
  // A gauge read at scrape time (queue length, RSS). `read` runs on the scraping thread without
  // the registry's lock held, so it may take its owner's locks; what it captures must stay valid
  // as long as RenderText may be called.
  void AddGaugeCallback(std::string name, std::string help, std::function<double()> read);

  // Families in registration order, series within a family sorted by label values.
  std::string RenderText() const;

 private:
  struct Family;

  // Checks the metric and label names and that none of the family's name plus each of `suffixes`
  // is taken (a histogram claims its own name and its _bucket, _sum, _count), then appends it.
  void Register(std::unique_ptr<Family> family, std::initializer_list<std::string_view> suffixes);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
  // Every family and sample name in use, so counter `x_count` cannot clash with histogram `x`.
  absl::flat_hash_set<std::string> taken_names_ ABSL_GUARDED_BY(mu_);
};

// `count` bounds: start, start*factor, start*factor^2, ... (start > 0, factor > 1, count >= 1).
inline std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  MESH_CHECK(start > 0 && factor > 1 && count >= 1);
  std::vector<double> bounds;
  bounds.reserve(count);
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

// `count` bounds: start, start+width, start+2*width, ... (width > 0, count >= 1).
inline std::vector<double> LinearBuckets(double start, double width, int count) {
  MESH_CHECK(width > 0 && count >= 1);
  std::vector<double> bounds;
  bounds.reserve(count);
  for (int i = 0; i < count; ++i) bounds.push_back(start + i * width);
  return bounds;
}

}  // namespace mesh
