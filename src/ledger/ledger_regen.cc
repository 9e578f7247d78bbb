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

// What `did` has regenerated since it was last topped up. Time that yields less than one whole
// credit is kept (next_us does not advance past it), so a slow rate still pays out; time spent at
// or above the cap is not banked. Reads only.
absl::StatusOr<Ledger::RegenDue> Ledger::RegenDueLocked(std::string_view did) {
  RegenDue due;
  const RegenPolicy& p = options_.regen;
  if (p.credits_per_hour <= 0 || p.cap <= 0) return due;
  const int64_t now_us = absl::ToUnixMicros(clock_.Now());
  sqlite3_stmt* g = Prepared(kGetRegen);
  if (g == nullptr) return Error("prepare regen");
  Bind(g, 1, did);
  MESH_ASSIGN_OR_RETURN(std::optional<int64_t> last,
                        internal::QueryInt(db_, g, kStore, "read regen"));
  MESH_ASSIGN_OR_RETURN(int64_t available, AccountLocked(did));
  due.next_us = now_us;
  if (!last.has_value()) {
    if (p.start_full && available < p.cap) due.add = p.cap - available;
  } else if (now_us <= *last) {
    return due;
  } else if (available < p.cap) {
    const __int128 owed =
        static_cast<__int128>(now_us - *last) * p.credits_per_hour / kMicrosPerHour;
    if (owed == 0) return due;
    if (owed < p.cap - available) {
      due.add = static_cast<int64_t>(owed);
      // Consume only the time those whole credits took (rounded up: never over-credit).
      const __int128 used = (owed * kMicrosPerHour + p.credits_per_hour - 1) / p.credits_per_hour;
      due.next_us = *last + static_cast<int64_t>(used);
    } else {
      due.add = p.cap - available;
    }
  }
  due.record = true;
  return due;
}

// Credits what is due as a signed "regen" entry from mint and records the time.
absl::StatusOr<int64_t> Ledger::RegenLocked(std::string_view did, int64_t* seq) {
  MESH_ASSIGN_OR_RETURN(RegenDue due, RegenDueLocked(did));
  if (!due.record) return 0;
  if (due.add > 0) {
    Entry e;
    e.kind = EntryKind::kRegen;
    e.postings = {{std::string(kMintAccount), -due.add}, {std::string(did), due.add}};
    MESH_ASSIGN_OR_RETURN(*seq, AppendLocked(std::move(e)));
  }
  sqlite3_stmt* s = Prepared(kSetRegen);
  if (s == nullptr) return Error("prepare regen update");
  Bind(s, 1, did);
  Bind(s, 2, due.next_us);
  MESH_RETURN_IF_ERROR(internal::Run(db_, s, kStore, "record regen time"));
  return due.add;
}

}  // namespace mesh::ledger
