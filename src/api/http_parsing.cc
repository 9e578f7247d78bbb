#include "http_parsing.h"

#include <algorithm>
#include <limits>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace mesh::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void SetUpHeadParser(HeadParser& parser) {
  parser.header_limit(kHeaderLimit);
  // Not boost::none: Beast 1.74 compares the length with the optional, and none is smaller than
  // every length (every body would be "over the limit"). The route's limit is set later.
  parser.body_limit(std::numeric_limits<uint64_t>::max());
}

std::optional<FramingError> CheckRepeatedFields(const HeadParser& parser) {
  const auto& msg = parser.get();
  for (http::field f : {http::field::host, http::field::authorization, http::field::content_length,
                        http::field::transfer_encoding}) {
    if (msg.count(f) > 1) {
      return FramingError{400, std::string("the request has more than one ") +
                                   std::string(http::to_string(f)) +
                                   " header field; send exactly one"};
    }
  }
  return std::nullopt;
}

std::optional<FramingError> CheckFraming(const HeadParser& parser, std::string_view route_label,
                                         uint64_t body_limit) {
  if (std::optional<FramingError> repeated = CheckRepeatedFields(parser)) return repeated;
  const auto& msg = parser.get();
  if (const auto te = msg.find(http::field::transfer_encoding); te != msg.end()) {
    const std::string_view value(te->value().data(), te->value().size());
    const std::string_view coding = Trim(value);
    if (!beast::iequals(beast::string_view(coding.data(), coding.size()), "chunked")) {
      return FramingError{501, "Transfer-Encoding \"" + std::string(value) +
                                   "\" is not supported; send \"chunked\" or a Content-Length"};
    }
  }
  const auto length = parser.content_length();
  const bool has_body = parser.chunked() || (length.has_value() && *length > 0);
  if (body_limit == 0 && has_body) {
    return FramingError{413,
                        std::string(route_label) + " takes no request body; send it without one"};
  }
  if (length.has_value() && *length > body_limit) {
    return FramingError{413, "request body of " + std::to_string(*length) +
                                 " bytes is over this route's limit of " +
                                 std::to_string(body_limit) + " bytes"};
  }
  return std::nullopt;
}

FramingError ReadErrorResponse(const beast::error_code& ec) {
  if (ec == http::error::header_limit) {
    return {431, "request header is over the limit of " + std::to_string(kHeaderLimit) +
                     " bytes; send fewer or shorter header fields"};
  }
  if (ec == http::error::buffer_overflow) {
    return {413, "a chunk header or the trailer is over the limit of " +
                     std::to_string(kReadBufferLimit) + " bytes; send fewer trailer fields"};
  }
  if (ec == http::error::body_limit) {
    return {413, "request body is over this route's size limit"};
  }
  return {400, "malformed HTTP request: " + ec.message()};
}

std::string ConnectionCapKey(const boost::asio::ip::address& address) {
  if (!address.is_v6()) return address.to_string();
  const boost::asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  }
  boost::asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace mesh::api
