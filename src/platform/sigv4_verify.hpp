// Verifying the SigV4 signature of an incoming Lambda API request, the way
// AWS does, with the signer's building blocks (src/faas/aws/sigv4.hpp).
// Pure: the clock is a parameter. Private header.
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace blueprint::platform {

struct SignedRequest {
    std::string_view method;
    /// Path and query exactly as received on the wire.
    std::string_view target;
    /// Headers as received, names in any case; repeated names allowed.
    const std::vector<std::pair<std::string, std::string>>* headers = nullptr;
    std::string_view body;
};

struct VerifierKey {
    std::string access_key_id;
    std::string secret_access_key;
    std::string region;
    std::string service = "lambda";
};

/// Why a request was refused: the x-amzn-ErrorType and message AWS would send (all 403).
struct SignatureError {
    std::string type;
    std::string message;
};

/// Checks the Authorization header (AWS4-HMAC-SHA256 Credential=.../date/region/lambda/aws4_request,
/// SignedHeaders=..., Signature=...), the request time (X-Amz-Date, within `max_skew` of `now`),
/// that host and x-amz-date are signed, and the signature itself (constant-time).
std::expected<void, SignatureError> verify_sigv4(const SignedRequest& request, const VerifierKey& key,
                                                 std::chrono::system_clock::time_point now,
                                                 std::chrono::seconds max_skew = std::chrono::minutes(5));

/// Parses "ACCESS_KEY_ID:SECRET" (the secret may itself hold ':').
std::expected<std::pair<std::string, std::string>, std::string> parse_credentials(std::string_view text);

}  // namespace blueprint::platform
