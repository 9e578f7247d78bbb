// WorkerProcess: the pool's handle on one mesh-worker child process and its channel.
//
// Spawn() uses posix_spawn (vfork semantics, safe in a multithreaded parent; a bare fork() of a
// threaded process could deadlock on locks other threads held). The child inherits exactly:
// fd 0 and 1 = /dev/null, fd 2 = the parent's stderr (so start-up failures are visible; the
// worker writes nothing there once it runs jobs) or /dev/null, fd 3 = its end of a Unix
// socketpair. Every other fd is closed in the child before exec (closefrom), whatever CLOEXEC
// flags other threads' fds carry; the worker closes them again itself. The environment is only
// what the caller passes, and all signal dispositions and the signal mask are reset to defaults.
//
// The process is watched through a pidfd, so signalling it can never hit a recycled pid, and
// it is always reaped: by Reap(), or by the destructor (SIGKILL, then wait).
// Not thread-safe, except Kill(), which may be called from another thread while the object is
// alive (the pool does so at shutdown).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/common/file_util.h"
#include "mesh/exec/frame.h"
#include "mesh/exec/protocol.h"

namespace mesh::exec {

// How a worker process ended.
struct ExitInfo {
  bool signaled = false;
  int signal = 0;       // when signaled
  int exit_status = 0;  // when not

  // "was killed by signal 9 (SIGKILL)", "exited with status 71".
  std::string Describe() const;
};

class WorkerProcess {
 public:
  // Starts `path` with `args` (argv[1..]) and environment `env` ("NAME=value" entries; nothing
  // else is inherited). Does not wait for it to be ready (see AwaitHello).
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Spawn(const std::string& path,
                                                              const std::vector<std::string>& args,
                                                              const std::vector<std::string>& env,
                                                              bool inherit_stderr);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Waits for the worker's greeting. FailedPrecondition with the worker's own reason if it
  // could not set itself up, or if it speaks another protocol version.
  absl::StatusOr<Hello> AwaitHello(Deadline deadline);

  absl::Status Send(std::string_view frame, Deadline deadline) {
    return WriteFrame(channel_.get(), frame, deadline);
  }
  // With descriptors (shared inputs) attached to the frame.
  absl::Status Send(std::string_view frame, const std::vector<int>& fds, Deadline deadline) {
    return WriteFrameWithFds(channel_.get(), frame, fds, deadline);
  }
  absl::StatusOr<std::string> Receive(uint64_t max_body_bytes, Deadline deadline) {
    return ReadFrame(channel_.get(), max_body_bytes, deadline);
  }

  // True if an idle worker's channel shows it died (hang-up) or spoke out of turn; checked
  // before each job so a worker killed while idle is replaced instead of failing a job.
  bool IdleChannelBroken() const;

  // SIGKILL through the pidfd; harmless if the process already ended.
  void Kill() const;
  // SIGKILL to the process and to every process in its group (it leads its own group, see
  // Spawn), e.g. a compiler it started. Safe until Reap: the group id cannot be recycled while
  // the leader is unreaped.
  void KillGroup() const;
  // Closes the channel: an idle worker sees end-of-stream and exits 0.
  void CloseChannel() { channel_.Reset(); }
  // Waits for the process to end (after Kill, or an exit it caused) and reaps it. If `timeout`
  // passes first, kills it and then reaps it.
  ExitInfo Reap(absl::Duration timeout = absl::InfiniteDuration());
  bool reaped() const { return reaped_; }
  int channel_fd_for_testing() const { return channel_.get(); }

  // Module ids this worker is believed to hold; the worker answers kNeedModule when not.
  std::unordered_set<std::string>& known_modules() { return known_modules_; }
  // Shared input CIDs this worker is believed to hold; it answers kNeedInput when not.
  std::unordered_set<std::string>& known_inputs() { return known_inputs_; }

 private:
  WorkerProcess(pid_t pid, ScopedFd pidfd, ScopedFd channel)
      : pid_(pid), pidfd_(std::move(pidfd)), channel_(std::move(channel)) {}

  pid_t pid_;
  ScopedFd pidfd_;
  ScopedFd channel_;
  bool reaped_ = false;
  ExitInfo exit_;
  std::unordered_set<std::string> known_modules_;
  std::unordered_set<std::string> known_inputs_;
};

}  // namespace mesh::exec
