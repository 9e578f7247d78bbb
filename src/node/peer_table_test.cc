#include "mesh/node/peer_table.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "mesh/common/file_util.h"
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
  EXPECT_TRUE(table->Heard(Beat("did:key:b", "10.0.0.2:7421"), t0_, absl::Milliseconds(2)));
  ASSERT_EQ(table->All().size(), 1u) << "the address and the DID are one peer";
  EXPECT_EQ(table->All()[0].did, "did:key:b");
  EXPECT_EQ(table->alive_count(), 1u);
  EXPECT_FALSE(table->Heard(Beat("did:key:b", "10.0.0.2:7421"), t0_, std::nullopt));
}

TEST_F(PeerTableTest, SilentPeersDieAndComeBack) {
  ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
  table->Heard(Beat("did:key:b", "b:1"), t0_, std::nullopt);
  table->Heard(Beat("did:key:c", "c:1"), t0_ + absl::Seconds(4), std::nullopt);
  std::vector<std::string> died = table->Sweep(t0_ + absl::Seconds(6), absl::Seconds(5));
  EXPECT_EQ(died, std::vector<std::string>{"did:key:b"});
  EXPECT_EQ(table->alive_count(), 1u);
  EXPECT_TRUE(table->Sweep(t0_ + absl::Seconds(6), absl::Seconds(5)).empty()) << "dies once";
  EXPECT_TRUE(table->Heard(Beat("did:key:b", "b:1"), t0_ + absl::Seconds(7), std::nullopt));
  EXPECT_EQ(table->alive_count(), 2u);
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
  table->Heard(Beat("did:key:b", "b:1"), t0_, absl::Milliseconds(8));
  table->Heard(Beat("did:key:b", "b:1"), t0_, absl::Milliseconds(16));
  ASSERT_TRUE(table->Find("did:key:b")->rtt.has_value());
  EXPECT_EQ(*table->Find("did:key:b")->rtt, absl::Milliseconds(9));  // (7 * 8 + 16) / 8
}

TEST_F(PeerTableTest, TheTableSurvivesARestartAndADamagedFileIsSetAside) {
  {
    ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
    table->Heard(Beat("did:key:b", "b:1"), t0_, std::nullopt);
    table->AddAddress("c:1");
    ASSERT_OK(table->Save());
  }
  {
    ASSERT_OK_AND_ASSIGN(auto table, PeerTable::Open(path(), "did:key:self"));
    ASSERT_EQ(table->All().size(), 2u);
    EXPECT_EQ(table->Find("did:key:b")->address, "b:1");
    EXPECT_EQ(table->alive_count(), 0u) << "liveness is learned again, not restored";
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
