// The figures a benchmark hands to scripts/bench: one record per figure, each with its value, the
// baseline measured in the same run, the ratio to it, and the goal it is held to, written as JSON
// by `--json FILE`. Every bench binary also takes `--short` (a run of seconds, not minutes, for
// scripts/bench; the figures keep their meaning, with fewer samples).
//
// The goals live here, in the benches, beside the code that measures and names each figure: a
// bench run by hand with --json gives the verdicts scripts/bench prints, and a new figure needs
// one edit. scripts/bench only merges the records and prints them.
//
// Record JSON: {"bench", "figure", "value", "unit", "baseline", "ratio", "goal", "met"}; baseline
// and ratio are null when the figure has none, goal is "report" and met null when the figure is
// reported without a goal.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace mesh::bench {

// A goal: every bound must hold. No bound: the figure is reported with no verdict.
class Goal {
 public:
  enum class Of { kValue, kRatio };
  enum class Op { kAtLeast, kAtMost, kBelow };
  struct Bound {
    Of of;
    Op op;
    double limit;
  };

  Goal& ValueAtLeast(double limit) { return Add(Of::kValue, Op::kAtLeast, limit); }
  Goal& ValueAtMost(double limit) { return Add(Of::kValue, Op::kAtMost, limit); }
  Goal& ValueBelow(double limit) { return Add(Of::kValue, Op::kBelow, limit); }
  Goal& RatioAtLeast(double limit) { return Add(Of::kRatio, Op::kAtLeast, limit); }
  Goal& RatioAtMost(double limit) { return Add(Of::kRatio, Op::kAtMost, limit); }
  Goal& RatioBelow(double limit) { return Add(Of::kRatio, Op::kBelow, limit); }

  bool is_report() const { return bounds_.empty(); }
  const std::vector<Bound>& bounds() const { return bounds_; }

 private:
  Goal& Add(Of of, Op op, double limit) {
    bounds_.push_back({of, op, limit});
    return *this;
  }
  std::vector<Bound> bounds_;
};

struct Record {
  std::string bench;  // filled in by Report::Add
  std::string figure;
  double value = 0;
  std::string unit;
  std::optional<double> baseline;  // in the value's unit, measured in the same run
  // The figure against its baseline, read the way the goal reads: value / baseline, or for a
  // speed-up baseline / value (the figure's name says "speed-up" then).
  std::optional<double> ratio;
  Goal goal;
};

// a / b, or nothing when either side did not run (a zero or non-finite measurement).
inline std::optional<double> RatioOf(double a, double b) {
  if (!(a > 0) || !(b > 0) || !std::isfinite(a) || !std::isfinite(b)) return std::nullopt;
  return a / b;
}

// Whether the record meets its goal; nothing for a figure without one. A bound on a ratio the
// record lacks, or on a value that is not a number, is not met.
inline std::optional<bool> Met(const Record& r) {
  if (r.goal.is_report()) return std::nullopt;
  for (const Goal::Bound& b : r.goal.bounds()) {
    const std::optional<double> x =
        b.of == Goal::Of::kValue ? std::optional<double>(r.value) : r.ratio;
    if (!x.has_value() || !std::isfinite(*x)) return false;
    switch (b.op) {
      case Goal::Op::kAtLeast:
        if (!(*x >= b.limit)) return false;
        break;
      case Goal::Op::kAtMost:
        if (!(*x <= b.limit)) return false;
        break;
      case Goal::Op::kBelow:
        if (!(*x < b.limit)) return false;
        break;
    }
  }
  return true;
}

// A number as JSON and as goal text: up to 6 significant digits, null when not finite.
inline std::string NumberText(double x) {
  if (!std::isfinite(x)) return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", x);
  return text;
}

// "report", or the bounds joined by " and ": ">= 1000 jobs/s and >= 0.8x".
inline std::string GoalText(const Record& r) {
  if (r.goal.is_report()) return "report";
  std::string out;
  for (const Goal::Bound& b : r.goal.bounds()) {
    if (!out.empty()) out += " and ";
    out += b.op == Goal::Op::kAtLeast ? ">= " : b.op == Goal::Op::kAtMost ? "<= " : "< ";
    out += NumberText(b.limit);
    if (b.of == Goal::Of::kRatio) {
      out += "x";
    } else if (!r.unit.empty()) {
      out += " " + r.unit;
    }
  }
  return out;
}

inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

inline std::string RecordJson(const Record& r) {
  auto optional = [](const std::optional<double>& x) { return x ? NumberText(*x) : "null"; };
  const std::optional<bool> met = Met(r);
  return "{\"bench\": " + JsonString(r.bench) + ", \"figure\": " + JsonString(r.figure) +
         ", \"value\": " + NumberText(r.value) + ", \"unit\": " + JsonString(r.unit) +
         ", \"baseline\": " + optional(r.baseline) + ", \"ratio\": " + optional(r.ratio) +
         ", \"goal\": " + JsonString(GoalText(r)) +
         ", \"met\": " + (met ? (*met ? "true" : "false") : "null") + "}";
}

// The records of one bench run.
class Report {
 public:
  explicit Report(std::string bench) : bench_(std::move(bench)) {}

  void Add(Record r) {
    r.bench = bench_;
    records_.push_back(std::move(r));
  }
  const std::vector<Record>& records() const { return records_; }

  // {"bench": ..., "records": [...]}, one record per line.
  std::string Json() const {
    std::string out = "{\"bench\": " + JsonString(bench_) + ", \"records\": [";
    for (size_t i = 0; i < records_.size(); ++i) {
      out += (i == 0 ? "\n  " : ",\n  ") + RecordJson(records_[i]);
    }
    return out + "\n]}\n";
  }

  // One line per record, for the bench's own output: figure, value, baseline, ratio, goal, verdict.
  std::string Text() const {
    std::string out;
    for (const Record& r : records_) {
      out += r.figure + ": " + NumberText(r.value) + " " + r.unit;
      if (r.baseline) out += ", baseline " + NumberText(*r.baseline) + " " + r.unit;
      if (r.ratio) out += ", ratio " + NumberText(*r.ratio) + "x";
      const std::optional<bool> met = Met(r);
      out += "  (goal " + GoalText(r) + (met ? (*met ? ": met" : ": MISSED") : "") + ")\n";
    }
    return out;
  }

  // Writes Json() to `path` (nothing for an empty path).
  absl::Status Write(const std::string& path) const {
    if (path.empty()) return absl::OkStatus();
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) return absl::UnavailableError(path + ": " + std::strerror(errno));
    const std::string json = Json();
    const bool written = std::fwrite(json.data(), 1, json.size(), f) == json.size();
    if (std::fclose(f) != 0 || !written) return absl::DataLossError(path + ": short write");
    return absl::OkStatus();
  }

 private:
  std::string bench_;
  std::vector<Record> records_;
};

// The options every bench takes: `--json FILE` and `--short`. Removed from argv (so a Google
// Benchmark binary can hand the rest to benchmark::Initialize); false with `error` set when
// --json has no value.
struct CommonArgs {
  std::string json;
  bool short_mode = false;
};

inline bool TakeCommonArgs(int* argc, char** argv, CommonArgs* out, std::string* error) {
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--short") {
      out->short_mode = true;
    } else if (arg == "--json") {
      if (i + 1 >= *argc) {
        *error = "--json needs a file";
        return false;
      }
      out->json = argv[++i];
    } else if (arg.starts_with("--json=")) {
      out->json = std::string(arg.substr(7));
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
  argv[kept] = nullptr;
  return true;
}

}  // namespace mesh::bench
