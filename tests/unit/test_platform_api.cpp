// The local platform's pure protocol pieces: Lambda API routing, request
// parsing and error shapes (checked against the botocore model), the custom
// platform API, and config validation.
#include "platform/custom_api.hpp"
#include "platform/lambda_api.hpp"
#include "platform/model.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace {
using namespace blueprint::platform;
namespace lapi = blueprint::platform::lambda_api;
namespace capi = blueprint::platform::custom_api;
namespace json = boost::json;
namespace wire = blueprint::faas::wire;

std::string create_body(std::string_view overrides_json = "{}") {
    json::object o{{"FunctionName", "fn"},
                   {"Runtime", "provided.al2023"},
                   {"Role", "arn:aws:iam::123456789012:role/lambda-exec"},
                   {"Handler", "bootstrap"},
                   {"Code", json::object{{"ZipFile", wire::base64_encode("PK\x03\x04 zip bytes")}}}};
    const json::value overrides = json::parse(overrides_json);
    for (const auto& kv : overrides.as_object()) o[kv.key()] = kv.value();
    return json::serialize(o);
}

TEST(PlatformLambdaRoute, EveryOperationOfTheSubset) {
    using lapi::Op;
    struct Case {
        const char* method;
        const char* target;
        Op op;
        const char* function;
    } cases[] = {
        {"POST", "/2015-03-31/functions", Op::create_function, ""},
        {"GET", "/2015-03-31/functions/", Op::list_functions, ""},
        {"GET", "/2015-03-31/functions/?MaxItems=5&Marker=b", Op::list_functions, ""},
        {"GET", "/2015-03-31/functions/f", Op::get_function, "f"},
        {"DELETE", "/2015-03-31/functions/f", Op::delete_function, "f"},
        {"GET", "/2015-03-31/functions/f/configuration", Op::get_function_configuration, "f"},
        {"PUT", "/2015-03-31/functions/f/configuration", Op::update_function_configuration, "f"},
        {"PUT", "/2015-03-31/functions/f/code", Op::update_function_code, "f"},
        {"POST", "/2015-03-31/functions/f/invocations", Op::invoke, "f"},
        {"PUT", "/2017-10-31/functions/f/concurrency", Op::put_function_concurrency, "f"},
        {"DELETE", "/2017-10-31/functions/f/concurrency", Op::delete_function_concurrency, "f"},
        {"GET", "/2019-09-30/functions/f/concurrency", Op::get_function_concurrency, "f"},
        // The AWS CLI percent-encodes an ARN's colons.
        {"POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Ag/invocations",
         Op::invoke, "arn:aws:lambda:us-east-1:123456789012:function:g"},
        {"PATCH", "/2015-03-31/functions/f", Op::unsupported, "f"},
        {"GET", "/2015-03-31/functions/f/policy", Op::unsupported, "f"},
        {"GET", "/2017-10-31/functions/f/concurrency", Op::unsupported, "f"},
        {"GET", "/2015-03-31/event-source-mappings/", Op::unsupported, ""},
    };
    for (const auto& c : cases) {
        auto r = lapi::route(c.method, c.target);
        ASSERT_TRUE(r) << c.method << " " << c.target;
        EXPECT_EQ(r->op, c.op) << c.method << " " << c.target;
        EXPECT_EQ(r->function, c.function) << c.target;
    }
    EXPECT_FALSE(lapi::route("GET", "/api/functions/f"));
    EXPECT_FALSE(lapi::route("GET", "/health"));
    EXPECT_FALSE(lapi::route("GET", "/2016-01-01/functions"));
    EXPECT_EQ(lapi::route("GET", "/2015-03-31/functions/%zz")->op, lapi::Op::unsupported);
    EXPECT_EQ(lapi::route("GET", "/2015-03-31/functions/?MaxItems=5")->query, "MaxItems=5");
}

TEST(PlatformLambdaRoute, FunctionNamesArnsAndQualifiers) {
    EXPECT_EQ(lapi::function_name("us-east-1", "f").value(), "f");
    EXPECT_EQ(lapi::function_name("us-east-1", "f:$LATEST").value(), "f");
    EXPECT_EQ(lapi::function_name("us-east-1", "123456789012:function:f").value(), "f");
    EXPECT_EQ(lapi::function_name("us-east-1", "arn:aws:lambda:us-east-1:123456789012:function:f").value(), "f");
    auto versioned = lapi::function_name("us-east-1", "f:3");
    ASSERT_FALSE(versioned);
    EXPECT_EQ(versioned.error().status, 404u);
    EXPECT_EQ(versioned.error().type, "ResourceNotFoundException");
    auto bad = lapi::function_name("us-east-1", "bad name!");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().type, "InvalidParameterValueException");
    EXPECT_FALSE(lapi::function_name("us-east-1", "arn:aws:s3:::bucket"));
    EXPECT_FALSE(lapi::function_name("us-east-1", std::string(65, 'a')));
}

TEST(PlatformLambdaErrors, ShapesFollowTheBotocoreModel) {
    // ResourceNotFoundException and ServiceException spell it "Message";
    // the others "message" (botocore lambda/2015-03-31/service-2.json).
    auto nf = json::parse(lapi::error_body(lapi::not_found("us-east-1", "f"))).as_object();
    EXPECT_EQ(nf.at("Type"), "User");
    EXPECT_EQ(nf.at("Message"), "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f");
    EXPECT_FALSE(nf.contains("message"));
    auto svc = json::parse(lapi::error_body(lapi::service_error("disk"))).as_object();
    EXPECT_TRUE(svc.contains("Message"));
    auto cf = json::parse(lapi::error_body(lapi::conflict("exists"))).as_object();
    EXPECT_EQ(cf.at("message"), "exists");
    EXPECT_FALSE(cf.contains("Message"));
    auto th = lapi::throttled("ReservedFunctionConcurrentInvocationLimitExceeded", "Rate Exceeded.", 2);
    EXPECT_EQ(th.status, 429u);
    EXPECT_EQ(th.retry_after, 2u);
    auto tb = json::parse(lapi::error_body(th)).as_object();
    EXPECT_EQ(tb.at("Reason"), "ReservedFunctionConcurrentInvocationLimitExceeded");
    EXPECT_EQ(tb.at("message"), "Rate Exceeded.");
    EXPECT_EQ(lapi::invalid_parameter("x").status, 400u);
    EXPECT_EQ(lapi::too_large("x").status, 413u);
    EXPECT_EQ(lapi::too_large("x").type, "RequestTooLargeException");
    EXPECT_EQ(lapi::invalid_content("x").type, "InvalidRequestContentException");
}

TEST(PlatformLambdaCreate, ParsesAValidRequest) {
    auto r = lapi::parse_create(create_body(R"({"MemorySize":256,"Timeout":30,"Architectures":["arm64"],
        "Environment":{"Variables":{"A":"1"}},"Tags":{"team":"x"},"Description":"d"})"),
                                1024);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->config.name, "fn");
    EXPECT_EQ(r->config.memory_mb, 256u);
    EXPECT_EQ(r->config.timeout_s, 30u);
    EXPECT_EQ(r->config.architecture, "arm64");
    EXPECT_EQ(r->config.env.at("A"), "1");
    EXPECT_EQ(r->config.tags.at("team"), "x");
    EXPECT_EQ(r->zip, "PK\x03\x04 zip bytes");
    // Defaults: 128 MB, 3 s, x86_64.
    auto d = lapi::parse_create(create_body(), 1024);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->config.memory_mb, 128u);
    EXPECT_EQ(d->config.timeout_s, 3u);
    EXPECT_EQ(d->config.architecture, "x86_64");
}

TEST(PlatformLambdaCreate, RefusesBadInput) {
    struct Case {
        std::string body;
        unsigned status;
        const char* type;
    } cases[] = {
        {"not json", 400, "InvalidRequestContentException"},
        {"[1,2]", 400, "InvalidRequestContentException"},
        {create_body(R"({"Role":null})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Role":"not-an-arn"})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Runtime":"python3.12"})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Handler":null})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"MemorySize":64})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"MemorySize":10241})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Timeout":0})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Timeout":901})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Timeout":"3"})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Architectures":["x86_64","arm64"]})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Environment":{"Variables":{"AWS_REGION":"x"}}})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Environment":{"Variables":{"1BAD":"x"}}})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Code":{"S3Bucket":"b","S3Key":"k"}})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Code":{"ZipFile":"!!notbase64"}})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"Code":{}})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"FunctionName":"f:1"})"), 400, "InvalidParameterValueException"},
        {create_body(R"({"PackageType":"Image"})"), 400, "InvalidParameterValueException"},
    };
    for (const auto& c : cases) {
        auto r = lapi::parse_create(c.body, 1024);
        ASSERT_FALSE(r) << c.body;
        EXPECT_EQ(r.error().status, c.status) << c.body;
        EXPECT_EQ(r.error().type, c.type) << c.body;
        EXPECT_FALSE(r.error().message.empty());
    }
    // Over the package limit: 413.
    auto big = lapi::parse_create(create_body(), 4);
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().status, 413u);
    // Environment over 4 KB.
    std::string env = R"({"Environment":{"Variables":{"BIG":")" + std::string(5000, 'x') + "\"}}}";
    EXPECT_FALSE(lapi::parse_create(create_body(env), 1024));
}

TEST(PlatformLambdaUpdate, ConfigurationAppliesOnlyWhatIsGiven) {
    FunctionConfig c;
    c.name = "f";
    c.revision_id = "rev-1";
    c.env = {{"OLD", "1"}};
    ASSERT_TRUE(lapi::apply_update_configuration(R"({"Timeout":10,"Environment":{"Variables":{"NEW":"2"}}})", c));
    EXPECT_EQ(c.timeout_s, 10u);
    EXPECT_EQ(c.memory_mb, 128u);
    EXPECT_EQ(c.env.size(), 1u);
    EXPECT_EQ(c.env.at("NEW"), "2");
    // A stale RevisionId is a 412, and nothing changes.
    auto stale = lapi::apply_update_configuration(R"({"Timeout":20,"RevisionId":"rev-0"})", c);
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().status, 412u);
    EXPECT_EQ(c.timeout_s, 10u);
    // A bad value leaves the config untouched too.
    EXPECT_FALSE(lapi::apply_update_configuration(R"({"Timeout":5,"MemorySize":1})", c));
    EXPECT_EQ(c.timeout_s, 10u);

    auto code = lapi::parse_update_code(R"({"ZipFile":")" + wire::base64_encode("zip") + R"(","Publish":false})", 100);
    ASSERT_TRUE(code);
    EXPECT_EQ(code->zip, "zip");
    EXPECT_FALSE(lapi::parse_update_code(R"({"S3Bucket":"b"})", 100));
    EXPECT_FALSE(lapi::parse_update_code(R"({})", 100));
}

TEST(PlatformLambdaConcurrencyAndList, ParseAndRender) {
    EXPECT_EQ(lapi::parse_put_concurrency(R"({"ReservedConcurrentExecutions":4})", 64).value(), 4u);
    EXPECT_EQ(lapi::parse_put_concurrency(R"({"ReservedConcurrentExecutions":0})", 64).value(), 0u);
    EXPECT_FALSE(lapi::parse_put_concurrency(R"({"ReservedConcurrentExecutions":65})", 64));
    EXPECT_FALSE(lapi::parse_put_concurrency(R"({"ReservedConcurrentExecutions":-1})", 64));
    EXPECT_FALSE(lapi::parse_put_concurrency(R"({})", 64));
    EXPECT_EQ(lapi::concurrency(std::nullopt), "{}");
    EXPECT_EQ(lapi::concurrency(3u), R"({"ReservedConcurrentExecutions":3})");

    EXPECT_EQ(lapi::parse_list_query("").value().max_items, 50u);
    EXPECT_EQ(lapi::parse_list_query("MaxItems=7&Marker=abc").value().max_items, 7u);
    EXPECT_EQ(lapi::parse_list_query("MaxItems=7&Marker=abc").value().marker, "abc");
    EXPECT_EQ(lapi::parse_list_query("MaxItems=500").value().max_items, 50u);
    EXPECT_FALSE(lapi::parse_list_query("MaxItems=0"));
    EXPECT_FALSE(lapi::parse_list_query("MaxItems=x"));
    auto list = json::parse(lapi::list_functions({"{\"FunctionName\":\"a\"}"}, std::string("a"))).as_object();
    EXPECT_EQ(list.at("Functions").as_array().size(), 1u);
    EXPECT_EQ(list.at("NextMarker"), "a");
    EXPECT_FALSE(json::parse(lapi::list_functions({}, std::nullopt)).as_object().contains("NextMarker"));
}

TEST(PlatformLambdaRender, FunctionConfigurationFields) {
    FunctionConfig c;
    c.name = "f";
    c.code_sha256 = "abc=";
    c.code_size = 42;
    c.env = {{"K", "V"}};
    c.reserved_concurrency = 2;
    c.tags = {{"t", "1"}};
    auto o = json::parse(lapi::function_configuration(c, "eu-west-1", {"Pending", "InProgress", "creating"})).as_object();
    EXPECT_EQ(o.at("FunctionArn"), "arn:aws:lambda:eu-west-1:000000000000:function:f");
    EXPECT_EQ(o.at("Version"), "$LATEST");
    EXPECT_EQ(o.at("State"), "Pending");
    EXPECT_EQ(o.at("StateReason"), "creating");
    EXPECT_EQ(o.at("LastUpdateStatus"), "InProgress");
    EXPECT_EQ(o.at("CodeSize"), 42);
    EXPECT_EQ(o.at("Environment").at("Variables").at("K"), "V");
    EXPECT_EQ(o.at("Architectures").as_array().at(0), "x86_64");
    for (auto key : {"FunctionName", "Runtime", "Role", "Handler", "CodeSha256", "MemorySize", "Timeout", "LastModified"})
        EXPECT_TRUE(o.contains(key)) << key;
    auto g = json::parse(lapi::get_function(c, "us-east-1", {}, "http://h/code")).as_object();
    EXPECT_EQ(g.at("Code").at("RepositoryType"), "S3");
    EXPECT_EQ(g.at("Code").at("Location"), "http://h/code");
    EXPECT_EQ(g.at("Concurrency").at("ReservedConcurrentExecutions"), 2);
    EXPECT_EQ(g.at("Tags").at("t"), "1");
}

TEST(PlatformModel, ConfigRoundTripsAndRejectsDamage) {
    FunctionConfig c;
    c.name = "round";
    c.memory_mb = 512;
    c.reserved_concurrency = 0;
    c.run_model = RunModel::stdio;
    c.env = {{"A", "b"}};
    auto back = config_from_json(to_json(c));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->name, "round");
    EXPECT_EQ(back->memory_mb, 512u);
    EXPECT_EQ(back->reserved_concurrency, 0u);
    EXPECT_EQ(back->run_model, RunModel::stdio);
    EXPECT_EQ(back->env, c.env);
    EXPECT_FALSE(config_from_json(""));
    EXPECT_FALSE(config_from_json("{\"name\":\"x\""));  // truncated
    EXPECT_FALSE(config_from_json(R"({"memory_mb":128})"));  // no name
    EXPECT_FALSE(config_from_json(R"({"name":"a b"})"));
    EXPECT_FALSE(config_from_json(R"({"name":"a","memory_mb":1})"));
    EXPECT_FALSE(config_from_json(R"({"name":"a","run_model":"docker"})"));
}

TEST(PlatformModel, ValidationBounds) {
    EXPECT_FALSE(check_memory(128));
    EXPECT_FALSE(check_memory(10240));
    EXPECT_TRUE(check_memory(127));
    EXPECT_FALSE(check_timeout(1));
    EXPECT_FALSE(check_timeout(900));
    EXPECT_TRUE(check_timeout(901));
    EXPECT_FALSE(check_role("arn:aws:iam::123456789012:role/service-role/x"));
    EXPECT_TRUE(check_role("arn:aws:iam::12345:role/x"));
    EXPECT_FALSE(check_function_name("a-b_C9"));
    EXPECT_TRUE(check_function_name(""));
    EXPECT_TRUE(check_function_name("a.b"));
    EXPECT_EQ(lambda_timestamp(std::chrono::system_clock::time_point(std::chrono::milliseconds(1714564800123))),
              "2024-05-01T12:00:00.123+0000");
    EXPECT_EQ(iso8601(std::chrono::system_clock::time_point(std::chrono::seconds(1714564800))), "2024-05-01T12:00:00Z");
    auto a = random_uuid(), b = random_uuid();
    EXPECT_NE(a, b);
    EXPECT_EQ(a.size(), 36u);
    EXPECT_EQ(a[14], '4');
}

TEST(PlatformCustomApi, Routes) {
    using capi::Op;
    EXPECT_EQ(capi::route("PUT", "/api/functions/7")->op, Op::deploy);
    EXPECT_EQ(capi::route("GET", "/api/functions/7")->op, Op::get);
    EXPECT_EQ(capi::route("DELETE", "/api/functions/7")->op, Op::remove);
    EXPECT_EQ(capi::route("POST", "/api/functions/7/invoke")->op, Op::invoke);
    EXPECT_EQ(capi::route("GET", "/api/functions/7/health")->op, Op::health);
    EXPECT_EQ(capi::route("POST", "/api/functions/7/warm?instances=2")->op, Op::warm);
    EXPECT_EQ(capi::route("POST", "/api/functions/7/warm")->id, "7");
    EXPECT_EQ(capi::route("GET", "/api/functions/7/invoke")->op, Op::unsupported);
    EXPECT_EQ(capi::route("POST", "/api/functions/7")->op, Op::unsupported);
    EXPECT_EQ(capi::route("GET", "/api/functions")->op, Op::unsupported);
    EXPECT_FALSE(capi::route("GET", "/2015-03-31/functions/f"));
    EXPECT_FALSE(capi::route("GET", "/metrics"));
}

TEST(PlatformCustomApi, DeployConfigHeader) {
    auto d = capi::parse_deploy_config("", 64);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->memory_mb, 512u);
    EXPECT_EQ(d->timeout_secs, 300u);
    EXPECT_EQ(d->run_model, RunModel::lambda);
    auto enc = [](std::string_view j) { return wire::base64_encode(j); };
    auto full = capi::parse_deploy_config(
        enc(R"({"memory_mb":1024,"timeout_secs":60,"max_concurrency":3,"env_vars":{"X":"y"},"runtime":"stdio","extra":1})"), 64);
    ASSERT_TRUE(full);
    EXPECT_EQ(full->memory_mb, 1024u);
    EXPECT_EQ(full->timeout_secs, 60u);
    EXPECT_EQ(full->max_concurrency, 3u);
    EXPECT_EQ(full->env_vars.at("X"), "y");
    EXPECT_EQ(full->run_model, RunModel::stdio);
    for (auto bad : {std::string("%%%"), enc("not json"), enc(R"({"memory_mb":64})"), enc(R"({"timeout_secs":0})"),
                     enc(R"({"max_concurrency":1000})"), enc(R"({"env_vars":{"_HANDLER":"x"}})"),
                     enc(R"({"runtime":"docker"})"), enc(R"({"memory_mb":"big"})")}) {
        auto r = capi::parse_deploy_config(bad, 64);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().status, 400u);
        EXPECT_EQ(r.error().code, "invalid_request");
    }
    auto fc = capi::to_function_config("9", *full);
    EXPECT_EQ(fc.name, "9");
    EXPECT_EQ(fc.created_via, "custom");
    EXPECT_EQ(fc.reserved_concurrency, 3u);
}

TEST(PlatformCustomApi, ReplyShapes) {
    wire::Reply ok;
    ok.result = {1, 2};
    auto r = capi::invoke_reply(blueprint::JobId(7u), ok, 1.5, 12, true);
    EXPECT_EQ(r.status, 200u);
    auto o = json::parse(r.body).as_object();
    EXPECT_EQ(o.at("job_id"), 7);
    EXPECT_EQ(o.at("success"), true);
    EXPECT_EQ(o.at("result").as_array().size(), 2u);
    EXPECT_EQ(o.at("memory_used_mb"), 12);
    // And an executor reads it back.
    auto back = wire::decode_reply_json(r.body);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->result, (blueprint::Bytes{1, 2}));

    wire::Reply failed;
    failed.success = false;
    failed.error = "boom";
    failed.error_type = "X";
    auto f = capi::invoke_reply(blueprint::JobId(7u), failed, 1.0, 0, false);
    EXPECT_EQ(f.status, 500u);
    auto fo = json::parse(f.body).as_object();
    EXPECT_EQ(fo.at("success"), false);
    EXPECT_EQ(fo.at("error"), "boom");
    EXPECT_TRUE(fo.at("result").as_array().empty());
    auto fb = wire::decode_reply_json(f.body);
    ASSERT_TRUE(fb);
    EXPECT_FALSE(fb->success);

    auto e = json::parse(capi::error_body({404, "not_found", "no f", "details"})).as_object();
    EXPECT_EQ(e.at("error"), "no f");
    EXPECT_EQ(e.at("code"), "not_found");
    EXPECT_EQ(e.at("details"), "details");
    auto h = json::parse(capi::health("7", "healthy", std::nullopt, 3)).as_object();
    EXPECT_TRUE(h.at("last_invocation").is_null());
    EXPECT_EQ(h.at("total_invocations"), 3);
    EXPECT_EQ(json::parse(capi::warmed("7", 2)).at("instances_warmed"), 2);
    EXPECT_EQ(json::parse(capi::deleted("7")).at("status"), "deleted");
}

TEST(PlatformCustomApi, WarmCountAndBearer) {
    EXPECT_EQ(capi::parse_warm_count("", "", 10).value(), 1u);
    EXPECT_EQ(capi::parse_warm_count(R"({"instances":3})", "", 10).value(), 3u);
    EXPECT_EQ(capi::parse_warm_count("", "instances=4", 10).value(), 4u);
    EXPECT_FALSE(capi::parse_warm_count(R"({"instances":11})", "", 10));
    EXPECT_FALSE(capi::parse_warm_count(R"({"instances":0})", "", 10));
    EXPECT_FALSE(capi::parse_warm_count("garbage", "", 10));
    EXPECT_TRUE(capi::bearer_matches("Bearer s3cret", "s3cret"));
    EXPECT_TRUE(capi::bearer_matches("bearer s3cret", "s3cret"));
    EXPECT_FALSE(capi::bearer_matches("Bearer s3cre", "s3cret"));
    EXPECT_FALSE(capi::bearer_matches("Bearer s3cretX", "s3cret"));
    EXPECT_FALSE(capi::bearer_matches("Basic s3cret", "s3cret"));
    EXPECT_FALSE(capi::bearer_matches("", "s3cret"));
    EXPECT_FALSE(capi::bearer_matches("Bearer ", ""));
}

}  // namespace
