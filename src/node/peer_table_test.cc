#include "mesh/node/peer_table.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "mesh/common/file_util.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/node/replay_guard.h"

namespace mesh::node {
namespace {

class PeerTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("peer-table-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path path() const { return dir_ / "peers.json"; }

  job::Heartbeat Beat(const std::string& did, const std::string& address, uint32_t running = 0) {
    job::Heartbeat hb;
    hb.node = did;
    hb.address = address;
    hb.max_concurrent = 2;
    hb.running = running;
    return hb;
  }

  std::filesystem::path dir_;
  const absl::Time t0_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(PeerTableTest, ABootstrapAddressLearnsItsDidFromTheFirstHeartbeat) {
  ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
  table->AddAddress("10.0.0.2:7421");
  ASSERT_EQ(table->All().size(), 1u);
  EXPECT_EQ(table->All()[0].state, PeerState::kUnknown);
  EXPECT_EQ(table->Unresolved(), std::vector<std::string>{"10.0.0.2:7421"});
  EXPECT_TRUE(table->Heard(Beat("did:key:b", "10.0.0.2:7421"), t0_, absl::Milliseconds(2)));
  ASSERT_EQ(table->All().size(), 1u) << "the address and the DID are one peer";
  EXPECT_EQ(table->All()[0].did, "did:key:b");
  EXPECT_TRUE(table->Unresolved().empty());
  EXPECT_EQ(table->alive_count(), 0u) << "alive means in the active view: membership says so";
  // A stranger's heartbeat is not recorded: the table holds the views, not whoever writes.
  EXPECT_FALSE(table->Heard(Beat("did:key:x", "10.0.0.9:7421"), t0_, std::nullopt));
  EXPECT_EQ(table->All().size(), 1u);
}

TEST_F(PeerTableTest, TheTableMirrorsTheMembershipViewsAndStaysBounded) {
  ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
  table->AddAddress("boot:1");
  table->SetViews({{"did:key:b", "b:1"}}, {{"did:key:c", "c:1"}, {"did:key:d", "d:1"}}, t0_);
  EXPECT_EQ(table->Find("did:key:b")->state, PeerState::kAlive);
  EXPECT_EQ(table->Find("did:key:c")->state, PeerState::kPassive);
  // The market's Directory: the passive view, never the active one or a bare address.
  const std::vector<market::KnownNode> beyond = table->Passive();
  ASSERT_EQ(beyond.size(), 2u);
  EXPECT_EQ(beyond[0].did, "did:key:c");
  EXPECT_EQ(beyond[0].address, "c:1");
  EXPECT_EQ(beyond[1].did, "did:key:d");
  EXPECT_EQ(table->alive_count(), 0u) << "active, but its capacity is not known yet";
  ASSERT_TRUE(table->Heard(Beat("did:key:b", "b:1", 1), t0_, std::nullopt));
  EXPECT_EQ(table->Find("did:key:b")->heartbeat.running, 1u);
  EXPECT_EQ(table->alive_count(), 1u);
  // b is demoted (its load is no longer followed), c promoted, d forgotten; the bootstrap
  // address without a DID stays until it answers.
  table->SetViews({{"did:key:c", "c:1"}}, {{"did:key:b", "b:1"}}, t0_);
  EXPECT_EQ(table->Find("did:key:c")->state, PeerState::kAlive);
  EXPECT_EQ(table->Find("did:key:b")->state, PeerState::kPassive);
  EXPECT_EQ(table->Find("did:key:b")->heartbeat.max_concurrent, 0u);
  EXPECT_FALSE(table->Find("did:key:d").has_value());
  EXPECT_EQ(table->All().size(), 3u);
  EXPECT_EQ(table->Unresolved(), std::vector<std::string>{"boot:1"});
  // However many nodes pass through the views, the table holds the views.
  for (int i = 0; i < 1000; ++i) {
    const std::string did = mesh::StrCat("did:key:n", i);
    table->SetViews({{did, mesh::StrCat("n:", i)}}, {}, t0_);
  }
  EXPECT_EQ(table->All().size(), 2u);
}

TEST_F(PeerTableTest, OurselvesAndKnownAddressesAreNotAdded) {
  ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
  table->AddAddress("a:1", "did:key:self");
  table->Heard(Beat("did:key:self", "a:1"), t0_, std::nullopt);
  EXPECT_TRUE(table->All().empty());
  table->AddAddress("b:1", "did:key:b");
  table->AddAddress("b:1", "did:key:b");
  EXPECT_EQ(table->All().size(), 1u);
}

TEST_F(PeerTableTest, RoundTripTimeIsSmoothed) {
  ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
  table->SetViews({{"did:key:b", "b:1"}}, {}, t0_);
  table->Heard(Beat("did:key:b", "b:1"), t0_, absl::Milliseconds(8));
  table->Heard(Beat("did:key:b", "b:1"), t0_, absl::Milliseconds(16));
  ASSERT_TRUE(table->Find("did:key:b")->rtt.has_value());
  EXPECT_EQ(*table->Find("did:key:b")->rtt, absl::Milliseconds(9));  // (7 * 8 + 16) / 8
}

TEST_F(PeerTableTest, TheTableSurvivesARestartAndADamagedFileIsSetAside) {
  {
    ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
    table->SetViews({{"did:key:b", "b:1"}}, {}, t0_);
    table->AddAddress("c:1");
    ASSERT_OK(table->Save());
  }
  {
    ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
    ASSERT_EQ(table->All().size(), 2u);
    EXPECT_EQ(table->Find("did:key:b")->address, "b:1");
    EXPECT_EQ(table->alive_count(), 0u) << "liveness is learned again, not restored";
    EXPECT_EQ(table->Contacts().size(), 1u) << "the saved DIDs seed the membership";
  }
  ASSERT_OK(WriteFileAtomically(path(), "{not json", 0600, true));
  ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
  EXPECT_TRUE(table->All().empty());
  EXPECT_TRUE(std::filesystem::exists(dir_ / "peers.json.damaged"));
}

TEST(ReplayGuardTest, RefusesStaleFutureAndRepeatedMessages) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  ReplayGuard guard(absl::Minutes(2));
  job::MessageHeader h{absl::ToUnixMillis(now), std::string(32, 'a')};
  ASSERT_OK(guard.Check(h, now));
  EXPECT_TRUE(absl::IsAlreadyExists(guard.Check(h, now + absl::Seconds(1))));
  job::MessageHeader old{absl::ToUnixMillis(now - absl::Minutes(3)), std::string(32, 'b')};
  EXPECT_TRUE(absl::IsFailedPrecondition(guard.Check(old, now)));
  job::MessageHeader future{absl::ToUnixMillis(now + absl::Minutes(3)), std::string(32, 'c')};
  EXPECT_TRUE(absl::IsFailedPrecondition(guard.Check(future, now)));
  // Nonces are forgotten once their message could no longer pass the age check.
  for (int i = 0; i < 100; ++i) {
    job::MessageHeader m{absl::ToUnixMillis(now),
                         std::string(31, 'd') + char('0' + i % 10) + std::to_string(i)};
    ASSERT_OK(guard.Check(m, now));
  }
  job::MessageHeader later{absl::ToUnixMillis(now + absl::Minutes(5)), std::string(32, 'e')};
  ASSERT_OK(guard.Check(later, now + absl::Minutes(5)));
  EXPECT_EQ(guard.remembered(), 1u);
}

}  // namespace
}  // namespace mesh::node
