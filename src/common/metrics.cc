#include "mesh/common/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "mesh/common/strings.h"

namespace mesh {
namespace {

// MESH_CHECK plus the offending name: the bare condition would not say which metric broke.
void Require(bool ok, std::string_view message) {
  if (!ok)
    std::fprintf(stderr, "metrics: %.*s\n", static_cast<int>(message.size()), message.data());
  MESH_CHECK(ok);
}

bool IsNameChar(char c, bool first, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (allow_colon && c == ':') || (!first && c >= '0' && c <= '9');
}

// [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, [a-zA-Z_][a-zA-Z0-9_]* for labels.
bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, allow_colon)) return false;
  }
  return true;
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void AppendEscaped(std::string_view s, bool escape_quote, std::string* out) {
  for (const char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && escape_quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AppendSample(std::string_view name, std::string_view suffix, std::string_view labels,
                  std::string_view value, std::string* out) {
  out->append(name);
  out->append(suffix);
  if (!labels.empty()) {
    out->push_back('{');
    out->append(labels);
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(value);
  out->push_back('\n');
}

}  // namespace

namespace metrics_internal {

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  // Every integer below 2^53 is exact; printing it as one avoids to_chars's "1e+05" for 100000.
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {
    const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v));
    MESH_CHECK(ec == std::errc());
    return std::string(buf, end);
  }
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  MESH_CHECK(ec == std::errc());
  return std::string(buf, end);
}

Series::~Series() = default;

Series* Series::Child(std::span<const std::string_view> values) {
  if (values.size() != label_names_.size()) {
    Require(false, mesh::StrCat("WithLabels got ", values.size(), " label values; the family has ",
                                label_names_.size(), " label names"));
  }
  if (label_names_.empty()) return this;
  absl::MutexLock lock(&mu_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    it = children_.emplace(std::vector<std::string>(values.begin(), values.end()), MakeChild())
             .first;
  }
  return it->second.get();
}

Series* Series::Child(const std::vector<std::string>& values) {
  const std::vector<std::string_view> views(values.begin(), values.end());
  return Child(std::span<const std::string_view>(views));
}

void Series::RenderFamily(std::string_view name, std::string* out) const {
  if (label_names_.empty()) {
    RenderSamples(name, "", out);
    return;
  }
  absl::MutexLock lock(&mu_);
  std::string labels;
  for (const auto& [values, child] : children_) {
    labels.clear();
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) labels.push_back(',');
      labels.append(label_names_[i]);
      labels.append("=\"");
      AppendEscaped(values[i], /*escape_quote=*/true, &labels);
      labels.push_back('"');
    }
    child->RenderSamples(name, labels, out);
  }
}

}  // namespace metrics_internal

std::unique_ptr<metrics_internal::Series> Counter::MakeChild() const {
  return std::unique_ptr<Series>(new Counter({}));
}

void Counter::RenderSamples(std::string_view name, std::string_view labels,
                            std::string* out) const {
  AppendSample(name, "", labels, metrics_internal::FormatValue(Value()), out);
}

std::unique_ptr<metrics_internal::Series> Gauge::MakeChild() const {
  return std::unique_ptr<Series>(new Gauge({}));
}

void Gauge::RenderSamples(std::string_view name, std::string_view labels, std::string* out) const {
  AppendSample(name, "", labels, metrics_internal::FormatValue(Value()), out);
}

Histogram::Histogram(std::vector<double> bounds, std::vector<std::string> label_names)
    : Series(std::move(label_names)),
      bounds_(std::move(bounds)),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]()) {}

void Histogram::Observe(double v) {
  CheckRecordable();
  // Bounds are inclusive: v goes to the first bound >= v. NaN is >= nothing, so +Inf.
  const size_t bucket = std::isnan(v)
                            ? bounds_.size()
                            : std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.Add(v);
}

uint64_t Histogram::Count() const {
  uint64_t count = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) count += counts_[i].load(std::memory_order_relaxed);
  return count;
}

std::unique_ptr<metrics_internal::Series> Histogram::MakeChild() const {
  return std::unique_ptr<Series>(new Histogram(bounds_, {}));
}

void Histogram::RenderSamples(std::string_view name, std::string_view labels,
                              std::string* out) const {
  std::string bucket_labels(labels);
  if (!labels.empty()) bucket_labels.push_back(',');
  const size_t prefix = bucket_labels.size();
  // The count is the +Inf bucket's, so the two always agree even while observations race in.
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    bucket_labels.resize(prefix);
    bucket_labels.append("le=\"");
    bucket_labels.append(i < bounds_.size() ? metrics_internal::FormatValue(bounds_[i]) : "+Inf");
    bucket_labels.push_back('"');
    AppendSample(name, "_bucket", bucket_labels, std::to_string(cumulative), out);
  }
  AppendSample(name, "_sum", labels, metrics_internal::FormatValue(Sum()), out);
  AppendSample(name, "_count", labels, std::to_string(cumulative), out);
}

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  std::string_view type;
  std::unique_ptr<metrics_internal::Series> series;  // Null for a gauge callback.
  std::function<double()> read;                      // Set only for a gauge callback.
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Counter* MetricsRegistry::AddCounter(std::string name, std::string help,
                                     std::vector<std::string> label_names) {
  std::unique_ptr<Counter> counter(new Counter(std::move(label_names)));
  Counter* result = counter.get();
  Register(std::unique_ptr<Family>(
               new Family{std::move(name), std::move(help), "counter", std::move(counter), {}}),
           {""});
  return result;
}

Gauge* MetricsRegistry::AddGauge(std::string name, std::string help,
                                 std::vector<std::string> label_names) {
  std::unique_ptr<Gauge> gauge(new Gauge(std::move(label_names)));
  Gauge* result = gauge.get();
  Register(std::unique_ptr<Family>(
               new Family{std::move(name), std::move(help), "gauge", std::move(gauge), {}}),
           {""});
  return result;
}

Histogram* MetricsRegistry::AddHistogram(std::string name, std::string help,
                                         std::vector<double> bucket_upper_bounds,
                                         std::vector<std::string> label_names) {
  if (!bucket_upper_bounds.empty() &&
      bucket_upper_bounds.back() == std::numeric_limits<double>::infinity()) {
    bucket_upper_bounds.pop_back();
  }
  for (size_t i = 0; i < bucket_upper_bounds.size(); ++i) {
    Require(std::isfinite(bucket_upper_bounds[i]) &&
                (i == 0 || bucket_upper_bounds[i - 1] < bucket_upper_bounds[i]),
            mesh::StrCat("histogram ", name,
                         ": bucket bounds must be finite and strictly increasing; bound ", i,
                         " is ", metrics_internal::FormatValue(bucket_upper_bounds[i])));
  }
  for (const std::string& label : label_names) {
    Require(label != "le", mesh::StrCat("histogram ", name, ": label name le is reserved"));
  }
  std::unique_ptr<Histogram> histogram(
      new Histogram(std::move(bucket_upper_bounds), std::move(label_names)));
  Histogram* result = histogram.get();
  Register(std::unique_ptr<Family>(
               new Family{std::move(name), std::move(help), "histogram", std::move(histogram), {}}),
           {"", "_bucket", "_sum", "_count"});
  return result;
}

void MetricsRegistry::AddGaugeCallback(std::string name, std::string help,
                                       std::function<double()> read) {
  Require(read != nullptr, mesh::StrCat("gauge callback ", name, " has no function"));
  Register(std::unique_ptr<Family>(
               new Family{std::move(name), std::move(help), "gauge", nullptr, std::move(read)}),
           {""});
}

void MetricsRegistry::Register(std::unique_ptr<Family> family,
                               std::initializer_list<std::string_view> suffixes) {
  const std::string& name = family->name;
  Require(IsValidName(name, /*allow_colon=*/true),
          mesh::StrCat("metric name \"", name, "\" does not match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  if (family->series != nullptr) {
    const std::vector<std::string>& labels = family->series->label_names_;
    for (size_t i = 0; i < labels.size(); ++i) {
      Require(IsValidName(labels[i], /*allow_colon=*/false) && !labels[i].starts_with("__"),
              mesh::StrCat("metric ", name, ": label name \"", labels[i],
                           "\" does not match [a-zA-Z_][a-zA-Z0-9_]* or starts with __"));
      for (size_t j = 0; j < i; ++j) {
        Require(labels[i] != labels[j],
                mesh::StrCat("metric ", name, ": label name ", labels[i], " appears twice"));
      }
    }
  }
  absl::MutexLock lock(&mu_);
  for (const std::string_view suffix : suffixes) {
    const std::string taken = mesh::StrCat(name, suffix);
    Require(!taken_names_.contains(taken),
            mesh::StrCat("metric ", name, ": name ", taken, " is already registered"));
  }
  for (const std::string_view suffix : suffixes) taken_names_.insert(mesh::StrCat(name, suffix));
  families_.push_back(std::move(family));
}

std::string MetricsRegistry::RenderText() const {
  // Families are never removed and immutable once added, so they render outside the lock; that
  // keeps a slow gauge callback from stalling registration and lets it use the registry.
  std::vector<const Family*> families;
  {
    absl::MutexLock lock(&mu_);
    families.reserve(families_.size());
    for (const auto& family : families_) families.push_back(family.get());
  }
  std::string out;
  for (const Family* family : families) {
    out.append("# HELP ").append(family->name).push_back(' ');
    AppendEscaped(family->help, /*escape_quote=*/false, &out);
    out.append("\n# TYPE ").append(family->name).append(" ").append(family->type).push_back('\n');
    if (family->series != nullptr) {
      family->series->RenderFamily(family->name, &out);
    } else {
      AppendSample(family->name, "", "", metrics_internal::FormatValue(family->read()), &out);
    }
  }
  return out;
}

}  // namespace mesh
