#include "reputation_store.h"

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/sqlite/sqlite.h"

namespace mesh::ledger {
namespace {

constexpr std::string_view kStore = "reputation";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS reputation (
  did TEXT PRIMARY KEY,
  good REAL NOT NULL,
  bad REAL NOT NULL,
  at_us INTEGER NOT NULL,
  successes INTEGER NOT NULL,
  failures INTEGER NOT NULL,
  timeouts INTEGER NOT NULL,
  outvoted INTEGER NOT NULL,
  updated_us INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

int64_t ToMicros(absl::Time t) {
  return t == absl::InfinitePast() ? INT64_MIN : absl::ToUnixMicros(t);
}
absl::Time FromMicros(int64_t us) {
  return us == INT64_MIN ? absl::InfinitePast() : absl::FromUnixMicros(us);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReputationStore>> ReputationStore::Open(
    const std::filesystem::path& path) {
  MESH_ASSIGN_OR_RETURN(sqlite3 * db, sqlite::OpenDatabase(path.string(), kStore));
  std::unique_ptr<ReputationStore> store(new ReputationStore(db));
  MESH_RETURN_IF_ERROR(sqlite::ExecSql(db, kSchema, kStore));
  MESH_ASSIGN_OR_RETURN(store->checkpointer_,
                        sqlite::BackgroundCheckpointer::Start(db, path.string(), kStore));
  return store;
}

ReputationStore::~ReputationStore() {
  checkpointer_.reset();
  sqlite3_close(db_);
}

absl::Status ReputationStore::LoadInto(ReputationScores& scores) {
  sqlite::Statement s(db_,
                      "SELECT did, good, bad, at_us, successes, failures, timeouts, outvoted,"
                      " updated_us FROM reputation");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare load");
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    ReputationState st;
    st.good = sqlite3_column_double(s.get(), 1);
    st.bad = sqlite3_column_double(s.get(), 2);
    st.at = FromMicros(sqlite3_column_int64(s.get(), 3));
    for (int i = 0; i < 4; ++i) st.counts[i] = sqlite3_column_int64(s.get(), 4 + i);
    st.updated = FromMicros(sqlite3_column_int64(s.get(), 8));
    scores.Set(sqlite::Text(s.get(), 0), st);
  }
  return rc == SQLITE_DONE ? absl::OkStatus() : sqlite::SqlError(db_, kStore, "load");
}

absl::Status ReputationStore::Save(std::string_view did, const ReputationState& st) {
  sqlite::Statement s(db_,
                      "INSERT OR REPLACE INTO reputation (did, good, bad, at_us, successes,"
                      " failures, timeouts, outvoted, updated_us)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!s.ok()) return sqlite::SqlError(db_, kStore, "prepare save");
  sqlite::Bind(s.get(), 1, did);
  sqlite3_bind_double(s.get(), 2, st.good);
  sqlite3_bind_double(s.get(), 3, st.bad);
  sqlite::Bind(s.get(), 4, ToMicros(st.at));
  for (int i = 0; i < 4; ++i) sqlite::Bind(s.get(), 5 + i, st.counts[i]);
  sqlite::Bind(s.get(), 9, ToMicros(st.updated));
  return sqlite::Run(db_, s.get(), kStore, mesh::StrCat("save ", did));
}

absl::Status ReputationStore::SaveAll(
    std::span<const std::pair<std::string, ReputationState>> rows) {
  MESH_RETURN_IF_ERROR(sqlite::ExecSql(db_, "BEGIN IMMEDIATE", kStore));
  for (const auto& [did, state] : rows) {
    if (absl::Status saved = Save(did, state); !saved.ok()) {
      sqlite::ExecSql(db_, "ROLLBACK", kStore).IgnoreError();
      return saved;
    }
  }
  if (absl::Status committed = sqlite::ExecSql(db_, "COMMIT", kStore); !committed.ok()) {
    sqlite::ExecSql(db_, "ROLLBACK", kStore).IgnoreError();
    return committed;
  }
  return absl::OkStatus();
}

}  // namespace mesh::ledger
