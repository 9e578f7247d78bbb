#include "mesh/api/api_service.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/match.h"
#include "api_access.h"
#include "api_json.h"
#include "mesh/cas/dir_manifest.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/did_key.h"
#include "mesh/wasm/limits.h"
#include "spdlog/spdlog.h"

namespace mesh::api {
namespace {

using nlohmann::json;

constexpr size_t kDefaultListLimit = 100;
constexpr size_t kMaxListLimit = 1000;
constexpr absl::Duration kMaxWait = absl::Minutes(10);
constexpr std::string_view kEnvelopeContentType = "application/vnd.mesh.envelope";

enum class Op {
  kPostBlob,
  kPostBlobDir,
  kGetBlob,
  kPostJob,
  kListJobs,
  kGetJob,
  kGetOutput,
  kCancelJob,
  kNode,
  kNodeProfile,
  kJobHistory,
  kExplainJob,
  kJobChunks,
  kJobPartials,
  kJobCheckpoints,
  kChunkProof,
  kPeers,
  kLedgerBalance,
  kLedgerBalanceOf,
  kLedgerHistory,
  kLedgerVerify,
  kReputation,
  kEvents,
  kMetrics,
  kOpenApi,
  kMe,
  kListUsers,
  kAddUser,
  kRemoveUser,
  kRotateToken,
  kPutStore,
  kListStore,
  kStatStore,
  kGetStore,
  kRemoveStore,
  kDashboard,
  kDashboardFile
};

using accounts::Role;
constexpr Role kRead = Role::kRead;
constexpr Role kSubmit = Role::kSubmit;
constexpr Role kAdmin = Role::kAdmin;

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    parts.emplace_back(
        path.substr(start, slash == std::string_view::npos ? path.npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

absl::StatusOr<absl::Duration> ParseWait(const HttpRequest& request) {
  const std::string text = request.Query("wait");
  if (text.empty()) return absl::ZeroDuration();
  absl::StatusOr<absl::Duration> wait = wasm::ParseWallTime(text);
  if (!wait.ok()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("query parameter wait=", text, ": ", wait.status().message()));
  }
  return std::min(*wait, kMaxWait);
}

HttpResponse Unauthenticated(std::string message) {
  HttpResponse r = ErrorResponse(401, "unauthenticated", std::move(message));
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"meshd\"");
  return r;
}

// True when `origin` (an Origin header) is this node as the client reached it: the scheme
// http and the Host header's name and port. Compared case-insensitively.
bool SameOrigin(std::string_view origin, std::string_view host) {
  constexpr std::string_view kScheme = "http://";
  if (origin.size() != kScheme.size() + host.size()) return false;
  return absl::EqualsIgnoreCase(ToAbsl(origin.substr(0, kScheme.size())), ToAbsl(kScheme)) &&
         absl::EqualsIgnoreCase(ToAbsl(origin.substr(kScheme.size())), ToAbsl(host));
}

std::string SseText(const node::Event& e) {
  return mesh::StrCat("id: ", e.seq, "\nevent: ", e.type, "\ndata: ", e.json, "\n\n");
}

struct Route {
  RouteInfo info;
  Op op;
  std::vector<std::string> parts;  // the pattern's segments, split once
};

const std::vector<Route>& RouteTable() {
  static const auto* table = [] {
    auto* t = new std::vector<Route>{
        {{"POST", "/v1/blobs", true, kSubmit}, Op::kPostBlob},
        {{"POST", "/v1/blobs/dir", true, kSubmit}, Op::kPostBlobDir},
        {{"GET", "/v1/blobs/{cid}", true, kRead}, Op::kGetBlob},
        {{"POST", "/v1/jobs", true, kSubmit}, Op::kPostJob},
        {{"GET", "/v1/jobs", true, kRead}, Op::kListJobs},
        {{"GET", "/v1/jobs/{id}", true, kRead}, Op::kGetJob},
        {{"GET", "/v1/jobs/{id}/output", true, kRead}, Op::kGetOutput},
        {{"DELETE", "/v1/jobs/{id}", true, kSubmit}, Op::kCancelJob},
        {{"GET", "/v1/jobs/{id}/history", true, kRead}, Op::kJobHistory},
        {{"GET", "/v1/jobs/{id}/explain", true, kRead}, Op::kExplainJob},
        {{"GET", "/v1/jobs/{id}/chunks", true, kRead}, Op::kJobChunks},
        {{"GET", "/v1/jobs/{id}/partials", true, kRead}, Op::kJobPartials},
        {{"GET", "/v1/jobs/{id}/checkpoints", true, kRead}, Op::kJobCheckpoints},
        {{"GET", "/v1/jobs/{id}/chunks/{index}/proof", true, kRead}, Op::kChunkProof},
        {{"GET", "/v1/node", false, kRead}, Op::kNode},
        // Hardware, OS and kernel are for the node's users, not for anyone who can connect.
        {{"GET", "/v1/node/profile", true, kRead}, Op::kNodeProfile},
        {{"GET", "/v1/peers", true, kRead}, Op::kPeers},
        {{"POST", "/v1/store", true, kSubmit}, Op::kPutStore},
        {{"GET", "/v1/store", true, kRead}, Op::kListStore},
        {{"GET", "/v1/store/{cid}", true, kRead}, Op::kStatStore},
        {{"GET", "/v1/store/{cid}/content", true, kRead}, Op::kGetStore},
        {{"DELETE", "/v1/store/{cid}", true, kSubmit}, Op::kRemoveStore},
        {{"GET", "/v1/ledger/balance", true, kRead}, Op::kLedgerBalance},
        {{"GET", "/v1/ledger/balance/{did}", true, kRead}, Op::kLedgerBalanceOf},
        {{"GET", "/v1/ledger/history", true, kRead}, Op::kLedgerHistory},
        {{"GET", "/v1/ledger/verify", true, kRead}, Op::kLedgerVerify},
        {{"GET", "/v1/reputation", true, kRead}, Op::kReputation},
        {{"GET", "/v1/events", true, kRead}, Op::kEvents},
        {{"GET", "/metrics", true, kRead}, Op::kMetrics},
        {{"GET", "/v1/openapi.json", true, kRead}, Op::kOpenApi},
        {{"GET", "/v1/me", true, kRead}, Op::kMe},
        {{"GET", "/v1/users", true, kAdmin}, Op::kListUsers},
        {{"POST", "/v1/users", true, kAdmin}, Op::kAddUser},
        {{"DELETE", "/v1/users/{name}", true, kAdmin}, Op::kRemoveUser},
        {{"POST", "/v1/users/{name}/token", true, kAdmin}, Op::kRotateToken},
        // The dashboard's files, embedded in the binary; no secrets, so no token (the page asks
        // for one and sends it to /v1). Flat names: one {file} segment covers them all.
        {{"GET", "/", false, kRead}, Op::kDashboard},
        {{"GET", "/ui/{file}", false, kRead}, Op::kDashboardFile},
    };
    for (Route& r : *t) r.parts = Split(r.info.pattern);
    return t;
  }();
  return *table;
}

struct RouteMatch {
  const Route* route = nullptr;     // null: no route for this method
  std::vector<std::string> params;  // the {...} segments, in order
  std::string allowed;              // methods the path has ("GET, DELETE"); empty: unknown path
};

RouteMatch MatchRoute(const std::string& method, const std::string& path) {
  RouteMatch result;
  const std::vector<std::string> parts = Split(path);
  for (const Route& entry : RouteTable()) {
    const std::vector<std::string>& pattern = entry.parts;
    if (pattern.size() != parts.size()) continue;
    std::vector<std::string> params;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      if (!pattern[i].empty() && pattern[i].front() == '{') {
        ok = !parts[i].empty();
        params.push_back(parts[i]);
      } else {
        ok = pattern[i] == parts[i];
      }
    }
    if (!ok) continue;
    result.allowed += (result.allowed.empty() ? "" : ", ") + entry.info.method;
    if (entry.info.method == method && result.route == nullptr) {
      result.route = &entry;
      result.params = std::move(params);
    }
  }
  return result;
}

}  // namespace

const std::vector<RouteInfo>& ApiService::Routes() {
  static const auto* routes = [] {
    auto* v = new std::vector<RouteInfo>;
    for (const Route& r : RouteTable()) v->push_back(r.info);
    return v;
  }();
  return *routes;
}

// A long poll: answers with the job once it has ended, or when the wait is over.
class ApiService::Waiter : public std::enable_shared_from_this<Waiter> {
 public:
  // `seen`: the bus's last event when the caller found the job not ended (read before that
  // look), so OnEvent looks at every event of the job since.
  Waiter(ApiService* api, std::string id, int status, uint64_t seen, Responder respond)
      : api_(api), id_(std::move(id)), status_(status), respond_(std::move(respond)), seen_(seen) {}

  // Woken by an event of the job. Most are not its end (job.running, progress): read the job
  // back from the database only when the bus shows a final event since the last look, or lost
  // events. A database read costs far more than the look, and the runners wait on the job store
  // while it runs (bench/README.md, "meshd: HTTP API"). The job store is written before the
  // event is published, so after a final event the read sees the final state.
  void OnEvent() {
    if (done() || !MayHaveEnded()) return;
    Check(false);
  }

  void Check(bool timed_out) {
    if (done()) return;
    absl::StatusOr<node::JobRecord> job = api_->node_->compute().Get(id_);
    if (job.ok() && !job::IsTerminal(job->state) && !timed_out) return;
    Finish(job.ok() ? JsonResponse(status_, JobToJson(*job)) : StatusResponse(job.status()));
  }

  void Finish(HttpResponse response) {
    uint64_t subscription;
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
      done_ = true;
      subscription = subscription_;
    }
    if (subscription != 0) api_->node_->events().Unsubscribe(subscription);
    api_->Forget(this);
    respond_(std::move(response));
  }

  // The subscription is known only once Subscribe returns, which may be after a check ran.
  void SetSubscription(uint64_t subscription) {
    {
      absl::MutexLock lock(&mu_);
      if (!done_) {
        subscription_ = subscription;
        return;
      }
    }
    api_->node_->events().Unsubscribe(subscription);
  }

 private:
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }

  bool MayHaveEnded() {
    constexpr size_t kBatch = 64;
    absl::MutexLock lock(&mu_);  // the bus never calls back into a waiter under its own lock
    while (true) {
      node::EventBatch batch = api_->node_->events().Since(seen_, id_, kBatch);
      seen_ = batch.scanned_to;
      if (batch.gap) return true;
      for (const node::Event& e : batch.events) {
        const std::optional<job::JobState> state = job::ParseJobState(e.state);
        if (state.has_value() && job::IsTerminal(*state)) return true;
      }
      if (batch.events.size() < kBatch) return false;
    }
  }

  ApiService* const api_;
  const std::string id_;
  const int status_;
  Responder respond_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t seen_ ABSL_GUARDED_BY(mu_);  // the last bus event OnEvent has looked at
};

// The event stream of one client: what the bus has after the last event sent.
class ApiService::JobEvents final : public EventStream {
 public:
  // `stale`: the client named an event this process never published (ids restart with the
  // process): it is told of a gap and gets every retained event.
  JobEvents(ApiService* api, std::string job, uint64_t after, bool stale)
      : api_(api), job_(std::move(job)), after_(stale ? 0 : after), stale_(stale) {}

  void Start(std::function<void()> wake) override {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    subscription_ = api_->node_->events().Subscribe(job_, std::move(wake));
  }

  std::string Next() override {
    absl::MutexLock lock(&mu_);
    node::EventBatch batch = api_->node_->events().Since(after_, job_, 256);
    std::string text;
    if (batch.gap || std::exchange(stale_, false)) {
      text += mesh::StrCat("event: gap\ndata: {\"after\":", after_,
                           ",\"message\":\"events were dropped; re-read job states\"}\n\n");
    }
    for (const node::Event& e : batch.events) text += SseText(e);
    after_ = batch.scanned_to;
    // More than one batch waiting: the writer asks again once this one is out.
    return text;
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      if (subscription_ != 0) api_->node_->events().Unsubscribe(subscription_);
    }
    api_->Forget(this);
  }

 private:
  ApiService* const api_;
  const std::string job_;
  absl::Mutex mu_;
  uint64_t after_ ABSL_GUARDED_BY(mu_);
  bool stale_ ABSL_GUARDED_BY(mu_);
  uint64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

ApiService::ApiService(node::Node* node, HttpServer* server)
    : node_(node),
      server_(server),
      uploads_dir_((node->data_dir().root / "uploads").string()),
      requests_(node->metrics().AddCounter("mesh_http_requests_total", "HTTP API requests",
                                           {"route", "code"})),
      latency_(node->metrics().AddHistogram("mesh_http_request_seconds",
                                            "Time to answer HTTP API requests",
                                            ExponentialBuckets(0.00005, 4, 12), {"route"})),
      rejected_(node->metrics().AddCounter(
          "mesh_http_rejected_total",
          "HTTP requests and connections refused or dropped before a handler ran, by reason",
          {"reason"})) {
  // Read only by /metrics, which this server answers: it never outlives the server.
  node->metrics().AddGaugeCallback("mesh_http_connections",
                                   "Open HTTP API connections (not counting those refused)",
                                   [server] { return double(server->open_connections()); });
  std::error_code ec;
  std::filesystem::remove_all(uploads_dir_, ec);  // uploads a crash left half-written
  std::filesystem::create_directories(uploads_dir_, ec);
}

ApiService::~ApiService() { Shutdown(); }

std::variant<Caller, HttpResponse> ApiService::Authorize(const HttpRequest& request,
                                                         const RouteInfo& route, bool count) {
  const node::NodeConfig& config = node_->config();
  if (request.method != "GET") {
    // Another site's page may send requests to this node with the browser's help; none of
    // them may change anything. Clients that are not browsers send no Origin.
    const std::string origin = request.Header("origin");
    if (!origin.empty() && !SameOrigin(origin, request.Header("host"))) {
      return ErrorResponse(
          403, "permission_denied",
          mesh::StrCat("a ", request.method, " from origin ", origin.substr(0, 100),
                       " is refused: only this node's own pages may change "
                       "anything"));
    }
  }
  Caller caller;
  if (!route.needs_token || (route.pattern == "/metrics" && request.from_loopback)) return caller;
  const std::string token = BearerToken(request.Header("authorization"));
  if (token.empty()) {
    if (config.anonymous_reads && request.method == "GET" && route.role == Role::kRead) {
      return caller;
    }
    return Unauthenticated(mesh::StrCat(
        request.method, " ", route.pattern,
        " needs \"Authorization: Bearer <token>\": a user's token (mesh user add), or the "
        "node's own in its data dir (api.token)"));
  }
  const absl::Time now = node_->clock().Now();
  absl::StatusOr<accounts::User> user = node_->users().Authenticate(token, now);
  if (!user.ok()) return Unauthenticated(std::string(user.status().message()));
  caller.user = *std::move(user);
  caller.anonymous = false;
  if (!accounts::Allows(caller.user.role, route.role)) {
    return ErrorResponse(
        403, "permission_denied",
        mesh::StrCat("user ", caller.user.name, " has role ", RoleName(caller.user.role), "; ",
                     route.method, " ", route.pattern, " needs ", RoleName(route.role)));
  }
  if (count) {
    if (std::optional<absl::Duration> wait =
            limits_.TakeRequest(caller.user.name, caller.user.requests_per_second, now)) {
      const int64_t seconds =
          std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(*wait, absl::Seconds(1))));
      HttpResponse r = ErrorResponse(
          429, "resource_exhausted",
          mesh::StrCat("user ", caller.user.name, " may make ", caller.user.requests_per_second,
                       " requests a second; retry in ", seconds, " s"));
      r.headers.emplace_back("Retry-After", std::to_string(seconds));
      return r;
    }
  }
  return caller;
}

BodyPlan ApiService::PlanBody(const HttpRequest& head) {
  BodyPlan plan;
  const node::NodeConfig& config = node_->config();
  // Only POST routes take a body; any other is refused (413) before a byte of it is read.
  plan.limit = head.method == "POST" ? config.max_json_bytes : 0;
  // The Host comes first: a page on another site that reached the node through DNS rebinding
  // learns nothing, not even which routes exist.
  if (absl::Status host = CheckHost(head.Header("host"), config.listen_host, config.allowed_hosts);
      !host.ok()) {
    const bool malformed = host.code() == absl::StatusCode::kInvalidArgument;
    rejected_->WithLabels({malformed ? "bad_host" : "host_not_allowed"})->Inc();
    requests_->WithLabels({"host", malformed ? "400" : "421"})->Inc();
    plan.reject = std::make_unique<HttpResponse>(
        ErrorResponse(malformed ? 400 : 421, malformed ? "invalid_argument" : "misdirected_request",
                      ToStd(host.message())));
    return plan;
  }
  // A request without the token is answered before its body is read, so nobody without the
  // token can make the node store (or buffer) anything.
  const RouteMatch found = MatchRoute(head.method, head.path);
  // No route, no body: a POST to an unknown path (or with the wrong method) is answered before
  // its body is read, or anyone could make the node hold a megabyte per connection.
  if (found.route == nullptr) {
    plan.reject = std::make_unique<HttpResponse>(Unrouted(head, found.allowed));
    return plan;
  }
  if (auto refused = Authorize(head, found.route->info, /*count=*/true);
      std::holds_alternative<HttpResponse>(refused)) {
    HttpResponse& r = std::get<HttpResponse>(refused);
    requests_
        ->WithLabels({r.status == 401 ? "unauthenticated" : "refused", std::to_string(r.status)})
        ->Inc();
    plan.reject = std::make_unique<HttpResponse>(std::move(r));
    return plan;
  }
  if (head.method == "POST" && head.path == "/v1/blobs/dir") {
    // A tree's entries: as large as the manifest they become may be (its own bound), not more.
    plan.limit =
        std::max<uint64_t>(config.max_json_bytes, cas::ManifestLimits{}.max_manifest_bytes);
  }
  if (head.method == "POST" && (head.path == "/v1/blobs" || head.path == "/v1/store")) {
    plan.limit = node_->config().max_blob_bytes;
    absl::MutexLock lock(&mu_);
    plan.file = mesh::StrCat(uploads_dir_, "/upload-", ::getpid(), "-", next_upload_++);
  }
  return plan;
}

void ApiService::OnRejected(std::string_view reason) {
  rejected_->WithLabels({std::string(reason)})->Inc();
}

HttpResponse ApiService::Error(int status, std::string message) {
  requests_->WithLabels({"error", std::to_string(status)})->Inc();
  return ErrorResponse(status, ErrorCodeName(status, absl::StatusCode::kUnknown), message);
}

HttpResponse ApiService::Unrouted(const HttpRequest& request, const std::string& allowed) {
  if (allowed.empty()) {
    return Error(404, mesh::StrCat("no route ", request.path, "; see GET /v1/openapi.json"));
  }
  HttpResponse r = Error(405, mesh::StrCat(request.method, " is not allowed on ", request.path,
                                           "; allowed: ", allowed));
  r.headers.emplace_back("Allow", allowed);
  return r;
}

void ApiService::Handle(HttpRequest request, Responder respond) {
  const RouteMatch found = MatchRoute(request.method, request.path);
  const Route* match = found.route;
  const std::vector<std::string>& params = found.params;
  if (!request.body_file.empty() &&
      (match == nullptr || (match->op != Op::kPostBlob && match->op != Op::kPutStore))) {
    std::remove(request.body_file.c_str());
  }
  if (match == nullptr) {
    respond(Unrouted(request, found.allowed));
    return;
  }
  const std::string route = match->info.pattern;
  const absl::Time start = absl::Now();
  Responder measured = [this, route, start, respond = std::move(respond)](HttpResponse r) {
    requests_->WithLabels({route, std::to_string(r.status)})->Inc();
    latency_->WithLabels({route})->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    respond(std::move(r));
  };
  // PlanBody let it through (and counted it); the token is checked again, as it may have been
  // revoked while the body was read.
  std::variant<Caller, HttpResponse> authorized = Authorize(request, match->info, false);
  if (std::holds_alternative<HttpResponse>(authorized)) {
    if (!request.body_file.empty()) std::remove(request.body_file.c_str());
    measured(std::get<HttpResponse>(std::move(authorized)));
    return;
  }
  const Caller& caller = std::get<Caller>(authorized);
  switch (match->op) {
    case Op::kPostBlob:
      return measured(PostBlob(request, caller));
    case Op::kPostBlobDir:
      return measured(PostBlobDir(request, caller));
    case Op::kGetBlob:
      return measured(GetBlob(request, params[0], caller));
    case Op::kPostJob:
      return PostJob(request, caller, std::move(measured));
    case Op::kListJobs:
      return measured(ListJobs(request));
    case Op::kGetJob:
      return GetJob(request, params[0], std::move(measured));
    case Op::kGetOutput:
      return measured(GetOutput(params[0], request, caller));
    case Op::kCancelJob:
      return measured(CancelJob(params[0], caller));
    case Op::kNode:
      return measured(NodeInfo());
    case Op::kNodeProfile: {
      const node::NodeProfiler& profiler = node_->profiler();
      json body = node::ToJson(profiler.Get());
      body["ready"] = profiler.ready();
      return measured(JsonResponse(200, body));
    }
    case Op::kJobHistory:
      return measured(JobHistory(params[0]));
    case Op::kExplainJob:
      return measured(ExplainJob(params[0]));
    case Op::kJobChunks:
      return measured(JobChunks(params[0]));
    case Op::kJobPartials:
      return measured(JobArtifacts(params[0], "partial"));
    case Op::kJobCheckpoints:
      return measured(JobArtifacts(params[0], "checkpoint"));
    case Op::kChunkProof:
      return measured(ChunkProof(params[0], params[1]));
    case Op::kPeers:
      return measured(Peers());
    case Op::kPutStore:
      return PutStore(std::move(request), caller, std::move(measured));
    case Op::kListStore:
      return measured(ListStore(request, caller));
    case Op::kStatStore:
      return measured(StatStore(params[0], caller));
    case Op::kGetStore:
      return GetStore(params[0], caller, std::move(measured));
    case Op::kRemoveStore:
      return RemoveStore(params[0], caller, std::move(measured));
    case Op::kLedgerBalance:  // the caller's own account
      return measured(
          LedgerBalance(caller.anonymous ? node_->key().did().ToString() : caller.user.did));
    case Op::kLedgerBalanceOf:
      return measured(LedgerBalance(params[0]));
    case Op::kLedgerHistory:
      return measured(LedgerHistory(request, caller));
    case Op::kLedgerVerify:
      return measured(LedgerVerify());
    case Op::kReputation:
      return measured(ReputationList());
    case Op::kEvents:
      return measured(Events(request));
    case Op::kMetrics:
      return measured(Metrics());
    case Op::kOpenApi: {
      HttpResponse r;
      r.body = std::string(OpenApiDocument());
      return measured(std::move(r));
    }
    case Op::kMe:
      return measured(Me(caller));
    case Op::kListUsers:
      return measured(ListUsers());
    case Op::kAddUser:
      return measured(AddUser(request));
    case Op::kRemoveUser:
      return measured(RemoveUser(params[0]));
    case Op::kRotateToken:
      return measured(RotateToken(params[0]));
    case Op::kDashboard:
      return measured(DashboardFile(request, ""));
    case Op::kDashboardFile:
      return measured(DashboardFile(request, params[0]));
  }
}

void ApiService::PostJob(HttpRequest& request, const Caller& caller, Responder respond) {
  absl::StatusOr<absl::Duration> wait = ParseWait(request);
  if (!wait.ok()) return respond(StatusResponse(wait.status()));
  if (std::optional<HttpResponse> full = CheckJobsInFlight(caller))
    return respond(*std::move(full));
  node::SubmitRequest submit;
  submit.idempotency_key = request.Header("idempotency-key");
  if (submit.idempotency_key.size() > 256) {
    return respond(ErrorResponse(400, "invalid_argument", "Idempotency-Key is over 256 bytes"));
  }
  // A user's keys are its own: another user's key names another job.
  if (!submit.idempotency_key.empty() && !caller.user.node_identity) {
    submit.idempotency_key = mesh::StrCat("user:", caller.user.name, ":", submit.idempotency_key);
  }
  // The node signs as the user, with the user's own key: the job is submitted and paid as it.
  absl::StatusOr<std::optional<crypto::KeyPair>> signer =
      node_->users().SigningKey(caller.user.name);
  if (!signer.ok()) return respond(StatusResponse(signer.status()));
  if (signer->has_value()) submit.signer = &**signer;
  const std::string content_type = request.Header("content-type");
  if (content_type.rfind(kEnvelopeContentType, 0) == 0) {
    if (!caller.admin()) {
      return respond(ErrorResponse(
          403, "permission_denied",
          mesh::StrCat("user ", caller.user.name, " has role ", RoleName(caller.user.role),
                       "; a spec signed elsewhere is paid by its signer, so only an admin may "
                       "submit one; send the spec as JSON and the node signs it as you")));
    }
    submit.envelope = std::move(request.body);
  } else {
    json body;
    try {
      body = json::parse(request.body);
    } catch (const json::parse_error& e) {
      return respond(ErrorResponse(
          400, "invalid_argument",
          mesh::StrCat("request body is not valid JSON at byte ", e.byte, ": ", e.what())));
    } catch (const json::exception& e) {
      // out_of_range.406 for a number no double holds ("fuel": 1e400), and the like.
      return respond(
          ErrorResponse(400, "invalid_argument",
                        mesh::StrCat("request body is not usable JSON: ", e.what(),
                                     "; numbers must fit in 64 bits (limits are integers)")));
    }
    absl::StatusOr<job::JobSpec> spec = absl::InternalError("not parsed");
    try {
      spec = job::JobSpecFromJson(body, /*require_identity=*/false);
    } catch (const json::exception& e) {
      // The spec reader checks types before it reads; this is the net under it.
      return respond(ErrorResponse(400, "invalid_argument",
                                   mesh::StrCat("the job spec cannot be read: ", e.what())));
    }
    if (!spec.ok()) return respond(StatusResponse(spec.status()));
    if (!spec->submitter.empty() || spec->created_at_ms != 0 || !spec->nonce.empty()) {
      return respond(ErrorResponse(400, "invalid_argument",
                                   "submitter, created_at_ms and nonce are set by the signer; "
                                   "send a signed envelope (Content-Type: "
                                   "application/vnd.mesh.envelope) to set them yourself"));
    }
    submit.spec = *std::move(spec);
  }
  // A stored file is an input of its owner's jobs only (and of admins').
  for (const node::StoredFileRecord& f : node_->stored_inputs().OwnFiles(submit.spec.inputs)) {
    if (!caller.Owns(f.user)) {
      return respond(ErrorResponse(
          403, "permission_denied",
          mesh::StrCat("input ", f.cid, " is a stored file of another user; a job may read the ",
                       "files its user stored")));
    }
  }
  // Before the submission: the job's end, if it comes before the wait starts, is after it.
  const uint64_t seen = node_->events().last_seq();
  absl::StatusOr<node::SubmitResult> result = node_->compute().Submit(std::move(submit));
  if (!result.ok()) return respond(StatusResponse(result.status()));
  if (caller.user.max_jobs_in_flight > 0 && !job::IsTerminal(result->job.state)) {
    limits_.Submitted(caller.user.name, result->job.id);
  }
  const int status = result->created ? 201 : 200;
  std::string location = mesh::StrCat("/v1/jobs/", result->job.id);
  if (*wait > absl::ZeroDuration() && !job::IsTerminal(result->job.state)) {
    // The same Location header as without ?wait, once the job has ended (or the wait is over).
    return AnswerWhenDone(
        result->job.id, *wait, status, seen,
        [location = std::move(location), respond = std::move(respond)](HttpResponse r) mutable {
          if (r.status / 100 == 2) r.headers.emplace_back("Location", location);
          respond(std::move(r));
        });
  }
  HttpResponse r = JsonResponse(status, JobToJson(result->job));
  r.headers.emplace_back("Location", std::move(location));
  respond(std::move(r));
}

void ApiService::AnswerWhenDone(const std::string& id, absl::Duration wait, int status,
                                uint64_t seen, Responder respond) {
  auto waiter = std::make_shared<Waiter>(this, id, status, seen, std::move(respond));
  bool shut_down;
  {
    absl::MutexLock lock(&mu_);
    shut_down = shut_down_;
    if (!shut_down) waiters_.insert(waiter);
  }
  if (shut_down) {  // answered outside mu_: Finish takes it (Forget)
    waiter->Finish(ErrorResponse(503, "unavailable", "the node is shutting down"));
    return;
  }
  std::weak_ptr<Waiter> weak = waiter;
  // Woken under the bus's lock: only schedule the check here.
  waiter->SetSubscription(node_->events().Subscribe(id, [this, weak] {
    server_->RunAfter(absl::ZeroDuration(), [weak] {
      if (auto w = weak.lock()) w->OnEvent();
    });
  }));
  server_->RunAfter(wait, [weak] {
    if (auto w = weak.lock()) w->Check(true);
  });
  // It may have ended before the subscription: the bus says so without a database read.
  waiter->OnEvent();
}

namespace {

// Drops `item` from a set of owners of such items.
template <class T>
void EraseOwned(std::set<std::shared_ptr<T>>& owners, const T* item) {
  for (auto it = owners.begin(); it != owners.end(); ++it) {
    if (it->get() == item) {
      owners.erase(it);
      return;
    }
  }
}

}  // namespace

void ApiService::Forget(Waiter* waiter) {
  absl::MutexLock lock(&mu_);
  EraseOwned(waiters_, waiter);
}

void ApiService::Forget(JobEvents* stream) {
  absl::MutexLock lock(&mu_);
  EraseOwned(streams_, stream);
}

HttpResponse ApiService::ListJobs(const HttpRequest& request) {
  node::JobFilter filter;
  if (const std::string s = request.Query("state"); !s.empty()) {
    filter.state = job::ParseJobState(s);
    if (!filter.state.has_value()) {
      return ErrorResponse(400, "invalid_argument",
                           mesh::StrCat("query parameter state=", s,
                                        ": expected queued, running, succeeded, failed or "
                                        "cancelled"));
    }
  }
  size_t limit = kDefaultListLimit;
  int64_t before = 0;
  if (const std::string v = request.Query("before"); !v.empty()) {
    if (!absl::SimpleAtoi(ToAbsl(v), &before) || before < 0) {
      return ErrorResponse(400, "invalid_argument",
                           mesh::StrCat("query parameter before=", v,
                                        ": expected a non-negative integer (a job's seq)"));
    }
  }
  if (absl::StatusOr<size_t> l = LimitQuery(request, kDefaultListLimit, kMaxListLimit); l.ok()) {
    limit = *l;
  } else {
    return StatusResponse(l.status());
  }
  // label=KEY or label=KEY=VALUE (split at the first '='); submitter=DID.
  if (const std::string v = request.Query("label"); !v.empty()) {
    const size_t eq = v.find('=');
    filter.label_key = v.substr(0, eq);
    if (eq != std::string::npos) filter.label_value = v.substr(eq + 1);
    if (filter.label_key.empty()) {
      return ErrorResponse(400, "invalid_argument",
                           mesh::StrCat("query parameter label=", v,
                                        ": expected KEY or KEY=VALUE (e.g. label=batch=nightly)"));
    }
  }
  if (const std::string v = request.Query("submitter"); !v.empty()) {
    if (!crypto::DidKey::Parse(v).ok()) {
      return ErrorResponse(
          400, "invalid_argument",
          mesh::StrCat("query parameter submitter=", v.substr(0, 100), ": expected a did:key"));
    }
    filter.submitter = v;
  }
  absl::StatusOr<std::vector<node::JobRecord>> jobs = node_->compute().List(filter, limit, before);
  if (!jobs.ok()) return StatusResponse(jobs.status());
  json list = json::array();
  for (const node::JobRecord& j : *jobs) list.push_back(JobToJson(j));
  json body = {{"jobs", std::move(list)}};
  if (jobs->size() == limit) body["next_before"] = jobs->back().seq;
  return JsonResponse(200, body);
}

void ApiService::GetJob(const HttpRequest& request, const std::string& id, Responder respond) {
  absl::StatusOr<absl::Duration> wait = ParseWait(request);
  if (!wait.ok()) return respond(StatusResponse(wait.status()));
  const uint64_t seen = node_->events().last_seq();  // before the read: see AnswerWhenDone
  absl::StatusOr<node::JobRecord> job = node_->compute().Get(id);
  if (!job.ok()) return respond(StatusResponse(job.status()));
  if (*wait > absl::ZeroDuration() && !job::IsTerminal(job->state)) {
    return AnswerWhenDone(id, *wait, 200, seen, std::move(respond));
  }
  respond(JsonResponse(200, JobToJson(*job)));
}

HttpResponse ApiService::GetOutput(const std::string& id, const HttpRequest& request,
                                   const Caller& caller) {
  absl::StatusOr<node::JobRecord> job = node_->compute().Get(id);
  if (!job.ok()) return StatusResponse(job.status());
  if (std::optional<HttpResponse> refused = RefuseUnlessOwner(*job, caller, "output")) {
    return *std::move(refused);
  }
  if (!job::IsTerminal(job->state)) {
    return ErrorResponse(409, "failed_precondition",
                         mesh::StrCat("job ", id, " is ", job::JobStateName(job->state),
                                      "; its output exists once it has finished (wait with "
                                      "GET /v1/jobs/",
                                      id, "?wait=30s)"));
  }
  if (job->output_cid.empty()) {
    return ErrorResponse(
        404, "not_found",
        mesh::StrCat("job ", id, " ended ", job::JobStateName(job->state), " without output",
                     job->reason.empty() ? "" : ": ", job->reason));
  }
  HttpResponse r = ServeBlob(request, job->output_cid);
  r.headers.emplace_back("X-Mesh-Output-Cid", job->output_cid);
  r.headers.emplace_back("X-Mesh-Job-State", std::string(job::JobStateName(job->state)));
  return r;
}

HttpResponse ApiService::CancelJob(const std::string& id, const Caller& caller) {
  if (!caller.admin()) {
    absl::StatusOr<node::JobRecord> owned = node_->compute().Get(id);
    if (!owned.ok()) return StatusResponse(owned.status());
    if (std::optional<HttpResponse> refused = RefuseUnlessOwner(*owned, caller, "cancel")) {
      return *std::move(refused);
    }
  }
  absl::StatusOr<node::JobRecord> job = node_->compute().Cancel(id);
  if (!job.ok()) return StatusResponse(job.status());
  return JsonResponse(200, JobToJson(*job));
}

HttpResponse ApiService::NodeInfo() {
  const node::NodeConfig& c = node_->config();
  const absl::Time now = node_->clock().Now();
  json body = {
      {"did", node_->key().did().ToString()},
      {"version", MESH_VERSION},
      {"engine", node_->engine()},
      {"workers", node_->workers()},
      {"started_at",
       absl::FormatTime(absl::RFC3339_full, node_->started_at(), absl::UTCTimeZone())},
      {"uptime_seconds", absl::ToDoubleSeconds(now - node_->started_at())},
      {"blob_store_bytes", node_->blobs().used_bytes()},
      {"blob_quota_bytes", node_->blobs().quota_bytes()},
      {"default_limits",
       {{"fuel", c.default_limits.fuel},
        {"memory_bytes", c.default_limits.memory_bytes},
        {"wall_time_ms", absl::ToInt64Milliseconds(c.default_limits.wall_time)},
        {"max_output_bytes", c.default_limits.max_output_bytes}}},
      {"stats", StatsToJson(node_->compute().Stats())},
  };
  if (node::MeshService* mesh = node_->mesh()) {
    const node::MeshStats m = mesh->Stats();
    body["mesh"] = {{"address", mesh->address()},
                    {"peers_alive", m.peers_alive},
                    {"peers_known", m.peers_known},
                    {"auctions_open", m.auctions_open},
                    {"delegated_running", m.delegated_running},
                    {"assigned", m.assigned}};
    if (node::ShardHolder* holder = node_->holder()) {
      body["mesh"]["storage"] = {{"quota_bytes", holder->quota_bytes()},
                                 {"held_bytes", holder->held_bytes()},
                                 {"zone", c.zone}};
    }
  } else {
    body["mesh"] = nullptr;
  }
  return JsonResponse(200, body);
}

HttpResponse ApiService::Events(const HttpRequest& request) {
  uint64_t after = node_->events().last_seq();
  std::string from = request.Header("last-event-id");
  if (from.empty()) from = request.Query("after");
  if (!from.empty() && !absl::SimpleAtoi(ToAbsl(from), &after)) {
    return ErrorResponse(400, "invalid_argument",
                         mesh::StrCat("event id \"", from, "\" is not a number"));
  }
  const std::string job = request.Query("job");
  const bool stale = after > node_->events().last_seq();
  auto stream = std::make_shared<JobEvents>(this, job, after, stale);
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return ErrorResponse(503, "unavailable", "the node is shutting down");
    streams_.insert(stream);
  }
  HttpResponse r;
  r.events = stream;
  return r;
}

HttpResponse ApiService::Metrics() {
  HttpResponse r;
  r.content_type = std::string(kPrometheusTextContentType);
  r.body = node_->metrics().RenderText();
  return r;
}

void ApiService::Shutdown() {
  std::unique_ptr<TaskPool> store_ops;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;  // no store op starts a pool after this
    store_ops.swap(store_ops_);
  }
  if (store_ops != nullptr) store_ops->Stop(TaskPool::Pending::kDrop);
  std::set<std::shared_ptr<Waiter>> waiters;
  std::set<std::shared_ptr<JobEvents>> streams;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    waiters.swap(waiters_);
    streams.swap(streams_);
  }
  for (auto& w : waiters) w->Finish(ErrorResponse(503, "unavailable", "the node is shutting down"));
  for (auto& s : streams) s->Stop();
}

}  // namespace mesh::api
