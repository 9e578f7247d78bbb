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
// Once kWalWritebackBytes have been written since the last sync, the wrapper asks the kernel to
// start writing them out (sync_file_range, SYNC_FILE_RANGE_WRITE, not waiting). With
// synchronous=NORMAL the WAL is synced only at a checkpoint, and that sync flushed everything
// written since: 46-168 ms for the job store's and the ledger's WALs under mesh_bench on this
// machine's virtual disk, spent by the writer whose commit triggered the checkpoint; 13 ms at
// most with this (RocksDB's wal_bytes_per_sync, for the same stall). 4 MiB rather than 1: at 1
// the calls (one per two delegated jobs) cost the median job 0.2-0.4 ms. Durability is
// unchanged: the checkpoint still syncs.
// Every other file (the database, journals) is the default VFS's own, with no indirection.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mesh::sqlite::internal {

inline constexpr size_t kMaxBufferedWalBytes = size_t{4} << 20;
inline constexpr size_t kWalWritebackBytes = size_t{4} << 20;

// Registers the VFS with SQLite on first use (thread-safe; never the default VFS) and returns
// its name for sqlite3_open_v2.
const char* WalWriteBatchingVfs();

// How many early write-backs the wrapper has started in this process (for tests).
uint64_t WalWritebacksStarted();

}  // namespace mesh::sqlite::internal
