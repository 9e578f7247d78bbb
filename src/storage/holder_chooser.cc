#include "mesh/storage/holder_chooser.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "mesh/common/format_bytes.h"
#include "mesh/common/strings.h"

namespace mesh::storage {
namespace {

// A peer with no zone is a failure domain of its own.
std::string ZoneOf(const HolderCandidate& c) { return c.zone.empty() ? "did:" + c.did : c.zone; }

// Best first: a live peer that said it has room before one not heard from (it may well have
// room, but asking it may cost a dead peer's timeout), then reputation, then room, then DID (a
// deterministic order for equal peers).
bool Better(const HolderCandidate& a, const HolderCandidate& b) {
  const bool a_known = a.alive && a.free_bytes.has_value();
  const bool b_known = b.alive && b.free_bytes.has_value();
  return std::make_tuple(!a_known, -a.reputation, -static_cast<double>(a.free_bytes.value_or(0)),
                         a.did) < std::make_tuple(!b_known, -b.reputation,
                                                  -static_cast<double>(b.free_bytes.value_or(0)),
                                                  b.did);
}

}  // namespace

HolderChooser::HolderChooser(std::vector<HolderCandidate> candidates, uint64_t bytes_per_holder,
                             double min_reputation) {
  std::sort(candidates.begin(), candidates.end(),
            [](const HolderCandidate& a, const HolderCandidate& b) { return a.did < b.did; });
  std::string previous;
  for (HolderCandidate& c : candidates) {
    if (c.did.empty() || c.did == previous) continue;
    previous = c.did;
    if (c.address.empty()) {
      left_out_.push_back({c.did, "no address known"});
    } else if (c.reputation < min_reputation) {
      left_out_.push_back(
          {c.did, mesh::StrCat("reputation ", c.reputation, " is below ", min_reputation)});
    } else if (c.alive && c.free_bytes.has_value() && *c.free_bytes < bytes_per_holder) {
      left_out_.push_back({c.did, mesh::StrCat("offers ", FormatBytes(*c.free_bytes), ", ",
                                               FormatBytes(bytes_per_holder), " needed")});
    } else {
      ranked_.push_back(std::move(c));
    }
  }
  std::sort(ranked_.begin(), ranked_.end(), Better);
}

std::optional<HolderCandidate> HolderChooser::Next() {
  if (next_tried_ == ranked_.size()) return std::nullopt;
  // The least used zone among the untried; within it, the best ranked (the first found).
  size_t pick = next_tried_;
  int pick_use = -1;
  for (size_t i = next_tried_; i < ranked_.size(); ++i) {
    auto it = zone_use_.find(ZoneOf(ranked_[i]));
    const int use = it == zone_use_.end() ? 0 : it->second;
    if (pick_use < 0 || use < pick_use) {
      pick = i;
      pick_use = use;
      if (use == 0) break;
    }
  }
  // Keep the untried in rank order behind the tried ones.
  std::rotate(ranked_.begin() + next_tried_, ranked_.begin() + pick, ranked_.begin() + pick + 1);
  return ranked_[next_tried_++];
}

void HolderChooser::Accepted(const HolderCandidate& holder) { ++zone_use_[ZoneOf(holder)]; }

void HolderChooser::Refused(const HolderCandidate& holder, std::string reason) {
  left_out_.push_back({holder.did, std::move(reason)});
}

std::string HolderChooser::Explain(size_t max) const {
  std::string out;
  for (size_t i = 0; i < left_out_.size() && i < max; ++i) {
    if (!out.empty()) out += "; ";
    out += mesh::StrCat(left_out_[i].did, ": ", left_out_[i].reason);
  }
  if (left_out_.size() > max) out += mesh::StrCat("; and ", left_out_.size() - max, " more");
  return out;
}

}  // namespace mesh::storage
