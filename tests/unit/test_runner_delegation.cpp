// BlueprintRunner's delegated calls: pool workers reused call after call,
// calls beyond the pool on their own tasks, both cancelled at shutdown, and
// every result kept apart from the others'.
#include <blueprint/runner.hpp>

#include "common/run_coro.hpp"
#include "unit/runner_test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <thread>

using namespace blueprint;
using namespace blueprint::test;
using namespace std::chrono_literals;

namespace {

/// The first body byte picks what it does: 'o' echo at once, 'y' echo after
/// one trip through the executor's queue, 'p' park until cancelled, 't' throw
/// inside the coroutine, 'T' throw from invoke() before any coroutine exists,
/// 'e' a FaasError. Results carry {"executor": "probe"}.
class ProbeExecutor final : public faas::FaasExecutor {
public:
    faas::awaitable<faas::Result<JobResult>> invoke(JobCall call) override {
        if (!call.body().empty() && call.body()[0] == 'T') throw std::runtime_error("invoke refused");
        return run(std::move(call));
    }
    faas::awaitable<faas::Result<bool>> health_check(JobId) override { co_return true; }
    std::string_view provider_name() const noexcept override { return "probe"; }

    std::atomic<int> parked{0}, cancelled_seen{0};
    std::function<void(int)> on_parked;  ///< called with the parked count, on the invoking thread

private:
    faas::awaitable<faas::Result<JobResult>> run(JobCall call) {
        const char mode = call.body().empty() ? 'o' : static_cast<char>(call.body()[0]);
        auto ex = co_await asio::this_coro::executor;
        if (mode == 'p') {
            asio::steady_timer forever(ex, asio::steady_timer::time_point::max());
            const int now = ++parked;
            parked.notify_all();
            if (on_parked) on_parked(now);
            auto [ec] = co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec == asio::error::operation_aborted) {
                ++cancelled_seen;
                cancelled_seen.notify_all();
            }
            co_return std::unexpected(faas::FaasError::make(faas::faas_errc::timeout, "cancelled"));
        }
        if (mode == 'y') co_await asio::post(ex, asio::use_awaitable);
        if (mode == 't') throw std::runtime_error("exploded");
        if (mode == 'e') co_return std::unexpected(faas::FaasError::make(faas::faas_errc::throttled, "slow down"));
        Metadata md;
        md.insert("executor", MetadataValue("probe"));
        co_return JobResult::ok(std::move(md), call.body());
    }
};

/// A call whose metadata also names an "executor": the result's entry must win.
JobCall probe_call(std::uint64_t seq, Bytes body) {
    JobCall c = numbered_call(1, seq, std::move(body));
    c.metadata().insert("executor", MetadataValue("caller"));
    return c;
}

/// "<mode><seq>": a body that names its call.
std::string body_text(char mode, std::size_t seq) {
    std::string text = std::to_string(seq);
    text.insert(text.begin(), mode);
    return text;
}

/// Checks every parked call got exactly one cancelled result carrying its
/// own job id and metadata.
void expect_all_cancelled(const TallyConsumer& tally, std::size_t n) {
    ASSERT_EQ(tally.kept.size(), n);
    for (const JobResult& r : tally.kept) {
        const auto s = seq_of(r);
        SCOPED_TRACE(s);
        ASSERT_TRUE(r.is_error());
        EXPECT_EQ(r.error().code, job_errc::cancelled);
        EXPECT_EQ(r.job_id(), JobId(1));
        const MetadataValue* call_id = r.metadata().get(metadata_keys::call_id);
        ASSERT_NE(call_id, nullptr);
        EXPECT_EQ(call_id->as_string_view(), "call-" + std::to_string(s));
    }
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(tally.errors[i], 1u) << i;
}

}  // namespace

// ---------------------------------------------------------------- results

class RunnerDelegationResults : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RunnerDelegationResults, EveryCallGetsItsOwnResultThroughReusedWorkers) {
    // Quick calls reuse the same few workers; any mix-up of one worker's
    // hand-over state between calls shows as a wrong body, seq or error.
    constexpr std::size_t n = 6000;
    const char modes[] = {'o', 'y', 't', 'T', 'e', 'o', 'y'};
    std::vector<JobCall> calls;
    for (std::size_t i = 0; i < n; ++i) {
        const char m = modes[i % std::size(modes)];
        calls.push_back(probe_call(i, to_bytes(body_text(m, i))));
    }
    auto exec = std::make_shared<ProbeExecutor>();
    auto tally = std::make_shared<TallyConsumer>(n);
    tally->keep = true;
    RunnerConfig cfg = quiet_config();
    cfg.io_threads = GetParam();
    cfg.max_in_flight = 200;
    auto stats = BlueprintRunner::builder(cfg)
                     .router(Router{})
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(tally)
                     .with_faas_executor(1, exec)
                     .run();
    ASSERT_TRUE(stats) << stats.error().to_string();
    EXPECT_EQ(stats->calls_delegated, n);
    EXPECT_EQ(stats->calls_finished, n);
    EXPECT_EQ(stats->in_flight, 0u);
    ASSERT_EQ(tally->kept.size(), n);
    std::size_t bad = 0;
    for (const JobResult& r : tally->kept) {
        const auto s = seq_of(r);
        const char m = modes[s % std::size(modes)];
        SCOPED_TRACE(s);
        EXPECT_EQ(r.job_id(), JobId(1));
        const MetadataValue* call_id = r.metadata().get(metadata_keys::call_id);
        ASSERT_NE(call_id, nullptr);
        EXPECT_EQ(call_id->as_string_view(), "call-" + std::to_string(s));
        switch (m) {
        case 'o':
        case 'y':
            ASSERT_TRUE(r.is_ok());
            EXPECT_EQ(to_string(r.body()), body_text(m, s));
            // The result's own entry wins over the call's on equal keys.
            EXPECT_EQ(r.metadata().get("executor")->as_string_view(), "probe");
            break;
        case 't':
        case 'T':
            ASSERT_TRUE(r.is_error());
            EXPECT_EQ(r.error().code, job_errc::handler_exception);
            EXPECT_EQ(r.metadata().get("executor")->as_string_view(), "caller");
            break;
        case 'e':
            ASSERT_TRUE(r.is_error());
            EXPECT_EQ(r.error().code, faas::faas_errc::throttled);
            break;
        }
        if (::testing::Test::HasFailure() && ++bad > 5) break;
    }
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(tally->ok[i] + tally->errors[i], 1u) << i;
}

INSTANTIATE_TEST_SUITE_P(IoThreads, RunnerDelegationResults, ::testing::Values(1u, 3u));

// ---------------------------------------------------------------- concurrency and shutdown

class RunnerDelegationParked : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RunnerDelegationParked, CallsBeyondTheWorkerPoolRunConcurrentlyAndAreCancelled) {
    // Far more parked calls than pool workers: all must be running at once
    // (the wait below returns only then), and each gets one cancelled result.
    constexpr std::size_t n = 300;
    std::vector<JobCall> calls;
    for (std::size_t i = 0; i < n; ++i) calls.push_back(probe_call(i, to_bytes("p")));
    auto producer = std::make_shared<OpenProducer>(std::move(calls));
    auto exec = std::make_shared<ProbeExecutor>();
    auto tally = std::make_shared<TallyConsumer>(n);
    tally->keep = true;
    RunnerConfig cfg = quiet_config();
    cfg.io_threads = GetParam();
    cfg.shutdown_grace = 20ms;
    auto runner = BlueprintRunner::builder(cfg)
                      .router(Router{})
                      .producer(producer)
                      .consumer(tally)
                      .with_faas_executor(1, exec)
                      .build();
    ASSERT_TRUE(runner);
    std::expected<RunnerStats, Error> out;
    std::jthread thread([&] { out = runner->run(); });
    wait_at_least(exec->parked, static_cast<int>(n));
    wait_true(producer->waiting);
    EXPECT_EQ(runner->stats().in_flight, n);
    runner->shutdown();
    thread.join();
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(out->cancelled, n);
    EXPECT_EQ(out->results, n);
    EXPECT_EQ(out->calls_finished, n);
    EXPECT_EQ(out->peak_in_flight, n);
    expect_all_cancelled(*tally, n);
}

INSTANTIATE_TEST_SUITE_P(IoThreads, RunnerDelegationParked, ::testing::Values(1u, 2u));

class RunnerDelegationAsync : public IoContextTest {};

TEST_F(RunnerDelegationAsync, ShutdownCancelsEveryInvocationAndLeavesNoWorkBehind) {
    // On the caller's io_context the run must leave nothing behind: every
    // parked invocation (on a pool worker or its own task) sees terminal
    // cancellation, and idle workers end. TearDown checks the io_context.
    constexpr std::size_t parked = 150, quick = 50;
    std::vector<JobCall> calls;
    for (std::size_t i = 0; i < quick; ++i) calls.push_back(probe_call(i, to_bytes("y")));
    for (std::size_t i = quick; i < quick + parked; ++i) calls.push_back(probe_call(i, to_bytes("p")));
    auto exec = std::make_shared<ProbeExecutor>();
    auto tally = std::make_shared<TallyConsumer>(quick + parked);
    RunnerConfig cfg = quiet_config();
    cfg.shutdown_grace = 10ms;
    auto runner = BlueprintRunner::builder(cfg)
                      .router(Router{})
                      .producer(std::make_shared<OpenProducer>(std::move(calls)))
                      .consumer(tally)
                      .with_faas_executor(1, exec)
                      .build();
    ASSERT_TRUE(runner);
    exec->on_parked = [&](int now) {
        if (now == static_cast<int>(parked)) runner->shutdown();
    };
    auto out = run(runner->async_run(), 20s);
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(out->cancelled, parked);
    EXPECT_EQ(out->results, quick + parked);
    EXPECT_EQ(exec->cancelled_seen.load(), static_cast<int>(parked));
    for (std::size_t i = 0; i < quick; ++i) EXPECT_EQ(tally->ok[i], 1u) << i;
    for (std::size_t i = quick; i < quick + parked; ++i) EXPECT_EQ(tally->errors[i], 1u) << i;
}
