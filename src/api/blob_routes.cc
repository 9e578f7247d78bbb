// ApiService's blob routes: POST /v1/blobs (an upload the server already wrote to a file) and
// GET /v1/blobs/{cid} (verified whole, or a byte range). Job outputs are served by GetBlob too.
#include <unistd.h>

#include "api_json.h"
#include "file_body_source.h"
#include "mesh/api/api_service.h"
#include "mesh/cas/dir_manifest.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

using nlohmann::json;

// Reads a blob and checks it against its CID; the final bytes are held back until the hash has
// matched, so a corrupted blob never reaches the client whole (the connection is cut instead).
class VerifiedBlobSource final : public BodySource {
 public:
  explicit VerifiedBlobSource(std::unique_ptr<cas::BlobReader> reader)
      : reader_(std::move(reader)) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    MESH_ASSIGN_OR_RETURN(size_t n, reader_->Read(buffer, size));
    delivered_ += n;
    if (n > 0 && delivered_ >= reader_->size()) {
      char probe;
      MESH_ASSIGN_OR_RETURN(size_t more, reader_->Read(&probe, 1));  // verifies at the end
      if (more != 0) return absl::DataLossError("the blob grew while it was read");
    }
    return n;
  }

 private:
  std::unique_ptr<cas::BlobReader> reader_;
  uint64_t delivered_ = 0;
};

}  // namespace

HttpResponse ApiService::PostBlob(HttpRequest& request, const Caller& caller) {
  absl::StatusOr<cas::Cid> cid = node_->blobs().PutFile(request.body_file);
  std::remove(request.body_file.c_str());
  if (!cid.ok()) return StatusResponse(cid.status());
  absl::StatusOr<cas::BlobInfo> info = node_->blobs().Stat(*cid);
  if (!info.ok()) return StatusResponse(info.status());
  // What a user uploads it may read back (admins read everything).
  if (!caller.admin()) {
    if (absl::Status s = node_->users().Grant(caller.user.did, cid->ToString()); !s.ok()) {
      return StatusResponse(s);
    }
  }
  HttpResponse r = JsonResponse(201, {{"cid", cid->ToString()}, {"size", info->size}});
  r.headers.emplace_back("Location", mesh::StrCat("/v1/blobs/", cid->ToString()));
  return r;
}

HttpResponse ApiService::PostBlobDir(const HttpRequest& request, const Caller& caller) {
  // {"entries": [{"path", "kind": "file"|"dir"|"symlink", "cid" (files), "target" (links)}]}:
  // the files are blobs the caller uploaded (POST /v1/blobs); their sizes come from the store.
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || !body.contains("entries") ||
      !body["entries"].is_array() || body.size() != 1) {
    return ErrorResponse(400, "invalid_argument",
                         "the body must be {\"entries\": [{\"path\", \"kind\", \"cid\" | "
                         "\"target\"}, ...]}");
  }
  const cas::ManifestLimits limits;
  if (body["entries"].size() > limits.max_entries) {
    return ErrorResponse(413, "resource_exhausted",
                         mesh::StrCat("a tree has at most ", limits.max_entries, " entries"));
  }
  cas::DirManifest manifest;
  for (size_t i = 0; i < body["entries"].size(); ++i) {
    const json& e = body["entries"][i];
    const std::string where = mesh::StrCat("/entries/", i);
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("kind") ||
        !e["kind"].is_string()) {
      return ErrorResponse(400, "invalid_argument", where + ": needs a path and a kind");
    }
    cas::DirEntry entry{.path = e["path"].get<std::string>()};
    const std::string kind = e["kind"].get<std::string>();
    if (kind == "dir") {
      entry.kind = cas::EntryKind::kDirectory;
    } else if (kind == "symlink") {
      entry.kind = cas::EntryKind::kSymlink;
      if (!e.contains("target") || !e["target"].is_string()) {
        return ErrorResponse(400, "invalid_argument", where + ": a symlink needs a target");
      }
      entry.target = e["target"].get<std::string>();
    } else if (kind == "file") {
      entry.kind = cas::EntryKind::kFile;
      const json* cid = e.contains("cid") ? &e["cid"] : nullptr;
      if (cid != nullptr && cid->is_object() && cid->contains("/")) cid = &(*cid)["/"];
      if (cid == nullptr || !cid->is_string()) {
        return ErrorResponse(400, "invalid_argument", where + ": a file needs a cid");
      }
      absl::StatusOr<cas::Cid> parsed = cas::Cid::Parse(cid->get<std::string>());
      if (!parsed.ok()) return StatusResponse(parsed.status());
      const std::string text = parsed->ToString();
      if (!caller.admin() && (caller.anonymous || !node_->users().Granted(caller.user.did, text))) {
        return ErrorResponse(403, "permission_denied",
                             mesh::StrCat(where, ": blob ", text,
                                          " is not yours; upload the file (POST /v1/blobs)"));
      }
      absl::StatusOr<cas::BlobInfo> info = node_->blobs().Stat(*parsed);
      if (absl::IsNotFound(info.status())) {
        return ErrorResponse(409, "failed_precondition",
                             mesh::StrCat(where, ": blob ", text,
                                          " is not in this node's blob store; upload it first"));
      }
      if (!info.ok()) return StatusResponse(info.status());
      entry.cid = *parsed;
      entry.size = info->size;
    } else {
      return ErrorResponse(400, "invalid_argument", where + ": kind must be file, dir or symlink");
    }
    manifest.entries.push_back(std::move(entry));
  }
  cas::SortEntries(manifest);
  absl::StatusOr<cas::Cid> cid = cas::PutManifest(node_->blobs(), manifest, limits);
  if (!cid.ok()) return StatusResponse(cid.status());
  if (!caller.admin()) {
    if (absl::Status s = node_->users().Grant(caller.user.did, cid->ToString()); !s.ok()) {
      return StatusResponse(s);
    }
  }
  HttpResponse r = JsonResponse(201, {{"cid", cid->ToString()},
                                      {"entries", manifest.entries.size()},
                                      {"files", manifest.FileCount()},
                                      {"bytes", manifest.TotalFileBytes()}});
  r.headers.emplace_back("Location", mesh::StrCat("/v1/blobs/", cid->ToString()));
  return r;
}

HttpResponse ApiService::ServeBlob(const HttpRequest& request, const std::string& text) {
  absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(text);
  if (!cid.ok()) return StatusResponse(cid.status());
  absl::StatusOr<cas::BlobInfo> info = node_->blobs().Stat(*cid);
  if (!info.ok()) return StatusResponse(info.status());
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("Accept-Ranges", "bytes");
  r.headers.emplace_back("ETag", mesh::StrCat("\"", text, "\""));
  r.headers.emplace_back("Cache-Control", "private, max-age=31536000, immutable");
  absl::StatusOr<std::optional<ByteRange>> range = ParseRange(request.Header("range"), info->size);
  if (!range.ok()) {
    HttpResponse e = ErrorResponse(416, "range_not_satisfiable", ToStd(range.status().message()));
    e.headers.emplace_back("Content-Range", mesh::StrCat("bytes */", info->size));
    return e;
  }
  if (range->has_value()) {
    absl::StatusOr<ScopedFd> fd = node_->blobs().OpenForRange(*cid);
    if (!fd.ok()) return StatusResponse(fd.status());
    const ByteRange& br = **range;
    r.status = 206;
    r.headers.emplace_back(
        "Content-Range",
        mesh::StrCat("bytes ", br.first, "-", br.first + br.length - 1, "/", info->size));
    r.source = std::make_unique<FileBodySource>(*std::move(fd), br.first);
    r.content_length = br.length;
    return r;
  }
  absl::StatusOr<std::unique_ptr<cas::BlobReader>> reader = node_->blobs().Open(*cid);
  if (!reader.ok()) return StatusResponse(reader.status());
  r.content_length = (*reader)->size();
  r.source = std::make_unique<VerifiedBlobSource>(*std::move(reader));
  return r;
}

}  // namespace mesh::api
