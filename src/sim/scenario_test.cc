#include "mesh/sim/scenario.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mesh::sim {
namespace {

using ::testing::HasSubstr;

TEST(ScenarioTest, AnEmptyFileIsTheBaseline) {
  absl::StatusOr<Scenario> s = ParseScenario("", "empty.toml");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->nodes, 100u);
  EXPECT_EQ(s->workload.verification.at("hash"), 1.0);
}

TEST(ScenarioTest, EveryKeyIsRead) {
  absl::StatusOr<Scenario> s = ParseScenario(R"toml(
name = "x"
seed = 9
nodes = 50
jobs = 70
sign_messages = true
[network]
regions = ["eu", "us"]
latency_ms = [[5, 40], [40, 5]]
loss = 0.01
[[network.partition]]
start_s = 10
end_s = 20
regions = ["us"]
[membership]
active_size = 4
passive_size = 20
[node]
min_slots = 2
max_slots = 2
[churn]
crashes = 0.2
[adversaries]
liars = 0.1
[workload]
arrival = "burst"
fuel = { median = 1e9, sigma = 0.5 }
verification = { hash = 3, "replicate(3)" = 1 }
split = { share = 0.1, chunks = 8 }
[market]
enough_bids = 4
beyond_fanout = 2
)toml",
                                             "x.toml");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->seed, 9u);
  EXPECT_TRUE(s->sign_messages);
  EXPECT_EQ(s->network.partitions.size(), 1u);
  EXPECT_EQ(s->membership.active_size, 4u);
  EXPECT_EQ(s->node.min_slots, 2u);
  EXPECT_DOUBLE_EQ(s->adversaries.liars, 0.1);
  EXPECT_DOUBLE_EQ(s->workload.fuel.median, 1e9);
  EXPECT_DOUBLE_EQ(s->workload.verification.at("replicate(3)"), 1);
  EXPECT_EQ(s->enough_bids, 4u);
  EXPECT_DOUBLE_EQ(s->workload.split_share, 0.1);
  EXPECT_EQ(s->workload.split_chunks, 8u);
  EXPECT_EQ(s->beyond_fanout, 2);
}

TEST(ScenarioTest, BadFilesNameTheFileTheKeyAndTheReason) {
  auto error = [](std::string_view text) {
    absl::StatusOr<Scenario> s = ParseScenario(text, "bad.toml");
    EXPECT_FALSE(s.ok()) << text;
    return s.ok() ? std::string() : std::string(s.status().message());
  };
  EXPECT_THAT(error("nodez = 3"), HasSubstr("bad.toml: nodez is not a known setting"));
  EXPECT_THAT(error("[churn]\ncrashes = -1"), HasSubstr("bad.toml: churn.crashes must be"));
  EXPECT_THAT(error("nodes = \"many\""), HasSubstr("nodes must be an integer"));
  EXPECT_THAT(error("[workload]\narrival = \"weekly\""), HasSubstr("workload.arrival"));
  EXPECT_THAT(error("[workload]\nverification = \"quorum\""), HasSubstr("workload.verification"));
  EXPECT_THAT(error("nodes = 10\n[adversaries]\nliars = 0.6\nstallers = 0.5"),
              HasSubstr("more adversaries than nodes"));
  EXPECT_THAT(error("nodes = 10\n[adversaries]\nliars = 0.96"), HasSubstr("no honest node"));
  EXPECT_THAT(error("nodes = 4\n[membership]\nactive_size = 5"),
              HasSubstr("membership.active_size"));
  EXPECT_THAT(error("[network]\nregions = [\"a\", \"b\"]"), HasSubstr("network.latency_ms"));
  EXPECT_THAT(error("[[network.partition]]\nstart_s = 5\nend_s = 9\nregions = [\"mars\"]"),
              HasSubstr("unknown region \"mars\""));
  EXPECT_THAT(error("[membership]\npassive_walk = 9"), HasSubstr("passive_walk"));
  EXPECT_THAT(error("[market]\nlease_s = -1"), HasSubstr("market.lease_s"));
  EXPECT_THAT(error("[market]\nbeyond_fanout = 65"), HasSubstr("market.beyond_fanout"));
  EXPECT_THAT(error("[workload]\nsplit = { share = 1.5 }"), HasSubstr("workload.split.share"));
  EXPECT_THAT(error("[workload]\nsplit = { share = 0.1, chunks = 1 }"),
              HasSubstr("workload.split.chunks"));
  EXPECT_THAT(error("[workload]\nsplit = { share = 0.1, parts = 3 }"),
              HasSubstr("workload.split.parts"));
  EXPECT_THAT(error("[workload]\nsplit = 0.1"), HasSubstr("workload.split"));
  EXPECT_THAT(error("seed = "), HasSubstr("bad.toml:1:"));
  // Jobs asking what nobody offers could never run.
  EXPECT_THAT(error("[workload]\nrequire = { gpu = 0.1 }"),
              HasSubstr("bad.toml: workload.require.gpu is a capability no node offers"));
  EXPECT_THAT(error("[node]\nfederations = { lab = 0.5, x = 0.5 }\n[workload]\nfederation = { "
                    "lab = 0.7, x = 0.6 }"),
              HasSubstr("workload.federation shares add up to more than 1"));
  EXPECT_THAT(error("[node]\nfederations = { lab = 1 }\n[workload]\nfederation = { lab = 1.5 }"),
              HasSubstr("workload.federation.lab must be a number from 0 to 1"));
  EXPECT_THAT(error("[node]\ncapabilities = { \"a b\" = 0.5 }"),
              HasSubstr("node.capabilities.a b is not a valid name"));
}

TEST(ScenarioTest, TheMemoryEstimateGrowsWithNodesAndJobs) {
  Scenario small, large;
  large.nodes = 100'000;
  large.jobs = 1'000'000;
  EXPECT_GT(EstimateBytes(large), 100 * EstimateBytes(small) / 10);
  EXPECT_LT(EstimateBytes(large), uint64_t(16) << 30);
  // Split jobs are many jobs each.
  Scenario split = small;
  split.workload.split_share = 0.5;
  split.workload.split_chunks = 20;
  EXPECT_GT(EstimateBytes(split), EstimateBytes(small) + small.jobs * 10 * (8 << 10));
}

}  // namespace
}  // namespace mesh::sim
