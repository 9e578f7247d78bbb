#include "mesh/exec/module_cache.h"

#include <gtest/gtest.h>

#include "mesh/common/testing.h"
#include "testing/wat.h"

namespace mesh::exec {
namespace {

class ModuleCacheTest : public ::testing::Test {
 protected:
  const std::string kNoop = wasm::testing::WatToWasm(R"((module (func (export "_start"))))");
};

TEST_F(ModuleCacheTest, InstrumentsOncePerId) {
  ModuleCache cache;
  ASSERT_OK_AND_ASSIGN(auto first, cache.Get("noop", &kNoop));
  ASSERT_OK_AND_ASSIGN(auto second, cache.Get("noop", nullptr));
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(cache.instrumentations(), 1u);
}

TEST_F(ModuleCacheTest, MissWithoutBytesIsNotFound) {
  ModuleCache cache;
  EXPECT_TRUE(absl::IsNotFound(cache.Get("absent", nullptr).status()));
}

TEST_F(ModuleCacheTest, BadModulesAreRememberedWithTheirError) {
  ModuleCache cache;
  const std::string garbage = "not wasm at all";
  absl::Status first = cache.Get("bad", &garbage).status();
  EXPECT_TRUE(absl::IsInvalidArgument(first)) << first;
  absl::Status second = cache.Get("bad", nullptr).status();
  EXPECT_EQ(first, second);
  EXPECT_EQ(cache.instrumentations(), 1u);
}

TEST_F(ModuleCacheTest, DropsLeastRecentlyUsedPastTheBudget) {
  ModuleCache cache(/*max_bytes=*/1);  // keeps only the newest entry
  ASSERT_OK(cache.Get("a", &kNoop));
  ASSERT_OK(cache.Get("b", &kNoop));
  EXPECT_TRUE(absl::IsNotFound(cache.Get("a", nullptr).status()));
  EXPECT_OK(cache.Get("b", nullptr));
}

}  // namespace
}  // namespace mesh::exec
