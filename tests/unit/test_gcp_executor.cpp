// gcp::CloudFunctionExecutor against the fake Google Cloud (tests/common/
// fake_gcp.*), which enforces §8 and refuses anything off the contract. The
// function URL is answered by the fake itself here (run_framework = false);
// tests/integration/test_gcp_executor.cpp runs the real Functions Framework.
#include "common/fake_gcp.hpp"
#include "common/run_coro.hpp"
#include "faas/gcp/api.hpp"
#include "faas/gcp/jwt.hpp"
#include "faas/gcp/token.hpp"

#include <blueprint/faas/gcp.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace {

namespace gcp = blueprint::faas::gcp;
namespace json = boost::json;
using blueprint::Bytes;
using blueprint::JobCall;
using blueprint::JobId;
using blueprint::to_bytes;
using blueprint::faas::faas_errc;
using blueprint::faas::FaasConfig;
using blueprint::test::FakeGcp;
using blueprint::test::FakeGcpOptions;
using namespace std::chrono_literals;

const Bytes fake_binary = to_bytes("#!/bin/sh\necho not run here\n");

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += "\n  " + s;
    return out;
}

class GcpExecutorTest : public ::testing::Test {
protected:
    boost::asio::io_context ioc;
    std::optional<FakeGcp> fake;

    void SetUp() override {
        FakeGcpOptions o;
        o.run_framework = false;
        fake.emplace(ioc, o);
    }
    void TearDown() override {
        if (fake) {
            if (expect_clean) EXPECT_TRUE(fake->rejections().empty()) << "the fake refused:" << joined(fake->rejections());
            fake->stop();
        }
        fake.reset();
        // Everything the fake and the executor started must wind down.
        ioc.restart();
        ioc.run_for(5s);
        EXPECT_TRUE(ioc.stopped()) << "the io_context still has outstanding work";
    }

    gcp::CloudFunctionOptions options() {
        gcp::CloudFunctionOptions o;
        o.project = "test-project";
        o.region = "us-central1";
        o.credentials.key_json = fake->key_json();
        o.credentials.allow_metadata_server = false;
        o.endpoints.api_base = fake->api_base();
        o.poll_initial = 2ms;
        o.poll_max = 10ms;
        o.operation_timeout = 30s;
        o.http.retry.initial_backoff = 2ms;
        o.http.retry.max_backoff = 20ms;
        o.progress = [this](std::string_view line) { progress.emplace_back(line); };
        if (std::getenv("GCP_TEST_LOG")) o.log = o.http.log = blueprint::stderr_log_sink(blueprint::LogLevel::trace);
        return o;
    }
    gcp::CloudFunctionExecutor make(gcp::CloudFunctionOptions o) {
        auto e = gcp::CloudFunctionExecutor::create(std::move(o));
        if (!e) throw std::runtime_error(e.error().to_string());
        return std::move(*e);
    }
    // Not run_coro: that runs the context until it is out of work, and the
    // fake's servers keep it busy; this stops as soon as the coroutine is done.
    template <class T> T run(boost::asio::awaitable<T> aw) {
        std::optional<T> out;
        std::exception_ptr error;
        bool done = false;
        boost::asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T v) {
            done = true;
            error = e;
            if (!e) out.emplace(std::move(v));
        });
        ioc.restart();
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (!done && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(100ms);
        if (!done) throw std::runtime_error("the coroutine did not finish within 60 s");
        if (error) std::rethrow_exception(error);
        return std::move(*out);
    }

    bool expect_clean = true;
    std::vector<std::string> progress;
};

TEST_F(GcpExecutorTest, DeployCreatesUploadsPollsAndInvokes) {
    auto exec = make(options());
    auto d = run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{}));
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->function_id, "blueprint-job-0");
    EXPECT_EQ(d->job_id, JobId(0));
    EXPECT_TRUE(d->endpoint.starts_with("http://127.0.0.1:")) << d->endpoint;
    EXPECT_EQ(d->memory_mb, 512u);
    EXPECT_EQ(d->timeout_secs, 300u);
    EXPECT_EQ(fake->function_state("blueprint-job-0"), "ACTIVE");
    auto s = fake->stats();
    EXPECT_EQ(s.uploads, 1u);
    EXPECT_EQ(s.creates, 1u);
    EXPECT_EQ(s.patches, 0u);
    EXPECT_GE(s.operation_polls, 3u);
    EXPECT_EQ(s.access_tokens, 1u) << "the access token is cached across calls";

    auto body = json::parse(fake->last_function_body()).as_object();
    EXPECT_EQ(body.at("serviceConfig").at("availableMemory"), "512M");
    EXPECT_EQ(body.at("serviceConfig").at("timeoutSeconds").as_int64(), 300);

    bool saw_upload = false, saw_poll = false;
    for (auto& line : progress) {
        saw_upload |= line.find("uploading") != std::string::npos;
        saw_poll |= line.find("waiting for") != std::string::npos;
    }
    EXPECT_TRUE(saw_upload && saw_poll) << joined(progress);

    auto first = run(exec.invoke_with_metrics(JobCall(JobId(0), to_bytes("hello"))));
    ASSERT_TRUE(first) << first.error().to_string();
    ASSERT_TRUE(first->result.is_ok());
    EXPECT_EQ(blueprint::to_string(first->result.body()), "hello");
    EXPECT_EQ(first->metrics.cold_start, true);
    EXPECT_GT(first->metrics.total_duration.count(), 0);
    EXPECT_FALSE(first->metrics.execution_duration) << "GCP reports none: absent, not invented";
    auto second = run(exec.invoke_with_metrics(JobCall(JobId(0), to_bytes("again"))));
    ASSERT_TRUE(second);
    EXPECT_EQ(blueprint::to_string(second->result.body()), "again");
    EXPECT_EQ(second->metrics.cold_start, false);
    EXPECT_EQ(fake->stats().id_tokens, 1u) << "the ID token is cached";
    auto claims = json::parse(fake->last_id_token_claims()).as_object();
    EXPECT_EQ(claims.at("aud").as_string(), d->endpoint);
}

TEST_F(GcpExecutorTest, RedeployPatchesWithThePreciseUpdateMask) {
    auto exec = make(options());
    ASSERT_TRUE(run(exec.deploy_job(JobId(4), fake_binary, FaasConfig{})));
    FaasConfig c;
    c.memory_mb = 1024;
    c.timeout_secs = 30;
    c.max_concurrency = 7;
    c.env_vars = {{"MODE", "fast"}};
    auto d = run(exec.deploy_job(JobId(4), fake_binary, c));
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(fake->stats().creates, 1u);
    EXPECT_EQ(fake->stats().patches, 1u);
    EXPECT_EQ(fake->last_update_mask(), gcp::detail::update_mask);
    auto body = json::parse(fake->last_function_body()).as_object();
    const auto& sc = body.at("serviceConfig").as_object();
    EXPECT_EQ(sc.at("availableMemory"), "1024M");
    EXPECT_EQ(sc.at("timeoutSeconds").as_int64(), 30);
    EXPECT_EQ(sc.at("maxInstanceCount").as_int64(), 7);
    EXPECT_EQ(sc.at("environmentVariables"), (json::object{{"MODE", "fast"}}));
    EXPECT_EQ(d->memory_mb, 1024u);
    EXPECT_EQ(d->timeout_secs, 30u);
}

TEST_F(GcpExecutorTest, ExecutorMaxConcurrencyIsTheDefaultInstanceCap) {
    auto o = options();
    o.max_concurrency = 3;
    auto exec = make(o);
    ASSERT_TRUE(run(exec.deploy_job(JobId(1), fake_binary, FaasConfig{})));
    auto body = json::parse(fake->last_function_body()).as_object();
    EXPECT_EQ(body.at("serviceConfig").at("maxInstanceCount").as_int64(), 3);
}

TEST_F(GcpExecutorTest, AFailedOperationIsAFaasErrorWithGooglesMessage) {
    auto exec = make(options());
    fake->fail_next_operation("Build failed: npm ERR! missing script", 3);
    auto d = run(exec.deploy_job(JobId(2), fake_binary, FaasConfig{}));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, faas_errc::invocation_failed);
    EXPECT_NE(d.error().message.find("Build failed: npm ERR! missing script"), std::string::npos) << d.error().message;
    EXPECT_EQ(fake->function_state("blueprint-job-2"), "FAILED");
    auto h = run(exec.health_check(JobId(2)));
    ASSERT_TRUE(h);
    EXPECT_FALSE(*h);
    auto inv = run(exec.invoke(JobCall(JobId(2), {})));
    ASSERT_FALSE(inv);
    EXPECT_EQ(inv.error().kind, faas_errc::not_found);
}

TEST_F(GcpExecutorTest, HealthGetWarmAndUndeploy) {
    auto exec = make(options());
    auto before = run(exec.health_check(JobId(0)));
    ASSERT_TRUE(before) << before.error().to_string();
    EXPECT_FALSE(*before) << "404 is false, not an error";
    auto missing = run(exec.get_deployment(JobId(0)));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, faas_errc::not_found);

    auto d = run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{}));
    ASSERT_TRUE(d);
    EXPECT_EQ(run(exec.health_check(JobId(0))), true);
    auto got = run(exec.get_deployment(JobId(0)));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->endpoint, d->endpoint);
    EXPECT_EQ(got->memory_mb, 512u);
    EXPECT_EQ(got->timeout_secs, 300u);

    const auto before_warm = fake->stats().invocations;
    auto w = run(exec.warm(JobId(0), 4));
    ASSERT_TRUE(w) << w.error().to_string();
    EXPECT_EQ(fake->stats().invocations - before_warm, 4u);

    auto u = run(exec.undeploy_job(JobId(0)));
    ASSERT_TRUE(u) << u.error().to_string();
    EXPECT_EQ(fake->stats().deletes, 1u);
    EXPECT_EQ(fake->function_state("blueprint-job-0"), std::nullopt);
    EXPECT_EQ(run(exec.health_check(JobId(0))), false);
    auto again = run(exec.undeploy_job(JobId(0)));
    EXPECT_TRUE(again) << "already gone counts as done";
    auto inv = run(exec.invoke(JobCall(JobId(0), {})));
    ASSERT_FALSE(inv);
    EXPECT_EQ(inv.error().kind, faas_errc::not_found);
}

TEST_F(GcpExecutorTest, GoogleApiErrorsBecomeTypedErrors) {
    auto exec = make(options());
    fake->fail_next_api_call(403, "PERMISSION_DENIED", "Permission 'cloudfunctions.functions.get' denied on resource");
    auto h = run(exec.health_check(JobId(0)));
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().kind, faas_errc::unauthorized);
    EXPECT_EQ(h.error().http_status, 403);
    EXPECT_NE(h.error().message.find("Permission 'cloudfunctions.functions.get' denied"), std::string::npos);
    fake->fail_next_api_call(400, "FAILED_PRECONDITION", "Cloud Functions API has not been used in project test-project");
    auto d = run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{}));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, faas_errc::invocation_failed);
    EXPECT_NE(d.error().message.find("FAILED_PRECONDITION: Cloud Functions API has not been used"), std::string::npos)
        << d.error().message;
    // A quota refusal of generateUploadUrl (safe to repeat) is retried by the shared policy.
    fake->fail_next_api_call(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Write requests'");
    auto retried = run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{}));
    EXPECT_TRUE(retried) << retried.error().to_string();
    // With retries off it is the typed error.
    auto o = options();
    o.http.retry.max_attempts = 1;
    auto once = make(o);
    fake->fail_next_api_call(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Read requests'");
    auto g = run(once.get_deployment(JobId(0)));
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().kind, faas_errc::throttled);
    EXPECT_NE(g.error().message.find("Quota exceeded"), std::string::npos);
}

TEST_F(GcpExecutorTest, RevokedTokensAreReplacedOnce) {
    auto exec = make(options());
    ASSERT_TRUE(run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{})));
    ASSERT_TRUE(run(exec.invoke(JobCall(JobId(0), to_bytes("x")))));
    fake->revoke_tokens();
    auto h = run(exec.health_check(JobId(0)));
    ASSERT_TRUE(h) << h.error().to_string();
    EXPECT_TRUE(*h);
    auto r = run(exec.invoke(JobCall(JobId(0), to_bytes("y"))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(blueprint::to_string(r->body()), "y");
    EXPECT_EQ(fake->stats().access_tokens, 2u);
    EXPECT_EQ(fake->stats().id_tokens, 2u);
    expect_clean = false;  // the refused stale tokens are recorded, on purpose
    for (auto& r : fake->rejections())
        EXPECT_TRUE(r.find("access token") != std::string::npos || r.find("ID token") != std::string::npos) << r;
}

TEST_F(GcpExecutorTest, ThrottledInvocationsAreRetriedWithinThePolicy) {
    auto o = options();
    o.http.retry.max_attempts = 4;
    auto exec = make(o);
    ASSERT_TRUE(run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{})));
    fake->inject_invoke_status(429, 2);
    auto r = run(exec.invoke(JobCall(JobId(0), to_bytes("through"))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(blueprint::to_string(r->body()), "through");
    EXPECT_EQ(fake->stats().injected, 2u);

    fake->inject_invoke_status(429, 100);
    auto t = run(exec.invoke(JobCall(JobId(0), to_bytes("no"))));
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().kind, faas_errc::throttled);
    EXPECT_EQ(t.error().http_status, 429);
    EXPECT_EQ(fake->stats().injected, 2u + 4u) << "max_attempts bounds the retries";

    // A Retry-After beyond max_backoff is not waited for.
    fake->inject_invoke_status(503, 100, "3600");
    auto u = run(exec.invoke(JobCall(JobId(0), {})));
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().kind, faas_errc::throttled);
    EXPECT_EQ(fake->stats().injected, 2u + 4u + 1u);
}

TEST_F(GcpExecutorTest, AWronglySignedKeyIsRefusedWithTheOAuthError) {
    // The account's email and key id, but another private key.
    auto other = blueprint::test::make_test_service_account();
    other.client_email = fake->account().client_email;
    other.private_key_id = fake->account().private_key_id;
    auto o = options();
    o.credentials.key_json = other.key_json(fake->token_uri());
    auto exec = make(o);
    auto d = run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{}));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, faas_errc::unauthorized);
    EXPECT_NE(d.error().message.find("invalid_grant (Invalid JWT Signature.)"), std::string::npos) << d.error().message;
    EXPECT_EQ(d.error().message.find("PRIVATE KEY"), std::string::npos);
    expect_clean = false;
    ASSERT_EQ(fake->rejections().size(), 1u);
    EXPECT_NE(fake->rejections()[0].find("bad signature"), std::string::npos);
}

TEST_F(GcpExecutorTest, TheFakeRefusesExpiredAndMalformedAssertions) {
    // Straight at the token endpoint, so the fake's own checks are tested.
    auto key = gcp::detail::parse_service_account_key(fake->key_json(), "k");
    ASSERT_TRUE(key);
    blueprint::faas::http::HttpClient client;
    auto post = [&](std::string body) {
        blueprint::faas::http::Request req;
        req.method = "POST";
        req.url = fake->token_uri();
        req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        req.body = std::move(body);
        auto r = run(client.send(std::move(req)));
        if (!r) throw std::runtime_error(r.error().message);
        return *r;
    };
    gcp::detail::AssertionRequest ar;
    ar.audience = fake->token_uri();
    ar.scope = std::string(gcp::detail::cloud_platform_scope);
    ar.now = std::chrono::system_clock::now() - 2h;  // expired an hour ago
    auto expired = post(gcp::detail::token_request_body(*gcp::detail::make_assertion(*key, ar)));
    EXPECT_EQ(expired.status, 400);
    EXPECT_EQ(json::parse(expired.body).at("error"), "invalid_grant");

    ar.now = std::chrono::system_clock::now();
    ar.audience = "https://elsewhere/token";
    auto wrong_aud = post(gcp::detail::token_request_body(*gcp::detail::make_assertion(*key, ar)));
    EXPECT_EQ(wrong_aud.status, 400);

    ar.audience = fake->token_uri();
    ar.scope.clear();
    auto neither = post(gcp::detail::token_request_body(*gcp::detail::make_assertion(*key, ar)));
    EXPECT_EQ(neither.status, 400);
    EXPECT_EQ(json::parse(neither.body).at("error"), "invalid_scope");

    auto garbage = post("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b");
    EXPECT_EQ(garbage.status, 400);
    auto wrong_grant = post("grant_type=client_credentials&assertion=x");
    EXPECT_EQ(json::parse(wrong_grant.body).at("error"), "unsupported_grant_type");
    expect_clean = false;
    EXPECT_EQ(fake->rejections().size(), 5u) << joined(fake->rejections());
    EXPECT_EQ(fake->stats().access_tokens, 0u);
}

TEST_F(GcpExecutorTest, MetadataServerSuppliesBothTokensWhenNoKeyIsGiven) {
    auto o = options();
    o.credentials = {};
    o.credentials.allow_metadata_server = true;
    o.endpoints.metadata_host = fake->metadata_host();
    ::unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    auto exec = make(o);
    ASSERT_TRUE(run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{})));
    auto r = run(exec.invoke(JobCall(JobId(0), to_bytes("md"))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(blueprint::to_string(r->body()), "md");
    auto s = fake->stats();
    EXPECT_EQ(s.token_requests, 0u);
    EXPECT_EQ(s.metadata_requests, 2u) << "one access token, one ID token, both cached";
}

TEST_F(GcpExecutorTest, MetadataHostComesFromGceMetadataHost) {
    auto o = options();
    o.credentials = {};
    ::unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    ::setenv("GCE_METADATA_HOST", fake->metadata_host().c_str(), 1);
    auto exec = make(o);
    ::unsetenv("GCE_METADATA_HOST");
    auto h = run(exec.health_check(JobId(0)));
    ASSERT_TRUE(h) << h.error().to_string();
    EXPECT_EQ(fake->stats().metadata_requests, 1u);
}

TEST_F(GcpExecutorTest, KeyFileFromGoogleApplicationCredentials) {
    auto o = options();
    o.credentials = {};
    o.credentials.allow_metadata_server = false;
    o.project.clear();  // taken from the key's project_id
    ::setenv("GOOGLE_APPLICATION_CREDENTIALS", fake->key_file().c_str(), 1);
    auto exec = gcp::CloudFunctionExecutor::create(o);
    ::unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    ASSERT_TRUE(exec) << exec.error().to_string();
    EXPECT_EQ(exec->project(), "test-project");
    ASSERT_TRUE(run(exec->health_check(JobId(0))));

    ::setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json", 1);
    auto bad = gcp::CloudFunctionExecutor::create(o);
    ::unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, faas_errc::unauthorized);
    EXPECT_NE(bad.error().message.find("GOOGLE_APPLICATION_CREDENTIALS"), std::string::npos) << bad.error().message;
}

TEST_F(GcpExecutorTest, MalformedKeyFilesFailAtCreateWithoutLeakingTheKey) {
    const auto text = fake->key_json();
    const auto dir = fake->key_file().parent_path();
    struct Case {
        std::string content;
        std::string expect;
    } cases[] = {
        {text.substr(0, text.size() / 2), "not valid JSON"},
        {"", "not valid JSON"},
        {[&] {
             auto o = json::parse(text).as_object();
             o.erase("client_email");
             return json::serialize(o);
         }(),
         "missing field \"client_email\""},
        {[&] {
             auto o = json::parse(text).as_object();
             o.erase("private_key");
             return json::serialize(o);
         }(),
         "missing field \"private_key\""},
    };
    for (auto& c : cases) {
        auto path = dir / "bad.json";
        std::ofstream(path, std::ios::trunc) << c.content;
        auto o = options();
        o.credentials.key_json.clear();
        o.credentials.key_file = path.string();
        auto e = gcp::CloudFunctionExecutor::create(o);
        ASSERT_FALSE(e) << c.expect;
        EXPECT_EQ(e.error().kind, faas_errc::unauthorized);
        EXPECT_NE(e.error().message.find(c.expect), std::string::npos) << e.error().message;
        EXPECT_NE(e.error().message.find(path.string()), std::string::npos) << e.error().message;
        EXPECT_EQ(e.error().message.find("PRIVATE KEY"), std::string::npos) << e.error().message;
        const auto& pem = fake->account().private_key_pem;
        EXPECT_EQ(e.error().message.find(pem.substr(pem.find('\n') + 1, 32)), std::string::npos);
    }
    EXPECT_EQ(fake->stats().token_requests, 0u);
}

TEST_F(GcpExecutorTest, OptionsAreChecked) {
    auto o = options();
    o.region.clear();
    EXPECT_FALSE(gcp::CloudFunctionExecutor::create(o));
    o = options();
    o.function_prefix = "Bad_Prefix";
    auto e = gcp::CloudFunctionExecutor::create(o);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("prefix"), std::string::npos);
    o = options();
    o.credentials = {};
    o.credentials.allow_metadata_server = false;
    ::unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    auto none = gcp::CloudFunctionExecutor::create(o);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind, faas_errc::unauthorized);

    auto exec = make(options());
    FaasConfig too_long;
    too_long.timeout_secs = 3601;
    auto d = run(exec.deploy_job(JobId(0), fake_binary, too_long));
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().message.find("timeout_secs"), std::string::npos);
    EXPECT_EQ(fake->stats().api_requests, 0u) << "refused before any request";
    auto big = JobId::parse("0x10000000000000000");
    auto r = run(exec.invoke(JobCall(*big, {})));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("64 bits"), std::string::npos);
    EXPECT_EQ(exec.function_name(JobId(9)).value(), "projects/test-project/locations/us-central1/functions/blueprint-job-9");
}

TEST_F(GcpExecutorTest, AnUnreachableApiIsInfrastructure) {
    auto o = options();
    o.endpoints.api_base = "http://127.0.0.1:1/v2/";
    o.http.retry.max_attempts = 1;
    auto exec = make(o);
    auto h = run(exec.health_check(JobId(0)));
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().kind, faas_errc::infrastructure);
}

}  // namespace

namespace {

TEST_F(GcpExecutorTest, ConcurrentCallersShareOneTokenRequest) {
    auto exec = make(options());
    ASSERT_TRUE(run(exec.deploy_job(JobId(0), fake_binary, FaasConfig{})));
    fake->revoke_tokens();  // make the next calls all start without a token...
    const auto before = fake->stats();
    // ...and drop the executor's cached ones by making it see the 401 once.
    int done = 0, ok = 0;
    for (int i = 0; i < 8; ++i)
        boost::asio::co_spawn(ioc, exec.invoke(JobCall(JobId(0), to_bytes("c" + std::to_string(i)))),
                              [&](std::exception_ptr e, auto r) {
                                  ++done;
                                  if (!e && r && r->is_ok()) ++ok;
                              });
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (done < 8 && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(100ms);
    ASSERT_EQ(done, 8);
    EXPECT_EQ(ok, 8);
    EXPECT_EQ(fake->stats().id_tokens - before.id_tokens, 1u) << "one fresh ID token for all eight callers";
    expect_clean = false;  // the revoked token is refused on purpose
}

}  // namespace
