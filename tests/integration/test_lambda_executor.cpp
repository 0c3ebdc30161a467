// aws::LambdaExecutor against the REAL local platform (`bpfaas local`, the
// Lambda API with SigV4 verification on) running the fixture function
// (tests/fixtures/test_function.cpp) and examples/functions/square.cpp as
// `bootstrap` instances. Each test starts its own platform on port 0.
#include <blueprint/consumers.hpp>
#include <blueprint/faas/aws.hpp>
#include <blueprint/faas/http_client.hpp>
#include <blueprint/faas/wire.hpp>
#include <blueprint/producers.hpp>
#include <blueprint/router.hpp>
#include <blueprint/runner.hpp>

#include "common/http_test_server.hpp"
#include "common/process.hpp"
#include "common/run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

namespace {

using namespace blueprint;
using namespace blueprint::faas;
using aws::LambdaExecutor;
using aws::LambdaOptions;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace asio = boost::asio;

constexpr const char* kAccessKey = "AKIDLOCALTEST";
constexpr const char* kSecret = "local/secret+key";

fs::path test_function_path() { return blueprint::test::build_path("tests/test_function"); }
fs::path square_path() { return blueprint::test::build_path("examples/square"); }
fs::path bpfaas_path() { return blueprint::test::build_path("apps/bpfaas/bpfaas"); }

Bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "bp-lambda-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

/// `bpfaas local --port 0 --aws-credentials KEY:SECRET`, its stderr going to
/// a file (a pipe nobody drains could fill up and stall it); the port comes
/// from its "listening on 127.0.0.1:N" line.
class LocalPlatformProcess {
public:
    explicit LocalPlatformProcess(const fs::path& dir, std::vector<std::string> extra = {}) {
        const auto log = dir / "platform.log";
        std::string cmd = "exec '" + bpfaas_path().string() + "' local --port 0 --data-dir '" + (dir / "data").string() +
                          "' --aws-credentials '" + std::string(kAccessKey) + ":" + kSecret + "' --no-memory-limit";
        for (const auto& e : extra) cmd += " " + e;
        cmd += " 2>'" + log.string() + "'";
        blueprint::test::ProcessOptions o;
        o.pipe_stdin = o.pipe_stdout = o.pipe_stderr = false;
        o.unset_env = {"AWS_LAMBDA_RUNTIME_API", "PORT", "FUNCTIONS_CUSTOMHANDLER_PORT"};
        child_ = blueprint::test::ChildProcess::spawn("/bin/sh", {"-c", cmd}, o);
        // Polling a file: the only event the platform offers before it listens.
        for (int i = 0; i < 1000 && port_ == 0; ++i) {
            std::ifstream in(log);
            std::string line;
            while (std::getline(in, line)) {
                if (auto at = line.find("listening on "); at != std::string::npos)
                    port_ = static_cast<unsigned short>(std::stoi(line.substr(line.rfind(':') + 1)));
            }
            if (port_ == 0) {
                if (!child_.running()) break;
                std::this_thread::sleep_for(20ms);
            }
        }
        if (port_ == 0) {
            std::ifstream in(log);
            throw std::runtime_error("bpfaas local did not start: " + std::string(std::istreambuf_iterator<char>(in), {}));
        }
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    blueprint::test::ChildProcess child_;
    unsigned short port_ = 0;
};

http::ClientOptions client_options() {
    http::ClientOptions o;
    o.use_env_proxy = false;
    o.retry.initial_backoff = 5ms;
    o.retry.max_backoff = 200ms;
    return o;
}

template <class T> asio::awaitable<std::optional<T>> optional_of(asio::awaitable<T> aw) { co_return co_await std::move(aw); }

/// Invokes every call at once; results in call order.
asio::awaitable<std::vector<Result<InvocationOutcome>>> invoke_all(std::shared_ptr<LambdaExecutor> ex,
                                                                   std::vector<JobCall> calls) {
    auto exec = co_await asio::this_coro::executor;
    using Op = decltype(asio::co_spawn(exec, ex->invoke_with_metrics(JobCall{}), asio::deferred));
    std::vector<Op> ops;
    for (auto& c : calls) ops.push_back(asio::co_spawn(exec, ex->invoke_with_metrics(std::move(c)), asio::deferred));
    auto [order, exceptions, results] =
        co_await asio::experimental::make_parallel_group(std::move(ops))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (auto& e : exceptions)
        if (e) std::rethrow_exception(e);
    co_return std::move(results);
}

class LambdaIntegration : public blueprint::test::IoContextTest {
protected:
    void SetUp() override {
        for (const auto& p : {test_function_path(), bpfaas_path()})
            ASSERT_TRUE(fs::exists(p)) << p << " is not built (build test_function and bpfaas)";
        platform_.emplace(tmp_.path);
    }

    LambdaOptions options(std::string prefix = "blueprint") {
        LambdaOptions o;
        o.region = "us-east-1";
        o.role_arn = "arn:aws:iam::123456789012:role/lambda-exec";
        o.function_prefix = std::move(prefix);
        o.endpoint_url = platform_->url();
        o.credentials = aws::StaticCredentials{kAccessKey, kSecret};
        o.use_imds = false;
        o.http = client_options();
        o.poll_initial = 20ms;
        o.poll_max = 200ms;
        o.default_config.timeout_secs = 60;
        return o;
    }
    std::shared_ptr<LambdaExecutor> make(LambdaOptions o) {
        auto ex = LambdaExecutor::create(std::move(o));
        if (!ex) throw std::runtime_error(ex.error().to_string());
        return *ex;
    }
    template <class T> T run(asio::awaitable<T> aw, std::chrono::milliseconds timeout = 120s) {
        return std::move(*IoContextTest::run(optional_of(std::move(aw)), timeout));
    }
    FaasDeployment deploy(LambdaExecutor& ex, JobId job, const fs::path& binary, FaasConfig config = {}) {
        if (config.timeout_secs == 300) config.timeout_secs = 60;
        auto d = run(ex.deploy_job(job, read_file(binary), config));
        if (!d) throw std::runtime_error("deploy failed: " + d.error().to_string());
        return *d;
    }
    /// The platform's /metrics value of `series` (e.g. bpfaas_instances{...}), or -1.
    double metric(const std::string& series) {
        http::HttpClient client(client_options());
        http::Request req;
        req.url = platform_->url() + "/metrics";
        auto resp = run(client.send(req));
        if (!resp || resp->status != 200) return -1;
        std::istringstream in(resp->body);
        std::string line;
        while (std::getline(in, line))
            if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
        return -1;
    }

    TempDir tmp_;
    std::optional<LocalPlatformProcess> platform_;
};

Bytes be_u64(std::uint64_t v) {
    Bytes b(8);
    for (int i = 0; i < 8; ++i) b[7 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    return b;
}

// ---- lifecycle ----------------------------------------------------------------------

TEST_F(LambdaIntegration, FullLifecycleThroughTheRunner) {
    ASSERT_TRUE(fs::exists(square_path())) << square_path() << " is not built (target square_function)";
    auto lambda = make(options());
    FaasConfig config;
    config.memory_mb = 256;
    config.timeout_secs = 60;
    config.env_vars = {{"GREETING", "hi"}};
    auto d = deploy(*lambda, 1, square_path(), config);
    EXPECT_EQ(d.function_id, "blueprint-job-1");
    EXPECT_EQ(d.endpoint, "arn:aws:lambda:us-east-1:000000000000:function:blueprint-job-1");
    EXPECT_EQ(d.memory_mb, 256u);
    EXPECT_EQ(d.timeout_secs, 60u);
    EXPECT_EQ(run(lambda->health_check(1)), true);

    // 1,000 jobs: odd calls are job 1 on Lambda, even ones job 0 in the router.
    constexpr std::uint64_t n = 1000;
    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < n; ++i) {
        Metadata md;
        md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(i));
        calls.emplace_back(JobId(static_cast<std::uint32_t>(i % 2)), be_u64(i), md);
    }
    Router router;
    router.route(0, [](JobCall call) {
        std::uint64_t v = 0;
        for (auto b : call.body()) v = (v << 8) | b;
        return JobResult::ok(be_u64(v * v));
    });
    auto consumer = std::make_shared<CollectingConsumer>();
    RunnerConfig rc;
    rc.max_in_flight = 64;
    rc.handle_signals = false;
    auto stats = BlueprintRunner::builder(rc)
                     .router(router)
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(consumer)
                     .with_faas_executor(1, lambda)
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();
    EXPECT_EQ(stats->calls_delegated, n / 2);
    auto results = consumer->results();
    ASSERT_EQ(results.size(), n);
    std::set<std::uint64_t> seen;
    for (const auto& r : results) {
        const auto call = r.metadata().get(metadata_keys::call_id)->to_u64().value();
        EXPECT_TRUE(seen.insert(call).second);
        ASSERT_TRUE(r.is_ok()) << "call " << call << ": " << r.error().message;
        EXPECT_EQ(r.body(), be_u64(call * call)) << "call " << call;
    }
    EXPECT_EQ(seen.size(), n);

    // warm, get, list, undeploy.
    ASSERT_TRUE(run(lambda->warm(1, 2)));
    auto got = run(lambda->get_deployment(1));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->endpoint, d.endpoint);
    EXPECT_EQ(got->memory_mb, 256u);
    auto listed = run(lambda->list_functions());
    ASSERT_TRUE(listed) << listed.error().to_string();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->front().name, "blueprint-job-1");
    ASSERT_TRUE(run(lambda->undeploy_job(1)));
    EXPECT_EQ(run(lambda->health_check(1)), false);
    EXPECT_TRUE(run(lambda->undeploy_job(1))) << "a missing function counts as undeployed";
    auto gone = run(lambda->get_deployment(1));
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().kind, faas_errc::not_found);
}

TEST_F(LambdaIntegration, RedeployUpdatesCodeConfigurationAndArchitecture) {
    auto lambda = make(options());
    FaasConfig first;
    first.memory_mb = 128;
    first.max_concurrency = 2;
    deploy(*lambda, 0, test_function_path(), first);
    auto before = run(lambda->describe(0));
    ASSERT_TRUE(before) << before.error().to_string();
    EXPECT_EQ(before->reserved_concurrency, 2u);
    EXPECT_EQ(before->architecture, "x86_64");

    FaasConfig second;
    second.memory_mb = 1024;
    second.timeout_secs = 30;
    second.provider_options["architecture"] = "arm64";
    auto d = deploy(*lambda, 0, test_function_path(), second);
    EXPECT_EQ(d.memory_mb, 1024u);
    EXPECT_EQ(d.timeout_secs, 30u);
    auto after = run(lambda->describe(0));
    ASSERT_TRUE(after);
    EXPECT_EQ(after->architecture, "arm64");
    EXPECT_FALSE(after->reserved_concurrency) << "no max_concurrency: the earlier limit is removed";
    EXPECT_EQ(after->state, "Active");
    EXPECT_EQ(after->last_update_status, "Successful");

    auto r = run(lambda->invoke(JobCall(0, to_bytes("after update"))));
    ASSERT_TRUE(r && r->is_ok());
    EXPECT_EQ(to_string(r->body()), "after update");
}

TEST_F(LambdaIntegration, DeployRefusesBadInputBeforeCallingLambda) {
    auto lambda = make(options());
    FaasConfig bad;
    bad.memory_mb = 64;
    auto r = run(lambda->deploy_job(0, read_file(test_function_path()), bad));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::invocation_failed);
    EXPECT_NE(r.error().message.find("128-10240"), std::string::npos);

    // 51 MiB of incompressible bytes: the zip passes 50 MB.
    Bytes big(51u * 1024 * 1024);
    std::uint64_t x = 88172645463325252ull;
    for (auto& b : big) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b = static_cast<std::uint8_t>(x);
    }
    auto large = run(lambda->deploy_job(0, std::move(big), FaasConfig{}));
    ASSERT_FALSE(large);
    EXPECT_EQ(large.error().kind, faas_errc::serialization);
    EXPECT_NE(large.error().message.find("50"), std::string::npos) << large.error().message;
    EXPECT_EQ(run(lambda->health_check(0)), false) << "nothing was created";

    auto no_role = options();
    no_role.role_arn.clear();
    auto r2 = run(make(no_role)->deploy_job(0, read_file(test_function_path()), FaasConfig{}));
    ASSERT_FALSE(r2);
    EXPECT_NE(r2.error().message.find("role_arn"), std::string::npos);
}

// ---- invoke ----------------------------------------------------------------------------

TEST_F(LambdaIntegration, ColdThenWarmFromTheReportLine) {
    auto lambda = make(options());
    deploy(*lambda, 0, test_function_path());
    auto first = run(lambda->invoke_with_metrics(JobCall(0, to_bytes("one"))));
    ASSERT_TRUE(first) << first.error().to_string();
    ASSERT_TRUE(first->result.is_ok());
    EXPECT_EQ(to_string(first->result.body()), "one");
    EXPECT_EQ(first->metrics.cold_start, true);
    ASSERT_TRUE(first->metrics.execution_duration);
    ASSERT_TRUE(first->metrics.billed_duration);
    EXPECT_GE(*first->metrics.billed_duration, *first->metrics.execution_duration);
    EXPECT_TRUE(first->metrics.memory_used_mb);
    EXPECT_GT(first->metrics.total_duration.count(), 0);

    auto second = run(lambda->invoke_with_metrics(JobCall(0, to_bytes("two"))));
    ASSERT_TRUE(second && second->result.is_ok());
    EXPECT_EQ(to_string(second->result.body()), "two");
    EXPECT_EQ(second->metrics.cold_start, false);
}

TEST_F(LambdaIntegration, FunctionErrorsAreTypedErrorResults) {
    auto lambda = make(options());
    // One binary behind three jobs' functions.
    for (int job : {1, 2, 4}) deploy(*lambda, job, test_function_path());

    auto failed = run(lambda->invoke(JobCall(1, {})));
    ASSERT_TRUE(failed) << failed.error().to_string();
    ASSERT_TRUE(failed->is_error());
    EXPECT_EQ(failed->error().code, make_error_code(faas_errc::function_error));
    EXPECT_EQ(failed->error().type, "FixtureError");
    EXPECT_EQ(failed->error().message, "requested failure");

    auto thrown = run(lambda->invoke(JobCall(2, {})));
    ASSERT_TRUE(thrown && thrown->is_error());
    EXPECT_EQ(thrown->error().code, make_error_code(faas_errc::function_error));
    EXPECT_NE(thrown->error().message.find("thrown on purpose"), std::string::npos);

    auto crashed = run(lambda->invoke(JobCall(4, {})));
    ASSERT_TRUE(crashed) << crashed.error().to_string();
    ASSERT_TRUE(crashed->is_error());
    EXPECT_EQ(crashed->error().code, make_error_code(faas_errc::function_error));

    // Through the runner: the error is a result, and the runner goes on.
    std::vector<JobCall> calls;
    for (int i = 0; i < 20; ++i) calls.emplace_back(JobId(i % 2 ? 1 : 5), to_bytes("x"));
    Router router;
    router.route(5, [](JobCall c) { return JobResult::ok(c.body()); });
    auto consumer = std::make_shared<CollectingConsumer>();
    RunnerConfig rc;
    rc.handle_signals = false;
    auto stats = BlueprintRunner::builder(rc).router(router).producer(VectorProducer(std::move(calls))).consumer(consumer)
                     .with_faas_executor(1, lambda).run();
    ASSERT_TRUE(stats);
    auto results = consumer->results();
    ASSERT_EQ(results.size(), 20u);
    std::size_t errors = 0;
    for (const auto& r : results) {
        if (r.job_id() == JobId(1)) {
            ASSERT_TRUE(r.is_error());
            EXPECT_EQ(r.error().type, "FixtureError");
            ++errors;
        } else {
            EXPECT_TRUE(r.is_ok());
        }
    }
    EXPECT_EQ(errors, 10u);
}

TEST_F(LambdaIntegration, MissingFunctionIsNotFound) {
    auto lambda = make(options());
    auto r = run(lambda->invoke(JobCall(9, {})));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::not_found);
    EXPECT_FALSE(r.error().request_id.empty()) << r.error().to_string();
    EXPECT_EQ(run(lambda->health_check(9)), false);
}

TEST_F(LambdaIntegration, FunctionTimeoutIsATimeoutResult) {
    auto lambda = make(options());
    FaasConfig fn;
    fn.timeout_secs = 1;
    deploy(*lambda, 3, test_function_path(), fn);
    // Give the caller more time than the function so that Lambda's own timeout fires first.
    FaasConfig caller;
    caller.timeout_secs = 20;
    lambda->with_job_config(3, caller);
    auto r = run(lambda->invoke(JobCall(3, to_bytes("5000"))));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_error());
    EXPECT_EQ(r->error().code, make_error_code(faas_errc::timeout));
    EXPECT_EQ(r->error().type, "Sandbox.Timedout");
}

TEST_F(LambdaIntegration, CallerDeadlineBoundsTheWholeCall) {
    auto lambda = make(options());
    FaasConfig fn;
    fn.timeout_secs = 30;
    deploy(*lambda, 3, test_function_path(), fn);
    FaasConfig caller;
    caller.timeout_secs = 1;
    lambda->with_job_config(3, caller);
    const auto start = std::chrono::steady_clock::now();
    auto r = run(lambda->invoke(JobCall(3, to_bytes("10000"))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 8s) << "the call must end near its 1 s deadline, not the function's";
}

TEST_F(LambdaIntegration, OversizePayloadIsRefusedBeforeSending) {
    auto lambda = make(options());
    auto r = run(lambda->invoke(JobCall(0, Bytes(3u * 1024 * 1024, 200))));  // ~12 MB as JSON
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::serialization);
    EXPECT_NE(r.error().message.find("6 MB"), std::string::npos);
    EXPECT_EQ(metric("bpfaas_api_requests_total{api=\"lambda\",status=\"404\"}"), -1) << "nothing reached the platform";
}

TEST_F(LambdaIntegration, EventInvocationIsAcceptedWithAMarker) {
    auto o = options();
    o.invocation_type = aws::InvocationType::event;
    auto lambda = make(o);
    deploy(*lambda, 0, test_function_path());
    auto r = run(lambda->invoke(JobCall(0, to_bytes("fire"))));
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_ok());
    EXPECT_TRUE(r->body().empty());
    ASSERT_NE(r->metadata().get(aws::invocation_status_key), nullptr);
    EXPECT_EQ(r->metadata().get(aws::invocation_status_key)->as_string_view(), "accepted");
    EXPECT_NE(r->metadata().get(aws::request_id_key), nullptr);
}

// ---- warm and throttling ----------------------------------------------------------------

TEST_F(LambdaIntegration, WarmLeavesThatManyWarmInstances) {
    auto lambda = make(options());
    deploy(*lambda, 0, test_function_path());
    ASSERT_TRUE(run(lambda->warm(0, 3)));
    EXPECT_EQ(metric("bpfaas_instances{function=\"blueprint-job-0\",state=\"idle\"}"), 3);

    std::vector<JobCall> calls;
    for (int i = 0; i < 3; ++i) calls.emplace_back(JobId(0), to_bytes("w" + std::to_string(i)));
    auto results = run(invoke_all(lambda, std::move(calls)));
    for (auto& r : results) {
        ASSERT_TRUE(r) << r.error().to_string();
        EXPECT_EQ(r->metrics.cold_start, false) << "warm() must have started these instances";
    }
}

TEST_F(LambdaIntegration, ThrottledCallsRetryUntilDoneAndNoneIsLost) {
    auto o = options();
    o.http.retry.max_attempts = 10'000;
    o.http.retry.initial_backoff = 5ms;
    o.http.retry.max_backoff = 100ms;
    o.http.retry.max_elapsed = 120s;
    auto lambda = make(o);
    FaasConfig config;
    config.max_concurrency = 1;
    config.timeout_secs = 60;
    deploy(*lambda, 3, test_function_path(), config);

    std::vector<JobCall> calls;
    for (int i = 0; i < 50; ++i) calls.emplace_back(JobId(3), to_bytes("20"));
    auto results = run(invoke_all(lambda, std::move(calls)), 180s);
    ASSERT_EQ(results.size(), 50u);
    for (auto& r : results) {
        ASSERT_TRUE(r) << r.error().to_string();
        ASSERT_TRUE(r->result.is_ok()) << r->result.error().message;
        EXPECT_EQ(to_string(r->result.body()), "slept 20");
    }
    EXPECT_GT(metric("bpfaas_throttles_total{function=\"blueprint-job-3\"}"), 0) << "reserved concurrency 1 must throttle";
}

TEST_F(LambdaIntegration, ThrottledCallsEndThrottledWhenTheDeadlineIsSpent) {
    auto o = options();
    o.http.retry.max_attempts = 10'000;
    o.http.retry.initial_backoff = 5ms;
    o.http.retry.max_backoff = 50ms;
    auto lambda = make(o);
    FaasConfig config;
    config.max_concurrency = 1;
    config.timeout_secs = 60;
    deploy(*lambda, 3, test_function_path(), config);
    FaasConfig caller;
    caller.timeout_secs = 1;  // 50 x 300 ms cannot all fit in 1 s on one instance
    lambda->with_job_config(3, caller);

    std::vector<JobCall> calls;
    for (int i = 0; i < 50; ++i) calls.emplace_back(JobId(3), to_bytes("300"));
    auto results = run(invoke_all(lambda, std::move(calls)), 60s);
    ASSERT_EQ(results.size(), 50u) << "every call ends, none is lost";
    std::size_t ok = 0, throttled = 0, timeout = 0;
    for (auto& r : results) {
        if (r) {
            ASSERT_TRUE(r->result.is_ok()) << r->result.error().message;
            ++ok;
        } else if (r.error().kind == faas_errc::throttled) {
            ++throttled;
            EXPECT_EQ(r.error().http_status, 429);
        } else {
            ASSERT_EQ(r.error().kind, faas_errc::timeout) << r.error().to_string();
            ++timeout;
        }
    }
    EXPECT_EQ(ok + throttled + timeout, 50u);
    EXPECT_GE(ok, 1u);
    EXPECT_GE(throttled, 1u) << "ok " << ok << ", timeout " << timeout;
}

// ---- credentials ------------------------------------------------------------------------

TEST_F(LambdaIntegration, WrongCredentialsAreUnauthorized) {
    auto o = options();
    o.credentials = aws::StaticCredentials{kAccessKey, "not-the-secret"};
    auto r = run(make(o)->health_check(0));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::unauthorized);
    EXPECT_EQ(r.error().http_status, 403);
    EXPECT_EQ(r.error().message.find("not-the-secret"), std::string::npos) << "no secret in messages";

    o.credentials = aws::StaticCredentials{"AKIDSOMEONEELSE", kSecret};
    auto r2 = run(make(o)->invoke(JobCall(0, {})));
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().kind, faas_errc::unauthorized);

    o.credentials.reset();
    o.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };  // no source at all
    o.profile = "nonexistent-profile-for-test";
    auto r3 = run(make(o)->health_check(0));
    ASSERT_FALSE(r3);
    EXPECT_EQ(r3.error().kind, faas_errc::unauthorized);
}

// In the credential tests, a health check of a missing function answering
// false proves the signature was accepted (a bad one is an unauthorized error).

TEST_F(LambdaIntegration, CredentialsFromTheEnvironment) {
    auto o = options();
    o.credentials.reset();
    std::map<std::string, std::string> vars{{"AWS_ACCESS_KEY_ID", kAccessKey},
                                            {"AWS_SECRET_ACCESS_KEY", kSecret},
                                            {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
                                            {"AWS_CONFIG_FILE", "/nonexistent"}};
    o.env = [vars](std::string_view k) -> std::optional<std::string> {
        auto it = vars.find(std::string(k));
        return it == vars.end() ? std::nullopt : std::optional(it->second);
    };
    auto r = run(make(o)->health_check(0));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_FALSE(*r);
}

TEST_F(LambdaIntegration, CredentialsFromAProfileFileAndCredentialProcess) {
    const auto creds_file = tmp_.path / "credentials";
    const auto config_file = tmp_.path / "config";
    {
        std::ofstream(creds_file) << "[default]\naws_access_key_id = WRONG\naws_secret_access_key = wrong\n"
                                  << "[static]\naws_access_key_id = " << kAccessKey << "\naws_secret_access_key = " << kSecret << "\n";
        std::ofstream(config_file) << "[profile proc]\nregion = us-east-1\ncredential_process = printf '{\"Version\":1,\"AccessKeyId\":\""
                                   << kAccessKey << "\",\"SecretAccessKey\":\"" << kSecret << "\"}'\n";
    }
    for (std::string profile : {"static", "proc"}) {
        auto o = options();
        o.credentials.reset();
        o.region.clear();  // proc's region comes from the config file; static's from AWS_REGION
        std::map<std::string, std::string> vars{{"AWS_SHARED_CREDENTIALS_FILE", creds_file.string()},
                                                {"AWS_CONFIG_FILE", config_file.string()},
                                                {"AWS_PROFILE", profile}};
        if (profile == "static") vars["AWS_REGION"] = "us-east-1";
        o.env = [vars](std::string_view k) -> std::optional<std::string> {
            auto it = vars.find(std::string(k));
            return it == vars.end() ? std::nullopt : std::optional(it->second);
        };
        auto ex = make(o);
        EXPECT_EQ(ex->region(), "us-east-1");
        auto r = run(ex->health_check(0));
        ASSERT_TRUE(r) << profile << ": " << r.error().to_string();
        EXPECT_FALSE(*r);
    }
}

TEST_F(LambdaIntegration, CredentialsFromAContainerCredentialsServer) {
    std::string seen_auth;
    blueprint::test::HttpTestServer server(ioc, blueprint::test::HttpTestServer::respond([&](const auto& req) {
        seen_auth = std::string(req[boost::beast::http::field::authorization]);
        if (req.target() != "/creds") return blueprint::test::HttpTestServer::make_response(404);
        return blueprint::test::HttpTestServer::make_response(
            200, std::string("{\"AccessKeyId\":\"") + kAccessKey + "\",\"SecretAccessKey\":\"" + kSecret +
                     "\",\"Token\":\"session-token\",\"Expiration\":\"2099-01-01T00:00:00Z\"}");
    }));
    auto o = options();
    o.credentials.reset();
    std::map<std::string, std::string> vars{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url("/creds")},
                                            {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token"},
                                            {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
                                            {"AWS_CONFIG_FILE", "/nonexistent"}};
    o.env = [vars](std::string_view k) -> std::optional<std::string> {
        auto it = vars.find(std::string(k));
        return it == vars.end() ? std::nullopt : std::optional(it->second);
    };
    auto ex = make(o);
    // The server shares the io_context: stop it when the call is over so the context runs out of work.
    auto body = [&]() -> asio::awaitable<Result<bool>> {
        auto healthy = co_await ex->health_check(0);
        server.stop();
        co_return healthy;
    };
    auto r = run(body());
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_FALSE(*r);
    EXPECT_EQ(seen_auth, "container-token");
    EXPECT_EQ(server.requests(), 1u);
}

TEST_F(LambdaIntegration, UnreachableEndpointIsAnErrorNotFalse) {
    auto o = options();
    o.endpoint_url = "http://127.0.0.1:1";
    auto r = run(make(o)->health_check(0));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::infrastructure);
}

// ---- the CLI ------------------------------------------------------------------------------

/// Runs bpfaas with the chain's credentials in its environment.
blueprint::test::ChildProcess::Outcome bpfaas_cli(std::vector<std::string> args) {
    blueprint::test::ProcessOptions o;
    o.env = {{"AWS_ACCESS_KEY_ID", kAccessKey}, {"AWS_SECRET_ACCESS_KEY", kSecret}, {"AWS_REGION", "us-east-1"},
             {"AWS_EC2_METADATA_DISABLED", "true"}, {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
             {"AWS_CONFIG_FILE", "/nonexistent"}};
    auto child = blueprint::test::ChildProcess::spawn(bpfaas_path().string(), args, o);
    auto out = child.communicate("", 120s);
    if (!out) throw std::runtime_error("bpfaas did not finish");
    return *out;
}

TEST_F(LambdaIntegration, CliDeployInvokeHealthListUndeploy) {
    const std::vector<std::string> common{"--provider", "aws", "--endpoint-url", platform_->url()};
    auto with = [&](std::vector<std::string> head, std::vector<std::string> tail = {}) {
        head.insert(head.end(), common.begin(), common.end());
        head.insert(head.end(), tail.begin(), tail.end());
        return bpfaas_cli(head);
    };
    auto deployed = with({"deploy", "--job", "6", "--memory", "256"},
                         {"--role-arn", "arn:aws:iam::123456789012:role/x", test_function_path().string()});
    ASSERT_TRUE(deployed.status.ok()) << deployed.err;
    EXPECT_NE(deployed.out.find("\"function_id\":\"blueprint-job-6\""), std::string::npos) << deployed.out;
    EXPECT_NE(deployed.err.find("waiting for Active"), std::string::npos) << "progress goes to stderr: " << deployed.err;
    EXPECT_EQ(deployed.err.find(kSecret), std::string::npos);

    auto invoked = with({"invoke", "--job", "6", "--args-hex", "0000000000000007"});
    ASSERT_TRUE(invoked.status.ok()) << invoked.err;
    EXPECT_NE(invoked.out.find("[0,0,0,0,0,0,0,49]"), std::string::npos) << invoked.out;
    EXPECT_NE(invoked.err.find("cold start"), std::string::npos) << invoked.err;

    EXPECT_TRUE(with({"health", "--job", "6"}).status.ok());
    auto listed = with({"list"});
    ASSERT_TRUE(listed.status.ok()) << listed.err;
    EXPECT_NE(listed.out.find("\"name\":\"blueprint-job-6\""), std::string::npos) << listed.out;
    EXPECT_TRUE(with({"warm", "--job", "6", "--instances", "2"}).status.ok());
    EXPECT_TRUE(with({"undeploy", "--job", "6"}).status.ok());
    auto unhealthy = with({"health", "--job", "6"});
    EXPECT_TRUE(unhealthy.status.exited);
    EXPECT_EQ(unhealthy.status.code, 3) << unhealthy.out << unhealthy.err;
}

TEST(LambdaCliSign, PrintsAwsSuiteSignature) {
    ASSERT_TRUE(fs::exists(bpfaas_path())) << "bpfaas not built";
    // AWS's get-vanilla case.
    auto child = blueprint::test::ChildProcess::spawn(
        bpfaas_path().string(),
        {"aws", "sign", "--method", "GET", "--url", "https://example.amazonaws.com/", "--access-key", "AKIDEXAMPLE",
         "--secret-key", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "--region", "us-east-1", "--service", "service",
         "--time", "2015-08-30T12:36:00Z"});
    auto out = child.communicate("", 30s);
    ASSERT_TRUE(out && out->status.ok());
    EXPECT_NE(out->out.find("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"), std::string::npos)
        << out->out;
    EXPECT_NE(out->out.find("20150830/us-east-1/service/aws4_request"), std::string::npos);
    EXPECT_EQ(out->out.find("wJalrXUtnFEMI"), std::string::npos) << "the secret is never printed";
}

}  // namespace
