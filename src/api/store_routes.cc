// ApiService's stored-file routes (node/file_store.h): POST /v1/store (the body is the file),
// GET /v1/store, GET /v1/store/{cid}, GET /v1/store/{cid}/content and DELETE /v1/store/{cid}.
// A user sees and changes the files it stored; admins see all. Puts, gets and removals talk to
// the holders, so they run on store_ops_, never on the server's I/O threads.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "api_json.h"
#include "file_body_source.h"
#include "mesh/api/api_service.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

using nlohmann::json;

constexpr size_t kMaxNameBytes = 255;
constexpr size_t kDefaultStoreList = 100;
constexpr size_t kMaxStoreList = 1000;

json StoredFileToJson(const node::StoredFileRecord& f, const std::vector<bool>& alive) {
  json holders = json::array();
  size_t live = 0;
  for (size_t i = 0; i < f.holders.size(); ++i) {
    const bool up = i < alive.size() && alive[i];
    live += up;
    holders.push_back({{"shard", f.holders[i].index},
                       {"did", f.holders[i].did},
                       {"address", f.holders[i].address},
                       {"alive", up}});
  }
  json j = {{"cid", f.cid},
            {"name", f.name},
            {"size", f.size},
            {"code", f.k == 0 ? "inline" : mesh::StrCat(f.k, "+", f.m)},
            {"encrypted", f.encrypted},
            {"segments", f.segments},
            {"stored_bytes", f.stored_bytes},
            {"created_at", absl::FormatTime(absl::RFC3339_full, f.created, absl::UTCTimeZone())},
            {"holders", std::move(holders)}};
  if (!f.user.empty()) j["user"] = f.user;
  // Readable while at least k holders are up (an inline file always is).
  j["holders_alive"] = live;
  j["readable"] = f.k == 0 || live >= static_cast<size_t>(f.k);
  return j;
}

absl::StatusOr<node::PutRequest> PutRequestOf(const HttpRequest& request) {
  node::PutRequest put;
  put.name = request.Query("name");
  if (put.name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        mesh::StrCat("query parameter name: at most ", kMaxNameBytes, " bytes"));
  }
  for (unsigned char c : put.name) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("query parameter name: no control characters");
    }
  }
  if (const std::string code = request.Query("code"); !code.empty()) {
    storage::StoreOptions options;
    MESH_RETURN_IF_ERROR(storage::ParseStoreCode(code, options));
    put.k = options.k;
    put.m = options.m;
  }
  if (const std::string e = request.Query("encrypt"); !e.empty()) {
    if (e != "true" && e != "false") {
      return absl::InvalidArgumentError(
          mesh::StrCat("query parameter encrypt=", e.substr(0, 16), ": true or false"));
    }
    put.encrypt = e == "true";
  }
  return put;
}

}  // namespace

void ApiService::RunStoreOp(std::function<void()> task, const Responder& respond) {
  {
    absl::MutexLock lock(&mu_);
    if (!shut_down_) {
      if (store_ops_ == nullptr) store_ops_ = std::make_unique<TaskPool>(2);
      store_ops_->Post(std::move(task));
      return;
    }
  }
  respond(ErrorResponse(503, "unavailable", "the node is shutting down"));
}

std::variant<node::StoredFileRecord, HttpResponse> ApiService::OwnStoredFile(const std::string& cid,
                                                                             const Caller& caller) {
  absl::StatusOr<node::StoredFileRecord> file = node_->files().Stat(cid);
  if (!file.ok()) return StatusResponse(file.status());
  if (!caller.Owns(file->user)) {
    return ErrorResponse(
        403, "permission_denied",
        mesh::StrCat("stored file ", cid, " is not ",
                     caller.anonymous ? "yours: sign in" : mesh::StrCat(caller.user.name, "'s"),
                     "; it is for the user who stored it and admins"));
  }
  return *std::move(file);
}

void ApiService::PutStore(HttpRequest request, const Caller& caller, Responder respond) {
  const std::string body = request.body_file;
  absl::StatusOr<node::PutRequest> put = PutRequestOf(request);
  if (!put.ok() || body.empty()) {
    if (!body.empty()) std::remove(body.c_str());
    return respond(put.ok() ? ErrorResponse(400, "invalid_argument", "the body is the file's bytes")
                            : StatusResponse(put.status()));
  }
  put->user = caller.anonymous ? "" : caller.user.did;
  RunStoreOp(
      [this, body, put = *std::move(put), respond] {
        ScopedFd fd(::open(body.c_str(), O_RDONLY | O_CLOEXEC));
        std::remove(body.c_str());
        if (fd.get() < 0) return respond(StatusResponse(ErrnoToStatus(errno, "open the upload")));
        cas::FdSource source(fd.get());
        absl::StatusOr<node::StoredFileRecord> file = node_->files().Put(source, put);
        if (!file.ok()) return respond(StatusResponse(file.status()));
        HttpResponse r =
            JsonResponse(201, StoredFileToJson(*file, node_->files().HoldersAlive(*file)));
        r.headers.emplace_back("Location", mesh::StrCat("/v1/store/", file->cid));
        respond(std::move(r));
      },
      respond);
}

HttpResponse ApiService::ListStore(const HttpRequest& request, const Caller& caller) {
  absl::StatusOr<size_t> limit = LimitQuery(request, kDefaultStoreList, kMaxStoreList);
  if (!limit.ok()) return StatusResponse(limit.status());
  if (caller.anonymous) return JsonResponse(200, {{"files", json::array()}});
  absl::StatusOr<std::vector<node::StoredFileRecord>> files =
      node_->files().List(caller.admin() ? "" : caller.user.did, *limit);
  if (!files.ok()) return StatusResponse(files.status());
  json list = json::array();
  for (const node::StoredFileRecord& f : *files) {
    list.push_back(StoredFileToJson(f, node_->files().HoldersAlive(f)));
  }
  return JsonResponse(200, {{"files", std::move(list)}});
}

HttpResponse ApiService::StatStore(const std::string& cid, const Caller& caller) {
  auto own = OwnStoredFile(cid, caller);
  if (auto* refused = std::get_if<HttpResponse>(&own)) return std::move(*refused);
  const auto& file = std::get<node::StoredFileRecord>(own);
  return JsonResponse(200, StoredFileToJson(file, node_->files().HoldersAlive(file)));
}

void ApiService::GetStore(const std::string& cid, const Caller& caller, Responder respond) {
  auto own = OwnStoredFile(cid, caller);
  if (auto* refused = std::get_if<HttpResponse>(&own)) return respond(std::move(*refused));
  std::string path;
  {
    absl::MutexLock lock(&mu_);
    path = mesh::StrCat(uploads_dir_, "/get-", ::getpid(), "-", next_upload_++);
  }
  const uint64_t size = std::get<node::StoredFileRecord>(own).size;
  RunStoreOp(
      [this, cid, path, size, respond] {
        // Decoded to a file nobody else can open (unlinked at once), then streamed from it: memory
        // stays a few segments whatever the file's size.
        ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (fd.get() < 0)
          return respond(StatusResponse(ErrnoToStatus(errno, "create a temp file")));
        ::unlink(path.c_str());
        absl::StatusOr<node::GetStats> got =
            node_->files().Get(cid, [&fd](std::string_view bytes) -> absl::Status {
              while (!bytes.empty()) {
                const ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return ErrnoToStatus(errno, "write the decoded file");
                bytes.remove_prefix(static_cast<size_t>(n));
              }
              return absl::OkStatus();
            });
        if (!got.ok()) return respond(StatusResponse(got.status()));
        HttpResponse r;
        r.content_type = "application/octet-stream";
        r.content_length = size;
        r.headers.emplace_back("ETag", mesh::StrCat("\"", cid, "\""));
        r.headers.emplace_back("X-Mesh-Shards-Fetched", std::to_string(got->shards_fetched));
        r.headers.emplace_back("X-Mesh-Shards-Rebuilt", std::to_string(got->open.shards_rebuilt));
        r.source = std::make_unique<FileBodySource>(std::move(fd), 0);
        respond(std::move(r));
      },
      respond);
}

void ApiService::RemoveStore(const std::string& cid, const Caller& caller, Responder respond) {
  auto own = OwnStoredFile(cid, caller);
  if (auto* refused = std::get_if<HttpResponse>(&own)) return respond(std::move(*refused));
  RunStoreOp(
      [this, cid, respond] {
        absl::StatusOr<node::RemoveResult> removed = node_->files().Remove(cid);
        if (!removed.ok()) return respond(StatusResponse(removed.status()));
        respond(JsonResponse(200, {{"cid", cid},
                                   {"holders_told", removed->holders_told},
                                   {"holders_unreachable", removed->holders_unreachable}}));
      },
      respond);
}

}  // namespace mesh::api
