#include "mesh/node/split_coordinator.h"

#include <algorithm>
#include <memory>

#include "mesh/cas/blob_reader.h"
#include "mesh/common/base64.h"
#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/envelope.h"
#include "mesh/job/splitters.h"
#include "mesh/node/stored_inputs.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

using job::JobState;
using nlohmann::json;

json ChunkJson(const ChunkStatus& c) {
  json j = {
      {"index", c.index}, {"job", c.job_id}, {"input", c.input_cid}, {"bytes", c.input_bytes}};
  if (!c.output_cid.empty()) {
    j["output"] = c.output_cid;
    j["fuel_used"] = c.fuel_used;
    if (!c.executor.empty()) j["executor"] = c.executor;
  }
  return j;
}

absl::StatusOr<ChunkStatus> ChunkFromJson(const json& j) {
  if (!j.is_object() || !j.contains("index") || !j.contains("job") || !j.contains("input")) {
    return absl::DataLossError("a chunk in the split history block lacks index, job or input");
  }
  ChunkStatus c;
  c.index = j["index"].get<uint32_t>();
  c.job_id = j["job"].get<std::string>();
  c.input_cid = j["input"].get<std::string>();
  c.input_bytes = j.value("bytes", uint64_t{0});
  c.output_cid = j.value("output", std::string());
  c.executor = j.value("executor", std::string());
  c.fuel_used = j.value("fuel_used", uint64_t{0});
  return c;
}

std::string Hex(const verify::Digest& d) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

absl::StatusOr<verify::MerkleTree> TreeOf(const std::vector<ChunkStatus>& chunks) {
  std::vector<verify::Digest> leaves;
  leaves.reserve(chunks.size());
  for (const ChunkStatus& c : chunks) {
    MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(c.output_cid));
    leaves.push_back(verify::LeafForCid(cid));
  }
  return verify::MerkleTree::Build(std::move(leaves));
}

}  // namespace

SplitCoordinator::SplitCoordinator(NodeEnv env, ComputeService* compute, ComputeOptions options)
    : env_(env),
      compute_(compute),
      options_(std::move(options)),
      modules_(env.blobs, options_.module_cache_bytes, options_.max_module_bytes) {}

SplitCoordinator::~SplitCoordinator() { Stop(); }

// Unfinished split jobs stay queued or running on disk; the next start resumes them, so the
// work not started is dropped.
void SplitCoordinator::Stop() { work_.Stop(TaskPool::Pending::kDrop); }

void SplitCoordinator::Take(const JobRecord& job) {
  work_.Post([this, job] { Prepare(job); });
}

void SplitCoordinator::Prepare(JobRecord job) {
  absl::StatusOr<std::vector<ChunkStatus>> chunks = MakeChunks(job);
  if (!chunks.ok()) {
    End(job.id, JobState::kFailed,
        mesh::StrCat("the job could not be split: ", chunks.status().message()));
    return;
  }
  // Cancelled while it was being split: the chunks it made go too.
  if (absl::StatusOr<JobRecord> now_job = compute_->Get(job.id);
      now_job.ok() && job::IsTerminal(now_job->state)) {
    for (const ChunkStatus& c : *chunks) (void)compute_->Cancel(c.job_id);
    return;
  }
  const absl::Time now = env_.clock->Now();
  if (job.state != JobState::kRunning) {
    if (absl::Status s = compute_->MarkDelegatedRunning(job.id, now, job.attempts + 1); !s.ok()) {
      spdlog::warn("split job {}: cannot mark it running: {}", job.id, s.ToString());
    }
    job.state = JobState::kRunning;
  }
  {
    absl::MutexLock lock(&mu_);
    auto split = std::make_unique<Split>();
    split->job = job;
    split->chunks = *std::move(chunks);
    split->running_since = now;
    for (const ChunkStatus& c : split->chunks) split->by_job[c.job_id] = c.index;
    splits_[job.id] = std::move(split);
  }
  // Chunks that ended before the split was registered (or while the node was down) are read
  // back now; OnFinished handles the rest.
  for (uint32_t i = 0;; ++i) {
    std::string chunk_id;
    {
      absl::MutexLock lock(&mu_);
      auto it = splits_.find(job.id);
      if (it == splits_.end() || it->second->ending || i >= it->second->chunks.size()) break;
      chunk_id = it->second->chunks[i].job_id;
    }
    absl::StatusOr<JobRecord> chunk = compute_->Get(chunk_id);
    if (!chunk.ok() || !job::IsTerminal(chunk->state)) continue;
    absl::MutexLock lock(&mu_);
    auto it = splits_.find(job.id);
    if (it == splits_.end()) break;
    ChunkEnded(*it->second, i, *chunk);
  }
}

absl::StatusOr<std::vector<ChunkStatus>> SplitCoordinator::MakeChunks(const JobRecord& job) {
  MESH_ASSIGN_OR_RETURN(std::vector<HistoryBlock> history, env_.jobs->History(job.id));
  for (const HistoryBlock& block : history) {
    if (block.phase != "split") continue;
    std::vector<ChunkStatus> chunks;
    for (const json& c : block.detail.value("chunks", json::array())) {
      MESH_ASSIGN_OR_RETURN(ChunkStatus chunk, ChunkFromJson(c));
      chunks.push_back(std::move(chunk));
    }
    if (chunks.empty()) return absl::DataLossError("the split history block lists no chunks");
    return chunks;
  }
  const job::SplitSpec& split = *job.spec.split;
  if (job.spec.inputs.empty()) {
    return absl::InvalidArgumentError("a split job needs an input to split (its first input)");
  }
  std::string input;               // the first input, which `views` cut
  std::vector<std::string> owned;  // the split module's chunks
  std::vector<std::string_view> views;
  std::vector<uint64_t> segments;  // a split over a stored file's segments: their sizes
  if (split.splitter.kind == job::Splitter::kSegments) {
    // Nothing is read here: each chunk reads its own segment's shards from the holders.
    if (compute_->stored_inputs() == nullptr) {
      return absl::FailedPreconditionError("this node does not read stored files");
    }
    MESH_ASSIGN_OR_RETURN(segments,
                          compute_->stored_inputs()->SegmentSizes(job.spec.inputs.front()));
  } else {
    // A stored file is read here whole, then cut like any input.
    MESH_ASSIGN_OR_RETURN(std::vector<wasm::StdinPiece> pieces,
                          compute_->InputsOf(job, {job.spec.inputs.front()}));
    for (const wasm::StdinPiece& p : pieces) input.append(p.bytes);
    if (split.splitter.kind == job::Splitter::kWasm) {
      MESH_ASSIGN_OR_RETURN(owned, RunSplitModule(job, std::move(input)));
      views.assign(owned.begin(), owned.end());
    } else {
      MESH_ASSIGN_OR_RETURN(views, job::Split(split.splitter, input));
    }
  }
  const bool by_segment = split.splitter.kind == job::Splitter::kSegments;
  const uint32_t count = static_cast<uint32_t>(by_segment ? segments.size() : views.size());
  std::vector<ChunkStatus> chunks;
  chunks.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    ChunkStatus c;
    c.index = i;
    std::optional<uint32_t> segment;
    if (by_segment) {
      c.input_cid = job.spec.inputs.front();
      c.input_bytes = segments[i];
      segment = i;
    } else {
      MESH_ASSIGN_OR_RETURN(cas::Cid cid, env_.blobs->PutBytes(views[i]));
      c.input_cid = cid.ToString();
      c.input_bytes = views[i].size();
    }
    absl::StatusOr<std::string> chunk_job = SubmitChunk(job, i, count, c.input_cid, segment);
    if (!chunk_job.ok()) {
      // E.g. the submitter's credits ran out part way: the chunks made so far must not run on
      // for a job that fails.
      for (const ChunkStatus& made : chunks) (void)compute_->Cancel(made.job_id);
      return absl::Status(chunk_job.status().code(), mesh::StrCat("chunk ", i, " of ", count, ": ",
                                                                  chunk_job.status().message()));
    }
    c.job_id = *std::move(chunk_job);
    chunks.push_back(std::move(c));
  }
  json list = json::array();
  for (const ChunkStatus& c : chunks) list.push_back(ChunkJson(c));
  MESH_RETURN_IF_ERROR(env_.jobs
                           ->AppendHistory(job.id, "split", env_.clock->Now(),
                                           {{"splitter", job::ToJson(split)["splitter"]},
                                            {"count", count},
                                            {"chunks", std::move(list)}})
                           .status());
  env_.events->Publish("job.split", job.id, env_.clock->Now(),
                       {{"chunks", count}, {"state", "queued"}});
  return chunks;
}

absl::StatusOr<wasm::RunResult> SplitCoordinator::RunHere(
    const JobRecord& job, const std::string& module, std::string stdin_bytes,
    std::vector<std::pair<std::string, std::string>> env) {
  exec::RunRequest request;
  request.module_id = module;
  MESH_ASSIGN_OR_RETURN(request.module_wasm, modules_.Module(module));
  request.input.stdin_bytes = std::move(stdin_bytes);
  request.input.args = job.spec.args;
  request.input.env = job.spec.env;
  for (auto& e : env) request.input.env.push_back(std::move(e));
  MESH_ASSIGN_OR_RETURN(cas::Cid id, cas::Cid::Parse(job.id));
  request.input.seed = id.digest();
  request.input.deterministic = job.spec.deterministic;
  wasm::Limits limits = LimitsFor(job.spec, options_.default_limits);
  // The split module's output is every chunk; the merge module's is the job's output.
  limits.max_output_bytes =
      std::max<uint64_t>(options_.default_limits.max_output_bytes, options_.max_input_bytes);
  request.limits = limits;
  MESH_ASSIGN_OR_RETURN(wasm::RunResult result, env_.runner->Run(std::move(request)));
  if (!result.report.ok()) {
    return absl::FailedPreconditionError(mesh::StrCat(
        "module ", module, " ended ", wasm::OutcomeName(result.report.outcome), " (exit code ",
        result.report.exit_code, "): ", result.report.message,
        result.report.stderr_tail.empty() ? ""
                                          : mesh::StrCat("; stderr: ", result.report.stderr_tail)));
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> SplitCoordinator::RunSplitModule(const JobRecord& job,
                                                                          std::string input) {
  const job::Splitter& s = job.spec.split->splitter;
  MESH_ASSIGN_OR_RETURN(
      wasm::RunResult result,
      RunHere(job, s.module, std::move(input), {{"MESH_SPLIT_PARTS", std::to_string(s.parts)}}));
  absl::StatusOr<std::vector<std::string_view>> frames = job::DecodeFrames(result.output);
  if (!frames.ok()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("the split module's output is not frames: ", frames.status().message()));
  }
  return std::vector<std::string>(frames->begin(), frames->end());
}

absl::StatusOr<std::string> SplitCoordinator::SubmitChunk(const JobRecord& job, uint32_t index,
                                                          uint32_t count,
                                                          const std::string& input_cid,
                                                          std::optional<uint32_t> segment) {
  const job::JobSpec& parent = job.spec;
  SubmitRequest request;
  job::JobSpec& c = request.spec;
  c.module = parent.split->chunk_module.empty() ? parent.module : parent.split->chunk_module;
  c.inputs.push_back(input_cid);
  c.inputs.insert(c.inputs.end(), parent.inputs.begin() + 1, parent.inputs.end());
  c.args = parent.args;
  c.env = parent.env;
  c.env.emplace_back("MESH_CHUNK_INDEX", std::to_string(index));
  c.env.emplace_back("MESH_CHUNK_COUNT", std::to_string(count));
  c.env.emplace_back("MESH_SPLIT_JOB", job.id);
  c.limits = parent.limits;
  c.priority = parent.priority;
  c.labels = {{std::string(kSplitJobLabel), job.id},
              {std::string(kSplitChunkLabel), std::to_string(index)}};
  c.deterministic = parent.deterministic;
  c.requirements = parent.requirements;
  c.placement = parent.placement;
  c.verification = parent.verification;
  c.mounts = parent.mounts;  // every chunk sees the same files (a split job has no output_dir)
  c.segment = segment;
  request.idempotency_key = mesh::StrCat("split/", job.id, "/", index);
  request.payer = parent.submitter;
  MESH_ASSIGN_OR_RETURN(SubmitResult submitted, compute_->Submit(std::move(request)));
  return submitted.job.id;
}

void SplitCoordinator::OnFinished(const JobRecord& job) {
  auto label = job.spec.labels.find(std::string(kSplitJobLabel));
  if (label == job.spec.labels.end()) return;
  absl::MutexLock lock(&mu_);
  auto it = splits_.find(label->second);
  if (it == splits_.end()) return;
  Split& split = *it->second;
  auto c = split.by_job.find(job.id);
  if (c == split.by_job.end()) return;
  ChunkEnded(split, c->second, job);
}

void SplitCoordinator::ChunkEnded(Split& split, uint32_t index, const JobRecord& chunk) {
  ChunkStatus& c = split.chunks[index];
  if (split.ending || job::IsTerminal(c.state)) return;
  c.state = chunk.state;
  c.output_cid = chunk.output_cid;
  c.executor = chunk.role == job::JobRole::kDelegated ? chunk.peer : "";
  c.fuel_used = chunk.fuel_used;
  const std::string id = split.job.id;
  if (chunk.state != JobState::kSucceeded) {
    split.ending = true;
    const std::string why = chunk.reason.empty()
                                ? mesh::StrCat("it ended ", job::JobStateName(chunk.state))
                                : chunk.reason;
    work_.Post([this, id, why, index, cid = chunk.id, state = chunk.state] {
      End(id, state == JobState::kCancelled ? JobState::kCancelled : JobState::kFailed,
          mesh::StrCat("chunk ", index, " (job ", cid, ") ", job::JobStateName(state), ": ", why));
    });
    return;
  }
  PublishProgress(split);
  const bool all = std::all_of(split.chunks.begin(), split.chunks.end(), [](const ChunkStatus& x) {
    return x.state == JobState::kSucceeded;
  });
  if (all) {
    split.ending = true;
    work_.Post([this, id] { Merge(id); });
  } else if (index == split.merged && !split.merge_ahead_posted &&
             split.job.spec.split->merger.kind == job::Merger::kConcat) {
    split.merge_ahead_posted = true;
    work_.Post([this, id] { MergeAhead(id); });
  }
}

void SplitCoordinator::MergeAhead(std::string id) {
  // The writer leaves the split while outputs are appended (outside the lock): a split that
  // ends meanwhile (cancelled, failed) is gone when we come back, and the writer with it.
  std::unique_ptr<cas::PendingBlob> writer;
  std::vector<ChunkStatus> chunks;
  uint32_t from = 0, to = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = splits_.find(id);
    if (it == splits_.end()) return;
    Split& split = *it->second;
    split.merge_ahead_posted = false;
    if (split.ending) return;  // the merge at the end takes it from here
    from = to = split.merged;
    while (to < split.chunks.size() && split.chunks[to].state == JobState::kSucceeded) ++to;
    if (to == from) return;
    writer = std::move(split.merging);
    chunks = split.chunks;
  }
  absl::Status status;
  if (writer == nullptr) {
    absl::StatusOr<std::unique_ptr<cas::PendingBlob>> started =
        env_.blobs->BeginWrite(options_.max_input_bytes);
    status = started.status();
    if (started.ok()) writer = *std::move(started);
  }
  if (status.ok()) status = AppendOutputs(chunks, from, to, *writer);
  absl::MutexLock lock(&mu_);
  auto it = splits_.find(id);
  if (it == splits_.end()) return;
  Split& split = *it->second;
  if (!status.ok()) {
    // What the merge at the end would meet too (a damaged or missing output, the size bound):
    // the job fails now, naming it, and the chunks still to run are cancelled.
    split.ending = true;
    work_.Post([this, id, why = std::string(status.message())] {
      End(id, JobState::kFailed, mesh::StrCat("the chunk outputs could not be merged: ", why));
    });
    return;
  }
  split.merging = std::move(writer);
  split.merged = to;
}

void SplitCoordinator::PublishProgress(const Split& split) {
  const size_t total = split.chunks.size();
  const size_t done =
      std::count_if(split.chunks.begin(), split.chunks.end(),
                    [](const ChunkStatus& c) { return c.state == JobState::kSucceeded; });
  const absl::Time now = env_.clock->Now();
  json data = {{"percent", total == 0 ? 100.0 : 100.0 * double(done) / double(total)},
               {"message", mesh::StrCat(done, "/", total, " chunks")},
               {"chunks_done", done},
               {"chunks_total", total},
               {"state", "running"}};
  if (done < total) {
    const double percent = total == 0 ? 100.0 : 100.0 * double(done) / double(total);
    if (std::optional<int64_t> eta = job::EtaMillis(split.running_since, now, percent)) {
      data["eta_ms"] = *eta;
    }
  }
  env_.events->Publish("job.progress", split.job.id, now, std::move(data));
}

void SplitCoordinator::Merge(std::string id) {
  JobRecord job;
  std::vector<ChunkStatus> chunks;
  std::unique_ptr<cas::PendingBlob> ahead;
  uint32_t merged = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = splits_.find(id);
    if (it == splits_.end()) return;
    job = it->second->job;
    chunks = it->second->chunks;
    ahead = std::move(it->second->merging);
    merged = ahead != nullptr ? it->second->merged : 0;
  }
  absl::StatusOr<std::string> output = MergeOutputs(job, chunks, std::move(ahead), merged);
  absl::StatusOr<verify::MerkleTree> tree = TreeOf(chunks);
  if (!output.ok() || !tree.ok()) {
    End(id, JobState::kFailed,
        mesh::StrCat("the chunk outputs could not be merged: ",
                     (!output.ok() ? output.status() : tree.status()).message()));
    return;
  }
  uint64_t fuel = 0;
  json list = json::array(), executors = json::object();
  for (const ChunkStatus& c : chunks) {
    fuel += c.fuel_used;
    list.push_back(ChunkJson(c));
    const std::string who = c.executor.empty() ? env_.key->did().ToString() : c.executor;
    executors[who] = executors.value(who, 0) + 1;
  }
  const std::string root = Hex(tree->root());
  // The split receipt: this node's signed word that these chunk outputs, in this order, have
  // this Merkle root and merge to this output.
  const json claim = {{"job", id},
                      {"merkle_root", root},
                      {"tree_size", chunks.size()},
                      {"output_cid", *output},
                      {"fuel_used", fuel},
                      {"chunk_outputs", [&] {
                         json outs = json::array();
                         for (const ChunkStatus& c : chunks) outs.push_back(c.output_cid);
                         return outs;
                       }()}};
  const std::string receipt =
      crypto::Envelope::Seal(*env_.key, kSplitReceiptType, claim.dump()).Serialize();
  if (absl::Status s =
          env_.jobs
              ->AppendHistory(id, "merged", env_.clock->Now(),
                              {{"merkle_root", root},
                               {"tree_size", chunks.size()},
                               {"output_cid", *output},
                               {"merge", job::MergerKindName(job.spec.split->merger.kind)},
                               {"executors", executors},
                               {"chunks", std::move(list)},
                               {"receipt", cas::Cid::Of(receipt).ToString()},
                               {"envelope", Base64Encode(receipt)}})
              .status();
      !s.ok()) {
    End(id, JobState::kFailed, mesh::StrCat("cannot record the merge: ", s.message()));
    return;
  }
  job.state = JobState::kSucceeded;
  job.outcome = "ok";
  job.exit_code = 0;
  job.fuel_used = fuel;
  job.output_cid = *output;
  json report = {{"outcome", "ok"},
                 {"exit_code", 0},
                 {"fuel_used", fuel},
                 {"output_cid", *output},
                 {"split",
                  {{"chunks", chunks.size()},
                   {"merkle_root", root},
                   {"executors", executors},
                   {"receipt", cas::Cid::Of(receipt).ToString()}}}};
  job.report_json = report.dump();
  job.finished_at = env_.clock->Now();
  {
    absl::MutexLock lock(&mu_);
    splits_.erase(id);
  }
  (void)compute_->FinishDelegated(std::move(job));
}

absl::StatusOr<std::string> SplitCoordinator::MergeOutputs(const JobRecord& job,
                                                           const std::vector<ChunkStatus>& chunks,
                                                           std::unique_ptr<cas::PendingBlob> ahead,
                                                           uint32_t merged) {
  // Each output is read from the store once and verified as it is read; the sum is bounded
  // before anything more is read.
  std::vector<cas::Cid> cids;
  cids.reserve(chunks.size());
  uint64_t total = 0;
  for (const ChunkStatus& c : chunks) {
    MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(c.output_cid));
    MESH_ASSIGN_OR_RETURN(cas::BlobInfo info, env_.blobs->Stat(cid));
    total += info.size;
    if (total > options_.max_input_bytes) {
      return absl::ResourceExhaustedError(
          mesh::StrCat("the chunk outputs are over ", options_.max_input_bytes, " bytes together"));
    }
    cids.push_back(cid);
  }
  if (job.spec.split->merger.kind != job::Merger::kWasm) {
    // Concatenation streams into the store, one output at a time: none is held in memory, and
    // the merged bytes are hashed once, as they are written. Most were appended already, as
    // their chunks ended (MergeAhead).
    if (ahead == nullptr) {
      MESH_ASSIGN_OR_RETURN(ahead, env_.blobs->BeginWrite(options_.max_input_bytes));
      merged = 0;
    }
    MESH_RETURN_IF_ERROR(
        AppendOutputs(chunks, merged, static_cast<uint32_t>(chunks.size()), *ahead));
    MESH_RETURN_IF_ERROR(ahead->Commit().status());
    return ahead->cid()->ToString();
  }
  std::vector<std::string> outputs;
  outputs.reserve(cids.size());
  for (const cas::Cid& cid : cids) {
    MESH_ASSIGN_OR_RETURN(std::string bytes, env_.blobs->Get(cid, options_.max_input_bytes));
    outputs.push_back(std::move(bytes));
  }
  std::vector<std::string_view> views(outputs.begin(), outputs.end());
  std::string framed = job::EncodeFrames(views);
  outputs.clear();
  MESH_ASSIGN_OR_RETURN(
      wasm::RunResult result,
      RunHere(job, job.spec.split->merger.module, std::move(framed),
              {{"MESH_CHUNK_COUNT", std::to_string(chunks.size())}, {"MESH_SPLIT_JOB", job.id}}));
  MESH_ASSIGN_OR_RETURN(cas::Cid cid, env_.blobs->PutBytes(result.output));
  return cid.ToString();
}

absl::Status SplitCoordinator::AppendOutputs(const std::vector<ChunkStatus>& chunks, uint32_t from,
                                             uint32_t to, cas::PendingBlob& writer) {
  std::string buffer(1 << 20, '\0');
  for (uint32_t i = from; i < to; ++i) {
    MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(chunks[i].output_cid));
    MESH_ASSIGN_OR_RETURN(std::unique_ptr<cas::BlobReader> reader, env_.blobs->Open(cid));
    for (;;) {
      // The reader checks the hash at the end: a damaged output fails here, before Commit.
      MESH_ASSIGN_OR_RETURN(size_t n, reader->Read(buffer.data(), buffer.size()));
      if (n == 0) break;
      MESH_RETURN_IF_ERROR(writer.Append(std::string_view(buffer.data(), n)));
    }
  }
  return absl::OkStatus();
}

void SplitCoordinator::End(std::string id, JobState state, std::string reason) {
  std::vector<std::string> to_cancel;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = splits_.find(id); it != splits_.end()) {
      for (const ChunkStatus& c : it->second->chunks) {
        if (!job::IsTerminal(c.state)) to_cancel.push_back(c.job_id);
      }
      splits_.erase(it);
    }
  }
  for (const std::string& chunk : to_cancel) (void)compute_->Cancel(chunk);
  absl::StatusOr<JobRecord> job = env_.jobs->Get(id);
  if (!job.ok()) {
    spdlog::error("split job {}: cannot end it ({}): {}", id, job::JobStateName(state),
                  job.status().ToString());
    return;
  }
  job->state = state;
  job->reason = std::move(reason);
  job->finished_at = env_.clock->Now();
  (void)compute_->FinishDelegated(*std::move(job));
}

bool SplitCoordinator::Cancel(const std::string& id) {
  absl::StatusOr<JobRecord> job = env_.jobs->Get(id);
  if (!job.ok() || job->role != job::JobRole::kSplit || job::IsTerminal(job->state)) return false;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = splits_.find(id); it != splits_.end()) it->second->ending = true;
  }
  End(id, JobState::kCancelled, "cancelled by request");
  return true;
}

absl::StatusOr<SplitStatus> SplitCoordinator::Status(const std::string& id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = splits_.find(id); it != splits_.end()) {
      SplitStatus s;
      s.job_id = id;
      s.stage = it->second->ending ? "merging" : "running";
      s.chunks = it->second->chunks;
      for (const ChunkStatus& c : s.chunks) s.done += c.state == JobState::kSucceeded;
      return s;
    }
  }
  return StatusFromHistory(id);
}

absl::StatusOr<SplitStatus> SplitCoordinator::StatusFromHistory(const std::string& id) {
  MESH_ASSIGN_OR_RETURN(JobRecord job, compute_->Get(id));
  if (!job.spec.split.has_value()) {
    return absl::NotFoundError(mesh::StrCat("job ", id, " is not a split job"));
  }
  SplitStatus s;
  s.job_id = id;
  s.stage = job::IsTerminal(job.state) ? std::string(job::JobStateName(job.state)) : "splitting";
  MESH_ASSIGN_OR_RETURN(std::vector<HistoryBlock> history, env_.jobs->History(id));
  for (const HistoryBlock& block : history) {
    if (block.phase != "split" && block.phase != "merged") continue;
    s.chunks.clear();
    for (const json& c : block.detail.value("chunks", json::array())) {
      MESH_ASSIGN_OR_RETURN(ChunkStatus chunk, ChunkFromJson(c));
      chunk.state = block.phase == "merged" ? JobState::kSucceeded : JobState::kQueued;
      s.chunks.push_back(std::move(chunk));
    }
    if (block.phase == "merged") s.merkle_root = block.detail.value("merkle_root", std::string());
  }
  // Before the merge (or when the job failed), each chunk's state is its job's.
  if (s.merkle_root.empty()) {
    for (ChunkStatus& c : s.chunks) {
      if (absl::StatusOr<JobRecord> chunk = compute_->Get(c.job_id); chunk.ok()) {
        c.state = chunk->state;
        c.output_cid = chunk->output_cid;
        c.fuel_used = chunk->fuel_used;
        c.executor = chunk->role == job::JobRole::kDelegated ? chunk->peer : "";
      }
    }
  }
  for (const ChunkStatus& c : s.chunks) s.done += c.state == JobState::kSucceeded;
  return s;
}

absl::StatusOr<ChunkProof> SplitCoordinator::Proof(const std::string& id, uint32_t index) {
  MESH_ASSIGN_OR_RETURN(SplitStatus s, Status(id));
  if (s.merkle_root.empty()) {
    return absl::FailedPreconditionError(
        mesh::StrCat("split job ", id, " has not merged (", s.stage,
                     "): its Merkle tree is built over the outputs of all its chunks"));
  }
  if (index >= s.chunks.size()) {
    return absl::OutOfRangeError(
        mesh::StrCat("chunk ", index, " does not exist: the job has ", s.chunks.size()));
  }
  MESH_ASSIGN_OR_RETURN(verify::MerkleTree tree, TreeOf(s.chunks));
  if (Hex(tree.root()) != s.merkle_root) {
    return absl::DataLossError(
        mesh::StrCat("the chunk outputs recorded for ", id, " no longer give its Merkle root"));
  }
  ChunkProof p;
  p.index = index;
  p.output_cid = s.chunks[index].output_cid;
  p.merkle_root = s.merkle_root;
  MESH_ASSIGN_OR_RETURN(p.proof, tree.Prove(index));
  return p;
}

}  // namespace mesh::node
