// The record writer of the benchmarks (bench_report.h): verdicts, goal text, JSON, the common
// arguments. No timing: the records are made up.
#include "bench_report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"

namespace mesh::bench {
namespace {

Record Figure(double value, std::optional<double> ratio, Goal goal) {
  return {.figure = "f", .value = value, .unit = "jobs/s", .ratio = ratio, .goal = goal};
}

TEST(BenchReportTest, ReportFiguresHaveNoVerdict) {
  EXPECT_EQ(Met(Figure(1, 2, Goal())), std::nullopt);
  EXPECT_EQ(GoalText(Figure(1, 2, Goal())), "report");
}

TEST(BenchReportTest, BoundsOnValueAndRatio) {
  EXPECT_EQ(Met(Figure(1000, 0.8, Goal().ValueAtLeast(1000).RatioAtLeast(0.8))), true);
  EXPECT_EQ(Met(Figure(999, 0.9, Goal().ValueAtLeast(1000).RatioAtLeast(0.8))), false);
  EXPECT_EQ(Met(Figure(2000, 0.79, Goal().ValueAtLeast(1000).RatioAtLeast(0.8))), false);
  EXPECT_EQ(Met(Figure(3, std::nullopt, Goal().ValueAtMost(3))), true);
  EXPECT_EQ(Met(Figure(20, std::nullopt, Goal().ValueBelow(20))), false);
  EXPECT_EQ(Met(Figure(19.9, std::nullopt, Goal().ValueBelow(20))), true);
  EXPECT_EQ(Met(Figure(5, 1.5, Goal().RatioAtMost(1.5))), true);
  EXPECT_EQ(Met(Figure(5, 1.51, Goal().RatioAtMost(1.5))), false);
  EXPECT_EQ(Met(Figure(5, 0.99, Goal().RatioBelow(1))), true);
}

TEST(BenchReportTest, MissingOrNonFiniteFiguresAreNotMet) {
  EXPECT_EQ(Met(Figure(5, std::nullopt, Goal().RatioAtMost(1.5))), false);
  EXPECT_EQ(Met(Figure(std::nan(""), std::nullopt, Goal().ValueAtLeast(1))), false);
  EXPECT_EQ(Met(Figure(1e9, std::numeric_limits<double>::infinity(), Goal().RatioAtLeast(1))),
            false);
}

TEST(BenchReportTest, RatioOfSkipsWhatDidNotRun) {
  EXPECT_EQ(RatioOf(3, 2), 1.5);
  EXPECT_EQ(RatioOf(3, 0), std::nullopt);
  EXPECT_EQ(RatioOf(0, 2), std::nullopt);
  EXPECT_EQ(RatioOf(std::numeric_limits<double>::infinity(), 2), std::nullopt);
}

TEST(BenchReportTest, GoalTextNamesUnitsAndRatios) {
  EXPECT_EQ(GoalText(Figure(1, 1, Goal().ValueAtLeast(1000).RatioAtLeast(0.8))),
            ">= 1000 jobs/s and >= 0.8x");
  EXPECT_EQ(GoalText(Figure(1, 1, Goal().ValueBelow(2.5))), "< 2.5 jobs/s");
  EXPECT_EQ(GoalText(Figure(1, 1, Goal().RatioAtMost(1.15))), "<= 1.15x");
}

TEST(BenchReportTest, WritesRecordsAsJson) {
  Report report("demo_bench");
  report.Add({.figure = "a \"quoted\"\\figure\nwith\ttabs\x01",
              .value = 1234.5,
              .unit = "MB/s",
              .baseline = 2469,
              .ratio = 0.5,
              .goal = Goal().RatioAtLeast(0.5)});
  report.Add({.figure = "reported", .value = std::nan(""), .unit = "ms"});
  const auto path = std::filesystem::temp_directory_path() /
                    ("bench_report_test_" + std::to_string(::getpid()) + ".json");
  ASSERT_TRUE(report.Write(path.string()).ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(path);
  const nlohmann::json j = nlohmann::json::parse(text.str());
  EXPECT_EQ(j["bench"], "demo_bench");
  ASSERT_EQ(j["records"].size(), 2u);
  const auto& a = j["records"][0];
  EXPECT_EQ(a["bench"], "demo_bench");
  EXPECT_EQ(a["figure"], "a \"quoted\"\\figure\nwith\ttabs\x01");
  EXPECT_EQ(a["value"], 1234.5);
  EXPECT_EQ(a["unit"], "MB/s");
  EXPECT_EQ(a["baseline"], 2469);
  EXPECT_EQ(a["ratio"], 0.5);
  EXPECT_EQ(a["goal"], ">= 0.5x");
  EXPECT_EQ(a["met"], true);
  const auto& b = j["records"][1];
  EXPECT_TRUE(b["value"].is_null());
  EXPECT_TRUE(b["baseline"].is_null());
  EXPECT_TRUE(b["ratio"].is_null());
  EXPECT_EQ(b["goal"], "report");
  EXPECT_TRUE(b["met"].is_null());
}

TEST(BenchReportTest, WriteToAnEmptyPathWritesNothingAndABadPathFails) {
  Report report("demo_bench");
  EXPECT_TRUE(report.Write("").ok());
  EXPECT_FALSE(report.Write("/nonexistent-dir/x/results.json").ok());
}

TEST(BenchReportTest, TakesCommonArgsAndLeavesTheRest) {
  std::string a0 = "bench", a1 = "--short", a2 = "--jobs", a3 = "5", a4 = "--json", a5 = "out.json",
              a6 = "--benchmark_filter=Aot";
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(),
                  a4.data(), a5.data(), a6.data(), nullptr};
  int argc = 7;
  CommonArgs common;
  std::string error;
  ASSERT_TRUE(TakeCommonArgs(&argc, argv, &common, &error));
  EXPECT_TRUE(common.short_mode);
  EXPECT_EQ(common.json, "out.json");
  ASSERT_EQ(argc, 4);
  EXPECT_STREQ(argv[1], "--jobs");
  EXPECT_STREQ(argv[2], "5");
  EXPECT_STREQ(argv[3], "--benchmark_filter=Aot");
  EXPECT_EQ(argv[4], nullptr);

  std::string b0 = "bench", b1 = "--json";
  char* bad[] = {b0.data(), b1.data(), nullptr};
  int bad_argc = 2;
  CommonArgs none;
  EXPECT_FALSE(TakeCommonArgs(&bad_argc, bad, &none, &error));
  EXPECT_EQ(error, "--json needs a file");
}

}  // namespace
}  // namespace mesh::bench
