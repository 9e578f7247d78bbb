// VerifiedSpecs: a node's memory of the signed job specs it has verified lately, so that one
// spec is verified once per node rather than once per reader. An executor meets an assigned
// spec three times within a few milliseconds (the peer service reads its module, the market
// checks the assignment, the compute service stores the job), and each OpenJobSpec checks an
// Ed25519 signature and parses the JSON: OpenJobSpec was 6.5% of the three nodes' CPU per
// delegated job in mesh_bench (perf), two thirds of it the same spec again.
//
// Open(envelope) names the bytes first (their CID: SHA-256, a microsecond for a spec) and
// answers from memory when it verified those very bytes before; anything else goes through
// OpenJobSpec, and only specs that verify are kept. The CID binds the answer to the bytes, so
// a tampered or different envelope never meets a remembered answer. Bounded: the oldest entry
// leaves when `capacity` are kept. Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/cid.h"
#include "mesh/job/job_spec.h"

namespace mesh::job {

class VerifiedSpecs {
 public:
  // A few hundred covers every spec in flight between a message and its job's row.
  static constexpr size_t kDefaultCapacity = 256;

  explicit VerifiedSpecs(size_t capacity = kDefaultCapacity);
  VerifiedSpecs(const VerifiedSpecs&) = delete;
  VerifiedSpecs& operator=(const VerifiedSpecs&) = delete;

  // OpenJobSpec(envelope), from memory when these bytes verified before.
  absl::StatusOr<SignedJobSpec> Open(std::string_view envelope);

  struct Stats {
    uint64_t hits = 0;
    uint64_t verified = 0;  // opened by OpenJobSpec (whether or not they verified)
    size_t kept = 0;
  };
  Stats stats() const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<cas::Cid, JobSpec> specs_ ABSL_GUARDED_BY(mu_);
  std::deque<cas::Cid> order_ ABSL_GUARDED_BY(mu_);  // oldest first
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

// specs->Open(envelope), or OpenJobSpec(envelope) for a reader without a VerifiedSpecs (a node's
// parts built apart, in tests).
absl::StatusOr<SignedJobSpec> OpenSpecThrough(VerifiedSpecs* specs, std::string_view envelope);

}  // namespace mesh::job
