#include <utility>  // before Beast, for g++ 12 (DESIGN.md)

#include "mesh/api/http_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>

#include "beast_fields.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

}  // namespace

class HttpClient::Impl {
 public:
  Impl(std::string host, std::string port) : host_(std::move(host)), port_(std::move(port)) {}

  absl::Status Connect(absl::Duration timeout) {
    if (stream_.has_value() && stream_->socket().is_open()) return absl::OkStatus();
    stream_.emplace(ioc_);
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(host_, port_, ec);
    if (!ec) {
      stream_->expires_after(absl::ToChronoNanoseconds(timeout));
      ec = Run([&](auto done) {
        stream_->async_connect(endpoints,
                               [done](beast::error_code e, const tcp::endpoint&) { done(e, 0); });
      });
    }
    if (ec) {
      stream_.reset();
      return absl::UnavailableError(mesh::StrCat("cannot reach the node at http://", host_, ":",
                                                 port_, " (", ec.message(),
                                                 "); is meshd running? start it with `mesh node "
                                                 "start`"));
    }
    stream_->socket().set_option(tcp::no_delay(true), ec);
    return absl::OkStatus();
  }

  // Runs one asynchronous operation to its end. Beast's stream time-outs apply only to
  // asynchronous operations, so every blocking call of this client is one of these.
  template <class Start>
  beast::error_code Run(Start&& start) {
    beast::error_code result = net::error::would_block;
    ioc_.restart();
    start([&result](beast::error_code ec, size_t) { result = ec; });
    ioc_.run();
    return result;
  }

  // Sends `req`, then reads the answer's header. A request that fails on a kept-alive
  // connection the node had already closed is sent again once, on a new connection; a request
  // on a fresh connection is never repeated (a POST might have been acted on).
  template <class Body>
  absl::StatusOr<http::response_parser<http::buffer_body>*> Send(http::request<Body>& req,
                                                                 absl::Duration timeout,
                                                                 bool retry) {
    for (int attempt = 0;; ++attempt) {
      const bool reused = stream_.has_value() && stream_->socket().is_open();
      MESH_RETURN_IF_ERROR(Connect(timeout));
      stream_->expires_after(absl::ToChronoNanoseconds(timeout));
      const beast::error_code wrote =
          Run([&](auto done) { http::async_write(*stream_, req, done); });
      // Even when the write failed the node may have answered (a 413 or 401 before the body).
      parser_.emplace();
      parser_->body_limit(std::numeric_limits<uint64_t>::max());  // not none: see http_server.cc
      stream_->expires_after(absl::ToChronoNanoseconds(timeout));
      const beast::error_code read =
          Run([&](auto done) { http::async_read_header(*stream_, buffer_, *parser_, done); });
      if (!read) return &*parser_;
      stream_.reset();
      buffer_.clear();
      const beast::error_code ec = wrote ? wrote : read;
      if (!reused || attempt > 0 || !retry) {
        return absl::UnavailableError(
            mesh::StrCat("request to http://", host_, ":", port_, " failed: ",
                         ec == beast::error::timeout ? std::string("no answer within the time-out")
                                                     : ec.message()));
      }
    }
  }

  // Reads the rest of the body, chunk by chunk; `timeout` bounds each wait for data.
  absl::Status ReadBody(absl::Duration timeout, const std::function<bool(std::string_view)>& sink) {
    char buf[64 << 10];
    while (!parser_->is_done()) {
      parser_->get().body().data = buf;
      parser_->get().body().size = sizeof(buf);
      stream_->expires_after(absl::ToChronoNanoseconds(timeout));
      // read_some: returns with what has arrived (event streams trickle; read() would wait
      // for a full buffer).
      const beast::error_code ec =
          Run([&](auto done) { http::async_read_some(*stream_, buffer_, *parser_, done); });
      if (ec && ec != http::error::need_buffer) {
        stream_.reset();
        buffer_.clear();
        if (ec == http::error::end_of_stream || ec == net::error::eof) break;
        return absl::UnavailableError(mesh::StrCat("reading the answer failed: ", ec.message()));
      }
      const size_t got = sizeof(buf) - parser_->get().body().size;
      if (got > 0 && !sink(std::string_view(buf, got))) {
        stream_.reset();  // the caller stopped early: the connection is mid-body
        buffer_.clear();
        return absl::OkStatus();
      }
    }
    if (parser_->is_done() && !parser_->get().keep_alive()) {
      stream_.reset();
      buffer_.clear();
    } else if (!parser_->is_done()) {
      return absl::DataLossError("the node closed the connection before the whole answer");
    }
    return absl::OkStatus();
  }

  // The answer whose header Send() read, with its whole body in memory.
  absl::StatusOr<ClientResponse> ReadResponse(absl::Duration timeout) {
    ClientResponse out;
    out.status = static_cast<int>(parser_->get().result_int());
    out.headers = LowerCasedFields(parser_->get());
    MESH_RETURN_IF_ERROR(ReadBody(timeout, [&out](std::string_view chunk) {
      out.body.append(chunk);
      return true;
    }));
    return out;
  }

  std::string host_, port_;
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
};

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(std::string base_url) {
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  constexpr std::string_view kScheme = "http://";
  if (base_url.rfind(kScheme, 0) != 0) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "node URL \"", base_url, "\" must start with http://, e.g. http://127.0.0.1:7420"));
  }
  std::string hostport = base_url.substr(kScheme.size());
  if (hostport.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        mesh::StrCat("node URL \"", base_url, "\" must not have a path"));
  }
  const size_t colon = hostport.rfind(':');
  std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || port.empty()) {
    return absl::InvalidArgumentError(mesh::StrCat("node URL \"", base_url, "\" lacks a host"));
  }
  auto impl = std::make_unique<Impl>(host, port);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(base_url), std::move(impl)));
}

HttpClient::HttpClient(std::string base_url, std::unique_ptr<Impl> impl)
    : base_url_(std::move(base_url)), impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

namespace {
template <class Body>
void Prepare(http::request<Body>& req, const std::string& host, const std::string& token) {
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "mesh-cli");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.keep_alive(true);
}
}  // namespace

absl::StatusOr<ClientResponse> HttpClient::Request(
    const std::string& method, const std::string& target, const std::string& body,
    const std::string& content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  Prepare(req, impl_->host_, token_);
  if (!body.empty() || method == "POST") req.set(http::field::content_type, content_type);
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  MESH_RETURN_IF_ERROR(impl_->Send(req, timeout_, /*retry=*/true).status());
  return impl_->ReadResponse(timeout_);
}

absl::StatusOr<ClientResponse> HttpClient::UploadFile(const std::string& target,
                                                      const std::filesystem::path& file) {
  http::request<http::file_body> req(http::verb::post, target, 11);
  Prepare(req, impl_->host_, token_);
  req.set(http::field::content_type, "application/octet-stream");
  beast::error_code ec;
  req.body().open(file.c_str(), beast::file_mode::scan, ec);
  if (ec) {
    return absl::NotFoundError(mesh::StrCat("cannot read ", file.string(), ": ", ec.message()));
  }
  req.prepare_payload();
  MESH_RETURN_IF_ERROR(impl_->Send(req, timeout_, /*retry=*/false).status());
  return impl_->ReadResponse(timeout_);
}

absl::StatusOr<ClientResponse> HttpClient::Download(
    const std::string& target, const std::function<absl::Status(std::string_view)>& sink) {
  http::request<http::empty_body> req(http::verb::get, target, 11);
  Prepare(req, impl_->host_, token_);
  MESH_ASSIGN_OR_RETURN(auto* parser, impl_->Send(req, timeout_, /*retry=*/true));
  ClientResponse out;
  out.status = static_cast<int>(parser->get().result_int());
  out.headers = LowerCasedFields(parser->get());
  const bool ok = out.status / 100 == 2;
  absl::Status sink_status;
  uint64_t received = 0;
  MESH_RETURN_IF_ERROR(impl_->ReadBody(timeout_, [&](std::string_view chunk) {
    received += chunk.size();
    if (!ok) {
      out.body.append(chunk);
      return true;
    }
    sink_status = sink(chunk);
    return sink_status.ok();
  }));
  MESH_RETURN_IF_ERROR(sink_status);
  if (ok && out.headers.contains("content-length") &&
      std::to_string(received) != out.headers["content-length"]) {
    return absl::DataLossError(mesh::StrCat("download of ", target, " ended after ", received,
                                            " of ", out.headers["content-length"],
                                            " bytes (the node found the data damaged or went "
                                            "away)"));
  }
  return out;
}

absl::Status HttpClient::Events(const std::string& target,
                                const std::function<bool(const SseEvent&)>& on_event) {
  http::request<http::empty_body> req(http::verb::get, target, 11);
  Prepare(req, impl_->host_, token_);
  req.set(http::field::accept, "text/event-stream");
  // Streams are endless: the read time-out is the keep-alive interval with a margin.
  const absl::Duration idle = std::max(timeout_, absl::Seconds(60));
  MESH_ASSIGN_OR_RETURN(auto* parser, impl_->Send(req, idle, /*retry=*/true));
  if (parser->get().result_int() != 200) {
    absl::StatusOr<ClientResponse> refused = impl_->ReadResponse(timeout_);
    return absl::UnavailableError(
        mesh::StrCat("event stream refused (HTTP ", parser->get().result_int(),
                     "): ", refused.ok() ? refused->body : std::string()));
  }
  SseParser sse;
  return impl_->ReadBody(idle, [&](std::string_view chunk) { return sse.Feed(chunk, on_event); });
}

bool SseParser::Feed(std::string_view chunk, const std::function<bool(const SseEvent&)>& emit) {
  for (char c : chunk) {
    if (c != '\n') {
      if (c != '\r') line_.push_back(c);
      continue;
    }
    if (line_.empty()) {  // blank line: dispatch
      if (has_data_) {
        if (current_.type.empty()) current_.type = "message";
        if (!current_.data.empty() && current_.data.back() == '\n') current_.data.pop_back();
        const bool go_on = emit(current_);
        current_ = SseEvent{};
        has_data_ = false;
        if (!go_on) return false;
      }
      continue;
    }
    if (line_.front() != ':') {
      const size_t colon = line_.find(':');
      std::string field = line_.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line_.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (field == "data") {
        current_.data += value + "\n";
        has_data_ = true;
      } else if (field == "event") {
        current_.type = value;
      } else if (field == "id") {
        current_.id = value;
      }
    }
    line_.clear();
  }
  return true;
}

}  // namespace mesh::api
