// Private to the sqlite module: a VFS that wraps SQLite's default one and gathers the writes a
// transaction makes to its write-ahead log into one pwrite.
//
// SQLite writes each WAL frame as two writes (its 24-byte header, then the page), so a commit
// of 7 pages was 14 system calls; on a virtual machine a system call is an exit to the
// hypervisor, and a delegated job made about 140 of them on the submitter. The wrapper buffers
// contiguous writes to a file opened as a WAL and writes them out:
//   - when the frame that commits a transaction has been written (its header carries the
//     database size after the commit, zero in every other frame), so a COMMIT returns with its
//     frames in the file exactly as before: a killed process loses nothing it did not lose
//     without the wrapper;
//   - before anything that must see the file as written: a read, a sync, a size, a truncate, a
//     close, and a write that does not continue the buffered run;
//   - when the buffer reaches kMaxBufferedWalBytes (a large transaction spilling its cache).
// A run is written in pieces of at most 128 KiB, the most the default VFS takes in one call.
// Every other file (the database, journals) is the default VFS's own, with no indirection.
#pragma once

#include <cstddef>

namespace mesh::sqlite::internal {

inline constexpr size_t kMaxBufferedWalBytes = size_t{4} << 20;

// Registers the VFS with SQLite on first use (thread-safe; never the default VFS) and returns
// its name for sqlite3_open_v2.
const char* WalWriteBatchingVfs();

}  // namespace mesh::sqlite::internal
