// BlueprintRunner: producers -> (FaaS registry or router) -> consumers.
#pragma once

#include <blueprint/consumers.hpp>
#include <blueprint/error.hpp>
#include <blueprint/faas/executor.hpp>
#include <blueprint/faas/registry.hpp>
#include <blueprint/log.hpp>
#include <blueprint/producers.hpp>
#include <blueprint/router.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>

namespace blueprint {

/// What the runner does when something fails.
enum class FailurePolicy {
    /// Log it, count it, send the error result, and go on.
    keep_going,
    /// Stop pulling, drain in-flight jobs, and return the error from `run`.
    stop,
};

/// Runner settings. Defaults suit a long-running service.
struct RunnerConfig {
    /// Most jobs running at once. The runner stops pulling from producers
    /// while this many run: backpressure, not an unbounded queue.
    std::size_t max_in_flight = 1024;
    /// Threads running the event loop in `run()` (ignored by `async_run`).
    std::size_t io_threads = 1;
    /// Threads for handlers wrapped in `blocking(...)`.
    std::size_t blocking_threads = 4;
    /// At shutdown, how long in-flight jobs may finish before they are
    /// cancelled with a `job_errc::cancelled` result.
    std::chrono::milliseconds shutdown_grace{30'000};
    /// Deadline of each local job; none by default. Delegated jobs use
    /// their executor's FaasConfig::timeout_secs instead.
    std::optional<std::chrono::milliseconds> job_timeout;
    /// When a job ends in an error result.
    FailurePolicy on_job_failure = FailurePolicy::keep_going;
    /// When a producer throws. `keep_going` drops that producer only.
    FailurePolicy on_producer_error = FailurePolicy::stop;
    /// Whether a call that no handler takes yields a `job_errc::no_route`
    /// error result (true) or is only logged (false).
    bool report_unrouted = true;
    /// Catch SIGINT and SIGTERM in `run()` and shut down gracefully.
    bool handle_signals = true;
    /// Where the runner logs; stderr, warnings and up, by default.
    LogSink log = stderr_log_sink();
};

/// Counters of a run. Live values come from `BlueprintRunner::stats()`.
struct RunnerStats {
    std::uint64_t calls_received = 0;   ///< calls pulled from producers
    std::uint64_t calls_finished = 0;   ///< calls whose results were all delivered
    std::uint64_t calls_delegated = 0;  ///< calls sent to a FaaS executor
    std::uint64_t results = 0;          ///< results delivered (each to every consumer)
    std::uint64_t error_results = 0;    ///< of which errors
    std::uint64_t cancelled = 0;        ///< calls cancelled at shutdown
    std::uint64_t consumer_errors = 0;  ///< exceptions thrown by consumers
    std::uint64_t producer_errors = 0;  ///< exceptions thrown by producers
    std::size_t in_flight = 0;          ///< calls running now
    std::size_t peak_in_flight = 0;     ///< most calls running at once
};

/// Runs a blueprint: pulls job calls from producers, runs each on its FaaS
/// executor (when registered) or through the router, and delivers every
/// result to every consumer. See ARCHITECTURE.md §2 for the semantics.
class BlueprintRunner {
public:
    class Builder;
    static Builder builder(RunnerConfig config = {});

    BlueprintRunner(BlueprintRunner&&) noexcept;
    BlueprintRunner& operator=(BlueprintRunner&&) noexcept;
    ~BlueprintRunner();

    /// Runs until every producer is finished and every job delivered, or
    /// until shutdown. Blocks the calling thread; runs its own io_context on
    /// `io_threads` threads. Never throws.
    std::expected<RunnerStats, Error> run();

    /// As `run`, on the awaiting coroutine's executor. Cancelling the
    /// awaiting coroutine starts a graceful shutdown; the coroutine completes
    /// once the drain is over.
    boost::asio::awaitable<std::expected<RunnerStats, Error>> async_run();

    /// Starts a graceful shutdown: stop pulling, let in-flight jobs finish
    /// for `shutdown_grace`, then cancel the rest. Thread-safe; idempotent.
    void shutdown();

    /// Live counters. Thread-safe.
    RunnerStats stats() const;

    const faas::FaasRegistry& registry() const;

private:
    struct Impl;
    explicit BlueprintRunner(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

class BlueprintRunner::Builder {
public:
    explicit Builder(RunnerConfig config);

    Builder& config(RunnerConfig config);
    /// The router for every job that no FaaS executor takes. Required.
    Builder& router(Router router);
    /// Adds a producer; at least one is required. Producers are merged.
    Builder& producer(std::shared_ptr<Producer> producer);
    template <std::derived_from<Producer> P> Builder& producer(P producer) {
        return this->producer(std::shared_ptr<Producer>(std::make_shared<P>(std::move(producer))));
    }
    /// Adds a consumer; every result goes to every consumer.
    Builder& consumer(std::shared_ptr<Consumer> consumer);
    /// Delegates `job_id` to `executor`. Asked before the router.
    Builder& with_faas_executor(JobId job_id, std::shared_ptr<faas::FaasExecutor> executor);
    template <std::derived_from<faas::FaasExecutor> E> Builder& with_faas_executor(JobId job_id, E executor) {
        return with_faas_executor(job_id, std::shared_ptr<faas::FaasExecutor>(std::make_shared<E>(std::move(executor))));
    }
    /// Runs once when shutdown begins (signal, `shutdown()`, or a stop policy).
    Builder& with_shutdown_handler(std::function<void()> handler);

    /// Checks the parts: a router and at least one producer.
    std::expected<BlueprintRunner, Error> build();
    /// `build()` then `run()`.
    std::expected<RunnerStats, Error> run();
    /// `build()` then `async_run()`.
    boost::asio::awaitable<std::expected<RunnerStats, Error>> async_run();

private:
    RunnerConfig config_;
    std::optional<Router> router_;
    std::vector<std::shared_ptr<Producer>> producers_;
    std::vector<std::shared_ptr<Consumer>> consumers_;
    faas::FaasRegistry registry_;
    std::function<void()> shutdown_handler_;
};

}  // namespace blueprint
