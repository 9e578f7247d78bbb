// libFuzzer target over the HTTP server's request reading: arbitrary bytes, read the way the
// server reads them (src/api/http_parsing.h: the same parser set-up, header limit, bounded read
// buffer and framing checks), must never throw, crash or grow past the limits; and the access
// checks made on every header (Host, Authorization) must cope with any field value.
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target http_request_fuzzer
//   build/fuzz/fuzz/http_request_fuzzer -max_total_time=60 build/fuzz/http_corpus
#include <utility>  // before Beast, for g++ 12 (DESIGN.md)

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api_access.h"
#include "http_parsing.h"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// A SyncReadStream over the fuzz input, handing it out in pieces of varying size (chosen by
// the input's first byte), so that every split of a field, a chunk header or a trailer across
// reads is tried.
class InputStream {
 public:
  InputStream(std::string_view data, size_t step) : data_(data), step_(step) {}

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    if (data_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    ec = {};
    const size_t n =
        net::buffer_copy(buffers, net::buffer(data_.data(), std::min(step_, data_.size())));
    data_.remove_prefix(n);
    step_ = step_ * 3 % 4093 + 1;
    return n;
  }

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) std::abort();  // Beast's read functions use the error_code overload
    return n;
  }

 private:
  std::string_view data_;
  size_t step_;
};

constexpr uint64_t kJsonLimit = 1 << 20;  // the default [api] max_json_bytes

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  InputStream stream(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1),
                     data[0] + 1);
  beast::flat_buffer buffer = mesh::api::MakeReadBuffer();
  // Requests on one connection, as the server reads them, until one cannot be read or framed.
  for (int i = 0; i < 8; ++i) {
    mesh::api::HeadParser head;
    mesh::api::SetUpHeadParser(head);
    beast::error_code ec;
    http::read_header(stream, buffer, head, ec);
    if (buffer.size() > mesh::api::kReadBufferLimit) std::abort();
    if (ec) {
      (void)mesh::api::ReadErrorResponse(ec);
      return 0;
    }
    const auto& msg = head.get();
    const auto host = msg.find(http::field::host);
    (void)mesh::api::CheckHost(host == msg.end()
                                   ? std::string_view()
                                   : std::string_view(host->value().data(), host->value().size()),
                               "0.0.0.0", {"node1.example.org"});
    const auto auth = msg.find(http::field::authorization);
    if (auth != msg.end()) {
      (void)mesh::api::BearerToken(std::string_view(auth->value().data(), auth->value().size()));
    }
    // GET and the like take no body; POST routes take JSON up to the default limit.
    const uint64_t limit = msg.method() == http::verb::post ? kJsonLimit : 0;
    if (mesh::api::CheckFraming(head, "POST /v1/jobs", limit).has_value()) return 0;
    http::request_parser<http::string_body> body(std::move(head));
    body.body_limit(limit);
    http::read(stream, buffer, body, ec);
    if (buffer.size() > mesh::api::kReadBufferLimit) std::abort();
    if (ec) {
      (void)mesh::api::ReadErrorResponse(ec);
      return 0;
    }
    if (body.get().body().size() > limit) std::abort();  // the limit must hold
    if (!body.get().keep_alive()) return 0;
  }
  return 0;
}
