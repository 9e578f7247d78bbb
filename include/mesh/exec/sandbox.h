// The confinement a mesh-worker process puts itself in before it runs any job, in this order:
//  1. CloseOtherFds: every fd above the channel is closed (stdin/stdout are /dev/null and
//     stderr is the pool's, for start-up diagnostics; see worker_process.h);
//  2. ApplyResourceLimits: RLIMIT_CORE 0 (no core files), RLIMIT_FSIZE 0 (no file content can
//     be written), RLIMIT_NOFILE small, RLIMIT_AS from the configuration;
//  3. InstallSyscallFilter: PR_SET_NO_NEW_PRIVS, then a seccomp allow-list (libseccomp) of
//     what running jobs needs. The default action kills the whole process (SIGSYS): a worker
//     that asks for anything else is buggy or compromised, and dying is the loudest and safest
//     answer (the pool reports the job as crashed and replaces the worker). EPERM would let an
//     attacker probe quietly and let glibc fall back to other, possibly allowed, paths.
// Per job, SetCpuBudget moves the RLIMIT_CPU soft limit so a job cannot use more CPU time than
// its budget even if the pool that should kill it is gone.
// Functions act on the calling process; call them from a single-threaded worker.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace mesh::exec {

// RLIMIT_AS default. The aot engine's wasm2c runtime reserves ~8 GiB of address space per linear
// memory (4 GiB plus guard pages, so bounds checks are free), so the cap must leave room for
// that and the worker's own heap; it still stops a runaway engine from taking the machine.
// Not applied in ASan/TSan builds, whose runtimes reserve terabytes of shadow memory.
inline constexpr uint64_t kDefaultAddressSpaceBytes = 16ull << 30;
// RLIMIT_NOFILE default: the channel, stdio and a transient fd for dlopen, with headroom.
inline constexpr uint64_t kDefaultMaxOpenFiles = 16;

struct SandboxConfig {
  int channel_fd = 3;                                        // the only fd kept above stderr
  uint64_t address_space_bytes = kDefaultAddressSpaceBytes;  // 0 = no RLIMIT_AS
  uint64_t max_open_files = kDefaultMaxOpenFiles;
  // For engines that dlopen compiled modules (aot): allow open/openat read-only, pread and
  // executable mappings. The interpreter needs none of them, so its workers cannot open files
  // at all and cannot map executable memory.
  bool allow_native_code = false;
};

absl::Status CloseOtherFds(int channel_fd);
absl::Status ApplyResourceLimits(const SandboxConfig& config);
absl::Status InstallSyscallFilter(const SandboxConfig& config);

// The compile box's filter (build_worker.cc), for the process that writes C and runs the C
// compiler on it: the compiler forks, execs cc1/as/ld and reads the system's headers, so an
// allow-list of what it needs would be the compiler's whole surface. Instead PR_SET_NO_NEW_PRIVS
// and a deny-list, inherited by every compiler process: no sockets (so no network and no
// connecting to local services), no tracing or reading other processes, no namespaces, mounts,
// kernel keys, BPF, perf, modules, io_uring or userfaultfd. Each is refused with EPERM (a
// compiler does not call them, and a refusal fails the compile, which is then remembered).
absl::Status InstallCompilerFilter();

// Sets the RLIMIT_CPU soft limit to the CPU time used so far plus `seconds` (0 = no budget);
// past it the kernel sends SIGXCPU, whose default action ends the process.
absl::Status SetCpuBudget(uint32_t seconds);

}  // namespace mesh::exec
