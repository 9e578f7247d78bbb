// JobStore: the node's durable record of every job, in SQLite (WAL, synchronous=NORMAL: a
// committed write survives the process being killed; the blob store holds the outputs).
//
// Terminal states are written once: Finish() only moves a job that is queued or running, so a
// job ends exactly once however many times a restart re-runs it. Every change of state also
// appends a block to the job's history (a hash chain in the same database), in the same
// transaction. Requeue() is how a drain puts back the jobs it stopped; RecoverInterrupted() is
// how a start takes up the jobs it found running (the process died under them): it counts each
// such run durably, per job and per module, so that a job (or module) that keeps killing the
// node is failed (or refused) instead of crash-looping it. Idempotency keys are unique: a
// retried submission finds the job the first one created.
//
// Thread-safe: one connection with cached statements behind a mutex. The steps of local jobs
// (Insert, MarkRunning, Finish) are group-committed: writers that arrive while a transaction is
// being written queue up, and the next of them writes all queued steps in ONE transaction (each
// in its own savepoint, so that one step's error undoes only that step). A caller returns once
// the transaction holding its step has committed; if that COMMIT fails, every step of the batch
// gets the error and none of them is stored (no job is accepted that is not on disk).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/common/group_commit.h"
#include "mesh/job/job_spec.h"
#include "mesh/job/job_state.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mesh::node {

struct JobRecord {
  std::string id;
  int64_t seq = 0;  // submission order on this node
  std::string envelope;
  job::JobSpec spec;
  job::JobState state = job::JobState::kQueued;
  std::string reason;  // why it failed or was cancelled
  std::string idempotency_key;
  absl::Time submitted_at = absl::UnixEpoch();
  absl::Time started_at = absl::UnixEpoch();   // latest attempt; epoch = never
  absl::Time finished_at = absl::UnixEpoch();  // epoch = not finished
  int attempts = 0;
  // Runs of this job that were in flight when the node's process died (counted at the next
  // start); a drain that puts a job back in the queue does not count.
  int interrupted = 0;
  // Set when the job ran to an end (any terminal state reached by running).
  std::string outcome;  // wasm::OutcomeName
  int32_t exit_code = 0;
  uint64_t fuel_used = 0;
  std::string output_cid;
  // The output tree: a directory manifest (cas/dir_manifest.h) of the files the job left in its
  // spec's output_dir; empty when the spec names none (or the job did not run to an end).
  std::string files_cid;
  // The manifest CID of the output stored across the mesh (spec.store_output), once it is.
  std::string stored_output;
  std::string report_json;  // wasm::RunReport as JSON
  // The market. kLocal = submitted and run here; kDelegated = submitted here, run by `peer`
  // (the executor); kAssigned = run here for `peer` (the submitter's node) at peer_address;
  // kSplit = split here into chunks. Stored by name (job::JobRoleName).
  job::JobRole role = job::JobRole::kLocal;
  std::string peer;
  std::string peer_address;
  uint32_t round = 0;        // the auction round of the current assignment
  std::string phase;         // latest history phase: submitted, bidding_open, ... completed
  std::string history_head;  // CID of the latest history block
  // Not a column: why the job runs where it does, kept in its "submitted" history block.
  std::string placement_reason;
};

// One step of a job's life, content-addressed and linked to the step before.
struct HistoryBlock {
  std::string cid;
  std::string prev;   // "" for the first block
  std::string phase;  // submitted, bidding_open, bidding_closed, assigned, executing, requeued,
                      // completed, failed, cancelled
  absl::Time at;
  nlohmann::json detail;
};

// The checkpoint a job resumes from: the CID in its latest "checkpoint" block (one it made, or
// one its executor sent) or "resume" block (one it was assigned with); empty if none.
std::string LatestCheckpoint(const std::vector<HistoryBlock>& history);

// How often the node's process died while a module ran here: once per death, however many of
// its jobs were running. The compute service refuses a module past its limit (ComputeService).
struct ModuleCrashes {
  std::string module;  // CID
  int crashes = 0;
  absl::Time last = absl::UnixEpoch();  // the latest start that found it interrupted
};

// What a start does with one job the previous process left unfinished: put it back in the
// queue (it was running) or fail it (it was running or queued).
struct Recovery {
  std::string id;
  bool fail = false;
  int interrupted = 0;  // the job's new count of interrupted runs
  std::string reason;   // why it failed, or why it was put back
  std::string outcome;  // of a failure (wasm::OutcomeName)
  std::string report_json;
};

// One job's part of a market step (market::Persist, in the node's terms): put it back in the
// queue if it runs, set its market columns, then append its history blocks, in that order.
struct MarketWrite {
  struct Market {
    job::JobRole role = job::JobRole::kDelegated;
    std::string peer, peer_address;
    uint32_t round = 0;
  };
  std::string job_id;
  std::optional<std::string> requeue;  // why (only a running job moves)
  std::optional<Market> market;
  std::vector<std::pair<std::string, nlohmann::json>> blocks;  // (phase, detail)
};

// The history phase of a job's end: "completed", "failed" or "cancelled".
std::string_view EndPhase(job::JobState state);

// Which jobs a listing keeps; every field set must hold.
struct JobFilter {
  std::optional<job::JobState> state;
  std::string label_key;                   // jobs whose spec has this label ("": any)
  std::optional<std::string> label_value;  // ... with this value
  std::string submitter;                   // jobs this DID submitted ("": any)
};

struct JobCounts {
  uint64_t queued = 0, running = 0, succeeded = 0, failed = 0, cancelled = 0;
};

class JobStore {
 public:
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::filesystem::path& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Inserts a queued job and sets record.seq. If the idempotency key is taken, inserts nothing
  // and returns the id of the job that holds it.
  absl::StatusOr<std::optional<std::string>> Insert(JobRecord& record);
  absl::Status MarkRunning(const std::string& id, absl::Time at, int attempts);
  // Moves a queued or running job to `record.state` (terminal) with the result fields of
  // `record`. Returns false, changing nothing, if the job had already ended. If it moved the job
  // and `history_head` is given, sets it to the CID of the block it appended.
  absl::StatusOr<bool> Finish(const JobRecord& record, std::string* history_head = nullptr);
  // Puts a running job back in the queue (a drain stopped it, or the market takes a delegated
  // job up again). Not a death of the node: nothing is counted.
  absl::Status Requeue(const std::string& id, absl::Time at, std::string_view why);
  // A start's recovery, in one transaction: `modules` replace those modules' crash counts, and
  // each job of `jobs` is requeued or failed (with its history block). Jobs that are no longer
  // queued or running are left alone.
  absl::Status RecoverInterrupted(const std::vector<ModuleCrashes>& modules,
                                  const std::vector<Recovery>& jobs, absl::Time at);
  absl::StatusOr<std::vector<ModuleCrashes>> ListModuleCrashes();
  // A module ran to an end here after all: its earlier crashes were not its fault.
  absl::Status ForgetModuleCrashes(const std::string& module);
  // Records a step of the job's life as a new history block; returns its CID.
  absl::StatusOr<std::string> AppendHistory(const std::string& id, std::string_view phase,
                                            absl::Time at, nlohmann::json detail);
  // The job's history, oldest first, with every CID and link checked (DataLoss if broken).
  absl::StatusOr<std::vector<HistoryBlock>> History(const std::string& id);
  // Records where a finished job's output was stored (JobRecord::stored_output).
  absl::Status SetStoredOutput(const std::string& id, std::string_view cid)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SetMarket(const std::string& id, job::JobRole role, std::string_view peer,
                         std::string_view peer_address, uint32_t round);
  // Everything one market step persists, in ONE transaction. Returns the CID of each block, in
  // the order of `writes` and their blocks; "" for the blocks of a job not on this node (its
  // write is skipped: the rest still commit).
  absl::StatusOr<std::vector<std::string>> ApplyMarketStep(const std::vector<MarketWrite>& writes,
                                                           absl::Time at);

  absl::StatusOr<JobRecord> Get(const std::string& id);
  // Newest first, the jobs `filter` keeps (label and submitter are read from the stored spec
  // in SQLite, so every job is considered, not a page). `before_seq` > 0 pages back from there.
  absl::StatusOr<std::vector<JobRecord>> List(const JobFilter& filter, size_t limit,
                                              int64_t before_seq = 0);
  // Queued and running jobs in submission order: what a restart must take up again.
  absl::StatusOr<std::vector<JobRecord>> Unfinished();
  absl::StatusOr<JobCounts> Counts();

  // Tests only: runs just before each group commit's COMMIT; an error fails the batch (the
  // transaction is rolled back and every step in it returns the error).
  void SetBeforeGroupCommitForTest(std::function<absl::Status()> hook);
  // Tests only: steps waiting for a group commit (not counting the batch being written).
  size_t queued_writes_for_test();

 private:
  // One step waiting for a group commit: `apply` runs under mu_ inside the shared transaction.
  struct PendingWrite {
    std::function<absl::Status()> apply;
    absl::Status status;
  };
  enum Stmt {
    kInsert,
    kFindKey,
    kRunning,
    kFinish,
    kRequeue,
    kGet,
    kCounts,
    kHead,
    kAddBlock,
    kSetHead,
    kMarket,
    kRecover,
    kFail,
    kModuleCrash,
    kForgetModule,
    kSavepoint,
    kRelease,
    kRollbackTo,
    kStoredOutput,
    kBegin,
    kCommit,
    kRollback,
    kNumStmts
  };
  explicit JobStore(sqlite3* db) : db_(db) {}
  absl::Status Init();
  absl::Status AddMissingColumns() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `apply` (statements only: no BEGIN/COMMIT) in a transaction shared with the steps
  // that queued meanwhile; returns its status, or the batch's COMMIT error.
  absl::Status GroupCommit(std::function<absl::Status()> apply) ABSL_LOCKS_EXCLUDED(mu_);
  // Steps a prepared statement that returns no rows: the transaction's BEGIN, COMMIT and
  // ROLLBACK, and a group commit's savepoints. Exec is for other SQL (run once, parsed then).
  absl::Status Run(Stmt which) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The leader's part: one transaction for `batch`, each step in a savepoint.
  void WriteBatch(std::span<PendingWrite* const> batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inside an open transaction: appends a block after the job's head, then commits (or rolls
  // back and returns the error).
  absl::StatusOr<std::string> CommitWithBlock(const std::string& id, std::string_view phase,
                                              absl::Time at, nlohmann::json detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inside an open transaction: appends a block after the job's head (no commit).
  absl::StatusOr<std::string> AppendAfterHead(const std::string& id, std::string_view phase,
                                              absl::Time at, nlohmann::json detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> AppendLocked(const std::string& id, const std::string& prev,
                                           std::string_view phase, absl::Time at,
                                           nlohmann::json detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  sqlite3_stmt* Prepared(Stmt which) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(std::string_view what) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<JobRecord>> Query(sqlite3_stmt* stmt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::function<absl::Status()> before_group_commit_ ABSL_GUARDED_BY(mu_);
  // Steps waiting for a group commit; the leader's thread writes up to 64 (enough to amortise a
  // transaction's fixed cost, the WAL frames of the pages every step touches: the tables' last
  // pages, sqlite_sequence; small enough to keep each wait short).
  ::mesh::GroupCommit<PendingWrite> queue_{64};
  std::array<sqlite3_stmt*, kNumStmts> stmts_ ABSL_GUARDED_BY(mu_){};
};

}  // namespace mesh::node
