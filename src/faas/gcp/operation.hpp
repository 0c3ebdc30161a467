// Long-running operations (google.longrunning.Operation) and the decision
// of when to poll again. Pure: no I/O.
#pragma once

#include <blueprint/faas/error.hpp>

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::faas::gcp::detail {

/// A google.rpc.Status, as an operation's `error` carries it.
struct RpcStatus {
    int code = 0;  ///< gRPC code (5 NOT_FOUND, 7 PERMISSION_DENIED, ...)
    std::string message;
};

struct Operation {
    std::string name;
    bool done = false;
    std::optional<RpcStatus> error;
};

/// Parses an Operation; `name` and a boolean-or-absent `done` are required.
std::expected<Operation, FaasError> parse_operation(std::string_view body);

/// The FaasError kind of a gRPC status code (canonical codes, google.rpc.Code).
faas_errc kind_for_rpc_code(int code) noexcept;
/// The kind for the string form ("NOT_FOUND", "RESOURCE_EXHAUSTED", ...),
/// nullopt when unknown.
std::optional<faas_errc> kind_for_rpc_status(std::string_view status) noexcept;

struct PollPolicy {
    std::chrono::milliseconds initial{1'000};
    std::chrono::milliseconds max{10'000};
    std::chrono::milliseconds timeout{std::chrono::minutes(20)};
};

/// What to do after reading the operation for the `polls`-th time, `elapsed`
/// after the request that started it.
struct PollDecision {
    enum Kind {
        wait,       ///< not done: poll again after `delay`
        succeeded,  ///< done without error
        failed,     ///< done with an error: `error`
        timed_out,  ///< not done, and the next poll would pass the timeout: `error`
    } kind = wait;
    std::chrono::milliseconds delay{0};
    std::optional<FaasError> error;
};

/// Waits grow 1.5x from `initial` up to `max`, and stop at `timeout`.
/// `what` prefixes error messages (e.g. "deploy blueprint-job-7").
PollDecision decide_poll(const Operation& op, unsigned polls, std::chrono::milliseconds elapsed,
                         const PollPolicy& policy, std::string_view what);

}  // namespace blueprint::faas::gcp::detail
