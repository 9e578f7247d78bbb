#include "mesh/sim/scenario.h"

#include <cmath>

#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/common/toml_table_reader.h"
#include "mesh/job/requirements.h"
#include "mesh/verify/verification_policy.h"

namespace mesh::sim {
namespace {

constexpr double kBig = 1e15;

absl::Status ReadLogNormal(const toml::table& root, const TomlTableReader& parent,
                           std::string_view key, const std::string& file, LogNormal& out) {
  const toml::node* n = root.get(key);
  if (n == nullptr) return absl::OkStatus();
  const toml::table* t = n->as_table();
  if (t == nullptr) return parent.Error(key, "must be a table {median = .., sigma = ..}");
  TomlTableReader r(*t, file, mesh::StrCat("workload.", key, "."));
  MESH_RETURN_IF_ERROR(r.Known({"median", "sigma", "min", "max"}));
  MESH_RETURN_IF_ERROR(r.Double("median", out.median, 1e-9, kBig));
  MESH_RETURN_IF_ERROR(r.Double("sigma", out.sigma, 0, 10));
  MESH_RETURN_IF_ERROR(r.Double("min", out.min, 0, kBig));
  MESH_RETURN_IF_ERROR(r.Double("max", out.max, 0, kBig));
  if (out.min > out.max) return r.Error("min", "must not exceed max");
  return absl::OkStatus();
}

absl::Status ReadNetwork(const toml::table& t, const std::string& file, NetworkModel& n) {
  TomlTableReader r(t, file, "network.");
  MESH_RETURN_IF_ERROR(r.Known(
      {"regions", "latency_ms", "jitter_ms", "loss", "bandwidth_mbps", "timeout_ms", "partition"}));
  MESH_RETURN_IF_ERROR(r.Strings("regions", n.regions));
  if (const toml::node* m = t.get("latency_ms"); m != nullptr) {
    const toml::array* rows = m->as_array();
    if (rows == nullptr) return r.Error("latency_ms", "must be an array of arrays of numbers");
    n.latency_ms.clear();
    for (const toml::node& row : *rows) {
      const toml::array* cells = row.as_array();
      if (cells == nullptr) return r.Error("latency_ms", "must be an array of arrays of numbers");
      std::vector<double>& out = n.latency_ms.emplace_back();
      for (const toml::node& cell : *cells) {
        std::optional<double> v = cell.value<double>();
        if (!v.has_value() || !(*v >= 0) || *v > 1e6) {
          return r.Error("latency_ms", "must hold numbers from 0 to 1e6 (milliseconds)");
        }
        out.push_back(*v);
      }
    }
  }
  MESH_RETURN_IF_ERROR(r.Double("jitter_ms", n.jitter_ms));
  MESH_RETURN_IF_ERROR(r.Double("loss", n.loss, 0, 1));
  MESH_RETURN_IF_ERROR(r.Double("bandwidth_mbps", n.bandwidth_mbps, 1e-3, 1e6));
  MESH_RETURN_IF_ERROR(r.Double("timeout_ms", n.timeout_ms, 1, 1e6));
  if (const toml::node* p = t.get("partition"); p != nullptr) {
    const toml::array* parts = p->as_array();
    if (parts == nullptr)
      return r.Error("partition", "must be an array of tables ([[network.partition]])");
    for (const toml::node& e : *parts) {
      const toml::table* pt = e.as_table();
      if (pt == nullptr) return r.Error("partition", "must be an array of tables");
      TomlTableReader pr(*pt, file, "network.partition.");
      NetworkModel::Partition part;
      MESH_RETURN_IF_ERROR(pr.Known({"start_s", "end_s", "regions"}));
      MESH_RETURN_IF_ERROR(pr.Double("start_s", part.start_s, 0, kBig));
      MESH_RETURN_IF_ERROR(pr.Double("end_s", part.end_s, 0, kBig));
      MESH_RETURN_IF_ERROR(pr.Strings("regions", part.regions));
      if (part.end_s <= part.start_s) return pr.Error("end_s", "must be after start_s");
      n.partitions.push_back(std::move(part));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadMembership(const toml::table& t, const std::string& file,
                            membership::MembershipOptions& m) {
  TomlTableReader r(t, file, "membership.");
  MESH_RETURN_IF_ERROR(r.Known({"active_size", "passive_size", "join_walk", "passive_walk",
                                "probe_every_s", "dead_after_s", "shuffle_every_s",
                                "shuffle_active", "shuffle_passive", "shuffle_walk"}));
  int active = int(m.active_size), passive = int(m.passive_size);
  int sa = int(m.shuffle_active), sp = int(m.shuffle_passive);
  MESH_RETURN_IF_ERROR(r.Int("active_size", active, 1, 64));
  MESH_RETURN_IF_ERROR(r.Int("passive_size", passive, 1, 1024));
  MESH_RETURN_IF_ERROR(r.Int("join_walk", m.join_walk, 1, 32));
  MESH_RETURN_IF_ERROR(r.Int("passive_walk", m.passive_walk, 1, 32));
  MESH_RETURN_IF_ERROR(r.Int("shuffle_active", sa, 0, 64));
  MESH_RETURN_IF_ERROR(r.Int("shuffle_passive", sp, 0, 1024));
  MESH_RETURN_IF_ERROR(r.Int("shuffle_walk", m.shuffle_walk, 1, 32));
  m.active_size = size_t(active);
  m.passive_size = size_t(passive);
  m.shuffle_active = size_t(sa);
  m.shuffle_passive = size_t(sp);
  for (auto [key, field] :
       {std::pair{"probe_every_s", &m.probe_every}, std::pair{"dead_after_s", &m.dead_after},
        std::pair{"shuffle_every_s", &m.shuffle_every}}) {
    double s = absl::ToDoubleSeconds(*field);
    MESH_RETURN_IF_ERROR(r.Double(key, s, 1e-3, 1e6));
    *field = absl::Seconds(s);
  }
  return absl::OkStatus();
}

// An optional table of name = share (0..1); names as job specs spell capabilities.
absl::Status ReadShares(const toml::table& t, const TomlTableReader& r, std::string_view key,
                        const std::string& file, std::string_view prefix,
                        std::map<std::string, double>& out) {
  const toml::node* v = t.get(key);
  if (v == nullptr) return absl::OkStatus();
  const toml::table* shares = v->as_table();
  if (shares == nullptr) return r.Error(key, "must be a table of name = share (0 to 1)");
  TomlTableReader sr(*shares, file, mesh::StrCat(prefix, key, "."));
  for (const auto& [name, share] : *shares) {
    // Checked as a job's requirements check it (one rule for names in specs and scenarios).
    const nlohmann::json as_requirement = {{"capabilities", {std::string(name.str())}}};
    if (absl::Status ok = job::RequirementsFromJson(as_requirement, "").status(); !ok.ok()) {
      return sr.Error(name.str(), "is not a valid name (1 to 64 of [A-Za-z0-9._:-])");
    }
    double x = 0;
    MESH_RETURN_IF_ERROR(sr.Double(name.str(), x, 0, 1));
    out[std::string(name.str())] = x;
  }
  return absl::OkStatus();
}

absl::Status ReadWorkload(const toml::table& t, const std::string& file, Workload& w) {
  TomlTableReader r(t, file, "workload.");
  MESH_RETURN_IF_ERROR(
      r.Known({"arrival", "rate_per_s", "burst_factor", "burst_every_s", "burst_length_s",
               "diurnal_period_s", "fuel", "input_bytes", "module_bytes", "modules", "verification",
               "wall_time_s", "require", "federation", "split"}));
  MESH_RETURN_IF_ERROR(ReadShares(t, r, "require", file, "workload.", w.require));
  MESH_RETURN_IF_ERROR(ReadShares(t, r, "federation", file, "workload.", w.federation));
  MESH_RETURN_IF_ERROR(r.String("arrival", w.arrival));
  if (w.arrival != "poisson" && w.arrival != "burst" && w.arrival != "diurnal") {
    return r.Error("arrival", "must be \"poisson\", \"burst\" or \"diurnal\"");
  }
  MESH_RETURN_IF_ERROR(r.Double("rate_per_s", w.rate_per_s, 1e-6, 1e7));
  MESH_RETURN_IF_ERROR(r.Double("burst_factor", w.burst_factor, 1, 1e4));
  MESH_RETURN_IF_ERROR(r.Double("burst_every_s", w.burst_every_s, 1e-3, kBig));
  MESH_RETURN_IF_ERROR(r.Double("burst_length_s", w.burst_length_s, 0, kBig));
  MESH_RETURN_IF_ERROR(r.Double("diurnal_period_s", w.diurnal_period_s, 1, kBig));
  MESH_RETURN_IF_ERROR(ReadLogNormal(t, r, "fuel", file, w.fuel));
  MESH_RETURN_IF_ERROR(ReadLogNormal(t, r, "input_bytes", file, w.input_bytes));
  double module_bytes = double(w.module_bytes), modules = w.modules;
  MESH_RETURN_IF_ERROR(r.Double("module_bytes", module_bytes, 1, 1 << 30));
  MESH_RETURN_IF_ERROR(r.Double("modules", modules, 1, 1e6));
  w.module_bytes = uint64_t(module_bytes);
  w.modules = uint32_t(modules);
  MESH_RETURN_IF_ERROR(r.Double("wall_time_s", w.wall_time_s, 1e-3, 1e6));
  if (const toml::node* v = t.get("split"); v != nullptr) {
    const toml::table* split = v->as_table();
    if (split == nullptr) return r.Error("split", "must be a table {share = .., chunks = ..}");
    TomlTableReader sr(*split, file, "workload.split.");
    MESH_RETURN_IF_ERROR(sr.Known({"share", "chunks"}));
    int chunks = int(w.split_chunks);
    MESH_RETURN_IF_ERROR(sr.Double("share", w.split_share, 0, 1));
    MESH_RETURN_IF_ERROR(sr.Int("chunks", chunks, 2, 1000));
    w.split_chunks = uint32_t(chunks);
  }
  if (const toml::node* v = t.get("verification"); v != nullptr) {
    w.verification.clear();
    if (std::optional<std::string> one = v->value<std::string>(); one.has_value()) {
      w.verification[*one] = 1;
    } else if (const toml::table* mix = v->as_table(); mix != nullptr) {
      TomlTableReader mr(*mix, file, "workload.verification.");
      for (const auto& [mode, share] : *mix) {
        double s = 0;
        MESH_RETURN_IF_ERROR(mr.Double(mode.str(), s, 0, 1e6));
        w.verification[std::string(mode.str())] = s;
      }
    } else {
      return r.Error("verification", "must be a mode (\"hash\") or a table of shares");
    }
    double total = 0;
    for (const auto& [mode, share] : w.verification) {
      if (absl::StatusOr<verify::Verification> parsed = verify::ParseVerification(mode);
          !parsed.ok()) {
        return r.Error("verification", mesh::StrCat("\"", mode, "\": ", parsed.status().message()));
      }
      total += share;
    }
    if (!(total > 0)) return r.Error("verification", "needs a mode with a share above 0");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Scenario> ParseScenario(std::string_view text, std::string file) {
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(mesh::StrCat(file, ":", e.source().begin.line, ":",
                                                   e.source().begin.column, ": ",
                                                   std::string(e.description())));
  }
  Scenario s;
  s.file = file;
  TomlTableReader top(root, file, "");
  MESH_RETURN_IF_ERROR(
      top.Known({"name", "seed", "nodes", "jobs", "max_sim_s", "sign_messages", "sample_every_s",
                 "network", "membership", "node", "churn", "adversaries", "workload", "market"}));
  MESH_RETURN_IF_ERROR(top.String("name", s.name));
  int64_t seed = int64_t(s.seed), nodes = s.nodes, jobs = int64_t(s.jobs);
  MESH_RETURN_IF_ERROR(top.Int64("seed", seed, 0, INT64_MAX));
  MESH_RETURN_IF_ERROR(top.Int64("nodes", nodes, 1, 10'000'000));
  MESH_RETURN_IF_ERROR(top.Int64("jobs", jobs, 0, 1'000'000'000));
  s.seed = uint64_t(seed);
  s.nodes = uint32_t(nodes);
  s.jobs = uint64_t(jobs);
  MESH_RETURN_IF_ERROR(top.Double("max_sim_s", s.max_sim_s, 1, kBig));
  MESH_RETURN_IF_ERROR(top.Bool("sign_messages", s.sign_messages));
  MESH_RETURN_IF_ERROR(top.Double("sample_every_s", s.sample_every_s, 1e-3, kBig));
  for (std::string_view name :
       {"network", "membership", "node", "churn", "adversaries", "workload", "market"}) {
    if (root.get(name) != nullptr && TomlSection(root, name) == nullptr) {
      return top.Error(name, "must be a table ([section])");
    }
  }
  if (const toml::table* t = TomlSection(root, "network")) {
    MESH_RETURN_IF_ERROR(ReadNetwork(*t, file, s.network));
  }
  if (const toml::table* t = TomlSection(root, "membership")) {
    MESH_RETURN_IF_ERROR(ReadMembership(*t, file, s.membership));
  }
  if (const toml::table* t = TomlSection(root, "node")) {
    TomlTableReader r(*t, file, "node.");
    MESH_RETURN_IF_ERROR(r.Known({"min_slots", "max_slots", "min_speed", "max_speed", "base_fee",
                                  "rate_per_gfuel", "max_queue", "capabilities", "federations"}));
    MESH_RETURN_IF_ERROR(ReadShares(*t, r, "capabilities", file, "node.", s.node.capabilities));
    MESH_RETURN_IF_ERROR(ReadShares(*t, r, "federations", file, "node.", s.node.federations));
    int min_slots = int(s.node.min_slots), max_slots = int(s.node.max_slots);
    int max_queue = int(s.node.max_queue);
    int64_t base_fee = int64_t(s.node.base_fee), rate = int64_t(s.node.rate_per_gfuel);
    MESH_RETURN_IF_ERROR(r.Int("min_slots", min_slots, 1, 1024));
    MESH_RETURN_IF_ERROR(r.Int("max_slots", max_slots, 1, 1024));
    MESH_RETURN_IF_ERROR(r.Int("max_queue", max_queue, 0, 1 << 20));
    MESH_RETURN_IF_ERROR(r.Double("min_speed", s.node.min_speed, 1e-6, 1e6));
    MESH_RETURN_IF_ERROR(r.Double("max_speed", s.node.max_speed, 1e-6, 1e6));
    MESH_RETURN_IF_ERROR(r.Int64("base_fee", base_fee, 0, 1'000'000'000));
    MESH_RETURN_IF_ERROR(r.Int64("rate_per_gfuel", rate, 0, 1'000'000'000));
    s.node.min_slots = uint32_t(min_slots);
    s.node.max_slots = uint32_t(max_slots);
    s.node.max_queue = uint32_t(max_queue);
    s.node.base_fee = uint64_t(base_fee);
    s.node.rate_per_gfuel = uint64_t(rate);
  }
  if (const toml::table* t = TomlSection(root, "churn")) {
    TomlTableReader r(*t, file, "churn.");
    MESH_RETURN_IF_ERROR(r.Known({"joins", "leaves", "crashes", "downtime_s"}));
    MESH_RETURN_IF_ERROR(r.Double("joins", s.churn.joins, 0, 1e3));
    MESH_RETURN_IF_ERROR(r.Double("leaves", s.churn.leaves, 0, 1e3));
    MESH_RETURN_IF_ERROR(r.Double("crashes", s.churn.crashes, 0, 1e3));
    MESH_RETURN_IF_ERROR(r.Double("downtime_s", s.churn.downtime_s, 0, kBig));
  }
  if (const toml::table* t = TomlSection(root, "adversaries")) {
    TomlTableReader r(*t, file, "adversaries.");
    Adversaries& a = s.adversaries;
    MESH_RETURN_IF_ERROR(r.Known({"liars", "stallers", "crashers", "underbidders", "free_riders"}));
    MESH_RETURN_IF_ERROR(r.Double("liars", a.liars, 0, 1));
    MESH_RETURN_IF_ERROR(r.Double("stallers", a.stallers, 0, 1));
    MESH_RETURN_IF_ERROR(r.Double("crashers", a.crashers, 0, 1));
    MESH_RETURN_IF_ERROR(r.Double("underbidders", a.underbidders, 0, 1));
    MESH_RETURN_IF_ERROR(r.Double("free_riders", a.free_riders, 0, 1));
  }
  if (const toml::table* t = TomlSection(root, "workload")) {
    MESH_RETURN_IF_ERROR(ReadWorkload(*t, file, s.workload));
  }
  if (const toml::table* t = TomlSection(root, "market")) {
    TomlTableReader r(*t, file, "market.");
    MESH_RETURN_IF_ERROR(r.Known({"bid_window_ms", "enough_bids", "announce_ttl", "receipt_grace_s",
                                  "lease_s", "beyond_fanout", "finish_weight"}));
    int enough = int(s.enough_bids);
    MESH_RETURN_IF_ERROR(r.Double("bid_window_ms", s.bid_window_ms, 1, 1e6));
    MESH_RETURN_IF_ERROR(r.Int("enough_bids", enough, 1, 1024));
    MESH_RETURN_IF_ERROR(r.Int("announce_ttl", s.announce_ttl, 1, 8));
    MESH_RETURN_IF_ERROR(r.Double("receipt_grace_s", s.receipt_grace_s, 0.001, 1e6));
    MESH_RETURN_IF_ERROR(r.Double("lease_s", s.lease_s, 0, 3600));
    MESH_RETURN_IF_ERROR(r.Int("beyond_fanout", s.beyond_fanout, 0, 64));
    MESH_RETURN_IF_ERROR(r.Double("finish_weight", s.finish_weight, 0, 1e6));
    s.enough_bids = uint32_t(enough);
  }
  MESH_RETURN_IF_ERROR(Validate(s));
  return s;
}

absl::StatusOr<Scenario> ReadScenarioFile(const std::string& path) {
  MESH_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 1 << 20));
  return ParseScenario(text, path);
}

absl::Status Validate(const Scenario& s) {
  auto bad = [&](std::string_view key, std::string_view why) {
    return absl::InvalidArgumentError(
        mesh::StrCat(s.file.empty() ? "scenario" : s.file, ": ", key, " ", why));
  };
  const size_t regions = s.network.regions.size();
  if (regions == 0) return bad("network.regions", "must name at least one region");
  if (s.network.latency_ms.size() != regions) {
    return bad("network.latency_ms", mesh::StrCat("must have one row per region (", regions, ")"));
  }
  for (const std::vector<double>& row : s.network.latency_ms) {
    if (row.size() != regions) {
      return bad("network.latency_ms", mesh::StrCat("rows must have ", regions, " numbers"));
    }
  }
  for (const NetworkModel::Partition& p : s.network.partitions) {
    for (const std::string& region : p.regions) {
      if (std::find(s.network.regions.begin(), s.network.regions.end(), region) ==
          s.network.regions.end()) {
        return bad("network.partition.regions",
                   mesh::StrCat("names unknown region \"", region, "\""));
      }
    }
  }
  if (s.node.min_slots > s.node.max_slots)
    return bad("node.min_slots", "must not exceed max_slots");
  if (s.node.min_speed > s.node.max_speed)
    return bad("node.min_speed", "must not exceed max_speed");
  const double adversaries = s.adversaries.total();
  if (adversaries > 1) {
    return bad("adversaries", mesh::StrCat("add up to ", adversaries,
                                           " of the nodes: more adversaries than nodes"));
  }
  if (adversaries > 0 && std::floor(adversaries * s.nodes + 0.5) >= s.nodes) {
    return bad("adversaries", "leave no honest node: nobody could run a job correctly");
  }
  if (absl::Status m = membership::Validate(s.membership); !m.ok()) {
    return bad("membership", std::string(m.message()));
  }
  if (s.membership.active_size >= s.nodes && s.nodes > 1) {
    return bad("membership.active_size",
               mesh::StrCat("(", s.membership.active_size, ") must be below the node count (",
                            s.nodes, "): a fan-out larger than the network"));
  }
  // A job may only ask what some node offers: else it could never run.
  for (const auto& [name, share] : s.workload.require) {
    auto offered = s.node.capabilities.find(name);
    if (share > 0 && (offered == s.node.capabilities.end() || offered->second <= 0)) {
      return bad(mesh::StrCat("workload.require.", name),
                 "is a capability no node offers (set node.capabilities)");
    }
  }
  for (const auto& [name, share] : s.workload.federation) {
    auto offered = s.node.federations.find(name);
    if (share > 0 && (offered == s.node.federations.end() || offered->second <= 0)) {
      return bad(mesh::StrCat("workload.federation.", name),
                 "is a federation no node is in (set node.federations)");
    }
  }
  double federated = 0;
  for (const auto& [name, share] : s.workload.federation) federated += share;
  if (federated > 1) {
    return bad("workload.federation", "shares add up to more than 1 (a job runs in at most one)");
  }
  if (size_t(s.enough_bids) > s.nodes) {
    return bad("market.enough_bids",
               mesh::StrCat("(", s.enough_bids, ") cannot exceed the node count (", s.nodes, ")"));
  }
  return absl::OkStatus();
}

uint64_t EstimateBytes(const Scenario& s) {
  // Measured (bench/README.md, meshsim): 32 KiB per node with no jobs (market, membership,
  // keys, reputation book, compute), 6.4 KiB kept per ended job (its record, the book's escrow
  // and payments, the executor's run and receipt), and the auctions, events and messages of a
  // job in flight; with room to spare. (Since af8ae46 a job costs less: 4.9 KiB more per job
  // from 100,000 x 100,000 to 100,000 x 1,000,000, and the 1M run peaks at 9.0 GiB of 12.8
  // estimated.)
  constexpr uint64_t kPerNode = 40 << 10;
  constexpr uint64_t kPerJobInFlight = 24 << 10;
  constexpr uint64_t kPerJobRecord = 8 << 10;
  const double mean_run_s =
      s.workload.fuel.median / 1e9 / std::max(1e-9, (s.node.min_speed + s.node.max_speed) / 2);
  const double in_flight = std::max(
      1.0, s.workload.rate_per_s * (s.workload.arrival == "burst" ? s.workload.burst_factor : 1) *
               (mean_run_s * 4 + 5));
  const double nodes = s.nodes * (1 + s.churn.joins * s.max_sim_s / 3600);
  // A split job is that many chunk jobs (each with its record), all in flight at once.
  const double jobs_per_arrival = 1 + s.workload.split_share * s.workload.split_chunks;
  return uint64_t(nodes) * kPerNode + uint64_t(in_flight * jobs_per_arrival) * kPerJobInFlight +
         uint64_t(double(s.jobs) * jobs_per_arrival) * kPerJobRecord + (64 << 20);
}

}  // namespace mesh::sim
