// Job inputs passed to workers as shared memory instead of through the channel.
//
// A job's input blobs (the node has verified each against its CID) can be large, and a split
// job's broadcast input is the same for every chunk. Rather than copy such an input into every
// run request, the pool puts it once into a sealed memfd (SharedInputFiles), sends the
// descriptor with the first request that needs it on a worker (SCM_RIGHTS, frame.h), and the
// worker maps it read-only and keeps it by CID (InputCache) for the next jobs that name the
// same CID. Later requests name only the CID and size.
//
// Trust: the CID is the pool's word (the job cannot name one: the pool builds requests from
// the node's verified inputs), and a worker looks an input up only by the CID and size of the
// request. The memfd is sealed against writes, shrinking and growing before it leaves the
// pool, and the worker refuses one that is not, or whose size differs from the request's, so a
// mapping can never change under a job or end early. Both stores are bounded in bytes.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/common/file_util.h"
#include "mesh/wasm/job_host.h"

namespace mesh::exec {

// Inputs smaller than this travel inline in the run request: a memfd costs more than a copy.
inline constexpr uint64_t kMinSharedInputBytes = 64 << 10;

// A sealed memfd (write, grow, shrink and the seals themselves) holding `bytes`.
absl::StatusOr<ScopedFd> MakeSealedMemfd(std::string_view bytes);

// Checks a received descriptor (a memfd sealed as MakeSealedMemfd does, exactly `size` bytes)
// and maps it read-only, as a stdin piece named `cid` that unmaps when its last user is gone.
// InvalidArgument naming the CID if it is not sealed or its size differs.
absl::StatusOr<wasm::StdinPiece> MapSharedInput(int fd, std::string cid, uint64_t size);

// The pool's memfds by CID, least recently used dropped past the byte budget (an entry still
// being sent lives on through its shared_ptr). Thread-safe.
class SharedInputFiles {
 public:
  explicit SharedInputFiles(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // The memfd of `cid`, made from `bytes` (which must be that blob) on a miss.
  absl::StatusOr<std::shared_ptr<const ScopedFd>> Get(const std::string& cid,
                                                      std::string_view bytes);
  uint64_t bytes() const;

 private:
  struct Entry {
    std::shared_ptr<const ScopedFd> fd;
    uint64_t bytes = 0;
    std::list<std::string>::iterator lru;
  };
  const uint64_t max_bytes_;
  mutable absl::Mutex mu_;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// A worker's mapped inputs by CID, least recently used dropped past the byte budget; an input
// larger than the budget is not kept. A dropped mapping lives until the job using it ends.
// Not thread-safe (the worker runs one job at a time).
class InputCache {
 public:
  explicit InputCache(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // The input stored under `cid`, if its size is `size`; null otherwise.
  const wasm::StdinPiece* Find(const std::string& cid, uint64_t size);
  void Insert(const wasm::StdinPiece& piece);

  uint64_t bytes() const { return bytes_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    wasm::StdinPiece piece;
    std::list<std::string>::iterator lru;
  };
  const uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace mesh::exec
