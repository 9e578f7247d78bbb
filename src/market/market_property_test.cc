// A property test of the market core: for a few seeds, 3-5 nodes connected by the harness's
// in-memory network take jobs (plain, replicated, adaptive, and the chunks of split jobs) at
// random times while messages are delayed at random and lost, jobs are cancelled, nodes crash
// and come back (a new Market from what the shell persisted), are cut off and rejoin, and some
// executors lie or stall. Whatever happens:
//   - every job handed to a market ends exactly once (one Finish; the market holds it no more);
//   - no assignment is paid twice, nothing is paid after the refund or beyond the escrow, and
//     every payment is for a receipt in the job's history (never to a staller; never to a
//     liar, and no lie accepted, when the job is replicated);
//   - every escrow is refunded exactly once;
//   - the run is deterministic: the same seed gives the same trace of inputs and actions.
// The seeds below run in ctest; DISABLED_ManySeeds runs as many as asked, by hand.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/rng.h"
#include "testing/market_harness.h"

namespace mesh::market {
namespace {

using ::mesh::market::testing::HarnessOptions;
using ::mesh::market::testing::JobLog;
using ::mesh::market::testing::JobOptions;
using ::mesh::market::testing::MarketHarness;
using ::mesh::market::testing::NodeConfig;
using ::testing::IsEmpty;

struct Outcome {
  uint64_t trace_hash = 0;
  size_t jobs = 0;
  size_t events = 0;
  std::vector<std::string> violations;
  std::map<std::string, int> ends;  // by job state, and "outvoted" for replicas outvoted
};

absl::Duration Millis(Rng& rng, uint64_t from, uint64_t to) {
  return absl::Milliseconds(static_cast<int64_t>(from + rng.Uniform(to - from + 1)));
}

Outcome RunRandomMesh(uint64_t seed) {
  SeededRng rng(seed);
  HarnessOptions options;
  options.seed = seed;
  options.latency = absl::Milliseconds(1);
  options.jitter = absl::Milliseconds(8);
  options.drop_rate = 0.01;
  options.dead_after = absl::Seconds(2);
  options.heartbeat = absl::Milliseconds(500);
  options.keep_trace = std::getenv("MARKET_TRACE") != nullptr;
  MarketHarness h(options);

  const int nodes = 3 + static_cast<int>(rng.Uniform(3));
  std::vector<bool> faulty(nodes, false);
  int faults = 0;
  for (int i = 0; i < nodes; ++i) {
    NodeConfig c;
    c.slots = 1 + static_cast<uint32_t>(rng.Uniform(2));
    c.max_queue = static_cast<uint32_t>(rng.Uniform(3));
    c.run_time = Millis(rng, 30, 300);
    c.base_fee = rng.Uniform(20);
    if (rng.UniformDouble() < 0.3) c.checkpoint_every = Millis(rng, 50, 200);
    c.progress = rng.UniformDouble() < 0.5;
    // At most one liar and one staller, and only on meshes big enough to outvote them.
    if (nodes >= 4 && faults < 2 && rng.UniformDouble() < 0.35) {
      (faults == 0 ? c.liar : c.staller) = true;
      faulty[i] = true;
      ++faults;
    }
    c.market = [](MarketOptions& o) {
      // Deadlines a queued honest executor meets: only faults miss them.
      o.receipt_grace = absl::Seconds(3);
      o.bid_window = absl::Milliseconds(50);
      o.no_bid_retry = absl::Milliseconds(200);
      o.retry.max = absl::Seconds(2);
    };
    h.AddNode(c);
  }

  // Random interleavings: jobs and split jobs, cancellations, crashes and restarts, cuts, for
  // 15 s of virtual time.
  const absl::Time end = h.now() + absl::Seconds(15);
  int job_number = 0;
  while (h.now() < end) {
    h.Advance(Millis(rng, 10, 400));
    const double roll = rng.UniformDouble();
    const int node = static_cast<int>(rng.Uniform(nodes));
    int alive = 0;
    for (int i = 0; i < nodes; ++i) alive += h.alive(i) ? 1 : 0;
    if (roll < 0.45) {
      if (!h.alive(node)) continue;
      JobOptions job;
      job.inputs = {"job " + std::to_string(++job_number)};
      job.wall_time_ms = 1000;
      int honest_others = 0;
      for (int i = 0; i < nodes; ++i) honest_others += (i != node && !faulty[i]) ? 1 : 0;
      const double mode = rng.UniformDouble();
      job.verification = mode < 0.3 ? "none" : "hash";
      if (honest_others >= 3 && mode > 0.7) {
        job.verification = mode > 0.9 ? "replicate(3)" : mode > 0.8 ? "replicate(2)" : "adaptive";
      }
      h.Submit(node, job);
    } else if (roll < 0.52) {
      // The chunks of a split job, handed together: they share one lease.
      if (!h.alive(node)) continue;
      const std::string split = "split " + std::to_string(++job_number);
      const int chunks = 2 + static_cast<int>(rng.Uniform(4));
      for (int c = 0; c < chunks; ++c) {
        JobOptions chunk;
        chunk.inputs = {split + " chunk " + std::to_string(c)};
        chunk.wall_time_ms = 1000;
        chunk.labels = {{std::string(kSplitJobLabel), split},
                        {std::string(kSplitChunkLabel), std::to_string(c)}};
        h.Submit(node, chunk);
      }
    } else if (roll < 0.57) {
      // Its submitter cancels a job, whatever stage it is at.
      std::vector<std::string> open;
      for (const auto& [id, log] : h.jobs()) {
        if (log.finishes.empty() && h.alive(log.submitter)) open.push_back(id);
      }
      if (!open.empty()) {
        const std::string& id = open[rng.Uniform(open.size())];
        h.Inject(h.job(id).submitter, JobCancelled{id});
      }
    } else if (roll < 0.7) {
      if (h.alive(node) && alive > 2) h.Kill(node);
    } else if (roll < 0.85) {
      if (!h.alive(node)) h.Restart(node);
    } else if (roll < 0.95) {
      if (h.alive(node) && alive > 2) h.Cut(node, true);
    } else {
      h.Cut(node, false);
    }
  }
  // Then the weather clears: every node back, nothing lost; every job must end.
  h.set_drop_rate(0);
  for (int i = 0; i < nodes; ++i) {
    h.Cut(i, false);
    if (!h.alive(i)) h.Restart(i);
  }
  const bool all_finished = h.RunUntilAllFinished(absl::Seconds(600));
  h.Advance(absl::Seconds(5));  // late messages still in flight change nothing

  // The properties, as violations (a test expects none).
  std::vector<std::string> violations;
  auto violated = [&](const std::string& id, std::string what) {
    violations.push_back(id.empty() ? what : id.substr(0, 20) + ": " + what);
  };
  if (!all_finished) violated("", "a job was lost (never ended)");
  for (const std::string& a : h.anomalies()) violated("", "anomaly: " + a);
  for (const auto& [id, log] : h.jobs()) {
    if (log.finishes.size() != 1) {
      std::string why = "ended " + std::to_string(log.finishes.size()) + " times";
      if (log.finishes.empty()) {
        const std::vector<Publish> waiting = h.Published(log.submitter, "job.waiting");
        for (auto w = waiting.rbegin(); w != waiting.rend(); ++w) {
          if (w->job_id == id) {
            why += "; waiting: " + w->data.value("reason", "");
            break;
          }
        }
      }
      violated(id, why);
    }
    if (h.market(log.submitter).Holds(id)) violated(id, "its market still holds it");
    if (log.refunds != 1) violated(id, "refunded " + std::to_string(log.refunds) + " times");
    for (const std::string& e : log.escrow_errors) violated(id, "escrow: " + e);
    if (std::optional<ledger::EscrowInfo> escrow = h.book().FindEscrow(id);
        !escrow.has_value() || escrow->open) {
      violated(id, "its escrow is not closed in the book");
    }
    std::set<std::string> assignments;
    for (const Pay& p : log.payments) {
      if (!assignments.insert(p.assignment).second) violated(id, "paid twice: " + p.assignment);
    }
    if (!log.finishes.empty() && log.finishes[0].state == job::JobState::kSucceeded &&
        log.payments.empty()) {
      violated(id, "succeeded and paid nobody");
    }
    // Every payment is for a receipt the history holds: that executor, that round.
    for (const Pay& p : log.payments) {
      bool receipt = false;
      for (const Block* b : log.BlocksOf("receipt")) {
        receipt = receipt || (b->detail.value("executor", "") == p.executor &&
                              p.assignment ==
                                  id + "/" + std::to_string(b->detail.value("round", uint32_t{0})));
      }
      if (!receipt) violated(id, "paid " + p.assignment + " without its receipt");
      const int executor = h.IndexOf(p.executor);
      if (executor >= 0 && h.config(executor).staller) violated(id, "a staller was paid");
      if (executor >= 0 && h.config(executor).liar && log.spec.verification != "none" &&
          log.spec.verification != "hash") {
        violated(id, "a liar was paid for a " + log.spec.verification + " job");
      }
    }
    // Replication keeps the lone liar out: the accepted output is the honest one.
    if (!log.finishes.empty() && log.finishes[0].state == job::JobState::kSucceeded &&
        log.spec.verification != "none" && log.spec.verification != "hash" &&
        log.finishes[0].output_cid != MarketHarness::HonestOutput(log.spec)) {
      violated(id, "a lie was accepted under " + log.spec.verification);
    }
  }
  for (int i = 0; i < nodes; ++i) {
    absl::StatusOr<ledger::Balance> balance = h.book().BalanceOf(h.did(i), h.now());
    if (!balance.ok() || balance->held != 0) {
      violated("", "n" + std::to_string(i) + " still holds credits in escrow");
    }
  }
  if (const char* path = std::getenv("MARKET_TRACE"); path != nullptr && !violations.empty()) {
    // For a post-mortem: every input and action of the run, one a line.
    if (FILE* f = std::fopen(path, "w"); f != nullptr) {
      for (const std::string& line : h.trace()) std::fprintf(f, "%s\n", line.c_str());
      std::fclose(f);
    }
  }
  Outcome outcome;
  outcome.trace_hash = h.TraceHash();
  outcome.jobs = h.jobs().size();
  outcome.events = h.trace_lines();
  outcome.violations = std::move(violations);
  for (const auto& [id, log] : h.jobs()) {
    for (const JobResult& r : log.finishes) ++outcome.ends[std::string(job::JobStateName(r.state))];
  }
  for (int i = 0; i < nodes; ++i) {
    outcome.ends["outvoted"] += static_cast<int>(h.Counted(i, Counter::kOutvoted));
    outcome.ends["executor failures"] += static_cast<int>(h.Counted(i, Counter::kExecutorFailures));
  }
  return outcome;
}

class MarketPropertyTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(MarketPropertyTest, NoJobLostNothingPaidTwiceEveryEscrowClosedOnceAndDeterministic) {
  const Outcome first = RunRandomMesh(GetParam());
  EXPECT_THAT(first.violations, IsEmpty()) << "seed " << GetParam();
  const Outcome second = RunRandomMesh(GetParam());
  EXPECT_GT(first.jobs, 0u);
  EXPECT_EQ(first.trace_hash, second.trace_hash) << "the same seed gave another run";
  // Printed so that two processes can be compared too (hash maps seeded per process must not
  // change the market's decisions).
  std::printf("seed %llu: %zu jobs, %zu trace lines, trace hash %016llx\n",
              static_cast<unsigned long long>(GetParam()), first.jobs, first.events,
              static_cast<unsigned long long>(first.trace_hash));
}

INSTANTIATE_TEST_SUITE_P(Seeds, MarketPropertyTest, ::testing::Values(1, 2, 3, 4, 5, 6));

// More seeds, by hand: MARKET_SEEDS=500 mesh_market_test --gtest_also_run_disabled_tests
// --gtest_filter='*ManySeeds*' (ctest leaves DISABLED_ tests out).
TEST(MarketPropertyStress, DISABLED_ManySeeds) {
  const char* count = std::getenv("MARKET_SEEDS");
  const uint64_t seeds = count != nullptr ? std::strtoull(count, nullptr, 10) : 100;
  size_t failed = 0;
  std::map<std::string, int> ends;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    const Outcome outcome = RunRandomMesh(seed);
    for (const auto& [what, n] : outcome.ends) ends[what] += n;
    if (outcome.violations.empty()) continue;
    ++failed;
    for (const std::string& v : outcome.violations) {
      std::printf("seed %llu: %s\n", static_cast<unsigned long long>(seed), v.c_str());
    }
  }
  std::printf("%zu of %llu seeds broke a property; in all:", failed,
              static_cast<unsigned long long>(seeds));
  for (const auto& [what, n] : ends) std::printf(" %s %d,", what.c_str(), n);
  std::printf("\n");
  EXPECT_EQ(failed, 0u);
}

}  // namespace
}  // namespace mesh::market
