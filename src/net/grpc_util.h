// Private to the net module: what the gRPC client and server share. Message-size limits, and
// absl::Status <-> grpc::Status (both use the canonical codes with the same numbers, so a code
// passes through unchanged; a peer's out-of-range code becomes Unknown). Header-only, stateless.
#pragma once

#include <grpcpp/support/status.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "mesh/common/strings.h"
#include "mesh/net/transport.h"

namespace mesh::net::internal {

// gRPC's message limit on both sides: an envelope of kMaxMessageBytes plus the Frame's protobuf
// framing. A Frame between kMaxMessageBytes and this is refused (and counted) by the handler
// code; a larger one by gRPC itself, before it is buffered whole.
inline constexpr int kMaxFrameBytes = static_cast<int>(kMaxMessageBytes) + (16 << 10);

// A gRPC deadline `timeout` from now; non-positive = already expired, huge = one year.
inline std::chrono::system_clock::time_point DeadlineAfter(absl::Duration timeout) {
  const absl::Duration capped = std::clamp(timeout, absl::ZeroDuration(), absl::Hours(24 * 365));
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(capped);
}

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// `context` (e.g. "peer 10.0.0.2:7070") prefixes the message so errors name the peer.
inline absl::Status FromGrpcStatus(const grpc::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  const int code = static_cast<int>(s.error_code());
  const auto absl_code = code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated)
                             ? static_cast<absl::StatusCode>(code)
                             : absl::StatusCode::kUnknown;
  return absl::Status(absl_code, mesh::StrCat(context, ": ", s.error_message()));
}

}  // namespace mesh::net::internal
