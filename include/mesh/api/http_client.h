// HttpClient: a small blocking HTTP/1.1 client for Mesh's own tools (the CLI, benchmarks and
// tests) talking to a node's API. One keep-alive connection, reopened once if the node closed
// it. Responses can be read whole, streamed to a sink (downloads), or read as server-sent
// events. Beast lives in http_client.cc only. Not thread-safe: one client per thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mesh::api {

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct SseEvent {
  std::string id;
  std::string type;  // "message" when the event names none
  std::string data;
};

class HttpClient {
 public:
  // `base_url`: "http://HOST:PORT" (a trailing slash is fine). InvalidArgument otherwise.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(std::string base_url);
  ~HttpClient();

  void set_token(std::string token) { token_ = std::move(token); }
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }
  const std::string& base_url() const { return base_url_; }

  // Unavailable when the node cannot be reached (naming the URL).
  absl::StatusOr<ClientResponse> Request(
      const std::string& method, const std::string& target, const std::string& body = "",
      const std::string& content_type = "application/json",
      const std::vector<std::pair<std::string, std::string>>& headers = {});
  // POSTs a file as the body, streamed from disk.
  absl::StatusOr<ClientResponse> UploadFile(const std::string& target,
                                            const std::filesystem::path& file);
  // GETs `target` and hands the body to `sink` chunk by chunk (the ClientResponse's body stays
  // empty on 2xx; on an error status it holds the error JSON).
  absl::StatusOr<ClientResponse> Download(
      const std::string& target, const std::function<absl::Status(std::string_view)>& sink);
  // Reads an event stream until `on_event` returns false or the stream ends.
  absl::Status Events(const std::string& target,
                      const std::function<bool(const SseEvent&)>& on_event);

 private:
  class Impl;
  HttpClient(std::string base_url, std::unique_ptr<Impl> impl);

  std::string base_url_;
  std::string token_;
  absl::Duration timeout_ = absl::Seconds(60);
  std::unique_ptr<Impl> impl_;
};

// Parses "data:"/"event:"/"id:" lines; fed arbitrary chunks, calls `emit` per complete event.
class SseParser {
 public:
  // Returns false when `emit` asked to stop.
  bool Feed(std::string_view chunk, const std::function<bool(const SseEvent&)>& emit);

 private:
  std::string line_;
  SseEvent current_;
  bool has_data_ = false;
};

}  // namespace mesh::api
