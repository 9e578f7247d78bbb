// Helpers of the market core's scenario tests (market_*_test.cc): what a job's history says,
// the messages of one type the nodes sent, and the books every scenario must leave balanced.
// Test-only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/market_harness.h"

namespace mesh::market::testing {

// The executors a job was assigned to, in order (from its "assigned" blocks).
inline std::vector<std::string> Assigned(const JobLog& log) {
  std::vector<std::string> out;
  for (const Block* b : log.BlocksOf("assigned")) out.push_back(b->detail.value("executor", ""));
  return out;
}

template <typename T>
std::vector<T> SentOf(const MarketHarness& h, std::string_view name) {
  std::vector<T> out;
  for (const job::Message& m : h.Sent(name)) out.push_back(std::get<T>(m));
  return out;
}

// Every job handed ended once, was paid at most once per assignment and had its escrow
// refunded exactly once; the harness saw nothing a correct core never does.
inline void ExpectBooksBalance(const MarketHarness& h) {
  EXPECT_THAT(h.anomalies(), ::testing::IsEmpty());
  for (const auto& [id, log] : h.jobs()) {
    EXPECT_EQ(log.finishes.size(), 1u) << id;
    EXPECT_EQ(log.refunds, 1) << id << ": the escrow is closed once";
    EXPECT_THAT(log.escrow_errors, ::testing::IsEmpty()) << id;
    EXPECT_FALSE(h.market(log.submitter).Holds(id)) << id;
    const std::optional<ledger::EscrowInfo> escrow = h.book().FindEscrow(id);
    ASSERT_TRUE(escrow.has_value()) << id;
    EXPECT_FALSE(escrow->open) << id;
    EXPECT_EQ(escrow->remaining, 0) << id << ": the rest was refunded";
  }
  for (size_t i = 0; i < h.size(); ++i) {
    absl::StatusOr<ledger::Balance> balance = h.book().BalanceOf(h.did(int(i)), h.now());
    ASSERT_TRUE(balance.ok()) << balance.status();
    EXPECT_EQ(balance->held, 0) << "n" << i << " still holds credits in escrow";
  }
}

inline NodeConfig Cheap(NodeConfig c = {}) {
  c.base_fee = 0;
  return c;
}
inline NodeConfig Dear(NodeConfig c = {}) {
  c.base_fee = 50;
  return c;
}

}  // namespace mesh::market::testing
