// The run's bookkeeping: slots, the result queue, the supervisor and the
// shutdown sequence. Everything here runs on the loop executor.
#include "loop.hpp"

#include "fanout.hpp"
#include "intake.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace blueprint::runner_detail {

void abandon_blocking(BlockingOp& op);  // dispatch.cpp

RunnerStats Counters::snapshot() const {
    constexpr auto r = std::memory_order_relaxed;
    RunnerStats s;
    s.calls_received = calls_received.load(r);
    s.calls_finished = calls_finished.load(r);
    s.calls_delegated = calls_delegated.load(r);
    s.results = results.load(r);
    s.error_results = error_results.load(r);
    s.cancelled = cancelled.load(r);
    s.consumer_errors = consumer_errors.load(r);
    s.producer_errors = producer_errors.load(r);
    s.in_flight = in_flight.load(r);
    s.peak_in_flight = peak_in_flight.load(r);
    return s;
}

Event::Event(const asio::any_io_executor& ex) : timer_(ex) {
    // Set once: changing the expiry would cancel the other waiters.
    timer_.expires_at(asio::steady_timer::time_point::max());
}

asio::awaitable<void> Event::wait() {
    ++pending_;
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

std::string describe_call(const JobId& id, const Metadata& metadata) {
    std::string out = "job " + id.to_string();
    if (!metadata.empty()) {
        out += ' ';
        out += metadata.to_log_string();
    }
    return out;
}

std::string exception_message(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}

JobResult exception_result(const std::exception_ptr& e) {
    return JobResult::error(job_errc::handler_exception, exception_message(e));
}

void stamp_result(JobResult& result, const JobId& job_id, Metadata&& call_metadata) {
    // As JobResult::stamp_from, without copying the call's metadata again.
    result.set_job_id(job_id);
    if (!result.metadata().empty()) call_metadata.merge_from(result.metadata());  // the result's entries win
    result.metadata() = std::move(call_metadata);
}

Delegation& DelegationPool::acquire() {
    if (!free_) {
        auto chunk = std::make_unique<Delegation[]>(chunk_size);
        for (std::size_t i = chunk_size; i-- > 0;) {
            chunk[i].next_free = free_;
            free_ = &chunk[i];
        }
        chunks_.push_back(std::move(chunk));
    }
    Delegation& d = *free_;
    free_ = d.next_free;
    d.worker = nullptr;
    d.in_use = true;
    return d;
}

void DelegationPool::release(Delegation& d) {
    d.metadata = Metadata{};
    d.abandoned = false;
    d.in_use = false;
    d.next_free = free_;  // last in, first out: the warmest slot is reused first
    free_ = &d;
}

Loop::Loop(std::shared_ptr<const Parts> p, std::shared_ptr<Counters> c, asio::any_io_executor io_ex,
           bool single, BlockingPool* pool)
    : parts(std::move(p)),
      config(parts->config),
      counters(std::move(c)),
      io(std::move(io_ex)),
      // One io thread needs no strand: the loop is serial already.
      loop_ex(single ? io : asio::any_io_executor(asio::make_strand(io))),
      single_threaded(single),
      blocking(pool),
      max_in_flight(std::max<std::size_t>(1, parts->config.max_in_flight)),
      slot_freed(loop_ex),
      changed(loop_ex),
      queue_ready(loop_ex),
      max_workers(std::min<std::size_t>(max_in_flight, max_pool_workers)),
      grace_timer(loop_ex) {}

asio::any_io_executor Loop::new_task_executor() const {
    // Job tasks run in parallel on the io threads, each on its own strand so
    // that cancelling it from the loop (a post to that strand) is never a
    // data race with the task itself.
    if (single_threaded) return io;
    return asio::make_strand(io);
}

void Loop::log(LogLevel level, const std::string& message) const noexcept {
    if (!config.log) return;
    try {
        config.log(level, message);
    } catch (...) {
        // A failing log sink must not take the loop down.
    }
}

asio::awaitable<void> Loop::wait_changed() {
    // Cancellation of the coroutine awaiting async_run arrives here (as a
    // cancelled wait or just a flag); it means "shut down gracefully".
    auto check = [this]() -> asio::awaitable<void> {
        auto state = co_await asio::this_coro::cancellation_state;
        if (state.cancelled() != asio::cancellation_type::none) {
            begin_shutdown(std::nullopt, "the coroutine awaiting async_run was cancelled");
            co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        }
    };
    co_await check();
    co_await changed.wait();
    co_await check();
}

asio::awaitable<std::expected<RunnerStats, Error>> Loop::supervise() {
    // The drain must finish even when the awaiting coroutine is cancelled.
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());

    auto self = shared_from_this();
    start_fanout(self);
    if (shutdown_at_start) begin_shutdown(std::nullopt, "shutdown() was called before run");
    start_pumps(self);

    // Phase 1: until every producer ended and every call was delivered, or shutdown.
    while (!stopping && (pumps_active > 0 || in_flight > 0)) co_await wait_changed();

    if (stopping) {
        // Phase 2: in-flight jobs (and producers honouring cancellation) may
        // finish within the grace period.
        grace_timer.expires_after(config.shutdown_grace);
        grace_timer.async_wait([self](const error_code& ec) {
            if (ec) return;
            self->grace_over = true;
            self->changed.notify();
        });
        while (!grace_over && (pumps_active > 0 || tasks_running())) co_await wait_changed();
        grace_timer.cancel();
        // Phase 3: whatever still runs gets one cancelled result each.
        if (tasks_running()) cancel_running();
        if (pumps_active > 0)
            log(LogLevel::warn, std::to_string(pumps_active) +
                                    " producer(s) did not end on cancellation; the runner stops waiting for them");
    }
    // Phase 4: every queued result reaches the consumers.
    while (in_flight > 0) co_await wait_changed();

    run_over = true;
    release_workers();
    fanout_closing = true;
    queue_ready.notify();
    if (failure) co_return std::unexpected(*failure);
    co_return counters->snapshot();
}

void Loop::begin_shutdown(std::optional<Error> why, std::string_view reason) {
    if (stopping || run_over) return;
    stopping = true;
    failure = std::move(why);
    log(LogLevel::info, "shutting down: " + std::string(reason));
    if (parts->shutdown_handler) {
        try {
            parts->shutdown_handler();
        } catch (...) {
            log(LogLevel::warn, "the shutdown handler threw: " + exception_message(std::current_exception()));
        }
    }
    // Stop the pumps: terminal cancellation of a pending next().
    for (std::size_t i = 0; i < pump_signals.size(); ++i)
        if (pump_active[i]) pump_signals[i]->emit(asio::cancellation_type::terminal);
    slot_freed.notify();
    changed.notify();
}

void Loop::call_received() {
    --reserved;
    ++in_flight;
    Counters::add(counters->calls_received);
    counters->in_flight.store(in_flight, std::memory_order_relaxed);
    if (in_flight > counters->peak_in_flight.load(std::memory_order_relaxed))
        counters->peak_in_flight.store(in_flight, std::memory_order_relaxed);
}

void Loop::enqueue(JobResult&& result, std::shared_ptr<CallState> call, bool releases_slot) {
    if (result.is_error()) {
        const JobError& err = result.error();
        std::string what = describe_call(result.job_id(), result.metadata()) + " failed: " +
                           err.code.category().name() + ": " + err.code.message();
        if (!err.message.empty()) what += ": " + err.message;
        log(LogLevel::warn, what);
        if (config.on_job_failure == FailurePolicy::stop && !stopping)
            begin_shutdown(Error{make_error_code(runner_errc::job_failed), what}, "a job failed");
    }
    if (call) ++call->undelivered;
    queue.emplace_back(std::move(result), std::move(call), releases_slot);
    queue_ready.notify();
}

void Loop::delivered(const Delivery& d, bool was_error) {
    Counters::add(counters->results);
    if (was_error) Counters::add(counters->error_results);
    if (d.call) {
        --d.call->undelivered;
        maybe_finish(*d.call);
    } else if (d.releases_slot) {
        release_slot();
    }
}

void Loop::release_slot() {
    --in_flight;
    Counters::add(counters->calls_finished);
    counters->in_flight.store(in_flight, std::memory_order_relaxed);
    slot_freed.notify();
    if (in_flight == 0) changed.notify();
}

void Loop::maybe_finish(CallState& call) {
    if (call.finished || call.running > 0 || call.undelivered > 0) return;
    call.finished = true;
    release_slot();
}

std::shared_ptr<CallState> Loop::new_call(const JobCall& call, std::uint32_t tasks) {
    auto state = std::make_shared<CallState>();
    state->stamp = JobCall(call.job_id(), {}, call.metadata());
    state->task_ex = new_task_executor();
    state->running = tasks;
    state->next = running_head;
    if (running_head) running_head->prev = state.get();
    running_head = state.get();
    return state;
}

void Loop::unlink(CallState& call) {
    const bool linked = call.prev != nullptr || running_head == &call;
    if (!linked) return;
    if (call.prev) call.prev->next = call.next;
    else running_head = call.next;
    if (call.next) call.next->prev = call.prev;
    call.prev = call.next = nullptr;
    if (!tasks_running()) changed.notify();
}

void Loop::task_done(const std::shared_ptr<CallState>& call, std::optional<JobResult>& result) {
    if (call->abandoned) return;  // its cancelled result was sent already
    --call->running;
    if (result) {
        result->stamp_from(call->stamp);
        enqueue(std::move(*result), call, false);
    }
    if (call->running == 0) {
        unlink(*call);
        maybe_finish(*call);
    }
}

void Loop::cancel_running() {
    const auto grace_ms = std::to_string(config.shutdown_grace.count());
    while (running_head != nullptr) {
        CallState& c = *running_head;
        unlink(c);
        c.abandoned = true;
        c.running = 0;
        Counters::add(counters->cancelled);
        auto result = JobResult::error(job_errc::cancelled,
                                       "still running when the shutdown grace period (" + grace_ms + " ms) ended");
        result.stamp_from(c.stamp);
        // Find the owning pointer: every task's completion holds one, and so
        // must the delivery. Blocking waits are released here, on the loop,
        // so that no pool thread ever completes into a finished run.
        std::shared_ptr<CallState> owner = c.shared_from_this();
        for (auto& op : c.blocking) abandon_blocking(*op);
        asio::post(c.task_ex, [owner] {
            owner->signal.emit(asio::cancellation_type::terminal);
            for (auto& s : owner->more) s.emit(asio::cancellation_type::terminal);
        });
        enqueue(std::move(result), std::move(owner), false);
    }
    delegations.for_each_in_use([&](Delegation& d) {
        if (d.abandoned) return;
        d.abandoned = true;
        --delegations_running;
        Counters::add(counters->cancelled);
        auto result = JobResult::error(job_errc::cancelled,
                                       "still running when the shutdown grace period (" + grace_ms + " ms) ended");
        stamp_result(result, d.job_id, std::move(d.metadata));
        // Terminal cancellation of the invocation, on its own executor. The
        // Loop (kept alive here) owns the signals, and the slot is not
        // released before its task reports back.
        if (Worker* w = d.worker) {
            asio::post(w->ex, [self = shared_from_this(), w] { w->signal.emit(asio::cancellation_type::terminal); });
        } else if (single_threaded) {
            asio::post(io, [self = shared_from_this(), &d] { d.signal.emit(asio::cancellation_type::terminal); });
        } else {
            // Its task's completion handler names the task's strand, so
            // co_spawn's own cancellation handler takes the signal there.
            d.signal.emit(asio::cancellation_type::terminal);
        }
        enqueue(std::move(result), nullptr, true);
    });
}

void Loop::delegation_done(Delegation& d, JobResult&& result) {
    if (!d.in_use) return;  // reported already (a spawn that failed after it ran)
    if (!d.abandoned) {
        --delegations_running;
        stamp_result(result, d.job_id, std::move(d.metadata));
        enqueue(std::move(result), nullptr, true);  // its one result: delivering it frees the slot
        if (!tasks_running()) changed.notify();
    }
    delegations.release(d);
}

void Loop::worker_finished(Worker& w, WakeHandler&& wake) {
    bool cancelled = false;
    if (Delegation* d = w.job) {
        w.job = nullptr;
        cancelled = d->abandoned;
        delegation_done(*d, std::move(*w.result));
        w.result.reset();
    }
    // No call comes after shutdown began; a cancelled worker's cancellation
    // state is spent. Either way it ends rather than waits.
    if (cancelled || stopping || run_over) {
        w.exit = true;
        asio::dispatch(std::move(wake));
        return;
    }
    w.parked.emplace(std::move(wake));
    idle_workers.push_back(&w);
}

void Loop::worker_ended(Worker& w, const std::exception_ptr& e) {
    if (Delegation* d = w.job) {
        // Ended with a call: it was cancelled (the result is dropped), or
        // the worker itself failed (its call still gets its one result).
        w.job = nullptr;
        delegation_done(*d, e ? exception_result(e) : std::move(*w.result));
        w.result.reset();
    }
    if (e) log(LogLevel::error, "a delegation worker failed: " + exception_message(e));
}

void Loop::release_workers() {
    std::vector<Worker*> idle;
    idle.swap(idle_workers);
    for (Worker* w : idle) {
        WakeHandler wake = std::move(*w->parked);
        w->parked.reset();
        w->exit = true;
        asio::dispatch(std::move(wake));
    }
}

void Loop::cancel_unstarted(JobCall call) {
    Counters::add(counters->cancelled);
    auto result = JobResult::error(job_errc::cancelled, "pulled from its producer after shutdown began");
    result.stamp_from(call);
    enqueue(std::move(result), nullptr, true);
}

}  // namespace blueprint::runner_detail
