#include "mesh/ledger/reputation.h"

#include "mesh/common/status_macros.h"
#include "reputation_store.h"

namespace mesh::ledger {

ReputationBook::ReputationBook(const Clock& clock, ReputationOptions options)
    : ReputationBook(clock, options, nullptr) {}

ReputationBook::ReputationBook(const Clock& clock, ReputationOptions options,
                               std::unique_ptr<ReputationStore> store)
    : clock_(clock), options_(options), store_(std::move(store)), scores_(options) {}

ReputationBook::~ReputationBook() = default;

absl::StatusOr<std::unique_ptr<ReputationBook>> ReputationBook::Open(
    const std::filesystem::path& path, const Clock& clock, ReputationOptions options) {
  MESH_RETURN_IF_ERROR(Validate(options));
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<ReputationStore> store, ReputationStore::Open(path));
  std::unique_ptr<ReputationBook> book(new ReputationBook(clock, options, std::move(store)));
  absl::MutexLock lock(&book->mu_);
  MESH_RETURN_IF_ERROR(book->store_->LoadInto(book->scores_));
  return book;
}

absl::StatusOr<Reputation> ReputationBook::Record(std::string_view did, ReputationEvent event) {
  if (did.empty()) return absl::InvalidArgumentError("reputation event without a DID");
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  const ReputationState next = scores_.After(did, event, now);
  if (store_ != nullptr) MESH_RETURN_IF_ERROR(store_->Save(did, next));
  scores_.Set(did, next);
  return scores_.Get(did, now);
}

absl::Status ReputationBook::RecordAll(
    std::span<const std::pair<std::string, ReputationEvent>> events) {
  for (const auto& [did, event] : events) {
    if (did.empty()) return absl::InvalidArgumentError("reputation event without a DID");
  }
  if (events.empty()) return absl::OkStatus();
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<std::string, ReputationState> next;  // this batch's states, by DID
  std::vector<std::pair<std::string, ReputationState>> rows;
  rows.reserve(events.size());
  for (const auto& [did, event] : events) {
    auto it = next.find(did);
    const ReputationState* stored = it != next.end() ? &it->second : scores_.Find(did);
    const ReputationState after =
        scores_.Next(stored == nullptr ? ReputationState{} : *stored, event, now);
    next.insert_or_assign(did, after);
    rows.emplace_back(did, after);
  }
  if (store_ != nullptr) MESH_RETURN_IF_ERROR(store_->SaveAll(rows));
  for (const auto& [did, state] : next) scores_.Set(did, state);
  return absl::OkStatus();
}

Reputation ReputationBook::Get(std::string_view did) const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  return scores_.Get(did, now);
}

absl::flat_hash_map<std::string, double> ReputationBook::Scores() const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  return scores_.Scores(now);
}

std::vector<Reputation> ReputationBook::All() const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  return scores_.All(now);
}

}  // namespace mesh::ledger
