// Shared fixtures for the sched tests: an announcement, a bid that satisfies it, and this
// node's capacity. Test-only.
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "mesh/job/market.h"
#include "mesh/sched/bidding.h"
#include "mesh/sched/selection.h"

namespace mesh::sched::testing {

inline const absl::Time kNow = absl::FromUnixMillis(1700000000000);
inline const std::string kJob = "bafkreijob";

// Whether `text` contains `part` (the sched tests' messages and reasons).
inline bool Has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A did:key-shaped name: "did:key:z6Mk" and 44 copies of `c`.
inline std::string Did(char c) { return "did:key:z6Mk" + std::string(44, c); }

inline job::Announce MakeAnnounce() {
  job::Announce a;
  a.job_id = kJob;
  a.origin = Did('o');
  a.round = 1;
  a.fuel = 1'000'000'000;
  a.memory_bytes = 256 << 20;
  a.module_bytes = 100 << 10;
  a.bid_deadline_ms = absl::ToUnixMillis(kNow + absl::Seconds(1));
  return a;
}

inline BidView MakeBid(const std::string& executor, uint64_t price) {
  BidView v;
  v.bid.job_id = kJob;
  v.bid.round = 1;
  v.bid.executor = executor;
  v.bid.executor_address = "10.0.0.9:7000";
  v.bid.base_fee = 1;
  v.bid.rate_per_gfuel = 10;
  v.bid.price = price;
  v.bid.cpu_cores = 4;
  v.bid.memory_bytes = 1ull << 30;
  v.bid.storage_bytes = 10ull << 30;
  v.bid.capabilities = {"gpu", "avx2"};
  v.bid.federations = {"lab"};
  v.bid.expected_start_ms = absl::ToUnixMillis(kNow);
  v.bid.valid_until_ms = absl::ToUnixMillis(kNow + absl::Seconds(30));
  v.bid_cid = "bafkreibid-" + executor.substr(executor.size() - 1);
  v.reputation = 0.8;
  v.rtt = absl::Milliseconds(10);
  v.known_peer = true;
  return v;
}

inline LocalCapacity MakeLocal() {
  LocalCapacity local;
  local.did = Did('l');
  local.address = "10.0.0.2:7000";
  local.cpu_cores = 8;
  local.memory_bytes = 1ull << 30;
  local.storage_free = 10ull << 30;
  local.max_concurrent = 2;
  local.capabilities = {"gpu"};
  local.federations = {"lab"};
  return local;
}

}  // namespace mesh::sched::testing
