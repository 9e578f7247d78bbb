// Process-wide malloc settings for a Mesh process that streams data over gRPC (meshd, the
// benchmarks). Call UseOneMallocArena() first thing in main(), before any thread starts: glibc
// fixes its arena limit when the second arena is created, so a later call has no effect.
#pragma once

namespace mesh {

// Makes every thread allocate from glibc's main arena. Why: gRPC allocates its TCP read buffers
// and TLS records on its own threads and frees them on others; with per-thread arenas glibc
// hands those pages back to the kernel and takes them again for the next buffer, so a blob
// fetch page-faulted about once per 4 KiB received (a 256 MiB FetchBlob spent more time in
// page faults than in TLS). One arena keeps the pages. The cost is one malloc lock for the
// process, which a node's few busy threads do not notice. Returns false if glibc refused.
bool UseOneMallocArena();

}  // namespace mesh
