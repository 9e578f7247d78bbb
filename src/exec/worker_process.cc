#include "mesh/exec/worker_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mesh/common/strings.h"
#include "mesh/exec/worker_config.h"

namespace mesh::exec {
namespace {

absl::Status SpawnError(const std::string& path, int err) {
  if (err == ENOENT || err == EACCES || err == ENOEXEC) {
    return absl::NotFoundError(
        mesh::StrCat("cannot start worker '", path, "': ", strerror(err),
                     "; install mesh-worker next to mesh or set MESH_WORKER to its path"));
  }
  return absl::UnavailableError(mesh::StrCat("cannot start worker '", path, "': ", strerror(err)));
}

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

std::string ExitInfo::Describe() const {
  if (signaled) {
    const char* name = sigabbrev_np(signal);
    return mesh::StrCat("was killed by signal ", signal, " (SIG", name != nullptr ? name : "?",
                        ")");
  }
  return mesh::StrCat("exited with status ", exit_status);
}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Spawn(
    const std::string& path, const std::vector<std::string>& args,
    const std::vector<std::string>& env, bool inherit_stderr) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::UnavailableError(mesh::StrCat("socketpair: ", strerror(errno)));
  }
  ScopedFd parent_end(sv[0]);
  ScopedFd child_end(sv[1]);
  // dup2(fd, fd) would keep CLOEXEC on the channel in some libcs; keep it off fd 3.
  if (child_end.get() == kWorkerChannelFd) {
    child_end.Reset(::fcntl(child_end.get(), F_DUPFD_CLOEXEC, kWorkerChannelFd + 1));
    if (!child_end.valid()) return absl::UnavailableError("dup of the worker channel failed");
  }

  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&setup.actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  if (!inherit_stderr) {
    posix_spawn_file_actions_addopen(&setup.actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&setup.actions, child_end.get(), kWorkerChannelFd);
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, kWorkerChannelFd + 1);
  // Workers answer only to the pool: the signals a terminal (Ctrl-C), a process-group kill or a
  // service manager sends to stop the node stay blocked in them, and they get a process group
  // of their own, so the node drains (and then stops them) instead of losing running jobs. The
  // pool ends workers with SIGKILL; SIGXCPU (the CPU-time backstop) stays deliverable.
  sigset_t stop_signals, all;
  sigemptyset(&stop_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU}) {
    sigaddset(&stop_signals, sig);
  }
  sigfillset(&all);
  posix_spawnattr_setsigmask(&setup.attr, &stop_signals);
  posix_spawnattr_setsigdefault(&setup.attr, &all);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  if (const int rc =
          ::posix_spawn(&pid, path.c_str(), &setup.actions, &setup.attr, argv.data(), envp.data());
      rc != 0) {
    return SpawnError(path, rc);
  }
  child_end.Reset();

  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const int err = errno;
    ::kill(pid, SIGKILL);  // not reaped yet, so the pid is still ours
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return absl::UnavailableError(mesh::StrCat("pidfd_open: ", strerror(err)));
  }
  if (::fcntl(parent_end.get(), F_SETFL, O_NONBLOCK) != 0) {
    return absl::UnavailableError(mesh::StrCat("fcntl O_NONBLOCK: ", strerror(errno)));
  }
  return std::unique_ptr<WorkerProcess>(
      new WorkerProcess(pid, ScopedFd(pidfd), std::move(parent_end)));
}

WorkerProcess::~WorkerProcess() {
  if (!reaped_) {
    Kill();
    Reap();
  }
}

absl::StatusOr<Hello> WorkerProcess::AwaitHello(Deadline deadline) {
  absl::StatusOr<std::string> body = Receive(64 << 10, deadline);
  if (absl::IsDeadlineExceeded(body.status())) {
    return absl::UnavailableError(
        mesh::StrCat("mesh-worker (pid ", pid_, ") did not report ready in time"));
  }
  if (!body.ok()) {
    return absl::UnavailableError(mesh::StrCat("mesh-worker (pid ", pid_, ") ",
                                               Reap(absl::Seconds(5)).Describe(),
                                               " during start-up; its stderr says why"));
  }
  absl::StatusOr<Hello> hello = DecodeHello(*body);
  if (!hello.ok()) {
    return absl::FailedPreconditionError(mesh::StrCat(
        "mesh-worker (pid ", pid_, ") sent a bad greeting: ", hello.status().message()));
  }
  if (!hello->error.empty()) {
    return absl::FailedPreconditionError(
        mesh::StrCat("mesh-worker could not start: ", hello->error));
  }
  if (hello->version != kProtocolVersion) {
    return absl::FailedPreconditionError(
        mesh::StrCat("mesh-worker speaks protocol version ", hello->version,
                     " but this program "
                     "speaks version ",
                     kProtocolVersion, "; install matching builds of both"));
  }
  return hello;
}

bool WorkerProcess::IdleChannelBroken() const {
  if (!channel_.valid()) return true;
  pollfd p = {channel_.get(), POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) != 0;
}

void WorkerProcess::Kill() const {
  // A pidfd names this process even after it ended: no recycled pid can be hit, and signalling
  // a process that is already gone just fails with ESRCH.
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
}

void WorkerProcess::KillGroup() const {
  Kill();
  if (!reaped_) ::kill(-pid_, SIGKILL);
}

ExitInfo WorkerProcess::Reap(absl::Duration timeout) {
  if (reaped_) return exit_;
  if (timeout != absl::InfiniteDuration()) {
    pollfd p = {pidfd_.get(), POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    int n;
    do {
      n = ::poll(&p, 1, ms);
    } while (n < 0 && errno == EINTR);
    if (n == 0) Kill();
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  reaped_ = true;
  channel_.Reset();
  if (WIFSIGNALED(status)) {
    exit_.signaled = true;
    exit_.signal = WTERMSIG(status);
  } else {
    exit_.exit_status = WEXITSTATUS(status);
  }
  return exit_;
}

}  // namespace mesh::exec
