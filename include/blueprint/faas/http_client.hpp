// The async HTTP/1.1 client shared by every provider. Beast and OpenSSL stay
// behind the pimpl.
#pragma once

#include <blueprint/error.hpp>
#include <blueprint/faas/error.hpp>
#include <blueprint/log.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace blueprint::faas::http {

/// Failures of the HTTP client. (HTTP statuses are not errors here: any
/// complete response is returned, whatever its status.)
enum class http_errc {
    /// The URL could not be parsed or has an unsupported scheme.
    invalid_url = 1,
    /// Name resolution failed.
    resolve_failed,
    /// The TCP connection was refused or could not be made.
    connect_failed,
    /// The connect deadline passed.
    connect_timeout,
    /// The request deadline passed before the response was complete.
    timeout,
    /// TLS handshake failed: untrusted certificate, wrong host name, protocol.
    tls_failed,
    /// The peer closed or reset the connection mid-exchange.
    connection_lost,
    /// The response was not valid HTTP/1.1.
    protocol_error,
    /// The response body exceeded `ClientOptions::max_response_bytes`.
    response_too_large,
    /// The proxy refused the CONNECT tunnel.
    proxy_failed,
    /// The operation was cancelled by the caller.
    cancelled,
};

const boost::system::error_category& http_category() noexcept;
inline error_code make_error_code(http_errc e) noexcept { return {static_cast<int>(e), http_category()}; }

using Headers = std::vector<std::pair<std::string, std::string>>;

/// Case-insensitive lookup; the first match, or empty.
std::string_view find_header(const Headers& headers, std::string_view name) noexcept;

/// When and how often a request is retried. Shared by every provider.
struct RetryPolicy {
    /// Attempts in all, the first included. 1 disables retries.
    unsigned max_attempts = 4;
    std::chrono::milliseconds initial_backoff{100};
    std::chrono::milliseconds max_backoff{5'000};
    double multiplier = 2.0;
    /// Retries stop once this much time has passed since the first attempt.
    std::chrono::milliseconds max_elapsed{30'000};
    /// Statuses worth another attempt.
    std::vector<int> retry_statuses{429, 502, 503, 504};

    /// Backoff before attempt `attempt` (1-based, >= 2): full jitter over
    /// the exponential bound, or `retry_after` when the peer sent one and it
    /// is within `max_backoff`. `random01` is a uniform draw in [0,1).
    std::chrono::milliseconds backoff(unsigned attempt, std::optional<std::chrono::milliseconds> retry_after,
                                      double random01) const noexcept;
    static RetryPolicy none() { return RetryPolicy{.max_attempts = 1}; }
};

/// Parses Retry-After: delta-seconds or an HTTP-date (relative to `now`).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

struct Request {
    std::string method = "GET";
    /// Absolute http:// or https:// URL.
    std::string url;
    Headers headers;
    std::string body;
    /// Whole-request deadline, overriding ClientOptions::request_timeout.
    std::optional<std::chrono::milliseconds> timeout;
    /// May be sent again after a failure or a retryable status. GET, HEAD,
    /// PUT and DELETE are idempotent by default; set true for a POST the
    /// provider documents as safe to repeat.
    std::optional<bool> idempotent;
    /// Overrides ClientOptions::retry for this request.
    std::optional<RetryPolicy> retry;
};

struct Response {
    int status = 0;
    Headers headers;
    std::string body;
    /// Attempts made, the successful one included.
    unsigned attempts = 1;

    std::string_view header(std::string_view name) const noexcept { return find_header(headers, name); }
};

/// The client's own failure: a code plus a message that names the URL's
/// host (never its query or credentials).
struct HttpError {
    error_code code;
    std::string message;
    /// Last response seen before giving up on retries, if any.
    std::optional<Response> last_response;
};

/// A client failure (no usable reply) as a FaasError, for every provider:
/// deadline or cancellation -> timeout, a reply over max_response_bytes ->
/// serialization, a bad URL -> invocation_failed, anything else (refused,
/// reset, DNS, TLS, proxy, not HTTP) -> infrastructure. The message is
/// "{context}: {error}" (just the error when `context` is empty); the last
/// response's status, if any, is kept.
FaasError to_faas_error(const HttpError& error, std::string_view context);

struct ClientOptions {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds request_timeout{300'000};
    /// Cap on a response body; larger ones fail with response_too_large.
    std::size_t max_response_bytes = 64 * 1024 * 1024;
    /// Idle keep-alive connections kept per host.
    std::size_t max_idle_per_host = 64;
    /// An idle connection older than this is closed instead of reused.
    std::chrono::milliseconds idle_timeout{60'000};
    /// TLS peer verification. Turn off only in tests.
    bool verify_tls = true;
    /// Extra CA bundle (PEM) trusted besides the system store.
    std::string ca_file;
    /// Honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and lowercase forms).
    bool use_env_proxy = true;
    RetryPolicy retry;
    /// "User-Agent" header.
    std::string user_agent = "blueprint-faas/0.1";
    LogSink log;
};

/// A keep-alive HTTP/1.1 client with a connection pool per host.
///
/// Thread-safe; copies share one pool. Each request runs on the awaiting
/// coroutine's executor. Cancelling the awaiting coroutine closes the
/// connection in use and completes with `http_errc::cancelled`.
class HttpClient {
public:
    explicit HttpClient(ClientOptions options = {});

    /// Sends `request`, retrying per its policy, and returns the last
    /// complete response, whatever its status.
    boost::asio::awaitable<std::expected<Response, HttpError>> send(Request request) const;

    const ClientOptions& options() const noexcept;
    /// Idle connections in the pool, for tests.
    std::size_t idle_connections() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace blueprint::faas::http

template <> struct boost::system::is_error_code_enum<blueprint::faas::http::http_errc> : std::true_type {};
