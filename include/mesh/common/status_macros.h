// Status propagation macros used across Mesh. Errors cross module APIs as absl::Status /
// absl::StatusOr<T>; these macros keep the early-return plumbing to one line.
// Header-only, no state.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MESH_STATUS_CONCAT_INNER_(a, b) a##b
#define MESH_STATUS_CONCAT_(a, b) MESH_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the current function if not OK.
#define MESH_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status mesh_status_ = (expr);        \
    if (!mesh_status_.ok()) return mesh_status_; \
  } while (0)

// MESH_ASSIGN_OR_RETURN(auto x, FunctionReturningStatusOr());
// Declares/assigns `lhs` from the value, or returns the error status.
#define MESH_ASSIGN_OR_RETURN(lhs, rexpr) \
  MESH_ASSIGN_OR_RETURN_IMPL_(MESH_STATUS_CONCAT_(mesh_statusor_, __LINE__), lhs, rexpr)

#define MESH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
