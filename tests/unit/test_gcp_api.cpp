// Cloud Functions v2 requests and replies, and the operation-poll decision.
// Pure: no I/O.
#include "faas/gcp/api.hpp"
#include "faas/gcp/operation.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace {

using namespace blueprint::faas::gcp::detail;
using blueprint::JobId;
using blueprint::faas::faas_errc;
namespace json = boost::json;
using namespace std::chrono_literals;

const Api api{"https://cloudfunctions.googleapis.com/v2/", "my-proj", "europe-west1"};

TEST(GcpApi, BuildsResourceUrls) {
    EXPECT_EQ(api.parent(), "projects/my-proj/locations/europe-west1");
    EXPECT_EQ(api.generate_upload_url_url(),
              "https://cloudfunctions.googleapis.com/v2/projects/my-proj/locations/europe-west1/functions:generateUploadUrl");
    EXPECT_EQ(api.create_url("blueprint-job-7"),
              "https://cloudfunctions.googleapis.com/v2/projects/my-proj/locations/europe-west1/functions?functionId=blueprint-job-7");
    const auto name = api.function_name("blueprint-job-7");
    EXPECT_EQ(name, "projects/my-proj/locations/europe-west1/functions/blueprint-job-7");
    EXPECT_EQ(api.resource_url(name), "https://cloudfunctions.googleapis.com/v2/" + name);
    EXPECT_EQ(api.patch_url(name),
              "https://cloudfunctions.googleapis.com/v2/" + name +
                  "?updateMask=buildConfig.runtime%2CbuildConfig.entryPoint%2CbuildConfig.source%2C"
                  "serviceConfig.availableMemory%2CserviceConfig.timeoutSeconds%2CserviceConfig.maxInstanceCount%2C"
                  "serviceConfig.environmentVariables");
    EXPECT_EQ(normalize_base("http://h/v2"), "http://h/v2/");
    EXPECT_EQ(normalize_base("http://h/v2/"), "http://h/v2/");
}

TEST(GcpApi, FunctionIdsAreDecimalAndNeverTruncated) {
    EXPECT_EQ(make_function_id("blueprint", JobId(7)).value(), "blueprint-job-7");
    EXPECT_EQ(make_function_id("bp", JobId(UINT64_MAX)).value(), "bp-job-18446744073709551615");
    auto big = JobId::parse("0x10000000000000000");
    ASSERT_TRUE(big);
    auto r = make_function_id("blueprint", *big);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::invocation_failed);
    EXPECT_NE(r.error().message.find("64 bits"), std::string::npos);
    EXPECT_FALSE(make_function_id(std::string(40, 'a'), JobId(UINT64_MAX))) << "over 63 characters";
}

TEST(GcpApi, ChecksThePrefix) {
    EXPECT_EQ(check_prefix("blueprint"), "");
    EXPECT_EQ(check_prefix("bp-2"), "");
    EXPECT_NE(check_prefix(""), "");
    EXPECT_NE(check_prefix("Blueprint"), "");
    EXPECT_NE(check_prefix("2bp"), "");
    EXPECT_NE(check_prefix("bp_x"), "");
    EXPECT_NE(check_prefix(std::string(60, 'a')), "");
}

TEST(GcpApi, MemoryQuantities) {
    EXPECT_EQ(memory_string(512), "512M");
    EXPECT_EQ(parse_memory("512M"), 512u);
    EXPECT_EQ(parse_memory("256Mi"), 256u);
    EXPECT_EQ(parse_memory("1G"), 1024u);
    EXPECT_EQ(parse_memory("2Gi"), 2048u);
    EXPECT_EQ(parse_memory("262144k"), 256u);
    EXPECT_EQ(parse_memory("536870912"), 512u);
    EXPECT_FALSE(parse_memory("lots"));
    EXPECT_FALSE(parse_memory("12Q"));
    EXPECT_FALSE(parse_memory(""));
}

TEST(GcpApi, FunctionBodyHasTheContractFields) {
    FunctionSpec spec;
    spec.name = api.function_name("blueprint-job-3");
    spec.storage_source_json = R"({"bucket":"b","object":"o.zip","generation":"7"})";
    spec.memory_mb = 1024;
    spec.timeout_secs = 60;
    spec.max_instances = 5;
    spec.env = {{"A", "1"}, {"B", "two"}};
    auto v = json::parse(function_body_json(spec)).as_object();
    EXPECT_EQ(v.at("name").as_string(), spec.name);
    EXPECT_EQ(v.at("environment"), "GEN_2");
    const auto& b = v.at("buildConfig").as_object();
    EXPECT_EQ(b.at("runtime"), "nodejs20");
    EXPECT_EQ(b.at("entryPoint"), "blueprint");
    EXPECT_EQ(b.at("source").at("storageSource"), json::parse(spec.storage_source_json));
    const auto& s = v.at("serviceConfig").as_object();
    EXPECT_EQ(s.at("availableMemory"), "1024M");
    EXPECT_EQ(s.at("timeoutSeconds").as_int64(), 60);
    EXPECT_EQ(s.at("maxInstanceCount").as_int64(), 5);
    EXPECT_EQ(s.at("environmentVariables"), (json::object{{"A", "1"}, {"B", "two"}}));
    spec.max_instances.reset();
    auto v2 = json::parse(function_body_json(spec)).as_object();
    EXPECT_FALSE(v2.at("serviceConfig").as_object().contains("maxInstanceCount"));
    EXPECT_EQ(json::parse(generate_upload_url_body()), (json::object{{"environment", "GEN_2"}}));
}

TEST(GcpApi, ParsesUploadUrlReplies) {
    auto u = parse_upload_url(R"({"uploadUrl":"https://storage.googleapis.com/b/o?X-Goog-Signature=s","storageSource":{"bucket":"b","object":"o"}})");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->upload_url, "https://storage.googleapis.com/b/o?X-Goog-Signature=s");
    EXPECT_EQ(json::parse(u->storage_source_json), (json::object{{"bucket", "b"}, {"object", "o"}}));
    for (std::string_view bad : {"", "[]", R"({"uploadUrl":"u"})", R"({"storageSource":{"bucket":"b"}})",
                                 R"({"uploadUrl":"u","storageSource":{}})", R"({"uploadUrl":1,"storageSource":{"b":1}})"}) {
        auto r = parse_upload_url(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, faas_errc::serialization);
    }
}

TEST(GcpApi, ParsesFunctions) {
    auto f = parse_function(R"({"name":"projects/p/locations/r/functions/f","state":"ACTIVE",
        "serviceConfig":{"uri":"https://f-xyz-ew.a.run.app","availableMemory":"256Mi","timeoutSeconds":60,"maxInstanceCount":"3"},
        "unknownField":{"x":1}})");
    ASSERT_TRUE(f) << f.error().to_string();
    EXPECT_EQ(f->state, "ACTIVE");
    EXPECT_EQ(f->uri, "https://f-xyz-ew.a.run.app");
    EXPECT_EQ(f->memory_mb, 256u);
    EXPECT_EQ(f->timeout_secs, 60u);
    EXPECT_EQ(f->max_instances, 3u);
    auto deploying = parse_function(R"({"name":"n","state":"DEPLOYING","serviceConfig":{}})");
    ASSERT_TRUE(deploying);
    EXPECT_EQ(deploying->uri, "");
    EXPECT_EQ(parse_function(R"({"name":"n"})")->state, "STATE_UNSPECIFIED");
    EXPECT_FALSE(parse_function(R"({"state":"ACTIVE"})"));
    EXPECT_FALSE(parse_function("{\"name\":"));
}

TEST(GcpApi, GoogleErrorsMapToKindsWithTheMessage) {
    struct Case {
        int http;
        const char* status;
        faas_errc kind;
    } cases[] = {
        {404, "NOT_FOUND", faas_errc::not_found},
        {403, "PERMISSION_DENIED", faas_errc::unauthorized},
        {401, "UNAUTHENTICATED", faas_errc::unauthorized},
        {429, "RESOURCE_EXHAUSTED", faas_errc::throttled},
        {400, "INVALID_ARGUMENT", faas_errc::invocation_failed},
        {409, "ALREADY_EXISTS", faas_errc::invocation_failed},
        {400, "FAILED_PRECONDITION", faas_errc::invocation_failed},
        {503, "UNAVAILABLE", faas_errc::infrastructure},
        {500, "INTERNAL", faas_errc::infrastructure},
        {504, "DEADLINE_EXCEEDED", faas_errc::timeout},
        {501, "UNIMPLEMENTED", faas_errc::unsupported},
    };
    for (const auto& c : cases) {
        std::string body = R"({"error":{"code":)" + std::to_string(c.http) + R"(,"message":"it went wrong","status":")" +
                           c.status + R"("}})";
        auto e = api_error(c.http, body, "deploy f");
        EXPECT_EQ(e.kind, c.kind) << c.status;
        EXPECT_EQ(e.http_status, c.http);
        EXPECT_EQ(e.message, "deploy f: HTTP " + std::to_string(c.http) + " " + c.status + ": it went wrong");
    }
    // Not Google's shape: by HTTP status, with an excerpt.
    auto e = api_error(502, "<html>\nBad Gateway</html>", "get f");
    EXPECT_EQ(e.kind, faas_errc::infrastructure);
    EXPECT_EQ(e.message, "get f: HTTP 502: <html> Bad Gateway</html>");
    EXPECT_EQ(api_error(404, "", "x").kind, faas_errc::not_found);
    EXPECT_EQ(api_error(403, "{}", "x").kind, faas_errc::unauthorized);
    EXPECT_EQ(api_error(400, R"({"error":{"status":"WHATEVER"}})", "x").kind, faas_errc::invocation_failed);
}

TEST(GcpOperation, Parses) {
    auto op = parse_operation(R"({"name":"projects/p/locations/r/operations/op-1","metadata":{"verb":"create"}})");
    ASSERT_TRUE(op);
    EXPECT_EQ(op->name, "projects/p/locations/r/operations/op-1");
    EXPECT_FALSE(op->done);
    EXPECT_FALSE(op->error);
    auto failed = parse_operation(R"({"name":"o","done":true,"error":{"code":3,"message":"Build failed: npm ERR!"}})");
    ASSERT_TRUE(failed);
    EXPECT_TRUE(failed->done);
    ASSERT_TRUE(failed->error);
    EXPECT_EQ(failed->error->code, 3);
    EXPECT_EQ(failed->error->message, "Build failed: npm ERR!");
    auto ok = parse_operation(R"({"name":"o","done":true,"response":{"@type":"x"},"error":{}})");
    ASSERT_TRUE(ok);
    EXPECT_FALSE(ok->error) << "an empty status is OK";
    EXPECT_FALSE(parse_operation(R"({"done":true})"));
    EXPECT_FALSE(parse_operation(R"({"name":"o","done":"yes"})"));
    EXPECT_FALSE(parse_operation(R"({"name":"o","error":"bad"})"));
    EXPECT_FALSE(parse_operation("{\"name\":\"o\""));
}

TEST(GcpOperation, PollBacksOffWithinBounds) {
    PollPolicy p{100ms, 1000ms, 10'000ms};
    Operation running{"op", false, std::nullopt};
    std::vector<long> delays;
    std::chrono::milliseconds elapsed{0};
    for (unsigned polls = 1; polls <= 10; ++polls) {
        auto d = decide_poll(running, polls, elapsed, p, "deploy f");
        ASSERT_EQ(d.kind, PollDecision::wait);
        delays.push_back(d.delay.count());
        elapsed += d.delay;
    }
    EXPECT_EQ(delays[0], 100);
    EXPECT_EQ(delays[1], 150);
    EXPECT_EQ(delays[2], 225);
    for (auto d : delays) EXPECT_LE(d, 1000);
    EXPECT_EQ(delays.back(), 1000);
    for (std::size_t i = 1; i < delays.size(); ++i) EXPECT_GE(delays[i], delays[i - 1]);
}

TEST(GcpOperation, PollStopsAtTheTimeout) {
    PollPolicy p{100ms, 1000ms, 5'000ms};
    Operation running{"projects/p/locations/r/operations/op-9", false, std::nullopt};
    auto d = decide_poll(running, 30, 4'500ms, p, "deploy f");
    EXPECT_EQ(d.kind, PollDecision::timed_out);
    ASSERT_TRUE(d.error);
    EXPECT_EQ(d.error->kind, faas_errc::timeout);
    EXPECT_NE(d.error->message.find("op-9 not done after 4 s"), std::string::npos) << d.error->message;
}

TEST(GcpOperation, DoneSucceedsOrFailsWithGooglesMessage) {
    PollPolicy p;
    EXPECT_EQ(decide_poll(Operation{"o", true, std::nullopt}, 1, 0ms, p, "x").kind, PollDecision::succeeded);
    auto d = decide_poll(Operation{"o", true, RpcStatus{3, "Build failed: missing package.json"}}, 4, 0ms, p, "deploy f");
    ASSERT_EQ(d.kind, PollDecision::failed);
    EXPECT_EQ(d.error->kind, faas_errc::invocation_failed);
    EXPECT_EQ(d.error->message, "deploy f: operation o failed: Build failed: missing package.json");
    EXPECT_EQ(decide_poll(Operation{"o", true, RpcStatus{7, "denied"}}, 1, 0ms, p, "x").error->kind, faas_errc::unauthorized);
    EXPECT_EQ(decide_poll(Operation{"o", true, RpcStatus{8, "quota"}}, 1, 0ms, p, "x").error->kind, faas_errc::throttled);
    EXPECT_EQ(decide_poll(Operation{"o", true, RpcStatus{5, "gone"}}, 1, 0ms, p, "x").error->kind, faas_errc::not_found);
    EXPECT_EQ(decide_poll(Operation{"o", true, RpcStatus{13, ""}}, 1, 0ms, p, "x").error->message, "x: operation o failed: code 13");
}

TEST(GcpOperation, RpcStatusNames) {
    EXPECT_EQ(kind_for_rpc_status("NOT_FOUND"), faas_errc::not_found);
    EXPECT_EQ(kind_for_rpc_status("UNAUTHENTICATED"), faas_errc::unauthorized);
    EXPECT_EQ(kind_for_rpc_status("RESOURCE_EXHAUSTED"), faas_errc::throttled);
    EXPECT_EQ(kind_for_rpc_status("nope"), std::nullopt);
}

}  // namespace
