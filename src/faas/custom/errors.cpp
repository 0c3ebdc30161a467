// HTTP client failures and HTTP statuses as FaasError kinds.
#include <blueprint/faas/custom.hpp>

#include "faas/custom/platform_api.hpp"

#include <boost/asio/error.hpp>

namespace blueprint::faas::custom {

// The choices below that the header does not spell out:
// - `cancelled` (the awaiting coroutine was cancelled) is a timeout: the
//   runner cancels a delegated call when its deadline or shutdown grace ends,
//   and in both cases the call ran out of time. The message says "cancelled".
// - `response_too_large` is serialization: the reply exists but cannot be
//   accepted within ClientOptions::max_response_bytes.
// - `protocol_error` (not HTTP at all) is infrastructure, like a reset.
// - `invalid_url` is invocation_failed: a configuration mistake, not load
//   or network, so it is never transient.
FaasError to_faas_error(const http::HttpError& error) {
    using http::http_errc;
    faas_errc kind = faas_errc::infrastructure;
    if (error.code.category() == http::http_category()) {
        switch (static_cast<http_errc>(error.code.value())) {
        case http_errc::invalid_url: kind = faas_errc::invocation_failed; break;
        case http_errc::resolve_failed:
        case http_errc::connect_failed:
        case http_errc::tls_failed:
        case http_errc::connection_lost:
        case http_errc::protocol_error:
        case http_errc::proxy_failed: kind = faas_errc::infrastructure; break;
        case http_errc::connect_timeout:
        case http_errc::timeout:
        case http_errc::cancelled: kind = faas_errc::timeout; break;
        case http_errc::response_too_large: kind = faas_errc::serialization; break;
        }
    } else if (error.code == boost::asio::error::operation_aborted) {
        kind = faas_errc::timeout;
    }
    std::string message = error.message.empty() ? error.code.message() : error.message;
    FaasError out = FaasError::make(kind, std::move(message));
    if (error.last_response) out.http_status = error.last_response->status;
    return out;
}

FaasError status_to_faas_error(int status, std::string_view body, std::string_view context) {
    faas_errc kind;
    if (status == 404) {
        kind = faas_errc::not_found;
    } else if (status == 401 || status == 403) {
        kind = faas_errc::unauthorized;
    } else if (status == 429 || status == 503) {
        kind = faas_errc::throttled;
    } else if (status >= 500 && status <= 599) {
        kind = faas_errc::function_error;
    } else {
        // 400, 405, 409, 413, 415, 3xx, ...: the request was refused as made.
        kind = faas_errc::invocation_failed;
    }
    std::string message(context);
    if (!message.empty()) message += ": ";
    message += "HTTP " + std::to_string(status);
    if (status == 413) message += " (payload too large)";
    FaasError out = FaasError::make(kind, {});
    out.http_status = status;
    if (auto parsed = detail::parse_error_body(body); parsed && !parsed->message.empty()) {
        message += ": " + detail::body_excerpt(parsed->message);
        if (kind == faas_errc::function_error) out.function_error_type = parsed->type;
    } else if (!body.empty()) {
        message += ": " + detail::body_excerpt(body);
    }
    out.message = std::move(message);
    return out;
}

}  // namespace blueprint::faas::custom
