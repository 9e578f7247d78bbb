// Test-only: a Handler that records what it is given, answers "reply:<envelope>", fails on
// request, throws on request ("throw", as a buggy handler would), blocks on request (until
// released), and serves blobs from memory. Thread-safe.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "mesh/cas/byte_source.h"
#include "mesh/crypto/did_key.h"
#include "mesh/net/transport.h"

namespace mesh::net::testing {

class FakeHandler final : public Handler {
 public:
  struct Received {
    crypto::DidKey peer;
    std::string envelope;
    int ttl;
    pid_t thread;  // The server thread that handled it (gettid).
  };

  // Envelopes "fail" return `error`, "silent" an empty reply; "block" waits until Release()
  // (then answers as usual).
  absl::StatusOr<std::string> OnMessage(const crypto::DidKey& peer, std::string_view envelope,
                                        int ttl) override {
    {
      absl::MutexLock lock(&mu_);
      received_.push_back({peer, std::string(envelope), ttl, ::gettid()});
    }
    if (envelope == "fail") return error_;
    if (envelope == "throw") throw std::runtime_error("the fake handler threw");
    if (envelope == "silent") return std::string();
    if (envelope == "block") {
      blocked_.Notify();
      release_.WaitForNotificationWithTimeout(absl::Seconds(60));  // Guard only.
    }
    if (envelope.size() > 64) return "reply:" + std::to_string(envelope.size()) + " bytes";
    return std::string("reply:") + std::string(envelope);
  }

  // A blob source that breaks mid-read, as a buggy store would (after one chunk).
  class ThrowingSource final : public cas::ByteSource {
   public:
    absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
      if (read_ >= kBlobChunkBytes) throw std::out_of_range("the fake blob reader threw");
      const size_t n = std::min(size, kBlobChunkBytes - read_);
      std::fill(buffer, buffer + n, 'r');
      read_ += n;
      return n;
    }

   private:
    size_t read_ = 0;
  };

  absl::StatusOr<std::unique_ptr<cas::ByteSource>> OpenBlob(const crypto::DidKey& peer,
                                                            std::string_view request) override {
    absl::MutexLock lock(&mu_);
    blob_peers_.push_back(peer);
    if (request == "throw") throw std::length_error("the fake blob store threw");
    if (request == "throw-on-read") return std::make_unique<ThrowingSource>();
    auto it = blobs_.find(std::string(request));
    if (it == blobs_.end()) {
      return absl::NotFoundError("blob " + std::string(request) + " is not stored here");
    }
    return std::make_unique<cas::StringSource>(it->second);
  }

  // The bytes must not change while a fetch may read them.
  void AddBlob(const std::string& name, std::string bytes) {
    absl::MutexLock lock(&mu_);
    blobs_[name] = std::move(bytes);
  }
  void set_error(absl::Status error) { error_ = std::move(error); }
  // Waits (bounded, as a failure guard) until a "block" envelope arrived.
  bool WaitBlocked() { return blocked_.WaitForNotificationWithTimeout(absl::Seconds(30)); }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

  std::vector<Received> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  std::vector<crypto::DidKey> blob_peers() const {
    absl::MutexLock lock(&mu_);
    return blob_peers_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
  std::vector<crypto::DidKey> blob_peers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> blobs_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ = absl::FailedPreconditionError("the fake handler refuses");
  absl::Notification blocked_;
  absl::Notification release_;
};

// Sends and waits for the callback (bounded by `guard`, a failure guard only).
inline absl::StatusOr<std::string> SendAndWait(Transport& from, const Endpoint& to,
                                               std::string envelope, int ttl = 1,
                                               absl::Duration timeout = absl::Seconds(10),
                                               absl::Duration guard = absl::Seconds(60)) {
  struct Result {
    absl::Notification done;
    std::optional<absl::StatusOr<std::string>> value;
  };
  auto result = std::make_shared<Result>();
  from.Send(to, std::move(envelope), ttl, timeout, [result](absl::StatusOr<std::string> r) {
    result->value = std::move(r);
    result->done.Notify();
  });
  if (!result->done.WaitForNotificationWithTimeout(guard)) {
    return absl::InternalError("test guard: the Send callback never ran");
  }
  return *std::move(result->value);
}

}  // namespace mesh::net::testing
