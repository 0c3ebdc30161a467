// The function runtime: one handler binary that runs unchanged on every
// provider (ARCHITECTURE.md §5).
#pragma once

#include <blueprint/job.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

namespace blueprint::function {

/// What the runtime knows about the invocation, besides the call.
struct InvocationContext {
    /// The provider's request id, when it gives one (Lambda does).
    std::string request_id;
    /// When the platform will stop waiting, when it says (Lambda does).
    std::optional<std::chrono::system_clock::time_point> deadline;
    /// "lambda", "http", "azure" or "stdio".
    std::string mode;
};

/// The user's code. It may throw: the runtime turns any exception into an
/// error reply (type "HandlerException"), never a crash.
using Handler = std::function<JobResult(JobCall, const InvocationContext&)>;

struct ServeOptions {
    /// HTTP modes: the address to bind. 127.0.0.1 unless told otherwise.
    std::string host = "127.0.0.1";
    /// HTTP mode port; taken from PORT or --port when not set here.
    std::optional<unsigned short> port;
    /// Largest request body accepted; larger gets 413 (HTTP) or an error reply.
    std::size_t max_body_bytes = 64 * 1024 * 1024;
    /// Threads running handlers in HTTP modes.
    std::size_t threads = 4;
    /// Called once with the bound port (useful with port 0 in tests).
    std::function<void(unsigned short)> on_listening;
};

/// Chooses the mode from the environment and command line, serves until
/// stopped (SIGTERM/SIGINT finish in-flight requests), and returns the exit
/// status. Never throws.
///
/// 1. AWS_LAMBDA_RUNTIME_API set: the Lambda Runtime API loop.
/// 2. FUNCTIONS_CUSTOMHANDLER_PORT set: HTTP on that port (Azure).
/// 3. PORT set, or --port N: HTTP. --host H overrides the bind address.
/// 4. Otherwise: one request on stdin, one reply on stdout; exit 0 on success.
int serve(Handler handler, int argc = 0, char** argv = nullptr, ServeOptions options = {});

/// Convenience for handlers that only need the call.
int serve(std::function<JobResult(JobCall)> handler, int argc = 0, char** argv = nullptr, ServeOptions options = {});

}  // namespace blueprint::function
