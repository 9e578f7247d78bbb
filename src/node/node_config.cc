#include "mesh/node/node_config.h"

#include <charconv>
#include <vector>

#include "mesh/common/file_util.h"
#include "mesh/common/host_port.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/common/toml_table_reader.h"
#include "mesh/crypto/did_key.h"
#include "mesh/job/market.h"
#include "toml++/toml.h"

namespace mesh::node {
namespace {

// Reads one TOML table, naming file and key in every error; adds the sizes and durations of
// the node's settings to the common reader.
class TableReader : public TomlTableReader {
 public:
  using TomlTableReader::TomlTableReader;

  // An integer, or a string with a unit ("64MiB").
  absl::Status Bytes(std::string_view key, uint64_t& out) const {
    const toml::node* n = table_.get(key);
    if (n == nullptr) return absl::OkStatus();
    if (std::optional<int64_t> v = n->is_integer() ? n->value<int64_t>() : std::nullopt;
        v.has_value() && *v >= 0) {
      out = static_cast<uint64_t>(*v);
      return absl::OkStatus();
    }
    if (std::optional<std::string> v = n->is_string() ? n->value<std::string>() : std::nullopt;
        v.has_value()) {
      absl::StatusOr<uint64_t> bytes = wasm::ParseByteSize(*v);
      if (!bytes.ok()) return Error(key, ToStd(bytes.status().message()));
      out = *bytes;
      return absl::OkStatus();
    }
    return Error(key, "must be a byte count or a size such as \"64MiB\"");
  }

  // A positive duration; with `zero_turns_off`, also zero ("0s", "0"), for a setting that zero
  // turns off.
  absl::Status Duration(std::string_view key, absl::Duration& out,
                        bool zero_turns_off = false) const {
    std::string text;
    MESH_RETURN_IF_ERROR(String(key, text));
    if (text.empty()) return absl::OkStatus();
    if (absl::Duration zero; zero_turns_off && (text == "0" || (absl::ParseDuration(text, &zero) &&
                                                                zero == absl::ZeroDuration()))) {
      out = absl::ZeroDuration();
      return absl::OkStatus();
    }
    absl::StatusOr<absl::Duration> d = wasm::ParseWallTime(text);
    if (!d.ok()) return Error(key, ToStd(d.status().message()));
    out = *d;
    return absl::OkStatus();
  }
};

const toml::table* Section(const toml::table& root, std::string_view name) {
  return TomlSection(root, name);
}

absl::Status LoadMeshSection(const toml::table& table, const TableReader& r, MeshOptions& m) {
  MESH_RETURN_IF_ERROR(
      r.Known({"enabled",          "listen",         "advertise",     "peers",
               "allowed_peers",    "capabilities",   "federations",   "heartbeat",
               "dead_after",       "bid_window",     "enough_bids",   "announce_ttl",
               "base_fee",         "rate_per_gfuel", "price_weight",  "reputation_weight",
               "resources_weight", "latency_weight", "max_retries",   "handshake_timeout",
               "max_handshakes",   "send_timeout",   "fetch_timeout", "active_view",
               "passive_view",     "lease",          "beyond_fanout", "finish_weight",
               "blob_stream",      "blob_port"}));
  MESH_RETURN_IF_ERROR(r.Bool("enabled", m.enabled));
  MESH_RETURN_IF_ERROR(r.String("listen", m.listen));
  MESH_RETURN_IF_ERROR(r.String("advertise", m.advertise));
  MESH_RETURN_IF_ERROR(r.Strings("peers", m.peers));
  MESH_RETURN_IF_ERROR(r.Strings("allowed_peers", m.allowed_peers));
  // A mistyped DID would lock its node out without a word: refuse it here.
  for (const std::string& did : m.allowed_peers) {
    if (absl::Status s = crypto::DidKey::Parse(did).status(); !s.ok()) {
      return r.Error("allowed_peers",
                     mesh::StrCat("entry \"", did, "\" is not a node DID (", s.message(),
                                  "); use the DID `mesh id show` prints on that node"));
    }
  }
  MESH_RETURN_IF_ERROR(r.Strings("capabilities", m.capabilities));
  if (m.capabilities.size() > job::kMaxAdvertisedNames) {
    return r.Error("capabilities", mesh::StrCat("lists more than ", job::kMaxAdvertisedNames,
                                                " (peers refuse longer heartbeats and bids)"));
  }
  MESH_RETURN_IF_ERROR(r.Strings("federations", m.federations));
  MESH_RETURN_IF_ERROR(r.Duration("heartbeat", m.heartbeat));
  MESH_RETURN_IF_ERROR(r.Duration("dead_after", m.dead_after));
  MESH_RETURN_IF_ERROR(r.Duration("bid_window", m.bid_window));
  int enough = static_cast<int>(m.enough_bids);
  MESH_RETURN_IF_ERROR(r.Int("enough_bids", enough, 1, 1000));
  m.enough_bids = static_cast<size_t>(enough);
  MESH_RETURN_IF_ERROR(r.Int("announce_ttl", m.announce_ttl, 1, 8));
  MESH_RETURN_IF_ERROR(r.Int("beyond_fanout", m.beyond_fanout, 0, 64));
  MESH_RETURN_IF_ERROR(r.Duration("lease", m.lease, /*zero_turns_off=*/true));
  if (m.lease > absl::Hours(1)) {
    return r.Error("lease", "must be 0s (every job auctioned) to 1h (default 5s)");
  }
  // A heartbeat lists the active view (at most 64 peers on the wire).
  int active = int(m.active_view), passive = int(m.passive_view);
  MESH_RETURN_IF_ERROR(r.Int("active_view", active, 1, 32));
  MESH_RETURN_IF_ERROR(r.Int("passive_view", passive, 1, 1000));
  m.active_view = size_t(active);
  m.passive_view = size_t(passive);
  MESH_RETURN_IF_ERROR(r.Int("max_retries", m.retry.max_rounds, 0, 100));
  MESH_RETURN_IF_ERROR(r.Duration("handshake_timeout", m.handshake_timeout));
  if (m.handshake_timeout < absl::Milliseconds(100) || m.handshake_timeout > absl::Minutes(5)) {
    return r.Error("handshake_timeout", "must be 100ms to 5m (default 10s)");
  }
  MESH_RETURN_IF_ERROR(r.Int("max_handshakes", m.max_handshakes, 1, 100000));
  MESH_RETURN_IF_ERROR(r.Bool("blob_stream", m.blob_stream));
  MESH_RETURN_IF_ERROR(r.Int("blob_port", m.blob_port, 0, 65535));
  // Both bound how long a peer that stopped answering can hold a call (and, for a fetch, an
  // accepted job's start); too short and a slow but honest peer always fails.
  MESH_RETURN_IF_ERROR(r.Duration("send_timeout", m.send_timeout));
  if (m.send_timeout < absl::Milliseconds(100) || m.send_timeout > absl::Minutes(5)) {
    return r.Error("send_timeout", "must be 100ms to 5m (default 5s)");
  }
  MESH_RETURN_IF_ERROR(r.Duration("fetch_timeout", m.fetch_timeout));
  if (m.fetch_timeout < absl::Seconds(1) || m.fetch_timeout > absl::Hours(6)) {
    return r.Error("fetch_timeout", "must be 1s to 6h (default 5m)");
  }
  MESH_RETURN_IF_ERROR(r.Bytes("base_fee", m.pricing.base_fee));
  MESH_RETURN_IF_ERROR(r.Bytes("rate_per_gfuel", m.pricing.rate_per_gfuel));
  MESH_RETURN_IF_ERROR(r.Double("price_weight", m.selection.price_weight));
  MESH_RETURN_IF_ERROR(r.Double("reputation_weight", m.selection.reputation_weight));
  MESH_RETURN_IF_ERROR(r.Double("resources_weight", m.selection.resources_weight));
  MESH_RETURN_IF_ERROR(r.Double("latency_weight", m.selection.latency_weight));
  MESH_RETURN_IF_ERROR(r.Double("finish_weight", m.selection.finish_weight));
  const sched::SelectionPolicy& p = m.selection;
  if (p.price_weight + p.reputation_weight + p.resources_weight + p.latency_weight <= 0) {
    return r.Error("price_weight", "and the other weights must not all be 0");
  }
  if (m.dead_after <= m.heartbeat) {
    return r.Error("dead_after", "must be longer than mesh.heartbeat");
  }
  (void)table;
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseListenAddress(std::string_view text, NodeConfig& config) {
  const std::optional<HostPort> split = SplitHostPort(text);
  if (!split.has_value()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("listen address \"", text, "\" needs a port: HOST:PORT, e.g. 127.0.0.1:7420"));
  }
  const std::string_view host = split->host;
  const std::string_view port_text = split->port;
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        mesh::StrCat("listen address \"", text, "\": port must be 0-65535"));
  }
  config.listen_host = host.empty() ? "127.0.0.1" : std::string(host);
  config.listen_port = port;
  return absl::OkStatus();
}

absl::Status LoadNodeConfig(const std::filesystem::path& path, NodeConfig& config) {
  MESH_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 1 << 20));
  toml::table root;
  try {
    root = toml::parse(text, path.string());
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(mesh::StrCat(path.string(), ":", e.source().begin.line, ":",
                                                   e.source().begin.column, ": ",
                                                   std::string(e.description())));
  }
  const std::string file = path.string();
  TableReader top(root, file, "");
  MESH_RETURN_IF_ERROR(top.Known({"api", "compute", "limits", "storage", "node", "mesh", "trust"}));
  for (std::string_view name : {"api", "compute", "limits", "storage", "node", "mesh", "trust"}) {
    if (root.get(name) != nullptr && Section(root, name) == nullptr) {
      return top.Error(name, "must be a table ([section])");
    }
  }
  if (const toml::table* api = Section(root, "api")) {
    TableReader r(*api, file, "api.");
    MESH_RETURN_IF_ERROR(
        r.Known({"listen", "threads", "max_json_bytes", "max_blob_bytes", "anonymous_reads",
                 "allowed_hosts", "idle_timeout", "header_timeout", "body_timeout", "min_body_rate",
                 "max_connections", "max_connections_per_address"}));
    std::string listen;
    MESH_RETURN_IF_ERROR(r.String("listen", listen));
    if (!listen.empty()) {
      if (absl::Status s = ParseListenAddress(listen, config); !s.ok()) {
        return r.Error("listen", ToStd(s.message()));
      }
    }
    MESH_RETURN_IF_ERROR(r.Int("threads", config.api_threads, 1, 64));
    MESH_RETURN_IF_ERROR(r.Bytes("max_json_bytes", config.max_json_bytes));
    MESH_RETURN_IF_ERROR(r.Bytes("max_blob_bytes", config.max_blob_bytes));
    MESH_RETURN_IF_ERROR(r.Bool("anonymous_reads", config.anonymous_reads));
    MESH_RETURN_IF_ERROR(r.Strings("allowed_hosts", config.allowed_hosts));
    for (const std::string& host : config.allowed_hosts) {
      if (host.empty() || host.find_first_of(" /\t") != std::string::npos) {
        return r.Error("allowed_hosts", mesh::StrCat("has \"", host,
                                                     "\": expected host names such as "
                                                     "\"node1.example.org\" (no port, no scheme)"));
      }
    }
    MESH_RETURN_IF_ERROR(r.Duration("idle_timeout", config.idle_timeout));
    MESH_RETURN_IF_ERROR(r.Duration("header_timeout", config.header_timeout));
    MESH_RETURN_IF_ERROR(r.Duration("body_timeout", config.body_timeout));
    MESH_RETURN_IF_ERROR(r.Bytes("min_body_rate", config.min_body_rate));
    MESH_RETURN_IF_ERROR(r.Int("max_connections", config.max_connections, 1, 1 << 20));
    MESH_RETURN_IF_ERROR(
        r.Int("max_connections_per_address", config.max_connections_per_address, 1, 1 << 20));
  }
  if (const toml::table* compute = Section(root, "compute")) {
    TableReader r(*compute, file, "compute.");
    MESH_RETURN_IF_ERROR(
        r.Known({"max_concurrent", "engine", "worker_path", "max_input_bytes", "max_module_bytes",
                 "module_refusal", "prepare_cpu_time", "prepare_wall_time", "prepare_memory",
                 "compile_cpu_time", "compile_wall_time", "compile_memory", "compile_concurrency",
                 "max_compile_wait"}));
    MESH_RETURN_IF_ERROR(r.Int("max_concurrent", config.max_concurrent, 0, 1024));
    std::string engine;
    MESH_RETURN_IF_ERROR(r.String("engine", engine));
    if (!engine.empty()) {
      absl::StatusOr<wasm::EngineKind> kind = wasm::ParseEngineKind(engine);
      if (!kind.ok()) return r.Error("engine", ToStd(kind.status().message()));
      config.engine = *kind;
    }
    MESH_RETURN_IF_ERROR(r.String("worker_path", config.worker_path));
    MESH_RETURN_IF_ERROR(r.Bytes("max_input_bytes", config.max_input_bytes));
    MESH_RETURN_IF_ERROR(r.Bytes("max_module_bytes", config.max_module_bytes));
    if (config.max_module_bytes < 8 || config.max_module_bytes > (64ull << 20)) {
      return r.Error("max_module_bytes", "must be 8 bytes to 64MiB (default 64MiB)");
    }
    // Zero refuses nothing (its error said so, but the reader refused "0s" until lease needed it).
    MESH_RETURN_IF_ERROR(r.Duration("module_refusal", config.module_refusal,
                                    /*zero_turns_off=*/true));
    MESH_RETURN_IF_ERROR(r.Duration("prepare_cpu_time", config.prepare_cpu_time));
    MESH_RETURN_IF_ERROR(r.Duration("prepare_wall_time", config.prepare_wall_time));
    MESH_RETURN_IF_ERROR(r.Bytes("prepare_memory", config.prepare_memory_bytes));
    MESH_RETURN_IF_ERROR(r.Duration("compile_cpu_time", config.compile_cpu_time));
    MESH_RETURN_IF_ERROR(r.Duration("compile_wall_time", config.compile_wall_time));
    MESH_RETURN_IF_ERROR(r.Bytes("compile_memory", config.compile_memory_bytes));
    MESH_RETURN_IF_ERROR(r.Int("compile_concurrency", config.compile_concurrency, 0, 1024));
    MESH_RETURN_IF_ERROR(r.Duration("max_compile_wait", config.max_compile_wait));
  }
  if (const toml::table* limits = Section(root, "limits")) {
    TableReader r(*limits, file, "limits.");
    MESH_RETURN_IF_ERROR(r.Known({"fuel", "memory", "wall_time", "max_output"}));
    MESH_RETURN_IF_ERROR(r.Bytes("fuel", config.default_limits.fuel));
    MESH_RETURN_IF_ERROR(r.Bytes("memory", config.default_limits.memory_bytes));
    MESH_RETURN_IF_ERROR(r.Duration("wall_time", config.default_limits.wall_time));
    MESH_RETURN_IF_ERROR(r.Bytes("max_output", config.default_limits.max_output_bytes));
  }
  if (const toml::table* storage = Section(root, "storage")) {
    TableReader r(*storage, file, "storage.");
    MESH_RETURN_IF_ERROR(
        r.Known({"blob_quota", "quota", "zone", "code", "segment_size", "audit_interval",
                 "repair_after", "repair_threshold", "repair_rate", "rent_per_gib_hour"}));
    MESH_RETURN_IF_ERROR(r.Int64("rent_per_gib_hour", config.rent_per_gib_hour, 0, 1'000'000'000));
    MESH_RETURN_IF_ERROR(r.Duration("audit_interval", config.upkeep.audit_interval));
    MESH_RETURN_IF_ERROR(r.Duration("repair_after", config.upkeep.grace));
    MESH_RETURN_IF_ERROR(r.Int("repair_threshold", config.upkeep.repair_threshold, 0, 96));
    MESH_RETURN_IF_ERROR(r.Bytes("repair_rate", config.upkeep.repair_bytes_per_second));
    if (config.upkeep.repair_bytes_per_second == 0) {
      return r.Error("repair_rate", "must be more than 0 bytes (per second)");
    }
    MESH_RETURN_IF_ERROR(r.Bytes("blob_quota", config.blob_quota_bytes));
    MESH_RETURN_IF_ERROR(r.Bytes("quota", config.hold_quota_bytes));
    MESH_RETURN_IF_ERROR(r.String("zone", config.zone));
    if (!config.zone.empty() && !job::IsValidName(config.zone)) {
      return r.Error("zone", "must be 1 to 64 letters, digits, '.', '_', ':' or '-'");
    }
    std::string code;
    MESH_RETURN_IF_ERROR(r.String("code", code));
    if (!code.empty()) {
      if (absl::Status s = storage::ParseStoreCode(code, config.store); !s.ok()) {
        return r.Error("code", ToStd(s.message()));
      }
    }
    MESH_RETURN_IF_ERROR(r.Bytes("segment_size", config.store.segment_bytes));
    if (absl::Status s = storage::CheckStoreOptions(config.store); !s.ok()) {
      return r.Error("segment_size", ToStd(s.message()));
    }
  }
  if (const toml::table* node = Section(root, "node")) {
    TableReader r(*node, file, "node.");
    MESH_RETURN_IF_ERROR(r.Known({"shutdown_grace", "log_level"}));
    MESH_RETURN_IF_ERROR(r.Duration("shutdown_grace", config.shutdown_grace));
    MESH_RETURN_IF_ERROR(r.String("log_level", config.log_level));
  }
  if (const toml::table* mesh = Section(root, "mesh")) {
    MESH_RETURN_IF_ERROR(LoadMeshSection(*mesh, TableReader(*mesh, file, "mesh."), config.mesh));
  }
  if (const toml::table* trust = Section(root, "trust")) {
    TableReader r(*trust, file, "trust.");
    MESH_RETURN_IF_ERROR(
        r.Known({"credits_per_hour", "credit_cap", "start_full", "network_fee_bps",
                 "network_fee_flat", "default_max_price", "submit_fee", "max_replicas"}));
    TrustOptions& t = config.trust;
    constexpr int64_t kMaxCredits = int64_t{1} << 52;
    MESH_RETURN_IF_ERROR(r.Int64("credits_per_hour", t.regen.credits_per_hour, 0, kMaxCredits));
    MESH_RETURN_IF_ERROR(r.Int64("credit_cap", t.regen.cap, 0, kMaxCredits));
    MESH_RETURN_IF_ERROR(r.Bool("start_full", t.regen.start_full));
    MESH_RETURN_IF_ERROR(r.Int64("network_fee_bps", t.network_fee_bps, 0, 10000));
    MESH_RETURN_IF_ERROR(r.Int64("network_fee_flat", t.network_fee_flat, 0, kMaxCredits));
    MESH_RETURN_IF_ERROR(r.Int64("default_max_price", t.default_max_price, 1, kMaxCredits));
    MESH_RETURN_IF_ERROR(r.Int64("submit_fee", t.submit_fee, 0, kMaxCredits));
    MESH_RETURN_IF_ERROR(r.Int("max_replicas", t.max_replicas, 1, 9));
  }
  return absl::OkStatus();
}

std::string DefaultConfigToml() {
  return R"toml(# meshd configuration. Flags given to meshd override these settings.

[api]
# Where the HTTP API listens. Keep it on 127.0.0.1 unless a proxy or firewall guards it.
listen = "127.0.0.1:7420"
threads = 2
max_json_bytes = "1MiB"    # larger JSON request bodies get 413
max_blob_bytes = "1GiB"    # larger uploads to POST /v1/blobs get 413
# Every route but GET /v1/node and GET /metrics needs the token (api.token). true: reads
# (GET) need none; on a non-loopback listen address meshd then also wants
# --insecure-anonymous-reads.
anonymous_reads = false
# Host header names answered besides localhost, 127.0.0.0/8, [::1] and the listen address
# (others get 421: DNS rebinding), e.g. ["node1.example.org"].
allowed_hosts = []
idle_timeout = "60s"       # a connection silent between requests is closed
header_timeout = "10s"     # a request header must arrive whole within this of its first byte
body_timeout = "60s"       # after this, a body must keep up min_body_rate on average
min_body_rate = "16KiB"    # bytes per second; 0 = no minimum
max_connections = 1024     # open API connections (capped below the open-file limit)
max_connections_per_address = 64  # beyond either cap: 503 with Retry-After

[compute]
max_concurrent = 0         # jobs running at once; 0 = one per core
engine = "auto"            # auto | aot | interp
max_input_bytes = "256MiB" # a job's inputs together
max_module_bytes = "64MiB" # the largest module loaded (64MiB at most)
module_refusal = "168h"    # how long a module this node died with twice is refused
# Untrusted module work runs in killable build processes, never in meshd. Preparing a module
# (decode, validate, meter) and compiling it for aot (wasm2c + cc) each get these limits; a
# module over them fails as an invalid module (prepare) or stays on the interpreter (compile).
prepare_cpu_time = "10s"
prepare_wall_time = "15s"
prepare_memory = "1GiB"
compile_cpu_time = "60s"   # per compiler process
compile_wall_time = "120s"
compile_memory = "2GiB"
compile_concurrency = 0    # compiles at once; 0 = half the cores (at least 1)
max_compile_wait = "10s"   # a job waits at most this (and 1/4 of its wall time) for its compile

[limits]                   # defaults for jobs that name no limits
fuel = 10000000000
memory = "100MiB"
wall_time = "30s"
max_output = "64MiB"

[storage]
blob_quota = 0             # bytes; 0 = no quota
# Stored files (`mesh store`): this node holds other nodes' shards up to `quota` (0: none), and
# its own files are cut into segments and coded into k data + m parity shards on k+m peers.
quota = "1GiB"
zone = ""                  # a failure domain (rack, site); shards of a file spread over zones
code = "4+2"               # any m of the k+m shards may be lost
segment_size = "32MiB"
# Upkeep of the files this node stored: each holder is audited (asked for the hash of a random
# range of a shard) every audit_interval; one that failed 3 audits in a row or passed none for
# repair_after is lost, and a file is repaired (its lost shards rebuilt onto new peers) once its
# healthy holders fall to repair_threshold (0: k + m/2, e.g. 5 of 4+2), at repair_rate at most.
audit_interval = "1h"
repair_after = "4h"
repair_threshold = 0
repair_rate = "8MiB"       # per second
rent_per_gib_hour = 10     # credits the owner of a file pays each holder per GiB held (0: free)

[node]
shutdown_grace = "30s"     # on SIGTERM, how long running jobs may take to finish
log_level = "info"

[mesh]
enabled = true
# Where other nodes reach this one: gRPC with mutual TLS, authenticated by node keys. The
# default is 127.0.0.1:7421 (port 0 when the API port is 0); use 0.0.0.0:7421 to join others.
# listen = "0.0.0.0:7421"
# advertise = "node1.example.org:7421"  # the address peers should dial, if not `listen`
peers = []                 # bootstrap addresses, e.g. ["10.0.0.2:7421"]; more come by gossip
# Who may connect (and whom this node dials): node DIDs (`mesh id show` on each node). Empty = ANY
# node, i.e. anyone who makes a key can join and send work; list DIDs to close the mesh.
allowed_peers = []         # e.g. ["did:key:z6Mk...", "did:key:z6Mk..."]
handshake_timeout = "10s"  # a peer connection must finish its TLS handshake within this
max_handshakes = 256       # TLS handshakes in progress at once; more connections are closed
# Blobs (job modules, inputs, stored shards) move over TLS on a second port, about twice as fast
# as over gRPC; peers learn the port from this node's gRPC replies. Open it in a firewall too
# (set a fixed port), or blobs fall back to the gRPC port.
blob_stream = true
blob_port = 0              # 0 = any free port
send_timeout = "5s"        # a message to a peer fails if not answered within this
fetch_timeout = "5m"       # a job's module or input must arrive from its peer within this
capabilities = []          # what jobs may require of this node, e.g. ["simd"]
federations = []           # groups this node belongs to
active_view = 5            # peers this node exchanges heartbeats with, asks for bids, relays to
passive_view = 30          # more it knows of, to replace an active peer that dies
beyond_fanout = 8          # of those, asked per round once no neighbour bid on a job (0: never)
heartbeat = "1s"
dead_after = "5s"          # an active peer silent this long is dead; its jobs are re-announced
bid_window = "200ms"       # an auction closes then, or once every peer asked has answered
lease = "5s"               # jobs like one just auctioned go to its bidders without an auction
base_fee = 1               # this node's price: base_fee + rate_per_gfuel per 10^9 fuel
rate_per_gfuel = 10
price_weight = 0.4         # how bids are scored (weights of a sum; see docs/architecture.md)
reputation_weight = 0.3
resources_weight = 0.15
latency_weight = 0.15
finish_weight = 0.2        # expected finish, from the bids' speed scores (when they have them)

[trust]
# Credits: every submitter starts with credit_cap and regains credits_per_hour up to it. A job
# sent to the market holds max_price (or default_max_price) x replicas, plus the fee, until it
# ends; each verified result pays its executor the bid price plus network_fee_bps / 10000 of it.
credits_per_hour = 100000
credit_cap = 1000000
start_full = true
network_fee_bps = 100
network_fee_flat = 0
default_max_price = 10000
submit_fee = 0             # per market job, x (1.5 - the submitter's reputation); not refunded
max_replicas = 9           # replicate(k) adds replicas up to this when no majority forms
)toml";
}

}  // namespace mesh::node
