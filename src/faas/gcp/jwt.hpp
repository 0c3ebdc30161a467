// Service-account keys and RS256 JWTs (RFC 7515/7519) for Google OAuth.
// Pure: no I/O. OpenSSL stays in jwt.cpp.
//
// https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests
#pragma once

#include <blueprint/faas/error.hpp>

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::faas::gcp::detail {

inline constexpr std::string_view default_token_uri = "https://oauth2.googleapis.com/token";
inline constexpr std::string_view cloud_platform_scope = "https://www.googleapis.com/auth/cloud-platform";
/// Google refuses assertions valid for longer than an hour.
inline constexpr std::chrono::seconds max_assertion_lifetime{3600};

/// The fields of a service-account key file that we use.
struct ServiceAccountKey {
    std::string client_email;
    std::string private_key_id;
    /// PEM. Never logged, never copied into a message.
    std::string private_key;
    std::string token_uri;
    std::string project_id;
};

/// Parses a key file's JSON. Errors are `unauthorized` and name the file
/// (`source`) and the missing or bad field; they never quote the input,
/// since it holds the private key.
std::expected<ServiceAccountKey, FaasError> parse_service_account_key(std::string_view json,
                                                                      std::string_view source);

/// base64url without padding (RFC 7515 §2).
std::string base64url_encode(std::string_view data);
/// Accepts padded or unpadded base64url; nullopt on a bad character.
std::optional<std::string> base64url_decode(std::string_view text);

/// What the assertion asks for: an access token (scope) or an ID token
/// (target_audience); exactly one is set.
struct AssertionRequest {
    std::string audience;  ///< the token endpoint
    std::string scope;
    std::string target_audience;
    std::chrono::system_clock::time_point now;
    std::chrono::seconds lifetime = max_assertion_lifetime;
};

/// `{"alg":"RS256","typ":"JWT","kid":...}` and the claims, as JSON text.
std::string assertion_header_json(const ServiceAccountKey& key);
std::string assertion_claims_json(const ServiceAccountKey& key, const AssertionRequest& request);

/// RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) of `input` with the PEM key.
std::expected<std::string, FaasError> sign_rs256(std::string_view private_key_pem, std::string_view input);

/// header.claims.signature, each part base64url.
std::expected<std::string, FaasError> make_assertion(const ServiceAccountKey& key, const AssertionRequest& request);

/// The payload (claims JSON) of a compact JWT, unverified; nullopt when it
/// is not one.
std::optional<std::string> jwt_payload(std::string_view token);
/// Its `exp` claim (seconds since the epoch), unverified.
std::optional<std::int64_t> jwt_exp(std::string_view token);

}  // namespace blueprint::faas::gcp::detail
