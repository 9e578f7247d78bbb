// The per-token limits of the API: requests per second (a token bucket holding one second's
// worth) and jobs in flight (submitted and not yet ended). Pure: the caller passes the time and
// tells which jobs ended. Thread-safe. Memory is bounded by the number of users and their
// limits: a user's in-flight set never holds more than its limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mesh::accounts {

class RequestLimits {
 public:
  // Takes one request from `user`'s bucket of `per_second` (0: unlimited). nullopt: allowed;
  // otherwise how long until the next request would be.
  std::optional<absl::Duration> TakeRequest(std::string_view user, int64_t per_second,
                                            absl::Time now);

  // Jobs in flight. CanSubmit is false when `user` has `max` (0: unlimited) jobs not yet ended;
  // Submitted records one (call it once the job exists); Ended forgets a job, whoever's it is.
  bool CanSubmit(std::string_view user, int64_t max) const;
  void Submitted(std::string_view user, std::string job_id);
  void Ended(std::string_view job_id);
  size_t InFlight(std::string_view user) const;
  // The ids `user` has in flight (to check them against the job store after a gap).
  std::vector<std::string> JobsOf(std::string_view user) const;

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time at;
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> in_flight_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> owner_ ABSL_GUARDED_BY(mu_);  // job -> user
};

}  // namespace mesh::accounts
