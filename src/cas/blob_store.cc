#include "mesh/cas/blob_store.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "mesh/common/check.h"
#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "spdlog/spdlog.h"

namespace mesh::cas {
namespace {
constexpr size_t kCopyBufferSize = 1 << 20;

std::string_view AsView(const std::unique_ptr<char[]>& buf, size_t n) {
  return std::string_view(buf.get(), n);
}

absl::Status MakeDirs(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoToStatus(ec.value(), mesh::StrCat("create directory ", dir.string()));
  return absl::OkStatus();
}

// A durable blob is fsync'ed when it is sealed, and an fsync waits for every byte not yet on the
// disk: 4 ms for 8 MB here. So the bytes of a blob being written are handed to the disk in
// strides as they come (sync_file_range starts the writeback and returns), and the seal waits
// for the last stride only: the merge of a split job's outputs, appended as its chunks end,
// seals at once. Advice only; an error changes nothing (the fsync at the seal still stands).
// `written_back`: the bytes of `fd` handed over so far; `size`: the bytes written.
void HandToDisk(bool durable, int fd, uint64_t size, uint64_t& written_back) {
  constexpr uint64_t kWritebackStride = 1 << 20;
  if (!durable || size - written_back < kWritebackStride) return;
  ::sync_file_range(fd, static_cast<off_t>(written_back), static_cast<off_t>(size - written_back),
                    SYNC_FILE_RANGE_WRITE);
  written_back = size;
}

absl::Status NotStored(const Cid& cid) {
  return absl::NotFoundError(mesh::StrCat("blob ", cid.ToString(), " is not in the store"));
}
}  // namespace

// A file under <root>/tmp that is unlinked on destruction unless committed.
class TempFile {
 public:
  static absl::StatusOr<TempFile> Create(const std::filesystem::path& dir) {
    std::string tmpl = (dir / "put.XXXXXX").string();
    const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, tmpl);
    return TempFile(ScopedFd(fd), tmpl);
  }
  TempFile(TempFile&& other) noexcept : fd_(std::move(other.fd_)), path_(std::move(other.path_)) {
    other.path_.clear();
  }
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int fd() const { return fd_.get(); }
  const std::filesystem::path& path() const { return path_; }
  void Close() { fd_.Reset(); }
  // The file now belongs to the store (renamed into place).
  void Release() { path_.clear(); }

 private:
  TempFile(ScopedFd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}
  ScopedFd fd_;
  std::filesystem::path path_;
};

BlobStore::BlobStore(BlobStoreOptions options, const Clock& clock, std::unique_ptr<BlobIndex> index)
    : options_(std::move(options)), clock_(clock), index_(std::move(index)) {}

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(BlobStoreOptions options,
                                                           const Clock& clock) {
  if (options.root.empty()) return absl::InvalidArgumentError("blob store root is empty");
  MESH_RETURN_IF_ERROR(MakeDirs(options.root / "blobs"));
  MESH_RETURN_IF_ERROR(MakeDirs(options.root / "tmp"));
  // Temp files belong to Puts that never finished: a crash or a kill. Nothing refers to them.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options.root / "tmp", ec)) {
    std::filesystem::remove(entry.path(), ec);
  }
  const auto db_path = options.root / "index.db";
  const bool had_index = std::filesystem::exists(db_path);
  MESH_ASSIGN_OR_RETURN(auto index, BlobIndex::Open(db_path));
  std::unique_ptr<BlobStore> store(new BlobStore(std::move(options), clock, std::move(index)));
  if (!had_index) MESH_RETURN_IF_ERROR(store->Reindex());
  MESH_ASSIGN_OR_RETURN(uint64_t used, store->index_->TotalBytes());
  absl::MutexLock lock(&store->commit_mu_);
  store->used_bytes_ = used;
  return store;
}

std::filesystem::path BlobStore::PathFor(const Cid& cid) const {
  return options_.root / "blobs" /
         HexEncode(std::string_view(reinterpret_cast<const char*>(cid.digest().data()), 1)) /
         cid.ToString();
}

absl::Status BlobStore::Reindex() {
  std::error_code ec;
  size_t restored = 0;
  for (const auto& shard : std::filesystem::directory_iterator(options_.root / "blobs", ec)) {
    if (!shard.is_directory()) continue;
    for (const auto& file : std::filesystem::directory_iterator(shard.path(), ec)) {
      auto cid = Cid::Parse(file.path().filename().string());
      if (!cid.ok()) continue;  // not ours
      struct stat st;
      if (::stat(file.path().c_str(), &st) != 0) continue;
      MESH_RETURN_IF_ERROR(index_
                               ->Insert({cid->ToString(), static_cast<uint64_t>(st.st_size),
                                         absl::FromUnixSeconds(st.st_mtime)})
                               .status());
      ++restored;
    }
  }
  if (restored > 0) spdlog::info("blob store: rebuilt index with {} blobs", restored);
  return absl::OkStatus();
}

absl::Status BlobStore::CheckFitsQuota(uint64_t size) const {
  if (options_.quota_bytes > 0 && size > options_.quota_bytes) {
    return absl::ResourceExhaustedError(mesh::StrCat("blob is larger than the store quota of ",
                                                     options_.quota_bytes,
                                                     " bytes; raise the quota or split the data"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Cid> BlobStore::Put(ByteSource& source, Codec codec) {
  MESH_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(options_.root / "tmp"));
  auto buffer = std::make_unique<char[]>(kCopyBufferSize);
  crypto::Sha256 hasher;
  uint64_t size = 0, written_back = 0;
  while (true) {
    MESH_ASSIGN_OR_RETURN(size_t n, source.Read(buffer.get(), kCopyBufferSize));
    if (n == 0) break;
    size += n;
    MESH_RETURN_IF_ERROR(CheckFitsQuota(size));
    hasher.Update(AsView(buffer, n));
    MESH_RETURN_IF_ERROR(WriteAll(tmp.fd(), AsView(buffer, n)));
    HandToDisk(options_.durable, tmp.fd(), size, written_back);
  }
  const Cid cid = Cid::FromDigest(hasher.Finish(), codec);
  MESH_RETURN_IF_ERROR(Seal(tmp, cid, size));
  return cid;
}

absl::Status BlobStore::Seal(TempFile& tmp, const Cid& cid, uint64_t size) {
  // Stored blobs are immutable: read-only files make accidental edits fail loudly.
  if (::fchmod(tmp.fd(), 0444) != 0) return ErrnoToStatus(errno, tmp.path().string());
  if (options_.durable && ::fsync(tmp.fd()) != 0) {
    return ErrnoToStatus(errno, tmp.path().string());
  }
  tmp.Close();
  MESH_RETURN_IF_ERROR(Commit(tmp.path(), cid, size));
  tmp.Release();
  return absl::OkStatus();
}

absl::Status BlobStore::Commit(const std::filesystem::path& tmp_path, const Cid& cid,
                               uint64_t size) {
  const std::filesystem::path final_path = PathFor(cid);
  absl::MutexLock lock(&commit_mu_);
  MESH_ASSIGN_OR_RETURN(auto existing, index_->Find(cid.ToString()));
  if (existing.has_value() && std::filesystem::exists(final_path)) {
    ::unlink(tmp_path.c_str());  // same content is already stored
    return absl::OkStatus();
  }
  if (!existing.has_value() && options_.quota_bytes > 0 &&
      used_bytes_ + size > options_.quota_bytes) {
    return absl::ResourceExhaustedError(
        mesh::StrCat("blob store quota exceeded: storing ", size, " bytes on top of ", used_bytes_,
                     " would pass the quota of ", options_.quota_bytes,
                     " bytes; delete blobs (mesh blob rm) or raise the quota"));
  }
  MESH_RETURN_IF_ERROR(MakeDirs(final_path.parent_path()));
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    return ErrnoToStatus(errno, final_path.string());
  }
  if (options_.durable) MESH_RETURN_IF_ERROR(FsyncDirectory(final_path.parent_path()));
  MESH_ASSIGN_OR_RETURN(bool inserted, index_->Insert({cid.ToString(), size, clock_.Now()}));
  if (inserted) used_bytes_ += size;
  return absl::OkStatus();
}

absl::StatusOr<Cid> BlobStore::PutBytes(std::string_view data, Codec codec) {
  // Bytes already in memory are hashed first: content the store holds (the same output of
  // many jobs, above all the empty one) then costs a lookup, not a temp file and two fsyncs.
  return PutHashedBytes(data, Cid::Of(data, codec));
}

absl::StatusOr<Cid> BlobStore::PutHashedBytes(std::string_view data, const Cid& cid) {
#ifndef NDEBUG
  MESH_CHECK(cid == Cid::Of(data, cid.codec()));
#endif
  MESH_ASSIGN_OR_RETURN(auto record, index_->Find(cid.ToString()));
  if (record.has_value() && ::access(PathFor(cid).c_str(), F_OK) == 0) return cid;
  // Written as hashed: the bytes are in memory and this call reads them once more, so they are
  // not hashed a second time on the way to the file.
  MESH_RETURN_IF_ERROR(CheckFitsQuota(data.size()));
  MESH_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(options_.root / "tmp"));
  MESH_RETURN_IF_ERROR(WriteAll(tmp.fd(), data));
  MESH_RETURN_IF_ERROR(Seal(tmp, cid, data.size()));
  return cid;
}

absl::StatusOr<Cid> BlobStore::PutFile(const std::filesystem::path& path, Codec codec) {
  MESH_ASSIGN_OR_RETURN(ScopedFd src, OpenFile(path, O_RDONLY));
  struct stat st;
  if (::fstat(src.get(), &st) != 0) return ErrnoToStatus(errno, path.string());
  if (S_ISREG(st.st_mode)) {
    MESH_RETURN_IF_ERROR(CheckFitsQuota(static_cast<uint64_t>(st.st_size)));
    auto cid = PutRegularFile(src.get(), codec);
    if (!absl::IsUnimplemented(cid.status())) return cid;
    if (::lseek(src.get(), 0, SEEK_SET) != 0) return ErrnoToStatus(errno, path.string());
  }
  ::posix_fadvise(src.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  FdSource source(src.get());
  return Put(source, codec);
}

// The kernel copies the file (copy_file_range: no trip through user space) while this thread
// hashes the copy as it lands. Hashing the copy, not the source, means the CID always names
// exactly the stored bytes even if the source changes meanwhile. Returns Unimplemented when the
// file system cannot copy in-kernel, so the caller falls back to streaming.
absl::StatusOr<Cid> BlobStore::PutRegularFile(int src_fd, Codec codec) {
  constexpr size_t kChunk = 16 << 20;
  MESH_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(options_.root / "tmp"));
  std::mutex mu;
  std::condition_variable progress;
  uint64_t copied = 0;  // guarded by mu
  bool done = false;    // guarded by mu
  int copy_errno = 0;   // guarded by mu
  bool stop = false;    // guarded by mu: the hasher gave up
  std::thread copier([&] {
    while (true) {
      const ssize_t n = ::copy_file_range(src_fd, nullptr, tmp.fd(), nullptr, kChunk, 0);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard lock(mu);
      if (n > 0) copied += static_cast<uint64_t>(n);
      if (n <= 0 || stop || (options_.quota_bytes > 0 && copied > options_.quota_bytes)) {
        done = true;
        copy_errno = n < 0 ? errno : 0;
        progress.notify_one();
        return;
      }
      progress.notify_one();
    }
  });
  auto buffer = std::make_unique<char[]>(kCopyBufferSize);
  crypto::Sha256 hasher;
  uint64_t hashed = 0;
  absl::Status status;
  while (true) {
    uint64_t available;
    bool finished;
    {
      std::unique_lock lock(mu);
      progress.wait(lock, [&] { return done || copied > hashed; });
      available = copied;
      finished = done && copied == hashed;
    }
    if (finished) break;
    while (hashed < available) {
      const size_t want = std::min<uint64_t>(kCopyBufferSize, available - hashed);
      const ssize_t n = ::pread(tmp.fd(), buffer.get(), want, static_cast<off_t>(hashed));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        status = n < 0 ? ErrnoToStatus(errno, tmp.path().string())
                       : absl::InternalError("copied blob is shorter than reported");
        break;
      }
      hasher.Update(AsView(buffer, static_cast<size_t>(n)));
      hashed += static_cast<uint64_t>(n);
    }
    if (!status.ok()) {
      std::lock_guard lock(mu);
      stop = true;
      break;
    }
  }
  copier.join();
  MESH_RETURN_IF_ERROR(status);
  if (copy_errno != 0) {
    if (hashed == 0 && (copy_errno == EXDEV || copy_errno == EINVAL || copy_errno == ENOSYS ||
                        copy_errno == EOPNOTSUPP)) {
      return absl::UnimplementedError("copy_file_range unsupported here");
    }
    return ErrnoToStatus(copy_errno, "copy into blob store");
  }
  MESH_RETURN_IF_ERROR(CheckFitsQuota(hashed));
  const Cid cid = Cid::FromDigest(hasher.Finish(), codec);
  MESH_RETURN_IF_ERROR(Seal(tmp, cid, hashed));
  return cid;
}

absl::StatusOr<std::unique_ptr<PendingBlob>> BlobStore::BeginPut(const Cid& expected,
                                                                 uint64_t max_bytes) {
  MESH_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(options_.root / "tmp"));
  return std::unique_ptr<PendingBlob>(new PendingBlob(
      *this, std::make_unique<TempFile>(std::move(tmp)), expected, expected.codec(), max_bytes));
}

absl::StatusOr<std::unique_ptr<PendingBlob>> BlobStore::BeginWrite(uint64_t max_bytes,
                                                                   Codec codec) {
  MESH_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(options_.root / "tmp"));
  return std::unique_ptr<PendingBlob>(new PendingBlob(
      *this, std::make_unique<TempFile>(std::move(tmp)), std::nullopt, codec, max_bytes));
}

PendingBlob::PendingBlob(BlobStore& store, std::unique_ptr<TempFile> tmp,
                         std::optional<Cid> expected, Codec codec, uint64_t max_bytes)
    : store_(store),
      tmp_(std::move(tmp)),
      cid_(std::move(expected)),
      expected_(cid_.has_value()),
      codec_(codec),
      max_bytes_(max_bytes) {}

PendingBlob::~PendingBlob() = default;  // An uncommitted temp file is unlinked with tmp_.

std::string PendingBlob::Name() const {
  return cid_.has_value() ? mesh::StrCat("blob ", cid_->ToString()) : "the blob being written";
}

absl::Status PendingBlob::Append(std::string_view bytes) {
  if (tmp_ == nullptr) {
    return absl::FailedPreconditionError(
        mesh::StrCat(Name(), " was already committed or abandoned"));
  }
  // size_ <= max_bytes_ always holds, so the subtraction cannot wrap.
  if (bytes.size() > max_bytes_ - size_) {
    tmp_.reset();
    return absl::ResourceExhaustedError(
        mesh::StrCat(Name(), " is over ", max_bytes_, " bytes; nothing was stored"));
  }
  absl::Status status = store_.CheckFitsQuota(size_ + bytes.size());
  if (status.ok()) {
    hasher_.Update(bytes);
    status = WriteAll(tmp_->fd(), bytes);
  }
  if (!status.ok()) {
    tmp_.reset();
    return status;
  }
  size_ += bytes.size();
  HandToDisk(store_.options_.durable, tmp_->fd(), size_, written_back_);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PendingBlob::Commit() {
  if (tmp_ == nullptr) {
    return absl::FailedPreconditionError(
        mesh::StrCat(Name(), " was already committed or abandoned"));
  }
  std::unique_ptr<TempFile> tmp = std::move(tmp_);  // Unlinked on return unless sealed.
  const Cid got = Cid::FromDigest(hasher_.Finish(), codec_);
  if (expected_ && got != *cid_) {
    return absl::DataLossError(mesh::StrCat("the ", size_, " bytes received for ", Name(),
                                            " do not hash to its CID; nothing was stored"));
  }
  MESH_RETURN_IF_ERROR(store_.Seal(*tmp, got, size_));
  cid_ = got;
  return size_;
}

absl::StatusOr<std::unique_ptr<BlobReader>> BlobStore::OpenUnchecked(
    const Cid& cid, std::function<void(const Cid&)> on_corrupt) {
  auto fd = OpenFile(PathFor(cid), O_RDONLY);
  if (absl::IsNotFound(fd.status())) return NotStored(cid);
  MESH_RETURN_IF_ERROR(fd.status());
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoToStatus(errno, PathFor(cid).string());
  ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::make_unique<BlobReader>(cid, *std::move(fd), static_cast<uint64_t>(st.st_size),
                                      std::move(on_corrupt));
}

absl::StatusOr<std::unique_ptr<BlobReader>> BlobStore::Open(const Cid& cid) {
  return OpenUnchecked(cid, [this](const Cid& corrupt) { Quarantine(corrupt); });
}

absl::StatusOr<ScopedFd> BlobStore::OpenForRange(const Cid& cid) {
  auto fd = OpenFile(PathFor(cid), O_RDONLY | O_CLOEXEC);
  if (absl::IsNotFound(fd.status())) return NotStored(cid);
  return fd;
}

void BlobStore::Quarantine(const Cid& cid) {
  const auto dir = options_.root / "quarantine";
  const auto target = dir / mesh::StrCat(cid.ToString(), ".", absl::ToUnixSeconds(clock_.Now()));
  absl::MutexLock lock(&commit_mu_);
  if (MakeDirs(dir).ok() && ::rename(PathFor(cid).c_str(), target.c_str()) == 0) {
    spdlog::error("blob {} failed verification; moved to {}", cid.ToString(), target.string());
  }
  auto record = index_->Find(cid.ToString());
  if (record.ok() && record->has_value() && index_->Remove(cid.ToString()).value_or(false)) {
    used_bytes_ -= (*record)->size;
  }
}

absl::StatusOr<std::string> BlobStore::Get(const Cid& cid, size_t max_size) {
  MESH_ASSIGN_OR_RETURN(auto reader, OpenUnchecked(cid));
  if (reader->size() > max_size) {
    return absl::ResourceExhaustedError(
        mesh::StrCat("blob ", cid.ToString(), " is ", reader->size(),
                     " bytes, over the in-memory limit of ", max_size, "; stream it instead"));
  }
  std::string out(reader->size(), '\0');
  size_t filled = 0;
  while (true) {
    // Reading into the spare capacity and one byte more notices files that grew.
    if (filled == out.size()) out.resize(out.size() + 1);
    auto n = reader->Read(out.data() + filled, out.size() - filled);
    if (absl::IsDataLoss(n.status())) Quarantine(cid);
    MESH_RETURN_IF_ERROR(n.status());
    if (*n == 0) break;
    filled += *n;
  }
  out.resize(filled);
  return out;
}

absl::Status BlobStore::CopyTo(const Cid& cid, int out_fd) {
  {
    MESH_ASSIGN_OR_RETURN(auto verifier, OpenUnchecked(cid));
    auto buffer = std::make_unique<char[]>(kCopyBufferSize);
    while (true) {
      auto n = verifier->Read(buffer.get(), kCopyBufferSize);
      if (absl::IsDataLoss(n.status())) Quarantine(cid);
      MESH_RETURN_IF_ERROR(n.status());
      if (*n == 0) break;
    }
  }
  // Verified: now send it. Stored files are immutable, so the second pass sees the same bytes.
  MESH_ASSIGN_OR_RETURN(ScopedFd in, OpenFile(PathFor(cid), O_RDONLY));
  struct stat st;
  if (::fstat(in.get(), &st) != 0) return ErrnoToStatus(errno, "fstat");
  uint64_t remaining = static_cast<uint64_t>(st.st_size);
  while (remaining > 0) {
    const ssize_t n = ::sendfile(out_fd, in.get(), nullptr, std::min<uint64_t>(remaining, 1 << 30));
    if (n > 0) {
      remaining -= static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EINVAL || errno == ENOSYS)) break;  // fall back to read/write
    if (n < 0) return ErrnoToStatus(errno, "write blob");
    return absl::DataLossError(mesh::StrCat("blob ", cid.ToString(), " shrank while copying"));
  }
  auto buffer = std::make_unique<char[]>(kCopyBufferSize);
  while (remaining > 0) {
    MESH_ASSIGN_OR_RETURN(
        size_t n, ReadSome(in.get(), buffer.get(), std::min<uint64_t>(remaining, kCopyBufferSize)));
    if (n == 0) {
      return absl::DataLossError(mesh::StrCat("blob ", cid.ToString(), " shrank while copying"));
    }
    MESH_RETURN_IF_ERROR(WriteAll(out_fd, AsView(buffer, n)));
    remaining -= n;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> BlobStore::Has(const Cid& cid) {
  MESH_ASSIGN_OR_RETURN(auto record, index_->Find(cid.ToString()));
  return record.has_value();
}

absl::StatusOr<BlobInfo> BlobStore::Stat(const Cid& cid) {
  MESH_ASSIGN_OR_RETURN(auto record, index_->Find(cid.ToString()));
  if (!record.has_value()) return NotStored(cid);
  return BlobInfo{cid, record->size, record->stored_at};
}

absl::Status BlobStore::Delete(const Cid& cid) {
  absl::MutexLock lock(&commit_mu_);
  MESH_ASSIGN_OR_RETURN(auto record, index_->Find(cid.ToString()));
  const auto path = PathFor(cid);
  const bool had_file = ::unlink(path.c_str()) == 0;
  if (!had_file && errno != ENOENT) return ErrnoToStatus(errno, path.string());
  if (!record.has_value()) {
    return had_file ? absl::OkStatus() : NotStored(cid);
  }
  MESH_RETURN_IF_ERROR(index_->Remove(cid.ToString()).status());
  used_bytes_ -= record->size;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<BlobInfo>> BlobStore::List(const std::string& after, size_t limit) {
  MESH_ASSIGN_OR_RETURN(auto records, index_->List(after, limit));
  std::vector<BlobInfo> out;
  out.reserve(records.size());
  for (const auto& r : records) {
    auto cid = Cid::Parse(r.cid);
    if (!cid.ok()) {
      return absl::DataLossError(
          mesh::StrCat("blob index holds a bad CID '", r.cid, "': ", cid.status().message()));
    }
    out.push_back({*cid, r.size, r.stored_at});
  }
  return out;
}

uint64_t BlobStore::used_bytes() const {
  absl::MutexLock lock(&commit_mu_);
  return used_bytes_;
}

}  // namespace mesh::cas
