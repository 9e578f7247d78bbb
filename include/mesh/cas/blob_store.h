// BlobStore: content-addressed storage on local disk. Blobs live as files named by CID under
// <root>/blobs/<2 hex chars>/; an SQLite index (<root>/index.db, WAL) records membership and
// sizes for accounting and listing.
//
// Put streams input to a temp file while hashing it, fsyncs, and renames it into place: a crash
// leaves either the whole blob or nothing. Reads verify the hash: corrupted content is never
// returned as good (DataLoss), and the bad file is moved to <root>/quarantine/ so the blob can
// be fetched again. Thread-safe: any number of concurrent Put/Get/Delete/List.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/blob_index.h"
#include "mesh/cas/blob_reader.h"
#include "mesh/cas/byte_source.h"
#include "mesh/cas/cid.h"
#include "mesh/common/clock.h"
#include "mesh/crypto/sha256.h"

namespace mesh::cas {

class TempFile;  // blob_store.cc
class BlobStore;

// A blob being written in pieces: received from a peer under a CID known in advance
// (BlobStore::BeginPut: a fetch), or made here and named by what was appended (BeginWrite: a
// split job's merge, appended as its chunks end). Append hashes the bytes as it writes them to a
// temp file in the store, so they are read once; Commit makes the blob visible, for BeginPut
// only if they hash to the CID. Until then nothing is visible: a writer destroyed without a
// Commit (a peer that dropped, a stream cut for its size, a merge abandoned) removes its temp
// file. Not thread-safe; must not outlive its store.
class PendingBlob {
 public:
  ~PendingBlob();
  PendingBlob(const PendingBlob&) = delete;
  PendingBlob& operator=(const PendingBlob&) = delete;

  // ResourceExhausted once the bytes appended pass `max_bytes` or the store's quota (nothing
  // past the limit is written). The writer is spent after any error.
  absl::Status Append(std::string_view bytes);
  // Stores the blob and returns its size; cid() then names it. DataLoss when the bytes do not
  // hash to the CID given to BeginPut (nothing stored). Call at most once; the writer is spent
  // either way.
  absl::StatusOr<uint64_t> Commit();
  uint64_t size() const { return size_; }
  // The blob's CID: BeginPut's from the start, BeginWrite's once committed.
  const std::optional<Cid>& cid() const { return cid_; }

 private:
  friend class BlobStore;
  PendingBlob(BlobStore& store, std::unique_ptr<TempFile> tmp, std::optional<Cid> expected,
              Codec codec, uint64_t max_bytes);
  std::string Name() const;  // for errors

  BlobStore& store_;
  std::unique_ptr<TempFile> tmp_;  // null once committed or failed
  std::optional<Cid> cid_;         // expected (BeginPut), or committed (BeginWrite)
  const bool expected_;            // cid_ was given to BeginPut
  const Codec codec_;
  const uint64_t max_bytes_;
  uint64_t size_ = 0;
  uint64_t written_back_ = 0;  // bytes handed to the disk so far (durable stores)
  crypto::Sha256 hasher_;
};

struct BlobStoreOptions {
  std::filesystem::path root;
  // Total bytes the store may hold; 0 means no quota.
  uint64_t quota_bytes = 0;
  // fsync blobs and their directory before a Put returns. Only tests and benchmarks turn it off.
  bool durable = true;
};

struct BlobInfo {
  Cid cid;
  uint64_t size;
  absl::Time stored_at;
};

class BlobStore {
 public:
  // Creates the layout if needed, clears temp files left by a crash, and rebuilds the index
  // from the files when the index is missing. `clock` must outlive the store.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(BlobStoreOptions options,
                                                         const Clock& clock);

  absl::StatusOr<Cid> Put(ByteSource& source, Codec codec = Codec::kRaw);
  absl::StatusOr<Cid> PutBytes(std::string_view data, Codec codec = Codec::kRaw);
  // PutBytes of bytes this process has just hashed itself: `cid` must be Cid::Of(data) of
  // these very bytes (the worker pool names every output as it receives it), so they are not
  // hashed again. A debug build checks it; never pass a CID that came with the bytes from
  // elsewhere (BeginPut checks those).
  absl::StatusOr<Cid> PutHashedBytes(std::string_view data, const Cid& cid);
  absl::StatusOr<Cid> PutFile(const std::filesystem::path& path, Codec codec = Codec::kRaw);
  // Starts receiving blob `expected` of at most `max_bytes` (see PendingBlob).
  absl::StatusOr<std::unique_ptr<PendingBlob>> BeginPut(const Cid& expected, uint64_t max_bytes);
  // Starts writing a blob of at most `max_bytes`, named by its content on Commit.
  absl::StatusOr<std::unique_ptr<PendingBlob>> BeginWrite(uint64_t max_bytes,
                                                          Codec codec = Codec::kRaw);

  // The whole blob in memory, verified; ResourceExhausted if larger than `max_size`.
  absl::StatusOr<std::string> Get(const Cid& cid, size_t max_size = 64 << 20);
  // A streaming reader that verifies at the end (see BlobReader). A blob found corrupt is
  // quarantined (as Get does) before the read that found it fails: a node does not keep serving
  // or merging a damaged file. The reader must not outlive the store.
  absl::StatusOr<std::unique_ptr<BlobReader>> Open(const Cid& cid);
  // The stored file for reads of a byte range (pread). Unverified: a part of a blob cannot be
  // checked against its CID, so range readers trust the store (full reads use Open/Get).
  absl::StatusOr<ScopedFd> OpenForRange(const Cid& cid);
  // Verifies the blob, then writes it to `fd`: nothing is written unless the content is good.
  absl::Status CopyTo(const Cid& cid, int fd);

  absl::StatusOr<bool> Has(const Cid& cid);
  absl::StatusOr<BlobInfo> Stat(const Cid& cid);
  // NotFound if absent.
  absl::Status Delete(const Cid& cid);
  // Blobs in CID order after `after` (empty: from the start), at most `limit`.
  absl::StatusOr<std::vector<BlobInfo>> List(const std::string& after = "", size_t limit = 1000);

  uint64_t used_bytes() const;
  uint64_t quota_bytes() const { return options_.quota_bytes; }
  const std::filesystem::path& root() const { return options_.root; }

 private:
  friend class PendingBlob;
  BlobStore(BlobStoreOptions options, const Clock& clock, std::unique_ptr<BlobIndex> index);
  std::filesystem::path PathFor(const Cid& cid) const;
  absl::Status Reindex();
  absl::Status CheckFitsQuota(uint64_t size) const;
  absl::StatusOr<Cid> PutRegularFile(int src_fd, Codec codec);
  absl::Status Seal(TempFile& tmp, const Cid& cid, uint64_t size);
  absl::Status Commit(const std::filesystem::path& tmp_path, const Cid& cid, uint64_t size);
  // Moves a file whose content does not match its CID out of the store.
  void Quarantine(const Cid& cid);
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenUnchecked(
      const Cid& cid, std::function<void(const Cid&)> on_corrupt = nullptr);

  const BlobStoreOptions options_;
  const Clock& clock_;
  std::unique_ptr<BlobIndex> index_;
  // Serialises the check-quota / rename / index-insert / delete step; hashing and copying
  // happen outside it.
  mutable absl::Mutex commit_mu_;
  uint64_t used_bytes_ ABSL_GUARDED_BY(commit_mu_) = 0;
};

}  // namespace mesh::cas
