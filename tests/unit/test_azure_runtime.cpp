// The function runtime's Azure custom-handler front (src/function/azure_protocol.hpp),
// without sockets: routes, the host's envelope, job ids from function names.
#include "function/azure_protocol.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace {

using namespace blueprint;
using namespace blueprint::function::detail;
namespace json = boost::json;

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

HeaderLookup headers(std::map<std::string, std::string> h) {
    return [h = std::move(h)](std::string_view name) -> std::string_view {
        for (const auto& [k, v] : h)
            if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                }))
                return v;
        return {};
    };
}

std::string envelope(std::string body, std::map<std::string, std::string> hdrs = {{"Content-Type", "application/json"}}) {
    json::object h;
    for (auto& [k, v] : hdrs) h[k] = json::array{json::value(v)};
    json::object req{{"Url", "https://x/api/job0"}, {"Method", "POST"}, {"Query", json::object()}, {"Headers", h},
                     {"Params", json::object()}, {"Body", body}};
    json::object top{{"Data", json::object{{"req", req}}}, {"Metadata", json::object{{"sys", json::object{{"MethodName", "job0"}}}}}};
    return json::serialize(top);
}

TEST(AzureRuntime, FunctionNames) {
    EXPECT_EQ(job_id_from_function_name("job7"), JobId(7u));
    EXPECT_EQ(job_id_from_function_name("JOB12"), JobId(12u));
    EXPECT_EQ(job_id_from_function_name("job0x1f"), JobId(31u));
    EXPECT_FALSE(job_id_from_function_name("job"));
    EXPECT_FALSE(job_id_from_function_name("jobx"));
    EXPECT_FALSE(job_id_from_function_name("other"));
    EXPECT_FALSE(job_id_from_function_name("job-1"));
}

TEST(AzureRuntime, Routes) {
    auto r = classify_azure_route("POST", "/api/job7?x=1");
    EXPECT_EQ(r.kind, AzureRouteKind::forwarded);
    EXPECT_EQ(r.job_id, JobId(7u));
    EXPECT_EQ(classify_azure_route("POST", "/job7").kind, AzureRouteKind::envelope);
    EXPECT_EQ(classify_azure_route("POST", "/other").job_id, std::nullopt);
    EXPECT_EQ(classify_azure_route("GET", "/api/job7").kind, AzureRouteKind::method_not_allowed);
    EXPECT_EQ(classify_azure_route("GET", "/health").kind, AzureRouteKind::health);
    EXPECT_EQ(classify_azure_route("POST", "/api/a/b").kind, AzureRouteKind::not_found);
    EXPECT_EQ(classify_azure_route("POST", "/").kind, AzureRouteKind::not_found);
    EXPECT_EQ(classify_azure_route("POST", "/api/").kind, AzureRouteKind::not_found);
}

TEST(AzureRuntime, JobIdFromTheNameMakesTheBodysOptional) {
    Bytes b = bytes(R"({"args":[1,2]})");
    add_job_id_if_missing(b, JobId(7u));
    EXPECT_EQ(to_string(b), R"({"job_id":7,"args":[1,2]})");
    Bytes empty = bytes(" { } ");
    add_job_id_if_missing(empty, JobId(7u));
    EXPECT_EQ(to_string(empty), R"( {"job_id":7 } )");
    Bytes has = bytes(R"({"job_id":3,"args":[]})");
    add_job_id_if_missing(has, JobId(7u));
    EXPECT_EQ(to_string(has), R"({"job_id":3,"args":[]})");
    Bytes arr = bytes("[1]");
    add_job_id_if_missing(arr, JobId(7u));
    EXPECT_EQ(to_string(arr), "[1]");
    JobId big = JobId::from_hex("0x1" + std::string(20, '0')).value();
    Bytes b2 = bytes(R"({"args":[]})");
    add_job_id_if_missing(b2, big);
    EXPECT_EQ(to_string(b2), R"({"job_id_hex":")" + big.to_hex() + R"(","args":[]})");
}

TEST(AzureRuntime, ForwardedJsonRequest) {
    auto job = accept_azure_request("POST", "/api/job6", headers({{"Content-Type", "application/json"}}),
                                    bytes(R"({"args":[0,0,0,3]})"));
    ASSERT_TRUE(job) << job.error().body;
    EXPECT_FALSE(job->envelope);
    EXPECT_EQ(job->parsed.call.job_id(), JobId(6u));
    EXPECT_EQ(job->parsed.call.body(), (Bytes{0, 0, 0, 3}));
    EXPECT_FALSE(job->parsed.warmup);
    // The path wins over the body's id.
    auto other = accept_azure_request("POST", "/api/job6", headers({}), bytes(R"({"job_id":9,"args":[]})"));
    ASSERT_TRUE(other);
    EXPECT_EQ(other->parsed.call.job_id(), JobId(6u));
}

TEST(AzureRuntime, ForwardedRawBodyPerContentType) {
    auto job = accept_azure_request("POST", "/api/job0",
                                    headers({{"Content-Type", std::string(faas::wire::binary_content_type)}}),
                                    Bytes{0xff, 0x00, 0x7b});
    ASSERT_TRUE(job);
    EXPECT_EQ(job->parsed.call.body(), (Bytes{0xff, 0x00, 0x7b}));
    EXPECT_EQ(job->parsed.format, BodyFormat::binary);
}

TEST(AzureRuntime, WarmupsByBodyOrHeader) {
    auto body = accept_azure_request("POST", "/api/job3", headers({}), bytes(R"({"warmup":true,"args":[]})"));
    ASSERT_TRUE(body);
    EXPECT_TRUE(body->parsed.warmup);
    auto header = accept_azure_request("POST", "/api/job3", headers({{"X-Blueprint-Warmup", "1"}}), Bytes{});
    ASSERT_TRUE(header);
    EXPECT_TRUE(header->parsed.warmup);
    auto env = accept_azure_request("POST", "/job3", headers({}),
                                    bytes(envelope("", {{"X-Blueprint-Warmup", "true"}})));
    ASSERT_TRUE(env);
    EXPECT_TRUE(env->parsed.warmup);
}

TEST(AzureRuntime, BadRequests) {
    auto bad = accept_azure_request("POST", "/api/job0", headers({}), bytes("{not json"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().status, 400u);
    auto other_name = accept_azure_request("POST", "/api/custom", headers({}), bytes(R"({"args":[]})"));
    ASSERT_FALSE(other_name) << "a name without an id needs the body's job_id";
    EXPECT_EQ(other_name.error().status, 400u);
    auto named = accept_azure_request("POST", "/api/custom", headers({}), bytes(R"({"job_id":4,"args":[]})"));
    ASSERT_TRUE(named);
    EXPECT_EQ(named->parsed.call.job_id(), JobId(4u));
    auto method = accept_azure_request("PUT", "/api/job0", headers({}), Bytes{});
    ASSERT_FALSE(method);
    EXPECT_EQ(method.error().status, 405u);
    auto missing = accept_azure_request("POST", "/a/b/c", headers({}), Bytes{});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().status, 404u);
    auto health = accept_azure_request("GET", "/health", headers({}), Bytes{});
    ASSERT_FALSE(health);
    EXPECT_EQ(health.error().status, 200u);
}

TEST(AzureRuntime, EnvelopeRequest) {
    auto env = parse_envelope(envelope(R"({"args":[104,105]})"));
    ASSERT_TRUE(env) << env.error();
    EXPECT_EQ(env->method, "POST");
    EXPECT_EQ(env->headers.at("content-type"), "application/json");
    EXPECT_EQ(to_string(env->body), R"({"args":[104,105]})");

    // A JSON body the host already parsed, and a string header value.
    auto parsed = parse_envelope(R"({"Data":{"req":{"Method":"POST","Headers":{"Content-Type":"application/json"},"Body":{"args":[1]}}}})");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(to_string(parsed->body), R"({"args":[1]})");
    // Another trigger name, when it is the only one.
    EXPECT_TRUE(parse_envelope(R"({"Data":{"request":{"Method":"POST"}},"Metadata":{}})"));

    EXPECT_FALSE(parse_envelope("garbage"));
    EXPECT_FALSE(parse_envelope("[]"));
    EXPECT_FALSE(parse_envelope(R"({"Metadata":{}})"));
    EXPECT_FALSE(parse_envelope(R"({"Data":{}})"));
    EXPECT_FALSE(parse_envelope(R"({"Data":{"a":{},"b":{}}})"));
    EXPECT_FALSE(parse_envelope(R"({"Data":{"req":{"Headers":{"X":[1]}}}})"));
    EXPECT_FALSE(parse_envelope(envelope("x").substr(0, 30)));
}

TEST(AzureRuntime, EnvelopeReplyWrapsEverything) {
    auto job = accept_azure_request("POST", "/job0", headers({}), bytes(envelope(R"({"args":[1]})")));
    ASSERT_TRUE(job);
    EXPECT_TRUE(job->envelope);
    EXPECT_EQ(job->parsed.call.job_id(), JobId(0u));
    HttpReply inner;
    inner.status = 200;
    inner.content_type = "application/json";
    inner.body = R"({"result":[1]})";
    auto out = finish_azure_reply(*job, inner);
    EXPECT_EQ(out.status, 200u);
    auto doc = json::parse(out.body).as_object();
    auto& res = doc["Outputs"].as_object()["res"].as_object();
    EXPECT_EQ(res["statusCode"], 200);
    EXPECT_EQ(res["body"], R"({"result":[1]})");
    EXPECT_EQ(res["headers"].as_object()["Content-Type"], "application/json");
    EXPECT_TRUE(doc["Logs"].as_array().empty());
    EXPECT_TRUE(doc["ReturnValue"].is_null());

    // Bad JSON inside an envelope: a 400 inside the envelope.
    auto bad = accept_azure_request("POST", "/job0", headers({}), bytes(envelope("{nope")));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().status, 200u);
    auto bad_doc = json::parse(bad.error().body).as_object();
    EXPECT_EQ(bad_doc["Outputs"].as_object()["res"].as_object()["statusCode"], 400);
    // A broken envelope itself: a plain 400.
    auto broken = accept_azure_request("POST", "/job0", headers({}), bytes("{"));
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().status, 400u);

    // The forwarded path leaves replies alone.
    auto fwd = accept_azure_request("POST", "/api/job0", headers({}), bytes(R"({"args":[]})"));
    ASSERT_TRUE(fwd);
    EXPECT_EQ(finish_azure_reply(*fwd, inner).body, inner.body);
}

}  // namespace
