#include "mesh_commands.h"

#include <cstdio>
#include <iostream>

#include "mesh/common/format_bytes.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/verify/verification_policy.h"

namespace mesh::cli {
namespace {

using nlohmann::json;

std::string Number(double v, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

void PrintRound(const json& round, std::string& out) {
  const json& sel = round.value("selection", json::object());
  const json& ranked = sel.value("ranked", json::array());
  const json& rejected = sel.value("rejected", json::array());
  const json& declines = round.value("declines", json::array());
  const json& unanswered = round.value("unanswered", json::array());
  out += mesh::StrCat("round ", FieldText(round, "round"), ": asked ", FieldText(round, "asked"),
                      ", ", ranked.size() + rejected.size(), " bid(s), ", declines.size(),
                      " decline(s), ", unanswered.size(), " without answer\n");
  out += mesh::StrCat("  ", FieldText(round, "outcome"), "\n");
  int rank = 1;
  for (const json& b : ranked) {
    out += mesh::StrCat("  #", rank++, " ", FieldText(b, "executor"), "  score ",
                        Number(b.value("score", 0.0), "%.3f"), "  price ", FieldText(b, "price"),
                        "  (price ", Number(b.value("price_score", 0.0), "%.2f"), ", reputation ",
                        Number(b.value("reputation_score", 0.0), "%.2f"), ", resources ",
                        Number(b.value("resources_score", 0.0), "%.2f"), ", latency ",
                        Number(b.value("latency_score", 0.0), "%.2f"), ", finish ",
                        Number(b.value("finish_score", 0.0), "%.2f"), ")\n      ",
                        FieldText(b, "reason"), "\n");
  }
  for (const json& r : rejected) {
    out += mesh::StrCat("  filtered ", FieldText(r, "executor"), "  ", FieldText(r, "code"), ": ",
                        FieldText(r, "message"), "\n");
  }
  for (const json& d : declines) {
    out += mesh::StrCat("  declined ", FieldText(d, "executor"), "  ", FieldText(d, "code"), ": ",
                        FieldText(d, "message"), "\n");
  }
  for (const json& u : unanswered) {
    out +=
        mesh::StrCat("  no answer ", FieldText(u, "executor"), "  ", FieldText(u, "error"), "\n");
  }
}

absl::Status Peers(const CliContext& ctx, const NodeTarget& node) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  MESH_ASSIGN_OR_RETURN(json body, JsonOrError(client->Request("GET", "/v1/peers")));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  std::string out = mesh::StrCat(
      "self: ", FieldText(body["self"], "did"), " at ", FieldText(body["self"], "address"), "\n",
      "view: ", FieldText(body, "active"), " active peers, ", FieldText(body, "known"),
      " nodes known (active and passive views)\n");
  const json& peers = body.value("peers", json::array());
  if (peers.empty()) out += "no peers (start with --peer HOST:PORT)\n";
  for (const json& p : peers) {
    std::string load = "-";
    if (p.contains("load")) {
      load = mesh::StrCat(FieldText(p["load"], "running"), "/",
                          FieldText(p["capacity"], "max_concurrent"), " running, ",
                          FieldText(p["load"], "queued"), " queued");
    }
    std::string seen =
        p.contains("seen_ago_ms")
            ? mesh::StrCat(Number(p["seen_ago_ms"].get<double>() / 1000, "%.1f"), " s ago")
            : "never";
    std::string rtt =
        p.contains("rtt_ms") ? mesh::StrCat(Number(p["rtt_ms"].get<double>(), "%.2f"), " ms") : "-";
    // Room for other nodes' shards, and the failure domain they are spread over.
    std::string room;
    if (p.contains("capacity") && p["capacity"].contains("storage_free")) {
      room = mesh::StrCat("  room ", FormatBytes(p["capacity"].value("storage_free", uint64_t{0})));
      if (p.contains("zone")) room += mesh::StrCat(" zone ", FieldText(p, "zone"));
    }
    out += mesh::StrCat(FieldText(p, "state"), "  ", FieldText(p, "did", "(DID not yet known)"),
                        "  ", FieldText(p, "address"), "  seen ", seen, "  rtt ", rtt, "  ", load,
                        room, "\n");
  }
  std::cout << out;
  return absl::OkStatus();
}

}  // namespace

void AddPlacementFlags(CLI::App* submit, PlacementFlags& f) {
  submit->add_flag("--remote", f.remote, "Run it on another node (through the market)");
  submit->add_flag("--local", f.local, "Run it on this node, never delegate");
  submit->add_option("--require", f.capabilities, "A capability the executor must offer (repeat)");
  submit->add_option("--federation", f.federations,
                     "Run only in this federation (repeat: any of them)");
  submit->add_option("--max-price", f.max_price, "Credits the job may cost at most");
  submit->add_option("--min-reputation", f.min_reputation, "Lowest executor reputation, 0..1");
  submit->add_option("--trust-scope", f.trust_scope, "any, federation or known");
  submit->add_option("--cpu", f.cpu_cores, "CPU cores the executor must have");
  submit->add_option("--verify", f.verification,
                     "How a market result is checked: none, hash (default), replicate(K) (K "
                     "executors, majority wins; quote it in a shell) or adaptive");
}

absl::Status AddPlacement(const PlacementFlags& f, json& request) {
  if (f.remote && f.local) {
    return absl::InvalidArgumentError("--remote and --local contradict each other; pick one");
  }
  if (f.remote) request["placement"] = "remote";
  if (f.local) request["placement"] = "local";
  json req = json::object();
  if (!f.capabilities.empty()) req["capabilities"] = f.capabilities;
  if (!f.federations.empty()) req["federations"] = f.federations;
  if (f.max_price > 0) req["max_price"] = f.max_price;
  if (f.min_reputation > 0) req["min_reputation"] = f.min_reputation;
  if (!f.trust_scope.empty()) req["trust_scope"] = f.trust_scope;
  if (f.cpu_cores > 0) req["cpu_cores"] = f.cpu_cores;
  if (!req.empty()) request["requirements"] = req;
  if (!f.verification.empty()) {
    absl::StatusOr<verify::Verification> v = verify::ParseVerification(f.verification);
    if (!v.ok()) {
      return absl::InvalidArgumentError(mesh::StrCat("--verify: ", v.status().message()));
    }
    request["verification"] = verify::ToString(*v);
  }
  return absl::OkStatus();
}

absl::Status ExplainJob(const CliContext& ctx, const NodeTarget& node, const std::string& id) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  MESH_ASSIGN_OR_RETURN(
      json e, JsonOrError(client->Request("GET", mesh::StrCat("/v1/jobs/", id, "/explain"))));
  if (ctx.json) {
    std::cout << e.dump() << "\n";
    return absl::OkStatus();
  }
  std::string out =
      mesh::StrCat("job:        ", id, "\n", "state:      ", FieldText(e, "state"), " (phase ",
                   FieldText(e, "phase"), ")\n", "placement:  ", FieldText(e, "placement"), ": ",
                   FieldText(e, "placement_reason", ""), "\n");
  if (e.contains("executor")) out += mesh::StrCat("executor:   ", FieldText(e, "executor"), "\n");
  if (e.contains("origin")) out += mesh::StrCat("origin:     ", FieldText(e, "origin"), "\n");
  for (const json& r : e.value("rounds", json::array())) PrintRound(r, out);
  for (const json& a : e.value("assignments", json::array())) {
    out +=
        mesh::StrCat("assigned in round ", FieldText(a, "round"), " to ", FieldText(a, "executor"),
                     " at ", FieldText(a, "address"), " (price ", FieldText(a, "price"), ", score ",
                     Number(a.value("score", 0.0), "%.3f"), ")\n");
    // No auction of its own: the lease it went on, and whose bid it used.
    if (a.contains("lease")) out += mesh::StrCat("  on a lease: ", FieldText(a, "lease"), "\n");
  }
  for (const json& q : e.value("requeues", json::array())) {
    out += mesh::StrCat("re-announced after round ", FieldText(q, "round"), ": ",
                        FieldText(q, "reason"), "\n");
  }
  std::cout << out;
  return absl::OkStatus();
}

absl::Status ShowHistory(const CliContext& ctx, const NodeTarget& node, const std::string& id) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  MESH_ASSIGN_OR_RETURN(
      json h, JsonOrError(client->Request("GET", mesh::StrCat("/v1/jobs/", id, "/history"))));
  if (ctx.json) {
    std::cout << h.dump() << "\n";
    return absl::OkStatus();
  }
  std::string out;
  for (const json& b : h.value("blocks", json::array())) {
    out += mesh::StrCat(FieldText(b, "at"), "  ", FieldText(b, "phase"), "  ", FieldText(b, "cid"),
                        "\n    ", b.value("detail", json::object()).dump(), "\n");
  }
  std::cout << out;
  return absl::OkStatus();
}

void AddMeshCommands(CLI::App& app, CliContext& ctx, absl::Status& result) {
  auto* target = new NodeTarget;  // lives as long as the CLI11 app
  CLI::App* peers =
      app.add_subcommand("peers", "The node's active and passive views: state, address, load, RTT");
  peers->add_option("--node", target->url, "Node API URL (default: the data dir's running node)");
  peers->callback([&ctx, &result, target] { result = Peers(ctx, *target); });
}

}  // namespace mesh::cli
