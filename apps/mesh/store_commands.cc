// `mesh store put|get|ls|stat|rm`: files stored across the mesh through the running node
// (POST/GET/DELETE /v1/store). The node does the work: compression, encryption, erasure coding,
// placement on peers and retrieval; the CLI streams the file in and out.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli_context.h"
#include "mesh/common/file_util.h"
#include "mesh/common/format_bytes.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "node_client.h"

namespace mesh::cli {
namespace {

using nlohmann::json;

// A file is moved between peers before the node answers: allow for it.
constexpr absl::Duration kStoreTimeout = absl::Minutes(30);

std::string Line(const json& f) {
  const uint64_t size = f.value("size", uint64_t{0});
  const std::string name = FieldText(f, "name", "");
  return mesh::StrCat(FieldText(f, "cid"), "  ", FormatBytes(size), "  ", FieldText(f, "code"),
                      f.value("encrypted", false) ? "  encrypted" : "  plain", "  ",
                      FieldText(f, "holders_alive"), "/", f.value("holders", json::array()).size(),
                      " holders alive", f.value("readable", false) ? "" : "  UNREADABLE",
                      name.empty() ? "" : "  " + name);
}

absl::Status Put(const CliContext& ctx, const NodeTarget& target, const std::string& file,
                 const std::string& code, bool no_encrypt, std::string name) {
  if (!std::filesystem::is_regular_file(file)) {
    return absl::InvalidArgumentError(mesh::StrCat(file, ": not a regular file"));
  }
  if (name.empty()) name = std::filesystem::path(file).filename().string();
  std::string query = mesh::StrCat("?name=", QueryValue(name));
  if (!code.empty()) query += mesh::StrCat("&code=", QueryValue(code));
  if (no_encrypt) query += "&encrypt=false";
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, target, /*with_token=*/true));
  client->set_timeout(kStoreTimeout);
  MESH_ASSIGN_OR_RETURN(json body, JsonOrError(client->UploadFile("/v1/store" + query, file)));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
  } else {
    std::cout << FieldText(body, "cid") << "\n";
    std::cerr << Line(body) << "\n";
  }
  return absl::OkStatus();
}

absl::Status Get(const CliContext& ctx, const NodeTarget& target, const std::string& cid,
                 const std::string& out) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, target, /*with_token=*/false));
  client->set_timeout(kStoreTimeout);
  const std::string path = mesh::StrCat("/v1/store/", QueryValue(cid), "/content");
  if (out.empty() || out == "-") {
    MESH_ASSIGN_OR_RETURN(api::ClientResponse r, client->Download(path, [](std::string_view chunk) {
      return WriteAll(STDOUT_FILENO, chunk);
    }));
    return r.status / 100 == 2 ? absl::OkStatus() : ApiError(r);
  }
  // Written next to the target and renamed, so a failed get leaves no partial file.
  const std::string tmp = out + ".partial";
  MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  absl::StatusOr<api::ClientResponse> r =
      client->Download(path, [&fd](std::string_view chunk) { return WriteAll(fd.get(), chunk); });
  absl::Status s = !r.ok() ? r.status() : r->status / 100 == 2 ? absl::OkStatus() : ApiError(*r);
  if (s.ok() && ::rename(tmp.c_str(), out.c_str()) != 0) s = ErrnoToStatus(errno, out);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (!ctx.json) {
    std::cerr << out << ": " << r->headers["x-mesh-shards-fetched"] << " shards fetched, "
              << r->headers["x-mesh-shards-rebuilt"] << " rebuilt\n";
  }
  return absl::OkStatus();
}

absl::Status List(const CliContext& ctx, const NodeTarget& target) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, target, /*with_token=*/false));
  MESH_ASSIGN_OR_RETURN(json body, JsonOrError(client->Request("GET", "/v1/store?limit=1000")));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  const json files = body.value("files", json::array());
  if (files.empty()) std::cout << "no stored files (mesh store put FILE)\n";
  for (const json& f : files) std::cout << Line(f) << "\n";
  return absl::OkStatus();
}

absl::Status Stat(const CliContext& ctx, const NodeTarget& target, const std::string& cid) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, target, /*with_token=*/false));
  MESH_ASSIGN_OR_RETURN(
      json f, JsonOrError(client->Request("GET", mesh::StrCat("/v1/store/", QueryValue(cid)))));
  if (ctx.json) {
    std::cout << f.dump() << "\n";
    return absl::OkStatus();
  }
  std::string out = mesh::StrCat(
      Line(f), "\nstored ", FieldText(f, "created_at"), ", ", FieldText(f, "segments"),
      " segment(s), ", FormatBytes(f.value("stored_bytes", uint64_t{0})), " on the holders\n");
  for (const json& h : f.value("holders", json::array())) {
    out += mesh::StrCat("  shard ", FieldText(h, "shard"), "  ",
                        h.value("alive", false) ? "alive " : "silent", "  ", FieldText(h, "did"),
                        "  ", FieldText(h, "address"), "\n");
  }
  std::cout << out;
  return absl::OkStatus();
}

absl::Status Remove(const CliContext& ctx, const NodeTarget& target, const std::string& cid) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, target, /*with_token=*/true));
  client->set_timeout(kStoreTimeout);
  MESH_ASSIGN_OR_RETURN(json body, JsonOrError(client->Request(
                                       "DELETE", mesh::StrCat("/v1/store/", QueryValue(cid)))));
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  const json unreachable = body.value("holders_unreachable", json::array());
  std::cerr << "removed " << cid << ": " << FieldText(body, "holders_told")
            << " holder(s) dropped their shards\n";
  for (const json& u : unreachable) {
    std::cerr << "  not released (its shards stay until it is told): " << u.get<std::string>()
              << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddStoreCommands(CLI::App& app, CliContext& ctx, absl::Status& result) {
  auto* store = app.add_subcommand(
      "store", "Files stored across the mesh: compressed, encrypted, erasure-coded over peers");
  store->require_subcommand(1);
  auto target = std::make_shared<NodeTarget>();
  store->add_option("--node", target->url, "Node API URL (default: the data dir's running node)");

  struct PutFlags {
    std::string file, code, name;
    bool no_encrypt = false;
  };
  auto put_flags = std::make_shared<PutFlags>();
  auto* put = store->add_subcommand(
      "put", "Store FILE on k+m peers and print its handle (the manifest's CID)");
  put->add_option("FILE", put_flags->file, "The file to store")->required();
  put->add_option("--code", put_flags->code,
                  "K+M: k data and m parity shards per segment; any m may be lost (default: the "
                  "node's [storage] code, 4+2)");
  put->add_flag("--no-encrypt", put_flags->no_encrypt,
                "Store the bytes unencrypted (compressed and coded only)");
  put->add_option("--name", put_flags->name, "A name for listings (default: FILE's name)");
  put->callback([&ctx, &result, target, put_flags] {
    result =
        Put(ctx, *target, put_flags->file, put_flags->code, put_flags->no_encrypt, put_flags->name);
  });

  auto cid = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* get = store->add_subcommand(
      "get", "Fetch a stored file (any k shards of each segment), verified, to -o FILE or stdout");
  get->add_option("CID", *cid, "The file's handle")->required();
  get->add_option("-o,--output", *out, "Write to this file instead of stdout");
  get->callback([&ctx, &result, target, cid, out] { result = Get(ctx, *target, *cid, *out); });

  auto* ls = store->add_subcommand("ls", "The files this node stored (yours; an admin sees all)");
  ls->callback([&ctx, &result, target] { result = List(ctx, *target); });

  auto* stat = store->add_subcommand("stat", "A stored file: code, holders, which are alive");
  stat->add_option("CID", *cid, "The file's handle")->required();
  stat->callback([&ctx, &result, target, cid] { result = Stat(ctx, *target, *cid); });

  auto* rm = store->add_subcommand("rm", "Remove a stored file: its holders drop their shards");
  rm->add_option("CID", *cid, "The file's handle")->required();
  rm->callback([&ctx, &result, target, cid] { result = Remove(ctx, *target, *cid); });
}

}  // namespace mesh::cli
