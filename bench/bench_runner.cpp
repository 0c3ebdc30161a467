// BlueprintRunner throughput and memory:
//   BM_LocalDispatch        trivial inline handler: VectorProducer -> router -> counting consumer
//   BM_LocalAsyncDispatch   the same job through a coroutine handler that co_returns at once
//   BM_Delegation           the same job through an in-process executor whose invoke co_returns at once
//   BM_DelegationOverhead   the three above interleaved in each iteration, with their ratios
//   BM_MemoryPerInFlightJob heap growth per job parked in an executor (counter bytes_per_job)
// Targets: local >= 1,000,000 jobs/s; delegation < 1.5x local's cost per job;
// <= 2048 bytes per in-flight job. io_threads = 1 runs everything on the
// benchmark's own thread, so its CPU time is the cost: `ns_per_job` is that
// thread's CPU time inside run() divided by the jobs (wall time also counts
// other processes on a shared machine).
#include <blueprint/runner.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <benchmark/benchmark.h>

#include <malloc.h>

#include <atomic>
#include <ctime>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace blueprint;
namespace asio = boost::asio;

namespace {

class CountingConsumer final : public Consumer {
public:
    asio::awaitable<void> send(JobResult) override {
        ++count;
        co_return;
    }
    std::size_t count = 0;
};

/// Answers at once, in process: measures the runner's delegation overhead.
class InstantExecutor final : public faas::FaasExecutor {
public:
    faas::awaitable<faas::Result<JobResult>> invoke(JobCall call) override {
        co_return JobResult::ok(std::move(call.body()));
    }
    faas::awaitable<faas::Result<bool>> health_check(JobId) override { co_return true; }
    std::string_view provider_name() const noexcept override { return "instant"; }
};

/// Parks every call until cancelled: a job in flight for ever.
class ParkingExecutor final : public faas::FaasExecutor {
public:
    faas::awaitable<faas::Result<JobResult>> invoke(JobCall call) override {
        asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
        parked.fetch_add(1);
        parked.notify_all();
        co_await timer.async_wait(asio::use_awaitable);
        co_return JobResult::ok(std::move(call.body()));
    }
    faas::awaitable<faas::Result<bool>> health_check(JobId) override { co_return true; }
    std::string_view provider_name() const noexcept override { return "parking"; }
    std::atomic<std::size_t> parked{0};
};

RunnerConfig bench_config() {
    RunnerConfig c;
    c.io_threads = 1;
    c.blocking_threads = 1;
    c.handle_signals = false;
    c.log = {};
    return c;
}

std::vector<JobCall> make_calls(std::size_t n) {
    std::vector<JobCall> calls;
    calls.reserve(n);
    for (std::size_t i = 0; i < n; ++i) calls.emplace_back(JobId(1), Bytes{1, 2, 3, 4});
    return calls;
}

enum class Route { local_inline, local_async, delegated };

/// CPU time of the calling thread, in ns.
double thread_cpu_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

/// One run of `n` calls of job 1, routed as `route`. Returns the CPU ns the
/// run took on this thread (the loop's only thread), or -1 if jobs were lost.
double run_once(std::size_t n, Route route, const std::shared_ptr<InstantExecutor>& executor) {
    Router router;
    if (route == Route::local_async)
        router.route(1, [](JobCall c) -> asio::awaitable<JobResult> { co_return JobResult::ok(std::move(c.body())); });
    else
        router.route(1, [](JobCall c) { return JobResult::ok(std::move(c.body())); });
    auto consumer = std::make_shared<CountingConsumer>();
    auto builder = BlueprintRunner::builder(bench_config());
    builder.router(std::move(router)).producer(VectorProducer(make_calls(n))).consumer(consumer);
    if (route == Route::delegated) builder.with_faas_executor(1, executor);
    auto runner = builder.build();
    const double t0 = thread_cpu_ns();
    auto stats = runner->run();
    const double t1 = thread_cpu_ns();
    if (!stats || consumer->count != n) return -1;
    return t1 - t0;
}

void run_jobs(benchmark::State& state, Route route) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto executor = std::make_shared<InstantExecutor>();
    double cpu_ns = 0;
    for (auto _ : state) {
        const double ns = run_once(n, route, executor);
        if (ns < 0) state.SkipWithError("the runner lost jobs");
        cpu_ns += ns;
    }
    const double jobs = double(state.iterations()) * double(n);
    state.SetItemsProcessed(static_cast<std::int64_t>(jobs));
    state.counters["ns_per_job"] = cpu_ns / jobs;
}

void BM_LocalDispatch(benchmark::State& state) { run_jobs(state, Route::local_inline); }
void BM_LocalAsyncDispatch(benchmark::State& state) { run_jobs(state, Route::local_async); }
void BM_Delegation(benchmark::State& state) { run_jobs(state, Route::delegated); }

/// The delegation target as one figure: each iteration runs the same jobs
/// routed inline, through a local coroutine handler and delegated, back to
/// back, so both sides of each ratio see the same machine load.
void BM_DelegationOverhead(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto executor = std::make_shared<InstantExecutor>();
    double inline_ns = 0, async_ns = 0, delegated_ns = 0;
    for (auto _ : state) {
        const double a = run_once(n, Route::local_inline, executor);
        const double b = run_once(n, Route::local_async, executor);
        const double c = run_once(n, Route::delegated, executor);
        if (a < 0 || b < 0 || c < 0) state.SkipWithError("the runner lost jobs");
        inline_ns += a, async_ns += b, delegated_ns += c;
    }
    const double jobs = double(state.iterations()) * double(n);
    state.counters["inline_ns_per_job"] = inline_ns / jobs;
    state.counters["async_ns_per_job"] = async_ns / jobs;
    state.counters["delegated_ns_per_job"] = delegated_ns / jobs;
    state.counters["delegated_vs_inline"] = delegated_ns / inline_ns;
    state.counters["delegated_vs_async"] = delegated_ns / async_ns;
}

std::size_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

void BM_MemoryPerInFlightJob(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    double heap_per_job = 0, rss_per_job = 0;
    for (auto _ : state) {
        auto executor = std::make_shared<ParkingExecutor>();
        RunnerConfig cfg = bench_config();
        cfg.max_in_flight = n;
        cfg.shutdown_grace = std::chrono::milliseconds(0);
        auto consumer = std::make_shared<CountingConsumer>();
        auto runner = BlueprintRunner::builder(cfg)
                          .router(Router{})
                          .producer(VectorProducer(make_calls(n)))
                          .consumer(consumer)
                          .with_faas_executor(1, executor)
                          .build();
        // The calls themselves exist before the run (they move into it), so
        // the growth is the runner's own cost of keeping a job in flight.
        const std::size_t heap_before = mallinfo2().uordblks;
        const std::size_t rss_before = rss_bytes();
        std::jthread thread([&] { (void)runner->run(); });
        for (std::size_t v = executor->parked.load(); v < n; v = executor->parked.load()) executor->parked.wait(v);
        const std::size_t heap_after = mallinfo2().uordblks;
        const std::size_t rss_after = rss_bytes();
        runner->shutdown();
        thread.join();
        if (consumer->count != n) state.SkipWithError("parked jobs were not all cancelled");
        heap_per_job = double(heap_after - heap_before) / double(n);
        rss_per_job = double(rss_after > rss_before ? rss_after - rss_before : 0) / double(n);
    }
    state.counters["bytes_per_job"] = heap_per_job;
    state.counters["rss_bytes_per_job"] = rss_per_job;
}

}  // namespace

BENCHMARK(BM_LocalDispatch)->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LocalAsyncDispatch)->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Delegation)->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DelegationOverhead)->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MemoryPerInFlightJob)->Arg(10'000)->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
