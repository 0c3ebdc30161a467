// The function runtime's modes (ARCHITECTURE.md §5). Private to blueprint_function.
//
// serve() picks one of these from the environment; each returns the process
// exit status and never throws. Lambda and Azure live in their own files
// (lambda_mode.cpp, azure_mode.cpp) so their loops can be filled in
// independently of the HTTP and stdio modes.
#pragma once

#include <blueprint/function.hpp>

#include "function/protocol.hpp"

#include <expected>
#include <functional>
#include <string_view>

namespace blueprint::function::detail {

/// Lets a mode built on run_http route requests its own way and wrap the
/// replies (Azure's custom handler, azure_mode.cpp). The server still reads,
/// runs the handler, answers warm-ups and writes; the front only maps.
struct HttpFront {
    struct Job {
        /// Passed to make_job_reply (RouteKind::job for the Blueprint shape).
        Route route;
        ParsedJob parsed;
        /// Applied to the job's or warm-up's reply; empty means as is.
        std::function<HttpReply(HttpReply)> finish;
    };

    using Header = std::function<std::string_view(std::string_view)>;
    /// A job to run, or a reply to send at once. May consume `body`.
    std::function<std::expected<Job, HttpReply>(std::string_view method, std::string_view target,
                                                const Header& header, Bytes&& body)>
        accept;
};

/// HTTP mode (also the base of Azure's custom-handler mode): serves until
/// SIGTERM/SIGINT, then finishes in-flight requests and returns 0.
/// `mode` is what handlers see in InvocationContext::mode ("http", "azure").
/// `front` (optional, Azure) replaces the HTTP routes: see HttpFront.
int run_http(const Handler& handler, const ServeOptions& options, unsigned short port, std::string_view mode,
             const HttpFront* front = nullptr);

/// One JSON request on stdin, one reply on stdout. Exit 0 on success, 1 on a
/// job error (the error reply is still written), 2 on bad input.
int run_stdio(const Handler& handler, const ServeOptions& options);

/// The Lambda Runtime API loop (§7). `runtime_api` is AWS_LAMBDA_RUNTIME_API.
int run_lambda(const Handler& handler, const ServeOptions& options, std::string_view runtime_api);

/// Azure custom handler (§9). `port_text` is FUNCTIONS_CUSTOMHANDLER_PORT.
int run_azure(const Handler& handler, const ServeOptions& options, std::string_view port_text);

/// Runs the user's handler behind the exception firewall: whatever it throws
/// becomes an error JobResult of type "HandlerException".
JobResult call_handler(const Handler& handler, JobCall call, const InvocationContext& context) noexcept;

}  // namespace blueprint::function::detail
