// The Ledger's regenerating capacity (mana): RegenPolicy applied lazily as "regen" entries.
#include "mesh/common/status_macros.h"
#include "mesh/ledger/ledger.h"
#include "sqlite_util.h"

namespace mesh::ledger {
namespace {

using internal::Bind;

constexpr std::string_view kStore = "ledger";
constexpr int64_t kMicrosPerHour = int64_t{3600} * 1000 * 1000;

}  // namespace

// Lazily credits what `did` regenerated since it was last topped up. Time that yields less
// than one whole credit is kept (last_us does not advance), so a slow rate still pays out;
// time spent at or above the cap is not banked.
absl::StatusOr<int64_t> Ledger::RegenLocked(std::string_view did, int64_t* seq) {
  const RegenPolicy& p = options_.regen;
  if (p.credits_per_hour <= 0 || p.cap <= 0) return 0;
  const int64_t now_us = absl::ToUnixMicros(clock_.Now());
  sqlite3_stmt* g = Prepared(kGetRegen);
  if (g == nullptr) return Error("prepare regen");
  Bind(g, 1, did);
  MESH_ASSIGN_OR_RETURN(std::optional<int64_t> last,
                        internal::QueryInt(db_, g, kStore, "read regen"));
  MESH_ASSIGN_OR_RETURN(int64_t available, AccountLocked(did));
  int64_t add = 0;
  int64_t next_us = now_us;
  if (!last.has_value()) {
    if (p.start_full && available < p.cap) add = p.cap - available;
  } else if (available < p.cap && now_us > *last) {
    const __int128 due =
        static_cast<__int128>(now_us - *last) * p.credits_per_hour / kMicrosPerHour;
    if (due == 0) return 0;
    if (due < p.cap - available) {
      add = static_cast<int64_t>(due);
      // Consume only the time those whole credits took (rounded up: never over-credit).
      const __int128 used = (due * kMicrosPerHour + p.credits_per_hour - 1) / p.credits_per_hour;
      next_us = *last + static_cast<int64_t>(used);
    } else {
      add = p.cap - available;
    }
  } else if (last.has_value() && now_us <= *last) {
    return 0;
  }
  if (add > 0) {
    Entry e;
    e.kind = EntryKind::kRegen;
    e.postings = {{std::string(kMintAccount), -add}, {std::string(did), add}};
    MESH_ASSIGN_OR_RETURN(*seq, AppendLocked(std::move(e)));
  }
  sqlite3_stmt* s = Prepared(kSetRegen);
  if (s == nullptr) return Error("prepare regen update");
  Bind(s, 1, did);
  Bind(s, 2, next_us);
  MESH_RETURN_IF_ERROR(internal::Run(db_, s, kStore, "record regen time"));
  return add;
}

}  // namespace mesh::ledger
