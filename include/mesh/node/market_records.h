// The node's records as the market core's values and back: what MeshService hands the core
// (a Ticket for a job, a LocalRunEnd for a run here, MarketOptions) and what it stores of the
// core's actions (a JobRecord with a JobResult laid over it, the writes of a step). Reads the
// blob store and the job store where the core needs a fact it cannot read itself (sizes, the
// latest checkpoint); otherwise pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mesh/cas/blob_store.h"
#include "mesh/market/market.h"
#include "mesh/membership/membership.h"
#include "mesh/node/job_store.h"
#include "mesh/node/mesh_options.h"

namespace mesh::node {

// The membership core's options: the views' sizes, heartbeat and dead_after from `options`.
membership::MembershipOptions MembershipOptionsOf(const MeshOptions& options);
market::MarketOptions MarketOptionsOf(const MeshOptions& options, std::string self,
                                      std::string address);

// Bytes of blob `cid` in the store; 0 if it is not there (or `cid` is not a CID).
uint64_t BlobSize(cas::BlobStore& blobs, const std::string& cid);
// The inputs and the files of the mounted trees (those whose manifest is here).
uint64_t InputBytes(cas::BlobStore& blobs, const job::JobSpec& spec);

// A delegated job for the core: a resumed one carries its round, attempts, last executor,
// whether an executor ran it, and the latest checkpoint in its history.
market::Ticket TicketOf(const JobRecord& job, cas::BlobStore& blobs, JobStore& jobs);

// The end of a job run here for another node, as its receipt reports it. A job failed by a
// restart of this node is an executor's error (the submitter goes to its next candidate).
market::LocalRunEnd RunEndOf(const JobRecord& job, cas::BlobStore& blobs);

// The stored record of a delegated job with the core's result laid over it.
JobRecord WithResult(JobRecord stored, const market::JobResult& result);

// One step's Persist actions as one JobStore::ApplyMarketStep batch.
std::vector<MarketWrite> WritesOf(const std::vector<const market::Persist*>& persists);

}  // namespace mesh::node
