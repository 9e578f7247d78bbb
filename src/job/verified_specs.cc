// VerifiedSpecs: see verified_specs.h.
#include "mesh/job/verified_specs.h"

#include <string>
#include <utility>

namespace mesh::job {

VerifiedSpecs::VerifiedSpecs(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

absl::StatusOr<SignedJobSpec> VerifiedSpecs::Open(std::string_view envelope) {
  cas::Cid id = cas::Cid::Of(envelope);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = specs_.find(id); it != specs_.end()) {
      ++stats_.hits;
      return SignedJobSpec{it->second, std::string(envelope), std::move(id)};
    }
    ++stats_.verified;
  }
  // Verified outside the lock: two readers of one new spec may both verify it, which is only
  // the work this saves, never a wrong answer.
  absl::StatusOr<SignedJobSpec> opened = OpenJobSpec(envelope);
  if (!opened.ok()) return opened;
  absl::MutexLock lock(&mu_);
  if (specs_.try_emplace(opened->id, opened->spec).second) {
    order_.push_back(opened->id);
    while (order_.size() > capacity_) {
      specs_.erase(order_.front());
      order_.pop_front();
    }
  }
  return opened;
}

VerifiedSpecs::Stats VerifiedSpecs::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.kept = specs_.size();
  return s;
}

absl::StatusOr<SignedJobSpec> OpenSpecThrough(VerifiedSpecs* specs, std::string_view envelope) {
  return specs != nullptr ? specs->Open(envelope) : OpenJobSpec(envelope);
}

}  // namespace mesh::job
