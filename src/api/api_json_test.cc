#include "api_json.h"

#include <gtest/gtest.h>

#include "mesh/api/http_client.h"
#include "mesh/api/http_server.h"
#include "mesh/common/testing.h"

namespace mesh::api {
namespace {

TEST(ParseRangeTest, SingleRanges) {
  auto r = ParseRange("bytes=0-99", 1000);
  ASSERT_OK(r.status());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->first, 0u);
  EXPECT_EQ((*r)->length, 100u);
  r = ParseRange("bytes=990-", 1000);
  EXPECT_EQ((*r)->first, 990u);
  EXPECT_EQ((*r)->length, 10u);
  r = ParseRange("bytes=-50", 1000);
  EXPECT_EQ((*r)->first, 950u);
  EXPECT_EQ((*r)->length, 50u);
  r = ParseRange("bytes=-5000", 1000);  // a suffix longer than the blob is all of it
  EXPECT_EQ((*r)->first, 0u);
  EXPECT_EQ((*r)->length, 1000u);
  r = ParseRange("bytes=900-5000", 1000);  // clipped to the end
  EXPECT_EQ((*r)->length, 100u);
}

TEST(ParseRangeTest, IgnoredAndUnsatisfiable) {
  for (const char* ignored :
       {"", "items=0-1", "bytes=0-1,5-6", "bytes=x-1", "bytes=5-1", "bytes=7"}) {
    auto r = ParseRange(ignored, 1000);
    ASSERT_OK(r.status()) << ignored;
    EXPECT_FALSE(r->has_value()) << ignored;
  }
  EXPECT_EQ(ParseRange("bytes=1000-", 1000).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ParseRange("bytes=-0", 1000).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ParseRange("bytes=0-", 0).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(ApiJsonTest, StatusCodesMapToHttp) {
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("")), 400);
  EXPECT_EQ(HttpStatusFor(absl::NotFoundError("")), 404);
  EXPECT_EQ(HttpStatusFor(absl::FailedPreconditionError("")), 409);
  EXPECT_EQ(HttpStatusFor(absl::PermissionDeniedError("")), 403);
  EXPECT_EQ(HttpStatusFor(absl::UnavailableError("")), 503);
  EXPECT_EQ(HttpStatusFor(absl::ResourceExhaustedError("")), 507);
  EXPECT_EQ(HttpStatusFor(absl::DataLossError("")), 500);
  HttpResponse r = StatusResponse(absl::NotFoundError("no job x"));
  EXPECT_EQ(r.status, 404);
  nlohmann::json body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["code"], "not_found");
  EXPECT_EQ(body["message"], "no job x");
}

TEST(ApiJsonTest, JobJsonHasTimingsOnlyOnceKnown) {
  node::JobRecord job;
  job.id = "bafkreiabc";
  job.seq = 3;
  job.spec.module = "bafkreimodule";
  job.submitted_at = absl::FromUnixSeconds(1700000000);
  nlohmann::json queued = JobToJson(job);
  EXPECT_EQ(queued["state"], "queued");
  EXPECT_TRUE(queued["started_at"].is_null());
  EXPECT_FALSE(queued.contains("outcome"));
  EXPECT_FALSE(queued.contains("queue_wait_ms"));
  job.state = job::JobState::kSucceeded;
  job.started_at = job.submitted_at + absl::Milliseconds(2);
  job.finished_at = job.started_at + absl::Milliseconds(5);
  job.outcome = "ok";
  job.report_json = R"({"outcome":"ok","fuel_used":7})";
  nlohmann::json done = JobToJson(job);
  EXPECT_EQ(done["queue_wait_ms"], 2.0);
  EXPECT_EQ(done["run_ms"], 5.0);
  EXPECT_EQ(done["report"]["fuel_used"], 7);
  EXPECT_EQ(done["seq"], 3);
}

TEST(PercentDecodeTest, DecodesAndRejects) {
  std::string out;
  EXPECT_TRUE(PercentDecode("a%20b+c", out, true));
  EXPECT_EQ(out, "a b c");
  EXPECT_TRUE(PercentDecode("a+b", out, false));
  EXPECT_EQ(out, "a+b");
  EXPECT_FALSE(PercentDecode("%2", out, false));
  EXPECT_FALSE(PercentDecode("%zz", out, false));
}

TEST(SseParserTest, SplitsEventsAcrossChunks) {
  SseParser parser;
  std::vector<SseEvent> events;
  auto collect = [&events](const SseEvent& e) {
    events.push_back(e);
    return true;
  };
  const std::string stream =
      ": keepalive\n\nid: 1\nevent: job.queued\ndata: {\"a\":1}\n\nid: 2\r\ndata: line1\r\n"
      "data: line2\r\n\r\n";
  for (char c : stream) EXPECT_TRUE(parser.Feed(std::string_view(&c, 1), collect));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, "1");
  EXPECT_EQ(events[0].type, "job.queued");
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[1].type, "message");
  EXPECT_EQ(events[1].data, "line1\nline2");
  EXPECT_FALSE(parser.Feed("data: x\n\ndata: y\n\n", [](const SseEvent&) { return false; }));
}

TEST(HttpClientTest, RejectsBadUrls) {
  EXPECT_FALSE(HttpClient::Create("https://x:1").ok());
  EXPECT_FALSE(HttpClient::Create("http://x:1/path").ok());
  EXPECT_FALSE(HttpClient::Create("http://:80").ok());
  EXPECT_TRUE(HttpClient::Create("http://127.0.0.1:7420/").ok());
}

TEST(HttpClientTest, UnreachableNodeIsUnavailable) {
  ASSERT_OK_AND_ASSIGN(auto client, HttpClient::Create("http://127.0.0.1:1"));
  absl::StatusOr<ClientResponse> r = client->Request("GET", "/v1/node");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(r.status().message()).find("http://127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace mesh::api
