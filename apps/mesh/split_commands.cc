#include "split_commands.h"

#include <charconv>
#include <iostream>

#include "mesh/cas/cid.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/verify/merkle_tree.h"
#include "node_client.h"

namespace mesh::cli {
namespace {

using nlohmann::json;

absl::StatusOr<uint64_t> Count(std::string_view text, std::string_view flag) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v == 0) {
    return absl::InvalidArgumentError(
        mesh::StrCat(flag, ": \"", text, "\" must be a positive integer"));
  }
  return v;
}

std::string Short(const std::string& did) {
  return did.size() > 20 ? mesh::StrCat(did.substr(0, 14), "…", did.substr(did.size() - 6)) : did;
}

absl::Status ShowChunks(const CliContext& ctx, const NodeTarget& node, const std::string& id,
                        int proof_index) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  if (proof_index >= 0) {
    MESH_ASSIGN_OR_RETURN(
        json p, JsonOrError(client->Request(
                    "GET", mesh::StrCat("/v1/jobs/", id, "/chunks/", proof_index, "/proof"))));
    // Checked here, against the root the node names: the output's leaf and the path must give it.
    MESH_ASSIGN_OR_RETURN(verify::InclusionProof proof, verify::InclusionProofFromJson(p["proof"]));
    MESH_ASSIGN_OR_RETURN(verify::Digest root,
                          verify::ParseDigestHex(p["merkle_root"].get<std::string>()));
    MESH_ASSIGN_OR_RETURN(cas::Cid output, cas::Cid::Parse(p["output_cid"].get<std::string>()));
    const absl::Status verified =
        verify::VerifyInclusion(root, proof.tree_size, verify::LeafForCid(output), proof);
    if (ctx.json) {
      p["verified"] = verified.ok();
      std::cout << p.dump() << "\n";
    } else {
      std::cout << "chunk:       " << proof_index << " of " << proof.tree_size << "\n"
                << "output:      " << output.ToString() << "\n"
                << "merkle root: " << p["merkle_root"].get<std::string>() << "\n"
                << "path:        " << proof.path.size() << " hashes\n"
                << "verified:    " << (verified.ok() ? "yes" : std::string(verified.message()))
                << "\n";
    }
    return verified;
  }
  MESH_ASSIGN_OR_RETURN(
      json s, JsonOrError(client->Request("GET", mesh::StrCat("/v1/jobs/", id, "/chunks"))));
  if (ctx.json) {
    std::cout << s.dump() << "\n";
    return absl::OkStatus();
  }
  std::cout << "job " << id << ": " << s["done"] << "/" << s["total"] << " chunks done, "
            << s["stage"].get<std::string>() << "\n";
  std::printf("%6s  %-10s  %-22s  %12s  %s\n", "CHUNK", "STATE", "EXECUTOR", "FUEL", "OUTPUT");
  for (const json& c : s["chunks"]) {
    std::printf(
        "%6d  %-10s  %-22s  %12s  %s\n", c["index"].get<int>(),
        c["state"].get<std::string>().c_str(),
        Short(c.value("executor", std::string("this node"))).c_str(),
        c.contains("fuel_used") ? std::to_string(c["fuel_used"].get<uint64_t>()).c_str() : "-",
        c.value("output_cid", std::string("-")).c_str());
  }
  if (s.contains("merkle_root")) {
    std::cout << "merkle root: " << s["merkle_root"].get<std::string>() << "\n";
  }
  return absl::OkStatus();
}

absl::Status ShowPartials(const CliContext& ctx, const NodeTarget& node, const std::string& id,
                          bool cat) {
  MESH_ASSIGN_OR_RETURN(auto client, ConnectToNode(ctx, node, false));
  MESH_ASSIGN_OR_RETURN(
      json body, JsonOrError(client->Request("GET", mesh::StrCat("/v1/jobs/", id, "/partials"))));
  if (cat) {
    // The partial outputs so far, in order, each checked against its CID by the node.
    for (const json& p : body["partials"]) {
      absl::StatusOr<api::ClientResponse> r = client->Download(
          mesh::StrCat("/v1/blobs/", p["cid"].get<std::string>()), [](std::string_view chunk) {
            std::cout.write(chunk.data(), std::streamsize(chunk.size()));
            return absl::OkStatus();
          });
      MESH_RETURN_IF_ERROR(r.status());
      if (r->status / 100 != 2) return ApiError(*r);
    }
    std::cout.flush();
    return absl::OkStatus();
  }
  if (ctx.json) {
    std::cout << body.dump() << "\n";
    return absl::OkStatus();
  }
  std::cout << "job " << id << " (" << body["state"].get<std::string>()
            << "): " << body["partials"].size() << " partial output(s)\n";
  for (const json& p : body["partials"]) {
    std::cout << "  " << p["index"] << "  " << p["bytes"] << " bytes  "
              << p["cid"].get<std::string>() << "  " << p["at"].get<std::string>() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddSplitFlags(CLI::App* submit, SplitFlags& f) {
  submit->add_option("--split", f.split,
                     "Split the first input: bytes:N, lines:N, records:N[:SEP], wasm:FILE[:N], or "
                     "segments (a stored file's, one chunk each) "
                     "(a split module; N is its MESH_SPLIT_PARTS)");
  submit->add_option("--merge", f.merge, "With --split: concat (default) or wasm:FILE");
  submit->add_option("--chunk-module", f.chunk_module,
                     "With --split: the module run per chunk (default: the job's)");
}

absl::Status AddSplit(const SplitFlags& f,
                      const std::function<absl::StatusOr<std::string>(const std::string&)>& upload,
                      json& request) {
  if (f.split.empty()) {
    if (!f.merge.empty() || !f.chunk_module.empty()) {
      return absl::InvalidArgumentError("--merge and --chunk-module need --split");
    }
    return absl::OkStatus();
  }
  const size_t colon = f.split.find(':');
  const std::string kind = f.split.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : f.split.substr(colon + 1);
  json splitter = {{"kind", kind}};
  if (kind == "bytes") {
    MESH_ASSIGN_OR_RETURN(splitter["chunk_bytes"], Count(rest, "--split bytes:N"));
  } else if (kind == "lines") {
    MESH_ASSIGN_OR_RETURN(splitter["parts"], Count(rest, "--split lines:N"));
  } else if (kind == "records") {
    const size_t sep = rest.find(':');
    MESH_ASSIGN_OR_RETURN(splitter["parts"], Count(rest.substr(0, sep), "--split records:N"));
    if (sep != std::string::npos) splitter["separator"] = rest.substr(sep + 1);
  } else if (kind == "wasm") {
    const size_t parts = rest.rfind(':');
    std::string file = rest;
    if (parts != std::string::npos && parts + 1 < rest.size() &&
        rest.find_first_not_of("0123456789", parts + 1) == std::string::npos) {
      file = rest.substr(0, parts);
      MESH_ASSIGN_OR_RETURN(splitter["parts"],
                            Count(rest.substr(parts + 1), "--split wasm:FILE:N"));
    }
    if (file.empty()) return absl::InvalidArgumentError("--split wasm:FILE needs the module");
    MESH_ASSIGN_OR_RETURN(splitter["module"], upload(file));
  } else if (kind == "segments" && rest.empty()) {
    // One chunk per segment of the first input, a stored file (mesh store put).
  } else {
    return absl::InvalidArgumentError(
        mesh::StrCat("--split: \"", f.split,
                     "\" must be bytes:N, lines:N, records:N[:SEP], wasm:FILE[:N] or segments"));
  }
  json split = {{"splitter", splitter}};
  if (f.merge.empty() || f.merge == "concat") {
    split["merge"] = {{"kind", "concat"}};
  } else if (f.merge.rfind("wasm:", 0) == 0 && f.merge.size() > 5) {
    MESH_ASSIGN_OR_RETURN(std::string module, upload(f.merge.substr(5)));
    split["merge"] = {{"kind", "wasm"}, {"module", module}};
  } else {
    return absl::InvalidArgumentError(
        mesh::StrCat("--merge: \"", f.merge, "\" must be concat or wasm:FILE"));
  }
  if (!f.chunk_module.empty()) {
    MESH_ASSIGN_OR_RETURN(split["chunk_module"], upload(f.chunk_module));
  }
  request["split"] = split;
  return absl::OkStatus();
}

void AddSplitCommands(CLI::App& app, CliContext& ctx, absl::Status& result) {
  struct Flags {
    NodeTarget node;
    std::string id;
    int proof = -1;
    bool cat = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* chunks = app.add_subcommand(
      "chunks", "A split job's chunks (state, executor, output) and Merkle root");
  chunks->add_option("id", f->id, "Split job id")->required();
  chunks->add_option("--proof", f->proof,
                     "Print chunk INDEX's inclusion proof, checked here against the root");
  chunks->add_option("--node", f->node.url, "Node API URL (default: the data dir's running node)");
  chunks->callback([&ctx, &result, f] { result = ShowChunks(ctx, f->node, f->id, f->proof); });
  CLI::App* partials = app.add_subcommand(
      "partials", "The partial outputs a job made so far (mesh.emit_partial), also while it runs");
  partials->add_option("id", f->id, "Job id")->required();
  partials->add_flag("--cat", f->cat, "Write the partial outputs' bytes, in order, to stdout");
  partials->add_option("--node", f->node.url,
                       "Node API URL (default: the data dir's running node)");
  partials->callback([&ctx, &result, f] { result = ShowPartials(ctx, f->node, f->id, f->cat); });
}

}  // namespace mesh::cli
