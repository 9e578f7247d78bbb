// IdleTrim: when meshd hands freed heap memory back to the system.
//
// glibc keeps what a burst of jobs freed: after 8 clients had queued and run 50,000 empty jobs,
// meshd's anonymous memory stayed at 37 MiB (4 MiB at start) until it exited, although nothing
// held it; malloc_trim(0) gave 17 MiB of it back. Trimming walks every arena and costs a few
// milliseconds, so it is done once per burst, when the node has been idle for a whole period:
// nothing queued, running or delegated at two observations in a row, no job ended between them,
// and some job ended since the last trim. A pure decision: the daemon observes the compute
// service's stats once per period and trims when told.
#pragma once

#include <cstdint>

#include "mesh/node/compute_service.h"

namespace mesh::api {

class IdleTrim {
 public:
  // One observation per period; true: trim now.
  bool Observe(const node::ServiceStats& stats);

 private:
  bool idle_before_ = false;
  uint64_t ended_before_ = 0;
  uint64_t ended_at_trim_ = 0;
};

}  // namespace mesh::api
