#include <gtest/gtest.h>

#include "mesh/common/testing.h"
#include "mesh/sched/bidding.h"
#include "sched_test_util.h"

namespace mesh::sched {
namespace {

using testing::Has;
using testing::MakeLocal;

TEST(PlacementTest, ComplexityGrowsWithFuelFirst) {
  EXPECT_EQ(ComplexityScore(0, 0, 0), 0.0);
  EXPECT_EQ(ComplexityScore(1ull << 40, 1ull << 50, 1ull << 40), 1.0);
  EXPECT_LT(ComplexityScore(20 << 10, 1'000'000, 100), 0.05);  // a tiny job
  EXPECT_GE(ComplexityScore(0, 1'000'000'000'000, 0), 0.9);    // fuel alone can reach 0.9
  EXPECT_LT(ComplexityScore(64 << 20, 0, 4ull << 30), 0.2);    // size alone cannot
  double last = 0;
  for (uint64_t fuel = 1; fuel < (1ull << 50); fuel *= 4) {
    const double score = ComplexityScore(1 << 20, fuel, 1 << 20);
    EXPECT_GE(score, last);
    EXPECT_LE(score, 1.0);
    last = score;
  }
  EXPECT_GT(ComplexityScore(1 << 20, 1'000'000'000, 1 << 30),
            ComplexityScore(1 << 20, 1'000'000'000, 1 << 20));
}

TEST(PlacementTest, ModesParseByName) {
  for (PlacementMode mode : {PlacementMode::kAuto, PlacementMode::kLocal, PlacementMode::kRemote}) {
    ASSERT_OK_AND_ASSIGN(PlacementMode parsed, ParsePlacementMode(PlacementModeName(mode)));
    EXPECT_EQ(parsed, mode);
  }
  absl::StatusOr<PlacementMode> bad = ParsePlacementMode("cloud");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      Has(std::string(bad.status().message()), "'cloud' is not one of auto, local, remote"));
}

struct PlaceCase {
  std::string name;
  PlacementMode mode = PlacementMode::kAuto;
  double complexity = 0.1;
  size_t live_peers = 3;
  uint32_t running = 1;
  uint64_t memory = 256 << 20;  // the job's memory limit; this node takes 1 GiB
  bool execute_locally = true;
  bool draining = false;
  bool local;
  std::string reason;
};

TEST(PlacementTest, PlaceExplainsItsChoice) {
  const std::vector<PlaceCase> cases = {
      {.name = "free slot",
       .local = true,
       .reason = "local: free slot (1 of 2 running), complexity 0.10"},
      {.name = "heavy",
       .complexity = 0.95,
       .local = false,
       .reason = "remote: complexity 0.95 >= 0.90; 3 live peers"},
      {.name = "heavy, alone",
       .complexity = 0.95,
       .live_peers = 0,
       .local = true,
       .reason = "local: free slot (1 of 2 running), complexity 0.95 but no live peers"},
      {.name = "busy",
       .running = 2,
       .local = false,
       .reason = "remote: no free slot (2 of 2 running); 3 live peers"},
      {.name = "busy, alone",
       .live_peers = 0,
       .running = 2,
       .local = true,
       .reason = "local: no free slot (2 of 2 running) and no live peers; queued here"},
      {.name = "draining",
       .draining = true,
       .local = false,
       .reason = "remote: this node is draining; 3 live peers"},
      {.name = "too big here",
       .memory = 2ull << 30,
       .local = false,
       .reason = "remote: this node cannot run it: memory 2 GiB required, 1 GiB here; 3 live"},
      {.name = "too big, alone",
       .live_peers = 0,
       .memory = 2ull << 30,
       .local = false,
       .reason = "waiting for peers (none live)"},
      {.name = "never local",
       .execute_locally = false,
       .local = false,
       .reason = "remote: this node does not run its own jobs (execute_locally is off); 3 live"},
      {.name = "never local, alone",
       .live_peers = 0,
       .execute_locally = false,
       .local = false,
       .reason = "waiting for peers (none live)"},
      {.name = "forced local",
       .mode = PlacementMode::kLocal,
       .complexity = 0.99,
       .running = 2,
       .local = true,
       .reason = "local: placement is local (2 of 2 running)"},
      {.name = "forced local, too big",
       .mode = PlacementMode::kLocal,
       .memory = 2ull << 30,
       .local = true,
       .reason = "local: placement is local, although memory 2 GiB required"},
      {.name = "forced remote",
       .mode = PlacementMode::kRemote,
       .local = false,
       .reason = "remote: placement is remote (3 live peers)"},
      {.name = "forced remote, alone",
       .mode = PlacementMode::kRemote,
       .live_peers = 0,
       .local = false,
       .reason = "remote: placement is remote; waiting for peers (none live)"},
  };
  for (const PlaceCase& c : cases) {
    LocalCapacity local = MakeLocal();
    local.running = c.running;
    local.draining = c.draining;
    PlacementPolicy policy;
    policy.execute_locally = c.execute_locally;
    const Placement p =
        Place(c.mode, job::Requirements(), c.memory, c.complexity, local, c.live_peers, policy);
    EXPECT_EQ(p.local, c.local) << c.name << ": " << p.reason;
    EXPECT_TRUE(Has(p.reason, c.reason)) << c.name << ": " << p.reason;
  }
}

TEST(PlacementTest, RequirementsThisNodeCannotMeetGoToTheMarket) {
  const LocalCapacity local = MakeLocal();
  job::Requirements gpu_cluster;
  gpu_cluster.capabilities = {"gpu", "infiniband"};
  Placement p = Place(PlacementMode::kAuto, gpu_cluster, 0, 0.1, local, 2, PlacementPolicy());
  EXPECT_FALSE(p.local);
  EXPECT_TRUE(Has(p.reason, "capability 'infiniband' is not offered here")) << p.reason;

  job::Requirements cores;
  cores.cpu_cores = 64;
  p = Place(PlacementMode::kAuto, cores, 0, 0.1, local, 2, PlacementPolicy());
  EXPECT_FALSE(p.local);
  EXPECT_TRUE(Has(p.reason, "64 cpu cores required, 8 here")) << p.reason;

  job::Requirements federation;
  federation.federations = {"eu"};
  p = Place(PlacementMode::kAuto, federation, 0, 0.1, local, 2, PlacementPolicy());
  EXPECT_FALSE(p.local);
  federation.federations = {"eu", "lab"};
  EXPECT_TRUE(Place(PlacementMode::kAuto, federation, 0, 0.1, local, 2, PlacementPolicy()).local);
}

}  // namespace
}  // namespace mesh::sched
