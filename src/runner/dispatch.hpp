// Dispatch: runs one call on its FaaS executor or through the router.
// Private to src/runner/.
#pragma once

#include "loop.hpp"

namespace blueprint::runner_detail {

/// Runs `call`, on the loop. A registered job goes to its executor (one
/// result, always); any other to the router's handlers: inline ones right
/// here, async ones as job tasks, blocking ones on the thread pool. Every
/// result is stamped with the call's job id and metadata; whatever a handler
/// or executor throws becomes a `job_errc::handler_exception` result.
void dispatch(Loop& loop, JobCall call);

}  // namespace blueprint::runner_detail
