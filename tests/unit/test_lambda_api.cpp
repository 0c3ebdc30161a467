// The Lambda API's pure pieces (src/faas/aws/lambda_api.hpp): names,
// request builders and their signatures, reply/error parsing, REPORT lines,
// invoke interpretation and the state-poll decision. No I/O.
#include "faas/aws/lambda_api.hpp"
#include "faas/aws/sigv4.hpp"

#include <blueprint/faas/aws.hpp>
#include <blueprint/faas/wire.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace lapi = blueprint::faas::aws::lambda_api;
namespace aws = blueprint::faas::aws;
namespace json = boost::json;
using blueprint::JobId;
using blueprint::faas::faas_errc;
using blueprint::faas::FaasConfig;
using blueprint::faas::http::Headers;
using namespace std::chrono;

namespace {

aws::AwsCredentials creds(std::string token = {}) {
    aws::AwsCredentials c;
    c.access_key_id = "AKIDEXAMPLE";
    c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    c.session_token = std::move(token);
    return c;
}

std::string header(const Headers& h, std::string_view name) { return std::string(blueprint::faas::http::find_header(h, name)); }

json::object body_of(const lapi::ApiCall& c) { return json::parse(c.body).as_object(); }

}  // namespace

// ---- names -------------------------------------------------------------------

TEST(LambdaNames, DecimalWhenItFitsU64ElseHexNeverTruncated) {
    EXPECT_EQ(lapi::function_name("blueprint", JobId(7)).value(), "blueprint-job-7");
    EXPECT_EQ(lapi::function_name("blueprint", JobId(std::uint64_t{UINT64_MAX})).value(),
              "blueprint-job-18446744073709551615");
    auto big = JobId::from_hex("0x10000000000000000").value();  // 2^64
    EXPECT_EQ(lapi::function_name("blueprint", big).value(), "blueprint-job-0x10000000000000000");
    // 2^200 needs 51 hex digits: the name would pass 64 characters.
    auto huge = JobId::from_hex("0x1" + std::string(50, '0')).value();
    auto r = lapi::function_name("blueprint", huge);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, faas_errc::unsupported);
    EXPECT_NE(r.error().message.find("64"), std::string::npos);
}

TEST(LambdaNames, PrefixAndRegionAreChecked) {
    EXPECT_TRUE(lapi::valid_prefix("blueprint"));
    EXPECT_TRUE(lapi::valid_prefix("my_app-2"));
    EXPECT_FALSE(lapi::valid_prefix(""));
    EXPECT_FALSE(lapi::valid_prefix("a/b"));
    EXPECT_FALSE(lapi::valid_prefix("a:b"));
    EXPECT_FALSE(lapi::valid_prefix(std::string(41, 'a')));
    EXPECT_TRUE(lapi::valid_region("eu-west-1"));
    EXPECT_FALSE(lapi::valid_region(""));
    EXPECT_FALSE(lapi::valid_region("us-east-1.evil.com/"));
    EXPECT_FALSE(lapi::valid_region("US-EAST-1"));
    EXPECT_EQ(lapi::default_endpoint("eu-west-1"), "https://lambda.eu-west-1.amazonaws.com");
}

TEST(LambdaNames, ArchitectureNames) {
    EXPECT_EQ(aws::to_string(aws::Architecture::arm64), "arm64");
    EXPECT_EQ(aws::to_string(aws::Architecture::x86_64), "x86_64");
    EXPECT_EQ(aws::parse_architecture("aarch64"), aws::Architecture::arm64);
    EXPECT_EQ(aws::parse_architecture("amd64"), aws::Architecture::x86_64);
    EXPECT_EQ(aws::parse_architecture("sparc"), std::nullopt);
}

TEST(LambdaConfig, LimitsAreEnforcedWithTheLimitNamed) {
    FaasConfig c;
    EXPECT_FALSE(lapi::validate_config(c).has_value());
    c.memory_mb = 127;
    auto e = lapi::validate_config(c);
    ASSERT_TRUE(e);
    EXPECT_NE(e->message.find("128-10240"), std::string::npos);
    c.memory_mb = 10240;
    EXPECT_FALSE(lapi::validate_config(c));
    c.memory_mb = 10241;
    EXPECT_TRUE(lapi::validate_config(c));
    c.memory_mb = 512;
    c.timeout_secs = 0;
    EXPECT_TRUE(lapi::validate_config(c));
    c.timeout_secs = 901;
    ASSERT_TRUE(lapi::validate_config(c));
    EXPECT_NE(lapi::validate_config(c)->message.find("1-900"), std::string::npos);
    c.timeout_secs = 900;
    EXPECT_FALSE(lapi::validate_config(c));
}

// ---- request builders ------------------------------------------------------------

TEST(LambdaRequests, CreateFunctionFollowsTheModel) {
    FaasConfig c;
    c.memory_mb = 1024;
    c.timeout_secs = 30;
    c.env_vars = {{"A", "1"}, {"B", "two"}};
    auto call = lapi::create_function("blueprint-job-1", "arn:aws:iam::1:role/r", c, aws::Architecture::arm64, "UEsDBA==");
    EXPECT_EQ(call.method, "POST");
    EXPECT_EQ(call.path, "/2015-03-31/functions");
    EXPECT_FALSE(call.retry_conflict) << "a 409 on create means the function exists";
    auto b = body_of(call);
    EXPECT_EQ(b.at("FunctionName"), "blueprint-job-1");
    EXPECT_EQ(b.at("Runtime"), "provided.al2023");
    EXPECT_EQ(b.at("Handler"), "bootstrap");
    EXPECT_EQ(b.at("Role"), "arn:aws:iam::1:role/r");
    EXPECT_EQ(b.at("Code").at("ZipFile"), "UEsDBA==");
    EXPECT_EQ(b.at("MemorySize").to_number<int>(), 1024);
    EXPECT_EQ(b.at("Timeout").to_number<int>(), 30);
    EXPECT_EQ(b.at("Architectures").as_array().at(0), "arm64");
    EXPECT_EQ(b.at("Environment").at("Variables").at("B"), "two");
}

TEST(LambdaRequests, ArchitectureGoesWithTheCodeNotTheConfiguration) {
    auto code = lapi::update_function_code("f", "AAAA", aws::Architecture::arm64);
    EXPECT_EQ(code.method, "PUT");
    EXPECT_EQ(code.path, "/2015-03-31/functions/f/code");
    EXPECT_EQ(body_of(code).at("Architectures").as_array().at(0), "arm64");
    EXPECT_EQ(body_of(code).at("Publish"), false);

    FaasConfig c;
    c.env_vars = {{"K", "V"}};
    auto conf = lapi::update_function_configuration("f", c);
    EXPECT_EQ(conf.path, "/2015-03-31/functions/f/configuration");
    auto b = body_of(conf);
    EXPECT_FALSE(b.contains("Architectures")) << "not a member of UpdateFunctionConfigurationRequest";
    EXPECT_EQ(b.at("MemorySize").to_number<int>(), 512);
    EXPECT_EQ(b.at("Timeout").to_number<int>(), 300);
    EXPECT_EQ(b.at("Environment").at("Variables").at("K"), "V");
}

TEST(LambdaRequests, OtherOperations) {
    EXPECT_EQ(lapi::get_function("f").path, "/2015-03-31/functions/f");
    EXPECT_EQ(lapi::get_function_configuration("f").path, "/2015-03-31/functions/f/configuration");
    EXPECT_EQ(lapi::delete_function("f").method, "DELETE");
    auto put = lapi::put_function_concurrency("f", 3);
    EXPECT_EQ(put.path, "/2017-10-31/functions/f/concurrency");
    EXPECT_EQ(body_of(put).at("ReservedConcurrentExecutions").to_number<int>(), 3);
    EXPECT_EQ(lapi::delete_function_concurrency("f").method, "DELETE");
    auto list = lapi::list_functions("m a/rk", 50);
    EXPECT_EQ(list.path, "/2015-03-31/functions/");
    EXPECT_EQ(list.query, "Marker=m%20a%2Frk&MaxItems=50");
    EXPECT_EQ(lapi::list_functions("").query, "MaxItems=50");
    EXPECT_EQ(lapi::get_function("blueprint-job-1").what(), "GetFunction blueprint-job-1");
}

TEST(LambdaRequests, InvokeHeadersAndQualifier) {
    auto sync = lapi::invoke("f", "", "{}", aws::InvocationType::request_response);
    EXPECT_EQ(sync.path, "/2015-03-31/functions/f/invocations");
    EXPECT_EQ(sync.query, "");
    EXPECT_EQ(header(sync.headers, "X-Amz-Invocation-Type"), "RequestResponse");
    EXPECT_EQ(header(sync.headers, "X-Amz-Log-Type"), "Tail");
    auto event = lapi::invoke("f", "prod:1", "{}", aws::InvocationType::event);
    EXPECT_EQ(header(event.headers, "X-Amz-Invocation-Type"), "Event");
    EXPECT_EQ(header(event.headers, "X-Amz-Log-Type"), "");
    EXPECT_EQ(event.query, "Qualifier=prod%3A1");
}

TEST(LambdaRequests, SignedRequestCarriesAVerifiableSignature) {
    auto call = lapi::invoke("blueprint-job-1", "", "{\"job_id\":1,\"args\":[]}", aws::InvocationType::request_response);
    const auto now = sys_days{2024y / March / 1} + 10h;
    auto req = lapi::sign_call(call, "http://127.0.0.1:9000/", creds("tok"), "us-east-1", now);
    ASSERT_TRUE(req) << req.error().message;
    EXPECT_EQ(req->url, "http://127.0.0.1:9000/2015-03-31/functions/blueprint-job-1/invocations");
    EXPECT_EQ(req->method, "POST");
    EXPECT_EQ(header(req->headers, "X-Amz-Date"), "20240301T100000Z");
    EXPECT_EQ(header(req->headers, "X-Amz-Security-Token"), "tok");
    EXPECT_EQ(header(req->headers, "Content-Type"), "application/json");
    auto auth = header(req->headers, "Authorization");
    EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240301/us-east-1/lambda/aws4_request"));
    EXPECT_NE(auth.find("SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type;x-amz-log-type;x-amz-security-token"),
              std::string::npos)
        << auth;

    // Recompute it independently from what goes on the wire.
    std::vector<aws::sigv4::Header> wire{{"Host", "127.0.0.1:9000"}};
    for (const auto& h : req->headers)
        if (h.first != "Authorization") wire.emplace_back(h.first, h.second);
    aws::sigv4::Request sreq{.method = "POST", .target = "/2015-03-31/functions/blueprint-job-1/invocations",
                             .headers = wire, .body = req->body};
    auto again = aws::sigv4::sign(sreq, creds("tok"), {.region = "us-east-1", .service = "lambda", .time = now});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->authorization, auth);
}

TEST(LambdaRequests, SignatureDoubleEncodesThePath) {
    // A qualifier-in-name (ARN-ish) path: ':' is %3A on the wire and %253A signed.
    lapi::ApiCall call;
    call.operation = "GetFunction";
    call.method = "GET";
    call.path = "/2015-03-31/functions/" + aws::sigv4::uri_encode("arn:aws:lambda:us-east-1:1:function:f");
    auto req = lapi::sign_call(call, "https://lambda.us-east-1.amazonaws.com", creds(), "us-east-1", system_clock::now());
    ASSERT_TRUE(req);
    EXPECT_NE(req->url.find("arn%3Aaws%3Alambda"), std::string::npos);
    std::vector<aws::sigv4::Header> wire{{"Host", "lambda.us-east-1.amazonaws.com"}};
    auto sig = aws::sigv4::sign({.method = "GET", .target = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af",
                                 .headers = wire},
                                creds(), {.region = "us-east-1", .service = "lambda", .time = system_clock::now()});
    ASSERT_TRUE(sig);
    EXPECT_NE(sig->canonical_request.find("arn%253Aaws%253Alambda"), std::string::npos);
}

TEST(LambdaRequests, SigningRefusesBadEndpointsAndMissingKeys) {
    auto call = lapi::get_function("f");
    auto bad_url = lapi::sign_call(call, "ftp://x", creds(), "us-east-1", system_clock::now());
    ASSERT_FALSE(bad_url);
    EXPECT_EQ(bad_url.error().kind, faas_errc::invocation_failed);
    auto no_key = lapi::sign_call(call, "http://127.0.0.1:1", aws::AwsCredentials{}, "us-east-1", system_clock::now());
    ASSERT_FALSE(no_key);
    EXPECT_EQ(no_key.error().kind, faas_errc::unauthorized);
}

// ---- replies ---------------------------------------------------------------------

TEST(LambdaReplies, ParsesFunctionConfigurationAndGetFunction) {
    const std::string conf = R"({"FunctionName":"blueprint-job-1","FunctionArn":"arn:aws:lambda:us-east-1:123:function:blueprint-job-1",
        "MemorySize":256,"Timeout":30,"State":"Active","LastUpdateStatus":"Successful","Architectures":["arm64"],
        "CodeSize":1234,"LastModified":"2024-01-01T00:00:00.000+0000","Unknown":{"x":1}})";
    auto info = lapi::parse_function_configuration(conf);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->name, "blueprint-job-1");
    EXPECT_EQ(info->arn, "arn:aws:lambda:us-east-1:123:function:blueprint-job-1");
    EXPECT_EQ(info->memory_mb, 256u);
    EXPECT_EQ(info->timeout_secs, 30u);
    EXPECT_EQ(info->architecture, "arm64");
    EXPECT_EQ(info->code_size, 1234u);
    EXPECT_FALSE(info->reserved_concurrency);

    auto got = lapi::parse_get_function(R"({"Configuration":)" + conf +
                                        R"(,"Code":{"Location":"x"},"Concurrency":{"ReservedConcurrentExecutions":2}})");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->name, "blueprint-job-1");
    EXPECT_EQ(got->reserved_concurrency, 2u);

    for (const char* bad : {"", "[]", "{", "{\"FunctionName\":5}", "null"})
        EXPECT_EQ(lapi::parse_function_configuration(bad).error().kind, faas_errc::serialization) << bad;
    EXPECT_FALSE(lapi::parse_get_function(conf)) << "a bare configuration is not a GetFunction reply";
}

TEST(LambdaReplies, ParsesListPages) {
    auto page = lapi::parse_list_functions(
        R"({"Functions":[{"FunctionName":"a"},{"FunctionName":"b","State":"Active"}],"NextMarker":"m2"})");
    ASSERT_TRUE(page);
    ASSERT_EQ(page->functions.size(), 2u);
    EXPECT_EQ(page->functions[1].state, "Active");
    EXPECT_EQ(page->next_marker, "m2");
    auto last = lapi::parse_list_functions(R"({"Functions":[]})");
    ASSERT_TRUE(last);
    EXPECT_TRUE(last->next_marker.empty());
    EXPECT_FALSE(lapi::parse_list_functions(R"({"Functions":[1]})"));
    EXPECT_FALSE(lapi::parse_list_functions(R"({"NextMarker":"x"})"));
}

TEST(LambdaErrors, CodeFromHeaderUpToColonElseBody) {
    Headers h{{"x-amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/coral/"},
              {"x-amzn-RequestId", "req-1"}};
    auto e = lapi::api_error(404, h, R"({"Type":"User","Message":"Function not found: arn:x"})", "GetFunction f");
    EXPECT_EQ(e.kind, faas_errc::not_found);
    EXPECT_EQ(e.request_id, "req-1");
    EXPECT_EQ(e.http_status, 404);
    EXPECT_EQ(e.message, "GetFunction f: ResourceNotFoundException: Function not found: arn:x");

    EXPECT_EQ(lapi::error_code_of({}, R"({"__type":"com.amazon.coral#AccessDeniedException","message":"no"})"),
              "AccessDeniedException");
    EXPECT_EQ(lapi::error_code_of({}, R"({"code":"X"})"), "X");
    EXPECT_EQ(lapi::error_code_of({}, R"({"Code":"Y"})"), "Y");
    EXPECT_EQ(lapi::error_code_of({}, "not json"), "");
}

TEST(LambdaErrors, KindsFollowTheDocumentedMapping) {
    auto kind = [](int status, std::string code) {
        Headers h;
        if (!code.empty()) h.emplace_back("x-amzn-ErrorType", code);
        return lapi::api_error(status, h, "{}", "op").kind;
    };
    EXPECT_EQ(kind(404, "ResourceNotFoundException"), faas_errc::not_found);
    EXPECT_EQ(kind(429, "TooManyRequestsException"), faas_errc::throttled);
    EXPECT_EQ(kind(429, ""), faas_errc::throttled);
    EXPECT_EQ(kind(403, "AccessDeniedException"), faas_errc::unauthorized);
    EXPECT_EQ(kind(403, "UnrecognizedClientException"), faas_errc::unauthorized);
    EXPECT_EQ(kind(403, "InvalidSignatureException"), faas_errc::unauthorized);
    EXPECT_EQ(kind(403, ""), faas_errc::unauthorized);
    EXPECT_EQ(kind(500, "ServiceException"), faas_errc::infrastructure);
    EXPECT_EQ(kind(502, "ResourceNotReadyException"), faas_errc::infrastructure);
    EXPECT_EQ(kind(503, ""), faas_errc::infrastructure);
    EXPECT_EQ(kind(413, "RequestTooLargeException"), faas_errc::serialization);
    EXPECT_EQ(kind(400, "InvalidParameterValueException"), faas_errc::invocation_failed);
    EXPECT_EQ(kind(409, "ResourceConflictException"), faas_errc::invocation_failed);

    Headers h{{"x-amzn-ErrorType", "TooManyRequestsException"}, {"Retry-After", "2"}};
    auto e = lapi::api_error(429, h, R"({"message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"})", "op");
    EXPECT_EQ(e.retry_after, milliseconds(2000));
    EXPECT_TRUE(e.is_transient());
}

TEST(LambdaErrors, RetryableReplies) {
    EXPECT_TRUE(lapi::retryable_reply(429, "TooManyRequestsException", true));
    EXPECT_TRUE(lapi::retryable_reply(502, "ResourceNotReadyException", false));
    EXPECT_TRUE(lapi::retryable_reply(500, "ServiceException", false));
    EXPECT_TRUE(lapi::retryable_reply(503, "", false));
    EXPECT_TRUE(lapi::retryable_reply(409, "ResourceConflictException", true));
    EXPECT_FALSE(lapi::retryable_reply(409, "ResourceConflictException", false));
    EXPECT_FALSE(lapi::retryable_reply(404, "ResourceNotFoundException", true));
    EXPECT_FALSE(lapi::retryable_reply(403, "AccessDeniedException", true));
    EXPECT_FALSE(lapi::retryable_reply(400, "InvalidParameterValueException", true));
}

TEST(LambdaErrors, TransportFailures) {
    using blueprint::faas::http::http_errc;
    auto t = [](http_errc c) {
        return blueprint::faas::http::to_faas_error({make_error_code(c), "x", std::nullopt}, "op").kind;
    };
    EXPECT_EQ(t(http_errc::timeout), faas_errc::timeout);
    EXPECT_EQ(t(http_errc::cancelled), faas_errc::timeout);
    EXPECT_EQ(t(http_errc::connect_failed), faas_errc::infrastructure);
    EXPECT_EQ(t(http_errc::connection_lost), faas_errc::infrastructure);
    EXPECT_EQ(t(http_errc::response_too_large), faas_errc::serialization);
    EXPECT_EQ(t(http_errc::invalid_url), faas_errc::invocation_failed);
    auto e = blueprint::faas::http::to_faas_error({make_error_code(http_errc::timeout), "x", std::nullopt}, "op");
    EXPECT_EQ(e.message, "op: x");
}

// ---- REPORT lines ----------------------------------------------------------------

TEST(LambdaReport, ColdStartIsInitDurationPresent) {
    const std::string cold =
        "START RequestId: 1 Version: $LATEST\nhello\nEND RequestId: 1\n"
        "REPORT RequestId: 1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\t"
        "Max Memory Used: 30 MB\tInit Duration: 101.50 ms\t\n";
    auto r = lapi::parse_report(cold);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->duration, microseconds(12340));
    EXPECT_EQ(r->billed_duration, microseconds(13000));
    EXPECT_EQ(r->memory_size_mb, 512u);
    EXPECT_EQ(r->max_memory_used_mb, 30u);
    EXPECT_EQ(r->init_duration, microseconds(101500));
    blueprint::faas::FaasMetrics m;
    lapi::apply_report(*r, m);
    EXPECT_EQ(m.cold_start, true);
    EXPECT_EQ(m.execution_duration, microseconds(12340));
    EXPECT_EQ(m.billed_duration, microseconds(13000));
    EXPECT_EQ(m.memory_used_mb, 30u);

    auto warm = lapi::parse_report("REPORT RequestId: 2\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t");
    ASSERT_TRUE(warm);
    blueprint::faas::FaasMetrics w;
    lapi::apply_report(*warm, w);
    EXPECT_EQ(w.cold_start, false);
}

TEST(LambdaReport, TakesTheLastReportAndSurvivesGarbage) {
    auto r = lapi::parse_report("REPORT RequestId: a\tDuration: 1.00 ms\nlog REPORT RequestId: fake\n"
                                "REPORT RequestId: b\tDuration: 2.50 ms\tBilled Duration: 3 ms\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->duration, microseconds(2500));
    EXPECT_FALSE(lapi::parse_report(""));
    EXPECT_FALSE(lapi::parse_report("START RequestId: 1\nEND RequestId: 1\n"));
    auto junk = lapi::parse_report("REPORT RequestId: x\tDuration: abc ms\tBilled Duration: -5 ms\tMax Memory Used: \t");
    ASSERT_TRUE(junk);
    EXPECT_FALSE(junk->duration);
    EXPECT_FALSE(junk->billed_duration);
    EXPECT_FALSE(junk->max_memory_used_mb);
    EXPECT_FALSE(junk->init_duration);
}

TEST(LambdaReport, FromTheBase64Header) {
    auto b64 = blueprint::faas::wire::base64_encode("REPORT RequestId: 1\tDuration: 5.00 ms\tInit Duration: 1.00 ms\n");
    auto r = lapi::parse_log_result(b64);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->init_duration);
    EXPECT_FALSE(lapi::parse_log_result(""));
    EXPECT_FALSE(lapi::parse_log_result("!!!not base64"));
}

// ---- invoke replies ----------------------------------------------------------------

TEST(LambdaInvoke, OkReplyIsTheJobsResult) {
    auto r = lapi::interpret_invoke(200, {}, R"({"result":[1,2,3]})", "invoke f");
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->is_ok());
    EXPECT_EQ(r->body(), (blueprint::Bytes{1, 2, 3}));
}

TEST(LambdaInvoke, FunctionErrorIsATypedErrorResult) {
    Headers h{{"X-Amz-Function-Error", "Unhandled"}};
    auto r = lapi::interpret_invoke(200, h, R"({"errorMessage":"requested failure","errorType":"FixtureError","stackTrace":[]})", "invoke f");
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->is_error());
    EXPECT_EQ(r->error().code, make_error_code(faas_errc::function_error));
    EXPECT_EQ(r->error().type, "FixtureError");
    EXPECT_EQ(r->error().message, "requested failure");

    auto opaque = lapi::interpret_invoke(200, h, "Segmentation fault", "invoke f");
    ASSERT_TRUE(opaque && opaque->is_error());
    EXPECT_EQ(opaque->error().type, "Unhandled");
    EXPECT_EQ(opaque->error().message, "Segmentation fault");
}

TEST(LambdaInvoke, TaskTimedOutIsATimeoutResult) {
    Headers h{{"X-Amz-Function-Error", "Unhandled"}};
    auto r = lapi::interpret_invoke(
        200, h, R"({"errorMessage":"RequestId: 1 Error: Task timed out after 1.00 seconds","errorType":"Sandbox.Timedout"})", "i");
    ASSERT_TRUE(r && r->is_error());
    EXPECT_EQ(r->error().code, make_error_code(faas_errc::timeout));
    EXPECT_EQ(r->error().type, "Sandbox.Timedout");
}

TEST(LambdaInvoke, EventIsAcceptedWithMarker) {
    Headers h{{"x-amzn-RequestId", "rid-9"}};
    auto r = lapi::interpret_invoke(202, h, "", "i");
    ASSERT_TRUE(r && r->is_ok());
    EXPECT_TRUE(r->body().empty());
    ASSERT_TRUE(r->metadata().get(aws::invocation_status_key));
    EXPECT_EQ(r->metadata().get(aws::invocation_status_key)->as_string_view(), "accepted");
    EXPECT_EQ(r->metadata().get(aws::request_id_key)->as_string_view(), "rid-9");
}

TEST(LambdaInvoke, GarbageReplyIsSerialization) {
    for (const char* bad : {"", "not json", "[1,2]", R"({"result":[300]})"}) {
        auto r = lapi::interpret_invoke(200, {}, bad, "i");
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, faas_errc::serialization) << bad;
    }
}

// ---- state polling -----------------------------------------------------------------

TEST(LambdaState, ReadinessDecisions) {
    aws::LambdaFunctionInfo i;
    i.state = "Pending";
    EXPECT_EQ(lapi::readiness(i).readiness, lapi::Readiness::wait);
    i.state = "Active";
    i.last_update_status = "InProgress";
    EXPECT_EQ(lapi::readiness(i).readiness, lapi::Readiness::wait);
    EXPECT_FALSE(lapi::is_healthy(i));
    i.last_update_status = "Successful";
    EXPECT_EQ(lapi::readiness(i).readiness, lapi::Readiness::ready);
    EXPECT_TRUE(lapi::is_healthy(i));
    i.last_update_status = "Failed";
    i.state_reason = "bad zip";
    auto d = lapi::readiness(i);
    EXPECT_EQ(d.readiness, lapi::Readiness::failed);
    EXPECT_NE(d.reason.find("bad zip"), std::string::npos);
    EXPECT_FALSE(lapi::is_healthy(i));
    i.state = "Failed";
    EXPECT_EQ(lapi::readiness(i).readiness, lapi::Readiness::failed);
    i.state = "Inactive";
    i.last_update_status = "Successful";
    EXPECT_EQ(lapi::readiness(i).readiness, lapi::Readiness::wait);
    EXPECT_FALSE(lapi::is_healthy(i));
}

TEST(LambdaState, PollDelayDoublesWithinBoundsAndJitter) {
    const milliseconds initial(200), max(5000);
    EXPECT_EQ(lapi::poll_delay(1, initial, max, 0.5), milliseconds(200));
    EXPECT_EQ(lapi::poll_delay(2, initial, max, 0.5), milliseconds(400));
    EXPECT_EQ(lapi::poll_delay(3, initial, max, 0.5), milliseconds(800));
    EXPECT_EQ(lapi::poll_delay(50, initial, max, 0.5), milliseconds(5000));
    EXPECT_EQ(lapi::poll_delay(1000000, initial, max, 0.5), milliseconds(5000));
    EXPECT_EQ(lapi::poll_delay(1, initial, max, 0.0), milliseconds(160));
    EXPECT_EQ(lapi::poll_delay(50, initial, max, 0.999999), milliseconds(5999));
    EXPECT_GE(lapi::poll_delay(1, milliseconds(0), milliseconds(0), 0.0), milliseconds(1));
}

// ---- LambdaExecutor::create: option checks, no I/O ------------------------------------

namespace {
aws::LambdaOptions base_options() {
    aws::LambdaOptions o;
    o.region = "us-east-1";
    o.credentials = aws::StaticCredentials{"AKID", "secret"};
    o.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    o.use_imds = false;
    return o;
}
}  // namespace

TEST(LambdaCreate, AcceptsGoodOptionsAndDerivesTheEndpoint) {
    auto ex = aws::LambdaExecutor::create(base_options());
    ASSERT_TRUE(ex) << ex.error().to_string();
    EXPECT_EQ((*ex)->endpoint(), "https://lambda.us-east-1.amazonaws.com");
    EXPECT_EQ((*ex)->provider_name(), "aws-lambda");
    EXPECT_EQ((*ex)->function_name(JobId(3)).value(), "blueprint-job-3");
    auto o = base_options();
    o.endpoint_url = "http://127.0.0.1:9000/";
    o.function_prefix = "app_2";
    auto local = aws::LambdaExecutor::create(o);
    ASSERT_TRUE(local);
    EXPECT_EQ((*local)->endpoint(), "http://127.0.0.1:9000");
    EXPECT_EQ((*local)->function_name(JobId(3)).value(), "app_2-job-3");
}

TEST(LambdaCreate, RegionFromTheEnvironmentWhenNotGiven) {
    auto o = base_options();
    o.region.clear();
    o.env = [](std::string_view k) -> std::optional<std::string> {
        if (k == "AWS_DEFAULT_REGION") return "eu-central-1";
        if (k == "AWS_CONFIG_FILE" || k == "AWS_SHARED_CREDENTIALS_FILE") return "/nonexistent";
        return std::nullopt;
    };
    auto ex = aws::LambdaExecutor::create(o);
    ASSERT_TRUE(ex) << ex.error().to_string();
    EXPECT_EQ((*ex)->region(), "eu-central-1");
}

TEST(LambdaCreate, RefusesBadOptions) {
    auto no_region = base_options();
    no_region.region.clear();
    no_region.env = [](std::string_view k) -> std::optional<std::string> {
        if (k == "AWS_CONFIG_FILE" || k == "AWS_SHARED_CREDENTIALS_FILE") return "/nonexistent";
        return std::nullopt;
    };
    EXPECT_FALSE(aws::LambdaExecutor::create(no_region));
    auto bad_region = base_options();
    bad_region.region = "us-east-1.evil.example/";
    EXPECT_FALSE(aws::LambdaExecutor::create(bad_region));
    auto bad_prefix = base_options();
    bad_prefix.function_prefix = "a b";
    EXPECT_FALSE(aws::LambdaExecutor::create(bad_prefix));
    auto bad_url = base_options();
    bad_url.endpoint_url = "ftp://127.0.0.1";
    EXPECT_FALSE(aws::LambdaExecutor::create(bad_url));
    auto bad_config = base_options();
    bad_config.default_config.timeout_secs = 1000;
    EXPECT_FALSE(aws::LambdaExecutor::create(bad_config));
    auto half_keys = base_options();
    half_keys.credentials = aws::StaticCredentials{"AKID", ""};
    auto r = aws::LambdaExecutor::create(half_keys);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::unauthorized);
}
