#include "mesh/ledger/reputation.h"

#include <algorithm>
#include <cmath>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "sqlite_util.h"

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

double WeightOf(const ReputationOptions& o, ReputationEvent e) {
  switch (e) {
    case ReputationEvent::kSuccess:
      return o.success_weight;
    case ReputationEvent::kFailure:
      return o.failure_weight;
    case ReputationEvent::kTimeout:
      return o.timeout_weight;
    case ReputationEvent::kOutvoted:
      return o.outvoted_weight;
  }
  return 0;
}

int64_t ToMicros(absl::Time t) {
  return t == absl::InfinitePast() ? INT64_MIN : absl::ToUnixMicros(t);
}
absl::Time FromMicros(int64_t us) {
  return us == INT64_MIN ? absl::InfinitePast() : absl::FromUnixMicros(us);
}

}  // namespace

std::string_view ReputationEventName(ReputationEvent event) {
  switch (event) {
    case ReputationEvent::kSuccess:
      return "success";
    case ReputationEvent::kFailure:
      return "failure";
    case ReputationEvent::kTimeout:
      return "timeout";
    case ReputationEvent::kOutvoted:
      return "outvoted";
  }
  return "unknown";
}

absl::Status Validate(const ReputationOptions& o) {
  if (!(o.prior >= 0 && o.prior <= 1)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("reputation prior must be in [0, 1], not ", o.prior));
  }
  for (double w :
       {o.prior_weight, o.success_weight, o.failure_weight, o.timeout_weight, o.outvoted_weight}) {
    if (!std::isfinite(w) || w <= 0) {
      return absl::InvalidArgumentError(
          mesh::StrCat("reputation weights must be finite and > 0, not ", w));
    }
  }
  if (o.half_life <= absl::ZeroDuration() || o.half_life == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("reputation half-life must be positive and finite");
  }
  return absl::OkStatus();
}

ReputationBook::ReputationBook(const Clock& clock, ReputationOptions options)
    : clock_(clock), options_(options) {}

ReputationBook::ReputationBook(const Clock& clock, ReputationOptions options, sqlite3* db)
    : clock_(clock), options_(options), db_(db) {}

absl::StatusOr<std::unique_ptr<ReputationBook>> ReputationBook::Open(
    const std::filesystem::path& path, const Clock& clock, ReputationOptions options) {
  MESH_RETURN_IF_ERROR(Validate(options));
  MESH_ASSIGN_OR_RETURN(sqlite3 * db, internal::OpenDatabase(path.string(), kStore));
  std::unique_ptr<ReputationBook> book(new ReputationBook(clock, options, db));
  absl::MutexLock lock(&book->mu_);
  MESH_RETURN_IF_ERROR(internal::ExecSql(db, kSchema, kStore));
  MESH_RETURN_IF_ERROR(book->Load());
  return book;
}

ReputationBook::~ReputationBook() {
  absl::MutexLock lock(&mu_);
  if (db_ != nullptr) sqlite3_close(db_);
}

absl::Status ReputationBook::Load() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT did, good, bad, at_us, successes, failures, timeouts, outvoted,"
                         " updated_us FROM reputation",
                         -1, &s, nullptr) != SQLITE_OK) {
    return internal::SqlError(db_, kStore, "prepare load");
  }
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    State st;
    st.good = sqlite3_column_double(s, 1);
    st.bad = sqlite3_column_double(s, 2);
    st.at = FromMicros(sqlite3_column_int64(s, 3));
    for (int i = 0; i < 4; ++i) st.counts[i] = sqlite3_column_int64(s, 4 + i);
    st.updated = FromMicros(sqlite3_column_int64(s, 8));
    states_[internal::Text(s, 0)] = st;
  }
  absl::Status status =
      rc == SQLITE_DONE ? absl::OkStatus() : internal::SqlError(db_, kStore, "load");
  sqlite3_finalize(s);
  return status;
}

absl::Status ReputationBook::Save(std::string_view did, const State& st) {
  if (db_ == nullptr) return absl::OkStatus();
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "INSERT OR REPLACE INTO reputation (did, good, bad, at_us, successes,"
                         " failures, timeouts, outvoted, updated_us)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                         -1, &s, nullptr) != SQLITE_OK) {
    return internal::SqlError(db_, kStore, "prepare save");
  }
  internal::Bind(s, 1, did);
  sqlite3_bind_double(s, 2, st.good);
  sqlite3_bind_double(s, 3, st.bad);
  internal::Bind(s, 4, ToMicros(st.at));
  for (int i = 0; i < 4; ++i) internal::Bind(s, 5 + i, st.counts[i]);
  internal::Bind(s, 9, ToMicros(st.updated));
  absl::Status status = internal::Run(db_, s, kStore, mesh::StrCat("save ", did));
  sqlite3_finalize(s);
  return status;
}

ReputationBook::State ReputationBook::DecayedTo(const State& s, absl::Time now) const {
  State out = s;
  if (s.at != absl::InfinitePast() && now > s.at) {
    const double f = std::exp2(-absl::FDivDuration(now - s.at, options_.half_life));
    out.good *= f;
    out.bad *= f;
  }
  // A clock that stepped back does not undo decay: keep the later time.
  out.at = std::max(s.at, now);
  return out;
}

Reputation ReputationBook::View(std::string_view did, const State& s, absl::Time now) const {
  const State d = DecayedTo(s, now);
  Reputation r;
  r.did = std::string(did);
  const double k = options_.prior_weight;
  r.score = std::clamp((options_.prior * k + d.good) / (k + d.good + d.bad), 0.0, 1.0);
  r.evidence = d.good + d.bad;
  r.successes = s.counts[0];
  r.failures = s.counts[1];
  r.timeouts = s.counts[2];
  r.outvoted = s.counts[3];
  r.updated = s.updated;
  return r;
}

absl::StatusOr<Reputation> ReputationBook::Record(std::string_view did, ReputationEvent event) {
  if (did.empty()) return absl::InvalidArgumentError("reputation event without a DID");
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = states_.find(mesh::ToAbsl(did));
  State st = it == states_.end() ? State{} : it->second;
  st = DecayedTo(st, now);
  const double w = WeightOf(options_, event);
  (event == ReputationEvent::kSuccess ? st.good : st.bad) += w;
  ++st.counts[static_cast<int>(event)];
  st.updated = now;
  MESH_RETURN_IF_ERROR(Save(did, st));
  states_[std::string(did)] = st;
  return View(did, st, now);
}

Reputation ReputationBook::Get(std::string_view did) const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = states_.find(mesh::ToAbsl(did));
  return View(did, it == states_.end() ? State{} : it->second, now);
}

absl::flat_hash_map<std::string, double> ReputationBook::Scores() const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<std::string, double> out;
  for (const auto& [did, st] : states_) out[did] = View(did, st, now).score;
  return out;
}

std::vector<Reputation> ReputationBook::All() const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  std::vector<Reputation> out;
  for (const auto& [did, st] : states_) out.push_back(View(did, st, now));
  std::sort(out.begin(), out.end(),
            [](const Reputation& a, const Reputation& b) { return a.did < b.did; });
  return out;
}

bool IsTrusted(const Reputation& r, int64_t min_events, double min_score) {
  return r.events() >= min_events && r.score >= min_score;
}

int64_t SubmitFee(int64_t base_fee, const Reputation& submitter) {
  if (base_fee <= 0) return 0;
  const double fee = std::ceil(static_cast<double>(base_fee) * (1.5 - submitter.score));
  return fee >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(fee);
}

}  // namespace mesh::ledger
