// ApiService's blob routes: POST /v1/blobs (an upload the server already wrote to a file) and
// GET /v1/blobs/{cid} (verified whole, or a byte range). Job outputs are served by GetBlob too.
#include <unistd.h>

#include "api_json.h"
#include "mesh/api/api_service.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

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

class RangeSource final : public BodySource {
 public:
  RangeSource(ScopedFd fd, uint64_t offset) : fd_(std::move(fd)), offset_(offset) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    const ssize_t n = ::pread(fd_.get(), buffer, size, static_cast<off_t>(offset_));
    if (n < 0) return ErrnoToStatus(errno, "read blob range");
    offset_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }

 private:
  ScopedFd fd_;
  uint64_t offset_;
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
    r.source = std::make_unique<RangeSource>(*std::move(fd), br.first);
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
