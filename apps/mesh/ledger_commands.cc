// The trust commands: `mesh ledger balance|history|verify` (the node's credit ledger) and
// `mesh reputation` (its executors' records). They ask the running node over its HTTP API; the
// ledger commands can also read <data dir>/ledger.db themselves (read-only), with --offline or
// when no node answers (see kLedgerFooter), so a ledger can be audited with meshd stopped.
#include <cstdio>
#include <iostream>

#include "cli_context.h"
#include "mesh/common/clock.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/ledger/ledger.h"
#include "mesh/ledger/ledger_json.h"
#include "mesh_commands.h"
#include "node_client.h"

namespace mesh::cli {
namespace {

using nlohmann::json;

constexpr const char* kLedgerFooter =
    "Where the ledger is read: the commands ask the running node (--node URL, $MESH_NODE, the\n"
    "data dir's meshd.url, else http://127.0.0.1:7420). With --offline they open\n"
    "<data dir>/ledger.db read-only instead (the node may be running or stopped); they do so\n"
    "on their own when no node answers and neither --node nor $MESH_NODE names one, and say so\n"
    "on stderr. Offline, balances are as recorded (credits regenerated since the DID's last\n"
    "entry are added by the node at its next escrow) and `balance` defaults to the ledger's\n"
    "owner, the node's DID.\n"
    "`mesh ledger verify` exits 0 when the chain verifies and 6 (data loss) with the first bad\n"
    "entry and the problem when it does not.\n";

struct LedgerFlags {
  NodeTarget node;
  std::string did;
  int limit = 20;
  int64_t before = 0;
  bool offline = false;
};

// The JSON answer of the node, or of the data dir's ledger.db read here.
class LedgerSource {
 public:
  LedgerSource(const CliContext& ctx, const LedgerFlags& flags) : ctx_(ctx), flags_(flags) {}

  // `path_and_query` is the API's; `offline` computes the same JSON from the file.
  absl::StatusOr<json> Get(const std::string& path_and_query,
                           const std::function<absl::StatusOr<json>(ledger::Ledger&)>& offline) {
    if (!flags_.offline) {
      MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx_, flags_.node, false));
      absl::StatusOr<api::ClientResponse> response = client->Request("GET", path_and_query);
      if (response.ok() || !absl::IsUnavailable(response.status()) || !MayFallBack()) {
        return JsonOrError(response);
      }
      std::cerr << "mesh: no node answers (" << response.status().message() << ")\nmesh: reading "
                << LedgerPath().string() << " directly (read-only)\n";
    }
    MESH_ASSIGN_OR_RETURN(std::unique_ptr<ledger::Ledger> file,
                          ledger::Ledger::Open(LedgerPath(), /*signer=*/nullptr, clock_));
    return offline(*file);
  }

 private:
  std::filesystem::path LedgerPath() const { return ctx_.DataDir() / "ledger.db"; }
  bool MayFallBack() const {
    const char* env = std::getenv("MESH_NODE");
    std::error_code ec;
    return flags_.node.url.empty() && (env == nullptr || *env == '\0') &&
           std::filesystem::exists(LedgerPath(), ec);
  }

  const CliContext& ctx_;
  const LedgerFlags& flags_;
  SystemClock clock_;
};

// ledger::FormatEntry of an entry's JSON (what the API sends).
std::string FormatEntryJson(const json& e) {
  std::string out =
      mesh::StrCat("#", FieldText(e, "seq"), " ", FieldText(e, "time"), " ", FieldText(e, "kind"));
  if (e.contains("job")) out += mesh::StrCat(" job=", FieldText(e, "job"));
  const json& postings = e.value("postings", json::array());
  for (size_t i = 0; i < postings.size(); ++i) {
    const int64_t amount = postings[i].value("amount", int64_t{0});
    out += mesh::StrCat(i == 0 ? " " : ", ", FieldText(postings[i], "account"), " ",
                        amount > 0 ? "+" : "", amount);
  }
  if (postings.empty()) out += " (closed, nothing left)";
  if (e.contains("memo")) out += mesh::StrCat(" — ", FieldText(e, "memo"));
  return out;
}

ledger::VerifyReport ReportFromJson(const json& j) {
  ledger::VerifyReport r;
  r.ok = j.value("ok", false);
  r.entries = j.value("entries", int64_t{0});
  r.first_bad_seq = j.value("first_bad_seq", int64_t{0});
  r.problem = j.value("problem", std::string());
  r.owner = j.value("owner", std::string());
  r.head_hash = j.value("head", std::string());
  r.minted = j.value("minted", int64_t{0});
  return r;
}

absl::Status Balance(const CliContext& ctx, const LedgerFlags& f) {
  LedgerSource source(ctx, f);
  const std::string path =
      f.did.empty() ? "/v1/ledger/balance" : mesh::StrCat("/v1/ledger/balance/", f.did);
  MESH_ASSIGN_OR_RETURN(
      json body, source.Get(path, [&f](ledger::Ledger& l) -> absl::StatusOr<json> {
        MESH_ASSIGN_OR_RETURN(ledger::Balance b, l.BalanceOf(f.did.empty() ? l.owner() : f.did));
        return ledger::ToJson(b);
      }));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  std::cout << mesh::StrCat(FieldText(body, "did"), ": ", FieldText(body, "available"),
                            " available, ", FieldText(body, "held"), " held\n");
  return absl::OkStatus();
}

absl::Status History(const CliContext& ctx, const LedgerFlags& f) {
  if (f.limit < 1 || f.limit > 1000) {
    return absl::InvalidArgumentError(mesh::StrCat("--limit ", f.limit, ": expected 1 to 1000"));
  }
  if (f.before < 0) {
    return absl::InvalidArgumentError(
        mesh::StrCat("--before ", f.before, ": expected an entry's seq (a positive integer)"));
  }
  std::string path = mesh::StrCat("/v1/ledger/history?limit=", f.limit);
  if (!f.did.empty()) path += mesh::StrCat("&did=", f.did);
  if (f.before > 0) path += mesh::StrCat("&before=", f.before);
  LedgerSource source(ctx, f);
  MESH_ASSIGN_OR_RETURN(
      json body, source.Get(path, [&f](ledger::Ledger& l) -> absl::StatusOr<json> {
        if (!f.did.empty() && !ledger::IsDidAccount(f.did)) {
          return absl::InvalidArgumentError(mesh::StrCat("--did ", f.did, ": not a DID"));
        }
        MESH_ASSIGN_OR_RETURN(std::vector<ledger::Entry> entries,
                              l.History(f.did, static_cast<size_t>(f.limit), f.before));
        json list = json::array();
        for (const ledger::Entry& e : entries) list.push_back(ledger::ToJson(e));
        json out = {{"entries", std::move(list)}};
        if (!f.did.empty()) out["did"] = f.did;
        if (entries.size() == static_cast<size_t>(f.limit) && entries.back().seq > 1) {
          out["next_before"] = entries.back().seq;
        }
        return out;
      }));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  const json& entries = body.value("entries", json::array());
  std::string out;
  if (entries.empty()) out = "no entries\n";
  for (const json& e : entries) out += FormatEntryJson(e) + "\n";
  std::cout << out;
  if (body.contains("next_before")) {
    std::cerr << "(older entries: --before " << FieldText(body, "next_before") << ")\n";
  }
  return absl::OkStatus();
}

absl::Status Verify(const CliContext& ctx, const LedgerFlags& f) {
  LedgerSource source(ctx, f);
  MESH_ASSIGN_OR_RETURN(
      json body, source.Get("/v1/ledger/verify", [](ledger::Ledger& l) -> absl::StatusOr<json> {
        MESH_ASSIGN_OR_RETURN(ledger::VerifyReport report, l.Verify());
        return ledger::ToJson(report);
      }));
  const ledger::VerifyReport report = ReportFromJson(body);
  if (ctx.json) {
    std::cout << body.dump() << "\n";
  } else if (report.ok) {
    std::cout << ledger::FormatVerifyReport(report) << "\n";
  }
  // Corrupt: the report is the error (stderr, exit code 6).
  return report.ok ? absl::OkStatus() : absl::DataLossError(ledger::FormatVerifyReport(report));
}

absl::Status Reputation(const CliContext& ctx, const NodeTarget& node) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  MESH_ASSIGN_OR_RETURN(json body, JsonOrError(client->Request("GET", "/v1/reputation")));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  const json& executors = body.value("executors", json::array());
  if (executors.empty()) {
    std::cout << "no executor has a record on this node yet\n";
    return absl::OkStatus();
  }
  std::printf("%-56s %5s %8s %9s %8s %8s %8s  %s\n", "EXECUTOR", "SCORE", "EVIDENCE", "SUCCESSES",
              "FAILURES", "TIMEOUTS", "OUTVOTED", "UPDATED");
  for (const json& r : executors) {
    std::printf("%-56s %5.3f %8.2f %9s %8s %8s %8s  %s\n", FieldText(r, "did").c_str(),
                r.value("score", 0.0), r.value("evidence", 0.0), FieldText(r, "successes").c_str(),
                FieldText(r, "failures").c_str(), FieldText(r, "timeouts").c_str(),
                FieldText(r, "outvoted").c_str(), FieldText(r, "updated").c_str());
  }
  return absl::OkStatus();
}

}  // namespace

void AddLedgerCommands(CLI::App& app, CliContext& ctx, absl::Status& result) {
  auto* f = new LedgerFlags;  // lives as long as the CLI11 app
  CLI::App* ledger =
      app.add_subcommand("ledger", "The node's credit ledger: balances, entries, verification");
  ledger->require_subcommand(1);
  ledger->footer(kLedgerFooter);
  auto add_source = [f](CLI::App* cmd) {
    cmd->add_option("--node", f->node.url, "Node API URL (default: the data dir's running node)");
    cmd->add_flag("--offline", f->offline,
                  "Read <data dir>/ledger.db directly (read-only) instead of asking the node");
  };

  CLI::App* balance = ledger->add_subcommand(
      "balance",
      "Credits of a DID (default: yours, the token's user; api.token is the node): available, "
      "held in escrow");
  balance->add_option("did", f->did, "A DID (did:key:...)");
  add_source(balance);
  balance->callback([&ctx, &result, f] { result = Balance(ctx, *f); });

  CLI::App* history = ledger->add_subcommand("history", "Ledger entries, newest first");
  history->add_option("--did", f->did, "Only entries that move this DID's credits");
  history->add_option("--limit", f->limit, "How many (1-1000, default 20)");
  history->add_option("--before", f->before, "Page back: entries with seq below this");
  add_source(history);
  history->callback([&ctx, &result, f] { result = History(ctx, *f); });

  CLI::App* verify = ledger->add_subcommand(
      "verify", "Check the whole chain: links, signatures, balances; exit 6 if it was altered");
  add_source(verify);
  verify->callback([&ctx, &result, f] { result = Verify(ctx, *f); });

  CLI::App* reputation = app.add_subcommand(
      "reputation", "Executors' reputation on this node: score, successes, failures, outvoted");
  reputation->add_option("--node", f->node.url,
                         "Node API URL (default: the data dir's running node)");
  reputation->callback([&ctx, &result, f] { result = Reputation(ctx, f->node); });
}

}  // namespace mesh::cli
