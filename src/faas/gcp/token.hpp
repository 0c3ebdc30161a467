// OAuth token requests and responses, and when a cached token is still good.
// Pure: no I/O.
#pragma once

#include <blueprint/faas/error.hpp>

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::faas::gcp::detail {

using Clock = std::chrono::system_clock;

/// application/x-www-form-urlencoded value (RFC 3986 unreserved kept, space as %20).
std::string form_encode(std::string_view value);
/// Percent-encodes a URL query value.
inline std::string query_encode(std::string_view value) { return form_encode(value); }

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...`.
std::string token_request_body(std::string_view assertion);

/// A bearer token and when it stops being good.
struct Token {
    std::string value;
    Clock::time_point expiry;
};

/// A token endpoint's (or the metadata server's) reply to an access-token
/// request: 200 `{"access_token","expires_in",...}`. Any other status, an
/// OAuth error body `{"error","error_description"}` or a missing field is
/// a FaasError (unauthorized for 400/401/403, else by status); the token is
/// never quoted.
std::expected<Token, FaasError> parse_access_token_response(int status, std::string_view body, Clock::time_point now,
                                                            std::string_view what);
/// The reply to an ID-token request: 200 `{"id_token":...}` from the token
/// endpoint, or (`raw`) the bare JWT the metadata server's identity
/// endpoint returns. Expiry from the JWT's `exp` claim, else `expires_in`,
/// else now (not cached).
std::expected<Token, FaasError> parse_id_token_response(int status, std::string_view body, Clock::time_point now,
                                                        bool raw, std::string_view what);

/// Whether `token` may still be used at `now`: it is refreshed a margin
/// before expiry (5 minutes, or half its remaining life when that is less,
/// so short-lived tokens are still used).
bool is_fresh(const Token& token, Clock::time_point now, Clock::time_point obtained);

/// The kind of a FaasError for an HTTP status from Google (401/403
/// unauthorized, 404 not_found, 429 throttled, 5xx infrastructure, ...).
faas_errc kind_for_status(int status) noexcept;

}  // namespace blueprint::faas::gcp::detail
