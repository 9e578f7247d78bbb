// verify: Merkle roots over chunk outputs, and what verification costs against what it catches.
//
//  (a) MerkleTree over 1,000 chunk-output leaves (random 32-byte SHA-256 digests, as
//      LeafForCid sees them): the root from the leaves (leaf hashes + tree), against a baseline
//      of hashing the same 1,000 leaves once with the same SHA-256; goal < 10 ms. Also Prove +
//      VerifyInclusion of every leaf. Medians of many repetitions.
//  (b) A market simulation: N executors, a fraction of them liars, M jobs, a seeded Rng. Each job
//      has a fuel (log-uniform 1e8..1e10) and a value (credits); each replica costs the job's
//      fuel. Modes: none (one executor, its result taken), replicate(3) (quorum.h, adding
//      replicas as DecideQuorum asks, up to 9) and adaptive (PlanAdaptive with the default
//      AdaptivePolicy; ShouldSpotCheck with a draw from the Rng). Printed per mode: fraction of
//      wrong results accepted, jobs that failed undecided, fuel paid and its ratio to none.
//      Goal: adaptive accepts no more wrong results than replicate(3) for <= 1.5x the fuel of
//      none. Scenarios: liars that always lie and collude (return the same wrong output: the
//      worst case for a vote), liars that always lie independently, and liars that lie on 10%
//      of their jobs (colluding), which build a record between lies.
//
// Reputation here is a model local to the bench (the ledger owns the real one): successes s
// (verified agreements) and failures f (times outvoted), reputation = s / (s + 1 + 50 f), and f
// fades by 3% on each verified success (half-life ~23). Without that fading, honest executors
// outvoted by colluding liars stay demoted for good and the cost creeps up with the run's length
// (1.60x none at 300,000 jobs); a liar's failures recur faster than they fade. Only verified
// results count: a job run alone and not spot-checked teaches nothing.
//
//   build/h-verify-rel/bench/verify_bench     (or build/release/bench/verify_bench)
//   build/release/bench/verify_bench --executors 1000 --jobs 100000 --liars 0.05 --seed 7
//   build/release/bench/verify_bench --json FILE   (the figures as JSON records; --short: the same)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench_report.h"
#include "mesh/common/rng.h"
#include "mesh/verify/merkle_tree.h"
#include "mesh/verify/quorum.h"
#include "mesh/verify/verification_policy.h"

namespace {

using mesh::verify::Digest;
using mesh::verify::MerkleTree;

struct Options {
  int executors = 1000;
  int jobs = 100'000;
  double liars = 0.05;
  uint64_t seed = 42;
  int leaves = 1000;
  int repetitions = 200;
  int max_replicas = 9;
  double penalty = 50;                  // weight of a failure in the bench's reputation model
  double decay = 0.97;                  // failures are multiplied by this on each verified success
  mesh::verify::AdaptivePolicy policy;  // the defaults unless --spot-check / --track-record
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--executors") {
      o.executors = std::atoi(next());
    } else if (arg == "--jobs") {
      o.jobs = std::atoi(next());
    } else if (arg == "--liars") {
      o.liars = std::atof(next());
    } else if (arg == "--seed") {
      o.seed = std::strtoull(next(), nullptr, 10);
    } else if (arg == "--leaves") {
      o.leaves = std::atoi(next());
    } else if (arg == "--penalty") {
      o.penalty = std::atof(next());
    } else if (arg == "--decay") {
      o.decay = std::atof(next());
    } else if (arg == "--spot-check") {
      o.policy.spot_check_rate = std::atof(next());
    } else if (arg == "--track-record") {
      o.policy.min_track_record = std::strtoull(next(), nullptr, 10);
    } else if (arg == "--repetitions") {
      o.repetitions = std::atoi(next());
    } else {
      std::fprintf(stderr,
                   "usage: verify_bench [--executors N] [--jobs M] [--liars FRACTION] [--seed S]"
                   " [--leaves L] [--repetitions R] [--penalty W] [--decay D]"
                   " [--spot-check RATE] [--track-record N]\n");
      std::exit(2);
    }
  }
  if (auto st = mesh::verify::ValidateAdaptivePolicy(o.policy); !st.ok()) {
    std::fprintf(stderr, "verify_bench: %s\n", std::string(st.message()).c_str());
    std::exit(2);
  }
  if (o.executors < 10 || o.jobs < 1 || o.liars < 0 || o.liars > 1 || o.leaves < 1 ||
      o.repetitions < 1) {
    std::fprintf(stderr, "verify_bench: need executors >= 10, jobs >= 1, 0 <= liars <= 1\n");
    std::exit(2);
  }
  return o;
}

// Median wall time of `fn` in milliseconds over `repetitions` runs (after one warm-up).
double MedianMs(int repetitions, const std::function<void()>& fn) {
  fn();
  std::vector<double> ms;
  for (int i = 0; i < repetitions; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void MerkleBench(const Options& o, mesh::bench::Report& report) {
  mesh::SeededRng rng(o.seed);
  std::vector<std::string> outputs;  // the 32-byte digests of the chunk outputs
  for (int i = 0; i < o.leaves; ++i) outputs.push_back(rng.Bytes(32));
  std::vector<Digest> leaf_hashes;
  for (const auto& d : outputs) leaf_hashes.push_back(mesh::verify::LeafHash(d));

  Digest sink{};
  const double baseline = MedianMs(o.repetitions, [&] {
    mesh::crypto::Sha256 hasher;  // the fastest way to hash them: one context, reused
    for (const auto& d : outputs) {
      hasher.Update(d);
      sink[0] ^= hasher.Finish()[0];
    }
  });
  const double from_data = MedianMs(o.repetitions, [&] {
    auto tree = MerkleTree::FromLeafData(outputs);
    sink[1] ^= tree->root()[0];
  });
  const double from_hashes = MedianMs(o.repetitions, [&] {
    auto tree = MerkleTree::Build(leaf_hashes);
    sink[2] ^= tree->root()[0];
  });
  auto tree = MerkleTree::FromLeafData(outputs);
  const uint64_t size = tree->size();
  bool all_ok = true;
  const double prove_verify = MedianMs(std::max(1, o.repetitions / 10), [&] {
    for (uint64_t i = 0; i < size; ++i) {
      auto proof = tree->Prove(i);
      all_ok &= proof.ok() &&
                mesh::verify::VerifyInclusion(tree->root(), size, tree->leaf_hash(i), *proof).ok();
    }
  });
  std::printf("(a) Merkle tree over %d chunk-output leaves (32-byte digests), median of %d runs\n",
              o.leaves, o.repetitions);
  std::printf("  %-58s %9.3f ms\n", "baseline: SHA-256 of each leaf once", baseline);
  std::printf("  %-58s %9.3f ms  (%.2fx baseline; goal < 10 ms: %s)\n",
              "root from leaf data (leaf hashes + tree)", from_data, from_data / baseline,
              from_data < 10 ? "met" : "missed");
  std::printf("  %-58s %9.3f ms  (%.2fx baseline)\n", "root from leaf hashes (tree only)",
              from_hashes, from_hashes / baseline);
  std::printf("  %-58s %9.3f ms  (%.2f us per leaf; all verified: %s)\n",
              "Prove + VerifyInclusion of every leaf", prove_verify, prove_verify * 1000 / size,
              all_ok ? "yes" : "NO");
  if (sink[3] == 1) std::printf(" ");  // keeps the loops from being optimised away
  const std::string leaves = std::to_string(o.leaves) + " leaves";
  report.Add({.figure = "Merkle root from the leaf data, " + leaves +
                        " (baseline: SHA-256 of each leaf once)",
              .value = from_data,
              .unit = "ms",
              .baseline = baseline,
              .ratio = mesh::bench::RatioOf(from_data, baseline),
              .goal = mesh::bench::Goal().ValueBelow(10)});
  report.Add({.figure = "Merkle root from the leaf hashes (the tree alone), " + leaves,
              .value = from_hashes,
              .unit = "ms",
              .baseline = baseline,
              .ratio = mesh::bench::RatioOf(from_hashes, baseline)});
}

// ---- (b) the market simulation ----

enum class SimMode { kNone, kReplicate3, kAdaptive };
const char* SimModeName(SimMode m) {
  return m == SimMode::kNone ? "none" : m == SimMode::kReplicate3 ? "replicate(3)" : "adaptive";
}

struct Scenario {
  const char* name;
  double lie_rate;         // probability that a liar lies on a given job
  bool collude;            // liars return the same wrong output for a job
  const char* short_name;  // in the records
};

struct Job {
  uint64_t fuel;
  int64_t value;
  int primary;
  double coalition_draw;  // colluding liars lie on this job when below lie_rate
};

struct Executor {
  std::string did;
  bool liar = false;
  uint64_t successes = 0;
  double failures = 0;
};

struct Result {
  uint64_t wrong = 0;
  uint64_t undecided = 0;
  long double fuel = 0;
  uint64_t replicas = 0;
  uint64_t spot_checks = 0;
  uint64_t liar_jobs_alone = 0;      // jobs a liar ran unreplicated (adaptive)
  uint64_t honest_outvoted = 0;      // honest executors outvoted by colluding liars (adaptive)
  uint64_t tiers[4] = {0, 0, 0, 0};  // adaptive plans: 1 replica, 2, 3, other
};

class Simulation {
 public:
  Simulation(const Options& o, const Scenario& s) : o_(o), s_(s) {
    mesh::SeededRng rng(o.seed);
    for (int i = 0; i < o.executors; ++i) {
      executors_.push_back({.did = "did:key:e" + std::to_string(i)});
    }
    const int liars = static_cast<int>(o.executors * o.liars + 0.5);
    for (int i = 0; i < liars;) {
      Executor& e = executors_[rng.Uniform(o.executors)];
      if (!e.liar) {
        e.liar = true;
        ++i;
      }
    }
    for (int j = 0; j < o.jobs; ++j) {
      Job job;
      job.fuel = static_cast<uint64_t>(std::pow(10.0, 8 + 2 * rng.UniformDouble()));
      // Price ~ fuel: 10..1,000 credits. 8% are worth 20x that, 2% 1,000x (critical work).
      const double kind = rng.UniformDouble();
      const int64_t multiplier = kind < 0.02 ? 1000 : kind < 0.10 ? 20 : 1;
      job.value = static_cast<int64_t>(job.fuel / 10'000'000) * multiplier;
      job.primary = static_cast<int>(rng.Uniform(o.executors));
      job.coalition_draw = rng.UniformDouble();
      jobs_.push_back(job);
    }
  }

  Result Run(SimMode mode) {
    for (Executor& e : executors_) {
      e.successes = 0;
      e.failures = 0;
    }
    mesh::SeededRng rng(o_.seed ^ 0x5eed);
    Result r;
    for (size_t j = 0; j < jobs_.size(); ++j) {
      const Job& job = jobs_[j];
      int replicas = 1;
      if (mode == SimMode::kReplicate3) replicas = 3;
      if (mode == SimMode::kAdaptive) {
        const Executor& p = executors_[job.primary];
        const auto plan = mesh::verify::PlanAdaptive({.executor_reputation = Reputation(p),
                                                      .verified_results = p.successes,
                                                      .job_value = job.value},
                                                     o_.policy);
        replicas = plan.replicas;
        ++r.tiers[std::min(plan.replicas, 4) - 1];
        if (mesh::verify::ShouldSpotCheck(plan, rng.UniformDouble())) {
          replicas = 2;
          ++r.spot_checks;
        } else if (replicas == 1 && p.liar) {
          ++r.liar_jobs_alone;
        }
      }
      RunJob(j, job, replicas, mode == SimMode::kAdaptive, rng, r);
    }
    return r;
  }

 private:
  double Reputation(const Executor& e) const {
    return e.successes / (e.successes + 1.0 + o_.penalty * e.failures);
  }

  std::string Output(size_t j, const Job& job, int e, mesh::Rng& rng) const {
    if (!executors_[e].liar) return "bafy-ok";
    if (s_.collude) {
      return job.coalition_draw < s_.lie_rate ? "bafy-wrong" : "bafy-ok";
    }
    return rng.UniformDouble() < s_.lie_rate ? "bafy-wrong-" + std::to_string(e) : "bafy-ok";
  }

  void RunJob(size_t j, const Job& job, int replicas, bool learn, mesh::Rng& rng, Result& r) {
    std::vector<int> chosen = {job.primary};
    std::vector<mesh::verify::Vote> votes;
    auto add = [&](int n) {
      for (int i = 0; i < n; ++i) {
        int e;
        do {
          e = static_cast<int>(rng.Uniform(o_.executors));
        } while (std::find(chosen.begin(), chosen.end(), e) != chosen.end());
        chosen.push_back(e);
      }
    };
    add(replicas - 1);
    for (int e : chosen) votes.push_back({executors_[e].did, Output(j, job, e, rng), job.fuel});
    if (replicas == 1) {
      r.fuel += job.fuel;
      ++r.replicas;
      r.wrong += votes[0].output != "bafy-ok";
      return;
    }
    int k = replicas;
    while (true) {
      auto d = mesh::verify::DecideQuorum(votes, {.replicas = k, .max_replicas = o_.max_replicas});
      if (!d.ok()) std::abort();
      if (d->outcome == mesh::verify::QuorumOutcome::kNeedMoreReplicas) {
        const size_t before = chosen.size();
        add(d->replicas_to_add);
        for (size_t i = before; i < chosen.size(); ++i) {
          votes.push_back({executors_[chosen[i]].did, Output(j, job, chosen[i], rng), job.fuel});
        }
        k += d->replicas_to_add;
        continue;
      }
      r.fuel += static_cast<long double>(job.fuel) * votes.size();
      r.replicas += votes.size();
      if (d->outcome != mesh::verify::QuorumOutcome::kAgreed) {
        ++r.undecided;
        return;
      }
      r.wrong += d->output != "bafy-ok";
      if (learn) {
        for (const std::string& did : d->agreeing) {
          Executor& e = ByDid(did);
          ++e.successes;
          e.failures *= o_.decay;
        }
        for (const auto& loser : d->outvoted) {
          Executor& e = ByDid(loser.executor);
          e.failures += 1;
          if (!e.liar) ++r.honest_outvoted;
        }
      }
      return;
    }
  }

  Executor& ByDid(const std::string& did) {
    return executors_[std::strtoul(did.c_str() + std::strlen("did:key:e"), nullptr, 10)];
  }

  const Options& o_;
  Scenario s_;
  std::vector<Executor> executors_;
  std::vector<Job> jobs_;
};

void MarketBench(const Options& o, mesh::bench::Report& report) {
  const Scenario scenarios[] = {
      {"liars always lie, colluding (same wrong output)", 1.0, true, "liars always lie, colluding"},
      {"liars always lie, independently (each its own wrong output)", 1.0, false,
       "liars always lie, independently"},
      {"liars lie on 10% of their jobs, colluding", 0.1, true,
       "liars lie on 10% of jobs, colluding"},
  };
  std::printf(
      "\n(b) %d executors, %.1f%% liars, %d jobs (fuel log-uniform 1e8..1e10; value ~ fuel, 8%% "
      "x20, 2%% x1000), seed %llu\n",
      o.executors, o.liars * 100, o.jobs, static_cast<unsigned long long>(o.seed));
  for (const Scenario& s : scenarios) {
    Simulation sim(o, s);
    std::printf("\n  %s\n", s.name);
    std::printf("  %-14s %12s %10s %12s %14s %10s %11s\n", "mode", "wrong", "wrong %", "undecided",
                "fuel (1e12)", "vs none", "replicas/job");
    Result results[3];
    for (SimMode mode : {SimMode::kNone, SimMode::kReplicate3, SimMode::kAdaptive}) {
      const Result r = sim.Run(mode);
      results[static_cast<int>(mode)] = r;
      std::printf("  %-14s %12llu %9.4f%% %12llu %14.2f %9.2fx %11.2f\n", SimModeName(mode),
                  static_cast<unsigned long long>(r.wrong), 100.0 * r.wrong / o.jobs,
                  static_cast<unsigned long long>(r.undecided), static_cast<double>(r.fuel / 1e12),
                  static_cast<double>(r.fuel / results[0].fuel),
                  static_cast<double>(r.replicas) / o.jobs);
    }
    const Result& a = results[2];
    // The goal, as two records: wrong results accepted (baseline: replicate(3)'s), and fuel
    // (baseline: none's).
    report.Add(
        {.figure = std::string("adaptive, wrong results accepted (baseline: replicate(3)), ") +
                   s.short_name,
         .value = static_cast<double>(a.wrong),
         .unit = "jobs",
         .baseline = static_cast<double>(results[1].wrong),
         .ratio = mesh::bench::RatioOf(static_cast<double>(a.wrong),
                                       static_cast<double>(results[1].wrong)),
         .goal = mesh::bench::Goal().ValueAtMost(static_cast<double>(results[1].wrong))});
    report.Add(
        {.figure = std::string("adaptive, fuel (baseline: no verification), ") + s.short_name,
         .value = static_cast<double>(a.fuel / 1e12),
         .unit = "Tfuel",  // 10^12 units of fuel
         .baseline = static_cast<double>(results[0].fuel / 1e12),
         .ratio = static_cast<double>(a.fuel / results[0].fuel),
         .goal = mesh::bench::Goal().RatioAtMost(1.5)});
    std::printf(
        "  adaptive plans: %llu alone (of which %llu spot-checked), %llu x2, %llu x3; liars ran "
        "%llu jobs alone unchecked; honest executors outvoted %llu times\n",
        static_cast<unsigned long long>(a.tiers[0]), static_cast<unsigned long long>(a.spot_checks),
        static_cast<unsigned long long>(a.tiers[1]), static_cast<unsigned long long>(a.tiers[2]),
        static_cast<unsigned long long>(a.liar_jobs_alone),
        static_cast<unsigned long long>(a.honest_outvoted));
    const bool wrong_ok = a.wrong <= results[1].wrong;
    const double ratio = static_cast<double>(a.fuel / results[0].fuel);
    std::printf(
        "  goal (adaptive wrong <= replicate(3) wrong, fuel <= 1.5x none): %s (%llu <= "
        "%llu: %s; %.2fx: %s)\n",
        wrong_ok && ratio <= 1.5 ? "MET" : "MISSED", static_cast<unsigned long long>(a.wrong),
        static_cast<unsigned long long>(results[1].wrong), wrong_ok ? "yes" : "no", ratio,
        ratio <= 1.5 ? "yes" : "no");
  }
}

}  // namespace

int main(int argc, char** argv) {
  // --short changes nothing: the whole bench takes ~2 s.
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) {
    std::fprintf(stderr, "verify_bench: %s\n", error.c_str());
    return 2;
  }
  const Options o = ParseArgs(argc, argv);
  std::printf("verify_bench");
  for (int i = 1; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf("\n\n");
  mesh::bench::Report report("verify_bench");
  MerkleBench(o, report);
  MarketBench(o, report);
  std::printf("\nfigures and goals:\n%s", report.Text().c_str());
  if (absl::Status s = report.Write(common.json); !s.ok()) {
    std::fprintf(stderr, "verify_bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
