// HttpServer: the node's HTTP/1.1 server (Boost.Beast over Asio), kept free of Mesh logic: it
// parses requests, enforces body limits (413) and time-outs, and hands each request to an
// HttpHandler, which answers once, from any thread, through its Responder. Answers are a body
// in memory, a byte stream of known length (blob downloads), or an endless event stream
// (server-sent events). Beast lives in http_server.cc only: it is slow to compile.
//
// Request bodies are planned from the header: small JSON bodies are read into memory, uploads
// go straight to a file (PlanBody), so a 1 GiB upload never sits in memory.
//
// Hostile clients are bounded (HttpServerOptions): a header must arrive whole within
// header_timeout of its first byte; a body must keep up a minimum rate after body_timeout;
// connections are capped in total and per client address (503 with Retry-After beyond); the
// read buffer bounds trailers and chunk headers; repeated framing fields, unknown transfer
// codings and bodies on routes that take none are refused before any body is read
// (http_parsing.h). No exception from parsing or from the handler escapes: the connection gets
// a 4xx/5xx or is closed, and HttpHandler::OnRejected counts it.
//
// Thread-safety: Serve() runs `threads` I/O threads; each connection is served on its own
// strand. Stop() closes the listener, stops the I/O threads and joins them; connections close
// when the server is destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mesh::api {

struct HttpRequest {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // path and query, as sent
  std::string path;                               // decoded path, no query
  std::multimap<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> headers;     // names lower-cased
  std::string body;                               // when read into memory
  std::string body_file;                          // when PlanBody chose a file
  bool from_loopback = false;                     // the client connected from this host

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string Query(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  }
};

// A byte stream of known length: Read() returns 0 at the end; an error ends the connection
// (the client sees a short body).
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual absl::StatusOr<size_t> Read(char* buffer, size_t size) = 0;
};

// An endless stream of server-sent events. Start() gets a wake function to call (from any
// thread) when Next() has something; Next() returns the text to send, empty when nothing is
// ready. Stop() is called once when the client goes away or the server stops.
class EventStream {
 public:
  virtual ~EventStream() = default;
  virtual void Start(std::function<void()> wake) = 0;
  virtual std::string Next() = 0;
  virtual void Stop() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::unique_ptr<BodySource> source;  // instead of body: `content_length` bytes from here
  uint64_t content_length = 0;
  std::shared_ptr<EventStream> events;  // instead of body: text/event-stream until closed
};

using Responder = std::function<void(HttpResponse)>;

struct BodyPlan {
  uint64_t limit = 1 << 20;  // larger bodies get 413; 0: the route takes no body (413 if sent)
  std::string file;          // non-empty: write the body to this new file
  // Set: answer this at once without reading the body (e.g. 401 before a 1 GiB upload).
  std::unique_ptr<HttpResponse> reject;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called with the request's header (no body yet).
  virtual BodyPlan PlanBody(const HttpRequest& head) = 0;
  // Must call `respond` exactly once, on any thread, now or later.
  virtual void Handle(HttpRequest request, Responder respond) = 0;
  // An answer the server makes itself (413, 400 for an unparseable request).
  virtual HttpResponse Error(int status, std::string message) = 0;
  // A request or connection the server refused or dropped, by reason ("header_timeout",
  // "body_too_slow", "connection_limit", "exception", ...), for a metric. Any thread.
  virtual void OnRejected(std::string_view /*reason*/) {}
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  int threads = 2;
  // A silent connection between requests, or a stalled write, is closed after this.
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration event_keepalive = absl::Seconds(15);  // comment lines on idle event streams
  // From a request's first byte to the end of its header.
  absl::Duration header_timeout = absl::Seconds(10);
  // A body may take body_timeout; after that it must have come at min_body_rate bytes per
  // second on average since it started (a 1 GiB upload on a slow link is fine, a trickle is
  // not). min_body_rate 0: no minimum rate (only idle_timeout between reads).
  absl::Duration body_timeout = absl::Seconds(60);
  uint64_t min_body_rate = 16 << 10;
  // Open connections, in total and from one client address; beyond them a connection gets 503
  // with Retry-After and is closed.
  int max_connections = 1024;
  int max_connections_per_address = 64;
};

class HttpServer {
 public:
  // Binds and listens (so port() is known) but serves nothing until Serve().
  static absl::StatusOr<std::unique_ptr<HttpServer>> Listen(HttpServerOptions options);
  ~HttpServer();

  int port() const;
  // Connections admitted and not yet closed (those refused over the cap not included).
  int open_connections() const;
  void Serve(HttpHandler* handler);
  // Runs `fn` on an I/O thread after `delay` (not before Serve; dropped after Stop).
  void RunAfter(absl::Duration delay, std::function<void()> fn);
  void Stop();

  class Impl;  // http_server.cc only

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "%2Fa+b" -> "/a b" (plus as space only when `plus_is_space`). False if malformed.
bool PercentDecode(std::string_view in, std::string& out, bool plus_is_space);

}  // namespace mesh::api
