// FaasError: how a FaaS call failed, as a typed value.
#pragma once

#include <blueprint/error.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace blueprint::faas {

/// The kinds of FaaS failure (ARCHITECTURE.md §3).
enum class faas_errc {
    /// The request could not be completed for a reason not listed below.
    invocation_failed = 1,
    /// The call ran past its deadline (FaasConfig::timeout_secs).
    timeout,
    /// The function ran and failed; `FaasError::function_error_type` says how.
    function_error,
    /// A request or reply could not be encoded or decoded.
    serialization,
    /// The provider or network failed: refused, reset, DNS, TLS, 5xx from the platform.
    infrastructure,
    /// The provider refused for load (429, 503, TooManyRequestsException).
    throttled,
    /// The function, deployment or route does not exist.
    not_found,
    /// Credentials are missing, wrong or lack permission (401, 403).
    unauthorized,
    /// The provider or executor does not offer this operation.
    unsupported,
};

const boost::system::error_category& faas_category() noexcept;
inline error_code make_error_code(faas_errc e) noexcept { return {static_cast<int>(e), faas_category()}; }

/// A FaaS failure: its kind, a message for people, and what the peer said.
struct FaasError {
    faas_errc kind = faas_errc::invocation_failed;
    std::string message;
    /// HTTP status of the reply that caused it, 0 when there was none.
    int http_status = 0;
    /// The function's own error type (Lambda errorType, for example).
    std::string function_error_type;
    /// The provider's request id, when it gave one.
    std::string request_id;
    /// A wait the provider asked for (Retry-After), when it gave one.
    std::optional<std::chrono::milliseconds> retry_after;

    error_code code() const noexcept { return make_error_code(kind); }
    /// "faas.<kind>: message (HTTP 503, request id ...)".
    std::string to_string() const;
    /// Whether a retry may succeed: throttled, infrastructure, timeout of a
    /// connect. The executor still decides whether the request is safe to repeat.
    bool is_transient() const noexcept;

    static FaasError make(faas_errc kind, std::string message) {
        // Member-wise, not FaasError{kind, message}: that form trips -Wmissing-field-initializers.
        FaasError e;
        e.kind = kind;
        e.message = std::move(message);
        return e;
    }
};

/// Short name of a kind, e.g. "throttled".
std::string_view to_string(faas_errc kind) noexcept;

}  // namespace blueprint::faas

template <> struct boost::system::is_error_code_enum<blueprint::faas::faas_errc> : std::true_type {};
