#include <utility>  // before Beast, for g++ 12 (DESIGN.md)

#include "mesh/api/http_server.h"

#include <atomic>
#include <future>
#include <limits>
#include <optional>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "beast_fields.h"
#include "http_parsing.h"
#include "mesh/common/strings.h"
#include "spdlog/spdlog.h"

namespace mesh::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr size_t kStreamChunk = 256 << 10;
// After an answer that leaves a request body unread: how much more is read and dropped, and for
// how long, so that the client receives the answer instead of a connection reset.
constexpr uint64_t kLingerBytes = 8ull << 20;
constexpr std::chrono::seconds kLingerTime{2};
// Connections refused over the cap are answered (503) and closed within this time; beyond this
// many of them at once, a new one is closed without an answer (each holds a descriptor).
constexpr std::chrono::milliseconds kRefuseLingerTime{500};
constexpr int kMaxRefusing = 64;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void ParseTarget(std::string_view target, HttpRequest& req) {
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (!PercentDecode(path, req.path, false)) req.path = std::string(path);
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string key, value;
    PercentDecode(pair.substr(0, eq), key, true);
    if (eq != std::string_view::npos) PercentDecode(pair.substr(eq + 1), value, true);
    req.query.emplace(std::move(key), std::move(value));
  }
}

class Session;

}  // namespace

bool PercentDecode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return true;
}

class HttpServer::Impl {
 public:
  explicit Impl(HttpServerOptions options)
      : options_(std::move(options)), ioc_(options_.threads), acceptor_(ioc_) {}

  absl::Status Listen() {
    beast::error_code ec;
    auto address = net::ip::make_address(options_.host, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          mesh::StrCat("bad listen host \"", options_.host, "\": ", ec.message()));
    }
    tcp::endpoint endpoint(address, static_cast<uint16_t>(options_.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(mesh::StrCat("cannot listen on ", options_.host, ":",
                                                 options_.port, ": ", ec.message(),
                                                 "; pick another port with --listen"));
    }
    port_ = acceptor_.local_endpoint().port();
    return absl::OkStatus();
  }

  void Serve(HttpHandler* handler) {
    handler_ = handler;
    Accept();
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      threads_.emplace_back([this] { RunLoop(); });
    }
  }

  // What admitting a new connection from `address` would exceed, if anything.
  enum class Admission { kOk, kOverTotal, kOverAddress, kDrop };
  Admission Admit(const std::string& address) {
    absl::MutexLock lock(&conn_mu_);
    Admission verdict = Admission::kOk;
    if (open_ >= options_.max_connections) {
      verdict = Admission::kOverTotal;
    } else if (auto it = per_address_.find(address);
               it != per_address_.end() && it->second >= options_.max_connections_per_address) {
      verdict = Admission::kOverAddress;
    }
    if (verdict == Admission::kOk) {
      ++open_;
      ++per_address_[address];
    } else if (refusing_ >= kMaxRefusing) {
      verdict = Admission::kDrop;
    } else {
      ++refusing_;
    }
    return verdict;
  }
  void Release(const std::string& address, bool admitted) {
    absl::MutexLock lock(&conn_mu_);
    if (!admitted) {
      --refusing_;
      return;
    }
    --open_;
    if (auto it = per_address_.find(address); it != per_address_.end() && --it->second <= 0) {
      per_address_.erase(it);
    }
  }
  int open_connections() {
    absl::MutexLock lock(&conn_mu_);
    return open_;
  }
  void Rejected(std::string_view reason) {
    if (handler_ != nullptr) handler_->OnRejected(reason);
  }

  void RunAfter(absl::Duration delay, std::function<void()> fn) {
    if (stopped_.load()) return;
    if (delay <= absl::ZeroDuration()) {
      // No timer for "as soon as possible" (a long poll's wake-up, once per job event): a
      // zero-delay steady_timer costs two timerfd_settime calls and a timer queue entry.
      net::post(ioc_, std::move(fn));
      return;
    }
    auto timer = std::make_shared<net::steady_timer>(ioc_, absl::ToChronoNanoseconds(delay));
    timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
      if (!ec) fn();
    });
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    if (!threads_.empty()) {
      // Close the listener on an I/O thread and wait for it, so no connection is accepted
      // that will never be served; then give answers already queued a moment to go out.
      std::promise<void> closed;
      net::post(ioc_, [this, &closed] {
        beast::error_code ec;
        acceptor_.close(ec);
        closed.set_value();
      });
      closed.get_future().wait_for(std::chrono::seconds(2));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ioc_.stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  ~Impl() { Stop(); }

  int port() const { return port_; }
  const HttpServerOptions& options() const { return options_; }
  HttpHandler* handler() const { return handler_; }
  net::io_context& ioc() { return ioc_; }
  bool stopped() const { return stopped_.load(); }

 private:
  void Accept();

  // An exception that escapes a completion handler (Beast's parser, a handler, anything) ends
  // only that handler, whose connection is closed as its owner unwinds; the thread goes on
  // serving (Asio allows run() to be called again after it threw).
  void RunLoop() {
    while (true) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        spdlog::warn("HTTP connection dropped after an exception: {}", e.what());
        Rejected("exception");
      } catch (...) {
        spdlog::warn("HTTP connection dropped after an unknown exception");
        Rejected("exception");
      }
    }
  }

  const HttpServerOptions options_;
  // Before ioc_: sessions still queued in it release their slot when it is destroyed.
  absl::Mutex conn_mu_;
  int open_ ABSL_GUARDED_BY(conn_mu_) = 0;
  int refusing_ ABSL_GUARDED_BY(conn_mu_) = 0;
  absl::flat_hash_map<std::string, int> per_address_ ABSL_GUARDED_BY(conn_mu_);
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  HttpHandler* handler_ = nullptr;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
};

namespace {

// One connection: read a request, hand it to the handler, write the answer, repeat while the
// client keeps the connection alive. Everything runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `admitted`: false for a connection over the cap, which is answered 503 and closed.
  // `loopback`: the client connected from this host (127.0.0.0/8, ::1 or ::ffff:127.x).
  Session(tcp::socket socket, HttpServer::Impl& server, std::string address, bool admitted,
          bool loopback)
      : stream_(std::move(socket)),
        server_(server),
        buffer_(MakeReadBuffer()),
        address_(std::move(address)),
        admitted_(admitted),
        loopback_(loopback) {}

  ~Session() {
    if (events_ != nullptr) events_->Stop();
    if (!request_.body_file.empty() && !body_handed_over_) std::remove(request_.body_file.c_str());
    server_.Release(address_, admitted_);
  }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->admitted_) return self->ReadHeader();
      self->Refuse();
    });
  }

 private:
  using Clock = std::chrono::steady_clock;

  std::chrono::nanoseconds Option(absl::Duration d) const { return absl::ToChronoNanoseconds(d); }

  void Refuse() {
    keep_alive_ = false;
    HttpResponse r = CallHandler([&] {
      return server_.handler()->Error(
          503,
          "this node has too many open HTTP connections (from this address or in all); "
          "retry later");
    });
    r.headers.emplace_back("Retry-After", "1");
    refusing_ = true;
    WriteResponse(std::move(r));
  }

  // Calls into the handler, which must not end the connection by throwing: an exception
  // becomes a 500.
  template <class Fn>
  HttpResponse CallHandler(Fn fn) {
    try {
      return fn();
    } catch (const std::exception& e) {
      return InternalError(e.what());
    } catch (...) {
      return InternalError("unknown exception");
    }
  }

  HttpResponse InternalError(std::string_view what) {
    spdlog::warn("HTTP request {} raised an exception: {}", request_line_, what);
    server_.Rejected("exception");
    keep_alive_ = false;
    HttpResponse r;
    r.status = 500;
    r.body = "{\"code\":\"internal\",\"message\":\"the node could not handle this request\"}\n";
    return r;
  }

  // Between requests the connection may sit idle for idle_timeout; from the next request's
  // first byte its whole header must arrive within header_timeout (a header trickled a byte at
  // a time cannot hold the connection, however often it sends).
  void ReadHeader() {
    head_.emplace();
    SetUpHeadParser(*head_);
    if (buffer_.size() > 0) return ReadHeaderBytes();
    stream_.expires_after(Option(server_.options().idle_timeout));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();  // idle, or gone: nobody to answer
                              self->buffer_.commit(n);
                              self->ReadHeaderBytes();
                            });
  }

  void ReadHeaderBytes() {
    stream_.expires_after(Option(server_.options().header_timeout));
    http::async_read_header(
        stream_, buffer_, *head_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      server_.Rejected("header_timeout");
      return Close();
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return Close();
    }
    if (ec) {
      keep_alive_ = false;
      const FramingError e = ReadErrorResponse(ec);
      server_.Rejected(e.status == 431 ? "header_too_large" : "malformed");
      return WriteResponse(server_.handler()->Error(e.status, e.message));
    }
    request_ = HttpRequest{};
    request_.from_loopback = loopback_;
    body_handed_over_ = false;
    const auto& msg = head_->get();
    request_.method = std::string(msg.method_string());
    request_.target = std::string(msg.target());
    request_line_ = mesh::StrCat(request_.method, " ", request_.target.substr(0, 200));
    ParseTarget(request_.target, request_);
    request_.headers = LowerCasedFields(msg);
    keep_alive_ = msg.keep_alive();
    if (std::optional<FramingError> e = CheckRepeatedFields(*head_)) {
      keep_alive_ = false;
      server_.Rejected("framing");
      return WriteResponse(server_.handler()->Error(e->status, e->message));
    }
    std::optional<BodyPlan> planned;
    HttpResponse failed = CallHandler([&] {
      planned.emplace(server_.handler()->PlanBody(request_));
      return HttpResponse{};
    });
    if (!planned.has_value()) return WriteResponse(std::move(failed));
    BodyPlan plan = *std::move(planned);
    if (plan.reject != nullptr) {
      keep_alive_ = false;  // the body is not read: the connection cannot be reused
      return WriteResponse(std::move(*plan.reject));
    }
    if (std::optional<FramingError> e =
            CheckFraming(*head_, mesh::StrCat(request_.method, " ", request_.path), plan.limit)) {
      keep_alive_ = false;  // the unread body makes the connection unusable
      server_.Rejected(e->status == 413 ? "body_refused" : "framing");
      return WriteResponse(server_.handler()->Error(e->status, e->message));
    }
    if (beast::iequals(request_.Header("expect"), "100-continue")) {
      auto cont = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      stream_.expires_after(Option(server_.options().idle_timeout));
      net::async_write(
          stream_, net::buffer(*cont),
          [self = shared_from_this(), cont, plan = std::make_shared<BodyPlan>(std::move(plan))](
              beast::error_code ec, size_t) {
            if (ec) return self->Close();
            self->ReadBody(*plan);
          });
      return;
    }
    ReadBody(plan);
  }

  void ReadBody(const BodyPlan& plan) {
    body_start_ = Clock::now();
    body_received_ = 0;
    if (!plan.file.empty()) {
      file_parser_.emplace(std::move(*head_));
      file_parser_->body_limit(plan.limit);
      beast::error_code ec;
      file_parser_->get().body().open(plan.file.c_str(), beast::file_mode::write_new, ec);
      if (ec) {
        keep_alive_ = false;
        return WriteResponse(server_.handler()->Error(
            500, mesh::StrCat("cannot create upload file: ", ec.message())));
      }
      request_.body_file = plan.file;
      ReadBodySome(*file_parser_);
    } else {
      string_parser_.emplace(std::move(*head_));
      string_parser_->body_limit(plan.limit);
      ReadBodySome(*string_parser_);
    }
  }

  // The body's deadline: body_timeout, extended for as long as what has arrived keeps up
  // min_body_rate on average, and never more than idle_timeout from now (a silent client).
  Clock::time_point BodyDeadline() const {
    const HttpServerOptions& o = server_.options();
    const auto idle = Clock::now() + Option(o.idle_timeout);
    if (o.min_body_rate == 0) return idle;
    constexpr double kMaxEarnedSeconds = 1e6;  // keeps the time arithmetic far from overflow
    const auto earned = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
        std::min(kMaxEarnedSeconds,
                 static_cast<double>(body_received_) / static_cast<double>(o.min_body_rate))));
    const auto allowed = std::max<Clock::duration>(Option(o.body_timeout), earned);
    return std::min(idle, body_start_ + allowed);
  }

  template <class Parser>
  void ReadBodySome(Parser& parser) {
    if (parser.is_done()) return BodyRead({});
    stream_.expires_at(BodyDeadline());
    http::async_read_some(stream_, buffer_, parser,
                          [self = shared_from_this(), &parser](beast::error_code ec, size_t n) {
                            if (ec) return self->BodyRead(ec);
                            self->body_received_ += n;
                            self->ReadBodySome(parser);
                          });
  }

  void BodyRead(beast::error_code ec) {
    if (file_parser_.has_value()) file_parser_->get().body().close();
    OnBody(ec);
  }

  void OnBody(beast::error_code ec) {
    if (ec) {
      // A chunked upload found over the limit while it was read, or cut short: drop it.
      if (!request_.body_file.empty()) std::remove(request_.body_file.c_str());
      request_.body_file.clear();
      if (ec == beast::error::timeout) {
        server_.Rejected("body_too_slow");
        return Close();
      }
      if (ec == http::error::partial_message || ec == net::error::eof ||
          ec == net::error::connection_reset) {
        return Close();  // the client went away mid-body: nobody to answer
      }
      keep_alive_ = false;
      const FramingError e = ReadErrorResponse(ec);
      server_.Rejected(e.status == 413 ? "body_too_large" : "malformed");
      return WriteResponse(server_.handler()->Error(e.status, e.message));
    }
    if (string_parser_.has_value()) request_.body = string_parser_->release().body();
    string_parser_.reset();
    file_parser_.reset();
    stream_.expires_never();  // the handler may take its time (long polls)
    auto self = shared_from_this();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    body_handed_over_ = true;  // the handler owns the upload file now
    Responder respond = [self, answered](HttpResponse response) {
      if (answered->exchange(true)) return;
      net::post(self->stream_.get_executor(),
                [self, r = std::make_shared<HttpResponse>(std::move(response))]() mutable {
                  self->WriteResponse(std::move(*r));
                });
    };
    HttpResponse failed = CallHandler([&] {
      server_.handler()->Handle(std::move(request_), respond);
      return HttpResponse{};
    });
    if (failed.status == 500) respond(std::move(failed));
  }
  void WriteResponse(HttpResponse response) {
    if (response.events != nullptr) return StartEvents(std::move(response));
    if (response.source != nullptr) return StartSource(std::move(response));
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), 11);
    res->set(http::field::server, "meshd");
    res->set(http::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) res->set(k, v);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    if (refusing_) {
      stream_.expires_after(kRefuseLingerTime);
    } else {
      stream_.expires_after(Option(server_.options().idle_timeout));
    }
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res](beast::error_code ec, size_t) { self->AfterWrite(ec); });
  }

  void AfterWrite(beast::error_code ec) {
    if (ec) return Close();
    if (!keep_alive_) return LingeringClose();
    ReadHeader();
  }

  // Closing a socket with unread input sends a reset, which can destroy the answer just written
  // (a 413 for an upload the client is still sending). So: stop sending, read and discard what
  // the client still sends for a bounded time and size, then close.
  void LingeringClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    linger_budget_ = refusing_ ? kHeaderLimit : kLingerBytes;
    if (refusing_) {
      stream_.expires_after(kRefuseLingerTime);
    } else {
      stream_.expires_after(kLingerTime);
    }
    Discard();
  }

  void Discard() {
    chunk_.resize(64 << 10);
    stream_.async_read_some(net::buffer(chunk_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec || n >= self->linger_budget_) return self->Close();
                              self->linger_budget_ -= n;
                              self->Discard();
                            });
  }

  void StartSource(HttpResponse response) {
    source_ = std::move(response.source);
    remaining_ = response.content_length;
    auto res = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(response.status), 11);
    res->set(http::field::server, "meshd");
    res->set(http::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) res->set(k, v);
    res->content_length(response.content_length);
    res->keep_alive(keep_alive_);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    http::async_write_header(stream_, *sr,
                             [self = shared_from_this(), res, sr](beast::error_code ec, size_t) {
                               if (ec) return self->Close();
                               self->PumpSource();
                             });
  }

  void PumpSource() {
    if (remaining_ == 0) {
      source_.reset();
      return AfterWrite({});
    }
    chunk_.resize(std::min<uint64_t>(kStreamChunk, remaining_));
    size_t filled = 0;
    while (filled < chunk_.size()) {
      absl::StatusOr<size_t> n = source_->Read(chunk_.data() + filled, chunk_.size() - filled);
      if (!n.ok() || *n == 0) {
        spdlog::warn("response body ended early for {}: {}", request_.target,
                     n.ok() ? "end of data" : n.status().ToString());
        return Close();  // the client sees a short body
      }
      filled += *n;
    }
    remaining_ -= filled;
    stream_.expires_after(absl::ToChronoNanoseconds(server_.options().idle_timeout));
    net::async_write(stream_, net::buffer(chunk_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->PumpSource();
                     });
  }

  void StartEvents(HttpResponse response) {
    events_ = std::move(response.events);
    keep_alive_ = false;
    std::string head =
        "HTTP/1.1 200 OK\r\nServer: meshd\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n";
    pending_ = std::move(head);
    stream_.expires_never();
    std::weak_ptr<Session> weak = shared_from_this();
    auto executor = stream_.get_executor();
    events_->Start([weak, executor] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) self->FlushEvents();
      });
    });
    WatchForClose();
    Keepalive();
    FlushEvents();
  }

  // Ends the stream when the client closes its side. A wait for readability can complete when
  // nothing is there to read (the reactor's readiness is a hint), so the socket is asked
  // without blocking: end of stream or an error closes; bytes the client sent (it should send
  // none) are read and dropped; nothing at all waits again.
  void WatchForClose() {
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
          if (self->closed_) return;
          if (ec) return self->Close();
          char scratch[512];
          beast::error_code read_ec;
          self->stream_.socket().non_blocking(true, read_ec);
          const size_t n =
              read_ec ? 0 : self->stream_.socket().read_some(net::buffer(scratch), read_ec);
          if (read_ec == net::error::would_block || (!read_ec && n > 0))
            return self->WatchForClose();
          self->Close();  // end of stream (read_some reports eof) or an error
        });
  }

  void Keepalive() {
    auto timer = std::make_shared<net::steady_timer>(
        stream_.get_executor(), absl::ToChronoNanoseconds(server_.options().event_keepalive));
    std::weak_ptr<Session> weak = shared_from_this();
    timer->async_wait([weak, timer](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || self == nullptr || self->closed_) return;
      self->pending_ += ": keepalive\n\n";
      self->FlushEvents();
      self->Keepalive();
    });
  }

  void FlushEvents() {
    if (writing_ || closed_ || events_ == nullptr) return;
    pending_ += events_->Next();
    if (pending_.empty()) return;
    writing_ = true;
    sending_ = std::move(pending_);
    pending_.clear();
    net::async_write(stream_, net::buffer(sending_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       if (ec) return self->Close();
                       self->FlushEvents();
                     });
  }

  void Close() {
    closed_ = true;
    if (events_ != nullptr) {
      events_->Stop();
      events_.reset();
    }
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  beast::flat_buffer buffer_;  // bounded: kReadBufferLimit
  const std::string address_;  // the client's, for the per-address cap
  std::string request_line_;   // for logs, once request_ has gone to the handler
  const bool admitted_;
  const bool loopback_;
  bool refusing_ = false;  // answering 503 over the cap
  Clock::time_point body_start_;
  uint64_t body_received_ = 0;
  bool body_handed_over_ = false;
  std::optional<http::request_parser<http::empty_body>> head_;
  std::optional<http::request_parser<http::string_body>> string_parser_;
  std::optional<http::request_parser<http::file_body>> file_parser_;
  HttpRequest request_;
  bool keep_alive_ = true;
  std::unique_ptr<BodySource> source_;
  uint64_t remaining_ = 0;
  std::string chunk_;
  uint64_t linger_budget_ = 0;
  std::shared_ptr<EventStream> events_;
  std::string pending_;
  std::string sending_;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open() || ec == net::error::operation_aborted) return;  // Stop()
    if (ec) {
      // Out of file descriptors (EMFILE) and the like: the pending connection stays in the
      // backlog, so accepting again at once would spin. Wait a moment.
      spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
      auto timer = std::make_shared<net::steady_timer>(ioc_, std::chrono::milliseconds(100));
      timer->async_wait([this, timer](beast::error_code) { Accept(); });
      return;
    }
    Accept();  // first: whatever happens to this connection, the next one is accepted
    socket.set_option(tcp::no_delay(true), ec);
    const tcp::endpoint remote = socket.remote_endpoint(ec);
    std::string address = ec ? std::string() : ConnectionCapKey(remote.address());
    const net::ip::address ip = remote.address();
    const bool loopback =
        !ec && (ip.is_loopback() ||
                (ip.is_v6() && ip.to_v6().is_v4_mapped() &&
                 net::ip::make_address_v4(net::ip::v4_mapped, ip.to_v6()).is_loopback()));
    switch (Admit(address)) {
      case Admission::kOk:
        std::make_shared<Session>(std::move(socket), *this, std::move(address), true, loopback)
            ->Start();
        break;
      case Admission::kOverTotal:
      case Admission::kOverAddress:
        Rejected("connection_limit");
        std::make_shared<Session>(std::move(socket), *this, std::move(address), false, loopback)
            ->Start();
        break;
      case Admission::kDrop:  // too many being refused already: not even an answer
        Rejected("connection_limit");
        socket.close(ec);
        break;
    }
  });
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Listen(HttpServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Listen(); !s.ok()) return s;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;
int HttpServer::port() const { return impl_->port(); }
int HttpServer::open_connections() const { return impl_->open_connections(); }
void HttpServer::Serve(HttpHandler* handler) { impl_->Serve(handler); }
void HttpServer::RunAfter(absl::Duration delay, std::function<void()> fn) {
  impl_->RunAfter(delay, std::move(fn));
}
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace mesh::api
