// Private to the net module: cutting a ByteSource into wire chunks, shared by the gRPC server,
// the blob stream and LoopbackTransport. Header-only.
#pragma once

#include <deque>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/cas/byte_source.h"
#include "mesh/net/transport.h"

namespace mesh::net::internal {

// Reads the next chunk of up to kBlobChunkBytes into `*buffer` (resized to what was read),
// filling it across short reads. 0 = end of the blob.
inline absl::StatusOr<size_t> ReadChunk(cas::ByteSource& source, std::string* buffer) {
  buffer->resize(kBlobChunkBytes);
  size_t filled = 0;
  while (filled < kBlobChunkBytes) {
    absl::StatusOr<size_t> n = source.Read(buffer->data() + filled, kBlobChunkBytes - filled);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    filled += *n;
  }
  buffer->resize(filled);
  return filled;
}

// Chunks read ahead of the one being sent.
inline constexpr size_t kChunksAhead = 2;

// Reads (and, for a stored blob, hashes: BlobReader checks the CID as it goes) the next chunks
// on a thread of its own while the sending thread encrypts and sends the current one (gRPC's
// FetchBlob, the blob stream), so one transfer's two halves run on two cores. The destructor stops
// the thread and joins it.
class ChunkPrefetcher {
 public:
  explicit ChunkPrefetcher(cas::ByteSource& source) : source_(source), thread_([this] { Run(); }) {}
  ~ChunkPrefetcher() {
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
    }
    thread_.join();
  }
  ChunkPrefetcher(const ChunkPrefetcher&) = delete;
  ChunkPrefetcher& operator=(const ChunkPrefetcher&) = delete;

  // The next chunk, swapped into `*chunk` (whose old buffer is read into again: no allocation
  // per chunk); an empty chunk = the end of the blob. An exception the source threw is rethrown
  // here, on the call's thread, for the call's edge to catch.
  absl::Status Next(std::string* chunk) {
    Read next;
    {
      absl::MutexLock lock(&mu_);
      if (chunk->capacity() >= kBlobChunkBytes) spare_.push_back(std::move(*chunk));
      mu_.Await(absl::Condition(
          +[](std::deque<Read>* q) { return !q->empty(); }, &ready_));
      next = std::move(ready_.front());
      ready_.pop_front();
    }
    if (next.thrown != nullptr) std::rethrow_exception(next.thrown);
    if (!next.chunk.ok()) return next.chunk.status();
    chunk->swap(*next.chunk);
    return absl::OkStatus();
  }

 private:
  void Run() {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &ChunkPrefetcher::HasRoom));
        if (stopped_) return;
      }
      Read read;
      std::string buffer;
      {
        absl::MutexLock lock(&mu_);
        if (!spare_.empty()) {
          buffer = std::move(spare_.back());
          spare_.pop_back();
        }
      }
      try {
        read.chunk = std::move(buffer);
        absl::StatusOr<size_t> n = ReadChunk(source_, &*read.chunk);
        if (!n.ok()) read.chunk = n.status();
      } catch (...) {  // Must not end the process from this thread.
        read.thrown = std::current_exception();
      }
      const bool last = read.thrown != nullptr || !read.chunk.ok() || read.chunk->empty();
      absl::MutexLock lock(&mu_);
      ready_.push_back(std::move(read));
      if (last) return;
    }
  }
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopped_ || ready_.size() < kChunksAhead;
  }

  struct Read {
    absl::StatusOr<std::string> chunk;
    std::exception_ptr thrown;
  };

  cas::ByteSource& source_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Read> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> spare_ ABSL_GUARDED_BY(mu_);  // Buffers sent, to read into again.
  std::thread thread_;                                   // Last: starts after the members it uses.
};

}  // namespace mesh::net::internal
