// Fan-out: delivers every queued result to every consumer. Private to src/runner/.
#pragma once

#include "loop.hpp"

namespace blueprint::runner_detail {

/// Starts the one coroutine that drains `Loop::queue` on the loop: it awaits
/// each consumer's `send` in order (so no consumer is called concurrently
/// with itself) and ends once `fanout_closing` is set and the queue is empty.
void start_fanout(const std::shared_ptr<Loop>& loop);

}  // namespace blueprint::runner_detail
