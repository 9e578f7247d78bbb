// LedgerStore's reads: replaying the chain into a book, history and Verify(). Opening and
// appends are in ledger_store.cc.
#include <map>

#include "absl/container/flat_hash_map.h"
#include "ledger_store.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/did_key.h"
#include "mesh/sqlite/sqlite.h"

namespace mesh::ledger {
namespace {

using sqlite::Bind;
using sqlite::Statement;
using sqlite::Text;

constexpr std::string_view kStore = "ledger";

// An entry's columns, in the order of kEntryColumns.
constexpr const char* kEntryColumns =
    "seq, time_us, kind, job_id, COALESCE(op_key, ''), memo, prev_hash, signer, signature";

// Reads the columns of kEntryColumns; the kind is kept as text so Verify can report it.
Entry ReadEntry(sqlite3_stmt* s, std::string* kind) {
  Entry e;
  e.seq = sqlite3_column_int64(s, 0);
  e.time = absl::FromUnixMicros(sqlite3_column_int64(s, 1));
  *kind = Text(s, 2);
  e.kind = ParseEntryKind(*kind).value_or(EntryKind::kGrant);
  e.job_id = Text(s, 3);
  e.key = Text(s, 4);
  e.memo = Text(s, 5);
  e.prev_hash = Text(s, 6);
  e.signer = Text(s, 7);
  e.signature = Text(s, 8);
  return e;
}

struct EscrowState {
  std::string submitter;
  int64_t amount = 0;
  int64_t opened_seq = 0;
  int64_t closed_seq = 0;
};

// Replays one entry's meaning for escrows; returns the problem, or "" when it is consistent.
std::string ApplyEscrowSemantics(const Entry& e, std::map<std::string, EscrowState>& escrows) {
  for (const Posting& p : e.postings) {
    if (!IsEscrowAccount(p.account)) continue;
    const std::string job = p.account.substr(kEscrowPrefix.size());
    if (job != e.job_id) {
      return mesh::StrCat("it posts to the escrow of job ", job, " but is about job ", e.job_id);
    }
    auto it = escrows.find(job);
    if (e.kind != EntryKind::kEscrow && (it == escrows.end() || it->second.closed_seq != 0)) {
      return mesh::StrCat("it posts to the escrow of job ", job, ", which is not open");
    }
  }
  if (e.kind == EntryKind::kEscrow) {
    if (escrows.contains(e.job_id)) {
      return mesh::StrCat("job ", e.job_id, " is escrowed a second time");
    }
    EscrowState st;
    st.opened_seq = e.seq;
    for (const Posting& p : e.postings) {
      if (p.amount < 0) st.submitter = p.account;
      if (IsEscrowAccount(p.account)) st.amount = p.amount;
    }
    escrows[e.job_id] = st;
  } else if (e.kind == EntryKind::kRefund) {
    auto it = escrows.find(e.job_id);
    if (it == escrows.end() || it->second.closed_seq != 0) {
      return mesh::StrCat("it refunds job ", e.job_id, ", whose escrow is not open");
    }
    it->second.closed_seq = e.seq;
  }
  return "";
}

}  // namespace

absl::Status ToStatus(const VerifyReport& report) {
  if (report.ok) return absl::OkStatus();
  return absl::DataLossError(
      report.first_bad_seq > 0
          ? mesh::StrCat("ledger entry ", report.first_bad_seq, " is bad: ", report.problem)
          : mesh::StrCat("ledger is inconsistent: ", report.problem));
}

absl::StatusOr<Entry> LedgerStore::LoadEntry(int64_t seq) {
  sqlite3_stmt* s = Prepared(kGetEntry);
  if (s == nullptr) return Error("prepare entry read");
  Bind(s, 1, seq);
  const int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    absl::Status error = rc == SQLITE_DONE
                             ? absl::NotFoundError(mesh::StrCat("no ledger entry ", seq))
                             : Error(mesh::StrCat("read entry ", seq));
    sqlite3_reset(s);
    return error;
  }
  std::string kind;
  Entry e = ReadEntry(s, &kind);
  sqlite3_reset(s);
  sqlite3_stmt* p = Prepared(kGetPostings);
  if (p == nullptr) return Error("prepare postings read");
  Bind(p, 1, seq);
  int prc;
  while ((prc = sqlite3_step(p)) == SQLITE_ROW) {
    e.postings.push_back({Text(p, 0), sqlite3_column_int64(p, 1)});
  }
  absl::Status status =
      prc == SQLITE_DONE ? absl::OkStatus() : Error(mesh::StrCat("read postings of ", seq));
  sqlite3_reset(p);
  MESH_RETURN_IF_ERROR(status);
  return e;
}

absl::Status LedgerStore::ReplayInto(LedgerBook& book, int64_t after_seq) {
  // What the book needs of each entry: no signatures, hashes or memos.
  Statement es(db_,
               "SELECT seq, kind, job_id, COALESCE(op_key, '') FROM entries WHERE seq > ?1"
               " ORDER BY seq");
  Statement ps(db_, "SELECT seq, account, amount FROM postings WHERE seq > ?1 ORDER BY seq, idx");
  if (!es.ok() || !ps.ok()) return Error("prepare replay");
  Bind(es.get(), 1, after_seq);
  Bind(ps.get(), 1, after_seq);
  int prc = sqlite3_step(ps.get());
  int rc;
  while ((rc = sqlite3_step(es.get())) == SQLITE_ROW) {
    Entry e;
    e.seq = sqlite3_column_int64(es.get(), 0);
    const std::string kind = Text(es.get(), 1);
    std::optional<EntryKind> parsed = ParseEntryKind(kind);
    if (!parsed.has_value()) {
      return absl::DataLossError(mesh::StrCat("ledger entry ", e.seq, " has unknown kind \"", kind,
                                              "\"; `mesh ledger verify` checks the whole file"));
    }
    e.kind = *parsed;
    e.job_id = Text(es.get(), 2);
    e.key = Text(es.get(), 3);
    // Postings of a missing entry are skipped here; Verify() reports them.
    while (prc == SQLITE_ROW && sqlite3_column_int64(ps.get(), 0) <= e.seq) {
      if (sqlite3_column_int64(ps.get(), 0) == e.seq) {
        e.postings.push_back({Text(ps.get(), 1), sqlite3_column_int64(ps.get(), 2)});
      }
      prc = sqlite3_step(ps.get());
    }
    if (absl::Status s = book.Apply(e); !s.ok()) {
      return absl::DataLossError(
          mesh::StrCat(s.message(), "; `mesh ledger verify` checks the whole file"));
    }
  }
  if (rc != SQLITE_DONE || (prc != SQLITE_ROW && prc != SQLITE_DONE)) {
    return Error("replay entries");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Entry>> LedgerStore::History(std::string_view did, size_t limit,
                                                        int64_t before_seq) {
  Statement s(db_, did.empty() ? "SELECT seq FROM entries WHERE seq < ?2 ORDER BY seq DESC"
                                 " LIMIT ?3"
                               : "SELECT DISTINCT seq FROM postings WHERE account = ?1"
                                 " AND seq < ?2 ORDER BY seq DESC LIMIT ?3");
  if (!s.ok()) return Error("prepare history");
  if (!did.empty()) Bind(s.get(), 1, did);
  Bind(s.get(), 2, before_seq > 0 ? before_seq : INT64_MAX);
  Bind(s.get(), 3, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<int64_t> seqs;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
    seqs.push_back(sqlite3_column_int64(s.get(), 0));
  if (rc != SQLITE_DONE) return Error("read history");
  std::vector<Entry> out;
  out.reserve(seqs.size());
  for (int64_t seq : seqs) {
    MESH_ASSIGN_OR_RETURN(Entry e, LoadEntry(seq));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<VerifyReport> LedgerStore::Verify() {
  // One read transaction: a consistent snapshot even while another process appends. It is
  // rolled back (it wrote nothing) when this returns.
  Transaction read(*this);
  MESH_RETURN_IF_ERROR(read.BeginRead());

  VerifyReport report;
  auto bad = [&report](int64_t seq, std::string problem) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };
  std::map<std::string, std::string> meta;
  {
    Statement m(db_, "SELECT k, v FROM meta");
    if (!m.ok()) return Error("prepare meta");
    while (sqlite3_step(m.get()) == SQLITE_ROW) meta[Text(m.get(), 0)] = Text(m.get(), 1);
  }
  report.owner = meta["owner"];
  std::optional<crypto::DidKey> owner_key;

  Statement es(db_,
               mesh::StrCat("SELECT ", kEntryColumns, ", hash FROM entries ORDER BY seq").c_str());
  Statement ps(db_, "SELECT seq, account, amount FROM postings ORDER BY seq, idx");
  if (!es.ok() || !ps.ok()) return Error("prepare verify");
  absl::flat_hash_map<std::string, int64_t> balances;
  std::map<std::string, EscrowState> escrows;
  std::string prev_hash;
  int prc = sqlite3_step(ps.get());
  int rc;
  while ((rc = sqlite3_step(es.get())) == SQLITE_ROW) {
    std::string kind;
    Entry e = ReadEntry(es.get(), &kind);
    const std::string stored_hash = Text(es.get(), 9);
    const int64_t expected = report.entries + 1;
    if (e.seq != expected) {
      return bad(expected, mesh::StrCat("it is missing: the chain goes from entry ", expected - 1,
                                        " to entry ", e.seq));
    }
    while (prc == SQLITE_ROW && sqlite3_column_int64(ps.get(), 0) <= e.seq) {
      const int64_t pseq = sqlite3_column_int64(ps.get(), 0);
      if (pseq < e.seq) {
        return bad(pseq, "postings remain for an entry that is gone (entry row deleted)");
      }
      e.postings.push_back({Text(ps.get(), 1), sqlite3_column_int64(ps.get(), 2)});
      prc = sqlite3_step(ps.get());
    }
    if (!ParseEntryKind(kind).has_value()) {
      return bad(e.seq, mesh::StrCat("unknown kind \"", kind, "\""));
    }
    if (e.prev_hash != prev_hash) {
      return bad(e.seq, mesh::StrCat("it links to ", e.prev_hash.empty() ? "nothing" : e.prev_hash,
                                     " but the entry before it hashes to ",
                                     prev_hash.empty() ? "nothing" : prev_hash,
                                     " (an entry was altered, removed or reordered)"));
    }
    if (absl::Status s = CheckWellFormed(e); !s.ok()) return bad(e.seq, std::string(s.message()));
    if (report.owner.empty()) {
      return bad(e.seq, "the ledger records no owner, so no signer can be trusted");
    }
    if (e.signer != report.owner) {
      return bad(e.seq, mesh::StrCat("it is signed by ", e.signer, ", not by the ledger's owner ",
                                     report.owner));
    }
    if (!owner_key.has_value()) {
      absl::StatusOr<crypto::DidKey> k = crypto::DidKey::Parse(report.owner);
      if (!k.ok()) return bad(e.seq, mesh::StrCat("owner DID: ", k.status().message()));
      owner_key = *k;
    }
    if (!owner_key->Verify(SigningBytes(e), e.signature).ok()) {
      return bad(e.seq, "its signature does not verify (the entry was altered after signing)");
    }
    const std::string hash = HashOf(e);
    if (stored_hash != hash) {
      return bad(e.seq, mesh::StrCat("its stored hash ", stored_hash, " is not its hash ", hash));
    }
    if (std::string why = ApplyEscrowSemantics(e, escrows); !why.empty()) return bad(e.seq, why);
    for (const Posting& p : e.postings) {
      int64_t& b = balances[p.account];
      if (__builtin_add_overflow(b, p.amount, &b)) {
        return bad(e.seq, mesh::StrCat("it overflows the balance of ", p.account));
      }
      if (b < 0 && p.account != kMintAccount) {
        return bad(e.seq, mesh::StrCat("it leaves ", p.account, " at ", b,
                                       " credits; only mint may be negative"));
      }
    }
    prev_hash = hash;
    report.head_hash = hash;
    ++report.entries;
  }
  if (rc != SQLITE_DONE || (prc != SQLITE_ROW && prc != SQLITE_DONE)) {
    return Error("read entries");
  }
  if (prc == SQLITE_ROW) {
    return bad(sqlite3_column_int64(ps.get(), 0), "postings remain after the last entry");
  }
  const std::string head =
      report.entries == 0 ? std::string() : mesh::StrCat(report.entries, " ", report.head_hash);
  if (meta["head"] != head) {
    return bad(0, mesh::StrCat("the chain ends at \"", head, "\" but the recorded head is \"",
                               meta["head"], "\" (entries were removed from the end)"));
  }
  report.minted = -balances[std::string(kMintAccount)];

  // The caches must say what the chain says.
  Statement bs(db_, "SELECT account, amount FROM balances");
  if (!bs.ok()) return Error("prepare balances");
  absl::flat_hash_map<std::string, int64_t> cached;
  while (sqlite3_step(bs.get()) == SQLITE_ROW)
    cached[Text(bs.get(), 0)] = sqlite3_column_int64(bs.get(), 1);
  for (const auto& [account, amount] : balances) {
    auto it = cached.find(account);
    const int64_t have = it == cached.end() ? 0 : it->second;
    if (have != amount) {
      return bad(0, mesh::StrCat("the balance table says ", account, " has ", have,
                                 " but the entries add up to ", amount));
    }
  }
  for (const auto& [account, amount] : cached) {
    if (!balances.contains(account) && amount != 0) {
      return bad(0, mesh::StrCat("the balance table has ", amount, " for ", account,
                                 ", which no entry posts to"));
    }
  }
  Statement xs(db_, "SELECT job_id, submitter, amount, opened_seq, closed_seq FROM escrows");
  if (!xs.ok()) return Error("prepare escrows");
  size_t rows = 0;
  while (sqlite3_step(xs.get()) == SQLITE_ROW) {
    ++rows;
    const std::string job = Text(xs.get(), 0);
    auto it = escrows.find(job);
    if (it == escrows.end() || it->second.submitter != Text(xs.get(), 1) ||
        it->second.amount != sqlite3_column_int64(xs.get(), 2) ||
        it->second.opened_seq != sqlite3_column_int64(xs.get(), 3) ||
        it->second.closed_seq != sqlite3_column_int64(xs.get(), 4)) {
      return bad(
          0, mesh::StrCat("the escrow table's row for job ", job, " does not match the entries"));
    }
  }
  if (rows != escrows.size()) {
    return bad(0, mesh::StrCat("the escrow table has ", rows, " rows but the entries open ",
                               escrows.size(), " escrows"));
  }
  return report;
}

}  // namespace mesh::ledger
