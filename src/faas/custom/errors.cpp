// HTTP client failures and HTTP statuses as FaasError kinds.
#include <blueprint/faas/custom.hpp>

#include "faas/custom/platform_api.hpp"

namespace blueprint::faas::custom {

FaasError to_faas_error(const http::HttpError& error) { return http::to_faas_error(error, {}); }

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
