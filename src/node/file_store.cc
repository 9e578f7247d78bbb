#include "mesh/node/file_store.h"

#include <algorithm>
#include <deque>
#include <future>
#include <thread>
#include <utility>

#include "mesh/common/format_bytes.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

constexpr size_t kReadChunk = 1 << 20;

absl::StatusOr<job::ShardsHeld> ShardsHeldIn(absl::StatusOr<job::Message> answer) {
  if (!answer.ok()) return answer.status();
  auto* held = std::get_if<job::ShardsHeld>(&*answer);
  if (held == nullptr) {
    return absl::InvalidArgumentError(
        mesh::StrCat("the holder answered with a ", job::MessageName(*answer)));
  }
  return std::move(*held);
}

// The results of one segment's fetches, shared with the transfer threads (a straggler may
// finish after the segment is done: it finds its result unwanted).
struct FetchResults {
  absl::Mutex mu;
  std::deque<std::pair<int, absl::StatusOr<std::string>>> done ABSL_GUARDED_BY(mu);
  static bool Ready(FetchResults* r) ABSL_NO_THREAD_SAFETY_ANALYSIS { return !r->done.empty(); }
};

}  // namespace

FileStore::FileStore(FileStoreOptions options, const crypto::KeyPair* key, Rng* rng,
                     const Clock* clock, cas::BlobStore* blobs, ShardStaging* staging, StoreDb* db,
                     StoragePeers* peers)
    : options_(std::move(options)),
      key_(key),
      rng_(rng),
      clock_(clock),
      blobs_(blobs),
      staging_(staging),
      db_(db),
      peers_(peers) {}

FileStore::~FileStore() {
  absl::MutexLock lock(&pool_mu_);
  if (transfers_ != nullptr) transfers_->Stop(TaskPool::Pending::kDrop);
}

TaskPool& FileStore::Transfers() {
  absl::MutexLock lock(&pool_mu_);
  if (transfers_ == nullptr) transfers_ = std::make_unique<TaskPool>(options_.transfers);
  return *transfers_;
}

absl::StatusOr<FileStore::Staged> FileStore::Stage(const cas::Cid& cid, std::string_view bytes) {
  MESH_RETURN_IF_ERROR(staging_->Add(cid, bytes));
  return Staged{cid.ToString(), bytes.size()};
}

void FileStore::DeleteStaged(const std::vector<std::vector<Staged>>& shards) {
  for (const std::vector<Staged>& segment : shards) {
    for (const Staged& s : segment) {
      absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(s.cid);
      if (cid.ok()) staging_->Remove(*cid);
    }
  }
}

absl::StatusOr<StoredFileRecord> FileStore::Put(cas::ByteSource& source,
                                                const PutRequest& request) {
  storage::StoreOptions options = options_.defaults;
  if (request.k.has_value()) options.k = *request.k;
  if (request.m.has_value()) options.m = *request.m;
  if (request.encrypt.has_value()) options.encrypt = *request.encrypt;
  MESH_RETURN_IF_ERROR(storage::CheckStoreOptions(options));

  // Each sealed segment's shards go to the blob store at once (the sealer reuses its buffer),
  // staged there until their holders have pulled them.
  std::vector<std::vector<Staged>> staged;
  storage::AuditSampler audits(*rng_);
  auto sink = [&](uint32_t index, const storage::SealedSegment& segment) -> absl::Status {
    std::vector<Staged> shards;
    for (size_t i = 0; i < segment.info.shards.size(); ++i) {
      MESH_ASSIGN_OR_RETURN(Staged shard, Stage(segment.info.shards[i], segment.shard(i)));
      shards.push_back(std::move(shard));
      audits.Offer(static_cast<int>(i), index, segment.shard(i));
    }
    staged.push_back(std::move(shards));
    return absl::OkStatus();
  };
  absl::StatusOr<storage::SealedFile> sealed;
  {
    MESH_ASSIGN_OR_RETURN(std::unique_ptr<storage::FileSealer> sealer,
                          storage::FileSealer::Create(options, *key_, *rng_, sink));
    std::string buffer(kReadChunk, '\0');
    absl::Status status;
    while (status.ok()) {
      absl::StatusOr<size_t> n = source.Read(buffer.data(), buffer.size());
      if (!n.ok()) {
        status = n.status();
      } else if (*n == 0) {
        break;
      } else {
        status = sealer->Write(std::string_view(buffer.data(), *n));
      }
    }
    sealed = status.ok() ? sealer->Finish() : absl::StatusOr<storage::SealedFile>(status);
  }
  if (!sealed.ok()) {
    DeleteStaged(staged);
    return sealed.status();
  }
  const std::string file = sealed->cid.ToString();
  absl::StatusOr<bool> manifest_was_here = blobs_->Has(sealed->cid);
  absl::StatusOr<cas::Cid> manifest = blobs_->PutBytes(sealed->bytes, cas::Codec::kDagJson);
  if (!manifest_was_here.ok() || !manifest.ok()) {
    DeleteStaged(staged);
    return manifest.ok() ? manifest_was_here.status() : manifest.status();
  }

  StoredFileRecord record;
  record.cid = file;
  record.name = request.name;
  record.user = request.user;
  record.size = sealed->manifest.size;
  record.encrypted = sealed->manifest.encrypted;
  record.created = clock_->Now();
  if (!sealed->manifest.is_inline()) {
    record.k = options.k;
    record.m = options.m;
    record.segments = staged.size();
    for (const std::vector<Staged>& segment : staged) {
      for (const Staged& s : segment) record.stored_bytes += s.bytes;
    }
    absl::Status placed = Place(file, options.k + options.m, staged, record);
    // Placed or not, the staged shards go: they are on their holders now, or nowhere.
    DeleteStaged(staged);
    if (!placed.ok()) {
      if (!*manifest_was_here) blobs_->Delete(sealed->cid).IgnoreError();
      return placed;
    }
  }
  MESH_RETURN_IF_ERROR(db_->AddFile(record));
  if (!record.holders.empty()) MESH_RETURN_IF_ERROR(db_->AddAudits(file, audits.Take()));
  return record;
}

absl::StatusOr<job::ShardsHeld> FileStore::AskToHold(const storage::HolderCandidate& holder,
                                                     const std::string& file,
                                                     const std::vector<job::ShardRef>& shards) {
  job::ShardsHeld last;
  for (size_t from = 0; from < shards.size(); from += job::kMaxShardsPerMessage) {
    job::StoreShards request;
    request.owner = key_->did().ToString();
    request.source_address = peers_->address();
    request.file = file;
    const size_t to = std::min(shards.size(), from + job::kMaxShardsPerMessage);
    request.shards.assign(shards.begin() + from, shards.begin() + to);
    MESH_ASSIGN_OR_RETURN(
        job::Message answer,
        peers_->Ask(holder.did, holder.address, std::move(request), options_.holder_timeout));
    MESH_ASSIGN_OR_RETURN(last, ShardsHeldIn(std::move(answer)));
    for (size_t i = from; i < to; ++i) {
      if (std::find(last.shards.begin(), last.shards.end(), shards[i].cid) == last.shards.end()) {
        return absl::DataLossError(
            mesh::StrCat("its answer does not list shard ", shards[i].cid, " as held"));
      }
    }
  }
  return last;
}

absl::Status FileStore::Place(const std::string& file, int n,
                              const std::vector<std::vector<Staged>>& shards,
                              StoredFileRecord& record) {
  if (peers_ == nullptr) {
    return absl::FailedPreconditionError(
        "storing a file larger than the inline threshold needs the mesh ([mesh] enabled = true)");
  }
  uint64_t per_holder = 0;
  for (const std::vector<Staged>& segment : shards) per_holder += segment.front().bytes;
  storage::HolderChooser chooser(peers_->HolderCandidates(), per_holder, options_.min_reputation);
  const std::string code = mesh::StrCat(record.k, "+", record.m);
  if (chooser.available() < static_cast<size_t>(n)) {
    std::string why = chooser.Explain();
    return absl::FailedPreconditionError(
        mesh::StrCat("storing with code ", code, " needs ", n,
                     " peers to hold shards; this node knows ", chooser.available(), " that can (",
                     n - chooser.available(), " missing)", why.empty() ? "" : "; left out: ", why));
  }
  std::vector<std::vector<job::ShardRef>> refs(n);
  for (int i = 0; i < n; ++i) {
    for (const std::vector<Staged>& segment : shards) {
      refs[i].push_back({segment[i].cid, segment[i].bytes});
    }
  }
  std::vector<std::optional<storage::HolderCandidate>> placed = PlaceSlots(file, refs, chooser);
  const size_t missing = std::count(placed.begin(), placed.end(), std::nullopt);
  if (missing > 0) {
    // Undo: the holders that took their shards drop them.
    for (const std::optional<storage::HolderCandidate>& p : placed) {
      if (p.has_value()) TellToDrop(file, p->did, p->address, nullptr);
    }
    return absl::FailedPreconditionError(
        mesh::StrCat("storing with code ", code, " needs ", n, " holders; ", n - missing,
                     " took their shards (", missing, " missing): ", chooser.Explain()));
  }
  for (int i = 0; i < n; ++i) {
    record.holders.push_back(
        {i, placed[i]->did, placed[i]->address, record.created, record.created, 0, record.created});
  }
  return absl::OkStatus();
}

std::vector<std::optional<storage::HolderCandidate>> FileStore::PlaceSlots(
    const std::string& file, const std::vector<std::vector<job::ShardRef>>& refs,
    storage::HolderChooser& chooser) {
  // Every slot asks peers in turn until one holds its shards; the slots run at once.
  absl::Mutex mu;
  std::vector<std::optional<storage::HolderCandidate>> placed(refs.size());
  std::vector<std::thread> slots;
  for (size_t i = 0; i < refs.size(); ++i) {
    slots.emplace_back([&, i] {
      while (true) {
        std::optional<storage::HolderCandidate> next;
        {
          absl::MutexLock lock(&mu);
          next = chooser.Next();
        }
        if (!next.has_value()) return;
        absl::StatusOr<job::ShardsHeld> held = AskToHold(*next, file, refs[i]);
        absl::MutexLock lock(&mu);
        if (held.ok()) {
          chooser.Accepted(*next);
          placed[i] = *next;
          return;
        }
        chooser.Refused(*next, std::string(held.status().message()));
      }
    });
  }
  for (std::thread& t : slots) t.join();
  return placed;
}

void FileStore::TellToDrop(const std::string& file, const std::string& did,
                           const std::string& address, std::vector<std::string>* unreachable) {
  job::DropShards drop;
  drop.owner = key_->did().ToString();
  drop.file = file;
  absl::StatusOr<job::ShardsHeld> answer =
      ShardsHeldIn(peers_->Ask(did, address, std::move(drop), options_.holder_timeout / 10));
  if (answer.ok() && answer->shards.empty()) return;
  const std::string why =
      answer.ok() ? "still lists shards" : std::string(answer.status().message());
  spdlog::warn("stored file {}: holder {} was not released: {}", file, did, why);
  if (unreachable != nullptr) unreachable->push_back(mesh::StrCat(did, ": ", why));
}

absl::StatusOr<storage::StoreManifest> FileStore::LoadManifest(const std::string& cid) {
  MESH_ASSIGN_OR_RETURN(cas::Cid manifest_cid, cas::Cid::Parse(cid));
  MESH_ASSIGN_OR_RETURN(std::string bytes,
                        blobs_->Get(manifest_cid, storage::kMaxStoreManifestBytes));
  return storage::ParseStoreManifest(bytes);
}

absl::StatusOr<StoredFileRecord> FileStore::Stat(const std::string& cid) {
  MESH_ASSIGN_OR_RETURN(std::optional<StoredFileRecord> file, db_->File(cid));
  if (!file.has_value()) {
    return absl::NotFoundError(
        mesh::StrCat("no stored file ", cid, " on this node (`mesh store ls` lists them)"));
  }
  return *std::move(file);
}

absl::StatusOr<std::vector<StoredFileRecord>> FileStore::List(const std::string& user,
                                                              size_t limit) {
  return db_->Files(user, limit);
}

std::vector<bool> FileStore::HoldersAlive(const StoredFileRecord& file) {
  std::vector<bool> alive(file.holders.size(), false);
  if (peers_ == nullptr) return alive;
  const std::vector<storage::HolderCandidate> peers = peers_->HolderCandidates();
  for (size_t i = 0; i < file.holders.size(); ++i) {
    for (const storage::HolderCandidate& p : peers) {
      if (p.did == file.holders[i].did && p.alive) alive[i] = true;
    }
  }
  return alive;
}

absl::StatusOr<RemoveResult> FileStore::Remove(const std::string& cid) {
  MESH_ASSIGN_OR_RETURN(StoredFileRecord file, Stat(cid));
  RemoveResult result;
  if (!file.holders.empty() && peers_ != nullptr) {
    absl::Mutex mu;
    std::vector<std::thread> tells;
    for (const ShardPlacement& h : file.holders) {
      tells.emplace_back([&, h] {
        std::vector<std::string> unreachable;
        TellToDrop(cid, h.did, h.address, &unreachable);
        absl::MutexLock lock(&mu);
        if (unreachable.empty()) ++result.holders_told;
        for (std::string& u : unreachable) result.holders_unreachable.push_back(std::move(u));
      });
    }
    for (std::thread& t : tells) t.join();
  }
  MESH_ASSIGN_OR_RETURN(cas::Cid manifest, cas::Cid::Parse(cid));
  if (absl::Status s = blobs_->Delete(manifest); !s.ok() && !absl::IsNotFound(s)) return s;
  MESH_RETURN_IF_ERROR(db_->RemoveFile(cid));
  return result;
}

absl::StatusOr<GetStats> FileStore::Get(const std::string& cid, const storage::PlainSink& sink) {
  MESH_ASSIGN_OR_RETURN(StoredFileRecord file, Stat(cid));
  MESH_ASSIGN_OR_RETURN(storage::StoreManifest manifest, LoadManifest(cid));
  MESH_ASSIGN_OR_RETURN(std::string key, storage::OpenFileKey(manifest, *key_));
  return Read(manifest, file.holders, std::move(key), sink);
}

absl::StatusOr<GetStats> FileStore::Read(const storage::StoreManifest& manifest,
                                         const std::vector<ShardPlacement>& holders,
                                         std::string key, const storage::PlainSink& sink,
                                         storage::SegmentRange range) {
  GetStats stats;
  const uint32_t total = storage::SegmentCount(manifest);
  const uint32_t end =
      range.first >= total ? range.first : range.first + std::min(range.count, total - range.first);
  absl::Status opened;
  {
    ReadAhead ahead(*this, manifest, holders, end, stats);
    opened = storage::OpenStoredFile(manifest, std::move(key),
                                     [&](uint32_t segment) { return ahead.Fetch(segment); }, sink,
                                     &stats.open, {.range = range, .shards_checked = true});
  }  // before `stats` is read: the fetch ahead writes its counters
  MESH_RETURN_IF_ERROR(opened);
  return stats;
}

FileStore::ReadAhead::ReadAhead(FileStore& store, const storage::StoreManifest& manifest,
                                const std::vector<ShardPlacement>& holders, uint32_t end,
                                GetStats& stats)
    : store_(store), manifest_(manifest), holders_(holders), end_(end), stats_(stats) {}

FileStore::ReadAhead::~ReadAhead() {
  if (ahead_.valid()) ahead_.wait();
}

FileStore::ReadAhead::Shards FileStore::ReadAhead::Fetch(uint32_t segment) {
  Shards current = ahead_.valid() && ahead_index_ == segment
                       ? ahead_.get()
                       : store_.FetchSegment(manifest_, segment, holders_, typical_, stats_);
  if (ahead_.valid()) (void)ahead_.get();  // a fetch nobody asked for (out of order): dropped
  if (current.ok() && segment + 1 < end_) {
    ahead_index_ = segment + 1;
    ahead_ = std::async(std::launch::async, [this, next = segment + 1] {
      return store_.FetchSegment(manifest_, next, holders_, typical_, stats_);
    });
  }
  return current;
}

absl::StatusOr<std::vector<std::optional<std::string>>> FileStore::FetchSegment(
    const storage::StoreManifest& manifest, uint32_t segment,
    const std::vector<ShardPlacement>& holders, std::optional<absl::Duration>& typical,
    GetStats& stats) {
  const storage::SegmentInfo& info = manifest.segments.at(segment);
  const int n = manifest.k + manifest.m;
  const uint64_t shard_bytes = storage::ShardBytes(info.sealed_bytes, manifest.k);
  std::vector<std::optional<absl::Duration>> rtt(n);
  std::vector<bool> unavailable(n, true);
  std::vector<const ShardPlacement*> holder_of(n, nullptr);
  for (const ShardPlacement& h : holders) {
    if (h.index < 0 || h.index >= n || peers_ == nullptr) continue;
    holder_of[h.index] = &h;
    unavailable[h.index] = false;
    rtt[h.index] = peers_->RoundTrip(h.did);
  }
  storage::SegmentFetchPlan plan(manifest.k, rtt, unavailable, options_.hedging, typical);
  auto results = std::make_shared<FetchResults>();
  std::vector<std::optional<std::string>> shards(n);
  auto start = [&](const std::vector<int>& which) {
    for (int i : which) {
      ++stats.shards_fetched;
      const ShardPlacement h = *holder_of[i];
      const std::string cid = info.shards[i].ToString();
      Transfers().Post([this, results, h, cid, shard_bytes, i] {
        std::string bytes;
        bytes.reserve(shard_bytes);  // one buffer, not a doubling one per shard
        absl::Status status =
            peers_->FetchFrom(h.did, h.address, cid, shard_bytes, options_.fetch_timeout,
                              [&bytes](std::string_view chunk) {
                                bytes.append(chunk);
                                return absl::OkStatus();
                              });
        absl::StatusOr<std::string> outcome = std::move(bytes);
        if (!status.ok()) {
          outcome = absl::Status(status.code(), mesh::StrCat(h.did, ": ", status.message()));
        } else if (cas::Cid::Of(*outcome).ToString() != cid) {
          outcome = absl::DataLossError(mesh::StrCat(h.did, " sent shard ", cid, " damaged"));
        }
        absl::MutexLock lock(&results->mu);
        results->done.emplace_back(i, std::move(outcome));
      });
    }
  };
  start(plan.Start(clock_->Now()));
  while (!plan.done() && !plan.failed()) {
    std::deque<std::pair<int, absl::StatusOr<std::string>>> done;
    {
      const absl::Time tick = plan.next_tick();
      absl::MutexLock lock(&results->mu);
      const absl::Duration wait =
          tick == absl::InfiniteFuture() ? options_.fetch_timeout * 2 : tick - clock_->Now();
      results->mu.AwaitWithTimeout(absl::Condition(&FetchResults::Ready, results.get()),
                                   std::max(wait, absl::ZeroDuration()));
      done.swap(results->done);
    }
    const absl::Time now = clock_->Now();
    for (auto& [i, outcome] : done) {
      if (!outcome.ok()) {
        ++stats.fetches_failed;
        spdlog::warn("stored file, segment {}: shard {}: {}", segment, i,
                     outcome.status().ToString());
      } else {
        shards[i] = *std::move(outcome);
      }
      start(plan.Finished(i, outcome.ok(), now));
    }
    const std::vector<int> hedges = plan.Tick(now);
    stats.hedges += hedges.size();
    start(hedges);
  }
  typical = plan.Typical();
  // Only the shards the plan counted (a late straggler's may have landed in `shards` too:
  // harmless, any good shard helps).
  return shards;
}

}  // namespace mesh::node
