// Test helpers: ASSERT_OK, EXPECT_OK, ASSERT_OK_AND_ASSIGN for absl::Status, and a temporary
// directory. Test-only.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

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

namespace mesh {
// A fresh directory under $TMPDIR (or /tmp), removed with all it holds when this goes out of
// scope. Aborts the test binary if no directory can be made (nothing else could run).
class ScopedTempDir {
 public:
  ScopedTempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mesh_test_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("ScopedTempDir: mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};
}  // namespace mesh

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
