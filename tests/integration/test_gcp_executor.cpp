// gcp::CloudFunctionExecutor end to end: the fake Google Cloud
// (tests/common/fake_gcp.*) enforcing §8, with every function URL fronting
// the REAL Functions Framework (npm) running the very zip the executor
// uploaded, with the fixture function as its bootstrap; and the runner on top.
//
// Needs node and @google-cloud/functions-framework (scripts/setup-npm.sh).
// Missing either is a failure, not a skip.
#include "common/fake_gcp.hpp"
#include "common/process.hpp"
#include "common/run_coro.hpp"

#include <blueprint/consumers.hpp>
#include <blueprint/faas/gcp.hpp>
#include <blueprint/producers.hpp>
#include <blueprint/router.hpp>
#include <blueprint/runner.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

namespace {

namespace fs = std::filesystem;
namespace gcp = blueprint::faas::gcp;
using namespace blueprint;
using blueprint::faas::faas_errc;
using blueprint::faas::FaasConfig;
using blueprint::test::FakeGcp;
using namespace std::chrono_literals;

template <class T> boost::asio::awaitable<std::optional<T>> optional_of(boost::asio::awaitable<T> aw) {
    co_return co_await std::move(aw);
}
/// Runs a coroutine on a fresh io_context (the fake lives on its own thread).
template <class T> T run(boost::asio::awaitable<T> aw, std::chrono::milliseconds timeout = 120s) {
    boost::asio::io_context ioc;
    return std::move(*blueprint::test::run_coro(ioc, optional_of(std::move(aw)), timeout));
}

Bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += "\n  " + s;
    return out;
}

/// The fake on its own io_context thread; stopped on that thread.
class FakeOnThread {
public:
    FakeOnThread() : work_(ioc_.get_executor()) {
        fake_.emplace(ioc_);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~FakeOnThread() {
        std::promise<void> stopped;
        boost::asio::post(ioc_, [&] {
            fake_->stop();
            stopped.set_value();
        });
        stopped.get_future().wait();
        work_.reset();
        thread_.join();
        fake_.reset();
    }
    FakeGcp& operator*() { return *fake_; }
    FakeGcp* operator->() { return &*fake_; }

private:
    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::optional<FakeGcp> fake_;
    std::thread thread_;
};

class GcpEndToEnd : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto missing = blueprint::test::functions_framework_missing()) FAIL() << *missing;
        binary_path = blueprint::test::build_path("tests/test_function");
        ASSERT_TRUE(fs::exists(binary_path)) << binary_path << " is not built (target test_function)";
        binary = read_file(binary_path);
        fake.emplace();
    }
    void TearDown() override {
        if (fake && expect_clean) EXPECT_TRUE((*fake)->rejections().empty()) << "the fake refused:" << joined((*fake)->rejections());
        fake.reset();
    }

    gcp::CloudFunctionExecutor make(std::optional<unsigned> attempts = std::nullopt) {
        gcp::CloudFunctionOptions o;
        o.project = "test-project";
        o.region = "us-central1";
        o.credentials.key_file = (*fake)->key_file().string();
        o.credentials.allow_metadata_server = false;
        o.endpoints.api_base = (*fake)->api_base();
        o.endpoints.token_uri = (*fake)->token_uri();
        o.poll_initial = 20ms;
        o.poll_max = 200ms;
        o.operation_timeout = 60s;
        o.http.retry.initial_backoff = 5ms;
        o.http.retry.max_backoff = 50ms;
        if (attempts) o.http.retry.max_attempts = *attempts;
        auto e = gcp::CloudFunctionExecutor::create(std::move(o));
        if (!e) throw std::runtime_error(e.error().to_string());
        return std::move(*e);
    }

    std::string binary_path;
    Bytes binary;
    std::optional<FakeOnThread> fake;
    bool expect_clean = true;
};

JobCall call_with_id(std::uint32_t job, Bytes args, std::uint64_t call_id) {
    Metadata md;
    md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(call_id));
    return JobCall(JobId(job), std::move(args), std::move(md));
}

Bytes be64(std::uint64_t v, std::size_t n = 8) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[n - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    return b;
}

TEST_F(GcpEndToEnd, DeploysTheUploadedZipUnderTheFrameworkAndInvokesIt) {
    auto exec = make();
    auto d = run(exec.deploy_job(JobId(0), binary, FaasConfig{}));
    ASSERT_TRUE(d) << d.error().to_string() << "\n" << (*fake)->framework_log("blueprint-job-0");

    auto first = run(exec.invoke_with_metrics(JobCall(JobId(0), to_bytes("through the shim"))));
    ASSERT_TRUE(first) << first.error().to_string() << "\n" << (*fake)->framework_log("blueprint-job-0");
    ASSERT_TRUE(first->result.is_ok()) << first->result.error().message;
    EXPECT_EQ(to_string(first->result.body()), "through the shim");
    EXPECT_EQ(first->metrics.cold_start, true) << "the shim marks the instance's first reply";
    auto second = run(exec.invoke_with_metrics(JobCall(JobId(0), to_bytes("warm"))));
    ASSERT_TRUE(second);
    EXPECT_EQ(second->metrics.cold_start, false);
    EXPECT_NE((*fake)->framework_log("blueprint-job-0").find("started bootstrap pid="), std::string::npos);
    EXPECT_EQ(run(exec.health_check(JobId(0))), true);

    // Large payloads survive the front, the framework and the shim.
    Bytes big(1u << 20);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 31);
    auto echoed = run(exec.invoke(JobCall(JobId(0), big)));
    ASSERT_TRUE(echoed) << echoed.error().to_string();
    EXPECT_TRUE(echoed->body() == big);

    // A redeploy is a PATCH, and a new instance: a cold start again.
    auto again = run(exec.deploy_job(JobId(0), binary, FaasConfig{}));
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ(again->endpoint, d->endpoint) << "the URL is stable across updates";
    EXPECT_EQ((*fake)->stats().patches, 1u);
    auto after = run(exec.invoke_with_metrics(JobCall(JobId(0), to_bytes("new"))));
    ASSERT_TRUE(after) << after.error().to_string();
    EXPECT_EQ(after->metrics.cold_start, true);

    ASSERT_TRUE(run(exec.undeploy_job(JobId(0))));
    EXPECT_EQ(run(exec.health_check(JobId(0))), false);
}

TEST_F(GcpEndToEnd, RunnerSends500JobsToGcpAndTheRouter) {
    auto exec = std::make_shared<gcp::CloudFunctionExecutor>(make());
    // Job 6 squares, job 2 throws (a function error) in the fixture; job 0 is local.
    for (std::uint32_t job : {6u, 2u}) {
        auto d = run(exec->deploy_job(JobId(job), binary, FaasConfig{}));
        ASSERT_TRUE(d) << d.error().to_string();
    }
    ASSERT_TRUE(run(exec->warm(JobId(6), 2)));
    // A 429 burst: retried inside the policy, so every call still succeeds.
    (*fake)->inject_invoke_status(429, 3);

    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 500; ++i) {
        if (i % 10 == 9) calls.push_back(call_with_id(2, {}, i));
        else if (i % 2 == 0) calls.push_back(call_with_id(6, be64(i), i));
        else calls.push_back(call_with_id(0, to_bytes("local " + std::to_string(i)), i));
    }
    Router router;
    router.route(0, [](JobCall call) { return JobResult::ok(call.body()); });
    auto consumer = std::make_shared<CollectingConsumer>();
    RunnerConfig config;
    config.max_in_flight = 32;
    config.io_threads = 2;
    config.handle_signals = false;
    auto stats = BlueprintRunner::builder(config)
                     .router(router)
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(consumer)
                     .with_faas_executor(6, std::shared_ptr<faas::FaasExecutor>(exec))
                     .with_faas_executor(2, std::shared_ptr<faas::FaasExecutor>(exec))
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();
    EXPECT_EQ(stats->calls_delegated, 300u);

    auto results = consumer->results();
    ASSERT_EQ(results.size(), 500u);
    std::set<std::uint64_t> seen;
    for (const auto& r : results) {
        const auto* id = r.metadata().get(metadata_keys::call_id);
        ASSERT_NE(id, nullptr) << "the call's metadata is on every result";
        const auto i = id->to_u64().value();
        EXPECT_TRUE(seen.insert(i).second) << "call " << i << " answered twice";
        if (i % 10 == 9) {
            EXPECT_EQ(r.job_id(), JobId(2));
            ASSERT_TRUE(r.is_error()) << "call " << i;
            EXPECT_NE(r.error().message.find("thrown on purpose"), std::string::npos) << r.error().message;
        } else if (i % 2 == 0) {
            EXPECT_EQ(r.job_id(), JobId(6));
            ASSERT_TRUE(r.is_ok()) << "call " << i << ": " << r.error().message;
            EXPECT_EQ(r.body(), be64(i * i));
        } else {
            ASSERT_TRUE(r.is_ok());
            EXPECT_EQ(to_string(r.body()), "local " + std::to_string(i));
        }
    }
    EXPECT_EQ(seen.size(), 500u);
    EXPECT_EQ((*fake)->stats().injected, 3u);
    EXPECT_EQ((*fake)->stats().id_tokens, 2u) << "one ID token per function URL, cached";
}

TEST_F(GcpEndToEnd, RunnerTurnsTimeoutsAndThrottlingIntoErrorResults) {
    auto exec = std::make_shared<gcp::CloudFunctionExecutor>(make(/*attempts=*/3));
    FaasConfig slow;
    slow.timeout_secs = 1;
    auto d3 = run(exec->deploy_job(JobId(3), binary, slow));
    ASSERT_TRUE(d3) << d3.error().to_string();
    auto d0 = run(exec->deploy_job(JobId(0), binary, FaasConfig{}));
    ASSERT_TRUE(d0) << d0.error().to_string();
    ASSERT_TRUE(run(exec->warm(JobId(3), 1)));
    ASSERT_TRUE(run(exec->warm(JobId(0), 1)));

    auto run_one = [&](JobCall call) {
        auto consumer = std::make_shared<CollectingConsumer>();
        RunnerConfig config;
        config.handle_signals = false;
        std::vector<JobCall> calls;
        calls.push_back(std::move(call));
        auto stats = BlueprintRunner::builder(config)
                         .router(Router{})
                         .producer(VectorProducer(std::move(calls)))
                         .consumer(consumer)
                         .with_faas_executor(3, std::shared_ptr<faas::FaasExecutor>(exec))
                         .with_faas_executor(0, std::shared_ptr<faas::FaasExecutor>(exec))
                         .run();
        EXPECT_TRUE(stats);
        auto results = consumer->results();
        EXPECT_EQ(results.size(), 1u);
        return results.empty() ? JobResult::ok({}) : results[0];
    };

    // Within the 1 s deadline, then past it.
    auto quick = run_one(call_with_id(3, to_bytes("50"), 1));
    ASSERT_TRUE(quick.is_ok()) << quick.error().message;
    EXPECT_EQ(to_string(quick.body()), "slept 50");
    auto late = run_one(call_with_id(3, to_bytes("4000"), 2));
    ASSERT_TRUE(late.is_error());
    EXPECT_EQ(late.error().code, make_error_code(faas_errc::timeout)) << late.error().message;
    EXPECT_NE(late.error().message.find("deadline of 1000 ms"), std::string::npos) << late.error().message;
    ASSERT_NE(late.metadata().get(metadata_keys::call_id), nullptr);

    // A burst longer than the retry policy: throttled.
    (*fake)->inject_invoke_status(429, 50);
    auto throttled = run_one(call_with_id(0, to_bytes("x"), 3));
    ASSERT_TRUE(throttled.is_error());
    EXPECT_EQ(throttled.error().code, make_error_code(faas_errc::throttled)) << throttled.error().message;
    EXPECT_EQ((*fake)->stats().injected, 3u) << "max_attempts = 3";
    (*fake)->inject_invoke_status(429, 0);
    auto fine = run_one(call_with_id(0, to_bytes("after the burst"), 4));
    ASSERT_TRUE(fine.is_ok()) << fine.error().message;
}

TEST_F(GcpEndToEnd, AFailedOperationFailsTheDeployWithGooglesMessage) {
    auto exec = make();
    (*fake)->fail_next_operation("Build failed: Function 'blueprint' is not defined in the provided module.", 3);
    auto d = run(exec.deploy_job(JobId(7), binary, FaasConfig{}));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, faas_errc::invocation_failed);
    EXPECT_NE(d.error().message.find("Function 'blueprint' is not defined"), std::string::npos) << d.error().message;
    EXPECT_EQ(run(exec.health_check(JobId(7))), false);
    // The next deploy of the same job succeeds (a PATCH of the FAILED function).
    auto retry = run(exec.deploy_job(JobId(7), binary, FaasConfig{}));
    ASSERT_TRUE(retry) << retry.error().to_string();
    auto r = run(exec.invoke(JobCall(JobId(7), to_bytes("m"))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_TRUE(r->is_ok()) << "job 7 reports its mode";
    EXPECT_NE(to_string(r->body()).find("mode=http"), std::string::npos) << to_string(r->body());
}

}  // namespace

namespace {

// ---- bpfaas --provider gcp ----------------------------------------------------

struct CliRun {
    int code = -1;
    std::string out;
    std::string err;
};

CliRun bpfaas(const std::vector<std::string>& args) {
    auto child = blueprint::test::ChildProcess::spawn(blueprint::test::build_path("apps/bpfaas/bpfaas"), args,
                                                      blueprint::test::ProcessOptions{.unset_env = {"GOOGLE_APPLICATION_CREDENTIALS"}});
    auto outcome = child.communicate("", 120s);
    if (!outcome) return {};
    return CliRun{outcome->status.exited ? outcome->status.code : -1, outcome->out, outcome->err};
}

TEST_F(GcpEndToEnd, BpfaasDrivesTheWholeLifecycle) {
    const auto cli = blueprint::test::build_path("apps/bpfaas/bpfaas");
    ASSERT_TRUE(fs::exists(cli)) << cli << " is not built";
    const std::vector<std::string> common = {"--provider", "gcp", "--project", "test-project", "--region", "us-central1",
                                             "--credentials-file", (*fake)->key_file().string(),
                                             "--api-endpoint", (*fake)->api_base(), "--job", "0"};
    auto with = [&](std::vector<std::string> head, std::vector<std::string> tail = {}) {
        head.insert(head.end(), common.begin(), common.end());
        head.insert(head.end(), tail.begin(), tail.end());
        return head;
    };

    auto health0 = bpfaas(with({"health"}));
    EXPECT_EQ(health0.code, 3) << health0.err;
    EXPECT_EQ(health0.out, "not healthy\n");

    auto deploy = bpfaas(with({"deploy"}, {"--memory", "256", "--timeout", "60", binary_path}));
    ASSERT_EQ(deploy.code, 0) << deploy.err;
    auto d = boost::json::parse(deploy.out).as_object();
    EXPECT_EQ(d.at("function_id").as_string(), "blueprint-job-0");
    EXPECT_EQ(d.at("memory_mb").as_int64(), 256);
    // Progress on stderr, as plain lines (stderr is a pipe here, not a terminal).
    EXPECT_NE(deploy.err.find("gcp: deploy blueprint-job-0: uploading"), std::string::npos) << deploy.err;
    EXPECT_NE(deploy.err.find("\ngcp: deploy blueprint-job-0: waiting for"), std::string::npos) << deploy.err;
    EXPECT_EQ(deploy.err.find('\r'), std::string::npos);

    auto invoke = bpfaas(with({"invoke"}, {"--args-hex", "6869"}));
    ASSERT_EQ(invoke.code, 0) << invoke.err;
    auto r = boost::json::parse(invoke.out).as_object();
    EXPECT_EQ(r.at("ok").as_bool(), true) << invoke.out;
    EXPECT_EQ(boost::json::serialize(r.at("result")), "[104,105]") << invoke.out;
    EXPECT_NE(invoke.err.find("cold start"), std::string::npos) << invoke.err;

    auto health = bpfaas(with({"health"}));
    EXPECT_EQ(health.code, 0) << health.err;
    EXPECT_EQ(health.out, "healthy\n");
    auto warm = bpfaas(with({"warm"}, {"--instances", "2"}));
    EXPECT_EQ(warm.code, 0) << warm.err;
    auto undeploy = bpfaas(with({"undeploy"}));
    EXPECT_EQ(undeploy.code, 0) << undeploy.err;
    EXPECT_EQ(bpfaas(with({"health"})).code, 3);
}

TEST_F(GcpEndToEnd, BpfaasReportsABadKeyFileWithoutTheKey) {
    auto dir = fs::path((*fake)->key_file()).parent_path();
    auto bad = dir / "truncated.json";
    auto text = (*fake)->key_json();
    std::ofstream(bad) << text.substr(0, text.size() / 2);
    auto run = bpfaas({"health", "--provider", "gcp", "--project", "p", "--region", "r", "--credentials-file", bad.string(),
                       "--api-endpoint", (*fake)->api_base(), "--job", "0"});
    EXPECT_EQ(run.code, 1) << run.err;
    EXPECT_NE(run.err.find("not valid JSON"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find("PRIVATE KEY"), std::string::npos) << run.err;
    auto no_region = bpfaas({"health", "--provider", "gcp", "--credentials-file", (*fake)->key_file().string(), "--job", "0"});
    EXPECT_EQ(no_region.code, 2) << no_region.err;
    EXPECT_NE(no_region.err.find("--region is required"), std::string::npos) << no_region.err;
}

}  // namespace
