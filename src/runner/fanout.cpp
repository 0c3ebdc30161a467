// Fan-out: every result to every consumer, one result at a time, in order.
#include "fanout.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace blueprint::runner_detail {
namespace {

asio::awaitable<void> deliver_all(std::shared_ptr<Loop> loop) {
    const auto& consumers = loop->parts->consumers;
    const std::size_t n = consumers.size();
    for (;;) {
        if (loop->queue.empty()) {
            if (loop->fanout_closing) co_return;
            co_await loop->queue_ready.wait();
            continue;
        }
        // Delivered in place: push_back never invalidates references into
        // a deque, and only this coroutine pops.
        Delivery& d = loop->queue.front();
        const bool was_error = d.result.is_error();
        for (std::size_t i = 0; i < n; ++i) {
            Consumer& consumer = *consumers[i];
            try {
                // Copies for all but the last consumer, which gets the original.
                if (i + 1 < n) co_await consumer.send(d.result);
                else co_await consumer.send(std::move(d.result));
            } catch (...) {
                // One failing consumer must not starve the others.
                Counters::add(loop->counters->consumer_errors);
                loop->log(LogLevel::warn, "consumer '" + consumer.name() + "' failed on " +
                                              describe_call(d.call ? d.call->stamp.job_id() : d.result.job_id(),
                                                            d.call ? d.call->stamp.metadata() : Metadata{}) +
                                              ": " + exception_message(std::current_exception()));
            }
        }
        loop->delivered(d, was_error);
        loop->queue.pop_front();
    }
}

}  // namespace

void start_fanout(const std::shared_ptr<Loop>& loop) {
    asio::co_spawn(loop->loop_ex, deliver_all(loop), [loop](std::exception_ptr e) {
        if (e) loop->log(LogLevel::error, "result fan-out failed: " + exception_message(e));
    });
}

}  // namespace blueprint::runner_detail
