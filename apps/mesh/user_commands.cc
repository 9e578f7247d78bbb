// The account commands: `mesh user add|list|rm|token` (admins: the node's users, their roles,
// tokens and limits) and `mesh whoami` (who the token in use is). They ask the running node over
// its HTTP API; a new token is printed once, on stdout alone, so that
// `TOKEN=$(mesh user add ci --role submit)` captures it; the rest goes to stderr.
#include <cstdio>
#include <iostream>

#include "absl/strings/numbers.h"
#include "cli_context.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/wasm/limits.h"
#include "node_client.h"

namespace mesh::cli {
namespace {

using nlohmann::json;

constexpr const char* kUserFooter =
    "Roles include the ones below them: read sees jobs, events, metrics, peers and the ledger,\n"
    "and the inputs and outputs of its own jobs; submit adds uploading, submitting and\n"
    "cancelling its own jobs; admin adds everything else (every job's data, the users).\n"
    "Each user has its own DID: its jobs are signed with it and paid from its account\n"
    "(`mesh ledger balance` with its token shows it). The data dir's api.token is user admin.\n"
    "A client uses a token with $MESH_TOKEN (the CLI and the SDKs) or the dashboard's sign-in.\n";

struct UserFlags {
  NodeTarget node;
  std::string name;
  std::string role = "read";
  std::string expires;
  int64_t requests_per_second = -1;  // -1: the node's default
  int64_t max_jobs = -1;
  bool rotate = false;
};

// "30d", "12h", "90m", "45s" (absl durations, plus days) -> seconds; InvalidArgument otherwise.
absl::StatusOr<int64_t> ExpirySeconds(const std::string& text) {
  if (!text.empty() && text.back() == 'd') {
    int64_t days = 0;
    if (!absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) || days <= 0) {
      return absl::InvalidArgumentError(mesh::StrCat("--expires ", text, ": expected e.g. 30d"));
    }
    return days * 24 * 3600;
  }
  absl::StatusOr<absl::Duration> d = wasm::ParseWallTime(text);
  if (!d.ok() || *d < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("--expires ", text, ": expected a duration such as 30d, 12h or 90m"));
  }
  return absl::ToInt64Seconds(*d);
}

std::string Limit(const json& u, const char* key) {
  const int64_t v = u.value(key, int64_t{0});
  return v == 0 ? "unlimited" : std::to_string(v);
}

// Prints a token the node just made: stdout gets the token alone; stderr says what it is.
void PrintIssued(const CliContext& ctx, const json& issued, std::string_view what) {
  if (ctx.json) {
    std::cout << issued.dump() << "\n";
    return;
  }
  std::cerr << "mesh: " << what << " for user " << FieldText(issued, "name") << " (role "
            << FieldText(issued, "role") << ", " << FieldText(issued, "did")
            << "); it is shown this once:\n";
  std::cout << FieldText(issued, "token") << "\n";
}

absl::Status Add(const CliContext& ctx, const UserFlags& f) {
  json request = {{"name", f.name}, {"role", f.role}};
  if (!f.expires.empty()) {
    MESH_ASSIGN_OR_RETURN(int64_t seconds, ExpirySeconds(f.expires));
    request["expires_in_seconds"] = seconds;
  }
  if (f.requests_per_second >= 0) request["requests_per_second"] = f.requests_per_second;
  if (f.max_jobs >= 0) request["max_jobs_in_flight"] = f.max_jobs;
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, f.node, true));
  MESH_ASSIGN_OR_RETURN(json issued,
                        JsonOrError(client->Request("POST", "/v1/users", request.dump())));
  PrintIssued(ctx, issued, "a token");
  return absl::OkStatus();
}

absl::Status Rotate(const CliContext& ctx, const UserFlags& f) {
  if (!f.rotate) {
    return absl::InvalidArgumentError(
        "a token is shown only when made: pass --rotate to replace it (the old one stops "
        "working at once)");
  }
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, f.node, true));
  MESH_ASSIGN_OR_RETURN(json issued, JsonOrError(client->Request(
                                         "POST", mesh::StrCat("/v1/users/", f.name, "/token"))));
  PrintIssued(ctx, issued, "a new token");
  return absl::OkStatus();
}

absl::Status Remove(const CliContext& ctx, const UserFlags& f) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, f.node, true));
  MESH_ASSIGN_OR_RETURN(json out,
                        JsonOrError(client->Request("DELETE", mesh::StrCat("/v1/users/", f.name))));
  if (ctx.json) {
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "removed user " << f.name << "; its token no longer works\n";
  }
  return absl::OkStatus();
}

absl::Status List(const CliContext& ctx, const UserFlags& f) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, f.node, false));
  MESH_ASSIGN_OR_RETURN(json out, JsonOrError(client->Request("GET", "/v1/users")));
  if (ctx.json) {
    std::cout << out.dump() << "\n";
    return absl::OkStatus();
  }
  std::printf("%-20s %-7s %-20s %-10s %-10s %s\n", "NAME", "ROLE", "EXPIRES", "REQ/S", "IN FLIGHT",
              "DID");
  for (const json& u : out.value("users", json::array())) {
    std::printf("%-20s %-7s %-20s %-10s %-10s %s\n", FieldText(u, "name").c_str(),
                FieldText(u, "role").c_str(), FieldText(u, "expires_at", "never").c_str(),
                Limit(u, "requests_per_second").c_str(), Limit(u, "max_jobs_in_flight").c_str(),
                FieldText(u, "did").c_str());
  }
  return absl::OkStatus();
}

absl::Status WhoAmI(const CliContext& ctx, const UserFlags& f) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, f.node, false));
  MESH_ASSIGN_OR_RETURN(json me, JsonOrError(client->Request("GET", "/v1/me")));
  if (ctx.json) {
    std::cout << me.dump() << "\n";
    return absl::OkStatus();
  }
  std::cout << FieldText(me, "name") << " (role " << FieldText(me, "role") << ")\n"
            << "did:        " << FieldText(me, "did") << "\n"
            << "expires:    " << FieldText(me, "expires_at", "never") << "\n"
            << "limits:     " << Limit(me, "requests_per_second") << " requests/s, "
            << Limit(me, "max_jobs_in_flight") << " jobs in flight\n";
  return absl::OkStatus();
}

}  // namespace

void AddUserCommands(CLI::App& app, CliContext& ctx, absl::Status& result) {
  auto* f = new UserFlags;  // lives as long as the CLI11 app
  CLI::App* user = app.add_subcommand("user", "The node's users: roles, tokens, limits (admins)");
  user->require_subcommand(1);
  user->footer(kUserFooter);
  auto add_node = [f](CLI::App* cmd) {
    cmd->add_option("--node", f->node.url, "Node API URL (default: the data dir's running node)");
  };

  CLI::App* add = user->add_subcommand("add", "Add a user and print its token (shown once)");
  add->add_option("name", f->name, "1-32 of a-z, 0-9, '.', '_', '-'")->required();
  add->add_option("--role", f->role, "admin, submit or read (default read)")
      ->check(CLI::IsMember({"admin", "submit", "read"}));
  add->add_option("--expires", f->expires, "The token expires after this (e.g. 30d, 12h)");
  add->add_option("--rps", f->requests_per_second,
                  "Requests per second (0: unlimited; default 100, admins unlimited)");
  add->add_option("--max-jobs", f->max_jobs,
                  "Jobs in flight (0: unlimited; default 1000, admins unlimited)");
  add_node(add);
  add->callback([&ctx, &result, f] { result = Add(ctx, *f); });

  CLI::App* list = user->add_subcommand("list", "List the users (never their tokens)");
  add_node(list);
  list->callback([&ctx, &result, f] { result = List(ctx, *f); });

  CLI::App* rm = user->add_subcommand("rm", "Remove a user: its token stops working at once");
  rm->add_option("name", f->name, "The user")->required();
  add_node(rm);
  rm->callback([&ctx, &result, f] { result = Remove(ctx, *f); });

  CLI::App* token = user->add_subcommand("token", "Replace a user's token (with --rotate)");
  token->add_option("name", f->name, "The user")->required();
  token->add_flag("--rotate", f->rotate, "Make a new token; the old one stops working at once");
  add_node(token);
  token->callback([&ctx, &result, f] { result = Rotate(ctx, *f); });

  CLI::App* whoami =
      app.add_subcommand("whoami", "The user of the token in use: role, DID, limits");
  add_node(whoami);
  whoami->callback([&ctx, &result, f] { result = WhoAmI(ctx, *f); });
}

}  // namespace mesh::cli
