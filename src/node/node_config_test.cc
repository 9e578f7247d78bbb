#include "mesh/node/node_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"
#include "mesh/node/market_records.h"

namespace mesh::node {
namespace {

using ::testing::HasSubstr;

class NodeConfigTest : public ::testing::Test {
 protected:
  absl::Status Load(const std::string& toml, NodeConfig& config) {
    MESH_RETURN_IF_ERROR(WriteFileAtomically(root_ / "meshd.toml", toml, 0600, true));
    return LoadNodeConfig(root_ / "meshd.toml", config);
  }
  // Why `toml` is refused ("" if it loads).
  std::string LoadError(const std::string& toml) {
    NodeConfig fresh;
    const absl::Status s = Load(toml, fresh);
    return s.ok() ? "" : std::string(s.message());
  }
  ScopedTempDir tmp_;
  const std::filesystem::path root_ = tmp_.path();
};

TEST_F(NodeConfigTest, DefaultFileLoadsToTheDefaults) {
  NodeConfig config;
  ASSERT_OK(Load(DefaultConfigToml(), config));
  NodeConfig defaults;
  EXPECT_EQ(config.listen_host, defaults.listen_host);
  EXPECT_EQ(config.listen_port, kDefaultApiPort);
  EXPECT_EQ(config.default_limits.fuel, defaults.default_limits.fuel);
  EXPECT_EQ(config.default_limits.memory_bytes, defaults.default_limits.memory_bytes);
  EXPECT_EQ(config.default_limits.wall_time, defaults.default_limits.wall_time);
  EXPECT_EQ(config.max_blob_bytes, defaults.max_blob_bytes);
  EXPECT_EQ(config.shutdown_grace, defaults.shutdown_grace);
}

TEST_F(NodeConfigTest, StorageSettingsAreReadAndChecked) {
  NodeConfig config;
  ASSERT_OK(
      Load("[storage]\nquota = \"2GiB\"\nzone = \"rack-7\"\ncode = \"10+4\"\n"
           "segment_size = \"16MiB\"\n",
           config));
  EXPECT_EQ(config.hold_quota_bytes, 2ull << 30);
  EXPECT_EQ(config.zone, "rack-7");
  EXPECT_EQ(config.store.k, 10);
  EXPECT_EQ(config.store.m, 4);
  EXPECT_EQ(config.store.segment_bytes, 16u << 20);
  NodeConfig defaults;
  EXPECT_EQ(defaults.hold_quota_bytes, 1ull << 30);
  EXPECT_EQ(defaults.store.k, 4);
  EXPECT_EQ(defaults.store.m, 2);
  EXPECT_NE(LoadError("[storage]\ncode = \"4-2\"\n").find("storage.code"), std::string::npos);
  EXPECT_NE(LoadError("[storage]\ncode = \"0+2\"\n").find("storage.code"), std::string::npos);
  EXPECT_NE(LoadError("[storage]\nzone = \"a b\"\n").find("storage.zone"), std::string::npos);
  EXPECT_NE(LoadError("[storage]\nsegment_size = \"1KiB\"\n").find("storage.segment_size"),
            std::string::npos);
}

TEST_F(NodeConfigTest, ReadsEverySection) {
  NodeConfig config;
  ASSERT_OK(Load(R"toml(
[api]
listen = "0.0.0.0:9000"
threads = 4
max_json_bytes = 2048
max_blob_bytes = "2MiB"
[compute]
max_concurrent = 3
engine = "interp"
[limits]
fuel = 5000
memory = "8MiB"
wall_time = "1500ms"
[storage]
blob_quota = "1GiB"
[node]
shutdown_grace = "5s"
log_level = "debug"
)toml",
                 config));
  EXPECT_EQ(config.listen_host, "0.0.0.0");
  EXPECT_EQ(config.listen_port, 9000);
  EXPECT_EQ(config.api_threads, 4);
  EXPECT_EQ(config.max_json_bytes, 2048u);
  EXPECT_EQ(config.max_blob_bytes, 2u << 20);
  EXPECT_EQ(config.max_concurrent, 3);
  EXPECT_EQ(config.engine, wasm::EngineKind::kInterp);
  EXPECT_EQ(config.default_limits.fuel, 5000u);
  EXPECT_EQ(config.default_limits.memory_bytes, 8u << 20);
  EXPECT_EQ(config.default_limits.wall_time, absl::Milliseconds(1500));
  EXPECT_EQ(config.blob_quota_bytes, 1ull << 30);
  EXPECT_EQ(config.shutdown_grace, absl::Seconds(5));
  EXPECT_EQ(config.log_level, "debug");
}

TEST_F(NodeConfigTest, ErrorsNameFileKeyAndProblem) {
  struct Case {
    std::string toml;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"[api]\nlisten = \"nowhere\"\n", "api.listen"},
           {"[api]\nthreads = 0\n", "api.threads must be an integer from 1 to 64"},
           {"[compute]\nengine = \"jit\"\n", "compute.engine"},
           {"[limits]\nmemory = \"lots\"\n", "limits.memory"},
           {"[limits]\nfuel = true\n", "limits.fuel must be a byte count"},
           {"[limts]\nfuel = 1\n", "limts is not a known setting"},
           {"[api]\nport = 1\n", "api.port is not a known setting"},
           {"api = 3\n", "api must be a table"},
           {"[api\n", "meshd.toml:"},
           {"[trust]\nnetwork_fee_bps = 20000\n",
            "trust.network_fee_bps must be an integer from 0 to 10000"},
           {"[trust]\ndefault_max_price = 0\n", "trust.default_max_price"},
           {"[trust]\nmax_replicas = 10\n", "trust.max_replicas"},
           {"[trust]\nfee = 1\n", "trust.fee is not a known setting"},
       }) {
    NodeConfig config;
    absl::Status s = Load(c.toml, config);
    EXPECT_FALSE(s.ok()) << c.toml;
    EXPECT_NE(std::string(s.message()).find(c.expected), std::string::npos)
        << c.toml << " -> " << s;
  }
}

TEST_F(NodeConfigTest, ReadsTheTrustSection) {
  NodeConfig config;
  ASSERT_OK(Load(DefaultConfigToml(), config));
  const TrustOptions defaults;
  EXPECT_EQ(config.trust.regen.cap, defaults.regen.cap);
  EXPECT_EQ(config.trust.regen.credits_per_hour, defaults.regen.credits_per_hour);
  EXPECT_EQ(config.trust.network_fee_bps, defaults.network_fee_bps);
  EXPECT_EQ(config.trust.default_max_price, defaults.default_max_price);
  ASSERT_OK(Load(R"toml(
[trust]
credits_per_hour = 5
credit_cap = 50
start_full = false
network_fee_bps = 250
network_fee_flat = 2
default_max_price = 40
submit_fee = 3
max_replicas = 5
)toml",
                 config));
  EXPECT_EQ(config.trust.regen.credits_per_hour, 5);
  EXPECT_EQ(config.trust.regen.cap, 50);
  EXPECT_FALSE(config.trust.regen.start_full);
  EXPECT_EQ(config.trust.network_fee_bps, 250);
  EXPECT_EQ(config.trust.network_fee_flat, 2);
  EXPECT_EQ(config.trust.default_max_price, 40);
  EXPECT_EQ(config.trust.submit_fee, 3);
  EXPECT_EQ(config.trust.max_replicas, 5);
}

TEST_F(NodeConfigTest, ReadsTheMeshHandshakeLimitsAndChecksAllowedPeers) {
  NodeConfig config;
  ASSERT_OK(Load(R"toml(
[mesh]
allowed_peers = ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"]
handshake_timeout = "3s"
max_handshakes = 64
blob_stream = false
blob_port = 7422
)toml",
                 config));
  EXPECT_FALSE(config.mesh.blob_stream);
  EXPECT_EQ(config.mesh.blob_port, 7422);
  ASSERT_EQ(config.mesh.allowed_peers.size(), 1u);
  EXPECT_EQ(config.mesh.handshake_timeout, absl::Seconds(3));
  EXPECT_EQ(config.mesh.max_handshakes, 64);
  NodeConfig defaults;
  EXPECT_EQ(defaults.mesh.handshake_timeout, absl::Seconds(10));
  EXPECT_EQ(defaults.mesh.max_handshakes, 256);
  EXPECT_TRUE(defaults.mesh.blob_stream);
  EXPECT_EQ(defaults.mesh.blob_port, 0);
  EXPECT_THAT(LoadError("[mesh]\nblob_port = 70000\n"), HasSubstr("mesh.blob_port"));
  // A mistyped DID would silently lock its node out: refused with the fix named.
  const std::string typo = LoadError("[mesh]\nallowed_peers = [\"did:key:z6Mk-typo\"]\n");
  EXPECT_THAT(typo, HasSubstr("mesh.allowed_peers entry \"did:key:z6Mk-typo\""));
  EXPECT_THAT(typo, HasSubstr("mesh id show"));
  EXPECT_THAT(LoadError("[mesh]\nhandshake_timeout = \"1ms\"\n"),
              HasSubstr("mesh.handshake_timeout must be 100ms to 5m"));
  EXPECT_THAT(LoadError("[mesh]\nmax_handshakes = 0\n"), HasSubstr("mesh.max_handshakes"));
}

TEST_F(NodeConfigTest, ReadsTheMembershipViewSizes) {
  NodeConfig defaults;
  ASSERT_OK(Load(DefaultConfigToml(), defaults));
  EXPECT_EQ(defaults.mesh.active_view, 5u);
  EXPECT_EQ(defaults.mesh.passive_view, 30u);
  NodeConfig config;
  ASSERT_OK(Load("[mesh]\nactive_view = 8\npassive_view = 100\n", config));
  EXPECT_EQ(config.mesh.active_view, 8u);
  EXPECT_EQ(config.mesh.passive_view, 100u);
  // A heartbeat lists the active view: at most 32 peers (the wire allows 64).
  EXPECT_THAT(LoadError("[mesh]\nactive_view = 40\n"),
              HasSubstr("mesh.active_view must be an integer from 1 to 32"));
  EXPECT_THAT(LoadError("[mesh]\npassive_view = 0\n"), HasSubstr("mesh.passive_view"));
}

TEST_F(NodeConfigTest, ReadsHowManyNodesBeyondTheViewAJobNoNeighbourBidOnAsks) {
  NodeConfig defaults;
  ASSERT_OK(Load(DefaultConfigToml(), defaults));
  EXPECT_EQ(defaults.mesh.beyond_fanout, 8);
  EXPECT_EQ(MarketOptionsOf(defaults.mesh, "did:x", "a:1").beyond_fanout, 8u);
  NodeConfig off;
  ASSERT_OK(Load("[mesh]\nbeyond_fanout = 0\n", off));
  EXPECT_EQ(MarketOptionsOf(off.mesh, "did:x", "a:1").beyond_fanout, 0u);
  EXPECT_THAT(LoadError("[mesh]\nbeyond_fanout = 65\n"), HasSubstr("mesh.beyond_fanout"));
  EXPECT_THAT(LoadError("[mesh]\nbeyond_fanout = -1\n"), HasSubstr("mesh.beyond_fanout"));
}

TEST_F(NodeConfigTest, ReadsTheWeightOfTheExpectedFinish) {
  NodeConfig defaults;
  ASSERT_OK(Load(DefaultConfigToml(), defaults));
  EXPECT_EQ(defaults.mesh.selection.finish_weight, 0.2);
  EXPECT_EQ(MarketOptionsOf(defaults.mesh, "did:x", "a:1").selection.finish_weight, 0.2);
  NodeConfig off;
  ASSERT_OK(Load("[mesh]\nfinish_weight = 0\n", off));
  EXPECT_EQ(MarketOptionsOf(off.mesh, "did:x", "a:1").selection.finish_weight, 0.0);
  EXPECT_THAT(LoadError("[mesh]\nfinish_weight = -1\n"), HasSubstr("mesh.finish_weight"));
}

TEST_F(NodeConfigTest, MoreCapabilitiesThanAHeartbeatCarriesAreRefused) {
  std::string list;
  for (int i = 0; i < 33; ++i) list += (i == 0 ? "\"cap" : ", \"cap") + std::to_string(i) + "\"";
  EXPECT_THAT(LoadError("[mesh]\ncapabilities = [" + list + "]\n"),
              HasSubstr("mesh.capabilities lists more than 32"));
}

TEST_F(NodeConfigTest, ReadsTheLeaseOfJobsAlike) {
  NodeConfig defaults;
  ASSERT_OK(Load(DefaultConfigToml(), defaults));
  EXPECT_EQ(defaults.mesh.lease, absl::Seconds(5));
  NodeConfig off;
  ASSERT_OK(Load("[mesh]\nlease = \"0s\"\n", off));
  EXPECT_EQ(off.mesh.lease, absl::ZeroDuration());
  EXPECT_EQ(MarketOptionsOf(off.mesh, "did:x", "a:1").lease_ttl, absl::ZeroDuration());
  EXPECT_THAT(LoadError("[mesh]\nlease = \"2h\"\n"),
              HasSubstr("mesh.lease must be 0s (every job auctioned) to 1h"));
  EXPECT_THAT(LoadError("[mesh]\nlease = \"-1s\"\n"), HasSubstr("mesh.lease"));
  // Zero turns a setting off only where it means that: elsewhere a duration is positive.
  NodeConfig refuse_nothing;
  ASSERT_OK(Load("[compute]\nmodule_refusal = \"0s\"\n", refuse_nothing));
  EXPECT_EQ(refuse_nothing.module_refusal, absl::ZeroDuration());
  EXPECT_THAT(LoadError("[mesh]\nsend_timeout = \"0s\"\n"), HasSubstr("not a positive duration"));
}

TEST_F(NodeConfigTest, ReadsTheMeshSendAndFetchTimeouts) {
  NodeConfig defaults;
  EXPECT_EQ(defaults.mesh.send_timeout, absl::Seconds(5));
  EXPECT_EQ(defaults.mesh.fetch_timeout, absl::Minutes(5));
  NodeConfig from_default_file;
  ASSERT_OK(Load(DefaultConfigToml(), from_default_file));
  EXPECT_EQ(from_default_file.mesh.send_timeout, defaults.mesh.send_timeout);
  EXPECT_EQ(from_default_file.mesh.fetch_timeout, defaults.mesh.fetch_timeout);

  NodeConfig config;
  ASSERT_OK(Load("[mesh]\nsend_timeout = \"750ms\"\nfetch_timeout = \"20m\"\n", config));
  EXPECT_EQ(config.mesh.send_timeout, absl::Milliseconds(750));
  EXPECT_EQ(config.mesh.fetch_timeout, absl::Minutes(20));
  // The bounds themselves are accepted.
  ASSERT_OK(Load("[mesh]\nsend_timeout = \"100ms\"\nfetch_timeout = \"6h\"\n", config));
  EXPECT_EQ(config.mesh.send_timeout, absl::Milliseconds(100));
  EXPECT_EQ(config.mesh.fetch_timeout, absl::Hours(6));

  struct Case {
    std::string toml;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"[mesh]\nsend_timeout = \"10ms\"\n",
            "mesh.send_timeout must be 100ms to 5m (default 5s)"},
           {"[mesh]\nsend_timeout = \"1h\"\n", "mesh.send_timeout must be 100ms to 5m"},
           {"[mesh]\nsend_timeout = \"0s\"\n", "mesh.send_timeout '0s' is not a positive duration"},
           {"[mesh]\nsend_timeout = \"-5s\"\n", "mesh.send_timeout '-5s' is not a positive"},
           {"[mesh]\nsend_timeout = \"soon\"\n", "mesh.send_timeout 'soon' is not a positive"},
           {"[mesh]\nsend_timeout = 5\n", "mesh.send_timeout"},
           {"[mesh]\nfetch_timeout = \"500ms\"\n",
            "mesh.fetch_timeout must be 1s to 6h (default 5m)"},
           {"[mesh]\nfetch_timeout = \"7h\"\n", "mesh.fetch_timeout must be 1s to 6h"},
           {"[mesh]\nfetch_timeout = \"\"\n", ""},  // empty = the default, not an error
           {"[mesh]\nfetch_timout = \"5m\"\n", "mesh.fetch_timout is not a known setting"},
       }) {
    NodeConfig fresh;
    absl::Status s = Load(c.toml, fresh);
    if (c.expected.empty()) {
      EXPECT_TRUE(s.ok()) << c.toml << " -> " << s;
      EXPECT_EQ(fresh.mesh.fetch_timeout, absl::Minutes(5));
      continue;
    }
    EXPECT_FALSE(s.ok()) << c.toml;
    EXPECT_NE(std::string(s.message()).find(c.expected), std::string::npos)
        << c.toml << " -> " << s;
    EXPECT_NE(std::string(s.message()).find("meshd.toml"), std::string::npos) << s;
  }
}

TEST_F(NodeConfigTest, ReadsTheComputeBuildLimitsAndPoisonSettings) {
  NodeConfig config;
  ASSERT_OK(Load(R"toml(
[compute]
max_module_bytes = "8MiB"
module_refusal = "1h"
prepare_cpu_time = "2s"
prepare_wall_time = "3s"
prepare_memory = "256MiB"
compile_cpu_time = "20s"
compile_wall_time = "30s"
compile_memory = "1GiB"
compile_concurrency = 3
max_compile_wait = "500ms"
)toml",
                 config));
  EXPECT_EQ(config.max_module_bytes, 8u << 20);
  EXPECT_EQ(config.module_refusal, absl::Hours(1));
  EXPECT_EQ(config.prepare_cpu_time, absl::Seconds(2));
  EXPECT_EQ(config.prepare_wall_time, absl::Seconds(3));
  EXPECT_EQ(config.prepare_memory_bytes, 256u << 20);
  EXPECT_EQ(config.compile_cpu_time, absl::Seconds(20));
  EXPECT_EQ(config.compile_wall_time, absl::Seconds(30));
  EXPECT_EQ(config.compile_memory_bytes, 1ull << 30);
  EXPECT_EQ(config.compile_concurrency, 3);
  EXPECT_EQ(config.max_compile_wait, absl::Milliseconds(500));
  // The sandboxed pre-scan refuses more than 64 MiB whatever the setting: a larger value would
  // promise what the node does not do.
  NodeConfig big;
  absl::Status s = Load("[compute]\nmax_module_bytes = \"65MiB\"\n", big);
  EXPECT_NE(std::string(s.message()).find("compute.max_module_bytes must be 8 bytes to 64MiB"),
            std::string::npos)
      << s;
}

TEST(FaultTest, ParsesEachFaultAndRefusesOthers) {
  FaultOptions f;
  EXPECT_FALSE(f.any());
  ASSERT_OK(ParseFault("lie=0.25", f));
  EXPECT_EQ(f.lie_rate, 0.25);
  ASSERT_OK(ParseFault("lie", f));
  EXPECT_EQ(f.lie_rate, 1.0);
  ASSERT_OK(ParseFault("stall", f));
  ASSERT_OK(ParseFault("die", f));
  EXPECT_TRUE(f.stall && f.die_mid_job);
  for (const char* bad : {"lie=0", "lie=1.5", "lie=x", "lie=", "crash", ""}) {
    FaultOptions g;
    absl::Status s = ParseFault(bad, g);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << bad;
    EXPECT_FALSE(g.any()) << bad;
  }
}

TEST(ListenAddressTest, ParsesHostAndPort) {
  NodeConfig c;
  ASSERT_OK(ParseListenAddress("127.0.0.1:0", c));
  EXPECT_EQ(c.listen_port, 0);
  ASSERT_OK(ParseListenAddress("[::1]:8080", c));
  EXPECT_EQ(c.listen_host, "::1");
  EXPECT_EQ(c.listen_port, 8080);
  ASSERT_OK(ParseListenAddress(":7000", c));
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_FALSE(ParseListenAddress("localhost", c).ok());
  EXPECT_FALSE(ParseListenAddress("h:65536", c).ok());
  EXPECT_FALSE(ParseListenAddress("h:80x", c).ok());
}

}  // namespace
}  // namespace mesh::node
