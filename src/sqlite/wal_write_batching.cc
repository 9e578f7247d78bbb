#include "wal_write_batching.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <new>
#include <string>

namespace mesh::sqlite::internal {
namespace {

// A WAL frame starts with a 24-byte header; bytes 4..7 (big-endian) hold the database size in
// pages after the commit for the frame that commits a transaction, and zero otherwise. Pages are
// at least 512 bytes and the WAL's own header is 32, so a 24-byte write is a frame header.
constexpr int kFrameHeaderBytes = 24;

bool IsCommitFrameHeader(const void* data, int amount) {
  if (amount != kFrameHeaderBytes) return false;
  const auto* b = static_cast<const unsigned char*>(data);
  return (b[4] | b[5] | b[6] | b[7]) != 0;
}

struct WalFile {
  sqlite3_file base;   // First: SQLite sees this struct as its sqlite3_file.
  sqlite3_file* real;  // The default VFS's file, in the same allocation after this struct.
  std::string buffer;  // Contiguous bytes from `start`, not yet written.
  sqlite3_int64 start = 0;
  bool commit_header_buffered = false;
  // A second descriptor of the file, for sync_file_range (-1: none, no early write-back), and
  // the span written since the last sync or write-back was started.
  int writeback_fd = -1;
  sqlite3_int64 dirty_begin = 0;
  sqlite3_int64 dirty_end = 0;
};

std::atomic<uint64_t> writebacks_started{0};

// Starts the kernel writing the dirty span out once it reaches kWalWritebackBytes, without
// waiting for it (SYNC_FILE_RANGE_WRITE): the sync at the next checkpoint then finds the pages
// clean instead of flushing megabytes while the writer that triggered it waits.
void NoteWritten(WalFile* f, sqlite3_int64 begin, sqlite3_int64 end) {
  if (f->writeback_fd < 0) return;
  if (f->dirty_end == f->dirty_begin) {
    f->dirty_begin = begin;
    f->dirty_end = end;
  } else {
    f->dirty_begin = std::min(f->dirty_begin, begin);
    f->dirty_end = std::max(f->dirty_end, end);
  }
  if (f->dirty_end - f->dirty_begin < static_cast<sqlite3_int64>(kWalWritebackBytes)) return;
  // Advisory: on failure the checkpoint's sync does the work, as without it.
  if (::sync_file_range(f->writeback_fd, f->dirty_begin, f->dirty_end - f->dirty_begin,
                        SYNC_FILE_RANGE_WRITE) == 0) {
    writebacks_started.fetch_add(1, std::memory_order_relaxed);
  }
  f->dirty_begin = f->dirty_end = 0;
}

constexpr size_t kRealOffset = (sizeof(WalFile) + 15) / 16 * 16;

WalFile* Cast(sqlite3_file* file) { return reinterpret_cast<WalFile*>(file); }
sqlite3_file* Real(sqlite3_file* file) { return Cast(file)->real; }

// The unix VFS writes at most 0x1ffff bytes per call (it masks larger sizes and then reports
// the short write as a full disk), so a larger run goes out in pieces.
constexpr size_t kMaxWriteBytes = 0x1ffff;
// Commits of a few dozen pages keep their buffer between transactions.
constexpr size_t kKeptBufferBytes = 256 << 10;

int Flush(WalFile* f) {
  int rc = SQLITE_OK;
  for (size_t done = 0; done < f->buffer.size() && rc == SQLITE_OK;) {
    const size_t n = std::min(kMaxWriteBytes, f->buffer.size() - done);
    rc = f->real->pMethods->xWrite(f->real, f->buffer.data() + done, static_cast<int>(n),
                                   f->start + static_cast<sqlite3_int64>(done));
    done += n;
  }
  if (rc == SQLITE_OK && !f->buffer.empty()) {
    NoteWritten(f, f->start, f->start + static_cast<sqlite3_int64>(f->buffer.size()));
  }
  // On failure SQLite rolls the transaction back; the frames are not kept for a retry. A buffer
  // a large transaction grew is given back rather than kept for the life of the connection.
  if (f->buffer.capacity() > kKeptBufferBytes) {
    std::string().swap(f->buffer);
  } else {
    f->buffer.clear();
  }
  f->commit_header_buffered = false;
  return rc;
}

int Close(sqlite3_file* file) {
  WalFile* f = Cast(file);
  const int flushed = Flush(f);
  const int closed = f->real->pMethods->xClose(f->real);
  if (f->writeback_fd >= 0) ::close(f->writeback_fd);
  f->~WalFile();
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* file, void* data, int amount, sqlite3_int64 offset) {
  if (const int rc = Flush(Cast(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xRead(Real(file), data, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  WalFile* f = Cast(file);
  if (!f->buffer.empty() && offset != f->start + static_cast<sqlite3_int64>(f->buffer.size())) {
    if (const int rc = Flush(f); rc != SQLITE_OK) return rc;
  }
  if (f->buffer.empty()) f->start = offset;
  const bool commit_header = IsCommitFrameHeader(data, amount);
  f->buffer.append(static_cast<const char*>(data), static_cast<size_t>(amount));
  // The page after a commit frame's header ends the transaction's frames.
  const bool committed = f->commit_header_buffered && !commit_header;
  f->commit_header_buffered = f->commit_header_buffered || commit_header;
  if (committed || f->buffer.size() >= kMaxBufferedWalBytes) return Flush(f);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (const int rc = Flush(Cast(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xTruncate(Real(file), size);
}

int Sync(sqlite3_file* file, int flags) {
  WalFile* f = Cast(file);
  if (const int rc = Flush(f); rc != SQLITE_OK) return rc;
  f->dirty_begin = f->dirty_end = 0;
  return Real(file)->pMethods->xSync(Real(file), flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  if (const int rc = Flush(Cast(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xFileSize(Real(file), size);
}

int Lock(sqlite3_file* file, int level) { return Real(file)->pMethods->xLock(Real(file), level); }
int Unlock(sqlite3_file* file, int level) {
  return Real(file)->pMethods->xUnlock(Real(file), level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(file)->pMethods->xCheckReservedLock(Real(file), out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  if (const int rc = Flush(Cast(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xFileControl(Real(file), op, arg);
}

int SectorSize(sqlite3_file* file) { return Real(file)->pMethods->xSectorSize(Real(file)); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Real(file)->pMethods->xDeviceCharacteristics(Real(file));
}

int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return Real(file)->pMethods->xShmMap(Real(file), region, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  return Real(file)->pMethods->xShmLock(Real(file), offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) { Real(file)->pMethods->xShmBarrier(Real(file)); }
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  return Real(file)->pMethods->xShmUnmap(Real(file), delete_flag);
}

int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  if (const int rc = Flush(Cast(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xFetch(Real(file), offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  return Real(file)->pMethods->xUnfetch(Real(file), offset, p);
}

constexpr sqlite3_io_methods kWalMethods3 = {3,
                                             Close,
                                             Read,
                                             Write,
                                             Truncate,
                                             Sync,
                                             FileSize,
                                             Lock,
                                             Unlock,
                                             CheckReservedLock,
                                             FileControl,
                                             SectorSize,
                                             DeviceCharacteristics,
                                             ShmMap,
                                             ShmLock,
                                             ShmBarrier,
                                             ShmUnmap,
                                             Fetch,
                                             Unfetch};
// Version 2 (no xFetch/xUnfetch) when the default VFS's WAL files are older than version 3.
constexpr sqlite3_io_methods kWalMethods2 = [] {
  sqlite3_io_methods m = kWalMethods3;
  m.iVersion = 2;
  m.xFetch = nullptr;
  m.xUnfetch = nullptr;
  return m;
}();

sqlite3_vfs* Base(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* base = Base(vfs);
  if ((flags & SQLITE_OPEN_WAL) == 0) return base->xOpen(base, name, file, flags, out_flags);
  auto* f = new (file) WalFile();
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  f->real->pMethods = nullptr;
  const int rc = base->xOpen(base, name, f->real, flags, out_flags);
  // SQLite calls xClose whenever pMethods is set after xOpen, even when xOpen failed.
  if (f->real->pMethods == nullptr) {
    f->~WalFile();
    file->pMethods = nullptr;
  } else {
    file->pMethods = f->real->pMethods->iVersion >= 3 ? &kWalMethods3 : &kWalMethods2;
    if (rc == SQLITE_OK && name != nullptr) f->writeback_fd = ::open(name, O_RDONLY | O_CLOEXEC);
  }
  return rc;
}

sqlite3_vfs MakeVfs(sqlite3_vfs* base) {
  sqlite3_vfs vfs{};
  vfs.iVersion = 2;
  vfs.szOsFile = std::max(base->szOsFile, static_cast<int>(kRealOffset) + base->szOsFile);
  vfs.mxPathname = base->mxPathname;
  vfs.zName = "mesh-wal-batching";
  vfs.pAppData = base;
  vfs.xOpen = Open;
  vfs.xDelete = [](sqlite3_vfs* v, const char* name, int sync_dir) {
    return Base(v)->xDelete(Base(v), name, sync_dir);
  };
  vfs.xAccess = [](sqlite3_vfs* v, const char* name, int flags, int* out) {
    return Base(v)->xAccess(Base(v), name, flags, out);
  };
  vfs.xFullPathname = [](sqlite3_vfs* v, const char* name, int n, char* out) {
    return Base(v)->xFullPathname(Base(v), name, n, out);
  };
  vfs.xDlOpen = [](sqlite3_vfs* v, const char* name) { return Base(v)->xDlOpen(Base(v), name); };
  vfs.xDlError = [](sqlite3_vfs* v, int n, char* out) { Base(v)->xDlError(Base(v), n, out); };
  vfs.xDlSym = [](sqlite3_vfs* v, void* handle, const char* symbol) {
    return Base(v)->xDlSym(Base(v), handle, symbol);
  };
  vfs.xDlClose = [](sqlite3_vfs* v, void* handle) { Base(v)->xDlClose(Base(v), handle); };
  vfs.xRandomness = [](sqlite3_vfs* v, int n, char* out) {
    return Base(v)->xRandomness(Base(v), n, out);
  };
  vfs.xSleep = [](sqlite3_vfs* v, int micros) { return Base(v)->xSleep(Base(v), micros); };
  vfs.xCurrentTime = [](sqlite3_vfs* v, double* out) {
    return Base(v)->xCurrentTime(Base(v), out);
  };
  vfs.xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
    return Base(v)->xGetLastError(Base(v), n, out);
  };
  vfs.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
    sqlite3_vfs* b = Base(v);
    if (b->iVersion >= 2 && b->xCurrentTimeInt64 != nullptr) return b->xCurrentTimeInt64(b, out);
    double days = 0;
    const int rc = b->xCurrentTime(b, &days);
    *out = static_cast<sqlite3_int64>(days * 86400000.0);
    return rc;
  };
  return vfs;
}

const char* Register() {
  sqlite3_initialize();
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  if (base == nullptr) return nullptr;
  // Never freed: SQLite keeps a pointer to it for the life of the process.
  static sqlite3_vfs vfs = MakeVfs(base);
  if (sqlite3_vfs_register(&vfs, /*makeDflt=*/0) != SQLITE_OK) return nullptr;
  return vfs.zName;
}

}  // namespace

const char* WalWriteBatchingVfs() {
  static const char* const name = Register();
  return name;
}

uint64_t WalWritebacksStarted() { return writebacks_started.load(std::memory_order_relaxed); }

}  // namespace mesh::sqlite::internal
