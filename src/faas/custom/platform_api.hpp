// Pure pieces of the custom HTTP executor: URL joining, function ids, the
// platform API's JSON shapes (ARCHITECTURE.md §10) and error-body parsing.
// No I/O, so each is unit-tested directly. Packages come from
// blueprint::packaging.
#pragma once

#include <blueprint/faas/config.hpp>
#include <blueprint/faas/error.hpp>
#include <blueprint/job.hpp>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::faas::custom::detail {

/// `base` and `path` with exactly one '/' between them, whatever slashes
/// either side carries ("http://h/" + "/job/7" -> "http://h/job/7").
std::string join_url(std::string_view base, std::string_view path);

/// The platform's name for a job's function: decimal when the id fits in
/// u64, else "0x" hex of all its significant digits. Never truncated.
std::string function_id(const JobId& job_id);

/// "scheme://host[:port]" of an absolute http(s) URL, or an error.
std::expected<std::string, FaasError> url_origin(std::string_view url);

/// "scheme://host[:port]/path" of a URL: no query, fragment or user info,
/// which may carry credentials. For messages and logs.
std::string redact_url(std::string_view url);

/// At most `max` bytes of `body`, control bytes shown as '.', with "..."
/// when cut. For error messages.
std::string body_excerpt(std::string_view body, std::size_t max = 200);

/// What an error body says, when it is JSON: the message from "error"
/// (string, or object with "message"), "message" or "errorMessage"; the type
/// from "errorType", "error_type", "code" or the error object's "type".
struct ErrorBody {
    std::string message;
    std::string type;
};
std::optional<ErrorBody> parse_error_body(std::string_view body);

/// True when `body` is a Blueprint failure reply: a JSON object with
/// `"success":false` (the platform API's failed-job shape).
bool is_failure_reply(std::string_view body);

/// The X-Blueprint-Config JSON: {memory_mb, timeout_secs, env_vars[, max_concurrency]}.
std::string encode_deploy_config(const FaasConfig& config);

/// A deployment reply (PUT or GET /api/functions/{id}). Missing fields keep
/// their defaults; `fallback_endpoint` fills a missing "endpoint", and a
/// relative one ("/api/...") is resolved against `base_url`.
std::expected<FaasDeployment, FaasError> parse_deployment(std::string_view body, const JobId& job_id,
                                                          std::string_view base_url,
                                                          std::string_view fallback_endpoint);

/// True when `data` starts like a zip archive ("PK\3\4").
bool looks_like_zip(const std::vector<std::uint8_t>& data) noexcept;

}  // namespace blueprint::faas::custom::detail
