// MarketHarness's private parts, shared by its two source files (market_harness.cc: nodes,
// membership and the event loop; market_harness_shell.cc: carrying out the actions). Test-only;
// not a public header.
#pragma once

#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "mesh/common/strings.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/ledger/ledger_book.h"
#include "mesh/verify/verification_policy.h"
#include "testing/market_harness.h"

namespace mesh::market::testing {

// The book's terms: the network fee the trust view quotes is the one the book charges.
inline ledger::BookOptions BookOptionsOf(const HarnessOptions& options) {
  ledger::BookOptions book;
  book.network_fee_bps = options.fee_bps;
  book.network_fee_flat = 1;
  return book;
}

// A reputation book in plain maps, updated by the market's RecordStanding actions.
class FakeTrust final : public TrustView {
 public:
  explicit FakeTrust(const HarnessOptions& options) : options_(options) {}

  ExecutorStanding Standing(const std::string& did) const override {
    auto it = book_.find(did);
    return it == book_.end() ? ExecutorStanding{} : it->second;
  }
  int64_t MaxPrice(const job::JobSpec& spec) const override {
    return MaxPriceOf(spec, options_.default_max_price);
  }
  int64_t NetworkFee(int64_t price) const override {
    return ledger::NetworkFee(BookOptionsOf(options_), price);
  }
  int EscrowReplicas(const job::JobSpec& spec) const override {
    absl::StatusOr<verify::Verification> v = verify::ParseVerification(spec.verification);
    return v.ok() ? verify::EscrowReplicas(*v, Adaptive()) : 1;
  }
  verify::AdaptivePolicy Adaptive() const override { return {}; }
  int MaxReplicas() const override { return verify::kMaxReplicas; }

  void Record(const std::string& did, market::Standing event) {
    ExecutorStanding& s = book_[did];
    s.is_new = false;
    int& good = good_[did];
    int& bad = bad_[did];
    if (event == market::Standing::kSuccess) {
      ++good;
      ++s.verified_results;
    } else {
      ++bad;
    }
    s.score = static_cast<double>(good + 1) / (good + bad + 2);
  }

 private:
  const HarnessOptions& options_;
  std::map<std::string, ExecutorStanding> book_;
  std::map<std::string, int> good_, bad_;
};

inline std::string Hex32(uint64_t n) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%032llx", static_cast<unsigned long long>(n));
  return buf;
}

inline const char* StandingName(market::Standing s) {
  switch (s) {
    case market::Standing::kSuccess:
      return "success";
    case market::Standing::kFailure:
      return "failure";
    case market::Standing::kTimeout:
      return "timeout";
    case market::Standing::kOutvoted:
      return "outvoted";
  }
  return "?";
}

inline std::string InputName(const Input& input) {
  static constexpr const char* kNames[] = {
      "received",   "send_result",   "fetch_result",   "timer_fired", "capacity",   "peer",
      "job_handed", "job_cancelled", "local_progress", "artifact",    "local_ended"};
  return kNames[input.index()];
}

// ---- Node ---------------------------------------------------------------------------------

struct MarketHarness::Node {
  struct Active {
    RunHere run;
    bool running = false;
    size_t log = 0;  // index in runs
  };

  Node(int index, NodeConfig config, const HarnessOptions& options)
      : index(index),
        config(std::move(config)),
        key(*crypto::KeyPair::FromSeed(Seed(options.seed, index))),
        did(key.did().ToString()),
        address(mesh::StrCat("node", index, ".test:7000")),
        trust(options) {}

  static std::string Seed(uint64_t seed, int index) {
    std::string s = mesh::StrCat("harness-", seed, "-", index);
    s.resize(crypto::kSeedSize, '.');
    return s;
  }

  int index;
  NodeConfig config;
  crypto::KeyPair key;
  std::string did, address;
  FakeTrust trust;
  std::unique_ptr<SeededRng> rng;
  std::unique_ptr<Market> market;
  bool alive = true;
  bool cut = false;
  uint64_t incarnation = 0;  // bumped by Kill and Restart: events of an earlier one are dropped
  uint64_t cut_generation = 0;
  int starts = 0;
  uint64_t timer_generation = 0;
  std::optional<absl::Time> timer;
  std::set<std::string> blobs;
  std::map<std::string, Active> active;  // runs here, queued or running, by job id
  std::deque<std::string> waiting;       // queued, in order
  uint32_t running = 0;
  // How each job run here ended (the compute service's store): a job is run once per node.
  std::map<std::string, LocalRunEnd> ended;
  std::vector<RunHere> lost;  // runs a crash cut short: they end with the restart
  std::vector<RunLog> runs;
  std::map<std::string, std::vector<Standing>> standings;
  std::vector<Publish> published;
  std::map<std::string, std::string> refused_modules;
};

}  // namespace mesh::market::testing
