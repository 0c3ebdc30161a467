// Dispatch: the registry-or-router decision and running one call.
#include "dispatch.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <mutex>

namespace blueprint::runner_detail {

// ---------------------------------------------------------------- blocking handlers

using BlockingSignature = void(std::exception_ptr, std::optional<JobResult>);

/// The wait of a job task for its blocking handler on the thread pool.
///
/// The handler itself cannot be interrupted, so cancelling the wait (job
/// timeout, shutdown) completes it at once with `operation_aborted` and the
/// handler's eventual result is dropped. Whichever of completion and
/// abandonment comes first wins; the mutex makes that safe across threads.
struct BlockingOp {
    std::mutex mutex;
    std::optional<asio::any_completion_handler<BlockingSignature>> handler;
    asio::any_io_executor ex;  ///< where the waiting coroutine resumes
    bool abandoned = false;

    void complete(std::exception_ptr e, std::optional<JobResult> result) {
        std::optional<asio::any_completion_handler<BlockingSignature>> h;
        asio::any_io_executor resume_on;
        {
            std::lock_guard lock(mutex);
            if (!handler) return;
            h = std::move(handler);
            handler.reset();
            // Released now, not when the pool job lets go of the op: that
            // may be after the run and its io_context are gone.
            resume_on = std::move(ex);
            ex = asio::any_io_executor();
        }
        asio::post(resume_on, [h = std::move(*h), e, result = std::move(result)]() mutable {
            std::move(h)(e, std::move(result));
        });
    }
    void abandon() {
        {
            std::lock_guard lock(mutex);
            abandoned = true;
        }
        complete(std::make_exception_ptr(boost::system::system_error(asio::error::operation_aborted)), std::nullopt);
    }
};

void abandon_blocking(BlockingOp& op) { op.abandon(); }

namespace {

/// Runs `fn` on the pool; completes on the awaiting coroutine's executor.
template <class Fn, class Token>
auto async_run_blocking(BlockingPool* pool, std::shared_ptr<BlockingOp> op, Fn fn, Token&& token) {
    auto init = [pool](auto handler, std::shared_ptr<BlockingOp> op, Fn fn) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        bool cancelled_before_start;
        {
            std::lock_guard lock(op->mutex);
            op->handler.emplace(std::move(handler));
            cancelled_before_start = op->abandoned;
        }
        if (cancelled_before_start) {
            // Abandoned at shutdown before it started: complete at once and
            // leave the pool (which may be gone with the run) alone.
            op->complete(std::make_exception_ptr(boost::system::system_error(asio::error::operation_aborted)),
                         std::nullopt);
            return;
        }
        if (slot.is_connected()) slot.assign([op](asio::cancellation_type) { op->abandon(); });
        asio::post(pool->pool, [op, fn = std::move(fn), running = pool->running]() mutable {
            running->fetch_add(1);
            bool skip;
            {
                std::lock_guard lock(op->mutex);
                skip = op->abandoned;
            }
            std::optional<JobResult> result;
            std::exception_ptr error;
            if (!skip) {
                try {
                    result = fn();
                } catch (...) {
                    error = std::current_exception();  // the firewall: becomes an error result
                }
            }
            running->fetch_sub(1);
            if (!skip) op->complete(error, std::move(result));
        });
    };
    return asio::async_initiate<Token, BlockingSignature>(std::move(init), token, std::move(op), std::move(fn));
}

// ---------------------------------------------------------------- job tasks

/// The job's deadline. Boost 1.81 has no asio::cancel_after, so this is its
/// equivalent from Asio's own parts: a parallel group of the job and a timer,
/// waiting for one; the loser gets terminal cancellation. A job that ignores
/// cancellation delays the timeout result until it returns (as cancel_after would).
asio::awaitable<std::optional<JobResult>> with_deadline(asio::awaitable<std::optional<JobResult>> job,
                                                        std::chrono::milliseconds limit) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, limit);
    auto [order, error, result, timer_ec] =
        co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, std::move(job), asio::deferred),
                                                         timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    if (order[0] == 0) {
        if (error) std::rethrow_exception(error);
        co_return std::move(result);
    }
    co_return JobResult::error(job_errc::timeout,
                               "ran past its timeout of " + std::to_string(limit.count()) + " ms");
}

JobResult faas_error_result(const faas::FaasError& e) {
    return JobResult::error(e.code(), e.to_string(), e.function_error_type);
}

// ---------------------------------------------------------------- delegated calls
//
// A delegated call runs on a pool worker when one is idle: a long-lived
// coroutine that invokes calls one after another, so a call that finishes
// at once costs its executor's coroutine frame and two resumptions, and no
// task of its own (co_spawn's frame, cancellation state, post). A call that
// finds no idle worker, and no room for a new one, gets its own task that
// awaits the invocation directly: many calls parked in a slow executor then
// cost no more than they must. Either way the call runs concurrently with
// everything else, and gets exactly one result.

JobResult invocation_result(faas::Result<JobResult>&& outcome) {
    return outcome ? std::move(*outcome) : faas_error_result(outcome.error());
}

/// The worker: its call arrives in `w->call`; it leaves the result in
/// `w->result` and waits on the loop for the next call.
asio::awaitable<void> run_worker(Loop* loop, Worker* w) {
    for (;;) {
        try {
            w->result.emplace(invocation_result(co_await w->executor->invoke(std::move(w->call))));
        } catch (...) {
            w->result.emplace(exception_result(std::current_exception()));  // the firewall
        }
        // Cancelled: only at shutdown, after its call got its cancelled
        // result. Its cancellation state is spent, so it ends here.
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return;
        co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
            [loop, w](WakeHandler&& wake) {
                // One io thread: the worker runs on the loop's thread already.
                if (loop->single_threaded) return loop->worker_finished(*w, std::move(wake));
                auto& loop_ex = loop->loop_ex;
                asio::dispatch(loop_ex, [loop, w, wake = std::move(wake)]() mutable {
                    loop->worker_finished(*w, std::move(wake));
                });
            },
            asio::use_awaitable);
        if (w->exit) co_return;
    }
}

/// A worker task's completion handler. Its cancellation slot is the
/// worker's own signal; it names no executor, so co_spawn's cancellation
/// handler stays small (Loop::cancel_running posts the emit to the worker).
struct WorkerEnded {
    std::shared_ptr<Loop> loop;  ///< the worker and its signal live in it
    Worker* w;

    using cancellation_slot_type = asio::cancellation_slot;
    cancellation_slot_type get_cancellation_slot() const noexcept { return w->signal.slot(); }

    void operator()(std::exception_ptr e) {
        auto& loop_ex = loop->loop_ex;
        asio::dispatch(loop_ex, [loop = std::move(loop), w = w, e] { loop->worker_ended(*w, e); });
    }
};

/// An own task's completion handler: the result goes back to the loop.
struct OwnTaskEnded {
    std::shared_ptr<Loop> loop;  ///< the Delegation and its signal live in it
    Delegation* d;

    using cancellation_slot_type = asio::cancellation_slot;
    cancellation_slot_type get_cancellation_slot() const noexcept { return d->signal.slot(); }

    void operator()(std::exception_ptr e, faas::Result<JobResult> outcome) {
        JobResult result = e ? exception_result(e) : invocation_result(std::move(outcome));  // the firewall
        auto& loop_ex = loop->loop_ex;
        asio::dispatch(loop_ex, [loop = std::move(loop), d = d, result = std::move(result)]() mutable {
            loop->delegation_done(*d, std::move(result));
        });
    }
};

/// With several io threads an own task runs on its own strand. Naming it as
/// the handler's executor makes co_spawn deliver cancellation there, so the
/// loop may emit the signal from its own strand.
struct OwnTaskEndedOnStrand : OwnTaskEnded {
    asio::any_io_executor ex;

    using executor_type = asio::any_io_executor;
    executor_type get_executor() const noexcept { return ex; }
};

/// Resumes a parked worker on its executor. With one io thread that is this
/// thread, so it runs inline (as asio::dispatch would, minus the executor
/// round trip): a call that finishes at once is done on return.
void wake(Loop& loop, Worker& w) {
    WakeHandler h = std::move(*w.parked);
    w.parked.reset();
    if (loop.single_threaded) std::move(h)();
    else asio::dispatch(std::move(h));
}

void hand_to(Worker& w, Delegation& d, faas::FaasExecutor& executor, JobCall&& call) {
    d.worker = &w;
    w.job = &d;
    w.executor = &executor;
    w.call = std::move(call);
}

void delegate(Loop& loop, faas::FaasExecutor& executor, JobCall&& call) {
    Delegation& d = loop.delegations.acquire();
    d.job_id = call.job_id();
    d.metadata = call.metadata();  // the call's own copy goes to the executor
    ++loop.delegations_running;

    if (!loop.idle_workers.empty()) {
        Worker& w = *loop.idle_workers.back();
        loop.idle_workers.pop_back();
        hand_to(w, d, executor, std::move(call));
        wake(loop, w);
        return;
    }
    try {
        if (loop.workers.size() < loop.max_workers) {
            loop.workers.push_back(std::make_unique<Worker>(loop.new_task_executor()));
            Worker& w = *loop.workers.back();
            hand_to(w, d, executor, std::move(call));
            asio::co_spawn(w.ex, run_worker(&loop, &w), WorkerEnded{loop.shared_from_this(), &w});
        } else if (loop.single_threaded) {
            asio::co_spawn(loop.io, executor.invoke(std::move(call)), OwnTaskEnded{loop.shared_from_this(), &d});
        } else {
            auto ex = loop.new_task_executor();
            asio::co_spawn(ex, executor.invoke(std::move(call)),
                           OwnTaskEndedOnStrand{{loop.shared_from_this(), &d}, ex});
        }
    } catch (...) {
        // invoke() threw before its coroutine began, or no memory: the
        // firewall. A slot that already reported back is left alone.
        loop.delegation_done(d, exception_result(std::current_exception()));
    }
}

/// Starts a task of `call` on its executor; its outcome goes back to the loop.
void spawn_task(Loop& loop, const std::shared_ptr<CallState>& call, asio::cancellation_signal& signal,
                asio::awaitable<std::optional<JobResult>> task) {
    asio::co_spawn(call->task_ex, std::move(task),
                   asio::bind_cancellation_slot(
                       signal.slot(), [loop = loop.shared_from_this(), call](std::exception_ptr e,
                                                                             std::optional<JobResult> result) mutable {
                           if (e) result = exception_result(e);  // the exception firewall
                           auto& loop_ex = loop->loop_ex;
                           asio::dispatch(loop_ex, [loop = std::move(loop), call = std::move(call),
                                                    result = std::move(result)]() mutable {
                               loop->task_done(call, result);
                           });
                       }));
}

asio::awaitable<std::optional<JobResult>> local_task(Loop& loop, CallState& state, const Handler& h, JobCall call) {
    asio::awaitable<std::optional<JobResult>> task;
    if (h.async_fn) {
        task = h.async_fn(std::move(call), loop.parts->router.context());
    } else {
        auto op = std::make_shared<BlockingOp>();
        op->ex = state.task_ex;
        state.blocking.push_front(op);
        // The pool job holds the parts, so the handler outlives the run if it must.
        task = async_run_blocking(
            loop.blocking, std::move(op),
            [parts = loop.parts, fn = &h.blocking_fn, call = std::move(call)]() mutable {
                return (*fn)(std::move(call), parts->router.context());
            },
            asio::use_awaitable);
    }
    if (loop.config.job_timeout) task = with_deadline(std::move(task), *loop.config.job_timeout);
    return task;
}

std::optional<JobResult> run_inline(const Handler& h, JobCall call, const RouterContext& ctx) {
    try {
        return h.inline_fn(std::move(call), ctx);
    } catch (...) {
        return exception_result(std::current_exception());
    }
}

/// The fast path: every handler is inline, so the call needs no task, no
/// CallState and no extra coroutine. Its slot is released with its last result.
void run_inline_only(Loop& loop, const std::vector<const Handler*>& handlers, JobCall call) {
    const JobCall stamp(call.job_id(), {}, call.metadata());
    const auto& ctx = loop.parts->router.context();
    std::optional<JobResult> pending;
    for (std::size_t i = 0; i < handlers.size(); ++i) {
        std::optional<JobResult> r = i + 1 < handlers.size() ? run_inline(*handlers[i], JobCall(call), ctx)
                                                             : run_inline(*handlers[i], std::move(call), ctx);
        if (!r) continue;
        r->stamp_from(stamp);
        if (pending) loop.enqueue(std::move(*pending), nullptr, false);
        pending = std::move(r);
    }
    if (pending) loop.enqueue(std::move(*pending), nullptr, true);
    else loop.release_slot();
}

void unrouted(Loop& loop, JobCall call) {
    if (loop.config.report_unrouted) {
        auto r = JobResult::error(job_errc::no_route, "no handler is routed for job " + call.job_id().to_string());
        r.stamp_from(call);
        loop.enqueue(std::move(r), nullptr, true);
    } else {
        loop.log(LogLevel::warn, describe_call(call.job_id(), call.metadata()) +
                                     " has no handler and is dropped (report_unrouted is off)");
        loop.release_slot();
    }
}

}  // namespace

void dispatch(Loop& loop, JobCall call) {
    const Parts& parts = *loop.parts;
    // The registry is asked first, as in the original.
    if (!parts.registry.empty()) {
        if (faas::FaasExecutor* executor = parts.registry.find(call.job_id())) {
            Counters::add(loop.counters->calls_delegated);
            return delegate(loop, *executor, std::move(call));
        }
    }

    const std::vector<const Handler*> handlers = parts.router.handlers_for(call.job_id());
    if (handlers.empty()) return unrouted(loop, std::move(call));

    std::uint32_t tasks = 0;
    for (const Handler* h : handlers)
        if (!h->inline_fn) ++tasks;
    if (tasks == 0) return run_inline_only(loop, handlers, std::move(call));

    // Mixed or async: the call is tracked until its last task ends.
    auto state = loop.new_call(call, tasks);
    bool first_task = true;
    for (std::size_t i = 0; i < handlers.size(); ++i) {
        const Handler& h = *handlers[i];
        JobCall c = i + 1 < handlers.size() ? JobCall(call) : std::move(call);
        if (h.inline_fn) {
            if (auto r = run_inline(h, std::move(c), parts.router.context())) {
                r->stamp_from(state->stamp);
                loop.enqueue(std::move(*r), state, false);
            }
            continue;
        }
        asio::cancellation_signal& signal = first_task ? state->signal : state->more.emplace_front();
        first_task = false;
        try {
            spawn_task(loop, state, signal, local_task(loop, *state, h, std::move(c)));
        } catch (...) {
            std::optional<JobResult> failed = exception_result(std::current_exception());
                loop.task_done(state, failed);
        }
    }
}

}  // namespace blueprint::runner_detail
