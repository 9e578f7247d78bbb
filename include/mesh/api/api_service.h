// ApiService: Mesh's HTTP API over a Node — routing, bearer-token checks, JSON in and out,
// errors as {code, message} with the matching HTTP status, long polls (?wait=) and the event
// stream. It is the HttpHandler the HttpServer calls; the routes are listed once (Routes()) and
// checked against the OpenAPI document (openapi.json) by a test.
//
// Reads are open to anyone who can reach the port (bound to 127.0.0.1 by default); every
// request that changes state needs "Authorization: Bearer <token>" (the data dir's api.token).
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
  bool needs_token;
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

  void Shutdown();

 private:
  class Waiter;
  class JobEvents;

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

  // Answers with the job once it has ended or `wait` has passed.
  void AnswerWhenDone(const std::string& id, absl::Duration wait, int status, Responder respond);
  void Forget(Waiter* waiter);
  void Forget(JobEvents* stream);

  node::Node* const node_;
  HttpServer* const server_;
  std::string uploads_dir_;
  Counter* requests_;
  Histogram* latency_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_upload_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
  std::set<std::shared_ptr<JobEvents>> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mesh::api
