// The real `bpfaas local` process: the custom platform API and the Lambda API
// over one store, warm instances, timeouts, crashes, throttling, keep-alive,
// restarts and auth. The AWS CLI's view is in test_aws_cli.cpp.
#include "integration/local_platform_fixture.hpp"

#include <blueprint/faas/wire.hpp>
#include <blueprint/platform.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <thread>

namespace {
using namespace blueprint::test::local;
namespace json = boost::json;
namespace wire = blueprint::faas::wire;
using namespace std::chrono_literals;

std::string config_header(std::string_view json_text) { return wire::base64_encode(json_text); }

HttpReply deploy(unsigned short port, const std::string& id, const std::string& zip, std::string_view config = {}) {
    std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/zip"}};
    if (!config.empty()) h.emplace_back("X-Blueprint-Config", config_header(config));
    return http(port, "PUT", "/api/functions/" + id, zip, h);
}

HttpReply invoke(unsigned short port, const std::string& id, std::string_view body) {
    return http(port, "POST", "/api/functions/" + id + "/invoke", std::string(body));
}

HttpReply lambda_invoke(unsigned short port, const std::string& name, std::string_view payload, bool tail = true) {
    std::vector<std::pair<std::string, std::string>> h;
    if (tail) h.emplace_back("X-Amz-Log-Type", "Tail");
    return http(port, "POST", "/2015-03-31/functions/" + name + "/invocations", std::string(payload), h);
}

std::string log_of(const HttpReply& r) {
    auto decoded = wire::base64_decode(r.header("x-amz-log-result"));
    return decoded ? *decoded : std::string();
}

json::object as_object(const std::string& body) {
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    EXPECT_FALSE(ec) << body;
    return (!ec && v.is_object()) ? v.as_object() : json::object{};
}

// Polls `done` until it holds or `limit` passes; the platform offers no
// event for "an idle instance stopped", so a bounded poll is the honest wait.
template <class F> bool eventually(F done, std::chrono::milliseconds limit = 15s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return done();
}

class LocalPlatform : public ::testing::Test {
protected:
    static void SetUpTestSuite() { zip_ = new std::string(fixture_zip()); }
    static void TearDownTestSuite() { delete zip_; }
    static const std::string& zip() { return *zip_; }
    static inline std::string* zip_ = nullptr;
    TempDir dir;
};

TEST_F(LocalPlatform, CustomApiLifecycle) {
    PlatformProcess p(dir.path);
    auto d = deploy(p.port(), "7", zip(), R"({"memory_mb":256,"timeout_secs":5})");
    ASSERT_EQ(d.status, 200) << d.body;
    auto dep = as_object(d.body);
    EXPECT_EQ(dep.at("function_id"), "7");
    EXPECT_EQ(dep.at("status"), "deployed");
    EXPECT_EQ(dep.at("memory_mb"), 256);
    EXPECT_EQ(dep.at("timeout_secs"), 5);
    EXPECT_EQ(std::string(dep.at("endpoint").as_string()),
              "http://127.0.0.1:" + std::to_string(p.port()) + "/api/functions/7/invoke");

    auto again = deploy(p.port(), "7", zip());
    EXPECT_EQ(again.status, 409);
    EXPECT_EQ(as_object(again.body).at("code"), "already_exists");

    auto ok = invoke(p.port(), "7", R"({"job_id":0,"args":[112,97,121]})");
    ASSERT_EQ(ok.status, 200) << ok.body;
    auto okb = as_object(ok.body);
    EXPECT_EQ(okb.at("success"), true);
    EXPECT_EQ(okb.at("job_id"), 0);
    EXPECT_EQ(okb.at("result"), (json::array{112, 97, 121}));
    EXPECT_TRUE(okb.at("execution_ms").is_number());
    EXPECT_EQ(okb.at("cold_start"), true);
    EXPECT_EQ(as_object(invoke(p.port(), "7", R"({"job_id":0,"args":[]})").body).at("cold_start"), false);

    auto failed = invoke(p.port(), "7", R"({"job_id":1,"args":[]})");
    EXPECT_EQ(failed.status, 500);
    auto fb = as_object(failed.body);
    EXPECT_EQ(fb.at("success"), false);
    EXPECT_EQ(fb.at("error"), "requested failure");
    EXPECT_EQ(fb.at("error_type"), "FixtureError");
    auto thrown = as_object(invoke(p.port(), "7", R"({"job_id":2,"args":[]})").body);
    EXPECT_EQ(thrown.at("error_type"), "HandlerException");

    for (auto bad : {"", "not json", R"({"args":"x"})", R"({"job_id":-1,"args":[]})"}) {
        auto r = invoke(p.port(), "7", bad);
        EXPECT_EQ(r.status, 400) << bad << " -> " << r.body;
        EXPECT_EQ(as_object(r.body).at("code"), "invalid_request");
    }

    auto health = http(p.port(), "GET", "/api/functions/7/health");
    ASSERT_EQ(health.status, 200);
    auto hb = as_object(health.body);
    EXPECT_EQ(hb.at("status"), "healthy");
    EXPECT_EQ(hb.at("total_invocations"), 4);
    EXPECT_TRUE(hb.at("last_invocation").is_string());

    auto info = as_object(http(p.port(), "GET", "/api/functions/7").body);
    EXPECT_EQ(info.at("binary_size_bytes"), static_cast<std::int64_t>(zip().size()));
    EXPECT_TRUE(info.at("deployed_at").is_string());

    auto warm = http(p.port(), "POST", "/api/functions/7/warm", R"({"instances":3})");
    ASSERT_EQ(warm.status, 200) << warm.body;
    EXPECT_EQ(as_object(warm.body).at("instances_warmed"), 3);
    EXPECT_EQ(as_object(http(p.port(), "GET", "/health").body).at("instances"), 3);

    auto del = http(p.port(), "DELETE", "/api/functions/7");
    ASSERT_EQ(del.status, 200);
    EXPECT_EQ(as_object(del.body).at("status"), "deleted");
    EXPECT_EQ(http(p.port(), "DELETE", "/api/functions/7").status, 404);
    EXPECT_EQ(invoke(p.port(), "7", R"({"job_id":0,"args":[]})").status, 404);
    EXPECT_EQ(http(p.port(), "GET", "/api/functions/7/health").status, 404);
    // Deleting stopped its instances.
    EXPECT_TRUE(eventually([&] { return as_object(http(p.port(), "GET", "/health").body).at("instances") == 0; }));
    // And the id is free again.
    EXPECT_EQ(deploy(p.port(), "7", zip()).status, 200);
    EXPECT_EQ(deploy(p.port(), "bad%20id", zip()).status, 400);
}

TEST_F(LocalPlatform, BadPackagesAreRefused) {
    PlatformProcess p(dir.path);
    EXPECT_EQ(deploy(p.port(), "x", "not a zip").status, 400);
    EXPECT_EQ(deploy(p.port(), "x", "").status, 400);
    auto cfg = deploy(p.port(), "x", zip(), R"({"memory_mb":1})");
    EXPECT_EQ(cfg.status, 400);
    EXPECT_EQ(http(p.port(), "PUT", "/api/functions/x", zip(), {{"X-Blueprint-Config", "%%%"}}).status, 400);
    EXPECT_EQ(http(p.port(), "GET", "/api/functions/x").status, 404);
}

TEST_F(LocalPlatform, OneStoreBothApis) {
    PlatformProcess p(dir.path);
    // Deployed through the custom API, seen and invoked through the Lambda API.
    ASSERT_EQ(deploy(p.port(), "fromcustom", zip()).status, 200);
    auto cfg = as_object(http(p.port(), "GET", "/2015-03-31/functions/fromcustom/configuration").body);
    EXPECT_EQ(cfg.at("State"), "Active");
    EXPECT_EQ(cfg.at("MemorySize"), 512);
    auto li = lambda_invoke(p.port(), "fromcustom", R"({"job_id":0,"args":[1,2]})");
    ASSERT_EQ(li.status, 200);
    EXPECT_EQ(as_object(li.body).at("result"), (json::array{1, 2}));

    // Created through the Lambda API, invoked through the custom API.
    json::object create{{"FunctionName", "fromlambda"},
                        {"Runtime", "provided.al2023"},
                        {"Role", "arn:aws:iam::123456789012:role/x"},
                        {"Handler", "bootstrap"},
                        {"Code", json::object{{"ZipFile", wire::base64_encode(zip())}}}};
    auto c = http(p.port(), "POST", "/2015-03-31/functions", json::serialize(create));
    ASSERT_EQ(c.status, 201) << c.body;
    EXPECT_EQ(as_object(c.body).at("State"), "Pending");
    EXPECT_FALSE(c.header("x-amzn-requestid").empty());
    ASSERT_TRUE(eventually([&] {
        return as_object(http(p.port(), "GET", "/2015-03-31/functions/fromlambda/configuration").body).at("State") == "Active";
    }));
    auto ci = invoke(p.port(), "fromlambda", R"({"job_id":7,"args":[]})");
    ASSERT_EQ(ci.status, 200) << ci.body;
    EXPECT_EQ(wire::decode_reply_json(ci.body).value().result, blueprint::to_bytes("mode=lambda;request_id=" +
                                                                                  ci.header("x-request-id")));
    auto list = as_object(http(p.port(), "GET", "/2015-03-31/functions/").body);
    EXPECT_EQ(list.at("Functions").as_array().size(), 2u);
}

TEST_F(LocalPlatform, ColdStartThenWarm) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "f", zip()).status, 200);
    auto first = lambda_invoke(p.port(), "f", R"({"job_id":0,"args":[1]})");
    ASSERT_EQ(first.status, 200);
    const auto cold_log = log_of(first);
    EXPECT_NE(cold_log.find("START RequestId: " + first.header("x-amzn-requestid") + " Version: $LATEST"), std::string::npos)
        << cold_log;
    EXPECT_NE(cold_log.find("END RequestId: "), std::string::npos);
    EXPECT_NE(cold_log.find("REPORT RequestId: "), std::string::npos);
    EXPECT_NE(cold_log.find("\tInit Duration: "), std::string::npos) << cold_log;
    EXPECT_NE(cold_log.find("Memory Size: 512 MB"), std::string::npos);
    EXPECT_EQ(first.header("x-amz-executed-version"), "$LATEST");
    for (int i = 0; i < 3; ++i) {
        auto warm = lambda_invoke(p.port(), "f", R"({"job_id":0,"args":[1]})");
        ASSERT_EQ(warm.status, 200);
        const auto log = log_of(warm);
        EXPECT_NE(log.find("REPORT RequestId: "), std::string::npos);
        EXPECT_EQ(log.find("Init Duration"), std::string::npos) << log;
    }
    // The function's output lands in its invocation's log.
    auto slow = lambda_invoke(p.port(), "f", R"({"job_id":3,"args":[49]})");
    EXPECT_NE(log_of(slow).find("slow: started"), std::string::npos) << log_of(slow);
    // No tail unless asked.
    EXPECT_TRUE(lambda_invoke(p.port(), "f", R"({"job_id":0,"args":[]})", false).header("x-amz-log-result").empty());
    auto metrics = http(p.port(), "GET", "/metrics").body;
    EXPECT_EQ(metric(metrics, "bpfaas_cold_starts_total", "f"), 1) << metrics;
    EXPECT_EQ(metric(metrics, "bpfaas_invocations_total", "f"), 6);
}

TEST_F(LocalPlatform, TimeoutKillsTheInstanceAndTheNextCallWorks) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "slow", zip(), R"({"timeout_secs":1})").status, 200);
    auto r = lambda_invoke(p.port(), "slow", R"({"job_id":3,"args":[53,48,48,48]})");  // sleeps 5000 ms
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-amz-function-error"), "Unhandled");
    auto body = as_object(r.body);
    EXPECT_EQ(body.at("errorType"), "Sandbox.Timedout");
    EXPECT_NE(std::string(body.at("errorMessage").as_string()).find("Task timed out after 1.00 seconds"), std::string::npos);
    EXPECT_NE(log_of(r).find("Task timed out after 1.00 seconds"), std::string::npos) << log_of(r);
    // Through the custom API the same is a failed job.
    auto c = invoke(p.port(), "slow", R"({"job_id":3,"args":[53,48,48,48]})");
    EXPECT_EQ(c.status, 500);
    EXPECT_EQ(as_object(c.body).at("error_type"), "Sandbox.Timedout");
    // A fresh instance serves the next call.
    auto ok = invoke(p.port(), "slow", R"({"job_id":0,"args":[9]})");
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(as_object(ok.body).at("cold_start"), true);
    auto metrics = http(p.port(), "GET", "/metrics").body;
    EXPECT_EQ(metric(metrics, "bpfaas_timeouts_total", "slow"), 2);
}

// The timeout timer is armed once per instance and re-armed when it fires
// early: a call that runs across an earlier call's deadline must not be cut
// at that deadline, only at its own.
TEST_F(LocalPlatform, TimeoutCountsFromEachCallsOwnDelivery) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "t", zip(), R"({"timeout_secs":2})").status, 200);
    auto first = invoke(p.port(), "t", R"({"job_id":0,"args":[1]})");  // arms the timer for first + 2 s
    ASSERT_EQ(first.status, 200) << first.body;
    std::this_thread::sleep_for(1000ms);  // not a synchronisation: puts the next call across that deadline
    auto across = invoke(p.port(), "t", R"({"job_id":3,"args":[49,52,48,48]})");  // sleeps 1400 ms
    ASSERT_EQ(across.status, 200) << across.body;
    EXPECT_EQ(as_object(across.body).at("cold_start"), false);
    // And a call past its own deadline still times out, on the same instance's timer.
    auto slow = invoke(p.port(), "t", R"({"job_id":3,"args":[53,48,48,48]})");
    EXPECT_EQ(slow.status, 500);
    EXPECT_EQ(as_object(slow.body).at("error_type"), "Sandbox.Timedout");
}

TEST_F(LocalPlatform, CrashesAndGarbageAreFunctionErrors) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "f", zip()).status, 200);
    auto crash = lambda_invoke(p.port(), "f", R"({"job_id":4,"args":[]})");
    ASSERT_EQ(crash.status, 200);
    EXPECT_EQ(crash.header("x-amz-function-error"), "Unhandled");
    EXPECT_EQ(as_object(crash.body).at("errorType"), "Runtime.ExitError");
    EXPECT_NE(crash.body.find("signal: aborted"), std::string::npos) << crash.body;
    EXPECT_EQ(invoke(p.port(), "f", R"({"job_id":4,"args":[]})").status, 500);
    EXPECT_EQ(invoke(p.port(), "f", R"({"job_id":0,"args":[]})").status, 200);

    // A bootstrap that exits at once, one that is not executable text, and a
    // stdio one that answers garbage.
    ASSERT_EQ(deploy(p.port(), "exits", script_zip("#!/bin/sh\necho dying >&2\nexit 3\n")).status, 200);
    auto exits = lambda_invoke(p.port(), "exits", "{}");
    EXPECT_EQ(as_object(exits.body).at("errorType"), "Runtime.ExitError");
    EXPECT_NE(exits.body.find("exit status 3"), std::string::npos);
    EXPECT_NE(log_of(exits).find("dying"), std::string::npos) << log_of(exits);
    ASSERT_EQ(deploy(p.port(), "noexec", script_zip("no shebang, not ELF")).status, 200);
    auto noexec = lambda_invoke(p.port(), "noexec", "{}");
    EXPECT_EQ(noexec.header("x-amz-function-error"), "Unhandled");
    EXPECT_EQ(as_object(noexec.body).at("errorType"), "Runtime.InvalidEntrypoint") << noexec.body;
    ASSERT_EQ(deploy(p.port(), "garbage", script_zip("#!/bin/sh\necho 'this is not json'\n"), R"({"runtime":"stdio"})")
                  .status,
              200);
    auto garbage = invoke(p.port(), "garbage", R"({"job_id":0,"args":[]})");
    EXPECT_EQ(garbage.status, 500);
    EXPECT_EQ(as_object(garbage.body).at("error_type"), "InvalidReply");
    // It never reads stdin: a request bigger than a pipe buffer meets a
    // closed pipe (EPIPE), which must not take the platform down.
    std::string big = R"({"job_id":0,"args":[)";
    while (big.size() < 1024 * 1024) big += "7,";
    big += "7]}";
    for (int i = 0; i < 3; ++i) EXPECT_EQ(invoke(p.port(), "garbage", big).status, 500);
    // A Lambda-mode bootstrap that answers with a body that is not a Blueprint reply.
    ASSERT_EQ(deploy(p.port(), "rawreply",
                     script_zip("#!/bin/sh\nAPI=http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime\n"
                                "ID=$(curl -sS -D - -o /dev/null $API/invocation/next | tr -d '\\r' | "
                                "sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')\n"
                                "curl -sS -X POST -d '[1,2,3' $API/invocation/$ID/response >/dev/null\nsleep 30\n"))
                  .status,
              200);
    auto raw = invoke(p.port(), "rawreply", R"({"job_id":0,"args":[]})");
    EXPECT_EQ(raw.status, 500) << raw.body;
    EXPECT_EQ(as_object(raw.body).at("error_type"), "InvalidReply");
    // The platform itself is fine throughout.
    EXPECT_EQ(http(p.port(), "GET", "/health").status, 200);
}

TEST_F(LocalPlatform, ReservedConcurrencyThrottlesAndLosesNothing) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "limited", zip(), R"({"max_concurrency":4,"timeout_secs":30})").status, 200);
    constexpr int calls = 200;
    std::vector<HttpReply> replies(calls);
    std::vector<std::thread> threads;
    std::atomic<int> errors{0};
    for (int i = 0; i < calls; ++i)
        threads.emplace_back([&, i] {
            try {
                // Each call sleeps 200 ms, so at most 4 run at once.
                replies[i] = invoke(p.port(), "limited", R"({"job_id":3,"args":[50,48,48]})");
            } catch (...) {
                ++errors;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    int ok = 0, throttled = 0;
    for (const auto& r : replies) {
        if (r.status == 200) {
            ++ok;
            EXPECT_EQ(wire::decode_reply_json(r.body).value().result, blueprint::to_bytes("slept 200"));
        } else if (r.status == 429) {
            ++throttled;
            EXPECT_EQ(r.header("retry-after"), "1");
            EXPECT_EQ(as_object(r.body).at("code"), "throttled");
        } else {
            ADD_FAILURE() << r.status << " " << r.body;
        }
    }
    EXPECT_EQ(ok + throttled, calls);  // every call got a definite answer
    EXPECT_GE(ok, 4);
    EXPECT_GT(throttled, 0);
    auto metrics = http(p.port(), "GET", "/metrics").body;
    EXPECT_EQ(metric(metrics, "bpfaas_invocations_total", "limited"), ok);
    EXPECT_EQ(metric(metrics, "bpfaas_throttles_total", "limited"), throttled);
    EXPECT_LE(as_object(http(p.port(), "GET", "/health").body).at("instances").as_int64(), 4);

    // The Lambda API says the same in its own words.
    ASSERT_EQ(http(p.port(), "PUT", "/2017-10-31/functions/limited/concurrency", R"({"ReservedConcurrentExecutions":0})")
                  .status,
              200);
    auto none = lambda_invoke(p.port(), "limited", R"({"job_id":0,"args":[]})");
    EXPECT_EQ(none.status, 429);
    EXPECT_EQ(none.header("x-amzn-errortype"), "TooManyRequestsException");
    EXPECT_EQ(as_object(none.body).at("Reason"), "ReservedFunctionConcurrentInvocationLimitExceeded");
}

TEST_F(LocalPlatform, EventInvocationsAllRunWithinTheLimit) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "ev", zip(), R"({"max_concurrency":2})").status, 200);
    constexpr int events = 20;
    for (int i = 0; i < events; ++i) {
        auto r = http(p.port(), "POST", "/2015-03-31/functions/ev/invocations", R"({"job_id":3,"args":[53,48]})",
                      {{"X-Amz-Invocation-Type", "Event"}});
        ASSERT_EQ(r.status, 202) << r.body;
        EXPECT_FALSE(r.header("x-amzn-requestid").empty());
    }
    auto dry = http(p.port(), "POST", "/2015-03-31/functions/ev/invocations", "{}", {{"X-Amz-Invocation-Type", "DryRun"}});
    EXPECT_EQ(dry.status, 204);
    EXPECT_TRUE(eventually([&] {
        return metric(http(p.port(), "GET", "/metrics").body, "bpfaas_invocations_total", "ev") == events;
    }, 30s));
    auto metrics = http(p.port(), "GET", "/metrics").body;
    EXPECT_EQ(metric(metrics, "bpfaas_invocation_errors_total", "ev"), 0);
    EXPECT_EQ(metric(metrics, "bpfaas_throttles_total", "ev"), 0);
}

TEST_F(LocalPlatform, IdleInstancesStopAfterKeepAlive) {
    PlatformProcess p(dir.path, {"--keep-alive", "1"});
    ASSERT_EQ(deploy(p.port(), "f", zip()).status, 200);
    EXPECT_NE(log_of(lambda_invoke(p.port(), "f", R"({"job_id":0,"args":[]})")).find("Init Duration"), std::string::npos);
    EXPECT_EQ(as_object(http(p.port(), "GET", "/health").body).at("instances"), 1);
    ASSERT_TRUE(eventually([&] { return as_object(http(p.port(), "GET", "/health").body).at("instances") == 0; }));
    // The next call starts a new instance: a cold start again.
    EXPECT_NE(log_of(lambda_invoke(p.port(), "f", R"({"job_id":0,"args":[]})")).find("Init Duration"), std::string::npos);
}

TEST_F(LocalPlatform, RestartKeepsFunctions) {
    {
        PlatformProcess p(dir.path);
        ASSERT_EQ(deploy(p.port(), "kept", zip(), R"({"memory_mb":1024,"env_vars":{"GREETING":"hi"}})").status, 200);
        ASSERT_EQ(invoke(p.port(), "kept", R"({"job_id":0,"args":[1]})").status, 200);
        auto st = p.stop();
        ASSERT_TRUE(st);
        EXPECT_TRUE(st->ok()) << st->to_string();
    }
    PlatformProcess again(dir.path);
    auto info = http(again.port(), "GET", "/api/functions/kept");
    ASSERT_EQ(info.status, 200) << info.body;
    EXPECT_EQ(as_object(info.body).at("memory_mb"), 1024);
    auto cfg = as_object(http(again.port(), "GET", "/2015-03-31/functions/kept/configuration").body);
    EXPECT_EQ(cfg.at("Environment").at("Variables").at("GREETING"), "hi");
    auto r = invoke(again.port(), "kept", R"({"job_id":0,"args":[5]})");
    ASSERT_EQ(r.status, 200) << r.body;
}

TEST_F(LocalPlatform, StopDuringAnInvocationEndsCleanly) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "f", zip(), R"({"timeout_secs":60})").status, 200);
    std::optional<HttpReply> reply;
    std::thread caller([&] {
        try {
            reply = invoke(p.port(), "f", R"({"job_id":3,"args":[51,48,48,48,48]})");  // 30 s
        } catch (...) {
        }
    });
    ASSERT_TRUE(eventually([&] {
        return as_object(http(p.port(), "GET", "/health").body).at("instances") == 1;
    }));
    auto st = p.stop();
    caller.join();
    ASSERT_TRUE(st) << "bpfaas local did not stop";
    EXPECT_TRUE(st->ok()) << st->to_string();
    // The caller got an answer (503) or a closed connection, never a hang.
    if (reply) EXPECT_EQ(reply->status, 503) << reply->body;
}

TEST_F(LocalPlatform, BearerKeyGuardsTheCustomApi) {
    PlatformProcess p(dir.path, {"--api-key-env", "BPFAAS_TEST_KEY"}, {{"BPFAAS_TEST_KEY", "s3cret"}});
    auto no = deploy(p.port(), "f", zip());
    EXPECT_EQ(no.status, 401);
    EXPECT_EQ(as_object(no.body).at("code"), "unauthorized");
    EXPECT_EQ(http(p.port(), "PUT", "/api/functions/f", zip(), {{"Authorization", "Bearer wrong"}}).status, 401);
    EXPECT_EQ(http(p.port(), "PUT", "/api/functions/f", zip(), {{"Authorization", "Bearer s3cret"}}).status, 200);
    EXPECT_EQ(http(p.port(), "POST", "/api/functions/f/invoke", R"({"job_id":0,"args":[]})",
                   {{"Authorization", "Bearer s3cret"}})
                  .status,
              200);
    // The platform's own endpoints stay open.
    EXPECT_EQ(http(p.port(), "GET", "/health").status, 200);
}

TEST_F(LocalPlatform, OversizeAndUnknownRequests) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "f", zip()).status, 200);
    std::string big = R"({"job_id":0,"args":[)";
    while (big.size() < 7 * 1024 * 1024) big += "1,";
    big += "1]}";
    auto l = lambda_invoke(p.port(), "f", big);
    EXPECT_EQ(l.status, 413);
    EXPECT_EQ(l.header("x-amzn-errortype"), "RequestTooLargeException");
    EXPECT_EQ(invoke(p.port(), "f", big).status, 413);
    auto bad_json = lambda_invoke(p.port(), "f", "{not json");
    EXPECT_EQ(bad_json.status, 400);
    EXPECT_EQ(bad_json.header("x-amzn-errortype"), "InvalidRequestContentException");
    EXPECT_EQ(http(p.port(), "GET", "/nope").status, 404);
    EXPECT_EQ(http(p.port(), "GET", "/2015-03-31/functions/f/policy").header("x-amzn-errortype"),
              "UnknownOperationException");
    // Still serving.
    EXPECT_EQ(invoke(p.port(), "f", R"({"job_id":0,"args":[]})").status, 200);
}

TEST_F(LocalPlatform, StdioRuntimeSpawnsPerInvocation) {
    PlatformProcess p(dir.path);
    ASSERT_EQ(deploy(p.port(), "s", zip(), R"({"runtime":"stdio","timeout_secs":2})").status, 200);
    auto ok = invoke(p.port(), "s", R"({"job_id":0,"args":[4,2]})");
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(as_object(ok.body).at("result"), (json::array{4, 2}));
    EXPECT_EQ(as_object(ok.body).at("cold_start"), true);
    auto mode = wire::decode_reply_json(invoke(p.port(), "s", R"({"job_id":7,"args":[]})").body);
    ASSERT_TRUE(mode);
    EXPECT_EQ(blueprint::to_string(mode->result), "mode=stdio;request_id=");
    auto failed = invoke(p.port(), "s", R"({"job_id":1,"args":[]})");
    EXPECT_EQ(failed.status, 500);
    EXPECT_EQ(as_object(failed.body).at("error"), "requested failure");
    auto slow = invoke(p.port(), "s", R"({"job_id":3,"args":[53,48,48,48]})");
    EXPECT_EQ(as_object(slow.body).at("error_type"), "Sandbox.Timedout");
    EXPECT_EQ(as_object(http(p.port(), "GET", "/health").body).at("instances"), 0);
}

// The library entry itself: port 0, in-process, stop() idempotent.
TEST_F(LocalPlatform, InProcessPortZeroEntry) {
    blueprint::platform::LocalPlatformOptions options;
    options.port = 0;
    options.data_dir = dir.path;
    options.state_transition_delay = 0ms;
    blueprint::platform::LocalPlatform platform(options);
    auto port = platform.start();
    ASSERT_TRUE(port) << port.error().message;
    ASSERT_NE(*port, 0);
    EXPECT_FALSE(platform.start());  // already started
    ASSERT_EQ(deploy(*port, "inproc", zip()).status, 200);
    auto r = invoke(*port, "inproc", R"({"job_id":6,"args":[3]})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(as_object(r.body).at("result"), (json::array{0, 0, 0, 0, 0, 0, 0, 9}));
    platform.stop();
    platform.stop();
    EXPECT_THROW(http(*port, "GET", "/health"), std::exception);
}

TEST_F(LocalPlatform, UnusableDataDirOrBadOptionsFailAtStart) {
    write_file(dir.path / "file", "x");
    blueprint::test::ProcessOptions o;
    o.pipe_stdin = false;
    auto child = blueprint::test::ChildProcess::spawn(
        bpfaas_path(), {"local", "--port", "0", "--data-dir", (dir.path / "file" / "data").string()}, o);
    auto out = child.communicate("", 30s);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status.code, 1) << out->status.to_string();
    EXPECT_NE(out->err.find("file/data"), std::string::npos) << out->err;

    auto creds = blueprint::test::ChildProcess::spawn(
        bpfaas_path(), {"local", "--port", "0", "--data-dir", dir.path.string(), "--aws-credentials", "nocolon"}, o);
    auto cout_ = creds.communicate("", 30s);
    ASSERT_TRUE(cout_);
    EXPECT_EQ(cout_->status.code, 1);
    EXPECT_NE(cout_->err.find("ACCESS_KEY_ID:SECRET"), std::string::npos) << cout_->err;

    blueprint::platform::LocalPlatform no_dir({});
    auto r = no_dir.start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, blueprint::platform::platform_errc::invalid_options);
}


// A classic runtime that never pipelines: each curl is its own connection,
// and it asks for the next event only after its response was accepted. The
// platform's held-back 202 (for pipelining runtimes) must never hold it up.
// Blueprint requests ({"job_id":N,"args":X}) are answered {"result":X} so
// that the custom API gets a Blueprint reply; anything else is echoed.
TEST_F(LocalPlatform, PlainRuntimeWithoutPipeliningServesManyCalls) {
    PlatformProcess p(dir.path);
    const std::string bootstrap = R"(#!/bin/sh
API=http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
while :; do
  curl -sS -D "$D/h" -o "$D/b" "$API/invocation/next" || exit 1
  ID=$(tr -d '\r' < "$D/h" | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  sed 's/^{"job_id":[0-9]*,"args":\(.*\)}$/{"result":\1}/' "$D/b" > "$D/r"
  curl -sS -X POST -H 'Content-Type: application/json' --data-binary "@$D/r" "$API/invocation/$ID/response" >/dev/null || exit 1
done
)";
    ASSERT_EQ(deploy(p.port(), "plain", script_zip(bootstrap)).status, 200);
    for (int i = 0; i < 5; ++i) {
        const std::string payload = R"({"call":)" + std::to_string(i) + R"(,"text":"payload )" + std::to_string(i) + R"("})";
        auto r = lambda_invoke(p.port(), "plain", payload);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_TRUE(r.header("x-amz-function-error").empty()) << r.body << "\n" << log_of(r);
        EXPECT_EQ(r.body, payload) << log_of(r);
    }
    auto custom = invoke(p.port(), "plain", R"({"job_id":0,"args":[4,5,6]})");
    ASSERT_EQ(custom.status, 200) << custom.body;
    auto cb = as_object(custom.body);
    EXPECT_EQ(cb.at("success"), true);
    EXPECT_EQ(cb.at("result"), (json::array{4, 5, 6}));
    EXPECT_EQ(cb.at("cold_start"), false);  // the same instance throughout
    EXPECT_EQ(http(p.port(), "GET", "/health").status, 200);
}

// A runtime on one keep-alive connection that ends each POST with an extra
// CRLF, as some old clients do: RFC 9112 §2.2 has servers skip it. It must
// get its 202 and its next event on the same connection, so one instance
// serves every call (a dropped connection would make each call cold).
TEST_F(LocalPlatform, EmptyLineBeforeARequestIsSkipped) {
    PlatformProcess p(dir.path);
    const std::string bootstrap = R"(#!/usr/bin/env python3
import http.client, os, sys
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
conn.connect()
def request(text):
    conn.sock.sendall(text.encode())
    r = http.client.HTTPResponse(conn.sock)
    r.begin()
    return r, r.read()
get = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
r, event = request(get)
while True:
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    post = ("POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: %d\r\n\r\n%s\r\n" % (rid, len(event), event.decode()))
    accepted, _ = request(post)
    if accepted.status != 202:
        sys.exit("response refused: %d" % accepted.status)
    r, event = request(get)
)";
    ASSERT_EQ(deploy(p.port(), "crlf", script_zip(bootstrap)).status, 200);
    for (int i = 0; i < 3; ++i) {
        const std::string payload = R"({"call":)" + std::to_string(i) + "}";
        auto r = lambda_invoke(p.port(), "crlf", payload);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_TRUE(r.header("x-amz-function-error").empty()) << r.body << "\n" << log_of(r);
        EXPECT_EQ(r.body, payload);
        // Only the first call starts the instance.
        EXPECT_EQ(log_of(r).find("Init Duration") != std::string::npos, i == 0) << log_of(r);
    }
}

}  // namespace
