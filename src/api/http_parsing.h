// How the HTTP server reads a request with Beast, held to the server's limits: the parser set-up,
// the read buffer's bound (which is also what bounds chunk headers and trailers: Beast's
// header_limit counts only the header) and the checks made on a header before any body is read
// (repeated framing fields, transfer codings, bodies on routes that take none). The server
// (http_server.cc) and the libFuzzer target (fuzz/http_request_fuzzer.cc) both use exactly
// these, so the fuzzer exercises the real limits. Depends only on Beast and the standard library
// (the fuzzer compiles this file on its own). Pure functions; thread-safe.
#pragma once

#include <utility>  // before Beast, for g++ 12 (DESIGN.md)

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

namespace mesh::api {

// The request line and header fields together.
inline constexpr size_t kHeaderLimit = 16 << 10;
// Bytes the connection buffers before the parser consumes them. Body bytes are moved out at
// once, so only a header, a chunk header or the trailer can fill it: a trailer (which Beast
// collects whole before parsing it) is thereby held to this bound, and no field can reach
// Beast's 64 KiB per-field maximum (beyond which it throws std::length_error).
inline constexpr size_t kReadBufferLimit = 2 * kHeaderLimit;

using HeadParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;

// A read buffer with the server's bound.
inline boost::beast::flat_buffer MakeReadBuffer() {
  return boost::beast::flat_buffer(kReadBufferLimit);
}

// Sets the header limit; the body limit is set per route once the header is known.
void SetUpHeadParser(HeadParser& parser);

// Why a request cannot be served as framed, checked on its header before its body is read.
struct FramingError {
  int status;  // 400, 413 or 501
  std::string message;
};

// A repeated Host, Authorization, Content-Length or Transfer-Encoding field (400). Checked
// before the handler sees the request: with two Authorization fields, which one the token check
// read would decide between 401 and 200.
std::optional<FramingError> CheckRepeatedFields(const HeadParser& parser);

// `body_limit` is the route's; 0 means the route takes no body. Refuses: a repeated Host,
// Authorization, Content-Length or Transfer-Encoding field (400: which one wins is ambiguous,
// the root of request smuggling); a Transfer-Encoding other than exactly "chunked" (501: gzip
// and the rest are not decoded, and Beast would read the body as empty); a body on a route that
// takes none (413); a declared length over the limit (413).
std::optional<FramingError> CheckFraming(const HeadParser& parser, std::string_view route_label,
                                         uint64_t body_limit);

// The message for a Beast read error, and the status to answer it with (431 for the header
// limit, 413 for a full read buffer: an oversized trailer or chunk header).
FramingError ReadErrorResponse(const boost::beast::error_code& ec);

// What max_connections_per_address counts connections by: an IPv4 address (also when it comes
// IPv4-mapped), or an IPv6 /64, the block one host or site usually gets; counting single IPv6
// addresses would let one client take a new address per connection.
std::string ConnectionCapKey(const boost::asio::ip::address& address);

}  // namespace mesh::api
