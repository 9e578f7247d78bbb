#include "mesh/node/job_store.h"

#include <sqlite3.h>

#include <algorithm>

#include "mesh/cas/cid.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/sqlite/sqlite.h"

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
CREATE TABLE IF NOT EXISTS history (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  cid TEXT NOT NULL UNIQUE,
  job_id TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_job ON history(job_id, n);
CREATE TABLE IF NOT EXISTS module_crashes (
  module TEXT PRIMARY KEY,
  crashes INTEGER NOT NULL,
  last_us INTEGER NOT NULL
);
)sql";

// Columns added after the first release; Init() adds those an older database lacks.
constexpr std::pair<const char*, const char*> kAddedColumns[] = {
    {"role", "TEXT NOT NULL DEFAULT ''"},           {"peer", "TEXT NOT NULL DEFAULT ''"},
    {"peer_address", "TEXT NOT NULL DEFAULT ''"},   {"round", "INTEGER NOT NULL DEFAULT 0"},
    {"phase", "TEXT NOT NULL DEFAULT 'submitted'"}, {"history_head", "TEXT NOT NULL DEFAULT ''"},
    {"interrupted", "INTEGER NOT NULL DEFAULT 0"},  {"files_cid", "TEXT NOT NULL DEFAULT ''"},
    {"stored_output", "TEXT NOT NULL DEFAULT ''"},
};

constexpr const char* kColumns =
    "seq, id, envelope, spec_json, state, reason, idempotency_key, submitted_us, started_us, "
    "finished_us, attempts, outcome, exit_code, fuel_used, output_cid, report_json, role, peer, "
    "peer_address, round, phase, history_head, interrupted, files_cid, stored_output";

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
  JobRecord record;  // every field but spec, state and role
  std::string spec_json;
  std::string state;
  std::string role;
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
  raw.role = Text(s, 16);
  r.peer = Text(s, 17);
  r.peer_address = Text(s, 18);
  r.round = static_cast<uint32_t>(sqlite3_column_int64(s, 19));
  r.phase = Text(s, 20);
  r.history_head = Text(s, 21);
  r.interrupted = sqlite3_column_int(s, 22);
  r.files_cid = Text(s, 23);
  r.stored_output = Text(s, 24);
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
  // "" is how a job run here was stored before roles had names (and what an older database's
  // added column holds): it still reads as local.
  std::optional<job::JobRole> role =
      raw.role.empty() ? job::JobRole::kLocal : job::ParseJobRole(raw.role);
  if (!role.has_value()) {
    return absl::DataLossError(mesh::StrCat("job ", r.id, " has unknown role \"", raw.role,
                                            "\" (known: local, delegated, assigned, split); a "
                                            "newer meshd wrote it, or the row was edited"));
  }
  r.role = *role;
  return std::move(r);
}

absl::StatusOr<JobRecord> ReadRow(sqlite3_stmt* s) { return ParseRow(ReadRawRow(s)); }

nlohmann::json SubmittedDetail(const JobRecord& r) {
  nlohmann::json detail = {{"module", r.spec.module}, {"submitter", r.spec.submitter}};
  // A local job's first block names no role, as before roles were an enum.
  if (r.role != job::JobRole::kLocal) detail["role"] = std::string(job::JobRoleName(r.role));
  if (!r.peer.empty()) detail["peer"] = r.peer;
  if (!r.placement_reason.empty()) detail["placement"] = r.placement_reason;
  return detail;
}

// A history block: the canonical JSON that its CID names. `prev` links it to the block before
// (empty for the first), so a job's history is a hash chain that cannot be edited unseen.
std::string HistoryBody(const std::string& id, const std::string& prev, std::string_view phase,
                        absl::Time at, nlohmann::json detail) {
  nlohmann::json body = {{"job", id},
                         {"phase", std::string(phase)},
                         {"at_ms", absl::ToUnixMillis(at)},
                         {"prev", prev},
                         {"detail", std::move(detail)}};
  return body.dump();
}

absl::StatusOr<std::vector<HistoryBlock>> VerifyHistory(
    const std::string& id, const std::vector<std::pair<std::string, std::string>>& rows) {
  std::vector<HistoryBlock> blocks;
  std::string prev;
  for (const auto& [cid, body] : rows) {
    if (cas::Cid::Of(body, cas::Codec::kDagJson).ToString() != cid) {
      return absl::DataLossError(
          mesh::StrCat("history block ", cid, " of job ", id, " does not match its CID"));
    }
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("prev") || !j["prev"].is_string() || !j.contains("phase") ||
        !j["phase"].is_string() || !j.contains("at_ms") || !j["at_ms"].is_number_integer()) {
      return absl::DataLossError(
          mesh::StrCat("history block ", cid, " of job ", id, " is not a history block"));
    }
    if (j["prev"].get<std::string>() != prev) {
      return absl::DataLossError(mesh::StrCat("history of job ", id, " is broken at block ", cid,
                                              ": it links to ", j["prev"].get<std::string>(),
                                              ", not ", prev.empty() ? "nothing" : prev));
    }
    blocks.push_back(HistoryBlock{cid, prev, j["phase"].get<std::string>(),
                                  absl::FromUnixMillis(j["at_ms"].get<int64_t>()),
                                  j.value("detail", nlohmann::json::object())});
    prev = cid;
  }
  return blocks;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::filesystem::path& path) {
  // One process owns the database (meshd holds the data dir's lock).
  MESH_ASSIGN_OR_RETURN(sqlite3 * db,
                        sqlite::OpenDatabase(path.string(), "job database", {.exclusive = true}));
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
  // A checkpoint copies every page the WAL holds back into the database and syncs both files.
  // Each job step rewrites the same few pages (the tables' last leaves, their indexes'), so a
  // longer WAL (about 16 MiB instead of 4) writes each of them back once per 4,000 frames
  // rather than once per 1,000, and syncs a quarter as often (api_bench: checkpoints were 8.5%
  // of meshd's CPU).
  // The page cache: SQLite's default is 2 MiB per connection, resident once the database has
  // grown past it; the hot pages are the tables' last leaves and their indexes', and others
  // come back from the kernel's page cache for a pread. (api_bench, 500 requests + 3 s loads:
  // throughput not lower, RSS after load not measurably lower: the cap is for long-lived nodes.)
  const std::string sql = mesh::StrCat(
      "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=4000; PRAGMA cache_size=-512;", kSchema);
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return absl::DataLossError(mesh::StrCat("job database cannot be initialised: ", msg,
                                            "; if the file is damaged, move it aside"));
  }
  return AddMissingColumns();
}

absl::Status JobStore::AddMissingColumns() {
  std::vector<std::string> have;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA table_info(jobs)", -1, &s, nullptr) != SQLITE_OK) {
    return Error("read the jobs table's columns");
  }
  while (sqlite3_step(s) == SQLITE_ROW) have.push_back(Text(s, 1));
  sqlite3_finalize(s);
  for (const auto& [name, type] : kAddedColumns) {
    if (std::find(have.begin(), have.end(), name) != have.end()) continue;
    MESH_RETURN_IF_ERROR(Exec(mesh::StrCat("ALTER TABLE jobs ADD COLUMN ", name, " ", type)));
  }
  return absl::OkStatus();
}

absl::Status JobStore::Exec(const std::string& sql) {
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Error(sql);
  }
  return absl::OkStatus();
}

sqlite3_stmt* JobStore::Prepared(Stmt which) {
  static constexpr const char* kSql[kNumStmts] = {
      // kInsert
      "INSERT INTO jobs (id, envelope, spec_json, priority, state, idempotency_key, submitted_us,"
      " role, peer, peer_address, round) VALUES (?1, ?2, ?3, ?4, 'queued', NULLIF(?5, ''), ?6,"
      " ?7, ?8, ?9, ?10)",
      // kFindKey
      "SELECT id FROM jobs WHERE idempotency_key = ?1",
      // kRunning
      "UPDATE jobs SET state = 'running', started_us = ?2, attempts = ?3 "
      "WHERE id = ?1 AND state = 'queued'",
      // kFinish
      "UPDATE jobs SET state = ?2, reason = ?3, finished_us = ?4, outcome = ?5, exit_code = ?6,"
      " fuel_used = ?7, output_cid = ?8, report_json = ?9, files_cid = ?10 "
      "WHERE id = ?1 AND state IN ('queued', 'running')",
      // kRequeue
      "UPDATE jobs SET state = 'queued' WHERE id = ?1 AND state = 'running'",
      // kGet
      nullptr,
      // kCounts
      "SELECT state, COUNT(*) FROM jobs GROUP BY state",
      // kHead
      "SELECT history_head FROM jobs WHERE id = ?1",
      // kAddBlock
      "INSERT OR IGNORE INTO history (cid, job_id, body) VALUES (?1, ?2, ?3)",
      // kSetHead
      "UPDATE jobs SET history_head = ?2, phase = ?3 WHERE id = ?1",
      // kMarket
      "UPDATE jobs SET role = ?2, peer = ?3, peer_address = ?4, round = ?5 WHERE id = ?1",
      // kRecover
      "UPDATE jobs SET state = 'queued', interrupted = ?2 WHERE id = ?1 AND state = 'running'",
      // kFail
      "UPDATE jobs SET state = 'failed', interrupted = ?2, reason = ?3, finished_us = ?4,"
      " outcome = ?5, report_json = ?6 WHERE id = ?1 AND state IN ('queued', 'running')",
      // kModuleCrash
      "INSERT OR REPLACE INTO module_crashes (module, crashes, last_us) VALUES (?1, ?2, ?3)",
      // kForgetModule
      "DELETE FROM module_crashes WHERE module = ?1",
      // kSavepoint, kRelease, kRollbackTo: one step of a group commit
      "SAVEPOINT step",
      "RELEASE step",
      "ROLLBACK TO step",
      // kStoredOutput
      "UPDATE jobs SET stored_output = ?2 WHERE id = ?1",
      // kBegin, kCommit, kRollback: prepared once, as every job step runs two of them (parsed
      // each time by sqlite3_exec, they were 2% of meshd's CPU per API job: perf, api_bench)
      "BEGIN",
      "COMMIT",
      "ROLLBACK",
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
  std::optional<std::string> holder;
  int64_t seq = 0;
  std::string head;
  MESH_RETURN_IF_ERROR(GroupCommit([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    sqlite3_stmt* s = Prepared(kInsert);
    if (s == nullptr) return Error("prepare insert");
    Bind(s, 1, r.id);
    sqlite3_bind_blob(s, 2, r.envelope.data(), static_cast<int>(r.envelope.size()),
                      SQLITE_TRANSIENT);
    Bind(s, 3, spec_json);
    Bind(s, 4, int64_t{r.spec.priority});
    Bind(s, 5, r.idempotency_key);
    Bind(s, 6, absl::ToUnixMicros(r.submitted_at));
    Bind(s, 7, job::JobRoleName(r.role));
    Bind(s, 8, r.peer);
    Bind(s, 9, r.peer_address);
    Bind(s, 10, int64_t{r.round});
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      seq = sqlite3_last_insert_rowid(db_);
      MESH_ASSIGN_OR_RETURN(
          head, AppendLocked(r.id, "", "submitted", r.submitted_at, SubmittedDetail(r)));
      return absl::OkStatus();
    }
    absl::Status error =
        rc == SQLITE_CONSTRAINT
            ? absl::AlreadyExistsError(mesh::StrCat("job ", r.id, " was already submitted"))
            : Error(mesh::StrCat("insert job ", r.id));
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT && !r.idempotency_key.empty()) {
      sqlite3_stmt* f = Prepared(kFindKey);
      Bind(f, 1, r.idempotency_key);
      if (sqlite3_step(f) == SQLITE_ROW) holder = Text(f, 0);
      // Reset now: a statement left on a row holds a read snapshot, and the WAL cannot be
      // checkpointed back to the start while one exists (it would grow without bound).
      sqlite3_reset(f);
      if (holder.has_value()) return absl::OkStatus();
    }
    return error;
  }));
  if (holder.has_value()) return holder;
  r.seq = seq;
  r.history_head = std::move(head);
  r.phase = "submitted";
  return std::optional<std::string>();
}

absl::Status JobStore::MarkRunning(const std::string& id, absl::Time at, int attempts) {
  return GroupCommit([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    sqlite3_stmt* s = Prepared(kRunning);
    if (s == nullptr) return Error("prepare update");
    Bind(s, 1, id);
    Bind(s, 2, absl::ToUnixMicros(at));
    Bind(s, 3, int64_t{attempts});
    if (sqlite3_step(s) != SQLITE_DONE) return Error(mesh::StrCat("mark job ", id, " running"));
    if (sqlite3_changes(db_) == 0) {
      return absl::FailedPreconditionError(mesh::StrCat("job ", id, " is not queued"));
    }
    return AppendAfterHead(id, "executing", at, {{"attempt", attempts}}).status();
  });
}

std::string_view EndPhase(job::JobState state) {
  return state == job::JobState::kSucceeded ? "completed"
         : state == job::JobState::kFailed  ? "failed"
                                            : "cancelled";
}

absl::StatusOr<bool> JobStore::Finish(const JobRecord& r, std::string* history_head) {
  if (!job::IsTerminal(r.state)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("Finish needs a terminal state, not ", job::JobStateName(r.state)));
  }
  bool changed = false;
  MESH_RETURN_IF_ERROR(GroupCommit([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
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
    Bind(s, 10, r.files_cid);
    if (sqlite3_step(s) != SQLITE_DONE) return Error(mesh::StrCat("finish job ", r.id));
    if (sqlite3_changes(db_) == 0) return absl::OkStatus();  // it had already ended
    nlohmann::json detail = {{"outcome", r.outcome},
                             {"reason", r.reason},
                             {"output_cid", r.output_cid},
                             {"fuel_used", r.fuel_used}};
    if (!r.files_cid.empty()) detail["files_cid"] = r.files_cid;
    if (!r.peer.empty()) detail["executor"] = r.peer;
    MESH_ASSIGN_OR_RETURN(std::string head, AppendAfterHead(r.id, EndPhase(r.state), r.finished_at,
                                                            std::move(detail)));
    if (history_head != nullptr) *history_head = std::move(head);
    changed = true;
    return absl::OkStatus();
  }));
  return changed;
}

absl::Status JobStore::GroupCommit(std::function<absl::Status()> apply) {
  PendingWrite self{std::move(apply)};
  queue_.Run(self, [this](std::span<PendingWrite* const> batch) {
    absl::MutexLock lock(&mu_);
    WriteBatch(batch);
  });
  return self.status;
}

void JobStore::WriteBatch(std::span<PendingWrite* const> batch) {
  auto fail_all = [&batch](const absl::Status& error) {
    for (PendingWrite* w : batch) w->status = error;
  };
  if (absl::Status s = Run(kBegin); !s.ok()) return fail_all(s);
  // Alone in its batch (the usual case below saturation), a step needs no savepoint: its
  // error rolls the transaction back.
  const bool alone = batch.size() == 1;
  for (PendingWrite* w : batch) {
    if (absl::Status s = alone ? absl::OkStatus() : Run(kSavepoint); !s.ok()) {
      w->status = s;
      continue;
    }
    w->status = w->apply();
    if (alone && !w->status.ok()) {
      if (sqlite3_get_autocommit(db_) == 0) (void)Run(kRollback);
      return;
    }
    if (sqlite3_get_autocommit(db_) != 0) {
      // SQLite rolled the whole transaction back (an I/O error, a full disk): the steps
      // written before this one went with it.
      return fail_all(w->status.ok() ? Error("the transaction was rolled back") : w->status);
    }
    if (alone) continue;
    if (!w->status.ok()) (void)Run(kRollbackTo);  // undoes this step only
    if (absl::Status s = Run(kRelease); !s.ok()) {
      (void)Run(kRollback);
      return fail_all(s);
    }
  }
  absl::Status commit = before_group_commit_ ? before_group_commit_() : absl::OkStatus();
  if (commit.ok()) commit = Run(kCommit);
  if (!commit.ok()) {
    if (sqlite3_get_autocommit(db_) == 0) (void)Run(kRollback);
    fail_all(commit);  // nothing of the batch is stored: no caller may think otherwise
  }
}

absl::Status JobStore::Run(Stmt which) {
  sqlite3_stmt* s = Prepared(which);
  if (s == nullptr || sqlite3_step(s) != SQLITE_DONE) {
    absl::Status error = Error(which == kSavepoint    ? "savepoint"
                               : which == kRelease    ? "release savepoint"
                               : which == kRollbackTo ? "rollback to savepoint"
                               : which == kBegin      ? "BEGIN"
                               : which == kCommit     ? "COMMIT"
                                                      : "ROLLBACK");
    if (s != nullptr) sqlite3_reset(s);
    return error;
  }
  sqlite3_reset(s);
  return absl::OkStatus();
}

void JobStore::SetBeforeGroupCommitForTest(std::function<absl::Status()> hook) {
  absl::MutexLock lock(&mu_);
  before_group_commit_ = std::move(hook);
}

size_t JobStore::queued_writes_for_test() { return queue_.queued(); }

absl::Status JobStore::Requeue(const std::string& id, absl::Time at, std::string_view why) {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kRequeue);
  if (s == nullptr) return Error("prepare requeue");
  Bind(s, 1, id);
  MESH_RETURN_IF_ERROR(Run(kBegin));
  if (sqlite3_step(s) != SQLITE_DONE) {
    absl::Status error = Error(mesh::StrCat("requeue job ", id));
    (void)Run(kRollback);
    return error;
  }
  if (sqlite3_changes(db_) == 0) return Run(kRollback);
  return CommitWithBlock(id, "requeued", at, {{"reason", std::string(why)}}).status();
}

absl::Status JobStore::RecoverInterrupted(const std::vector<ModuleCrashes>& modules,
                                          const std::vector<Recovery>& jobs, absl::Time at) {
  absl::MutexLock lock(&mu_);
  MESH_RETURN_IF_ERROR(Run(kBegin));
  auto fail = [this](absl::Status error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    (void)Run(kRollback);
    return error;
  };
  for (const ModuleCrashes& m : modules) {
    sqlite3_stmt* s = Prepared(kModuleCrash);
    if (s == nullptr) return fail(Error("prepare module crashes"));
    Bind(s, 1, m.module);
    Bind(s, 2, int64_t{m.crashes});
    Bind(s, 3, absl::ToUnixMicros(m.last));
    if (sqlite3_step(s) != SQLITE_DONE) {
      return fail(Error(mesh::StrCat("count a crash of module ", m.module)));
    }
  }
  for (const Recovery& r : jobs) {
    sqlite3_stmt* s = Prepared(r.fail ? kFail : kRecover);
    if (s == nullptr) return fail(Error("prepare recovery"));
    Bind(s, 1, r.id);
    Bind(s, 2, int64_t{r.interrupted});
    if (r.fail) {
      Bind(s, 3, r.reason);
      Bind(s, 4, absl::ToUnixMicros(at));
      Bind(s, 5, r.outcome);
      Bind(s, 6, r.report_json);
    }
    if (sqlite3_step(s) != SQLITE_DONE) return fail(Error(mesh::StrCat("recover job ", r.id)));
    if (sqlite3_changes(db_) == 0) continue;  // ended meanwhile: nothing to recover
    nlohmann::json detail = {{"reason", r.reason}, {"interrupted", r.interrupted}};
    if (r.fail) detail["outcome"] = r.outcome;
    absl::StatusOr<std::string> head =
        AppendAfterHead(r.id, r.fail ? "failed" : "requeued", at, std::move(detail));
    if (!head.ok()) return fail(head.status());
  }
  return Run(kCommit);
}

absl::StatusOr<std::vector<ModuleCrashes>> JobStore::ListModuleCrashes() {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT module, crashes, last_us FROM module_crashes", -1, &s,
                         nullptr) != SQLITE_OK) {
    return Error("prepare module crashes");
  }
  std::vector<ModuleCrashes> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    out.push_back(
        {Text(s, 0), sqlite3_column_int(s, 1), absl::FromUnixMicros(sqlite3_column_int64(s, 2))});
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return Error("read module crashes");
  return out;
}

absl::Status JobStore::ForgetModuleCrashes(const std::string& module) {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kForgetModule);
  if (s == nullptr) return Error("prepare module crashes");
  Bind(s, 1, module);
  if (sqlite3_step(s) != SQLITE_DONE) return Error(mesh::StrCat("forget module ", module));
  return absl::OkStatus();
}

absl::StatusOr<std::string> JobStore::AppendHistory(const std::string& id, std::string_view phase,
                                                    absl::Time at, nlohmann::json detail) {
  absl::MutexLock lock(&mu_);
  MESH_RETURN_IF_ERROR(Run(kBegin));
  return CommitWithBlock(id, phase, at, std::move(detail));
}

absl::StatusOr<std::string> JobStore::CommitWithBlock(const std::string& id, std::string_view phase,
                                                      absl::Time at, nlohmann::json detail) {
  absl::StatusOr<std::string> head = AppendAfterHead(id, phase, at, std::move(detail));
  if (!head.ok()) {
    (void)Run(kRollback);
    return head.status();
  }
  MESH_RETURN_IF_ERROR(Run(kCommit));
  return head;
}

absl::StatusOr<std::string> JobStore::AppendAfterHead(const std::string& id, std::string_view phase,
                                                      absl::Time at, nlohmann::json detail) {
  sqlite3_stmt* h = Prepared(kHead);
  if (h == nullptr) return Error("prepare history");
  Bind(h, 1, id);
  std::optional<std::string> prev;
  if (sqlite3_step(h) == SQLITE_ROW) prev = Text(h, 0);
  sqlite3_reset(h);
  if (!prev.has_value()) return absl::NotFoundError(mesh::StrCat("no job ", id, " on this node"));
  return AppendLocked(id, *prev, phase, at, std::move(detail));
}

absl::StatusOr<std::string> JobStore::AppendLocked(const std::string& id, const std::string& prev,
                                                   std::string_view phase, absl::Time at,
                                                   nlohmann::json detail) {
  const std::string body = HistoryBody(id, prev, phase, at, std::move(detail));
  const std::string cid = cas::Cid::Of(body, cas::Codec::kDagJson).ToString();
  sqlite3_stmt* a = Prepared(kAddBlock);
  if (a == nullptr) return Error("prepare history block");
  Bind(a, 1, cid);
  Bind(a, 2, id);
  Bind(a, 3, body);
  if (sqlite3_step(a) != SQLITE_DONE) return Error(mesh::StrCat("history of job ", id));
  sqlite3_stmt* u = Prepared(kSetHead);
  if (u == nullptr) return Error("prepare history head");
  Bind(u, 1, id);
  Bind(u, 2, cid);
  Bind(u, 3, phase);
  if (sqlite3_step(u) != SQLITE_DONE) return Error(mesh::StrCat("history head of job ", id));
  return cid;
}

absl::Status JobStore::SetStoredOutput(const std::string& id, std::string_view cid) {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kStoredOutput);
  if (s == nullptr) return Error("prepare stored output update");
  Bind(s, 1, id);
  Bind(s, 2, cid);
  if (sqlite3_step(s) != SQLITE_DONE) return Error(mesh::StrCat("update job ", id));
  return absl::OkStatus();
}

absl::Status JobStore::SetMarket(const std::string& id, job::JobRole role, std::string_view peer,
                                 std::string_view peer_address, uint32_t round) {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* s = Prepared(kMarket);
  if (s == nullptr) return Error("prepare market update");
  Bind(s, 1, id);
  Bind(s, 2, job::JobRoleName(role));
  Bind(s, 3, peer);
  Bind(s, 4, peer_address);
  Bind(s, 5, int64_t{round});
  if (sqlite3_step(s) != SQLITE_DONE) return Error(mesh::StrCat("update job ", id));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> JobStore::ApplyMarketStep(
    const std::vector<MarketWrite>& writes, absl::Time at) {
  absl::MutexLock lock(&mu_);
  MESH_RETURN_IF_ERROR(Run(kBegin));
  auto fail = [this](absl::Status error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    (void)Run(kRollback);
    return error;
  };
  std::vector<std::string> cids;
  for (const MarketWrite& w : writes) {
    sqlite3_stmt* h = Prepared(kHead);
    if (h == nullptr) return fail(Error("prepare history"));
    Bind(h, 1, w.job_id);
    const bool known = sqlite3_step(h) == SQLITE_ROW;
    sqlite3_reset(h);
    if (!known) {
      cids.insert(cids.end(), w.blocks.size(), std::string());
      continue;
    }
    if (w.requeue.has_value()) {
      sqlite3_stmt* s = Prepared(kRequeue);
      if (s == nullptr) return fail(Error("prepare requeue"));
      Bind(s, 1, w.job_id);
      if (sqlite3_step(s) != SQLITE_DONE)
        return fail(Error(mesh::StrCat("requeue job ", w.job_id)));
      if (sqlite3_changes(db_) > 0) {
        absl::StatusOr<std::string> cid =
            AppendAfterHead(w.job_id, "requeued", at, {{"reason", *w.requeue}});
        if (!cid.ok()) return fail(cid.status());
      }
    }
    if (w.market.has_value()) {
      sqlite3_stmt* s = Prepared(kMarket);
      if (s == nullptr) return fail(Error("prepare market update"));
      Bind(s, 1, w.job_id);
      Bind(s, 2, job::JobRoleName(w.market->role));
      Bind(s, 3, w.market->peer);
      Bind(s, 4, w.market->peer_address);
      Bind(s, 5, int64_t{w.market->round});
      if (sqlite3_step(s) != SQLITE_DONE) return fail(Error(mesh::StrCat("update job ", w.job_id)));
    }
    for (const auto& [phase, detail] : w.blocks) {
      absl::StatusOr<std::string> cid = AppendAfterHead(w.job_id, phase, at, detail);
      if (!cid.ok()) return fail(cid.status());
      cids.push_back(*std::move(cid));
    }
  }
  if (absl::Status s = Run(kCommit); !s.ok()) return fail(s);
  return cids;
}

absl::StatusOr<std::vector<HistoryBlock>> JobStore::History(const std::string& id) {
  std::vector<std::pair<std::string, std::string>> rows;  // (cid, body)
  {
    absl::MutexLock lock(&mu_);
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT cid, body FROM history WHERE job_id = ?1 ORDER BY n", -1,
                           &s, nullptr) != SQLITE_OK) {
      return Error("prepare history");
    }
    Bind(s, 1, id);
    while (sqlite3_step(s) == SQLITE_ROW) rows.emplace_back(Text(s, 0), Text(s, 1));
    sqlite3_finalize(s);
  }
  return VerifyHistory(id, rows);
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

absl::StatusOr<std::vector<JobRecord>> JobStore::List(const JobFilter& filter, size_t limit,
                                                      int64_t before_seq) {
  absl::MutexLock lock(&mu_);
  // Labels through json_each, so a key is a bound value whatever characters it holds.
  std::string sql = mesh::StrCat(
      "SELECT ", kColumns, " FROM jobs WHERE seq < ?1",
      filter.state.has_value() ? " AND state = ?2" : "",
      filter.label_key.empty() ? ""
                               : " AND EXISTS (SELECT 1 FROM json_each(spec_json, '$.labels') "
                                 "WHERE key = ?4 AND (?5 IS NULL OR value = ?5))",
      filter.submitter.empty() ? "" : " AND json_extract(spec_json, '$.submitter') = ?6",
      " ORDER BY seq DESC LIMIT ?3");
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    return Error("prepare list");
  }
  Bind(s, 1, before_seq > 0 ? before_seq : INT64_MAX);
  if (filter.state.has_value()) Bind(s, 2, job::JobStateName(*filter.state));
  Bind(s, 3, static_cast<int64_t>(limit));
  if (!filter.label_key.empty()) {
    Bind(s, 4, filter.label_key);
    if (filter.label_value.has_value()) Bind(s, 5, *filter.label_value);
  }
  if (!filter.submitter.empty()) Bind(s, 6, filter.submitter);
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

std::string LatestCheckpoint(const std::vector<HistoryBlock>& history) {
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->phase == "checkpoint") return it->detail.value("cid", std::string());
    if (it->phase == "resume") return it->detail.value("checkpoint", std::string());
  }
  return "";
}

}  // namespace mesh::node
