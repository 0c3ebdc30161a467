// BlueprintRunner under load and at shutdown: a 100,000-job mix, backpressure,
// graceful drain, cancellation of jobs that never finish, signals, async_run.
#include <blueprint/runner.hpp>

#include "common/run_coro.hpp"
#include "unit/runner_test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <thread>

#include <signal.h>
#include <unistd.h>

using namespace blueprint;
using namespace blueprint::test;
using namespace std::chrono_literals;

namespace {

Router echo_router() {
    Router router;
    router.route(2, [](JobCall c) { return c.body(); });
    router.route(4, [](JobCall c) -> asio::awaitable<JobResult> {
        co_await sleep_for(std::chrono::milliseconds(c.body().empty() ? 1 : c.body()[0]));
        co_return JobResult::ok(c.body());
    });
    return router;
}

}  // namespace

// ---------------------------------------------------------------- load

TEST(RunnerStress, HundredThousandMixedJobsNothingLostOrDuplicated) {
    constexpr std::size_t n = 100'000;
    enum Kind : int { exec_ok, exec_err, exec_throw, exec_slow, inline_ok, inline_throw, async_slow, blocking_ok,
                      two_results, unrouted };
    std::mt19937 rng(20240607);
    std::discrete_distribution<int> pick({20, 5, 5, 3, 30, 5, 3, 4, 20, 5});

    std::vector<Kind> kind(n);
    std::vector<JobCall> a, b;
    std::uint64_t delegated = 0, expected_results = 0, expected_errors = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        const Kind k = static_cast<Kind>(pick(rng));
        kind[i] = k;
        const auto ms = static_cast<std::uint8_t>(1 + rng() % 2);
        JobId job;
        Bytes body;
        switch (k) {
        case exec_ok: job = 1, body = to_bytes("o-" + std::to_string(i)); break;
        case exec_err: job = 1, body = to_bytes("e"); break;
        case exec_throw: job = 1, body = to_bytes("t"); break;
        case exec_slow: job = 1, body = {'s', ms}; break;
        case inline_ok: job = 2, body = to_bytes(std::to_string(i)); break;
        case inline_throw: job = 3; break;
        case async_slow: job = 4, body = {ms}; break;
        case blocking_ok: job = 5; break;
        case two_results: job = 6; break;
        case unrouted: job = 99; break;
        }
        delegated += job == JobId(1);
        expected_results += k == two_results ? 2 : 1;
        expected_errors += k == exec_err || k == exec_throw || k == inline_throw || k == unrouted;
        (i % 2 ? a : b).push_back(numbered_call(job, i, std::move(body)));
    }

    Router router = echo_router();
    router.route(3, [](JobCall) -> JobResult { throw std::runtime_error("inline throw"); });
    router.route(5, blocking([](JobCall c) { return JobResult::ok(c.body()); }));
    router.route(6, [](JobCall) { return to_bytes("x"); });
    router.route(6, [](JobCall) -> asio::awaitable<Bytes> { co_return to_bytes("y"); });

    auto exec = std::make_shared<ScriptedExecutor>();
    auto first = std::make_shared<TallyConsumer>(n);
    auto second = std::make_shared<TallyConsumer>(n);
    RunnerConfig cfg = quiet_config();
    cfg.io_threads = 2;
    auto stats = BlueprintRunner::builder(cfg)
                     .router(router)
                     .producer(VectorProducer(std::move(a)))
                     .producer(VectorProducer(std::move(b)))
                     .consumer(first)
                     .consumer(second)
                     .with_faas_executor(1, exec)
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();

    EXPECT_EQ(stats->calls_received, n);
    EXPECT_EQ(stats->calls_finished, n);
    EXPECT_EQ(stats->calls_delegated, delegated);
    EXPECT_EQ(stats->results, expected_results);
    EXPECT_EQ(stats->error_results, expected_errors);
    EXPECT_EQ(stats->in_flight, 0u);
    EXPECT_LE(stats->peak_in_flight, cfg.max_in_flight);
    EXPECT_EQ(exec->invocations.load(), static_cast<int>(delegated));

    for (const TallyConsumer* t : {first.get(), second.get()}) {
        EXPECT_FALSE(t->concurrent_sends);
        EXPECT_EQ(t->total(), expected_results);
        std::size_t bad = 0;
        for (std::size_t i = 0; i < n && bad < 10; ++i) {
            const Kind k = kind[i];
            std::uint32_t want_ok = 1, want_err = 0;
            error_code want_code;
            switch (k) {
            case exec_err: want_ok = 0, want_err = 1, want_code = faas::faas_errc::throttled; break;
            case exec_throw:
            case inline_throw: want_ok = 0, want_err = 1, want_code = job_errc::handler_exception; break;
            case unrouted: want_ok = 0, want_err = 1, want_code = job_errc::no_route; break;
            case two_results: want_ok = 2; break;
            default: break;
            }
            const bool good = t->ok[i] == want_ok && t->errors[i] == want_err &&
                              (want_err == 0 || t->last_error[i].code == want_code);
            if (!good) {
                ++bad;
                ADD_FAILURE() << "call " << i << " kind " << k << ": ok " << t->ok[i] << " errors " << t->errors[i]
                              << " code " << t->last_error[i].code.message();
            }
        }
    }
}

TEST(RunnerStress, BackpressureNeverExceedsMaxInFlight) {
    constexpr std::size_t max = 8;
    auto exec = std::make_shared<ScriptedExecutor>();
    auto tally = std::make_shared<TallyConsumer>(400);
    std::atomic<std::size_t> pulled{0};
    std::atomic<bool> pulled_without_room{false};
    auto make_producer = [&](std::uint64_t base) {
        std::vector<JobCall> calls;
        for (std::uint64_t i = 0; i < 200; ++i) calls.push_back(numbered_call(1, base + i, {'s', 1}));
        auto p = std::make_shared<ScriptedProducer>(std::move(calls));
        // Before each pull: calls pulled and not yet delivered must leave room.
        p->hook = [&](std::size_t index) {
            if (index >= 200) return;  // the pull that finds the end
            if (pulled.load() - tally->total() >= max) pulled_without_room = true;
            ++pulled;
        };
        return p;
    };
    RunnerConfig cfg = quiet_config();
    cfg.max_in_flight = max;
    cfg.io_threads = 2;
    auto stats = BlueprintRunner::builder(cfg)
                     .router(Router{})
                     .producer(make_producer(0))
                     .producer(make_producer(200))
                     .consumer(tally)
                     .with_faas_executor(1, exec)
                     .run();
    ASSERT_TRUE(stats);
    EXPECT_EQ(tally->total(), 400u);
    EXPECT_FALSE(pulled_without_room.load());
    EXPECT_LE(stats->peak_in_flight, max);
    EXPECT_LE(exec->peak.load(), static_cast<int>(max));
    // The limit is reached, not just respected by running one at a time.
    EXPECT_EQ(stats->peak_in_flight, max);
}

// ---------------------------------------------------------------- shutdown

TEST(RunnerShutdown, InFlightJobsFinishWithinGrace) {
    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 10; ++i) calls.push_back(numbered_call(1, i, {'s', 30}));
    for (std::uint64_t i = 10; i < 20; ++i) calls.push_back(numbered_call(4, i, {30}));
    auto producer = std::make_shared<OpenProducer>(std::move(calls));
    auto exec = std::make_shared<ScriptedExecutor>();
    auto tally = std::make_shared<TallyConsumer>(20);
    std::atomic<int> handler_runs{0};
    RunnerConfig cfg = quiet_config();
    cfg.shutdown_grace = 30s;
    auto runner = BlueprintRunner::builder(cfg)
                      .router(echo_router())
                      .producer(producer)
                      .consumer(tally)
                      .with_faas_executor(1, exec)
                      .with_shutdown_handler([&] { ++handler_runs; })
                      .build();
    ASSERT_TRUE(runner);
    std::expected<RunnerStats, Error> out;
    std::jthread thread([&] { out = runner->run(); });
    wait_true(producer->waiting);
    runner->shutdown();  // from another thread, twice: idempotent
    runner->shutdown();
    thread.join();
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(handler_runs.load(), 1);
    EXPECT_EQ(out->cancelled, 0u);
    EXPECT_EQ(out->results, 20u);
    for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(tally->ok[i], 1u) << i;
}

TEST(RunnerShutdown, JobsThatNeverFinishGetExactlyOneCancelledResult) {
    Latch release;
    std::atomic<int> blocking_started{0}, blocking_returned{0};
    Router router = echo_router();
    router.route(5, blocking([&](JobCall c) {
                     ++blocking_started;
                     blocking_started.notify_all();
                     release.wait();
                     ++blocking_returned;
                     blocking_returned.notify_all();
                     return JobResult::ok(c.body());
                 }));
    router.route(7, [](JobCall) -> asio::awaitable<JobResult> {
        co_await sleep_for(1h);
        co_return JobResult::ok({});
    });

    std::vector<JobCall> calls;
    std::uint64_t seq = 0;
    for (int i = 0; i < 5; ++i) calls.push_back(numbered_call(1, seq++, to_bytes("p")));  // parked in the executor
    for (int i = 0; i < 5; ++i) calls.push_back(numbered_call(7, seq++));                  // async, never ends
    for (int i = 0; i < 3; ++i) calls.push_back(numbered_call(5, seq++));                  // blocking, held
    for (int i = 0; i < 2; ++i) calls.push_back(numbered_call(2, seq++, to_bytes("ok")));  // finish at once
    const std::size_t total = seq;
    auto producer = std::make_shared<OpenProducer>(std::move(calls));
    auto exec = std::make_shared<ScriptedExecutor>();
    auto tally = std::make_shared<TallyConsumer>(total);
    tally->keep = true;
    std::atomic<int> handler_runs{0};
    RunnerConfig cfg = quiet_config();
    cfg.shutdown_grace = 50ms;
    cfg.io_threads = 2;
    auto runner = BlueprintRunner::builder(cfg)
                      .router(router)
                      .producer(producer)
                      .consumer(tally)
                      .with_faas_executor(1, exec)
                      .with_shutdown_handler([&] { ++handler_runs; })
                      .build();
    ASSERT_TRUE(runner);
    std::expected<RunnerStats, Error> out;
    std::jthread thread([&] { out = runner->run(); });
    wait_true(producer->waiting);
    wait_at_least(exec->parked, 5);
    wait_at_least(blocking_started, 3);
    runner->shutdown();
    thread.join();

    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(handler_runs.load(), 1);
    EXPECT_EQ(out->cancelled, 13u);
    EXPECT_EQ(out->calls_finished, total);
    EXPECT_EQ(out->results, total);
    ASSERT_EQ(tally->kept.size(), total);
    for (const JobResult& r : tally->kept) {
        const auto s = seq_of(r);
        SCOPED_TRACE(s);
        const MetadataValue* call_id = r.metadata().get(metadata_keys::call_id);
        ASSERT_NE(call_id, nullptr);
        EXPECT_EQ(call_id->as_string_view(), "call-" + std::to_string(s));
        if (s >= 13) {
            EXPECT_TRUE(r.is_ok());
        } else {
            ASSERT_TRUE(r.is_error());
            EXPECT_EQ(r.error().code, job_errc::cancelled);
            EXPECT_EQ(r.job_id(), JobId(s < 5 ? 1 : s < 10 ? 7 : 5));
        }
    }
    for (std::size_t i = 0; i < total; ++i) EXPECT_EQ(tally->ok[i] + tally->errors[i], 1u) << i;

    // The blocking handlers could not be interrupted; when they return at
    // last, their results are dropped, never delivered a second time.
    release.open();
    wait_at_least(blocking_returned, 3);
    EXPECT_EQ(tally->total(), total);
}

TEST(RunnerShutdown, ShutdownBeforeRunEndsAtOnce) {
    auto producer = std::make_shared<OpenProducer>(std::vector<JobCall>{});
    int handler_runs = 0;
    auto runner = BlueprintRunner::builder(quiet_config())
                      .router(Router{})
                      .producer(producer)
                      .with_shutdown_handler([&] { ++handler_runs; })
                      .build();
    ASSERT_TRUE(runner);
    runner->shutdown();
    auto out = runner->run();
    ASSERT_TRUE(out);
    EXPECT_EQ(out->calls_received, 0u);
    EXPECT_EQ(handler_runs, 1);
}

TEST(RunnerShutdown, SigtermStartsAGracefulShutdown) {
    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 3; ++i) calls.push_back(numbered_call(4, i, {20}));
    auto producer = std::make_shared<OpenProducer>(std::move(calls));
    auto tally = std::make_shared<TallyConsumer>(3);
    std::atomic<int> handler_runs{0};
    RunnerConfig cfg = quiet_config();
    cfg.handle_signals = true;
    auto runner = BlueprintRunner::builder(cfg)
                      .router(echo_router())
                      .producer(producer)
                      .consumer(tally)
                      .with_shutdown_handler([&] { ++handler_runs; })
                      .build();
    ASSERT_TRUE(runner);
    std::expected<RunnerStats, Error> out;
    std::jthread thread([&] { out = runner->run(); });
    // The signal set is installed before the loop runs, so before any pull.
    wait_true(producer->waiting);
    ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
    thread.join();
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(handler_runs.load(), 1);
    EXPECT_EQ(tally->total(), 3u);
    EXPECT_EQ(out->cancelled, 0u);
}

// ---------------------------------------------------------------- async_run

class RunnerAsync : public IoContextTest {};

TEST_F(RunnerAsync, RunsToTheEndOnTheCallersExecutor) {
    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 100; ++i) calls.push_back(numbered_call(i % 2 ? 1 : 4, i, {'o'}));
    auto exec = std::make_shared<ScriptedExecutor>();
    auto tally = std::make_shared<TallyConsumer>(100);
    auto out = run(BlueprintRunner::builder(quiet_config())
                       .router(echo_router())
                       .producer(VectorProducer(std::move(calls)))
                       .consumer(tally)
                       .with_faas_executor(1, exec)
                       .async_run());
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(out->results, 100u);
    EXPECT_EQ(out->calls_delegated, 50u);
    EXPECT_EQ(tally->total(), 100u);
}

TEST_F(RunnerAsync, CancellingTheAwaitingCoroutineDrainsGracefully) {
    std::vector<JobCall> calls;
    for (std::uint64_t i = 0; i < 3; ++i) calls.push_back(numbered_call(4, i, {20}));
    auto producer = std::make_shared<OpenProducer>(std::move(calls));
    auto tally = std::make_shared<TallyConsumer>(3);
    int handler_runs = 0;
    auto runner = BlueprintRunner::builder(quiet_config())
                      .router(echo_router())
                      .producer(producer)
                      .consumer(tally)
                      .with_shutdown_handler([&] { ++handler_runs; })
                      .build();
    ASSERT_TRUE(runner);
    // Once the producer has nothing more, the awaiting coroutine is
    // cancelled: it loses a parallel group to a "gate" that opens then. The
    // producer may get there before the gate's wait starts, hence the flag.
    asio::steady_timer gate(ioc, asio::steady_timer::time_point::max());
    producer->on_wait = [&] { gate.cancel(); };
    auto gate_opened = [&]() -> asio::awaitable<void> {
        while (!producer->waiting) co_await gate.async_wait(asio::as_tuple(asio::use_awaitable));
    };
    auto out = run([&]() -> asio::awaitable<std::expected<RunnerStats, Error>> {
        auto ex = co_await asio::this_coro::executor;
        auto [order, error, result, gate_error] =
            co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, runner->async_run(), asio::deferred),
                                                             asio::co_spawn(ex, gate_opened(), asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        EXPECT_EQ(order[0], 1u);
        if (error) std::rethrow_exception(error);
        co_return result;
    }());
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(handler_runs, 1);
    EXPECT_EQ(out->results, 3u);
    EXPECT_EQ(out->cancelled, 0u);
    EXPECT_EQ(tally->total(), 3u);
}
