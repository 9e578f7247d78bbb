// ApiService: Mesh's HTTP API over a Node — routing, bearer-token checks, JSON in and out,
// errors as {code, message} with the matching HTTP status, long polls (?wait=) and the event
// stream. It is the HttpHandler the HttpServer calls; the routes are listed once (Routes()) and
// checked against the OpenAPI document (openapi.json) by a test.
//
// Every route needs "Authorization: Bearer <token>" (the data dir's api.token) but GET /v1/node
// and GET /metrics, and the dashboard's files (GET / and GET /ui/{file}, embedded in the binary),
// which carry no secrets; [api] anonymous_reads opens every GET. The Host
// header must name this node (api_access.h): anything else gets 421 (DNS rebinding). Only
// POST routes take a body; failures of the server's own checks are counted in
// mesh_http_rejected_total{reason}.
// Thread-safe. Shutdown() ends long polls and event streams; call it before the server stops.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "mesh/api/http_server.h"
#include "mesh/common/metrics.h"
#include "mesh/node/node.h"

namespace mesh::api {

struct RouteInfo {
  std::string method;
  std::string pattern;  // OpenAPI style: /v1/jobs/{id}
  bool needs_token;     // by default; with [api] anonymous_reads, GET routes need none
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

  bool NeedsToken(const RouteInfo& route) const;
  // 404 for an unknown path; 405 with Allow (`allowed`: the path's methods) for a known one.
  HttpResponse Unrouted(const HttpRequest& request, const std::string& allowed);
  HttpResponse PostBlob(HttpRequest& request);
  HttpResponse GetBlob(const HttpRequest& request, const std::string& cid);
  void PostJob(HttpRequest& request, Responder respond);
  HttpResponse ListJobs(const HttpRequest& request);
  void GetJob(const HttpRequest& request, const std::string& id, Responder respond);
  HttpResponse GetOutput(const std::string& id, const HttpRequest& request);
  HttpResponse CancelJob(const std::string& id);
  HttpResponse NodeInfo();
  HttpResponse JobHistory(const std::string& id);  // mesh_routes.cc
  HttpResponse ExplainJob(const std::string& id);
  HttpResponse JobChunks(const std::string& id);  // split_routes.cc
  HttpResponse ChunkProof(const std::string& id, const std::string& index);
  // "partial" or "checkpoint": long_job_routes.cc
  HttpResponse JobArtifacts(const std::string& id, std::string_view kind);
  HttpResponse Peers();
  HttpResponse LedgerBalance(const std::string& did);  // ledger_routes.cc; empty: this node's
  HttpResponse LedgerHistory(const HttpRequest& request);
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
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_upload_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
  std::set<std::shared_ptr<JobEvents>> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::api
