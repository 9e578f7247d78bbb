// Test helpers for absl::Status: ASSERT_OK, EXPECT_OK, ASSERT_OK_AND_ASSIGN. Test-only.
#pragma once

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mesh/common/status_macros.h"

namespace mesh::testing_internal {
inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace mesh::testing_internal

#define ASSERT_OK(expr)                                       \
  ASSERT_TRUE(::mesh::testing_internal::GetStatus(expr).ok()) \
      << ::mesh::testing_internal::GetStatus(expr)
#define EXPECT_OK(expr)                                       \
  EXPECT_TRUE(::mesh::testing_internal::GetStatus(expr).ok()) \
      << ::mesh::testing_internal::GetStatus(expr)

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(MESH_STATUS_CONCAT_(mesh_test_statusor_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  ASSERT_TRUE(statusor.ok()) << statusor.status();       \
  lhs = std::move(statusor).value()
