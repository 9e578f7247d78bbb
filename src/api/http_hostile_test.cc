// Hostile requests against the real HttpServer (with a fake handler) and the API's access
// checks: issue 13's findings 1 (a trailer field over 64 KiB made Beast throw, and the
// exception aborted the process), 5 (bodies on GET, unknown transfer codings, connection caps),
// 7 (Host) and 9 (Authorization). Each test sends raw bytes over a loopback socket and reads
// what comes back.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "api_access.h"
#include "http_parsing.h"
#include "mesh/api/http_server.h"
#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"
#include "mesh/node/node_config.h"

namespace mesh::api {
namespace {

class FakeHandler : public HttpHandler {
 public:
  BodyPlan PlanBody(const HttpRequest& head) override {
    BodyPlan plan;
    plan.limit = head.method == "POST" ? (1 << 20) : 0;
    return plan;
  }
  void Handle(HttpRequest request, Responder respond) override {
    if (request.path == "/throw") throw std::runtime_error("a handler bug");
    HttpResponse r;
    r.body = "ok " + std::to_string(request.body.size());
    respond(std::move(r));
  }
  HttpResponse Error(int status, std::string message) override {
    HttpResponse r;
    r.status = status;
    r.body = std::move(message);
    return r;
  }
  void OnRejected(std::string_view reason) override {
    absl::MutexLock lock(&mu_);
    rejected_.emplace_back(reason);
  }
  std::vector<std::string> rejected() {
    absl::MutexLock lock(&mu_);
    return rejected_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> rejected_ ABSL_GUARDED_BY(mu_);
};

class HttpHostileTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    options.port = 0;
    ASSERT_OK_AND_ASSIGN(server_, HttpServer::Listen(options));
    server_->Serve(&handler_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
  }

  int Connect() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }

  // Sends `request` and returns what comes back until the server closes (or 10 s pass).
  std::string Exchange(int fd, const std::string& request) {
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // answered and closed before all was sent
      sent += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string answer;
    char buf[65536];
    while (true) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return answer;
  }
  std::string Send(const std::string& request) { return Exchange(Connect(), request); }

  std::string StatusLine(const std::string& answer) { return answer.substr(0, answer.find('\r')); }

  void ExpectServing() {
    EXPECT_EQ(StatusLine(Send("GET /v1/node HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")),
              "HTTP/1.1 200 OK");
  }

  FakeHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpHostileTest, TrailerFieldOverBeastsMaximumIsRefusedNotThrown) {
  StartServer();
  // The issue's reproduction, on a route that takes a body (on GET it is refused before).
  const std::string answer =
      Send("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX: " +
           std::string(65600, 'a') + "\r\n\r\n");
  EXPECT_EQ(StatusLine(answer), "HTTP/1.1 413 Payload Too Large");
  EXPECT_NE(answer.find("trailer"), std::string::npos);
  ExpectServing();
}

TEST_F(HttpHostileTest, ManySmallTrailerFieldsAreHeldToTheBound) {
  StartServer();
  std::string fields;
  for (int i = 0; i < 5000; ++i)
    fields += "X-" + std::to_string(i) + ": " + std::string(90, 'b') + "\r\n";
  EXPECT_EQ(StatusLine(Send("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "2\r\nab\r\n0\r\n" +
                            fields + "\r\n")),
            "HTTP/1.1 413 Payload Too Large");
  // A small trailer is fine.
  EXPECT_EQ(StatusLine(Send("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                            "Connection: close\r\n\r\n2\r\nab\r\n0\r\nX: 1\r\n\r\n")),
            "HTTP/1.1 200 OK");
}

TEST_F(HttpHostileTest, BodyOnARouteThatTakesNoneIsRefusedBeforeItIsRead) {
  StartServer();
  for (const std::string framing :
       {"Content-Length: 1048576\r\n\r\n", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"}) {
    const std::string answer = Send("GET /v1/node HTTP/1.1\r\nHost: h\r\n" + framing);
    EXPECT_EQ(StatusLine(answer), "HTTP/1.1 413 Payload Too Large") << framing;
    EXPECT_NE(answer.find("GET /v1/node takes no request body"), std::string::npos) << answer;
  }
  // An empty body declared as such is no body.
  EXPECT_EQ(StatusLine(Send("GET /v1/node HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
                            "Connection: close\r\n\r\n")),
            "HTTP/1.1 200 OK");
  const std::vector<std::string> rejected = handler_.rejected();
  EXPECT_EQ(std::count(rejected.begin(), rejected.end(), "body_refused"), 2);
}

TEST_F(HttpHostileTest, TransferCodingsOtherThanChunkedAre501) {
  StartServer();
  for (const std::string coding : {"gzip", "gzip, chunked", "chunked, gzip", "identity", "x"}) {
    EXPECT_EQ(StatusLine(Send("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + coding +
                              "\r\n\r\n2\r\n{}\r\n0\r\n\r\n")),
              "HTTP/1.1 501 Not Implemented")
        << coding;
  }
  EXPECT_EQ(StatusLine(Send("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n"
                            "Connection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n")),
            "HTTP/1.1 200 OK");
}

TEST_F(HttpHostileTest, RepeatedFramingAndAuthorizationFieldsAre400) {
  StartServer();
  for (const std::string twice : {"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n",
                                  "Host: a\r\n", "Content-Length: 2\r\nContent-Length: 2\r\n"}) {
    const std::string answer =
        Send("POST /x HTTP/1.1\r\nHost: h\r\n" + twice + "Content-Length: 2\r\n\r\n{}");
    EXPECT_EQ(StatusLine(answer), "HTTP/1.1 400 Bad Request") << twice << answer;
  }
}

TEST_F(HttpHostileTest, AHandlerThatThrowsGets500AndTheServerGoesOn) {
  StartServer();
  EXPECT_EQ(StatusLine(Send("GET /throw HTTP/1.1\r\nHost: h\r\n\r\n")),
            "HTTP/1.1 500 Internal Server Error");
  ExpectServing();
  const std::vector<std::string> rejected = handler_.rejected();
  EXPECT_EQ(std::count(rejected.begin(), rejected.end(), "exception"), 1);
}

TEST_F(HttpHostileTest, ConnectionsOverThePerAddressCapGet503WithRetryAfter) {
  StartServer({.max_connections = 100, .max_connections_per_address = 2});
  const int a = Connect();
  const int b = Connect();
  // Each held connection is admitted once the server has read from it: a request on each
  // (kept alive) proves both were accepted before the third arrives.
  for (int fd : {a, b}) {
    const std::string req = "GET /v1/node HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    char buf[4096];
    ASSERT_GT(::recv(fd, buf, sizeof(buf), 0), 0);
  }
  const std::string answer = Send("GET /v1/node HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(StatusLine(answer), "HTTP/1.1 503 Service Unavailable");
  EXPECT_NE(answer.find("Retry-After: 1"), std::string::npos) << answer;
  ::close(a);
  ::close(b);
  // Closed connections free their slots (the server notices the close on its next read).
  std::string again;
  for (int i = 0; i < 200; ++i) {
    again = StatusLine(Send("GET /v1/node HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    if (again == "HTTP/1.1 200 OK") break;
  }
  EXPECT_EQ(again, "HTTP/1.1 200 OK");
}

TEST(ConnectionCapKeyTest, CountsIpv4AddressesAndIpv6Slash64s) {
  using boost::asio::ip::make_address;
  EXPECT_EQ(ConnectionCapKey(make_address("192.0.2.7")), "192.0.2.7");
  EXPECT_EQ(ConnectionCapKey(make_address("::ffff:192.0.2.7")), "192.0.2.7");
  // One client cycling through its /64 is one client.
  EXPECT_EQ(ConnectionCapKey(make_address("2001:db8:1:2::1")), "2001:db8:1:2::/64");
  EXPECT_EQ(ConnectionCapKey(make_address("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64");
  EXPECT_NE(ConnectionCapKey(make_address("2001:db8:1:3::1")),
            ConnectionCapKey(make_address("2001:db8:1:2::1")));
  EXPECT_EQ(ConnectionCapKey(make_address("::1")), "::/64");
}

TEST(ApiAccessTest, HostHeader) {
  const std::vector<std::string> allowed = {"node1.example.org"};
  for (const char* ok : {"localhost", "LocalHost:7420", "localhost.", "a.localhost", "127.0.0.1",
                         "127.1.2.3:80", "[::1]", "[::1]:7420", "[::ffff:127.0.0.1]:1",
                         "node1.example.org", "NODE1.example.org:443", "10.0.0.5:7420"}) {
    EXPECT_OK(CheckHost(ok, "10.0.0.5", allowed)) << ok;
  }
  for (const char* refused :
       {"evil.example", "evil.example:7420", "127.0.0.1.evil.example", "localhost.evil.example",
        "10.0.0.6", "[::2]", "0.0.0.0", "node1.example.org.evil"}) {
    EXPECT_EQ(CheckHost(refused, "10.0.0.5", allowed).code(), absl::StatusCode::kPermissionDenied)
        << refused;
  }
  for (const char* malformed : {"", " ", "[::1", "[::1]x", "a:b", "a:", ":80", "a:123456"}) {
    EXPECT_EQ(CheckHost(malformed, "0.0.0.0", allowed).code(), absl::StatusCode::kInvalidArgument)
        << malformed;
  }
  // The unspecified listen address is nobody's name; "*" opens every name.
  EXPECT_FALSE(CheckHost("0.0.0.0", "0.0.0.0", {}).ok());
  EXPECT_OK(CheckHost("anything.example", "0.0.0.0", {"*"}));
}

TEST(ApiAccessTest, BearerSchemeIsCaseInsensitive) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("bearer abc"), "abc");
  EXPECT_EQ(BearerToken("BEARER   abc "), "abc");
  EXPECT_EQ(BearerToken("Bearer"), "");
  EXPECT_EQ(BearerToken("Bearerabc"), "");
  EXPECT_EQ(BearerToken("Basic abc"), "");
}

// The [api] keys of meshd.toml that bound hostile clients, and their defaults.
TEST(ApiConfigTest, HardeningKeys) {
  char tmpl[] = "/tmp/mesh_api_config_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::filesystem::path path = std::filesystem::path(tmpl) / "meshd.toml";
  auto load = [&](const std::string& toml, node::NodeConfig& config) {
    EXPECT_OK(WriteFileAtomically(path, toml, 0600, true));
    return node::LoadNodeConfig(path, config);
  };
  node::NodeConfig defaults;
  ASSERT_OK(load(node::DefaultConfigToml(), defaults));
  EXPECT_FALSE(defaults.anonymous_reads);
  EXPECT_TRUE(defaults.allowed_hosts.empty());
  EXPECT_EQ(defaults.header_timeout, absl::Seconds(10));
  EXPECT_EQ(defaults.body_timeout, absl::Seconds(60));
  EXPECT_EQ(defaults.min_body_rate, 16u << 10);
  EXPECT_EQ(defaults.max_connections, 1024);
  EXPECT_EQ(defaults.max_connections_per_address, 64);
  node::NodeConfig config;
  ASSERT_OK(load(R"toml(
[api]
anonymous_reads = true
allowed_hosts = ["node1.example.org"]
idle_timeout = "5s"
header_timeout = "2s"
body_timeout = "3s"
min_body_rate = "1KiB"
max_connections = 10
max_connections_per_address = 2
)toml",
                 config));
  EXPECT_TRUE(config.anonymous_reads);
  EXPECT_EQ(config.allowed_hosts, std::vector<std::string>{"node1.example.org"});
  EXPECT_EQ(config.idle_timeout, absl::Seconds(5));
  EXPECT_EQ(config.header_timeout, absl::Seconds(2));
  EXPECT_EQ(config.body_timeout, absl::Seconds(3));
  EXPECT_EQ(config.min_body_rate, 1024u);
  EXPECT_EQ(config.max_connections, 10);
  EXPECT_EQ(config.max_connections_per_address, 2);
  EXPECT_FALSE(config.insecure_anonymous_reads) << "only the flag sets it";
  for (const char* bad :
       {"[api]\nallowed_hosts = [\"http://x\"]\n", "[api]\nheader_timeout = \"0s\"\n",
        "[api]\nmax_connections = 0\n", "[api]\nanonymous_reads = \"yes\"\n",
        "[api]\ninsecure_anonymous_reads = true\n"}) {
    node::NodeConfig c;
    EXPECT_FALSE(load(bad, c).ok()) << bad;
  }
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace mesh::api
