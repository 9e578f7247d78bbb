#include "mesh/node/job_store.h"

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::node {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  envelope BLOB NOT NULL,
  spec_json TEXT NOT NULL,
  priority INTEGER NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  idempotency_key TEXT UNIQUE,
  submitted_us INTEGER NOT NULL,
  started_us INTEGER NOT NULL DEFAULT 0,
  finished_us INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  outcome TEXT NOT NULL DEFAULT '',
  exit_code INTEGER NOT NULL DEFAULT 0,
  fuel_used INTEGER NOT NULL DEFAULT 0,
  output_cid TEXT NOT NULL DEFAULT '',
  report_json TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, seq);
)sql";

constexpr const char* kColumns =
    "seq, id, envelope, spec_json, state, reason, idempotency_key, submitted_us, started_us, "
    "finished_us, attempts, outcome, exit_code, fuel_used, output_cid, report_json";

std::string Text(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s, col));
  return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(s, col));
}

void Bind(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void Bind(sqlite3_stmt* s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }

// A row of kColumns as stored. Get() copies it out under the store's lock and parses it
// (ParseRow) after releasing the lock: parsing and validating the spec JSON is a good part of a
// read, and every runner and API thread waits on that lock (bench/README.md, "meshd: HTTP API").
struct RawRow {
  JobRecord record;  // every field but spec and state
  std::string spec_json;
  std::string state;
};

RawRow ReadRawRow(sqlite3_stmt* s) {
  RawRow raw;
  JobRecord& r = raw.record;
  r.seq = sqlite3_column_int64(s, 0);
  r.id = Text(s, 1);
  r.envelope = Text(s, 2);
  raw.spec_json = Text(s, 3);
  raw.state = Text(s, 4);
  r.reason = Text(s, 5);
  r.idempotency_key = Text(s, 6);
  r.submitted_at = absl::FromUnixMicros(sqlite3_column_int64(s, 7));
  r.started_at = absl::FromUnixMicros(sqlite3_column_int64(s, 8));
  r.finished_at = absl::FromUnixMicros(sqlite3_column_int64(s, 9));
  r.attempts = sqlite3_column_int(s, 10);
  r.outcome = Text(s, 11);
  r.exit_code = sqlite3_column_int(s, 12);
  r.fuel_used = static_cast<uint64_t>(sqlite3_column_int64(s, 13));
  r.output_cid = Text(s, 14);
  r.report_json = Text(s, 15);
  return raw;
}

absl::StatusOr<JobRecord> ParseRow(RawRow raw) {
  JobRecord& r = raw.record;
  nlohmann::json spec = nlohmann::json::parse(raw.spec_json, nullptr, false);
  absl::StatusOr<job::JobSpec> parsed = job::JobSpecFromJson(spec, /*require_identity=*/false);
  if (!parsed.ok()) {
    return absl::DataLossError(
        mesh::StrCat("stored spec of job ", r.id, " does not parse: ", parsed.status().message()));
  }
  r.spec = *std::move(parsed);
  std::optional<job::JobState> state = job::ParseJobState(raw.state);
  if (!state.has_value()) {
    return absl::DataLossError(mesh::StrCat("job ", r.id, " has unknown state ", raw.state));
  }
  r.state = *state;
  return std::move(r);
}

absl::StatusOr<JobRecord> ReadRow(sqlite3_stmt* s) { return ParseRow(ReadRawRow(s)); }

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(
        mesh::StrCat("cannot open job database ", path.string(), ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<JobStore> store(new JobStore(db));
  MESH_RETURN_IF_ERROR(store->Init());
  return store;
}

JobStore::~JobStore() {
  absl::MutexLock lock(&mu_);
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

absl::Status JobStore::Init() {
  absl::MutexLock lock(&mu_);
  char* err = nullptr;
  const std::string sql = mesh::StrCat(
      // One process owns the database (meshd holds the data dir's lock): exclusive locking
      // drops the per-transaction file locks and the shared-memory index of the WAL.
      "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
      " PRAGMA foreign_keys=ON;",
      kSchema);
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return absl::DataLossError(mesh::StrCat("job database cannot be initialised: ", msg,
                                            "; if the file is damaged, move it aside"));
  }
  return absl::OkStatus();
}

sqlite3_stmt* JobStore::Prepared(Stmt which) {
  static constexpr const char* kSql[kNumStmts] = {
      // kInsert
      "INSERT INTO jobs (id, envelope, spec_json, priority, state, idempotency_key, submitted_us)"
      " VALUES (?1, ?2, ?3, ?4, 'queued', NULLIF(?5, ''), ?6)",
      // kFindKey
      "SELECT id FROM jobs WHERE idempotency_key = ?1",
      // kRunning
      "UPDATE jobs SET state = 'running', started_us = ?2, attempts = ?3 "
      "WHERE id = ?1 AND state = 'queued'",
      // kFinish
      "UPDATE jobs SET state = ?2, reason = ?3, finished_us = ?4, outcome = ?5, exit_code = ?6,"
      " fuel_used = ?7, output_cid = ?8, report_json = ?9 "
      "WHERE id = ?1 AND state IN ('queued', 'running')",
      // kRequeue
      "UPDATE jobs SET state = 'queued' WHERE id = ?1 AND state = 'running'",
      // kGet
      nullptr,
      // kCounts
      "SELECT state, COUNT(*) FROM jobs GROUP BY state",
  };
  sqlite3_stmt*& s = stmts_[which];
  if (s == nullptr) {
    std::string sql = which == kGet ? mesh::StrCat("SELECT ", kColumns, " FROM jobs WHERE id = ?1")
                                    : std::string(kSql[which]);
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return nullptr;
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

absl::Status JobStore::Error(std::string_view what) const {
  const int code = sqlite3_errcode(db_);
  std::string msg = mesh::StrCat("job database: ", what, ": ", sqlite3_errmsg(db_));
  if (code == SQLITE_FULL) return absl::ResourceExhaustedError(msg + "; free disk space");
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(msg);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return absl::DataLossError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::optional<std::string>> JobStore::Insert(JobRecord& r) {
  const std::string spec_json = job::CanonicalJson(r.spec);  // before the lock: see RawRow
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kInsert);
  if (s == nullptr) return Error("prepare insert");
  Bind(s, 1, r.id);
  sqlite3_bind_blob(s, 2, r.envelope.data(), static_cast<int>(r.envelope.size()), SQLITE_TRANSIENT);
  Bind(s, 3, spec_json);
  Bind(s, 4, int64_t{r.spec.priority});
  Bind(s, 5, r.idempotency_key);
  Bind(s, 6, absl::ToUnixMicros(r.submitted_at));
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) {
    r.seq = sqlite3_last_insert_rowid(db_);
    return std::optional<std::string>();
  }
  if (rc == SQLITE_CONSTRAINT && !r.idempotency_key.empty()) {
    sqlite3_stmt* f = Prepared(kFindKey);
    Bind(f, 1, r.idempotency_key);
    std::optional<std::string> holder;
    if (sqlite3_step(f) == SQLITE_ROW) holder = Text(f, 0);
    // Reset now: a statement left on a row holds a read snapshot, and the WAL cannot be
    // checkpointed back to the start while one exists (it would grow without bound).
    sqlite3_reset(f);
    if (holder.has_value()) return holder;
  }
  if (rc == SQLITE_CONSTRAINT) {
    return absl::AlreadyExistsError(mesh::StrCat("job ", r.id, " was already submitted"));
  }
  return Error(mesh::StrCat("insert job ", r.id));
}

absl::Status JobStore::MarkRunning(const std::string& id, absl::Time at, int attempts) {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kRunning);
  if (s == nullptr) return Error("prepare update");
  Bind(s, 1, id);
  Bind(s, 2, absl::ToUnixMicros(at));
  Bind(s, 3, int64_t{attempts});
  if (sqlite3_step(s) != SQLITE_DONE) return Error(mesh::StrCat("mark job ", id, " running"));
  if (sqlite3_changes(db_) == 0) {
    return absl::FailedPreconditionError(mesh::StrCat("job ", id, " is not queued"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> JobStore::Finish(const JobRecord& r) {
  if (!job::IsTerminal(r.state)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("Finish needs a terminal state, not ", job::JobStateName(r.state)));
  }
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kFinish);
  if (s == nullptr) return Error("prepare finish");
  Bind(s, 1, r.id);
  Bind(s, 2, job::JobStateName(r.state));
  Bind(s, 3, r.reason);
  Bind(s, 4, absl::ToUnixMicros(r.finished_at));
  Bind(s, 5, r.outcome);
  Bind(s, 6, int64_t{r.exit_code});
  Bind(s, 7, static_cast<int64_t>(r.fuel_used));
  Bind(s, 8, r.output_cid);
  Bind(s, 9, r.report_json);
  if (sqlite3_step(s) != SQLITE_DONE) return Error(mesh::StrCat("finish job ", r.id));
  return sqlite3_changes(db_) > 0;
}

absl::Status JobStore::Requeue(const std::string& id) {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kRequeue);
  if (s == nullptr) return Error("prepare requeue");
  Bind(s, 1, id);
  if (sqlite3_step(s) != SQLITE_DONE) return Error(mesh::StrCat("requeue job ", id));
  return absl::OkStatus();
}

absl::StatusOr<JobRecord> JobStore::Get(const std::string& id) {
  std::optional<RawRow> raw;
  {
    absl::MutexLock lock(&mu_);
    sqlite3_stmt* s = Prepared(kGet);
    if (s == nullptr) return Error("prepare get");
    Bind(s, 1, id);
    const int rc = sqlite3_step(s);  // ids are unique: one row or none
    if (rc == SQLITE_ROW) {
      raw = ReadRawRow(s);
    } else if (rc != SQLITE_DONE) {
      return Error("query jobs");
    }
    sqlite3_reset(s);  // ends the read transaction now, not at the statement's next use
  }
  if (!raw.has_value()) return absl::NotFoundError(mesh::StrCat("no job ", id, " on this node"));
  return ParseRow(*std::move(raw));
}

absl::StatusOr<std::vector<JobRecord>> JobStore::Query(sqlite3_stmt* s) {
  std::vector<JobRecord> rows;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    MESH_ASSIGN_OR_RETURN(JobRecord r, ReadRow(s));
    rows.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error("query jobs");
  return rows;
}

absl::StatusOr<std::vector<JobRecord>> JobStore::List(std::optional<job::JobState> state,
                                                      size_t limit, int64_t before_seq) {
  absl::MutexLock lock(&mu_);
  std::string sql =
      mesh::StrCat("SELECT ", kColumns, " FROM jobs WHERE seq < ?1",
                   state.has_value() ? " AND state = ?2" : "", " ORDER BY seq DESC LIMIT ?3");
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    return Error("prepare list");
  }
  Bind(s, 1, before_seq > 0 ? before_seq : INT64_MAX);
  if (state.has_value()) Bind(s, 2, job::JobStateName(*state));
  Bind(s, 3, static_cast<int64_t>(limit));
  absl::StatusOr<std::vector<JobRecord>> rows = Query(s);
  sqlite3_finalize(s);
  return rows;
}

absl::StatusOr<std::vector<JobRecord>> JobStore::Unfinished() {
  absl::MutexLock lock(&mu_);
  const std::string sql = mesh::StrCat("SELECT ", kColumns,
                                       " FROM jobs WHERE state IN ('queued', 'running') "
                                       "ORDER BY seq");
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    return Error("prepare unfinished");
  }
  absl::StatusOr<std::vector<JobRecord>> rows = Query(s);
  sqlite3_finalize(s);
  return rows;
}

absl::StatusOr<JobCounts> JobStore::Counts() {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kCounts);
  if (s == nullptr) return Error("prepare counts");
  JobCounts c;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const std::string state = Text(s, 0);
    const auto n = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
    if (state == "queued") c.queued = n;
    if (state == "running") c.running = n;
    if (state == "succeeded") c.succeeded = n;
    if (state == "failed") c.failed = n;
    if (state == "cancelled") c.cancelled = n;
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return Error("count jobs");
  return c;
}

}  // namespace mesh::node
