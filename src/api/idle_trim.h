// IdleTrim: when meshd hands freed heap memory back to the system.
//
// glibc keeps what a burst freed: after 8 clients had queued and run 50,000 empty jobs, meshd's
// anonymous memory stayed at 40 MiB (4 MiB at start) until it exited, although nothing held it;
// malloc_trim(0) gave 17 MiB of it back. Trimming walks every arena and costs a few
// milliseconds, so it is done when the node has been idle for a whole period (nothing queued,
// running or delegated at two observations in a row, no job ended between them): once after a
// burst of jobs, and at most every `quiet_every` otherwise (work that ends no job here, such as
// serving blobs and shards to peers, frees memory too). A pure decision: the daemon observes the
// compute service's stats once per period, with the time, and trims when told.
#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "mesh/node/compute_service.h"

namespace mesh::api {

class IdleTrim {
 public:
  explicit IdleTrim(absl::Duration quiet_every = absl::Minutes(5)) : quiet_every_(quiet_every) {}

  // One observation per period; true: trim now.
  bool Observe(const node::ServiceStats& stats, absl::Time now);

 private:
  const absl::Duration quiet_every_;
  bool idle_before_ = false;
  uint64_t ended_before_ = 0;
  uint64_t ended_at_trim_ = 0;
  absl::Time trimmed_at_ = absl::InfinitePast();
};

}  // namespace mesh::api
