// custom::HttpFaasExecutor against the REAL fixture function process
// (tests/fixtures/test_function.cpp) serving HTTP on 127.0.0.1, port 0.
#include <blueprint/consumers.hpp>
#include <blueprint/faas/custom.hpp>
#include <blueprint/faas/wire.hpp>
#include <blueprint/producers.hpp>
#include <blueprint/router.hpp>
#include <blueprint/runner.hpp>

#include "common/fake_platform.hpp"
#include "common/process.hpp"
#include "common/run_coro.hpp"
#include "faas/custom/platform_api.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <unistd.h>

namespace {

using namespace blueprint;
using namespace blueprint::faas;
using blueprint::faas::custom::HttpFaasExecutor;
using blueprint::faas::custom::WireFormat;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

fs::path test_function_path() { return blueprint::test::build_path("tests/test_function"); }

using Env = std::vector<std::pair<std::string, std::string>>;

/// The fixture function in HTTP mode (PORT=0), its bound port read from its
/// "listening on 127.0.0.1:N" stderr line. The ChildProcess kills and reaps it.
class FunctionProcess {
public:
    explicit FunctionProcess(Env env = {})
        : child_(spawn(std::move(env))) {
        auto line = child_.wait_for_stderr("listening on", 20s);
        if (!line) throw std::runtime_error("test_function did not report its port: " + child_.stderr_seen());
        port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    void kill(int sig) { child_.signal(sig); }
    /// Waits until stderr shows a line containing `text`.
    bool wait_for_line(std::string_view text, std::chrono::milliseconds timeout) {
        return child_.wait_for_stderr(text, timeout).has_value();
    }

private:
    static blueprint::test::ChildProcess spawn(Env env) {
        blueprint::test::ProcessOptions options;
        options.env = std::move(env);
        options.env.emplace_back("PORT", "0");
        // The runtime picks its mode from the environment: make sure it is HTTP.
        options.unset_env = {"AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT"};
        options.pipe_stdin = false;
        options.pipe_stdout = false;
        return blueprint::test::ChildProcess::spawn(test_function_path().string(), {}, options);
    }

    blueprint::test::ChildProcess child_;
    unsigned short port_ = 0;
};

http::ClientOptions test_client() {
    http::ClientOptions o;
    o.use_env_proxy = false;
    o.retry.initial_backoff = 1ms;
    o.retry.max_backoff = 50ms;
    return o;
}

template <class T> boost::asio::awaitable<std::optional<T>> optional_of(boost::asio::awaitable<T> aw) {
    co_return co_await std::move(aw);
}

class CustomHttpIntegration : public blueprint::test::IoContextTest {
protected:
    void SetUp() override {
        ASSERT_TRUE(fs::exists(test_function_path())) << "test_function not built at " << test_function_path();
    }
    // JobResult has no default constructor, which co_spawn needs: go through optional.
    template <class T> T run(boost::asio::awaitable<T> aw, std::chrono::milliseconds timeout = 120s) {
        return std::move(*IoContextTest::run(optional_of(std::move(aw)), timeout));
    }
};

TEST_F(CustomHttpIntegration, JsonHappyPathWithColdStartMetrics) {
    FunctionProcess fn;
    HttpFaasExecutor exec(fn.url(), test_client());
    exec.with_wire_format(WireFormat::json);  // the default would pick binary here
    Metadata md;
    md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(9));
    auto first = run(exec.invoke_with_metrics(JobCall(0, to_bytes("hello"), md)));
    ASSERT_TRUE(first) << first.error().to_string();
    ASSERT_TRUE(first->result.is_ok()) << first->result.error().message;
    EXPECT_EQ(to_string(first->result.body()), "hello");
    EXPECT_EQ(first->result.job_id(), JobId(0u));
    EXPECT_TRUE(first->result.metadata().contains(metadata_keys::call_id));
    EXPECT_EQ(first->metrics.cold_start, std::optional<bool>(true));
    EXPECT_TRUE(first->metrics.execution_duration);

    auto second = run(exec.invoke_with_metrics(JobCall(6, Bytes{0, 0, 0, 12})));
    ASSERT_TRUE(second) << second.error().to_string();
    ASSERT_TRUE(second->result.is_ok()) << second->result.error().message;
    EXPECT_EQ(second->result.body(), (Bytes{0, 0, 0, 0, 0, 0, 0, 144}));
    EXPECT_EQ(second->metrics.cold_start, std::optional<bool>(false));

    auto healthy = run(exec.health_check(0));
    ASSERT_TRUE(healthy) << healthy.error().to_string();
    EXPECT_TRUE(*healthy);
}

TEST_F(CustomHttpIntegration, BinaryHappyPath) {
    FunctionProcess fn;
    HttpFaasExecutor exec(fn.url(), test_client());
    exec.with_wire_format(WireFormat::binary);
    auto r = run(exec.invoke(JobCall(5, {})));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_ok()) << r->error().message;
    ASSERT_EQ(r->body().size(), 256u);
    for (int i = 0; i < 256; ++i) EXPECT_EQ(r->body()[i], i);

    Bytes all(256);
    for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(255 - i);
    auto echo = run(exec.invoke(JobCall(0, all)));
    ASSERT_TRUE(echo) << echo.error().to_string();
    EXPECT_EQ(echo->body(), all);

    Metadata md;
    md.insert("tenant", MetadataValue("acme"));
    auto meta = run(exec.invoke(JobCall(8, {}, md)));
    ASSERT_TRUE(meta) << meta.error().to_string();
    ASSERT_TRUE(meta->is_ok()) << meta->error().message;
    EXPECT_EQ(to_string(meta->body()), "tenant=acme");

    auto failed = run(exec.invoke(JobCall(1, {})));
    ASSERT_TRUE(failed) << failed.error().to_string();
    ASSERT_TRUE(failed->is_error());
    EXPECT_EQ(failed->error().message, "requested failure");
    EXPECT_EQ(failed->error().type, "FixtureError");
}

TEST_F(CustomHttpIntegration, DefaultFormatIsBinaryAfterOneHealthProbe) {
    FunctionProcess fn;
    // A recording proxy in front of the real runtime, passing every header.
    std::mutex mutex;
    std::vector<std::string> seen;  // "METHOD target content-type"
    blueprint::test::TestHttpServer proxy([&](const blueprint::test::HttpExchange& ex) {
        {
            std::lock_guard lock(mutex);
            seen.push_back(ex.method + " " + ex.target + " " + ex.header("Content-Type"));
        }
        boost::asio::io_context local;
        http::HttpClient client(test_client());
        http::Request req;
        req.method = ex.method;
        req.url = fn.url() + ex.target;
        req.body = ex.body;
        for (const auto& [name, value] : ex.headers) {
            std::string lower = name;
            for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (lower != "host" && lower != "content-length" && lower != "connection") req.headers.emplace_back(name, value);
        }
        auto r = blueprint::test::run_coro(local, optional_of(client.send(std::move(req))), 30s);
        if (!r || !*r) return blueprint::test::HttpReply::json(599, "{}");
        blueprint::test::HttpReply reply;
        reply.status = (*r)->status;
        for (auto name : {"Content-Type", "X-Blueprint-Status", "X-Blueprint-Error-Type", "X-Blueprint-Cold-Start"})
            if (auto v = (*r)->header(name); !v.empty()) reply.headers.emplace_back(name, std::string(v));
        reply.body = (*r)->body;
        return reply;
    });
    HttpFaasExecutor exec(proxy.url(), test_client());  // WireFormat::automatic
    Metadata md;
    md.insert("tenant", MetadataValue("acme"));
    auto meta = run(exec.invoke_with_metrics(JobCall(8, {}, md)));
    ASSERT_TRUE(meta) << meta.error().to_string();
    ASSERT_TRUE(meta->result.is_ok()) << meta->result.error().message;
    EXPECT_EQ(to_string(meta->result.body()), "tenant=acme");
    EXPECT_EQ(meta->metrics.cold_start, std::optional<bool>(true));
    auto failed = run(exec.invoke(JobCall(1, {})));
    ASSERT_TRUE(failed) << failed.error().to_string();
    ASSERT_TRUE(failed->is_error());
    EXPECT_EQ(failed->error().type, "FixtureError");

    std::lock_guard lock(mutex);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0], "GET /health ");
    EXPECT_EQ(seen[1], "POST /job/8 " + std::string(wire::binary_content_type));
    EXPECT_EQ(seen[2], "POST /job/1 " + std::string(wire::binary_content_type));
}

TEST_F(CustomHttpIntegration, CustomEndpoints) {
    FunctionProcess fn;
    HttpFaasExecutor exec("http://127.0.0.1:1/unused", test_client());
    // Job 1 delegated to the echo behaviour (the path's id wins), job 8 to
    // the root route where the body's id chooses.
    exec.with_job_endpoint(1, fn.url() + "/job/0").with_job_endpoint(8, fn.url() + "/");
    auto r = run(exec.invoke(JobCall(1, to_bytes("via path"))));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_ok()) << r->error().message;
    EXPECT_EQ(to_string(r->body()), "via path");
    EXPECT_EQ(r->job_id(), JobId(1u));

    Metadata md;
    md.insert("a", MetadataValue("1"));
    md.insert("b", MetadataValue("2"));
    auto m = run(exec.invoke(JobCall(8, {}, md)));
    ASSERT_TRUE(m) << m.error().to_string();
    ASSERT_TRUE(m->is_ok()) << m->error().message;
    EXPECT_EQ(to_string(m->body()), "a=1;b=2");

    // Health goes to the endpoint's origin.
    auto h = run(exec.health_check(8));
    ASSERT_TRUE(h) << h.error().to_string();
    EXPECT_TRUE(*h);

    // The function server also speaks the platform API's invoke route.
    auto platform = HttpFaasExecutor::platform(fn.url(), test_client());
    auto p = run(platform.invoke_with_metrics(JobCall(0, to_bytes("platform"))));
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_TRUE(p->result.is_ok()) << p->result.error().message;
    EXPECT_EQ(to_string(p->result.body()), "platform");
    EXPECT_TRUE(p->metrics.memory_used_mb);
}

TEST_F(CustomHttpIntegration, UnknownRouteIsNotFound) {
    FunctionProcess fn;
    HttpFaasExecutor exec(fn.url(), test_client());
    exec.with_job_endpoint(0, fn.url() + "/no/such/route");
    auto r = run(exec.invoke(JobCall(0, {})));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::not_found) << r.error().to_string();
    EXPECT_EQ(r.error().http_status, 404);
}

TEST_F(CustomHttpIntegration, FunctionErrorsAreJobErrors) {
    FunctionProcess fn;
    HttpFaasExecutor exec(fn.url(), test_client());
    struct Row {
        std::uint32_t job;
        std::string message_part;
        std::string type;
    };
    const Row rows[] = {
        {1, "requested failure", "FixtureError"},
        {2, "thrown on purpose", "HandlerException"},
        {99, "no behaviour for job 99", "UnknownJob"},
    };
    for (const auto& row : rows) {
        auto r = run(exec.invoke(JobCall(row.job, {})));
        ASSERT_TRUE(r) << r.error().to_string();
        ASSERT_TRUE(r->is_error()) << row.job;
        EXPECT_EQ(r->error().code, make_error_code(faas_errc::function_error));
        EXPECT_NE(r->error().message.find(row.message_part), std::string::npos) << r->error().message;
        EXPECT_EQ(r->error().type, row.type);
    }
}

TEST_F(CustomHttpIntegration, MalformedReplyIsSerialization) {
    FunctionProcess fn;
    // A proxy in front of the real function that cuts each reply in half.
    blueprint::test::TestHttpServer proxy([&](const blueprint::test::HttpExchange& ex) {
        boost::asio::io_context local;
        http::HttpClient client(test_client());
        http::Request req;
        req.method = ex.method;
        req.url = fn.url() + ex.target;
        req.body = ex.body;
        req.headers.emplace_back("Content-Type", ex.header("Content-Type"));
        auto r = blueprint::test::run_coro(local, optional_of(client.send(std::move(req))), 30s);
        blueprint::test::HttpReply reply;
        if (!r || !*r) return blueprint::test::HttpReply::json(599, "{}");
        reply.status = (*r)->status;
        reply.headers.emplace_back("Content-Type", std::string((*r)->header("Content-Type")));
        reply.body = (*r)->body.substr(0, (*r)->body.size() / 2);
        return reply;
    });
    HttpFaasExecutor exec(proxy.url(), test_client());
    auto r = run(exec.invoke(JobCall(0, to_bytes("a reply that will be truncated"))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::serialization) << r.error().to_string();
    EXPECT_NE(r.error().message.find("HTTP 200"), std::string::npos) << r.error().message;
}

TEST_F(CustomHttpIntegration, KilledMidFlightIsInfrastructure) {
    FunctionProcess fn;
    HttpFaasExecutor exec(fn.url(), test_client());
    std::thread killer([&] {
        // Kill only once the handler is really running the slow job.
        if (fn.wait_for_line("slow: started", 30s)) fn.kill(SIGKILL);
    });
    auto r = run(exec.invoke(JobCall(3, to_bytes("60000"))));
    killer.join();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::infrastructure) << r.error().to_string();
}

TEST_F(CustomHttpIntegration, CrashIsInfrastructure) {
    FunctionProcess fn;
    HttpFaasExecutor exec(fn.url(), test_client());
    auto r = run(exec.invoke(JobCall(4, {})));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::infrastructure) << r.error().to_string();
}

TEST_F(CustomHttpIntegration, SlowFunctionHitsTheDeadline) {
    FunctionProcess fn;
    HttpFaasExecutor exec(fn.url(), test_client());
    FaasConfig config;
    config.timeout_secs = 1;
    exec.with_job_config(3, config);
    auto r = run(exec.invoke(JobCall(3, to_bytes("20000"))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::timeout) << r.error().to_string();
}

TEST_F(CustomHttpIntegration, WarmThenInvokeIsNotACold) {
    FunctionProcess fn;
    HttpFaasExecutor exec(fn.url(), test_client());
    auto w = run(exec.warm(0, 4));
    ASSERT_TRUE(w) << w.error().to_string();
    auto r = run(exec.invoke_with_metrics(JobCall(0, to_bytes("x"))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->metrics.cold_start, std::optional<bool>(false));
}

TEST_F(CustomHttpIntegration, EightMebibytePayloadRoundTrips) {
    FunctionProcess fn;
    Bytes big(8 * 1024 * 1024);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>((i * 131) ^ (i >> 9));
    for (auto format : {WireFormat::json, WireFormat::binary}) {
        HttpFaasExecutor exec(fn.url(), test_client());
        exec.with_wire_format(format);
        auto r = run(exec.invoke(JobCall(0, big)));
        ASSERT_TRUE(r) << r.error().to_string();
        ASSERT_TRUE(r->is_ok()) << r->error().message;
        EXPECT_TRUE(r->body() == big) << "format " << static_cast<int>(format);
    }
}

TEST_F(CustomHttpIntegration, OverLimitPayloadIsRefusedWith413) {
    FunctionProcess fn(Env{{"TEST_FUNCTION_MAX_BODY_BYTES", "1048576"}});
    HttpFaasExecutor exec(fn.url(), test_client());
    exec.with_wire_format(WireFormat::binary);
    auto r = run(exec.invoke(JobCall(0, Bytes(2 * 1024 * 1024, 7))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().http_status, 413) << r.error().to_string();
    EXPECT_EQ(r.error().kind, faas_errc::invocation_failed) << r.error().to_string();
    EXPECT_NE(r.error().message.find("too large"), std::string::npos) << r.error().message;
    // The server is still fine afterwards.
    auto ok = run(exec.invoke(JobCall(0, to_bytes("small"))));
    ASSERT_TRUE(ok) << ok.error().to_string();
}

TEST_F(CustomHttpIntegration, ThousandConcurrentInvocationsThroughTheRunner) {
    FunctionProcess fn(Env{{"TEST_FUNCTION_THREADS", "8"}});
    auto exec = std::make_shared<HttpFaasExecutor>("http://127.0.0.1:1/unused", test_client());
    exec->with_job_endpoint(1, fn.url() + "/job/0");  // job 1 runs the echo behaviour remotely

    constexpr std::size_t n = 1000;
    std::vector<JobCall> calls;
    for (std::size_t i = 0; i < 2 * n; ++i) {
        Metadata md;
        md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(i));
        calls.emplace_back(JobId(static_cast<std::uint32_t>(i % 2)), to_bytes("call " + std::to_string(i)), md);
    }
    Router router;
    router.route(0, [](JobCall call) { return JobResult::ok(call.body()); });
    auto consumer = std::make_shared<CollectingConsumer>();
    RunnerConfig config;
    config.max_in_flight = 1024;
    config.io_threads = 2;
    config.handle_signals = false;
    auto stats = BlueprintRunner::builder(config)
                     .router(router)
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(consumer)
                     .with_faas_executor(1, std::shared_ptr<FaasExecutor>(exec))
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();
    EXPECT_EQ(stats->calls_delegated, n);
    EXPECT_GT(stats->peak_in_flight, 1u) << "the calls should overlap";

    auto results = consumer->results();
    ASSERT_EQ(results.size(), 2 * n);
    std::set<std::uint64_t> seen;
    std::size_t errors = 0;
    for (const auto& r : results) {
        const auto* id = r.metadata().get(metadata_keys::call_id);
        ASSERT_NE(id, nullptr);
        const auto call = id->to_u64().value();
        EXPECT_TRUE(seen.insert(call).second) << "result for call " << call << " arrived twice";
        EXPECT_EQ(r.job_id(), JobId(static_cast<std::uint32_t>(call % 2)));
        if (!r.is_ok()) {
            ++errors;
            ADD_FAILURE() << "call " << call << ": " << r.error().message;
            continue;
        }
        EXPECT_EQ(to_string(r.body()), "call " + std::to_string(call));
    }
    EXPECT_EQ(seen.size(), 2 * n);
    EXPECT_EQ(errors, 0u);
}


}  // namespace
