// Directory trees between the CLI and a node: `mesh submit --mount PATH_OR_CID:GUEST[:rw]`
// uploads a host directory (each file as a blob, then the entries as a manifest: POST
// /v1/blobs/dir) or a file, and `mesh output ID --dir DEST` downloads a job's output tree,
// each file checked against its CID as it arrives, never written outside DEST
// (cas::ExportTree). Single-threaded.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "mesh/api/http_client.h"
#include "nlohmann/json.hpp"

namespace mesh::cli {

// "SRC:/guest[:rw]" -> {"cid", "path"[, "writable"]}; SRC a directory or file (uploaded) or a
// CID (a file's or a manifest's, already on the node).
absl::StatusOr<nlohmann::json> UploadMount(api::HttpClient& client, const std::string& flag);

// Uploads the tree at `root`; returns the manifest's CID.
absl::StatusOr<std::string> UploadTree(api::HttpClient& client, const std::filesystem::path& root);

// Writes the output tree of job `job_id` (its files_cid) under `dest` (new or empty).
absl::Status DownloadTree(api::HttpClient& client, const std::string& job_id,
                          const std::string& files_cid, const std::filesystem::path& dest);

}  // namespace mesh::cli
