// BlueprintRunner and its Builder: building, run / async_run, shutdown, stats.
#include <blueprint/runner.hpp>

#include "loop.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <mutex>
#include <thread>

namespace blueprint {

using runner_detail::BlockingPool;
using runner_detail::Counters;
using runner_detail::Loop;
using runner_detail::Parts;
namespace asio = boost::asio;

namespace {

Error internal_error(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const boost::system::system_error& ex) {
        return Error{ex.code(), ex.what()};
    } catch (const std::system_error& ex) {
        return Error{error_code(ex.code()), ex.what()};
    } catch (const std::bad_alloc&) {
        return Error{make_error_code(boost::system::errc::not_enough_memory), "out of memory in the runner"};
    } catch (const std::exception& ex) {
        return Error{make_error_code(boost::system::errc::state_not_recoverable), ex.what()};
    } catch (...) {
        return Error{make_error_code(boost::system::errc::state_not_recoverable), "unknown exception in the runner"};
    }
}

Error already_running() {
    return Error{make_error_code(runner_errc::already_running),
                 "a BlueprintRunner runs once; build a new one to run again"};
}

/// After the run: the pool's queued jobs are dropped (their calls were
/// cancelled). A blocking handler that is still running cannot be
/// interrupted, and the run must not wait for it forever after its call got
/// its cancelled result: a detached thread joins the pool when it returns.
void finish_pool(std::unique_ptr<BlockingPool> pool) {
    pool->pool.stop();
    if (pool->running->load() == 0) {
        pool->pool.join();
        return;
    }
    std::thread([pool = std::move(pool)]() mutable {
        pool->pool.join();
        pool.reset();
    }).detach();
}

void run_io(asio::io_context& ioc, const Loop& loop) {
    for (;;) {
        try {
            ioc.run();
            return;
        } catch (...) {
            // Every handler of ours is a firewall; keep the thread serving anyway.
            loop.log(LogLevel::error, "exception escaped the event loop: " +
                                          runner_detail::exception_message(std::current_exception()));
        }
    }
}

asio::awaitable<std::expected<RunnerStats, Error>> run_built(std::expected<BlueprintRunner, Error> runner) {
    if (!runner) co_return std::unexpected(std::move(runner.error()));
    co_return co_await runner->async_run();
}

}  // namespace

struct BlueprintRunner::Impl {
    std::shared_ptr<const Parts> parts;
    std::shared_ptr<Counters> counters = std::make_shared<Counters>();
    std::atomic<bool> started{false};

    std::mutex mutex;  // guards the two below: shutdown() comes from any thread
    std::shared_ptr<Loop> active;
    bool shutdown_requested = false;

    void attach(const std::shared_ptr<Loop>& loop) {
        std::lock_guard lock(mutex);
        active = loop;
        loop->shutdown_at_start = shutdown_requested;
    }
    void detach() {
        std::lock_guard lock(mutex);
        active.reset();
    }
};

BlueprintRunner::Builder BlueprintRunner::builder(RunnerConfig config) { return Builder(std::move(config)); }

BlueprintRunner::BlueprintRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlueprintRunner::BlueprintRunner(BlueprintRunner&&) noexcept = default;
BlueprintRunner& BlueprintRunner::operator=(BlueprintRunner&&) noexcept = default;
BlueprintRunner::~BlueprintRunner() = default;

std::expected<RunnerStats, Error> BlueprintRunner::run() {
    try {
        if (!impl_ || impl_->started.exchange(true)) return std::unexpected(already_running());
        const RunnerConfig& config = impl_->parts->config;
        const std::size_t threads = std::max<std::size_t>(1, config.io_threads);

        asio::io_context ioc(static_cast<int>(threads));
        auto pool = std::make_unique<BlockingPool>(std::max<std::size_t>(1, config.blocking_threads));
        auto loop = std::make_shared<Loop>(impl_->parts, impl_->counters, ioc.get_executor(), threads == 1,
                                           pool.get());
        impl_->attach(loop);

        std::optional<std::expected<RunnerStats, Error>> outcome;
        asio::co_spawn(loop->loop_ex, loop->supervise(),
                       [&outcome, &ioc](std::exception_ptr e, std::expected<RunnerStats, Error> r) {
                           if (e) outcome.emplace(std::unexpected(internal_error(e)));
                           else outcome.emplace(std::move(r));
                           // Tasks that ignored cancellation are abandoned here.
                           ioc.stop();
                       });

        std::optional<asio::signal_set> signals;
        if (config.handle_signals) {
            signals.emplace(ioc, SIGINT, SIGTERM);
            signals->async_wait([loop](const error_code& ec, int signo) {
                if (ec) return;
                asio::post(loop->loop_ex, [loop, signo] {
                    loop->begin_shutdown(std::nullopt, signo == SIGINT ? "SIGINT received" : "SIGTERM received");
                });
            });
        }

        {
            std::vector<std::jthread> workers;
            workers.reserve(threads - 1);
            for (std::size_t i = 1; i < threads; ++i) workers.emplace_back([&] { run_io(ioc, *loop); });
            run_io(ioc, *loop);
        }  // joins the workers

        impl_->detach();
        finish_pool(std::move(pool));
        signals.reset();
        if (!outcome) return std::unexpected(Error{make_error_code(boost::system::errc::state_not_recoverable),
                                                   "the event loop stopped before the run ended"});
        return std::move(*outcome);
    } catch (...) {
        return std::unexpected(internal_error(std::current_exception()));
    }
}

asio::awaitable<std::expected<RunnerStats, Error>> BlueprintRunner::async_run() {
    Impl* impl = impl_.get();
    if (!impl || impl->started.exchange(true)) co_return std::unexpected(already_running());
    std::expected<RunnerStats, Error> outcome = std::unexpected(Error{});
    try {
        const RunnerConfig& config = impl->parts->config;
        auto pool = std::make_unique<BlockingPool>(std::max<std::size_t>(1, config.blocking_threads));
        // We cannot know how many threads run the caller's executor, so the
        // loop and every job task get a strand.
        auto loop = std::make_shared<Loop>(impl->parts, impl->counters, co_await asio::this_coro::executor, false,
                                           pool.get());
        impl->attach(loop);
        // Cancellation of the caller starts a graceful shutdown inside
        // supervise(); our own co_await must not throw because of it.
        const bool throw_before = co_await asio::this_coro::throw_if_cancelled();
        co_await asio::this_coro::throw_if_cancelled(false);
        try {
            outcome = co_await asio::co_spawn(loop->loop_ex, loop->supervise(), asio::use_awaitable);
        } catch (...) {
            outcome = std::unexpected(internal_error(std::current_exception()));
        }
        co_await asio::this_coro::throw_if_cancelled(throw_before);
        impl->detach();
        finish_pool(std::move(pool));
    } catch (...) {
        outcome = std::unexpected(internal_error(std::current_exception()));
    }
    co_return outcome;
}

void BlueprintRunner::shutdown() {
    if (!impl_) return;
    std::lock_guard lock(impl_->mutex);
    impl_->shutdown_requested = true;
    if (auto loop = impl_->active) {
        asio::post(loop->loop_ex, [loop] { loop->begin_shutdown(std::nullopt, "shutdown() was called"); });
    }
}

RunnerStats BlueprintRunner::stats() const { return impl_ ? impl_->counters->snapshot() : RunnerStats{}; }

const faas::FaasRegistry& BlueprintRunner::registry() const { return impl_->parts->registry; }

// ---------------------------------------------------------------- Builder

BlueprintRunner::Builder::Builder(RunnerConfig config) : config_(std::move(config)) {}

BlueprintRunner::Builder& BlueprintRunner::Builder::config(RunnerConfig config) {
    config_ = std::move(config);
    return *this;
}

BlueprintRunner::Builder& BlueprintRunner::Builder::router(Router router) {
    router_ = std::move(router);
    return *this;
}

BlueprintRunner::Builder& BlueprintRunner::Builder::producer(std::shared_ptr<Producer> producer) {
    producers_.push_back(std::move(producer));
    return *this;
}

BlueprintRunner::Builder& BlueprintRunner::Builder::consumer(std::shared_ptr<Consumer> consumer) {
    consumers_.push_back(std::move(consumer));
    return *this;
}

BlueprintRunner::Builder& BlueprintRunner::Builder::with_faas_executor(JobId job_id,
                                                                       std::shared_ptr<faas::FaasExecutor> executor) {
    registry_.register_job(job_id, std::move(executor));
    return *this;
}

BlueprintRunner::Builder& BlueprintRunner::Builder::with_shutdown_handler(std::function<void()> handler) {
    shutdown_handler_ = std::move(handler);
    return *this;
}

std::expected<BlueprintRunner, Error> BlueprintRunner::Builder::build() {
    if (!router_)
        return std::unexpected(Error{make_error_code(runner_errc::no_router),
                                     "call .router(...) on the builder: jobs that no FaaS executor takes need one"});
    if (producers_.empty())
        return std::unexpected(
            Error{make_error_code(runner_errc::no_producer), "call .producer(...) on the builder at least once"});
    for (std::size_t i = 0; i < producers_.size(); ++i)
        if (!producers_[i])
            return std::unexpected(Error{make_error_code(runner_errc::no_producer),
                                         "producer #" + std::to_string(i + 1) + " is null"});
    auto parts = std::make_shared<Parts>();
    parts->config = config_;
    parts->router = *router_;
    parts->producers = producers_;
    // A null consumer would have nowhere to deliver: skip it.
    for (const auto& c : consumers_)
        if (c) parts->consumers.push_back(c);
    parts->registry = registry_;
    parts->shutdown_handler = shutdown_handler_;

    auto impl = std::make_unique<Impl>();
    impl->parts = std::move(parts);
    return BlueprintRunner(std::move(impl));
}

std::expected<RunnerStats, Error> BlueprintRunner::Builder::run() {
    auto runner = build();
    if (!runner) return std::unexpected(std::move(runner.error()));
    return runner->run();
}

asio::awaitable<std::expected<RunnerStats, Error>> BlueprintRunner::Builder::async_run() {
    // Built now, not when first resumed: the builder may be a temporary.
    return run_built(build());
}

}  // namespace blueprint
