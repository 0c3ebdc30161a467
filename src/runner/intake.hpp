// Intake: one pump coroutine per producer merges the producers into the loop,
// pulling only while there is room (backpressure). Private to src/runner/.
#pragma once

#include "loop.hpp"

namespace blueprint::runner_detail {

/// Starts one pump per producer on the loop. Each pump reserves a slot
/// before it calls `next()`, so `in_flight` never passes `max_in_flight`,
/// and ends on the producer's end, its error, or shutdown (terminal
/// cancellation of a pending `next()` through `Loop::pump_signals`).
void start_pumps(const std::shared_ptr<Loop>& loop);

}  // namespace blueprint::runner_detail
