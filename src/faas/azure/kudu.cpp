// Kudu zip deploy, its status polls, and invocation requests (pure; see protocol.hpp).
#include "faas/azure/protocol.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/json.hpp>

#include <algorithm>

namespace blueprint::faas::azure::detail {
namespace json = boost::json;

http::Request zipdeploy_request(std::string_view scm_base, std::string_view token, std::string body) {
    http::Request req;
    req.method = "POST";
    req.url = trim_slashes(scm_base) + "/api/zipdeploy?isAsync=true";
    req.headers.emplace_back("Authorization", "Bearer " + std::string(token));
    req.headers.emplace_back("Content-Type", "application/zip");
    req.body = std::move(body);
    // A repeated zip deploy of the same package is harmless, but it is large:
    // retry only what the client deems a refusal for load.
    req.idempotent = true;
    return req;
}

std::string absolute_location(std::string_view scm_base, std::string_view location) {
    if (location.starts_with("http://") || location.starts_with("https://")) return std::string(location);
    std::string base = trim_slashes(scm_base);
    if (!location.starts_with('/')) base += '/';
    return base + std::string(location);
}

std::expected<DeployStatus, FaasError> parse_deploy_status(int http_status, std::string_view body) {
    DeployStatus out;
    if (http_status == 404) {
        out.phase = DeployPhase::missing;
        return out;
    }
    if (http_status == 401 || http_status == 403) {
        FaasError e = FaasError::make(faas_errc::unauthorized,
                                      "azure: deployment status: HTTP " + std::to_string(http_status));
        e.http_status = http_status;
        return std::unexpected(std::move(e));
    }
    if (http_status != 200 && http_status != 202) {
        FaasError e = FaasError::make(http_status == 429 ? faas_errc::throttled : faas_errc::infrastructure,
                                      "azure: deployment status: HTTP " + std::to_string(http_status));
        e.http_status = http_status;
        return std::unexpected(std::move(e));
    }
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec);
    if (ec || !doc.is_object()) {
        if (http_status == 202) return out;  // still running; Kudu may answer 202 with no body
        return std::unexpected(FaasError::make(faas_errc::serialization, "azure: deployment status is not a JSON object"));
    }
    const auto& o = doc.as_object();
    std::optional<std::int64_t> status;
    if (const auto* s = o.if_contains("status"); s && s->is_int64()) status = s->get_int64();
    else if (s && s->is_uint64()) status = static_cast<std::int64_t>(s->get_uint64());
    bool complete = false;
    if (const auto* c = o.if_contains("complete"); c && c->is_bool()) complete = c->get_bool();
    for (auto key : {"status_text", "message"})
        if (const auto* t = o.if_contains(key); t && t->is_string() && !t->get_string().empty()) {
            out.message = std::string(t->get_string()).substr(0, 500);
            break;
        }
    if (status == 3) {
        out.phase = DeployPhase::failed;
    } else if ((status == 4 || status == 5) && (complete || !o.contains("complete"))) {
        out.phase = DeployPhase::succeeded;
    } else if (complete) {
        // Finished, but neither Success nor Failed: treat as a failure to be safe.
        out.phase = DeployPhase::failed;
        if (out.message.empty()) out.message = "finished with status " + (status ? std::to_string(*status) : "unknown");
    } else {
        out.phase = DeployPhase::in_progress;
    }
    return out;
}

std::chrono::milliseconds poll_delay(unsigned attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max) {
    auto delay = initial;
    for (unsigned i = 1; i < attempt && delay < max; ++i) delay *= 2;
    return std::min(delay, max);
}

http::Request invoke_request(std::string_view site_base, std::string_view function, std::string_view key,
                             std::string body, bool warmup) {
    http::Request req;
    req.method = "POST";
    req.url = trim_slashes(site_base) + "/api/" + percent_encode(function);
    req.headers.emplace_back("x-functions-key", std::string(key));
    req.headers.emplace_back("Content-Type", std::string(wire::json_content_type));
    if (warmup) req.headers.emplace_back(std::string(wire::header_warmup), "1");
    req.body = std::move(body);
    return req;
}

FaasError invoke_error(const http::Response& response, std::string_view what) {
    const int status = response.status;
    faas_errc kind = faas_errc::invocation_failed;
    if (status == 401 || status == 403) kind = faas_errc::unauthorized;
    else if (status == 404) kind = faas_errc::not_found;
    else if (status == 429 || status == 503) kind = faas_errc::throttled;
    else if (status == 500) kind = faas_errc::function_error;
    else if (status == 504) kind = faas_errc::timeout;
    else if (status > 500) kind = faas_errc::infrastructure;
    std::string message = std::string(what) + ": HTTP " + std::to_string(status);
    if (status == 413) message += " (payload too large)";
    if (!response.body.empty()) {
        std::string excerpt = response.body.substr(0, 300);
        std::replace_if(excerpt.begin(), excerpt.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
        message += ": " + excerpt;
    }
    FaasError out = FaasError::make(kind, std::move(message));
    out.http_status = status;
    out.request_id = std::string(response.header("x-ms-request-id"));
    if (kind == faas_errc::throttled)
        out.retry_after = http::parse_retry_after(response.header("Retry-After"), std::chrono::system_clock::now());
    return out;
}

}  // namespace blueprint::faas::azure::detail
