// The commands that use a running node over its HTTP API: submit, jobs, job, output, cancel,
// stats. Each takes --node URL; reads print JSON with --json.
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli_context.h"
#include "mesh/cas/cid.h"
#include "mesh/common/file_util.h"
#include "mesh/common/rng.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/job/job_mounts.h"
#include "mesh/wasm/limits.h"
#include "mesh/wasm/run_report.h"
#include "mesh_commands.h"
#include "node_client.h"
#include "run_command.h"
#include "split_commands.h"
#include "tree_transfer.h"

namespace mesh::cli {
namespace {

using nlohmann::json;

struct SubmitFlags {
  NodeTarget node;
  std::string module;
  std::vector<std::string> inputs;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<std::string> labels;
  std::string fuel, memory, timeout, max_output;
  int priority = 0;
  bool wait = false;
  bool follow = false;
  bool nondeterministic = false;
  std::string idempotency_key;
  PlacementFlags placement;
  SplitFlags split;
  std::vector<std::string> mounts;  // PATH_OR_CID:/GUEST[:rw]
  std::string output_dir;
  std::string store_output;
};

// A file is uploaded; a CID names a blob the node already has.
absl::StatusOr<std::string> Upload(api::HttpClient& client, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(what, ec)) {
    if (cas::Cid::Parse(what).ok()) return what;
    return absl::NotFoundError(mesh::StrCat(what, " is neither a file nor a CID"));
  }
  MESH_ASSIGN_OR_RETURN(json body, JsonOrError(client.UploadFile("/v1/blobs", what)));
  return body.at("cid").get<std::string>();
}

std::string Field(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "-";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

int ExitCodeForJob(const json& job) {
  const std::string state = Field(job, "state");
  if (state == "succeeded") return 0;
  if (state == "cancelled") return 9;
  if (state != "failed") return 0;
  wasm::RunReport report;
  report.exit_code = job.value("exit_code", 0);
  if (job.contains("report") && job["report"].is_object()) {
    report.memory_grows_refused = job["report"].value("memory_grows_refused", 0u);
  }
  const std::string outcome = Field(job, "outcome");
  for (int i = 0; i <= static_cast<int>(wasm::Outcome::kCrashed); ++i) {
    if (wasm::OutcomeName(static_cast<wasm::Outcome>(i)) == outcome) {
      report.outcome = static_cast<wasm::Outcome>(i);
      // A job can fail after a clean run (its output could not be stored): it still failed,
      // and a script must not read success ("other error", as README's table says).
      const int code = ExitCodeForOutcome(report);
      return code == 0 ? 1 : code;
    }
  }
  return 1;  // failed before it ran (e.g. its module could not be loaded)
}

void PrintJob(const json& job) {
  std::string out = mesh::StrCat("job:         ", Field(job, "id"), "\n",
                                 "state:       ", Field(job, "state"), "\n");
  if (job.contains("reason")) out += mesh::StrCat("reason:      ", Field(job, "reason"), "\n");
  out += mesh::StrCat("module:      ", Field(job["spec"], "module"), "\n");
  out += mesh::StrCat("priority:    ", Field(job, "priority"), "\n");
  out += mesh::StrCat("submitted:   ", Field(job, "submitted_at"), "\n");
  if (job.contains("queue_wait_ms")) {
    out += mesh::StrCat("queue wait:  ", Field(job, "queue_wait_ms"), " ms\n");
  }
  if (job.contains("run_ms")) out += mesh::StrCat("run:         ", Field(job, "run_ms"), " ms\n");
  out += mesh::StrCat("attempts:    ", Field(job, "attempts"), "\n");
  if (job.contains("report")) {
    const json& r = job["report"];
    out += mesh::StrCat("outcome:     ", Field(r, "outcome"), "\n");
    if (r.contains("message") && !r["message"].get<std::string>().empty()) {
      out += mesh::StrCat("message:     ", Field(r, "message"), "\n");
    }
    out += mesh::StrCat("exit code:   ", Field(r, "exit_code"), "\n");
    out += mesh::StrCat("fuel:        ", Field(r, "fuel_used"), " used of ", Field(r, "fuel_limit"),
                        "\n");
    out += mesh::StrCat("memory:      ", Field(r, "peak_memory_bytes"), " bytes peak\n");
    out += mesh::StrCat("engine:      ", Field(r, "engine"), "\n");
    out += mesh::StrCat("output:      ", Field(r, "output_bytes"), " bytes, ",
                        Field(job, "output_cid"), "\n");
    if (job.contains("files_cid")) {
      out += mesh::StrCat("files:       ", Field(job, "files_cid"), " (mesh output ",
                          Field(job, "id"), " --dir DEST)\n");
    }
    if (job.contains("stored_output")) {
      out += mesh::StrCat("stored:      ", Field(job, "stored_output"), " (mesh store get ",
                          Field(job, "stored_output"), " -o FILE)\n");
    }
    const std::string err = r.value("stderr_tail", "");
    if (!err.empty()) {
      out += "stderr:\n";
      size_t start = 0;
      while (start < err.size()) {
        size_t end = err.find('\n', start);
        if (end == std::string::npos) end = err.size();
        out += mesh::StrCat("  | ", std::string_view(err).substr(start, end - start), "\n");
        start = end + 1;
      }
    }
  }
  std::cout << out;
}

// Prints a job (JSON with --json) and sets the exit status from its outcome.
void ReportJob(const CliContext& ctx, const json& job, int& exit_code) {
  if (ctx.json) {
    std::cout << job.dump() << "\n";
  } else {
    PrintJob(job);
  }
  exit_code = ExitCodeForJob(job);
}

// Follows the job's events, drawing progress on stderr, until it ends.
absl::Status Follow(api::HttpClient& events, const std::string& id, bool draw) {
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  bool drew = false;
  absl::Status status =
      events.Events(mesh::StrCat("/v1/events?job=", id, "&after=0"), [&](const api::SseEvent& e) {
        json data = json::parse(e.data, nullptr, false);
        if (e.type == "job.progress" && draw && data.is_object()) {
          const int percent = data.value("percent", 0);
          const int filled = percent / 5;
          std::string bar =
              mesh::StrCat("[", std::string(filled, '#'), std::string(20 - filled, '.'), "] ",
                           percent, "% ", data.value("message", ""));
          if (tty) {
            std::cerr << "\r\033[K" << bar << std::flush;
            drew = true;
          } else {
            std::cerr << bar << "\n";
          }
        } else if (draw && !tty && e.type != "job.progress") {
          std::cerr << e.type << "\n";
        }
        return !(e.type == "job.succeeded" || e.type == "job.failed" || e.type == "job.cancelled");
      });
  if (drew) std::cerr << "\n";
  return status;
}

absl::Status Submit(const CliContext& ctx, const SubmitFlags& f, int& exit_code) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, f.node, /*with_token=*/true));
  json request = json::object();
  MESH_ASSIGN_OR_RETURN(std::string module, Upload(*client, f.module));
  request["module"] = module;
  json inputs = json::array();
  for (const std::string& input : f.inputs) {
    MESH_ASSIGN_OR_RETURN(std::string cid, Upload(*client, input));
    inputs.push_back(cid);
  }
  request["inputs"] = inputs;
  request["args"] = f.args;
  json env = json::object(), labels = json::object();
  for (const auto& [list, target] : {std::pair{&f.env, &env}, std::pair{&f.labels, &labels}}) {
    for (const std::string& kv : *list) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return absl::InvalidArgumentError(mesh::StrCat("\"", kv, "\" must be KEY=VALUE"));
      }
      (*target)[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  request["env"] = env;
  request["labels"] = labels;
  request["priority"] = f.priority;
  request["deterministic"] = !f.nondeterministic;
  json limits = json::object();
  if (!f.fuel.empty()) {
    MESH_ASSIGN_OR_RETURN(limits["fuel"], wasm::ParseByteSize(f.fuel));
  }
  if (!f.memory.empty()) {
    MESH_ASSIGN_OR_RETURN(limits["memory_bytes"], wasm::ParseByteSize(f.memory));
  }
  if (!f.max_output.empty()) {
    MESH_ASSIGN_OR_RETURN(limits["max_output_bytes"], wasm::ParseByteSize(f.max_output));
  }
  if (!f.timeout.empty()) {
    MESH_ASSIGN_OR_RETURN(absl::Duration t, wasm::ParseWallTime(f.timeout));
    limits["wall_time_ms"] = absl::ToInt64Milliseconds(t);
  }
  request["limits"] = limits;
  if (!f.mounts.empty()) {
    json mounts = json::array();
    for (const std::string& flag : f.mounts) {
      MESH_ASSIGN_OR_RETURN(json mount, UploadMount(*client, flag));
      mounts.push_back(std::move(mount));
    }
    request["mounts"] = std::move(mounts);
  }
  if (!f.output_dir.empty()) {
    MESH_ASSIGN_OR_RETURN(request["output_dir"],
                          job::NormaliseGuestPath(f.output_dir, "--output-dir"));
  }
  if (!f.store_output.empty()) request["store_output"] = f.store_output;
  MESH_RETURN_IF_ERROR(AddPlacement(f.placement, request));
  MESH_RETURN_IF_ERROR(AddSplit(
      f.split, [&client](const std::string& what) { return Upload(*client, what); }, request));
  // Always a key: if the connection breaks after the node accepted the job, the client's
  // retry finds that job instead of submitting a second one.
  std::string key = f.idempotency_key;
  if (key.empty()) {
    SecureRng rng;
    const uint64_t a = rng.Next64(), b = rng.Next64();
    key = mesh::StrCat("mesh-cli-", absl::Hex(a, absl::kZeroPad16), absl::Hex(b, absl::kZeroPad16));
  }
  std::vector<std::pair<std::string, std::string>> headers = {{"Idempotency-Key", key}};
  MESH_ASSIGN_OR_RETURN(json job, JsonOrError(client->Request("POST", "/v1/jobs", request.dump(),
                                                              "application/json", headers)));
  const std::string id = job.at("id").get<std::string>();
  if (!f.wait && !f.follow) {
    std::cout << (ctx.json ? job.dump() : id) << "\n";
    return absl::OkStatus();
  }
  if (!ctx.json) std::cout << id << "\n" << std::flush;
  if (f.follow) {
    MESH_ASSIGN_OR_RETURN(auto events, ConnectToNode(ctx, f.node, false));
    MESH_RETURN_IF_ERROR(Follow(*events, id, /*draw=*/!ctx.json));
  }
  MESH_ASSIGN_OR_RETURN(
      job, JsonOrError(client->Request("GET", mesh::StrCat("/v1/jobs/", id, "?wait=10m"))));
  ReportJob(ctx, job, exit_code);
  return absl::OkStatus();
}

absl::Status ListJobs(const CliContext& ctx, const NodeTarget& node, const std::string& state,
                      const std::string& label, const std::string& submitter, int limit) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  std::string target = mesh::StrCat("/v1/jobs?limit=", limit);
  if (!state.empty()) target += mesh::StrCat("&state=", QueryValue(state));
  if (!label.empty()) target += mesh::StrCat("&label=", QueryValue(label));
  if (!submitter.empty()) target += mesh::StrCat("&submitter=", QueryValue(submitter));
  MESH_ASSIGN_OR_RETURN(json body, JsonOrError(client->Request("GET", target)));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  std::printf("%-60s %-10s %4s %12s %10s  %s\n", "ID", "STATE", "PRIO", "FUEL", "RUN MS",
              "SUBMITTED");
  for (const json& j : body["jobs"]) {
    std::printf(
        "%-60s %-10s %4s %12s %10s  %s\n", Field(j, "id").c_str(), Field(j, "state").c_str(),
        Field(j, "priority").c_str(), Field(j, "fuel_used").c_str(),
        j.contains("run_ms") ? mesh::StrCat(static_cast<int64_t>(j["run_ms"].get<double>())).c_str()
                             : "-",
        Field(j, "submitted_at").c_str());
  }
  return absl::OkStatus();
}

absl::Status ShowJob(const CliContext& ctx, const NodeTarget& node, const std::string& id,
                     bool wait, int& exit_code) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  client->set_timeout(absl::Minutes(11));
  MESH_ASSIGN_OR_RETURN(
      json job,
      JsonOrError(client->Request("GET", mesh::StrCat("/v1/jobs/", id, wait ? "?wait=10m" : ""))));
  ReportJob(ctx, job, exit_code);
  return absl::OkStatus();
}

absl::Status Output(const CliContext& ctx, const NodeTarget& node, const std::string& id,
                    const std::string& file, const std::string& dir) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  if (!dir.empty()) {
    MESH_ASSIGN_OR_RETURN(json job, JsonOrError(client->Request("GET", "/v1/jobs/" + id)));
    return DownloadTree(*client, id, job.value("files_cid", ""), dir);
  }
  ScopedFd file_fd;
  std::string tmp;
  if (!file.empty()) {
    tmp = file + ".part";
    MESH_ASSIGN_OR_RETURN(file_fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  }
  const int out = file.empty() ? STDOUT_FILENO : file_fd.get();
  absl::StatusOr<api::ClientResponse> response =
      client->Download(mesh::StrCat("/v1/jobs/", id, "/output"),
                       [out](std::string_view chunk) { return WriteAll(out, chunk); });
  absl::Status status = response.status();
  if (status.ok() && response->status / 100 != 2) status = ApiError(*response);
  if (!tmp.empty()) {
    file_fd.Reset();
    if (status.ok() && std::rename(tmp.c_str(), file.c_str()) != 0) {
      status = ErrnoToStatus(errno, mesh::StrCat("rename to ", file));
    }
    if (!status.ok()) std::remove(tmp.c_str());
  }
  return status;
}

absl::Status Cancel(const CliContext& ctx, const NodeTarget& node, const std::string& id) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, true));
  MESH_ASSIGN_OR_RETURN(json job, JsonOrError(client->Request("DELETE", "/v1/jobs/" + id)));
  std::cout << (ctx.json ? job.dump() : mesh::StrCat(id, " ", Field(job, "state"))) << "\n";
  return absl::OkStatus();
}

absl::Status Stats(const CliContext& ctx, const NodeTarget& node) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  MESH_ASSIGN_OR_RETURN(json info, JsonOrError(client->Request("GET", "/v1/node")));
  if (ctx.json) {
    std::cout << info.dump() << "\n";
    return absl::OkStatus();
  }
  const json& s = info["stats"];
  auto number = [](const json& j, const char* key, const char* format) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), format, j.value(key, 0.0));
    return std::string(buf);
  };
  std::string mesh_line = "mesh:        off\n";
  if (info.contains("mesh") && info["mesh"].is_object()) {
    const json& m = info["mesh"];
    mesh_line =
        mesh::StrCat("mesh:        ", Field(m, "address"), ", ", Field(m, "peers_alive"), " of ",
                     Field(m, "peers_known"), " peers alive, ", Field(m, "delegated_running"),
                     " delegated running, ", Field(m, "assigned"), " run for others\n");
  }
  std::cout << mesh_line
            << mesh::StrCat("node:        ", Field(info, "did"), "\n",
                            "engine:      ", Field(info, "engine"), " (", Field(info, "workers"),
                            " workers)\n", "uptime:      ", number(info, "uptime_seconds", "%.1f"),
                            " s\n", "queued:      ", Field(s, "queued"), "\n",
                            "running:     ", Field(s, "running"), " of ",
                            Field(s, "max_concurrent"), " (load ", number(s, "load", "%.2f"), ")\n",
                            "succeeded:   ", Field(s, "succeeded"), "\n",
                            "failed:      ", Field(s, "failed"), "\n",
                            "cancelled:   ", Field(s, "cancelled"), "\n",
                            "fuel/s:      ", number(s, "fuel_per_second", "%.0f"),
                            " (last minute)\n", "fuel total:  ", Field(s, "fuel_used_total"), "\n");
  return absl::OkStatus();
}

}  // namespace

void AddJobCommands(CLI::App& app, CliContext& ctx, absl::Status& result, int& exit_code) {
  auto add_node = [](CLI::App* cmd, NodeTarget& t) {
    cmd->add_option("--node", t.url, "Node API URL (default: the data dir's running node)");
  };
  auto* sf = new SubmitFlags;  // owned for the process's life, like the CLI11 app itself
  CLI::App* submit = app.add_subcommand("submit", "Submit a job to a node");
  submit->add_option("module", sf->module, "WASM module file (uploaded) or CID")->required();
  submit->add_option("--input", sf->inputs, "Input file or CID (stdin; repeat to concatenate)");
  submit->add_option("ARGS", sf->args, "Arguments for the job (put them after --)");
  submit->add_option("--env", sf->env, "KEY=VALUE for the module's environment (repeatable)");
  submit->add_option("--label", sf->labels, "KEY=VALUE label (repeatable)");
  submit->add_option("--fuel", sf->fuel, "Fuel limit (default: the node's)");
  submit->add_option("--memory", sf->memory, "Memory limit, e.g. 256MiB");
  submit->add_option("--timeout", sf->timeout, "Wall-time limit, e.g. 30s");
  submit->add_option("--max-output", sf->max_output, "Output size limit, e.g. 64MiB");
  submit->add_option("--priority", sf->priority, "-100..100, higher runs first");
  submit->add_option("--idempotency-key", sf->idempotency_key,
                     "Retries with the same key return the first job");
  submit->add_flag("--wait", sf->wait, "Wait for the job to end; exit with its outcome");
  submit->add_flag("--follow", sf->follow, "Like --wait, with a progress bar from the events");
  submit->add_flag("--nondeterministic", sf->nondeterministic, "Real clock and randomness");
  submit->add_option("--mount", sf->mounts,
                     "PATH_OR_CID:/GUEST[:rw]: a directory (uploaded as a tree), a file or a CID "
                     "the job sees at GUEST, read-only unless :rw (repeatable)");
  submit->add_option("--output-dir", sf->output_dir,
                     "A guest directory whose files become the job's output tree (mesh output "
                     "--dir)");
  submit->add_option("--store-output", sf->store_output,
                     "K+M: once the job succeeds, store its output across the mesh with that "
                     "code (the job's stored_output; mesh store get)");
  AddSplitFlags(submit, sf->split);
  AddPlacementFlags(submit, sf->placement);
  add_node(submit, sf->node);
  submit->callback([&ctx, &result, &exit_code, sf] { result = Submit(ctx, *sf, exit_code); });

  struct ReadFlags {
    NodeTarget node;
    std::string id, state, file, dir, label, submitter;
    int limit = 20;
    bool wait = false;
    bool explain = false, history = false;
  };
  auto* rf = new ReadFlags;
  CLI::App* jobs = app.add_subcommand("jobs", "List the node's jobs, newest first");
  jobs->add_option("--state", rf->state, "queued, running, succeeded, failed or cancelled");
  jobs->add_option("--limit", rf->limit, "How many (1-1000, default 20)");
  jobs->add_option("--label", rf->label,
                   "Only jobs with this label: KEY or KEY=VALUE (the node filters all its jobs)");
  jobs->add_option("--submitter", rf->submitter, "Only jobs this did:key submitted");
  add_node(jobs, rf->node);
  jobs->callback([&ctx, &result, rf] {
    result = ListJobs(ctx, rf->node, rf->state, rf->label, rf->submitter, rf->limit);
  });

  CLI::App* job = app.add_subcommand("job", "Show one job: state, timings, run report");
  job->add_option("id", rf->id, "Job id")->required();
  job->add_flag("--wait", rf->wait, "Wait (up to 10 minutes) for the job to end");
  job->add_flag("--explain", rf->explain,
                "Why it runs where it runs: placement, every bid's score, every reason");
  job->add_flag("--history", rf->history, "Its history: each step, hash-linked");
  add_node(job, rf->node);
  job->callback([&ctx, &result, &exit_code, rf] {
    if (rf->explain) {
      result = ExplainJob(ctx, rf->node, rf->id);
    } else if (rf->history) {
      result = ShowHistory(ctx, rf->node, rf->id);
    } else {
      result = ShowJob(ctx, rf->node, rf->id, rf->wait, exit_code);
    }
  });

  CLI::App* output = app.add_subcommand("output", "Write a finished job's output to stdout");
  output->add_option("id", rf->id, "Job id")->required();
  output->add_option("-o,--out", rf->file, "Write to this file instead");
  output->add_option("--dir", rf->dir,
                     "Write the job's output tree (its output_dir's files) under this new or "
                     "empty directory instead");
  add_node(output, rf->node);
  output->callback(
      [&ctx, &result, rf] { result = Output(ctx, rf->node, rf->id, rf->file, rf->dir); });

  CLI::App* cancel = app.add_subcommand("cancel", "Cancel a queued or running job");
  cancel->add_option("id", rf->id, "Job id")->required();
  add_node(cancel, rf->node);
  cancel->callback([&ctx, &result, rf] { result = Cancel(ctx, rf->node, rf->id); });

  CLI::App* stats = app.add_subcommand("stats", "The node's queue, load and job counts");
  add_node(stats, rf->node);
  stats->callback([&ctx, &result, rf] { result = Stats(ctx, rf->node); });
}

}  // namespace mesh::cli
