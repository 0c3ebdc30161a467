// Intake: producer pumps. Merge = one pump per producer on the loop;
// backpressure = a pump reserves a slot before it asks for a call.
#include "intake.hpp"

#include "dispatch.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>

namespace blueprint::runner_detail {
namespace {

void on_producer_error(Loop& loop, const Producer& producer, const std::exception_ptr& e) {
    Counters::add(loop.counters->producer_errors);
    std::string what = "producer '" + producer.name() + "' failed: " + exception_message(e);
    if (loop.config.on_producer_error == FailurePolicy::stop) {
        loop.log(LogLevel::error, what);
        loop.begin_shutdown(Error{make_error_code(runner_errc::producer_failed), what}, what);
    } else {
        loop.log(LogLevel::warn, what + "; dropping it, the other producers go on");
    }
}

asio::awaitable<void> pump_calls(Loop& loop, std::size_t index) {
    Producer& producer = *loop.parts->producers[index];
    for (;;) {
        while (!loop.stopping && loop.in_flight + loop.reserved >= loop.max_in_flight)
            co_await loop.slot_freed.wait();
        if (loop.stopping) co_return;

        // Never pull without room: the slot is ours before next() is called,
        // so several pumps together cannot overshoot max_in_flight.
        ++loop.reserved;
        std::optional<JobCall> call;
        std::exception_ptr error;
        try {
            call = co_await producer.next();
        } catch (...) {
            error = std::current_exception();
        }
        if (error || !call) {
            --loop.reserved;
            loop.slot_freed.notify();
            // A producer failing on its cancellation at shutdown is not an error.
            if (error && !loop.stopping) on_producer_error(loop, producer, error);
            co_return;
        }
        if (loop.run_over) {
            // Only a producer that ignored cancellation gets here (async_run):
            // there is no one left to deliver to.
            --loop.reserved;
            loop.log(LogLevel::error, describe_call(call->job_id(), call->metadata()) +
                                          " arrived after the run ended and is dropped");
            co_return;
        }
        loop.call_received();
        if (loop.stopping) {
            loop.cancel_unstarted(std::move(*call));
            co_return;
        }
        dispatch(loop, std::move(*call));
    }
}

asio::awaitable<void> pump(std::shared_ptr<Loop> loop, std::size_t index) {
    try {
        co_await pump_calls(*loop, index);
    } catch (...) {
        // pump_calls catches the producer's exceptions; this is only our own
        // failure (bad_alloc). The pump must still be accounted as ended.
        loop->log(LogLevel::error, "producer pump failed: " + exception_message(std::current_exception()));
    }
    loop->pump_active[index] = false;
    --loop->pumps_active;
    loop->changed.notify();
}

}  // namespace

void start_pumps(const std::shared_ptr<Loop>& loop) {
    const std::size_t n = loop->parts->producers.size();
    loop->pumps_active = n;
    loop->pump_active.assign(n, true);
    loop->pump_signals.clear();
    for (std::size_t i = 0; i < n; ++i) loop->pump_signals.push_back(std::make_unique<asio::cancellation_signal>());
    for (std::size_t i = 0; i < n; ++i) {
        asio::co_spawn(loop->loop_ex, pump(loop, i),
                       asio::bind_cancellation_slot(loop->pump_signals[i]->slot(), [](std::exception_ptr) {}));
    }
}

}  // namespace blueprint::runner_detail
