// BlueprintRunner: builder errors, delegation vs routing, failure isolation,
// blocking handlers, timeouts, producer errors, and a 100,000-job mix.
#include <blueprint/runner.hpp>

#include "common/run_coro.hpp"
#include "unit/runner_test_support.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <random>
#include <thread>

using namespace blueprint;
using namespace blueprint::test;
using namespace std::chrono_literals;


// ---------------------------------------------------------------- builder

TEST(RunnerBuilder, NoRouterIsAnError) {
    auto r = BlueprintRunner::builder(quiet_config()).producer(VectorProducer({})).build();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, runner_errc::no_router);
    EXPECT_NE(r.error().message.find(".router("), std::string::npos) << r.error().message;
}

TEST(RunnerBuilder, NoProducerIsAnError) {
    auto r = BlueprintRunner::builder(quiet_config()).router(Router{}).build();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, runner_errc::no_producer);
    auto null = BlueprintRunner::builder(quiet_config()).router(Router{}).producer(std::shared_ptr<Producer>()).run();
    ASSERT_FALSE(null);
    EXPECT_EQ(null.error().code, runner_errc::no_producer);
}

TEST(RunnerBuilder, RunsOnlyOnce) {
    auto runner = BlueprintRunner::builder(quiet_config()).router(Router{}).producer(VectorProducer({})).build();
    ASSERT_TRUE(runner);
    auto first = runner->run();
    ASSERT_TRUE(first) << first.error().to_string();
    auto second = runner->run();
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, runner_errc::already_running);
}

TEST(RunnerBuilder, RegistryIsExposed) {
    auto exec = std::make_shared<ScriptedExecutor>();
    auto runner = BlueprintRunner::builder(quiet_config())
                      .router(Router{})
                      .producer(VectorProducer({}))
                      .with_faas_executor(7, exec)
                      .build();
    ASSERT_TRUE(runner);
    EXPECT_TRUE(runner->registry().is_faas_job(7));
    EXPECT_FALSE(runner->registry().is_faas_job(8));
}

// ---------------------------------------------------------------- routing and delegation

TEST(Runner, RegisteredJobsGoToTheExecutorOthersToTheRouter) {
    auto exec = std::make_shared<ScriptedExecutor>();
    std::atomic<int> local_runs{0};
    Router router;
    router.route(1, [&](JobCall) { ++local_runs; return JobResult::ok(to_bytes("local-1")); });
    router.route(2, [&](JobCall c) { ++local_runs; return JobResult::ok(c.body()); });

    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 20; ++i) calls.push_back(numbered_call(i % 2 ? 1 : 2, i, to_bytes("o")));
    auto tally = std::make_shared<TallyConsumer>(20);
    tally->keep = true;
    auto stats = BlueprintRunner::builder(quiet_config())
                     .router(router)
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(tally)
                     .with_faas_executor(1, exec)
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();
    EXPECT_EQ(exec->invocations.load(), 10);
    EXPECT_EQ(local_runs.load(), 10);  // only job 2: job 1's route is shadowed by the registry
    EXPECT_EQ(stats->calls_delegated, 10u);
    EXPECT_EQ(stats->results, 20u);
    for (const JobResult& r : tally->kept) {
        const auto seq = seq_of(r);
        EXPECT_EQ(r.job_id(), JobId(seq % 2 ? 1 : 2));
        ASSERT_TRUE(r.is_ok());
        // The call's metadata is stamped on delegated and local results alike.
        const MetadataValue* call_id = r.metadata().get(metadata_keys::call_id);
        ASSERT_NE(call_id, nullptr);
        EXPECT_EQ(call_id->as_string_view(), "call-" + std::to_string(seq));
        // The executor's own metadata stays.
        EXPECT_EQ(r.metadata().contains("executor"), seq % 2 == 1);
    }
}

TEST(Runner, FaasErrorBecomesATypedErrorResult) {
    auto exec = std::make_shared<ScriptedExecutor>();
    auto tally = std::make_shared<TallyConsumer>(1);
    tally->keep = true;
    auto stats = BlueprintRunner::builder(quiet_config())
                     .router(Router{})
                     .producer(VectorProducer({numbered_call(5, 0, to_bytes("e"))}))
                     .consumer(tally)
                     .with_faas_executor(5, exec)
                     .run();
    ASSERT_TRUE(stats);
    ASSERT_EQ(tally->kept.size(), 1u);
    const JobResult& r = tally->kept[0];
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error().code, faas::faas_errc::throttled);
    EXPECT_EQ(r.error().type, "TooManyRequestsException");
    EXPECT_NE(r.error().message.find("slow down"), std::string::npos);
    EXPECT_EQ(r.job_id(), JobId(5));
    EXPECT_EQ(seq_of(r), 0u);
    EXPECT_EQ(stats->error_results, 1u);
}

TEST(Runner, EveryKindOfThrowBecomesAHandlerExceptionResult) {
    auto exec = std::make_shared<ScriptedExecutor>();
    Router router;
    router.route(1, [](JobCall) -> JobResult { throw std::runtime_error("inline boom"); });
    router.route(2, [](JobCall) -> asio::awaitable<JobResult> {
        co_await sleep_for(1ms);
        throw std::runtime_error("async boom");
    });
    router.route(3, blocking([](JobCall) -> JobResult { throw std::runtime_error("blocking boom"); }));
    router.route(4, [](JobCall) -> JobResult { throw 42; });
    std::vector<JobCall> calls = {numbered_call(1, 0), numbered_call(2, 1), numbered_call(3, 2),
                                  numbered_call(9, 3, to_bytes("t")), numbered_call(4, 4)};
    auto tally = std::make_shared<TallyConsumer>(5);
    auto stats = BlueprintRunner::builder(quiet_config())
                     .router(router)
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(tally)
                     .with_faas_executor(9, exec)
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();
    const char* expected[] = {"inline boom", "async boom", "blocking boom", "executor exploded", ""};
    for (std::size_t i = 0; i < 5; ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(tally->errors[i], 1u);
        EXPECT_EQ(tally->ok[i], 0u);
        EXPECT_EQ(tally->last_error[i].code, job_errc::handler_exception);
        EXPECT_NE(tally->last_error[i].message.find(expected[i]), std::string::npos) << tally->last_error[i].message;
    }
    EXPECT_EQ(stats->error_results, 5u);
    EXPECT_EQ(stats->calls_finished, 5u);
}

TEST(Runner, UnroutedCallsAreReportedOrOnlyLogged) {
    for (bool report : {true, false}) {
        SCOPED_TRACE(report);
        std::vector<std::string> logs;
        std::mutex m;
        RunnerConfig cfg = quiet_config();
        cfg.report_unrouted = report;
        cfg.log = [&](LogLevel, std::string_view msg) {
            std::lock_guard lock(m);
            logs.emplace_back(msg);
        };
        auto tally = std::make_shared<TallyConsumer>(1);
        auto stats = BlueprintRunner::builder(cfg)
                         .router(Router{})
                         .producer(VectorProducer({numbered_call(77, 0)}))
                         .consumer(tally)
                         .run();
        ASSERT_TRUE(stats);
        EXPECT_EQ(tally->total(), report ? 1u : 0u);
        if (report) EXPECT_EQ(tally->last_error[0].code, job_errc::no_route);
        EXPECT_EQ(stats->calls_finished, 1u);
        EXPECT_EQ(stats->in_flight, 0u);
        bool logged = false;
        for (const auto& l : logs) logged |= l.find("job 77") != std::string::npos;
        EXPECT_TRUE(logged);
    }
}

TEST(Runner, SeveralHandlersYieldSeveralResultsEachToEveryConsumer) {
    Router router;
    router.route(1, [](JobCall) { return JobResult::ok(to_bytes("a")); });
    router.route(1, [](JobCall) -> asio::awaitable<JobResult> { co_return JobResult::ok(to_bytes("b")); });
    router.route(1, [](JobCall) {});  // yields nothing
    router.always([](JobCall c) -> std::optional<JobResult> {
        if (c.job_id() == JobId(2)) return std::nullopt;
        return JobResult::ok(to_bytes("always"));
    });
    auto a = std::make_shared<TallyConsumer>(3);
    auto b = std::make_shared<TallyConsumer>(3);
    auto stats = BlueprintRunner::builder(quiet_config())
                     .router(router)
                     .producer(VectorProducer({numbered_call(1, 0), numbered_call(1, 1), numbered_call(2, 2)}))
                     .consumer(a)
                     .consumer(b)
                     .run();
    ASSERT_TRUE(stats);
    for (auto* t : {a.get(), b.get()}) {
        EXPECT_EQ(t->ok[0], 3u);
        EXPECT_EQ(t->ok[1], 3u);
        EXPECT_EQ(t->ok[2] + t->errors[2], 0u);  // job 2: the only handler yields nothing
    }
    EXPECT_EQ(stats->results, 6u);
    EXPECT_EQ(stats->calls_finished, 3u);
}

TEST(Runner, ConsumerExceptionsAreCountedAndDeliveryGoesOn) {
    struct Throwing final : Consumer {
        asio::awaitable<void> send(JobResult) override {
            throw std::runtime_error("consumer down");
            co_return;
        }
    };
    Router router;
    router.route(1, [](JobCall c) { return c.body(); });
    auto tally = std::make_shared<TallyConsumer>(4);
    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 4; ++i) calls.push_back(numbered_call(1, i));
    auto stats = BlueprintRunner::builder(quiet_config())
                     .router(router)
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(std::make_shared<Throwing>())
                     .consumer(tally)
                     .run();
    ASSERT_TRUE(stats);
    EXPECT_EQ(tally->total(), 4u);
    EXPECT_EQ(stats->consumer_errors, 4u);
    EXPECT_EQ(stats->results, 4u);
}

// ---------------------------------------------------------------- blocking and timeouts

TEST(Runner, BlockingHandlerDoesNotStallInlineJobs) {
    // The blocking job waits until every inline job was delivered. Were it
    // run on the (single) loop thread, that could never happen.
    constexpr std::uint64_t inline_jobs = 200;
    auto tally = std::make_shared<TallyConsumer>(inline_jobs + 1);
    Router router;
    router.route(1, blocking([&](JobCall) {
                     const bool others_done = tally->wait_for(inline_jobs, 20s);
                     return JobResult::ok(to_bytes(others_done ? "saw-all" : "stalled"));
                 }));
    router.route(2, [](JobCall c) { return c.body(); });
    std::vector<JobCall> calls;
    calls.push_back(numbered_call(1, inline_jobs));
    for (std::uint64_t i = 0; i < inline_jobs; ++i) calls.push_back(numbered_call(2, i));
    RunnerConfig cfg = quiet_config();
    cfg.io_threads = 1;
    tally->keep = true;
    auto stats = BlueprintRunner::builder(cfg).router(router).producer(VectorProducer(std::move(calls))).consumer(tally).run();
    ASSERT_TRUE(stats);
    ASSERT_EQ(tally->kept.size(), inline_jobs + 1);
    const JobResult& last = tally->kept.back();
    EXPECT_EQ(seq_of(last), inline_jobs);
    ASSERT_TRUE(last.is_ok());
    EXPECT_EQ(to_string(last.body()), "saw-all");
}

TEST(Runner, LocalJobsPastTheirTimeoutGetATimeoutResult) {
    Latch release;
    Router router;
    router.route(1, [](JobCall) -> asio::awaitable<JobResult> {
        co_await sleep_for(60s);
        co_return JobResult::ok({});
    });
    router.route(2, blocking([&](JobCall) {
                     release.wait();
                     return JobResult::ok({});
                 }));
    router.route(3, [](JobCall) -> asio::awaitable<JobResult> { co_return JobResult::ok(to_bytes("quick")); });
    RunnerConfig cfg = quiet_config();
    cfg.job_timeout = 50ms;
    auto tally = std::make_shared<TallyConsumer>(3);
    auto stats = BlueprintRunner::builder(cfg)
                     .router(router)
                     .producer(VectorProducer({numbered_call(1, 0), numbered_call(2, 1), numbered_call(3, 2)}))
                     .consumer(tally)
                     .run();
    release.open();
    ASSERT_TRUE(stats);
    EXPECT_EQ(tally->errors[0], 1u);
    EXPECT_EQ(tally->last_error[0].code, job_errc::timeout);
    EXPECT_EQ(tally->errors[1], 1u);
    EXPECT_EQ(tally->last_error[1].code, job_errc::timeout);
    EXPECT_EQ(tally->ok[2], 1u);
    EXPECT_EQ(tally->errors[2], 0u);
}

// ---------------------------------------------------------------- producers

TEST(Runner, ProducerEndReturnsStats) {
    Router router;
    router.route(1, [](JobCall c) { return c.body(); });
    std::vector<JobCall> a, b;
    for (std::uint64_t i = 0; i < 50; ++i) (i % 2 ? a : b).push_back(numbered_call(1, i));
    auto tally = std::make_shared<TallyConsumer>(50);
    auto stats = BlueprintRunner::builder(quiet_config())
                     .router(router)
                     .producer(VectorProducer(std::move(a)))
                     .producer(VectorProducer(std::move(b)))
                     .consumer(tally)
                     .run();
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->calls_received, 50u);
    EXPECT_EQ(stats->calls_finished, 50u);
    EXPECT_EQ(stats->results, 50u);
    EXPECT_EQ(stats->error_results, 0u);
    EXPECT_EQ(stats->in_flight, 0u);
    for (std::size_t i = 0; i < 50; ++i) EXPECT_EQ(tally->ok[i], 1u) << i;
}

TEST(Runner, ProducerErrorWithStopPolicyStopsTheRun) {
    Router router;
    router.route(1, [](JobCall c) { return c.body(); });
    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 5; ++i) calls.push_back(numbered_call(1, i));
    int handler_runs = 0;
    auto tally = std::make_shared<TallyConsumer>(5);
    RunnerConfig cfg = quiet_config();
    cfg.on_producer_error = FailurePolicy::stop;
    auto out = BlueprintRunner::builder(cfg)
                   .router(router)
                   .producer(ScriptedProducer(std::move(calls), /*fail_at_end=*/true))
                   .consumer(tally)
                   .with_shutdown_handler([&] { ++handler_runs; })
                   .run();
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, runner_errc::producer_failed);
    EXPECT_NE(out.error().message.find("producer broke"), std::string::npos) << out.error().message;
    EXPECT_EQ(handler_runs, 1);
    // The calls pulled before the failure were still delivered.
    EXPECT_EQ(tally->total(), 5u);
}

TEST(Runner, ProducerErrorWithKeepGoingDropsOnlyThatProducer) {
    Router router;
    router.route(1, [](JobCall c) { return c.body(); });
    std::vector<JobCall> good, bad;
    for (std::uint64_t i = 0; i < 100; ++i) good.push_back(numbered_call(1, i));
    for (std::uint64_t i = 100; i < 103; ++i) bad.push_back(numbered_call(1, i));
    auto tally = std::make_shared<TallyConsumer>(103);
    RunnerConfig cfg = quiet_config();
    cfg.on_producer_error = FailurePolicy::keep_going;
    int handler_runs = 0;
    auto stats = BlueprintRunner::builder(cfg)
                     .router(router)
                     .producer(ScriptedProducer(std::move(bad), /*fail_at_end=*/true))
                     .producer(VectorProducer(std::move(good)))
                     .consumer(tally)
                     .with_shutdown_handler([&] { ++handler_runs; })
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();
    EXPECT_EQ(stats->producer_errors, 1u);
    EXPECT_EQ(stats->calls_received, 103u);
    EXPECT_EQ(tally->total(), 103u);
    EXPECT_EQ(handler_runs, 0);  // no shutdown: the producers simply ended
}

TEST(Runner, StopPolicyOnJobFailureEndsTheRunWithJobFailed) {
    Router router;
    router.route(1, [](JobCall c) -> JobResult {
        if (seq_of(c) == 10) throw std::runtime_error("job ten fails");
        return JobResult::ok(c.body());
    });
    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 1000; ++i) calls.push_back(numbered_call(1, i));
    RunnerConfig cfg = quiet_config();
    cfg.on_job_failure = FailurePolicy::stop;
    cfg.max_in_flight = 4;
    int handler_runs = 0;
    auto tally = std::make_shared<TallyConsumer>(1000);
    auto runner = BlueprintRunner::builder(cfg)
                      .router(router)
                      .producer(VectorProducer(std::move(calls)))
                      .consumer(tally)
                      .with_shutdown_handler([&] { ++handler_runs; })
                      .build();
    ASSERT_TRUE(runner);
    auto out = runner->run();
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, runner_errc::job_failed);
    EXPECT_NE(out.error().message.find("job ten fails"), std::string::npos) << out.error().message;
    EXPECT_EQ(handler_runs, 1);
    EXPECT_EQ(tally->errors[10], 1u);
    const RunnerStats stats = runner->stats();
    EXPECT_LT(stats.calls_received, 1000u);  // it stopped pulling
    // Whatever was pulled was delivered.
    EXPECT_EQ(tally->total(), stats.calls_received);
    EXPECT_EQ(stats.calls_finished, stats.calls_received);
}
