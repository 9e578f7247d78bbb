// Process-wide settings for a Mesh program that serves load (meshd, the benchmarks). Call
// TuneProcess() first thing in main(), before any thread starts. Tests do not call it: they keep
// the checks it turns off.
#pragma once

namespace mesh {

// TuneMalloc() (see malloc_tuning.h), and Abseil's lock-order (deadlock) detection off.
//
// Why the second: Debian builds Abseil without NDEBUG, so every absl::Mutex::Lock in a release
// binary recorded the lock order in a process-wide graph under one global spin lock (about 2% of
// a delegated job's CPU in mesh_bench, and a point where every locking thread meets). The debug
// and sanitizer builds' tests keep the detection. Returns false if glibc refused the malloc
// settings.
bool TuneProcess();

}  // namespace mesh
