#include "mesh/common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace mesh {
namespace {

using metrics_internal::FormatValue;

TEST(MetricsTest, RendersTextFormat) {
  MetricsRegistry registry;
  Counter* requests = registry.AddCounter("mesh_requests_total", "Requests served.");
  Counter* errors = registry.AddCounter(
      "mesh_errors_total", "Errors by kind.\nA \\ and a \" stay readable.", {"kind", "peer"});
  Gauge* temperature = registry.AddGauge("mesh_temperature_celsius", "Temperature.");
  int queue_length = 7;
  registry.AddGaugeCallback("mesh_queue_length", "Jobs waiting.",
                            [&queue_length] { return queue_length; });
  Histogram* latency =
      registry.AddHistogram("mesh_latency_seconds", "Latency.", {0.125, 0.5, 1}, {"op"});

  requests->Inc();
  requests->Inc(41);
  errors->WithLabels({"timeout", "b"})->Inc(2);
  errors->WithLabels({"bad\"quote\\slash\nline", "a"})->Inc();
  temperature->Set(21.5);
  temperature->Sub(0.25);
  queue_length = 9;
  Histogram* put = latency->WithLabels({"put"});
  Histogram* get = latency->WithLabels({"get"});
  for (const double v : {0.0625, 0.125, 0.25, 2.0}) get->Observe(v);
  put->Observe(0.5);

  EXPECT_EQ(registry.RenderText(),
            "# HELP mesh_requests_total Requests served.\n"
            "# TYPE mesh_requests_total counter\n"
            "mesh_requests_total 42\n"
            "# HELP mesh_errors_total Errors by kind.\\nA \\\\ and a \" stay readable.\n"
            "# TYPE mesh_errors_total counter\n"
            "mesh_errors_total{kind=\"bad\\\"quote\\\\slash\\nline\",peer=\"a\"} 1\n"
            "mesh_errors_total{kind=\"timeout\",peer=\"b\"} 2\n"
            "# HELP mesh_temperature_celsius Temperature.\n"
            "# TYPE mesh_temperature_celsius gauge\n"
            "mesh_temperature_celsius 21.25\n"
            "# HELP mesh_queue_length Jobs waiting.\n"
            "# TYPE mesh_queue_length gauge\n"
            "mesh_queue_length 9\n"
            "# HELP mesh_latency_seconds Latency.\n"
            "# TYPE mesh_latency_seconds histogram\n"
            "mesh_latency_seconds_bucket{op=\"get\",le=\"0.125\"} 2\n"
            "mesh_latency_seconds_bucket{op=\"get\",le=\"0.5\"} 3\n"
            "mesh_latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
            "mesh_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
            "mesh_latency_seconds_sum{op=\"get\"} 2.4375\n"
            "mesh_latency_seconds_count{op=\"get\"} 4\n"
            "mesh_latency_seconds_bucket{op=\"put\",le=\"0.125\"} 0\n"
            "mesh_latency_seconds_bucket{op=\"put\",le=\"0.5\"} 1\n"
            "mesh_latency_seconds_bucket{op=\"put\",le=\"1\"} 1\n"
            "mesh_latency_seconds_bucket{op=\"put\",le=\"+Inf\"} 1\n"
            "mesh_latency_seconds_sum{op=\"put\"} 0.5\n"
            "mesh_latency_seconds_count{op=\"put\"} 1\n");
  EXPECT_EQ(get->Count(), 4u);
  EXPECT_EQ(get->Sum(), 2.4375);
  EXPECT_EQ(errors->WithLabels({"timeout", "b"})->Value(), 2);
  EXPECT_EQ(temperature->Value(), 21.25);
}

TEST(MetricsTest, UnlabelledHistogramAndEmptyFamily) {
  MetricsRegistry registry;
  registry.AddCounter("mesh_unused_total", "No series yet.", {"kind"});
  Histogram* sizes = registry.AddHistogram(
      "mesh_blob_bytes", "Blob sizes.",
      {1024, 1048576, std::numeric_limits<double>::infinity()});  // A trailing +Inf is implicit.
  sizes->Observe(1024);
  sizes->Observe(5e6);
  sizes->Observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(sizes->bucket_upper_bounds(), (std::vector<double>{1024, 1048576}));
  EXPECT_EQ(registry.RenderText(),
            "# HELP mesh_unused_total No series yet.\n"
            "# TYPE mesh_unused_total counter\n"
            "# HELP mesh_blob_bytes Blob sizes.\n"
            "# TYPE mesh_blob_bytes histogram\n"
            "mesh_blob_bytes_bucket{le=\"1024\"} 1\n"
            "mesh_blob_bytes_bucket{le=\"1048576\"} 1\n"
            "mesh_blob_bytes_bucket{le=\"+Inf\"} 3\n"
            "mesh_blob_bytes_sum NaN\n"
            "mesh_blob_bytes_count 3\n");
}

TEST(MetricsTest, WithLabelsCachesChildren) {
  MetricsRegistry registry;
  Gauge* open = registry.AddGauge("mesh_open_streams", "Open streams.", {"peer"});
  Gauge* a = open->WithLabels({"a"});
  EXPECT_EQ(open->WithLabels({"a"}), a);
  EXPECT_EQ(open->WithLabels(std::vector<std::string>{"a"}), a);
  EXPECT_NE(open->WithLabels({"b"}), a);
  a->Add(3);
  a->Sub(1);
  EXPECT_EQ(a->Value(), 2);
  Gauge* plain = registry.AddGauge("mesh_plain", "No labels.");
  EXPECT_EQ(plain->WithLabels({}), plain);
}

TEST(MetricsTest, FormatsNumbers) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-0.0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-7), "-7");
  EXPECT_EQ(FormatValue(100000), "100000");
  EXPECT_EQ(FormatValue(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(2.5e-9), "2.5e-09");
  EXPECT_EQ(FormatValue(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(std::stod(FormatValue(0.1 + 0.2)), 0.1 + 0.2);
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(MetricsTest, ConcurrentIncrementsAreExact) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  MetricsRegistry registry;
  Counter* total = registry.AddCounter("mesh_ops_total", "Ops.");
  Counter* by_kind = registry.AddCounter("mesh_ops_by_kind_total", "Ops by kind.", {"kind"});
  Gauge* level = registry.AddGauge("mesh_level", "Level.");
  std::vector<Counter*> handles(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      handles[t] = by_kind->WithLabels({"shared"});
      for (int i = 0; i < kPerThread; ++i) {
        total->Inc();
        handles[t]->Inc(0.5);
        level->Add(t % 2 == 0 ? 2 : -1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (Counter* handle : handles) EXPECT_EQ(handle, handles[0]);
  EXPECT_EQ(total->Value(), kThreads * kPerThread);
  EXPECT_EQ(handles[0]->Value(), kThreads * kPerThread * 0.5);
  EXPECT_EQ(level->Value(), kThreads / 2 * kPerThread);
}

TEST(MetricsTest, ConcurrentObservationsAreExact) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  MetricsRegistry registry;
  Histogram* histogram = registry.AddHistogram("mesh_work_units", "Work.", LinearBuckets(1, 1, 3));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) histogram->Observe(t % 4 + 1);  // 1, 2, 3 or 4.
    });
  }
  // Scrapes racing the observers must not crash or tear; the final one must be exact.
  for (int i = 0; i < 20; ++i) registry.RenderText();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(histogram->Count(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(histogram->Sum(), (1 + 2 + 3 + 4) * 2.0 * kPerThread);
  EXPECT_EQ(registry.RenderText(),
            "# HELP mesh_work_units Work.\n"
            "# TYPE mesh_work_units histogram\n"
            "mesh_work_units_bucket{le=\"1\"} 200000\n"
            "mesh_work_units_bucket{le=\"2\"} 400000\n"
            "mesh_work_units_bucket{le=\"3\"} 600000\n"
            "mesh_work_units_bucket{le=\"+Inf\"} 800000\n"
            "mesh_work_units_sum 2000000\n"
            "mesh_work_units_count 800000\n");
}

TEST(MetricsTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(LinearBuckets(0.5, 0.5, 3), (std::vector<double>{0.5, 1, 1.5}));
  EXPECT_EQ(LinearBuckets(-1, 1, 3), (std::vector<double>{-1, 0, 1}));
  const std::vector<double> ms = ExponentialBuckets(0.001, 10, 4);
  ASSERT_EQ(ms.size(), 4u);
  EXPECT_DOUBLE_EQ(ms[0], 0.001);
  EXPECT_DOUBLE_EQ(ms[1], 0.01);
  EXPECT_DOUBLE_EQ(ms[2], 0.1);
  EXPECT_DOUBLE_EQ(ms[3], 1);
  EXPECT_DEATH(ExponentialBuckets(0, 2, 3), "check failed");
  EXPECT_DEATH(ExponentialBuckets(1, 1, 3), "check failed");
  EXPECT_DEATH(LinearBuckets(0, 1, 0), "check failed");
}

TEST(MetricsTest, DuplicateNamesDie) {
  MetricsRegistry registry;
  registry.AddCounter("mesh_x", "X.");
  registry.AddHistogram("mesh_h", "H.", {1});
  EXPECT_DEATH(registry.AddCounter("mesh_x", "Again."), "already registered");
  EXPECT_DEATH(registry.AddGauge("mesh_x", "As a gauge."), "already registered");
  EXPECT_DEATH(registry.AddGaugeCallback("mesh_x", "Callback.", [] { return 1.0; }),
               "already registered");
  EXPECT_DEATH(registry.AddCounter("mesh_h_count", "Collides with a histogram sample."),
               "already registered");
  EXPECT_DEATH(registry.AddHistogram("mesh_x", "H.", {1}), "already registered");
}

TEST(MetricsTest, InvalidNamesDie) {
  MetricsRegistry registry;
  registry.AddCounter("mesh:rule_total", "Colons are allowed in metric names.");
  registry.AddCounter("_x9", "Leading underscore.", {"_a", "B9"});
  EXPECT_DEATH(registry.AddCounter("", "Empty."), "does not match");
  EXPECT_DEATH(registry.AddCounter("9lives", "Digit first."), "does not match");
  EXPECT_DEATH(registry.AddGauge("mesh-dash", "Dash."), "does not match");
  EXPECT_DEATH(registry.AddGaugeCallback("mesh x", "Space.", [] { return 0.0; }), "does not match");
  EXPECT_DEATH(registry.AddCounter("mesh_a", "Colon in label.", {"a:b"}), "label name");
  EXPECT_DEATH(registry.AddCounter("mesh_b", "Reserved label.", {"__name"}), "label name");
  EXPECT_DEATH(registry.AddCounter("mesh_c", "Empty label.", {""}), "label name");
  EXPECT_DEATH(registry.AddCounter("mesh_d", "Twice.", {"a", "a"}), "appears twice");
  EXPECT_DEATH(registry.AddHistogram("mesh_e", "le.", {1}, {"le"}), "reserved");
  EXPECT_DEATH(registry.AddHistogram("mesh_f", "Unsorted.", {2, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("mesh_g", "Repeated.", {1, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("mesh_h", "NaN.", {std::numeric_limits<double>::quiet_NaN()}),
               "strictly increasing");
}

TEST(MetricsTest, MisuseDies) {
  MetricsRegistry registry;
  Counter* labelled = registry.AddCounter("mesh_l_total", "Two labels.", {"a", "b"});
  Counter* plain = registry.AddCounter("mesh_p_total", "No labels.");
  Histogram* histogram = registry.AddHistogram("mesh_h", "One label.", {1}, {"a"});
  EXPECT_DEATH(labelled->WithLabels({"x"}), "1 label values; the family has 2");
  EXPECT_DEATH(labelled->WithLabels({"x", "y", "z"}), "3 label values");
  EXPECT_DEATH(plain->WithLabels({"x"}), "1 label values; the family has 0");
  EXPECT_DEATH(labelled->WithLabels({"x", "y"})->WithLabels({"z"}), "the family has 0");
  EXPECT_DEATH(labelled->Inc(), "check failed");
  EXPECT_DEATH(histogram->Observe(1), "check failed");
  EXPECT_DEATH(plain->Inc(-1), "check failed");
}

}  // namespace
}  // namespace mesh
