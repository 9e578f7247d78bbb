// ApiService: Mesh's HTTP API over a Node — routing, bearer-token checks, JSON in and out,
// errors as {code, message} with the matching HTTP status, long polls (?wait=) and the event
// stream. It is the HttpHandler the HttpServer calls; the routes are listed once (Routes()) and
// checked against the OpenAPI document (openapi.json) by a test.
//
// Every route needs "Authorization: Bearer <token>" of one of the node's users (node.users():
// the data dir's api.token is user "admin") whose role (accounts/role.h) is at least the
// route's, but GET /v1/node and the dashboard's files (GET / and GET /ui/{file}, embedded in
// the binary), which carry no secrets, and GET /metrics from loopback (Prometheus). A `read`
// or `submit` user sees the inputs and outputs of its own jobs only, and cancels only its own;
// its jobs are signed with its own key and paid from its own account. [api] anonymous_reads
// opens what a `read` user sees (no job's data). Per user: requests per second and jobs in
// flight (429 with Retry-After). A POST or DELETE whose Origin is not this Host is refused
// (403): the dashboard uses no cookies, and no other page may act for it. The Host header must
// name this node (api_access.h): anything else gets 421 (DNS rebinding). Only POST routes take
// a body; failures of the server's own checks are counted in mesh_http_rejected_total{reason}.
// Thread-safe. Shutdown() ends long polls and event streams; call it before the server stops.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "mesh/accounts/request_limits.h"
#include "mesh/accounts/role.h"
#include "mesh/accounts/user_store.h"
#include "mesh/api/http_server.h"
#include "mesh/common/metrics.h"
#include "mesh/common/task_pool.h"
#include "mesh/node/node.h"

namespace mesh::api {

struct RouteInfo {
  std::string method;
  std::string pattern;  // OpenAPI style: /v1/jobs/{id}
  bool needs_token;     // false: GET /v1/node; /metrics needs none from loopback
  accounts::Role role;  // the least role that may call it
};

// Who is calling: a user of the node, or nobody (a route that needs no token, or an anonymous
// read).
struct Caller {
  accounts::User user;
  bool anonymous = true;
  bool admin() const { return !anonymous && user.role == accounts::Role::kAdmin; }
  // May see the data of a job submitted (or a blob paid) by `did`.
  bool Owns(std::string_view did) const { return admin() || (!anonymous && did == user.did); }
};

class ApiService final : public HttpHandler {
 public:
  ApiService(node::Node* node, HttpServer* server);
  ~ApiService() override;

  static const std::vector<RouteInfo>& Routes();
  static std::string_view OpenApiDocument();

  BodyPlan PlanBody(const HttpRequest& head) override;
  void Handle(HttpRequest request, Responder respond) override;
  HttpResponse Error(int status, std::string message) override;
  void OnRejected(std::string_view reason) override;

  void Shutdown();

 private:
  class Waiter;
  class JobEvents;

  // The caller of `request` on `route`, or the answer refusing it (401, 403, 429). `count`:
  // take one request from the caller's per-second allowance (once per request).
  std::variant<Caller, HttpResponse> Authorize(const HttpRequest& request, const RouteInfo& route,
                                               bool count);
  // 404 for an unknown path; 405 with Allow (`allowed`: the path's methods) for a known one.
  HttpResponse Unrouted(const HttpRequest& request, const std::string& allowed);
  HttpResponse PostBlob(HttpRequest& request, const Caller& caller);
  // A directory tree from blobs already uploaded: the entries (JSON) become a manifest.
  HttpResponse PostBlobDir(const HttpRequest& request, const Caller& caller);
  // 403 unless `caller` may read blob `cid`: an admin, its uploader, or (with ?job=ID) the
  // owner of a job that names it (module, input, output, partial, checkpoint, chunk output).
  HttpResponse GetBlob(const HttpRequest& request, const std::string& cid, const Caller& caller);
  HttpResponse ServeBlob(const HttpRequest& request, const std::string& cid);  // no checks
  void PostJob(HttpRequest& request, const Caller& caller, Responder respond);
  HttpResponse ListJobs(const HttpRequest& request);
  void GetJob(const HttpRequest& request, const std::string& id, Responder respond);
  HttpResponse GetOutput(const std::string& id, const HttpRequest& request, const Caller& caller);
  HttpResponse CancelJob(const std::string& id, const Caller& caller);
  // 403 unless `caller` owns `job` (or is an admin). `what`: what was asked of the job
  // ("output", "cancel").
  static std::optional<HttpResponse> RefuseUnlessOwner(const node::JobRecord& job,
                                                       const Caller& caller, std::string_view what);
  // True when `job` names blob `cid` (module, input, output, partial, checkpoint, chunk).
  bool JobNamesBlob(const node::JobRecord& job, const std::string& cid);
  // 429 when `caller` has its most jobs in flight (those since ended are forgotten first).
  std::optional<HttpResponse> CheckJobsInFlight(const Caller& caller);
  // user_routes.cc: GET /v1/me, /v1/users (GET, POST), /v1/users/{name} (DELETE),
  // /v1/users/{name}/token (POST).
  HttpResponse Me(const Caller& caller);
  HttpResponse ListUsers();
  HttpResponse AddUser(const HttpRequest& request);
  HttpResponse RemoveUser(const std::string& name);
  HttpResponse RotateToken(const std::string& name);
  HttpResponse NodeInfo();
  HttpResponse JobHistory(const std::string& id);  // mesh_routes.cc
  HttpResponse ExplainJob(const std::string& id);
  HttpResponse JobChunks(const std::string& id);  // split_routes.cc
  HttpResponse ChunkProof(const std::string& id, const std::string& index);
  // "partial" or "checkpoint": long_job_routes.cc
  HttpResponse JobArtifacts(const std::string& id, std::string_view kind);
  HttpResponse Peers();
  // Stored files (store_routes.cc). Puts, gets and removals move shards between peers: they
  // run on store_ops_ and answer when done.
  void PutStore(HttpRequest request, const Caller& caller, Responder respond);
  HttpResponse ListStore(const HttpRequest& request, const Caller& caller);
  HttpResponse StatStore(const std::string& cid, const Caller& caller);
  void GetStore(const std::string& cid, const Caller& caller, Responder respond);
  void RemoveStore(const std::string& cid, const Caller& caller, Responder respond);
  // The caller's stored file, or the response refusing it (404 / 403).
  // Runs `task` on store_ops_; answers 503 when the service is shutting down.
  void RunStoreOp(std::function<void()> task, const Responder& respond);
  std::variant<node::StoredFileRecord, HttpResponse> OwnStoredFile(const std::string& cid,
                                                                   const Caller& caller);
  HttpResponse LedgerBalance(const std::string& did);  // ledger_routes.cc
  // The caller's own entries by default; another DID's need admin.
  HttpResponse LedgerHistory(const HttpRequest& request, const Caller& caller);
  HttpResponse LedgerVerify();
  HttpResponse ReputationList();
  HttpResponse Events(const HttpRequest& request);
  HttpResponse Metrics();
  // GET / (`name` empty: index.html) and GET /ui/{name}: dashboard_routes.cc.
  HttpResponse DashboardFile(const HttpRequest& request, std::string_view name);

  // Answers with the job once it has ended or `wait` has passed.
  // `seen`: the event bus's last event when the caller read the job as not yet ended; the
  // job's end, if it came since, is on the bus after it (no database read needed to find out).
  void AnswerWhenDone(const std::string& id, absl::Duration wait, int status, uint64_t seen,
                      Responder respond);
  void Forget(Waiter* waiter);
  void Forget(JobEvents* stream);

  node::Node* const node_;
  HttpServer* const server_;
  std::string uploads_dir_;
  Counter* requests_;
  Histogram* latency_;
  Counter* rejected_;
  accounts::RequestLimits limits_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_upload_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
  std::set<std::shared_ptr<JobEvents>> streams_ ABSL_GUARDED_BY(mu_);
  // Users whose unfinished jobs from before this start are counted in limits_ (names).
  std::set<std::string> counted_users_ ABSL_GUARDED_BY(mu_);
  // Made by the first stored-file request (an idle node starts no threads for it); stopped by
  // Shutdown. Its tasks use the members above.
  std::unique_ptr<TaskPool> store_ops_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::api
