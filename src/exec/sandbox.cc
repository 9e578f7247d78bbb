#include "mesh/exec/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <asm/prctl.h>
#endif

#include <cstring>
#include <initializer_list>
#include <string>

#include "mesh/common/strings.h"

namespace mesh::exec {
namespace {

absl::Status Errno(std::string_view what, int err) {
  return absl::InternalError(mesh::StrCat(what, ": ", std::strerror(err)));
}

absl::Status SetLimit(int resource, std::string_view name, rlim_t value) {
  const rlimit limit = {value, value};
  if (::setrlimit(resource, &limit) != 0) return Errno(mesh::StrCat("setrlimit ", name), errno);
  return absl::OkStatus();
}

// Builds a filter (the workers' allow-list, the compile box's deny-list); the context is
// released on every path.
class Filter {
 public:
  explicit Filter(uint32_t default_action = SCMP_ACT_KILL_PROCESS)
      : ctx_(seccomp_init(default_action)) {}
  ~Filter() {
    if (ctx_ != nullptr) seccomp_release(ctx_);
  }
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;

  bool valid() const { return ctx_ != nullptr; }

  void Allow(int nr) { Add(SCMP_ACT_ALLOW, nr, 0, nullptr); }
  void AllowIf(int nr, scmp_arg_cmp cmp) { Add(SCMP_ACT_ALLOW, nr, 1, &cmp); }
  void Refuse(int nr) { Add(SCMP_ACT_ERRNO(EPERM), nr, 0, nullptr); }
  void AllowAll(std::initializer_list<int> nrs) {
    for (int nr : nrs) Allow(nr);
  }

  absl::Status Load() {
    if (!error_.ok()) return error_;
    if (const int rc = seccomp_load(ctx_); rc != 0) return Errno("seccomp_load", -rc);
    return absl::OkStatus();
  }

 private:
  void Add(uint32_t action, int nr, unsigned count, const scmp_arg_cmp* cmp) {
    const int rc = seccomp_rule_add_array(ctx_, action, nr, count, cmp);
    if (rc != 0 && error_.ok()) {
      error_ = Errno(mesh::StrCat("seccomp_rule_add for syscall ", nr), -rc);
    }
  }

  scmp_filter_ctx ctx_;
  absl::Status error_;
};

}  // namespace

absl::Status CloseOtherFds(int channel_fd) {
  const unsigned first = static_cast<unsigned>(channel_fd) + 1;
  if (::syscall(SYS_close_range, first, ~0u, 0) == 0) return absl::OkStatus();
  if (errno != ENOSYS) return Errno("close_range", errno);
  // Kernels before 5.9: close what /proc/self/fd lists.
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return Errno("opendir /proc/self/fd", errno);
  const int dir_fd = ::dirfd(dir);
  while (dirent* e = ::readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (e->d_name[0] != '.' && fd >= static_cast<int>(first) && fd != dir_fd) ::close(fd);
  }
  ::closedir(dir);
  return absl::OkStatus();
}

absl::Status ApplyResourceLimits(const SandboxConfig& config) {
  if (absl::Status s = SetLimit(RLIMIT_CORE, "RLIMIT_CORE", 0); !s.ok()) return s;
  if (absl::Status s = SetLimit(RLIMIT_FSIZE, "RLIMIT_FSIZE", 0); !s.ok()) return s;
  if (absl::Status s = SetLimit(RLIMIT_NOFILE, "RLIMIT_NOFILE", config.max_open_files); !s.ok()) {
    return s;
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Sanitizer runtimes reserve terabytes of shadow address space: no RLIMIT_AS in those builds.
  return absl::OkStatus();
#else
  if (config.address_space_bytes != 0) {
    return SetLimit(RLIMIT_AS, "RLIMIT_AS", config.address_space_bytes);
  }
  return absl::OkStatus();
#endif
}

absl::Status InstallCompilerFilter() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("PR_SET_NO_NEW_PRIVS", errno);
  Filter f(SCMP_ACT_ALLOW);
  if (!f.valid()) return absl::InternalError("seccomp_init failed");
  for (const int nr : {
           SCMP_SYS(socket),
           SCMP_SYS(socketpair),
           SCMP_SYS(connect),
           SCMP_SYS(bind),
           SCMP_SYS(listen),
           SCMP_SYS(accept),
           SCMP_SYS(accept4),
           SCMP_SYS(ptrace),
           SCMP_SYS(process_vm_readv),
           SCMP_SYS(process_vm_writev),
           SCMP_SYS(pidfd_getfd),
           SCMP_SYS(kcmp),
           SCMP_SYS(unshare),
           SCMP_SYS(setns),
           SCMP_SYS(mount),
           SCMP_SYS(umount2),
           SCMP_SYS(pivot_root),
           SCMP_SYS(chroot),
           SCMP_SYS(open_tree),
           SCMP_SYS(move_mount),
           SCMP_SYS(fsopen),
           SCMP_SYS(keyctl),
           SCMP_SYS(add_key),
           SCMP_SYS(request_key),
           SCMP_SYS(bpf),
           SCMP_SYS(perf_event_open),
           SCMP_SYS(init_module),
           SCMP_SYS(finit_module),
           SCMP_SYS(delete_module),
           SCMP_SYS(kexec_load),
           SCMP_SYS(kexec_file_load),
           SCMP_SYS(io_uring_setup),
           SCMP_SYS(userfaultfd),
           SCMP_SYS(reboot),
           SCMP_SYS(swapon),
           SCMP_SYS(swapoff),
           SCMP_SYS(settimeofday),
           SCMP_SYS(clock_settime),
           SCMP_SYS(iopl),
           SCMP_SYS(ioperm),
           SCMP_SYS(personality),
       }) {
    f.Refuse(nr);
  }
  return f.Load();
}

absl::Status InstallSyscallFilter(const SandboxConfig& config) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("PR_SET_NO_NEW_PRIVS", errno);
  Filter f;
  if (!f.valid()) return absl::InternalError("seccomp_init failed");
  const auto fd = static_cast<scmp_datum_t>(config.channel_fd);

  // The channel: requests in, answers out. read() is allowed on any fd because the fds the
  // worker can hold are the channel, /dev/null and (aot) files it opened read-only.
  f.AllowAll({SCMP_SYS(read), SCMP_SYS(readv)});
  f.AllowIf(SCMP_SYS(recvfrom), SCMP_A0(SCMP_CMP_EQ, fd));
  f.AllowIf(SCMP_SYS(recvmsg), SCMP_A0(SCMP_CMP_EQ, fd));
  f.AllowIf(SCMP_SYS(sendto), SCMP_A0(SCMP_CMP_EQ, fd));
  f.AllowIf(SCMP_SYS(sendmsg), SCMP_A0(SCMP_CMP_EQ, fd));
  // Writes only to the channel and to stderr (glibc's assert/abort messages).
  for (scmp_datum_t out : {fd, scmp_datum_t{STDERR_FILENO}}) {
    f.AllowIf(SCMP_SYS(write), SCMP_A0(SCMP_CMP_EQ, out));
    f.AllowIf(SCMP_SYS(writev), SCMP_A0(SCMP_CMP_EQ, out));
  }
  f.AllowAll({SCMP_SYS(close), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(lseek)});
  // Shared inputs (shared_input.h) come as memfds over the channel: the worker checks their
  // seals before it maps them read-only. Only that query: no other fcntl.
  f.AllowIf(SCMP_SYS(fcntl), SCMP_A1(SCMP_CMP_EQ, F_GET_SEALS));

  // Memory: the engines' heaps and linear memories (wasm2c reserves with mmap and commits with
  // mprotect). Executable mappings only for engines that load native code.
  f.AllowAll({SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk)});
  if (config.allow_native_code) {
    f.AllowAll({SCMP_SYS(mmap), SCMP_SYS(mprotect)});
  } else {
    f.AllowIf(SCMP_SYS(mmap), SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    f.AllowIf(SCMP_SYS(mprotect), SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  }

  // Time, randomness (non-deterministic jobs), CPU accounting and the per-job CPU budget.
  f.AllowAll({SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday),
              SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep), SCMP_SYS(sched_yield),
              SCMP_SYS(futex), SCMP_SYS(getrandom), SCMP_SYS(getrusage), SCMP_SYS(getrlimit),
              SCMP_SYS(setrlimit)});
  f.AllowIf(SCMP_SYS(prlimit64), SCMP_A0(SCMP_CMP_EQ, 0));  // only this process

  // Signals: wasm2c turns SIGSEGV on guard pages into traps (handler on an alternate stack,
  // then longjmp); abort() blocks signals and raises SIGABRT on itself.
  f.AllowAll({SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
              SCMP_SYS(sigaltstack), SCMP_SYS(restart_syscall), SCMP_SYS(getpid), SCMP_SYS(gettid),
              SCMP_SYS(exit), SCMP_SYS(exit_group)});
  f.AllowIf(SCMP_SYS(tgkill), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid())));

  if (config.allow_native_code) {
    // dlopen() of compiled modules: open read-only, never for writing, creating or truncating.
    constexpr scmp_datum_t kWriteFlags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;
    f.AllowIf(SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, kWriteFlags, 0));
    f.AllowIf(SCMP_SYS(open), SCMP_A1(SCMP_CMP_MASKED_EQ, kWriteFlags, 0));
    // The dynamic loader reads ELF headers and notes with pread.
    f.AllowAll({SCMP_SYS(pread64)});
#if defined(__x86_64__)
    // Compiled modules reach their memory through GS; where the kernel does not allow wrgsbase
    // (before Linux 5.9, or CPUs without FSGSBASE) the glue sets it with arch_prctl. Only that.
    f.AllowIf(SCMP_SYS(arch_prctl), SCMP_A0(SCMP_CMP_EQ, ARCH_SET_GS));
#endif
  }
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer probes whether memory is readable by writing it into a pipe it creates,
  // and looks up stack bounds when a signal handler longjmps (wasm2c traps). Sanitizer builds
  // are for tests only; the hooks the tests use stay forbidden.
  f.AllowAll({SCMP_SYS(pipe2), SCMP_SYS(pipe), SCMP_SYS(write), SCMP_SYS(sched_getaffinity)});
#endif
  return f.Load();
}

absl::Status SetCpuBudget(uint32_t seconds) {
  rlimit limit;
  if (::getrlimit(RLIMIT_CPU, &limit) != 0) return Errno("getrlimit RLIMIT_CPU", errno);
  if (seconds == 0) {
    limit.rlim_cur = limit.rlim_max;
  } else {
    rusage usage;
    if (::getrusage(RUSAGE_SELF, &usage) != 0) return Errno("getrusage", errno);
    // RLIMIT_CPU counts whole seconds of user + system time since the process started.
    const rlim_t used = static_cast<rlim_t>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + 1;
    limit.rlim_cur = used + seconds;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_cur > limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
    }
  }
  if (::setrlimit(RLIMIT_CPU, &limit) != 0) return Errno("setrlimit RLIMIT_CPU", errno);
  return absl::OkStatus();
}

}  // namespace mesh::exec
