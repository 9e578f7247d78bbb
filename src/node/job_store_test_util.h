// A JobStore on a fresh temporary directory, and signed job records to put in it: the fixture
// of the tests that drive the store itself (job_store_test.cc, mesh_group_commit_test.cc).
// Test-only.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "mesh/cas/cid.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/job_spec.h"
#include "mesh/node/job_store.h"

namespace mesh::node::jobstoretest {

class JobStoreFixture : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(store_, JobStore::Open(root_ / "jobs.db")); }
  void TearDown() override { store_.reset(); }
  // A queued job numbered `n` (its spec's time and nonce), signed by key_, not yet stored.
  JobRecord Make(int n, int priority = 0, std::string key = "") {
    job::JobSpec spec;
    spec.module = cas::Cid::Of("module").ToString();
    spec.priority = priority;
    spec.created_at_ms = n;
    spec.nonce = std::to_string(n);
    job::SignedJobSpec s = job::SignJobSpec(spec, key_);
    JobRecord r;
    r.id = s.id.ToString();
    r.envelope = s.envelope;
    r.spec = s.spec;
    r.idempotency_key = std::move(key);
    r.submitted_at = absl::FromUnixSeconds(1700000000 + n);
    return r;
  }

  ScopedTempDir tmp_;
  const std::filesystem::path root_ = tmp_.path();
  crypto::KeyPair key_ = crypto::KeyPair::Generate();
  std::unique_ptr<JobStore> store_;
};

}  // namespace mesh::node::jobstoretest
