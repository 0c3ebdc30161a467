// azure::AzureFunctionExecutor end to end: the real fixture binary
// (tests/fixtures/test_function.cpp) packaged with package_azure, run by the
// Azure host stand-in (common/azure_test_host) behind the fake Azure
// (common/fake_azure), which enforces ARCHITECTURE.md §9.
#include <blueprint/consumers.hpp>
#include <blueprint/faas/azure.hpp>
#include <blueprint/faas/packaging.hpp>
#include <blueprint/faas/wire.hpp>
#include <blueprint/producers.hpp>
#include <blueprint/router.hpp>
#include <blueprint/runner.hpp>

#include "common/azure_test_host.hpp"
#include "common/fake_azure.hpp"
#include "common/process.hpp"
#include "common/run_coro.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

namespace {

using namespace blueprint;
using namespace blueprint::faas;
using namespace blueprint::faas::azure;
using blueprint::test::AzureTestHost;
using blueprint::test::AzureTestHostOptions;
using blueprint::test::FakeAzure;
using blueprint::test::HttpExchange;
using blueprint::test::HttpReply;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

fs::path test_function_path() { return blueprint::test::build_path("tests/test_function"); }

Bytes fixture_binary() {
    auto b = packaging::read_binary(test_function_path(), 1ull << 30);
    if (!b) throw std::runtime_error("cannot read test_function: " + b.error().to_string());
    return std::move(*b);
}

template <class T> boost::asio::awaitable<std::optional<T>> optional_of(boost::asio::awaitable<T> aw) {
    co_return co_await std::move(aw);
}

class AzureIntegration : public blueprint::test::IoContextTest {
protected:
    void SetUp() override {
        ASSERT_TRUE(fs::exists(test_function_path())) << "test_function not built at " << test_function_path();
    }
    template <class T> T run(boost::asio::awaitable<T> aw, std::chrono::milliseconds timeout = 120s) {
        return std::move(*IoContextTest::run(optional_of(std::move(aw)), timeout));
    }
};

HttpExchange post(std::string target, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpExchange ex;
    ex.method = "POST";
    ex.target = std::move(target);
    ex.body = std::move(body);
    ex.headers = std::move(headers);
    ex.headers.emplace_back("Content-Type", "application/json");
    return ex;
}

// ---- the host stand-in, directly ------------------------------------------------

class AzureHostTest : public AzureIntegration {
protected:
    std::unique_ptr<AzureTestHost> start(bool forwarding) {
        const std::vector<JobId> jobs{0, 1, 4};
        auto zip = packaging::package_azure(test_function_path(), jobs);
        EXPECT_TRUE(zip);
        AzureTestHostOptions options;
        options.function_keys = {"fkey"};
        options.master_key = "mkey";
        if (forwarding) {
            auto host = AzureTestHost::from_zip(*zip, options);
            EXPECT_TRUE(host) << (host ? "" : host.error());
            return host ? std::move(*host) : nullptr;
        }
        // Forwarding off: the same package with host.json changed, as a user might.
        dir_ = fs::temp_directory_path() / ("bp-azure-envelope-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        EXPECT_TRUE(packaging::extract_zip(*zip, dir_));
        std::ofstream(dir_ / "host.json", std::ios::trunc)
            << R"({"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"bootstrap"},"enableForwardingHttpRequest":false}})";
        auto host = AzureTestHost::from_dir(dir_, options);
        EXPECT_TRUE(host) << (host ? "" : host.error());
        return host ? std::move(*host) : nullptr;
    }
    void TearDown() override {
        AzureIntegration::TearDown();
        if (!dir_.empty()) fs::remove_all(dir_);
    }
    HttpReply call(AzureTestHost& host, HttpExchange ex) { return run(host.handle(std::move(ex))); }

    void exercise(AzureTestHost& host) {
        const auto key = std::pair<std::string, std::string>{"x-functions-key", "fkey"};
        ASSERT_EQ(host.functions().size(), 3u);

        auto ok = call(host, post("/api/job0", R"({"args":[104,105]})", {key}));
        ASSERT_EQ(ok.status, 200) << ok.body;
        auto reply = wire::decode_reply_json(ok.body);
        ASSERT_TRUE(reply) << ok.body;
        EXPECT_EQ(to_string(reply->result), "hi");

        // A full Blueprint request, metadata included, and the master key.
        JobCall full(0, to_bytes("meta"));
        auto master = call(host, post("/api/job0", wire::encode_request_json(full), {{"x-functions-key", "mkey"}}));
        EXPECT_EQ(master.status, 200) << master.body;

        EXPECT_EQ(call(host, post("/api/job0", R"({"args":[]})")).status, 401);
        EXPECT_EQ(call(host, post("/api/job0", R"({"args":[]})", {{"x-functions-key", "wrong"}})).status, 401);
        EXPECT_EQ(call(host, post("/api/job0?code=fkey", R"({"args":[]})")).status, 200);
        EXPECT_EQ(call(host, post("/api/job9", R"({"args":[]})", {key})).status, 404);
        auto get = post("/api/job0", "", {key});
        get.method = "GET";
        EXPECT_EQ(call(host, get).status, 404) << "function.json allows POST only";

        auto warm = call(host, post("/api/job0", wire::encode_warmup_json(0), {key}));
        ASSERT_EQ(warm.status, 200);
        EXPECT_NE(warm.body.find("\"warmed\":true"), std::string::npos) << warm.body;

        auto bad = call(host, post("/api/job0", "{not json", {key}));
        EXPECT_EQ(bad.status, 400) << bad.body;

        auto failed = call(host, post("/api/job1", R"({"args":[]})", {key}));
        ASSERT_EQ(failed.status, 200) << failed.body;
        auto failed_reply = wire::decode_reply_json(failed.body);
        ASSERT_TRUE(failed_reply);
        EXPECT_FALSE(failed_reply->success);
        EXPECT_EQ(failed_reply->error_type, "FixtureError");

        // A crash: the host fails the call and restarts the handler.
        auto crash = call(host, post("/api/job4", R"({"args":[]})", {key}));
        EXPECT_EQ(crash.status, 500) << crash.body;
        EXPECT_EQ(host.starts(), 2u);
        auto after = call(host, post("/api/job0", R"({"args":[1]})", {key}));
        EXPECT_EQ(after.status, 200) << after.body;
    }

    fs::path dir_;
};

TEST_F(AzureHostTest, ReadsThePackageAndForwardsRequests) {
    auto host = start(true);
    ASSERT_TRUE(host);
    EXPECT_TRUE(host->forwarding());
    EXPECT_EQ(host->functions()[0].methods, std::vector<std::string>{"post"});
    EXPECT_EQ(host->functions()[0].auth_level, "function");
    exercise(*host);
}

TEST_F(AzureHostTest, WrapsRequestsInTheEnvelopeWhenForwardingIsOff) {
    auto host = start(false);
    ASSERT_TRUE(host);
    EXPECT_FALSE(host->forwarding());
    exercise(*host);
}

TEST_F(AzureHostTest, RefusesBrokenPackages) {
    const std::vector<JobId> jobs{0};
    auto zip = packaging::package_azure(test_function_path(), jobs);
    ASSERT_TRUE(zip);
    auto truncated = std::span<const std::uint8_t>(*zip).subspan(0, zip->size() / 2);
    EXPECT_FALSE(AzureTestHost::from_zip(truncated, {}));
    auto lambda = packaging::package_lambda(test_function_path());
    ASSERT_TRUE(lambda);
    auto no_host_json = AzureTestHost::from_zip(*lambda, {});
    ASSERT_FALSE(no_host_json);
    EXPECT_NE(no_host_json.error().find("host.json"), std::string::npos);
}

// ---- the executor against the fake Azure -------------------------------------------

struct LogCapture {
    std::mutex mutex;
    std::string text;
    LogSink sink() {
        return [this](LogLevel level, std::string_view line) {
            std::lock_guard lock(mutex);
            text += std::string(blueprint::to_string(level)) + " " + std::string(line) + "\n";
        };
    }
    std::string get() {
        std::lock_guard lock(mutex);
        return text;
    }
};

AzureOptions options_for(const FakeAzure& fake, std::string app) {
    AzureOptions o;
    o.subscription_id = fake.options().subscription;
    o.resource_group = "rg-blueprint";
    o.app_name = std::move(app);
    o.region = "westeurope";
    o.credential = ClientSecretCredential{fake.options().tenant, fake.options().client_id, fake.options().client_secret};
    o.storage_connection_string = "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=storage-secret-0001";
    o.endpoints.authority = fake.authority();
    o.endpoints.arm = fake.arm();
    o.endpoints.scm_url_template = fake.scm_template();
    o.endpoints.site_url_template = fake.site_template();
    o.client.use_env_proxy = false;
    o.client.retry.initial_backoff = 1ms;
    o.client.retry.max_backoff = 20ms;
    o.poll_initial = 5ms;
    o.poll_max = 20ms;
    o.deploy_timeout = 60s;
    o.default_config.timeout_secs = 30;
    return o;
}

AzureFunctionExecutor make(const AzureOptions& o) {
    auto e = AzureFunctionExecutor::create(o);
    if (!e) throw std::runtime_error(e.error().to_string());
    return std::move(*e);
}

/// Every ARM request carried an api-version and a bearer token; every call
/// to the app carried its key in the header, never in the URL.
void expect_contract(const FakeAzure& fake) {
    for (const auto& r : fake.requests()) {
        if (r.target.starts_with("/arm/")) {
            EXPECT_NE(r.target.find("api-version="), std::string::npos) << r.method << " " << r.target;
            EXPECT_TRUE(r.header("Authorization").starts_with("Bearer ")) << r.target;
        }
        if (r.target.starts_with("/scm/")) EXPECT_TRUE(r.header("Authorization").starts_with("Bearer ")) << r.target;
        if (r.target.starts_with("/site/")) {
            EXPECT_EQ(r.target.find("code="), std::string::npos) << r.target;
            EXPECT_FALSE(r.header("x-functions-key").empty()) << r.target;
        }
    }
}

TEST_F(AzureIntegration, DeployInvokeWarmHealthUndeployOneAppManyJobs) {
    FakeAzure fake;
    LogCapture logs;
    auto options = options_for(fake, "bp-app-one");
    options.client.log = logs.sink();
    auto exec = make(options);
    std::vector<std::string> progress;
    exec.on_progress([&](std::string_view line) { progress.emplace_back(line); });
    const Bytes binary = fixture_binary();

    FaasConfig config;
    config.timeout_secs = 20;
    config.env_vars = {{"BLUEPRINT_TEST", "1"}};
    auto d0 = run(exec.deploy_job(0, binary, config));
    ASSERT_TRUE(d0) << d0.error().to_string() << "\n" << logs.get();
    EXPECT_EQ(d0->function_id, "bp-app-one/job0");
    EXPECT_EQ(d0->endpoint, fake.url() + "/site/bp-app-one/api/job0");
    EXPECT_EQ(d0->timeout_secs, 20u);
    EXPECT_FALSE(progress.empty());
    auto settings = fake.app_settings("bp-app-one");
    EXPECT_EQ(settings["FUNCTIONS_WORKER_RUNTIME"], "Custom");
    EXPECT_EQ(settings["BLUEPRINT_TEST"], "1");
    EXPECT_TRUE(fake.plan_exists("bp-app-one"));

    // A second job joins the same app; job 0 stays.
    auto d6 = run(exec.deploy_job(6, binary, config));
    ASSERT_TRUE(d6) << d6.error().to_string();
    EXPECT_EQ(fake.functions("bp-app-one"), (std::vector<std::string>{"job0", "job6"}));
    EXPECT_EQ(exec.known_jobs(), (std::vector<JobId>{0, 6}));

    auto first = run(exec.invoke_with_metrics(JobCall(6, Bytes{0, 0, 0, 12})));
    ASSERT_TRUE(first) << first.error().to_string();
    ASSERT_TRUE(first->result.is_ok()) << first->result.error().message;
    EXPECT_EQ(first->result.body(), (Bytes{0, 0, 0, 0, 0, 0, 0, 144}));
    EXPECT_EQ(first->result.job_id(), JobId(6u));
    EXPECT_TRUE(first->metrics.cold_start.has_value());
    EXPECT_TRUE(first->metrics.execution_duration);

    Metadata md;
    md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(42));
    auto echo = run(exec.invoke(JobCall(0, to_bytes("hello azure"), md)));
    ASSERT_TRUE(echo) << echo.error().to_string();
    EXPECT_EQ(to_string(echo->body()), "hello azure");
    EXPECT_TRUE(echo->metadata().contains(metadata_keys::call_id));

    auto healthy = run(exec.health_check(0));
    ASSERT_TRUE(healthy) << healthy.error().to_string();
    EXPECT_TRUE(*healthy);
    auto missing = run(exec.health_check(5));
    ASSERT_TRUE(missing);
    EXPECT_FALSE(*missing);
    auto warm = run(exec.warm(6, 3));
    ASSERT_TRUE(warm) << warm.error().to_string();
    auto got = run(exec.get_deployment(6));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->function_id, "bp-app-one/job6");
    EXPECT_EQ(run(exec.get_deployment(5)).error().kind, faas_errc::not_found);

    // The key was fetched once and the token cached across every call.
    std::size_t list_keys = 0;
    for (const auto& r : fake.requests()) list_keys += r.target.find("/listKeys") != std::string::npos;
    EXPECT_EQ(list_keys, 1u);
    EXPECT_EQ(fake.tokens_issued(), 1u);

    // Undeploy one: the app is redeployed without it.
    auto u6 = run(exec.undeploy_job(6));
    ASSERT_TRUE(u6) << u6.error().to_string();
    EXPECT_EQ(fake.functions("bp-app-one"), std::vector<std::string>{"job0"});
    auto gone = run(exec.invoke(JobCall(6, Bytes{1})));
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().kind, faas_errc::not_found) << gone.error().to_string();
    auto still = run(exec.invoke(JobCall(0, to_bytes("x"))));
    ASSERT_TRUE(still) << still.error().to_string();

    // Undeploy the last one: the app and its plan go.
    ASSERT_TRUE(run(exec.undeploy_job(0)));
    EXPECT_FALSE(fake.app_exists("bp-app-one"));
    EXPECT_FALSE(fake.plan_exists("bp-app-one"));
    auto after = run(exec.health_check(0));
    ASSERT_TRUE(after);
    EXPECT_FALSE(*after);
    EXPECT_TRUE(run(exec.undeploy_job(0))) << "already gone counts as done";
    expect_contract(fake);
}

TEST_F(AzureIntegration, AFreshExecutorKeepsTheJobsAlreadyInTheApp) {
    FakeAzure fake;
    const Bytes binary = fixture_binary();
    {
        auto first = make(options_for(fake, "bp-app-two"));
        ASSERT_TRUE(run(first.deploy_job(0, binary, {})));
    }
    // Another process (say, a second `bpfaas deploy`) adds a job.
    auto second = make(options_for(fake, "bp-app-two"));
    ASSERT_TRUE(run(second.deploy_job(1, binary, {})));
    EXPECT_EQ(fake.functions("bp-app-two"), (std::vector<std::string>{"job0", "job1"}));
    // A third one, which never saw the binary, undeploys job 1: it repackages
    // the app's current bootstrap.
    auto third = make(options_for(fake, "bp-app-two"));
    ASSERT_TRUE(run(third.undeploy_job(1)));
    EXPECT_EQ(fake.functions("bp-app-two"), std::vector<std::string>{"job0"});
    auto r = run(third.invoke(JobCall(0, to_bytes("still here"))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(to_string(r->body()), "still here");
}

TEST_F(AzureIntegration, FunctionErrorsThrottlingTimeoutsAndKeys) {
    FakeAzure fake;
    auto exec = make(options_for(fake, "bp-app-three"));
    const Bytes binary = fixture_binary();
    ASSERT_TRUE(run(exec.deploy_job(1, binary, {})));
    FaasConfig short_deadline;
    short_deadline.timeout_secs = 1;
    ASSERT_TRUE(run(exec.deploy_job(3, binary, short_deadline)));
    ASSERT_TRUE(run(exec.deploy_job(2, binary, {})));

    auto failed = run(exec.invoke(JobCall(1, {})));
    ASSERT_TRUE(failed) << failed.error().to_string();
    ASSERT_TRUE(failed->is_error());
    EXPECT_EQ(failed->error().type, "FixtureError");
    EXPECT_EQ(failed->error().code, faas_errc::function_error);

    auto thrown = run(exec.invoke(JobCall(2, {})));
    ASSERT_TRUE(thrown);
    ASSERT_TRUE(thrown->is_error());
    EXPECT_EQ(thrown->error().type, "HandlerException");

    fake.throttle_invocations(2);
    auto throttled = run(exec.invoke(JobCall(3, to_bytes("0"))));
    ASSERT_TRUE(throttled) << throttled.error().to_string();
    EXPECT_EQ(to_string(throttled->body()), "slept 0");

    fake.throttle_invocations(100);
    auto refused = run(exec.invoke(JobCall(3, to_bytes("0"))));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, faas_errc::throttled) << refused.error().to_string();
    fake.throttle_invocations(0);

    auto slow = run(exec.invoke(JobCall(3, to_bytes("2500"))));
    ASSERT_FALSE(slow);
    EXPECT_EQ(slow.error().kind, faas_errc::timeout) << slow.error().to_string();

    // A rotated key: the executor fetches the new one once and goes on.
    fake.rotate_function_key("bp-app-three");
    auto rotated = run(exec.invoke(JobCall(3, to_bytes("0"))));
    ASSERT_TRUE(rotated) << rotated.error().to_string();

    // A wrong explicit key: unauthorized, not retried with listKeys.
    auto options = options_for(fake, "bp-app-three");
    options.function_key = "not-the-key";
    auto wrong = make(options);
    auto denied = run(wrong.invoke(JobCall(3, to_bytes("0"))));
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().kind, faas_errc::unauthorized) << denied.error().to_string();
    EXPECT_EQ(denied.error().message.find("not-the-key"), std::string::npos);
    expect_contract(fake);
}

TEST_F(AzureIntegration, AFailedDeploymentIsReported) {
    FakeAzure fake;
    auto exec = make(options_for(fake, "bp-app-four"));
    fake.fail_next_deployment("Deployment failed: disk full");
    auto r = run(exec.deploy_job(0, fixture_binary(), {}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::infrastructure);
    EXPECT_NE(r.error().message.find("disk full"), std::string::npos) << r.error().to_string();
    EXPECT_TRUE(exec.known_jobs().empty());

    // A package that cannot start fails the deployment too (the binary is not
    // a function runtime).
    Bytes script = to_bytes("#!/bin/sh\nexit 3\n");
    auto broken = run(exec.deploy_job(0, script, {}));
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().message.find("does not start"), std::string::npos) << broken.error().to_string();
}

TEST_F(AzureIntegration, CredentialsTokensAndSecretsNeverLogged) {
    FakeAzure fake;
    LogCapture logs;
    std::vector<std::string> messages;

    // Wrong secret: unauthorized, and the secret appears nowhere.
    auto bad = options_for(fake, "bp-app-five");
    bad.credential->client_secret = "wrong-secret-value-0001";
    bad.client.log = logs.sink();
    auto denied = run(make(bad).deploy_job(0, fixture_binary(), {}));
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().kind, faas_errc::unauthorized);
    EXPECT_NE(denied.error().message.find("invalid_client"), std::string::npos) << denied.error().message;
    messages.push_back(denied.error().to_string());

    // Managed identity.
    auto mi = options_for(fake, "bp-app-five");
    mi.credential.reset();
    mi.endpoints.identity_endpoint = fake.identity_endpoint();
    mi.endpoints.identity_header = fake.options().identity_header;
    mi.client.log = logs.sink();
    auto exec = make(mi);
    std::vector<std::string> progress;
    exec.on_progress([&](std::string_view line) { progress.emplace_back(line); });
    auto d = run(exec.deploy_job(0, fixture_binary(), {}));
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(fake.count("/msi/token"), 1u);
    auto r = run(exec.invoke(JobCall(0, to_bytes("x"))));
    ASSERT_TRUE(r) << r.error().to_string();

    // A revoked token: ARM says 401, the executor gets a new one.
    fake.revoke_tokens();
    auto healthy = run(exec.health_check(0));
    ASSERT_TRUE(healthy) << healthy.error().to_string();
    EXPECT_TRUE(*healthy);
    EXPECT_EQ(fake.count("/msi/token"), 2u);

    // Service principal too, at trace level.
    auto sp = options_for(fake, "bp-app-five");
    sp.client.log = logs.sink();
    auto exec2 = make(sp);
    exec2.on_progress([&](std::string_view line) { progress.emplace_back(line); });
    ASSERT_TRUE(run(exec2.deploy_job(1, fixture_binary(), {})));
    auto err = run(exec2.invoke(JobCall(9, {})));
    if (!err) messages.push_back(err.error().to_string());

    // Collect every secret that crossed the wire.
    std::set<std::string> secrets{fake.options().client_secret, "wrong-secret-value-0001", fake.options().identity_header,
                                  fake.function_key("bp-app-five"), "storage-secret-0001"};
    for (const auto& req : fake.requests()) {
        const std::string auth = req.header("Authorization");
        if (auth.starts_with("Bearer ")) secrets.insert(auth.substr(7));
        if (auto k = req.header("x-functions-key"); !k.empty()) secrets.insert(k);
    }
    const std::string log_text = logs.get();
    EXPECT_FALSE(log_text.empty());
    for (const auto& s : secrets) {
        ASSERT_FALSE(s.empty());
        EXPECT_EQ(log_text.find(s), std::string::npos) << "a secret was logged";
        for (const auto& p : progress) EXPECT_EQ(p.find(s), std::string::npos) << "a secret was in progress output";
        for (const auto& m : messages) EXPECT_EQ(m.find(s), std::string::npos) << "a secret was in an error";
    }
}

TEST_F(AzureIntegration, FiveHundredJobsThroughTheRunnerWithJob3OnAzure) {
    FakeAzure fake;
    auto options = options_for(fake, "bp-app-runner");
    auto exec = std::make_shared<AzureFunctionExecutor>(make(options));
    const Bytes binary = fixture_binary();
    ASSERT_TRUE(run(exec->deploy_job(3, binary, {})));
    ASSERT_TRUE(run(exec->deploy_job(1, binary, {})));

    constexpr std::size_t n = 500;
    std::vector<JobCall> calls;
    for (std::size_t i = 0; i < n; ++i) {
        Metadata md;
        md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(i));
        const JobId job = i == 7 ? JobId(1u) : JobId(static_cast<std::uint32_t>(i % 2 ? 3 : 0));
        calls.emplace_back(job, to_bytes(i % 2 ? "0" : "local " + std::to_string(i)), md);
    }
    Router router;
    router.route(0, [](JobCall call) { return JobResult::ok(call.body()); });
    auto consumer = std::make_shared<CollectingConsumer>();
    RunnerConfig config;
    config.max_in_flight = 64;
    config.handle_signals = false;
    auto stats = BlueprintRunner::builder(config)
                     .router(router)
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(consumer)
                     .with_faas_executor(3, std::shared_ptr<FaasExecutor>(exec))
                     .with_faas_executor(1, std::shared_ptr<FaasExecutor>(exec))
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();
    EXPECT_EQ(stats->calls_delegated, n / 2);  // the odd calls; call 7 is job 1

    auto results = consumer->results();
    ASSERT_EQ(results.size(), n);
    std::set<std::uint64_t> seen;
    for (const auto& r : results) {
        const auto call = r.metadata().get(metadata_keys::call_id)->to_u64().value();
        EXPECT_TRUE(seen.insert(call).second);
        if (call == 7) {
            ASSERT_TRUE(r.is_error());
            EXPECT_EQ(r.error().type, "FixtureError");
            continue;
        }
        ASSERT_TRUE(r.is_ok()) << "call " << call << ": " << r.error().message;
        EXPECT_EQ(to_string(r.body()), call % 2 ? "slept 0" : "local " + std::to_string(call));
        EXPECT_EQ(r.job_id(), JobId(static_cast<std::uint32_t>(call % 2 ? 3 : 0)));
    }
    EXPECT_EQ(seen.size(), n);
}

// `bpfaas deploy|invoke|health|warm|undeploy --provider azure` against the fake.
TEST_F(AzureIntegration, CliVerbs) {
    const auto bpfaas = blueprint::test::build_path("apps/bpfaas/bpfaas");
    ASSERT_TRUE(fs::exists(bpfaas)) << "bpfaas not built";
    // The CLI polls with the default (1 s) backoff: keep the fake quick.
    blueprint::test::FakeAzureOptions quick;
    quick.deploy_polls = 0;
    quick.async_site_create = false;
    FakeAzure fake(quick);
    auto cli = [&](std::vector<std::string> args, std::vector<std::pair<std::string, std::string>> extra_env = {}) {
        std::vector<std::string> all = std::move(args);
        const std::vector<std::string> common{"--provider", "azure", "--subscription", fake.options().subscription,
                                              "--resource-group", "rg-cli", "--app", "bp-cli-app", "--job", "6",
                                              "--authority-url", fake.authority(), "--arm-endpoint", fake.arm(),
                                              "--scm-url-template", fake.scm_template(), "--site-url-template",
                                              fake.site_template(), "--tenant", fake.options().tenant, "--client-id",
                                              fake.options().client_id};
        all.insert(all.end(), common.begin(), common.end());
        blueprint::test::ProcessOptions po;
        po.env = extra_env.empty() ? decltype(po.env){{"AZURE_CLIENT_SECRET", fake.options().client_secret}} : extra_env;
        po.unset_env = {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "IDENTITY_ENDPOINT", "HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"};
        auto child = blueprint::test::ChildProcess::spawn(bpfaas, all, po);
        auto out = child.communicate("", 120s);
        EXPECT_TRUE(out);
        return out ? *out : blueprint::test::ChildProcess::Outcome{};
    };
    auto deploy = cli({"deploy", test_function_path().string(), "--region", "westeurope", "--timeout", "30"});
    ASSERT_TRUE(deploy.status.ok()) << deploy.err;
    EXPECT_NE(deploy.out.find("\"function_id\":\"bp-cli-app/job6\""), std::string::npos) << deploy.out;
    EXPECT_NE(deploy.err.find("uploading the package"), std::string::npos) << deploy.err;
    EXPECT_EQ(deploy.err.find(fake.options().client_secret), std::string::npos);

    auto invoke = cli({"invoke", "--args-hex", "00000003"});
    ASSERT_TRUE(invoke.status.ok()) << invoke.err;
    EXPECT_NE(invoke.out.find("\"ok\":true"), std::string::npos) << invoke.out;
    EXPECT_NE(invoke.out.find("[0,0,0,0,0,0,0,9]"), std::string::npos) << invoke.out;
    auto health = cli({"health"});
    EXPECT_TRUE(health.status.ok()) << health.err;
    EXPECT_NE(health.out.find("healthy"), std::string::npos);
    auto warm = cli({"warm", "--instances", "2"});
    EXPECT_TRUE(warm.status.ok()) << warm.err;
    auto undeploy = cli({"undeploy"});
    EXPECT_TRUE(undeploy.status.ok()) << undeploy.err;
    EXPECT_FALSE(fake.app_exists("bp-cli-app"));
    auto gone = cli({"health"});
    EXPECT_EQ(gone.status.code, 3) << gone.err;

    // Without the secret in the environment: a usage error, never a flag.
    auto no_secret = cli({"health"}, {{"AZURE_CLIENT_SECRET", ""}});  // set but empty
    EXPECT_EQ(no_secret.status.code, 2) << no_secret.err;
    EXPECT_NE(no_secret.err.find("AZURE_CLIENT_SECRET"), std::string::npos) << no_secret.err;
}

}  // namespace
