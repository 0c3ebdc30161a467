// The Lambda Runtime API's protocol logic, without sockets (STYLE.md habit 7):
// parsing AWS_LAMBDA_RUNTIME_API, reading an invocation's headers, and the
// error document. lambda_mode.cpp only moves bytes. Private header.
//
// Reference: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
#pragma once

#include <blueprint/function.hpp>

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::function::detail::lambda {

/// Where the Runtime API lives: "host:port", optionally followed by a path
/// prefix ("127.0.0.1:9001/rt/abc"), which the platform may use to tell
/// instances apart on one port. The prefix has no trailing slash.
struct RuntimeEndpoint {
    std::string host;
    std::string port;
    std::string prefix;

    /// prefix + "/2018-06-01" + path, e.g. "/2018-06-01/runtime/invocation/next".
    std::string target(std::string_view path) const;
};

/// Parses AWS_LAMBDA_RUNTIME_API; a message on failure. An IPv6 host is
/// written in brackets ("[::1]:9001"). The port is required (AWS always sets it).
std::expected<RuntimeEndpoint, std::string> parse_runtime_api(std::string_view value);

/// Sent by bpfaas local with each event ("1"): this Runtime API server
/// takes pipelined requests, so the runtime may send its `response` and the
/// next `next` in one write. Not an AWS header; the runtime pipelines only
/// when it sees it. See docs/local-platform.md.
inline constexpr std::string_view pipelining_header = "Blueprint-Runtime-Pipelining";

/// The headers of a `next` reply that matter to the runtime.
struct NextHeaders {
    std::string_view request_id;   // Lambda-Runtime-Aws-Request-Id
    std::string_view deadline_ms;  // Lambda-Runtime-Deadline-Ms
    std::string_view function_arn; // Lambda-Runtime-Invoked-Function-Arn
    std::string_view trace_id;     // Lambda-Runtime-Trace-Id
};

/// The invocation context of a `next` reply; an error message when the
/// request id is missing or holds characters that cannot go in a URL path
/// (it is echoed in /invocation/{id}/...). A missing or malformed deadline
/// is not an error: the context just has none.
std::expected<InvocationContext, std::string> context_from_headers(const NextHeaders& headers);

/// `{"errorMessage":...,"errorType":...,"stackTrace":[]}`.
std::string error_document(std::string_view message, std::string_view type);

/// What the runtime does after a Runtime API reply.
enum class StatusAction {
    /// 2xx: carry on.
    proceed,
    /// 403 or 500 (and any other 5xx): the environment is gone or broken;
    /// the runtime must exit (AWS's documented contract).
    exit,
    /// 4xx other than 403 (e.g. 400 for an unknown request id, 413 for an
    /// oversize response): this invocation is lost, but the loop goes on.
    skip,
};
StatusAction classify_status(unsigned status) noexcept;

}  // namespace blueprint::function::detail::lambda
