#include "text.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace mesh::sched {

std::string Fixed2(double value) { return absl::StrFormat("%.2f", value); }

std::string ShortDid(std::string_view did) {
  constexpr size_t kHead = 12;  // "did:key:z6Mk"
  constexpr size_t kTail = 4;
  if (did.size() <= kHead + kTail + 1) return std::string(did);
  return absl::StrFormat("%s…%s", did.substr(0, kHead), did.substr(did.size() - kTail));
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool Contains(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

bool Intersects(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::any_of(a.begin(), a.end(), [&](const std::string& x) { return Contains(b, x); });
}

}  // namespace mesh::sched
