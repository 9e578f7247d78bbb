#include <gtest/gtest.h>

#include "mesh/common/status_macros.h"
#include "mesh/common/testing.h"

namespace mesh {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  MESH_ASSIGN_OR_RETURN(int h, Half(x));
  MESH_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

absl::Status CheckQuarter(int x, int* calls) {
  ++*calls;
  MESH_RETURN_IF_ERROR(Quarter(x).status());
  ++*calls;
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagatesValuesAndErrors) {
  ASSERT_OK_AND_ASSIGN(int q, Quarter(12));
  EXPECT_EQ(q, 3);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  int calls = 0;
  EXPECT_OK(CheckQuarter(8, &calls));
  EXPECT_EQ(calls, 2);
  calls = 0;
  EXPECT_FALSE(CheckQuarter(7, &calls).ok());
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace mesh
