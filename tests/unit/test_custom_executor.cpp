// custom::HttpFaasExecutor against in-test servers on 127.0.0.1:0, plus its
// pure helpers (URL joining, status mapping, the zip writer).
#include <blueprint/faas/custom.hpp>
#include <blueprint/faas/wire.hpp>

#include "common/fake_platform.hpp"
#include "common/run_coro.hpp"
#include "faas/custom/platform_api.hpp"
#include "faas/packaging/zip.hpp"

#include <blueprint/faas/packaging.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>

namespace {

using namespace blueprint;
using namespace blueprint::faas;
using blueprint::faas::custom::HttpFaasExecutor;
using blueprint::faas::custom::WireFormat;
using blueprint::test::FakePlatform;
using blueprint::test::HttpExchange;
using blueprint::test::HttpReply;
using blueprint::test::TestHttpServer;
namespace json = boost::json;
namespace detail = blueprint::faas::custom::detail;

/// Client options for tests: no proxies from the environment, fast backoff.
http::ClientOptions test_client(unsigned max_attempts = 3) {
    http::ClientOptions o;
    o.use_env_proxy = false;
    o.connect_timeout = std::chrono::seconds(5);
    o.retry.max_attempts = max_attempts;
    o.retry.initial_backoff = std::chrono::milliseconds(1);
    o.retry.max_backoff = std::chrono::milliseconds(50);
    return o;
}

FaasConfig config_with_timeout(std::uint32_t secs) {
    FaasConfig c;
    c.timeout_secs = secs;
    return c;
}

std::vector<std::uint8_t> json_bytes(const json::value& v) {
    std::vector<std::uint8_t> out;
    for (const auto& b : v.as_array()) out.push_back(static_cast<std::uint8_t>(b.to_number<int>()));
    return out;
}

/// Endpoint mode with JSON forced. The servers in these tests check exact
/// request shapes and counts, so they must not see the GET /health probe of
/// the default WireFormat::automatic (tested on its own below).
HttpFaasExecutor json_endpoint(std::string url, http::ClientOptions client) {
    HttpFaasExecutor exec(std::move(url), std::move(client));
    exec.with_wire_format(WireFormat::json);
    return exec;
}

HttpReply ok_json(std::string body) { return HttpReply::json(200, std::move(body)); }

HttpReply reply(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpReply r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
}

// ---- pure helpers -------------------------------------------------------------

TEST(CustomHelpers, JoinUrlPutsExactlyOneSlash) {
    EXPECT_EQ(detail::join_url("http://h:1", "job/7"), "http://h:1/job/7");
    EXPECT_EQ(detail::join_url("http://h:1/", "/job/7"), "http://h:1/job/7");
    EXPECT_EQ(detail::join_url("http://h:1//", "//job/7"), "http://h:1/job/7");
    EXPECT_EQ(detail::join_url("http://h:1/prefix/", "job/7"), "http://h:1/prefix/job/7");
}

TEST(CustomHelpers, FunctionIdIsDecimalOrFullHexNeverTruncated) {
    EXPECT_EQ(detail::function_id(JobId(7u)), "7");
    EXPECT_EQ(detail::function_id(JobId(std::uint64_t{0xffffffffffffffffull})), "18446744073709551615");
    std::array<std::uint8_t, 32> be{};
    be[0] = 0xab;
    be[31] = 0x01;
    auto big = JobId::from_bytes(be);
    auto id = detail::function_id(big);
    EXPECT_EQ(id.size(), 2u + 64u) << id;
    EXPECT_TRUE(id.starts_with("0xab")) << id;
    EXPECT_TRUE(id.ends_with("01")) << id;
}

TEST(CustomHelpers, EndpointForEachMode) {
    HttpFaasExecutor endpoint("http://127.0.0.1:9/base/", test_client());
    EXPECT_EQ(endpoint.endpoint_for(JobId(3u)), "http://127.0.0.1:9/base/job/3");
    endpoint.with_job_endpoint(4, "http://127.0.0.1:9/compute");
    EXPECT_EQ(endpoint.endpoint_for(JobId(4u)), "http://127.0.0.1:9/compute");
    // Copies share state.
    auto copy = endpoint;
    copy.with_job_endpoint(5, "http://x/five");
    EXPECT_EQ(endpoint.endpoint_for(JobId(5u)), "http://x/five");

    auto platform = HttpFaasExecutor::platform("http://127.0.0.1:9", test_client());
    EXPECT_EQ(platform.endpoint_for(JobId(3u)), "http://127.0.0.1:9/api/functions/3/invoke");
    EXPECT_EQ(platform.provider_name(), "custom-http");
}

TEST(CustomHelpers, UrlOriginAndRedaction) {
    EXPECT_EQ(detail::url_origin("http://127.0.0.1:8080/a/b?c=d").value(), "http://127.0.0.1:8080");
    EXPECT_EQ(detail::url_origin("https://example.com/x").value(), "https://example.com");
    EXPECT_FALSE(detail::url_origin("not a url").has_value());
    EXPECT_FALSE(detail::url_origin("ftp://h/x").has_value());
    EXPECT_EQ(detail::redact_url("http://user:pw@h:1/p?code=secret#f"), "http://h:1/p");
}

TEST(CustomHelpers, StatusMappingTable) {
    struct Row {
        int status;
        faas_errc kind;
    };
    const Row rows[] = {
        {404, faas_errc::not_found},         {401, faas_errc::unauthorized},     {403, faas_errc::unauthorized},
        {429, faas_errc::throttled},         {503, faas_errc::throttled},        {500, faas_errc::function_error},
        {502, faas_errc::function_error},    {504, faas_errc::function_error},   {400, faas_errc::invocation_failed},
        {405, faas_errc::invocation_failed}, {409, faas_errc::invocation_failed}, {413, faas_errc::invocation_failed},
        {302, faas_errc::invocation_failed},
    };
    for (const auto& row : rows) {
        auto e = custom::status_to_faas_error(row.status, "", "invoke job 1");
        EXPECT_EQ(e.kind, row.kind) << row.status;
        EXPECT_EQ(e.http_status, row.status);
        EXPECT_NE(e.message.find("HTTP " + std::to_string(row.status)), std::string::npos) << e.message;
        EXPECT_TRUE(e.message.starts_with("invoke job 1")) << e.message;
    }
    EXPECT_NE(custom::status_to_faas_error(413, "", "x").message.find("too large"), std::string::npos);
}

TEST(CustomHelpers, StatusMappingExtractsTheFunctionsMessage) {
    auto e = custom::status_to_faas_error(500, R"({"errorMessage":"division by zero","errorType":"MathError"})", "ctx");
    EXPECT_EQ(e.kind, faas_errc::function_error);
    EXPECT_NE(e.message.find("division by zero"), std::string::npos) << e.message;
    EXPECT_EQ(e.function_error_type, "MathError");

    e = custom::status_to_faas_error(500, R"({"error":{"message":"nested","type":"T"}})", "ctx");
    EXPECT_NE(e.message.find("nested"), std::string::npos);
    EXPECT_EQ(e.function_error_type, "T");

    e = custom::status_to_faas_error(500, R"({"message":"plain"})", "ctx");
    EXPECT_NE(e.message.find("plain"), std::string::npos);

    e = custom::status_to_faas_error(404, R"({"error":"function not found","code":"not_found","details":"7"})", "ctx");
    EXPECT_NE(e.message.find("function not found (7)"), std::string::npos) << e.message;

    // A non-JSON body is quoted as a short excerpt, control bytes hidden.
    std::string html = "<html>" + std::string(5000, 'x') + "\x01</html>";
    e = custom::status_to_faas_error(502, html, "ctx");
    EXPECT_LT(e.message.size(), 260u) << e.message;
    EXPECT_NE(e.message.find("<html>xxx"), std::string::npos);
    EXPECT_NE(e.message.find("..."), std::string::npos);
}

TEST(CustomHelpers, ClientErrorMappingTable) {
    using http::http_errc;
    struct Row {
        http_errc code;
        faas_errc kind;
    };
    const Row rows[] = {
        {http_errc::invalid_url, faas_errc::invocation_failed}, {http_errc::resolve_failed, faas_errc::infrastructure},
        {http_errc::connect_failed, faas_errc::infrastructure}, {http_errc::connect_timeout, faas_errc::timeout},
        {http_errc::timeout, faas_errc::timeout},               {http_errc::tls_failed, faas_errc::infrastructure},
        {http_errc::connection_lost, faas_errc::infrastructure}, {http_errc::protocol_error, faas_errc::infrastructure},
        {http_errc::response_too_large, faas_errc::serialization}, {http_errc::proxy_failed, faas_errc::infrastructure},
        {http_errc::cancelled, faas_errc::timeout},
    };
    for (const auto& row : rows) {
        http::HttpError err{make_error_code(row.code), "something about 127.0.0.1", std::nullopt};
        auto e = custom::to_faas_error(err);
        EXPECT_EQ(e.kind, row.kind) << static_cast<int>(row.code);
        EXPECT_EQ(e.message, "something about 127.0.0.1");
    }
}

TEST(CustomHelpers, FailureReplyDetection) {
    EXPECT_TRUE(detail::is_failure_reply(R"({"job_id":1,"result":[],"success":false,"error":"x"})"));
    EXPECT_FALSE(detail::is_failure_reply(R"({"result":[],"success":true})"));
    EXPECT_FALSE(detail::is_failure_reply(R"({"error":"x"})"));
    EXPECT_FALSE(detail::is_failure_reply(R"({"success":"false"})"));
    EXPECT_FALSE(detail::is_failure_reply("<html>"));
    EXPECT_FALSE(detail::is_failure_reply(""));
}

TEST(CustomHelpers, DeployConfigJson) {
    FaasConfig c;
    c.memory_mb = 1024;
    c.timeout_secs = 60;
    c.max_concurrency = 8;
    c.env_vars = {{"A", "1"}, {"B", "two"}};
    auto v = json::parse(detail::encode_deploy_config(c)).as_object();
    EXPECT_EQ(v.at("memory_mb").to_number<int>(), 1024);
    EXPECT_EQ(v.at("timeout_secs").to_number<int>(), 60);
    EXPECT_EQ(v.at("max_concurrency").to_number<int>(), 8);
    EXPECT_EQ(v.at("env_vars").at("B").as_string(), "two");
    c.max_concurrency.reset();
    EXPECT_FALSE(json::parse(detail::encode_deploy_config(c)).as_object().contains("max_concurrency"));
}

TEST(CustomHelpers, ParseDeployment) {
    auto d = detail::parse_deployment(
        R"({"function_id":"7","endpoint":"/api/functions/7/invoke","status":"deployed","cold_start_ms":12,"memory_mb":256,"timeout_secs":30,"extra":1})",
        JobId(7u), "http://127.0.0.1:5/", "fallback");
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->function_id, "7");
    EXPECT_EQ(d->job_id, JobId(7u));
    EXPECT_EQ(d->endpoint, "http://127.0.0.1:5/api/functions/7/invoke");
    EXPECT_EQ(d->cold_start_ms, 12u);
    EXPECT_EQ(d->memory_mb, 256u);
    EXPECT_EQ(d->timeout_secs, 30u);

    d = detail::parse_deployment("{}", JobId(9u), "http://h", "http://h/fallback");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->function_id, "9");
    EXPECT_EQ(d->endpoint, "http://h/fallback");

    auto bad = detail::parse_deployment("[1,2", JobId(9u), "http://h", "");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, faas_errc::serialization);
}

// A zip for the fake platform, written by the packaging library.
std::vector<std::uint8_t> make_zip(std::initializer_list<std::tuple<std::string, Bytes, std::uint32_t>> files) {
    std::vector<faas::packaging::detail::FileSpec> specs;
    for (const auto& [name, data, mode] : files) specs.push_back({name, 0100000u | mode, data});
    return faas::packaging::detail::write_zip(specs).value();
}


// ---- endpoint mode against scripted servers ---------------------------------------

// co_spawn needs a default-constructible result and JobResult has none, so
// results travel through std::optional.
template <class T> boost::asio::awaitable<std::optional<T>> optional_of(boost::asio::awaitable<T> aw) {
    co_return co_await std::move(aw);
}

class ExecutorTestBase : public blueprint::test::IoContextTest {
protected:
    template <class T> T run(boost::asio::awaitable<T> aw, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
        return std::move(*IoContextTest::run(optional_of(std::move(aw)), timeout));
    }
};

class CustomExecutorTest : public ExecutorTestBase {};

TEST_F(CustomExecutorTest, JsonHappyPathSendsRequestAndStampsMetadata) {
    TestHttpServer server([](const HttpExchange& ex) {
        if (ex.method != "POST" || ex.target != "/job/7") return HttpReply::json(404, R"({"error":"wrong route"})");
        if (ex.header("Content-Type") != "application/json") return HttpReply::json(400, R"({"error":"type"})");
        auto v = json::parse(ex.body).as_object();
        if (v.at("job_id").to_number<int>() != 7) return HttpReply::json(400, R"({"error":"job_id"})");
        if (!v.contains("metadata")) return HttpReply::json(400, R"({"error":"no metadata"})");
        auto args = json_bytes(v.at("args"));
        std::reverse(args.begin(), args.end());
        json::array result;
        for (auto b : args) result.push_back(b);
        return ok_json(json::serialize(json::object{{"result", result}}));
    });
    auto exec = json_endpoint(server.url() + "/", test_client());
    Metadata md;
    md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(42));
    auto r = run(exec.invoke(JobCall(7, to_bytes("abc"), md)));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_ok()) << r->error().message;
    EXPECT_EQ(to_string(r->body()), "cba");
    EXPECT_EQ(r->job_id(), JobId(7u));
    ASSERT_NE(r->metadata().get(metadata_keys::call_id), nullptr);
    EXPECT_EQ(r->metadata().get(metadata_keys::call_id)->to_u64().value(), 42u);
    EXPECT_EQ(server.request_count(), 1u);
}

TEST_F(CustomExecutorTest, ResultAsStringIsItsUtf8Bytes) {
    TestHttpServer server([](const HttpExchange&) { return ok_json(R"({"result":"héllo","unknown":{"x":1}})"); });
    auto exec = json_endpoint(server.url(), test_client());
    auto r = run(exec.invoke(JobCall(1, {})));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_ok());
    EXPECT_EQ(to_string(r->body()), "héllo");
}

TEST_F(CustomExecutorTest, CustomEndpointPerJob) {
    TestHttpServer server([](const HttpExchange& ex) {
        return ex.target == "/compute" ? ok_json(R"({"result":[1]})") : HttpReply::json(404, "{}");
    });
    auto exec = json_endpoint(server.url(), test_client());
    exec.with_job_endpoint(2, server.url() + "/compute");
    auto r = run(exec.invoke(JobCall(2, {})));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->body(), Bytes{1});
    auto other = run(exec.invoke(JobCall(3, {})));
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().kind, faas_errc::not_found);
}

TEST_F(CustomExecutorTest, FailureReplyIsAJobErrorNotAFaasError) {
    TestHttpServer server([](const HttpExchange& ex) {
        if (ex.target == "/job/1")
            return ok_json(R"({"success":false,"error":{"message":"bad input","type":"InvalidInput"},"result":[]})");
        // The platform API's failed-job shape comes with status 500.
        return HttpReply::json(500, R"({"job_id":2,"result":[],"success":false,"error":"it broke"})");
    });
    auto exec = json_endpoint(server.url(), test_client());
    Metadata md;
    md.insert("k", MetadataValue("v"));
    auto r = run(exec.invoke(JobCall(1, {}, md)));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_error());
    EXPECT_EQ(r->error().code, make_error_code(faas_errc::function_error));
    EXPECT_EQ(r->error().message, "bad input");
    EXPECT_EQ(r->error().type, "InvalidInput");
    EXPECT_TRUE(r->metadata().contains("k"));

    auto r2 = run(exec.invoke(JobCall(2, {})));
    ASSERT_TRUE(r2) << r2.error().to_string();
    ASSERT_TRUE(r2->is_error());
    EXPECT_EQ(r2->error().message, "it broke");
    EXPECT_EQ(r2->job_id(), JobId(2u));
}

TEST_F(CustomExecutorTest, StatusesMapToFaasErrors) {
    TestHttpServer server([](const HttpExchange& ex) {
        int status = std::stoi(ex.target.substr(ex.target.rfind('/') + 1));
        if (status == 500) return HttpReply::json(500, R"({"errorMessage":"segfault in handler","errorType":"Crash"})");
        if (status == 502) return reply(502, "<html>" + std::string(1000, 'y') + "</html>");
        return HttpReply::json(status, R"({"error":"nope","code":"x"})");
    });
    auto exec = json_endpoint(server.url(), test_client());
    const std::pair<int, faas_errc> rows[] = {
        {404, faas_errc::not_found},    {401, faas_errc::unauthorized},      {403, faas_errc::unauthorized},
        {500, faas_errc::function_error}, {502, faas_errc::function_error}, {400, faas_errc::invocation_failed},
        {413, faas_errc::invocation_failed},
    };
    for (auto [status, kind] : rows) {
        auto r = run(exec.invoke(JobCall(JobId(static_cast<std::uint32_t>(status)), {})));
        ASSERT_FALSE(r) << status;
        EXPECT_EQ(r.error().kind, kind) << status << " " << r.error().to_string();
        EXPECT_EQ(r.error().http_status, status);
        EXPECT_NE(r.error().message.find("HTTP " + std::to_string(status)), std::string::npos) << r.error().message;
    }
    auto r = run(exec.invoke(JobCall(500, {})));
    EXPECT_NE(r.error().message.find("segfault in handler"), std::string::npos);
    EXPECT_EQ(r.error().function_error_type, "Crash");
    r = run(exec.invoke(JobCall(502, {})));
    EXPECT_LT(r.error().message.size(), 300u) << r.error().message;
    // 500 and 502 are not retried: the job may have run.
    auto seen = server.requests();
    EXPECT_EQ(std::count_if(seen.begin(), seen.end(), [](const HttpExchange& e) { return e.target == "/job/502"; }), 2);
}

TEST_F(CustomExecutorTest, RetriesThrottlingHonouringRetryAfterThenSucceeds) {
    std::atomic<int> calls{0};
    TestHttpServer server([&](const HttpExchange&) {
        if (calls++ == 0) {
            auto r = HttpReply::json(429, R"({"error":"slow down"})");
            r.headers.emplace_back("Retry-After", "0");
            return r;
        }
        return ok_json(R"({"result":[9]})");
    });
    auto exec = json_endpoint(server.url(), test_client());
    auto r = run(exec.invoke(JobCall(1, to_bytes("x"))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->body(), Bytes{9});
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].body, seen[1].body);
}

TEST_F(CustomExecutorTest, ThrottlingExhaustsTheRetryPolicy) {
    TestHttpServer server([](const HttpExchange&) { return HttpReply::json(503, R"({"error":"overloaded"})"); });
    auto exec = json_endpoint(server.url(), test_client(3));
    auto r = run(exec.invoke(JobCall(1, {})));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::throttled);
    EXPECT_EQ(r.error().http_status, 503);
    EXPECT_TRUE(r.error().is_transient());
    EXPECT_NE(r.error().message.find("3 attempts"), std::string::npos) << r.error().message;
    EXPECT_EQ(server.request_count(), 3u);
}

TEST_F(CustomExecutorTest, RetryAfterBeyondTheBackoffCapIsReturnedNotWaited) {
    TestHttpServer server([](const HttpExchange&) {
        auto r = HttpReply::json(429, R"({"error":"later"})");
        r.headers.emplace_back("Retry-After", "120");
        return r;
    });
    auto exec = json_endpoint(server.url(), test_client(5));
    auto r = run(exec.invoke(JobCall(1, {})));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::throttled);
    ASSERT_TRUE(r.error().retry_after);
    EXPECT_EQ(*r.error().retry_after, std::chrono::seconds(120));
    EXPECT_EQ(server.request_count(), 1u);
}

TEST_F(CustomExecutorTest, ConnectionClosedMidRequestIsInfrastructureAndNotResent) {
    TestHttpServer server([](const HttpExchange&) { return HttpReply::close(); });
    auto exec = json_endpoint(server.url(), test_client(5));
    auto r = run(exec.invoke(JobCall(1, to_bytes("once"))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::infrastructure) << r.error().to_string();
    EXPECT_EQ(server.request_count(), 1u) << "a POST that reached the server must not be resent";
}

TEST_F(CustomExecutorTest, DeadlineIsTheJobsTimeout) {
    TestHttpServer server([](const HttpExchange&) { return HttpReply::hang(); });
    auto exec = json_endpoint(server.url(), test_client());
    exec.with_job_config(1, config_with_timeout(1));  // job 1: 1 s; others keep 300 s
    const auto start = std::chrono::steady_clock::now();
    auto r = run(exec.invoke(JobCall(1, {})), std::chrono::seconds(30));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::timeout) << r.error().to_string();
    EXPECT_NE(r.error().message.find("deadline"), std::string::npos) << r.error().message;
    // It waited for the deadline rather than failing early.
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
}

TEST_F(CustomExecutorTest, DefaultConfigDeadlineAppliesToEveryJob) {
    TestHttpServer server([](const HttpExchange&) { return HttpReply::hang(); });
    auto exec = json_endpoint(server.url(), test_client());
    exec.with_default_config(config_with_timeout(1));
    auto r = run(exec.invoke(JobCall(12345, {})), std::chrono::seconds(30));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::timeout);
}

TEST_F(CustomExecutorTest, RefusedConnectionIsInfrastructure) {
    unsigned short port;
    {
        boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }  // closed: nothing listens there now
    auto exec = json_endpoint("http://127.0.0.1:" + std::to_string(port), test_client());
    auto r = run(exec.invoke(JobCall(1, {})));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::infrastructure) << r.error().to_string();
    auto h = run(exec.health_check(1));
    ASSERT_FALSE(h) << "an unreachable endpoint is an error, not 'unhealthy'";
    EXPECT_EQ(h.error().kind, faas_errc::infrastructure);
}

TEST_F(CustomExecutorTest, MalformedReplyIsSerialization) {
    TestHttpServer server([](const HttpExchange& ex) {
        if (ex.target == "/job/1") return ok_json("this is not json {");
        if (ex.target == "/job/2") return ok_json(R"({"result":[1,2,999]})");
        return ok_json(R"({"result":[1,2)");  // truncated
    });
    auto exec = json_endpoint(server.url(), test_client());
    for (std::uint32_t id : {1u, 2u, 3u}) {
        auto r = run(exec.invoke(JobCall(id, {})));
        ASSERT_FALSE(r) << id;
        EXPECT_EQ(r.error().kind, faas_errc::serialization) << r.error().to_string();
        EXPECT_NE(r.error().message.find("HTTP 200"), std::string::npos) << r.error().message;
    }
}

TEST_F(CustomExecutorTest, BinaryFormatUsesRawBodiesAndHeaders) {
    TestHttpServer server([](const HttpExchange& ex) {
        if (ex.header("Content-Type") != wire::binary_content_type) return HttpReply::json(415, "{}");
        auto md = wire::base64_decode(ex.header(std::string(wire::header_metadata)));
        if (ex.target == "/job/1") {
            if (!md || md->find("call") == std::string::npos) return HttpReply::json(400, R"({"error":"metadata"})");
            if (ex.header(std::string(wire::header_job_id)) != "1") return HttpReply::json(400, R"({"error":"id"})");
            HttpReply r = reply(200, ex.body + std::string("\0\xff", 2));
            r.headers = {{"Content-Type", std::string(wire::binary_content_type)},
                         {std::string(wire::header_status), "ok"}};
            return r;
        }
        if (ex.target == "/job/2") {
            HttpReply r = reply(200, "it failed");
            r.headers = {{"Content-Type", std::string(wire::binary_content_type)},
                         {std::string(wire::header_status), "error"},
                         {std::string(wire::header_error_type), "Boom"}};
            return r;
        }
        // No status header: not a framed reply.
        return reply(200, "raw", {{"Content-Type", "application/octet-stream"}});
    });
    auto exec = json_endpoint(server.url(), test_client());
    exec.with_wire_format(WireFormat::binary);
    Metadata md;
    md.insert("call", MetadataValue("x"));
    Bytes payload{0, 1, 2, 0xff, '{'};
    auto r = run(exec.invoke(JobCall(1, payload, md)));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_ok());
    Bytes expected = payload;
    expected.push_back(0);
    expected.push_back(0xff);
    EXPECT_EQ(r->body(), expected);

    auto e = run(exec.invoke(JobCall(2, {})));
    ASSERT_TRUE(e) << e.error().to_string();
    ASSERT_TRUE(e->is_error());
    EXPECT_EQ(e->error().message, "it failed");
    EXPECT_EQ(e->error().type, "Boom");

    auto bad = run(exec.invoke(JobCall(3, {})));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, faas_errc::serialization);
}

TEST_F(CustomExecutorTest, HeadersAndBearerTokenAreSentButTheTokenNeverShows) {
    const std::string token = "s3cr3t-t0ken";
    std::vector<std::string> log_lines;
    std::mutex log_mutex;
    TestHttpServer server([&](const HttpExchange& ex) {
        if (ex.target == "/job/1") return ok_json(R"({"result":[]})");
        // An endpoint that echoes the Authorization header into its error.
        return HttpReply::json(401, json::serialize(json::object{{"error", "bad " + ex.header("Authorization")}}));
    });
    auto opts = test_client();
    opts.log = [&](LogLevel, std::string_view line) {
        std::lock_guard lock(log_mutex);
        log_lines.emplace_back(line);
    };
    auto exec = json_endpoint(server.url(), opts);
    exec.with_header("X-Team", "blue").with_bearer_token(token);
    ASSERT_TRUE(run(exec.invoke(JobCall(1, {}))));
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].header("X-Team"), "blue");
    EXPECT_EQ(seen[0].header("Authorization"), "Bearer " + token);

    auto r = run(exec.invoke(JobCall(2, {})));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::unauthorized);
    EXPECT_EQ(r.error().to_string().find(token), std::string::npos) << r.error().to_string();
    EXPECT_NE(r.error().message.find("<redacted>"), std::string::npos) << r.error().message;
    std::lock_guard lock(log_mutex);
    for (const auto& line : log_lines) EXPECT_EQ(line.find(token), std::string::npos) << line;
}

TEST_F(CustomExecutorTest, MetricsComeFromTheReply) {
    std::atomic<int> calls{0};
    TestHttpServer runtime([&](const HttpExchange&) {
        auto r = ok_json(R"({"result":[],"execution_ms":2.5,"memory_used_mb":64})");
        if (calls++ == 0) r.headers.emplace_back(std::string(wire::header_cold_start), "1");
        return r;
    });
    auto exec = json_endpoint(runtime.url(), test_client());
    auto first = run(exec.invoke_with_metrics(JobCall(1, {})));
    ASSERT_TRUE(first) << first.error().to_string();
    EXPECT_EQ(first->metrics.cold_start, std::optional<bool>(true));
    ASSERT_TRUE(first->metrics.execution_duration);
    EXPECT_EQ(*first->metrics.execution_duration, std::chrono::microseconds(2500));
    EXPECT_EQ(first->metrics.memory_used_mb, std::optional<std::uint32_t>(64));
    EXPECT_GT(first->metrics.total_duration.count(), 0);
    EXPECT_FALSE(first->metrics.billed_duration);
    // The same runtime, now warm: it sends no header, which from a known
    // Blueprint runtime means "not a cold start".
    auto second = run(exec.invoke_with_metrics(JobCall(1, {})));
    ASSERT_TRUE(second);
    EXPECT_EQ(second->metrics.cold_start, std::optional<bool>(false));

    // An endpoint that never reports cold starts: unknown, not invented.
    TestHttpServer plain([](const HttpExchange&) { return ok_json(R"({"result":[]})"); });
    auto other = json_endpoint(plain.url(), test_client());
    auto m = run(other.invoke_with_metrics(JobCall(1, {})));
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->metrics.cold_start);
    EXPECT_FALSE(m->metrics.execution_duration);
    EXPECT_FALSE(m->metrics.memory_used_mb);
}

TEST_F(CustomExecutorTest, HealthInEndpointModeAsksTheOriginsHealthRoute) {
    std::atomic<int> status{200};
    TestHttpServer server([&](const HttpExchange& ex) {
        if (ex.method != "GET" || ex.target != "/health") return HttpReply::json(405, "{}");
        return HttpReply::json(status.load(), R"({"status":"ok"})");
    });
    auto exec = json_endpoint(server.url(), test_client());
    exec.with_job_endpoint(2, server.url() + "/deep/path/compute");
    auto h = run(exec.health_check(2));
    ASSERT_TRUE(h) << h.error().to_string();
    EXPECT_TRUE(*h);
    status = 404;
    h = run(exec.health_check(1));
    ASSERT_TRUE(h);
    EXPECT_FALSE(*h);
    status = 500;
    h = run(exec.health_check(1));
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().kind, faas_errc::infrastructure);
    status = 401;
    h = run(exec.health_check(1));
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().kind, faas_errc::unauthorized);
}

TEST_F(CustomExecutorTest, WarmSendsConcurrentWarmupEvents) {
    std::atomic<int> warmups{0};
    TestHttpServer server([&](const HttpExchange& ex) {
        if (ex.header(std::string(wire::header_warmup)) != "1") return HttpReply::json(400, R"({"error":"no header"})");
        auto req = wire::decode_request_json(ex.body);
        if (!req || !req->warmup || req->job_id != JobId(4u)) return HttpReply::json(400, R"({"error":"not warmup"})");
        ++warmups;
        return ok_json(R"({"warmed":true,"result":[]})");
    });
    auto exec = json_endpoint(server.url(), test_client());
    auto w = run(exec.warm(4, 5));
    ASSERT_TRUE(w) << w.error().to_string();
    EXPECT_EQ(warmups.load(), 5);
    EXPECT_TRUE(run(exec.warm(4, 0)));
    EXPECT_EQ(server.request_count(), 5u);

    auto failing = run(exec.warm(5, 3));  // wrong job id in the body -> 400
    ASSERT_FALSE(failing);
    EXPECT_NE(failing.error().message.find("3 of 3"), std::string::npos) << failing.error().message;
}

TEST_F(CustomExecutorTest, EndpointModeCannotDeploy) {
    auto exec = json_endpoint("http://127.0.0.1:9", test_client());
    auto d = run(exec.deploy_job(1, to_bytes("ELF"), FaasConfig{}));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, faas_errc::unsupported);
    EXPECT_NE(d.error().message.find("HttpFaasExecutor::platform"), std::string::npos);
    auto u = run(exec.undeploy_job(1));
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().kind, faas_errc::unsupported);

    exec.with_job_config(1, config_with_timeout(42));
    auto g = run(exec.get_deployment(1));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->endpoint, "http://127.0.0.1:9/job/1");
    EXPECT_EQ(g->job_id, JobId(1u));
    EXPECT_EQ(g->timeout_secs, 42u);
}

// ---- platform mode against the enforcing fake platform ------------------------------

// ---- WireFormat::automatic (the endpoint-mode default) -------------------------------

/// A Blueprint-like endpoint: GET /health answers `health`, and each POST is
/// echoed in the format it came in. Records which format each POST used.
struct FormatServer {
    explicit FormatServer(std::function<HttpReply(int probe)> health)
        : server([this, health = std::move(health)](const HttpExchange& ex) {
              if (ex.method == "GET" && ex.target == "/health") return health(probes++);
              if (ex.method != "POST") return HttpReply::json(405, "{}");
              if (ex.header("Content-Type") == wire::binary_content_type) {
                  ++binary_posts;
                  HttpReply r = reply(200, ex.body);
                  r.headers = {{"Content-Type", std::string(wire::binary_content_type)},
                               {std::string(wire::header_status), "ok"}};
                  return r;
              }
              auto req = wire::decode_request_json(ex.body);
              if (!req) return HttpReply::json(400, R"({"error":"bad json"})");
              ++json_posts;
              wire::Reply out;
              out.result = req->args;
              return ok_json(wire::encode_reply_json(out));
          }) {}

    std::atomic<int> probes{0};
    std::atomic<int> binary_posts{0};
    std::atomic<int> json_posts{0};
    TestHttpServer server;
};

HttpReply declares_binary() { return ok_json(R"({"status":"healthy","formats":["json","binary"]})"); }

TEST_F(CustomExecutorTest, AutomaticFormatUsesBinaryWhereTheEndpointDeclaresIt) {
    FormatServer fs([](int) { return declares_binary(); });
    HttpFaasExecutor exec(fs.server.url(), test_client());  // the default: automatic
    for (int i = 0; i < 3; ++i) {
        auto r = run(exec.invoke(JobCall(7, Bytes{1, 2, static_cast<std::uint8_t>(i)})));
        ASSERT_TRUE(r) << r.error().to_string();
        ASSERT_TRUE(r->is_ok()) << r->error().message;
        EXPECT_EQ(r->body(), (Bytes{1, 2, static_cast<std::uint8_t>(i)}));
    }
    EXPECT_EQ(fs.probes.load(), 1);
    EXPECT_EQ(fs.binary_posts.load(), 3);
    EXPECT_EQ(fs.json_posts.load(), 0);
    auto seen = fs.server.requests();
    ASSERT_EQ(seen.size(), 4u);
    EXPECT_EQ(seen[0].target, "/health");  // asked before the first invoke
    EXPECT_EQ(seen[1].header(std::string(wire::header_job_id)), "7");
}

TEST_F(CustomExecutorTest, AutomaticFormatStaysJsonWhereBinaryIsNotDeclared) {
    const std::vector<std::pair<std::string, HttpReply>> answers = {
        {"404", HttpReply::json(404, R"({"error":"no such route"})")},
        {"no formats", ok_json(R"({"status":"ok"})")},
        {"json only", ok_json(R"({"formats":["json"]})")},
        {"formats not an array", ok_json(R"({"formats":"binary"})")},
        {"not JSON", reply(200, "OK", {{"Content-Type", "text/plain"}})},
        {"truncated JSON", ok_json(R"({"formats":["binary")")},
        {"500", HttpReply::json(500, R"({"formats":["binary"]})")},
    };
    for (const auto& [name, answer] : answers) {
        FormatServer fs([answer](int) { return answer; });
        HttpFaasExecutor exec(fs.server.url(), test_client());
        for (int i = 0; i < 2; ++i) {
            auto r = run(exec.invoke(JobCall(1, to_bytes("hi"))));
            ASSERT_TRUE(r) << name << ": " << r.error().to_string();
            ASSERT_TRUE(r->is_ok()) << name;
            EXPECT_EQ(to_string(r->body()), "hi") << name;
        }
        EXPECT_EQ(fs.probes.load(), 1) << name << ": the answer is cached";
        EXPECT_EQ(fs.json_posts.load(), 2) << name;
        EXPECT_EQ(fs.binary_posts.load(), 0) << name;
    }
}

TEST_F(CustomExecutorTest, AutomaticFormatProbesOnceForAConcurrentFirstWave) {
    FormatServer fs([](int) { return declares_binary(); });
    HttpFaasExecutor exec(fs.server.url(), test_client());
    constexpr int n = 100;
    auto wave = [&]() -> boost::asio::awaitable<int> {
        auto ex = co_await boost::asio::this_coro::executor;
        using Op = decltype(boost::asio::co_spawn(ex, exec.invoke(JobCall(1, {})), boost::asio::deferred));
        std::vector<Op> ops;
        for (int i = 0; i < n; ++i)
            ops.push_back(boost::asio::co_spawn(ex, exec.invoke(JobCall(1, Bytes{static_cast<std::uint8_t>(i)})),
                                                boost::asio::deferred));
        auto [order, errors, results] = co_await boost::asio::experimental::make_parallel_group(std::move(ops))
                                            .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
        int ok = 0;
        for (std::size_t i = 0; i < results.size(); ++i) {
            if (!errors[i] && results[i] && results[i]->is_ok() && results[i]->body() == Bytes{static_cast<std::uint8_t>(i)}) ++ok;
        }
        co_return ok;
    };
    EXPECT_EQ(run(wave()), n);
    EXPECT_EQ(fs.probes.load(), 1) << "one probe for the whole first wave";
    // The calls that found the probe in flight used JSON rather than wait.
    EXPECT_EQ(fs.json_posts.load() + fs.binary_posts.load(), n);
    EXPECT_GE(fs.binary_posts.load(), 1);
    // Settled: binary from now on, with no new probe.
    const int binary_before = fs.binary_posts.load();
    auto r = run(exec.invoke(JobCall(1, to_bytes("after"))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(to_string(r->body()), "after");
    EXPECT_EQ(fs.binary_posts.load(), binary_before + 1);
    EXPECT_EQ(fs.probes.load(), 1);
}

TEST_F(CustomExecutorTest, AutomaticFormatFallsBackToJsonWhenTheProbeFails) {
    // The first probe loses its connection; the second is answered.
    FormatServer fs([](int probe) { return probe == 0 ? HttpReply::close() : declares_binary(); });
    HttpFaasExecutor exec(fs.server.url(), test_client());
    auto first = run(exec.invoke(JobCall(1, to_bytes("one"))));
    ASSERT_TRUE(first) << first.error().to_string();
    EXPECT_EQ(to_string(first->body()), "one");
    EXPECT_EQ(fs.json_posts.load(), 1) << "a failed probe means JSON for that call";
    EXPECT_EQ(fs.binary_posts.load(), 0);
    // Not cached: the next call asks again, and gets binary.
    auto second = run(exec.invoke(JobCall(1, to_bytes("two"))));
    ASSERT_TRUE(second) << second.error().to_string();
    EXPECT_EQ(to_string(second->body()), "two");
    EXPECT_EQ(fs.probes.load(), 2);
    EXPECT_EQ(fs.binary_posts.load(), 1);
    // Throttling is not an answer either.
    FormatServer busy([](int probe) { return probe == 0 ? HttpReply::json(503, "{}") : declares_binary(); });
    HttpFaasExecutor exec2(busy.server.url(), test_client());
    ASSERT_TRUE(run(exec2.invoke(JobCall(1, {}))));
    ASSERT_TRUE(run(exec2.invoke(JobCall(1, {}))));
    EXPECT_EQ(busy.probes.load(), 2);
    EXPECT_EQ(busy.json_posts.load(), 1);
    EXPECT_EQ(busy.binary_posts.load(), 1);
}

TEST_F(CustomExecutorTest, AutomaticFormatProbeIsPerOriginAndExplicitFormatsNeverProbe) {
    FormatServer a([](int) { return declares_binary(); });
    FormatServer b([](int) { return HttpReply::json(404, "{}"); });
    HttpFaasExecutor exec(a.server.url(), test_client());
    exec.with_job_endpoint(2, b.server.url() + "/deep/compute");
    ASSERT_TRUE(run(exec.invoke(JobCall(1, {}))));
    ASSERT_TRUE(run(exec.invoke(JobCall(2, {}))));
    ASSERT_TRUE(run(exec.invoke(JobCall(2, {}))));
    EXPECT_EQ(a.probes.load(), 1);
    EXPECT_EQ(a.binary_posts.load(), 1);
    EXPECT_EQ(b.probes.load(), 1);
    EXPECT_EQ(b.json_posts.load(), 2);
    EXPECT_EQ(b.server.requests()[0].target, "/health") << "the probe goes to the origin, not the endpoint's path";

    for (auto format : {WireFormat::json, WireFormat::binary}) {
        FormatServer fs([](int) { return declares_binary(); });
        HttpFaasExecutor forced(fs.server.url(), test_client());
        forced.with_wire_format(format);
        ASSERT_TRUE(run(forced.invoke(JobCall(1, {}))));
        EXPECT_EQ(fs.probes.load(), 0);
        EXPECT_EQ(format == WireFormat::binary ? fs.binary_posts.load() : fs.json_posts.load(), 1);
    }
}

class CustomPlatformTest : public ExecutorTestBase {};

Bytes fake_binary() {
    Bytes b = to_bytes("\x7f" "ELF pretend executable");
    b.resize(4096, 0xcc);
    return b;
}

TEST_F(CustomPlatformTest, FakePlatformRejectsRequestsOffTheContract) {
    FakePlatform platform;
    http::HttpClient client(test_client(1));
    auto send = [&](std::string method, std::string path, std::string body = {},
                    http::Headers headers = {}) -> int {
        http::Request req;
        req.method = std::move(method);
        req.url = platform.url() + path;
        req.body = std::move(body);
        req.headers = std::move(headers);
        auto r = run(client.send(std::move(req)));
        EXPECT_TRUE(r) << r.error().message;
        return r ? r->status : 0;
    };
    const Bytes binary = fake_binary();
    auto zip = faas::packaging::package_custom(std::span<const std::uint8_t>(binary)).value();
    std::string zip_body(zip.begin(), zip.end());
    const http::Headers zip_type{{"Content-Type", "application/zip"}};
    EXPECT_EQ(send("GET", "/api/other"), 404);
    EXPECT_EQ(send("GET", "/api/functions/7/bogus"), 404);
    EXPECT_EQ(send("POST", "/api/functions/7"), 405);
    EXPECT_EQ(send("GET", "/api/functions/7/invoke"), 405);
    EXPECT_EQ(send("PUT", "/api/functions/007", zip_body, zip_type), 400);
    EXPECT_EQ(send("PUT", "/api/functions/7", zip_body, {{"Content-Type", "application/octet-stream"}}), 400);
    EXPECT_EQ(send("PUT", "/api/functions/7", "not a zip", zip_type), 400);
    auto no_exec = make_zip({{"bootstrap", Bytes{'x'}, 0644}});
    EXPECT_EQ(send("PUT", "/api/functions/7", std::string(no_exec.begin(), no_exec.end()), zip_type), 400);
    auto with_config = [&](std::string cfg) {
        auto h = zip_type;
        h.emplace_back("X-Blueprint-Config", std::move(cfg));
        return h;
    };
    EXPECT_EQ(send("PUT", "/api/functions/7", zip_body, with_config("%%%")), 400);
    EXPECT_EQ(send("PUT", "/api/functions/7", zip_body, with_config(wire::base64_encode(R"({"memory_mb":64})"))), 400);
    EXPECT_EQ(send("PUT", "/api/functions/7", zip_body, with_config(wire::base64_encode(R"({"timeout_secs":901})"))), 400);
    EXPECT_EQ(send("PUT", "/api/functions/7", zip_body, with_config(wire::base64_encode(R"({"surprise":1})"))), 400);
    EXPECT_EQ(platform.deployment_count(), 0u);
    EXPECT_EQ(send("PUT", "/api/functions/7", zip_body, zip_type), 200);
    EXPECT_EQ(send("PUT", "/api/functions/7", zip_body, zip_type), 409);
    EXPECT_EQ(send("POST", "/api/functions/7/invoke", R"({"job_id":8,"args":[]})",
                   {{"Content-Type", "application/json"}}), 400);  // id mismatch
    EXPECT_EQ(send("POST", "/api/functions/7/invoke", R"({"job_id":7,"args":[300]})",
                   {{"Content-Type", "application/json"}}), 400);
    EXPECT_EQ(send("POST", "/api/functions/7/invoke", R"({"job_id":7,"args":[1]})",
                   {{"Content-Type", "text/plain"}}), 400);
    EXPECT_EQ(send("POST", "/api/functions/7/invoke", R"({"job_id":7,"args":[1]})",
                   {{"Content-Type", "application/json"}}), 200);
    EXPECT_EQ(send("DELETE", "/api/functions/7"), 200);
    EXPECT_EQ(send("DELETE", "/api/functions/7"), 404);
}

TEST_F(CustomPlatformTest, FullLifecycleWithAuth) {
    FakePlatform::Options options;
    options.bearer_token = "platform-key";
    options.function = [](const FakePlatform::Invocation& inv) {
        if (inv.args == to_bytes("fail")) return FakePlatform::Outcome{false, {}, "function said no"};
        auto out = inv.args;
        out.insert(out.end(), inv.metadata_json.begin(), inv.metadata_json.end());
        return FakePlatform::Outcome{true, out, {}};
    };
    FakePlatform platform(options);
    auto exec = HttpFaasExecutor::platform(platform.url(), test_client());
    exec.with_bearer_token("platform-key");

    FaasConfig config;
    config.memory_mb = 256;
    config.timeout_secs = 30;
    config.max_concurrency = 4;
    config.env_vars = {{"MODE", "test"}};
    auto d = run(exec.deploy_job(7, fake_binary(), config));
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->function_id, "7");
    EXPECT_EQ(d->job_id, JobId(7u));
    EXPECT_EQ(d->endpoint, platform.url() + "/api/functions/7/invoke");
    EXPECT_EQ(d->memory_mb, 256u);
    EXPECT_EQ(d->timeout_secs, 30u);
    auto stored = platform.deployment("7");
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->bootstrap, fake_binary());
    EXPECT_EQ(stored->bootstrap_mode, 0755u);
    EXPECT_TRUE(stored->config_header_sent);
    EXPECT_EQ(stored->memory_mb, 256u);
    EXPECT_EQ(stored->timeout_secs, 30u);
    EXPECT_EQ(stored->max_concurrency, std::optional<std::uint32_t>(4));
    EXPECT_EQ(stored->env_vars.at("MODE"), "test");

    auto g = run(exec.get_deployment(7));
    ASSERT_TRUE(g) << g.error().to_string();
    EXPECT_EQ(g->memory_mb, 256u);

    auto h = run(exec.health_check(7));
    ASSERT_TRUE(h) << h.error().to_string();
    EXPECT_TRUE(*h);

    Metadata md;
    md.insert("who", MetadataValue("me"));
    auto r = run(exec.invoke_with_metrics(JobCall(7, to_bytes("hi"), md)));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->result.is_ok()) << r->result.error().message;
    EXPECT_TRUE(to_string(r->result.body()).starts_with("hi{")) << to_string(r->result.body());
    EXPECT_NE(to_string(r->result.body()).find("who"), std::string::npos);
    EXPECT_TRUE(r->result.metadata().contains("who"));
    EXPECT_EQ(r->metrics.memory_used_mb, std::optional<std::uint32_t>(42));
    EXPECT_EQ(r->metrics.execution_duration, std::optional<std::chrono::microseconds>(1500));

    auto failed = run(exec.invoke(JobCall(7, to_bytes("fail"))));
    ASSERT_TRUE(failed) << failed.error().to_string();
    ASSERT_TRUE(failed->is_error());
    EXPECT_EQ(failed->error().message, "function said no");
    EXPECT_EQ(failed->error().code, make_error_code(faas_errc::function_error));

    ASSERT_TRUE(run(exec.warm(7, 3)));
    EXPECT_EQ(platform.last_warm_instances(), 3u);

    platform.set_unhealthy("7");
    h = run(exec.health_check(7));
    ASSERT_TRUE(h);
    EXPECT_FALSE(*h);
    platform.set_unhealthy("7", false);

    // Deploying again updates: 409, then DELETE and PUT with the new config.
    config.memory_mb = 1024;
    auto again = run(exec.deploy_job(7, fake_binary(), config));
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ(platform.conflicts(), 1u);
    EXPECT_EQ(again->memory_mb, 1024u);
    EXPECT_EQ(platform.deployment("7")->memory_mb, 1024u);
    EXPECT_EQ(platform.deployment_count(), 1u);

    ASSERT_TRUE(run(exec.undeploy_job(7)));
    EXPECT_EQ(platform.deployment_count(), 0u);
    EXPECT_TRUE(run(exec.undeploy_job(7))) << "already gone counts as done";
    h = run(exec.health_check(7));
    ASSERT_TRUE(h);
    EXPECT_FALSE(*h);
    auto gone = run(exec.get_deployment(7));
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().kind, faas_errc::not_found);
    auto inv = run(exec.invoke(JobCall(7, {})));
    ASSERT_FALSE(inv);
    EXPECT_EQ(inv.error().kind, faas_errc::not_found);
    auto warm_gone = run(exec.warm(7, 1));
    ASSERT_FALSE(warm_gone);
    EXPECT_EQ(warm_gone.error().kind, faas_errc::not_found);
}

TEST_F(CustomPlatformTest, WrongTokenIsUnauthorized) {
    FakePlatform::Options options;
    options.bearer_token = "right";
    FakePlatform platform(options);
    auto exec = HttpFaasExecutor::platform(platform.url(), test_client());
    exec.with_bearer_token("wrong");
    auto d = run(exec.deploy_job(1, fake_binary(), FaasConfig{}));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, faas_errc::unauthorized);
    auto h = run(exec.health_check(1));
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().kind, faas_errc::unauthorized);
    EXPECT_EQ(platform.deployment_count(), 0u);
}

TEST_F(CustomPlatformTest, OutOfRangeConfigIsRefusedWithThePlatformsMessage) {
    FakePlatform platform;
    auto exec = HttpFaasExecutor::platform(platform.url(), test_client());
    FaasConfig config;
    config.memory_mb = 64;
    auto d = run(exec.deploy_job(1, fake_binary(), config));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, faas_errc::invocation_failed);
    EXPECT_EQ(d.error().http_status, 400);
    EXPECT_NE(d.error().message.find("memory_mb must be 128-10240"), std::string::npos) << d.error().message;
    EXPECT_EQ(platform.deployment_count(), 0u);
}

TEST_F(CustomPlatformTest, PrebuiltZipIsSentAsIs) {
    FakePlatform platform;
    auto exec = HttpFaasExecutor::platform(platform.url(), test_client());
    auto zip = make_zip({{"bootstrap", fake_binary(), 0755}, {"README", to_bytes("hi"), 0644}});
    auto d = run(exec.deploy_job(3, zip, FaasConfig{}));
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(platform.deployment("3")->package, zip);
}

TEST_F(CustomPlatformTest, FullWidthJobIdIsNeverTruncated) {
    FakePlatform platform;
    auto exec = HttpFaasExecutor::platform(platform.url(), test_client());
    std::array<std::uint8_t, 32> be{};
    be[0] = 0x12;
    be[31] = 0x34;
    const auto big = JobId::from_bytes(be);
    auto d = run(exec.deploy_job(big, fake_binary(), FaasConfig{}));
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->function_id, big.to_hex());
    EXPECT_TRUE(platform.deployment(big.to_hex()));
    auto r = run(exec.invoke(JobCall(big, to_bytes("wide"))));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_ok()) << r->error().message;
    EXPECT_EQ(to_string(r->body()), "wide");
    EXPECT_EQ(r->job_id(), big);
}

}  // namespace
