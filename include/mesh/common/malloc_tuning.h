// Process-wide malloc settings for a Mesh process that streams data over gRPC (meshd, the
// benchmarks), applied by TuneProcess() (process_tuning.h) first thing in main(), before any
// thread starts.
#pragma once

namespace mesh {

// Keeps freed memory in glibc's arenas instead of handing it back to the kernel at once: a
// 64 MiB trim threshold (glibc's default: 128 KiB, rising only as large blocks are freed) and
// blocks under 4 MiB from the arenas rather than from fresh mmaps.
//
// Why: gRPC allocates its TCP read buffers and TLS records on its own threads and frees them on
// others. With glibc's defaults those pages went back to the kernel and were faulted in again
// for the next buffer (a 256 MiB FetchBlob page-faulted about once per 4 KiB received), and a
// page fault is an exit to the hypervisor on a virtual machine. Per-thread arenas stay: one
// arena for the process (the previous fix) kept the pages too, but its lock cost a fifth of
// the delegated-job throughput (mesh_bench, bench/README.md). Returns false if glibc refused.
bool TuneMalloc();

}  // namespace mesh
