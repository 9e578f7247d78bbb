#include "mesh/exec/shared_input.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "mesh/common/strings.h"

namespace mesh::exec {
namespace {

constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

absl::Status Errno(std::string_view what) {
  return absl::InternalError(mesh::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<ScopedFd> MakeSealedMemfd(std::string_view bytes) {
  ScopedFd fd(::memfd_create("mesh-input", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return Errno("memfd_create");
  if (absl::Status s = WriteAll(fd.get(), bytes); !s.ok()) return s;
  if (::fcntl(fd.get(), F_ADD_SEALS, kSeals) != 0) return Errno("sealing a memfd");
  return fd;
}

absl::StatusOr<wasm::StdinPiece> MapSharedInput(int fd, std::string cid, uint64_t size) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & kSeals) != kSeals) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "shared input ", cid, " is not sealed shared memory (seals ", seals, "); refused"));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return Errno(mesh::StrCat("fstat of shared input ", cid));
  if (static_cast<uint64_t>(st.st_size) != size) {
    return absl::InvalidArgumentError(mesh::StrCat("shared input ", cid, " holds ", st.st_size,
                                                   " bytes but the request says ", size,
                                                   "; refused"));
  }
  wasm::StdinPiece piece;
  piece.cid = std::move(cid);
  if (size == 0) return piece;
  void* at = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (at == MAP_FAILED) return Errno(mesh::StrCat("mapping shared input ", piece.cid));
  piece.bytes = std::string_view(static_cast<const char*>(at), size);
  piece.keep = std::shared_ptr<const void>(
      at, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return piece;
}

absl::StatusOr<std::shared_ptr<const ScopedFd>> SharedInputFiles::Get(const std::string& cid,
                                                                      std::string_view bytes) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = entries_.find(cid); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.fd;
    }
  }
  // Made outside the lock (a copy of the input); two callers racing make two, one is kept.
  absl::StatusOr<ScopedFd> made = MakeSealedMemfd(bytes);
  if (!made.ok()) return made.status();
  auto fd = std::make_shared<const ScopedFd>(*std::move(made));
  absl::MutexLock lock(&mu_);
  if (auto it = entries_.find(cid); it != entries_.end()) return it->second.fd;
  if (bytes.size() > max_bytes_) return fd;  // used for this run only
  lru_.push_front(cid);
  entries_.emplace(cid, Entry{fd, bytes.size(), lru_.begin()});
  bytes_ += bytes.size();
  while (bytes_ > max_bytes_) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    entries_.erase(victim);
    lru_.pop_back();
  }
  return fd;
}

uint64_t SharedInputFiles::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

const wasm::StdinPiece* InputCache::Find(const std::string& cid, uint64_t size) {
  auto it = entries_.find(cid);
  if (it == entries_.end() || it->second.piece.bytes.size() != size) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return &it->second.piece;
}

void InputCache::Insert(const wasm::StdinPiece& piece) {
  const uint64_t size = piece.bytes.size();
  if (piece.cid.empty() || size > max_bytes_ || entries_.contains(piece.cid)) return;
  lru_.push_front(piece.cid);
  entries_.emplace(piece.cid, Entry{piece, lru_.begin()});
  bytes_ += size;
  while (bytes_ > max_bytes_) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.piece.bytes.size();
    entries_.erase(victim);
    lru_.pop_back();
  }
}

}  // namespace mesh::exec
