// AWS Signature Version 4: pure functions, no I/O.
//
// The canonical request, string to sign and signature follow
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// and are checked against AWS's own suite (aws-c-auth
// tests/aws-signing-test-suite/v4) by tests/conformance/test_sigv4_suite.cpp.
#pragma once

#include "credentials.hpp"

#include <blueprint/error.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace blueprint::faas::aws::sigv4 {

/// Why a request could not be signed. Each is a caller bug, never a peer's.
enum class sigv4_errc {
    /// The target is empty or does not start with '/'.
    invalid_target = 1,
    /// A header name is empty or holds characters outside RFC 9110 tchar.
    invalid_header_name,
    /// The access key id or secret key is empty.
    missing_credentials,
    /// Region or service is empty or contains '/' (it would break the scope).
    invalid_scope,
    /// A presign expiry outside 1 s .. 7 days.
    invalid_expiry,
};

const boost::system::error_category& sigv4_category() noexcept;
inline error_code make_error_code(sigv4_errc e) noexcept { return {static_cast<int>(e), sigv4_category()}; }

using Header = std::pair<std::string, std::string>;

/// The payload hash AWS accepts in place of the body's SHA-256.
inline constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";

/// The request to sign. Views only: nothing is copied until signing.
struct Request {
    std::string_view method{};
    /// Path and query as they go on the wire ("/a/b?x=1"). Raw spaces and
    /// UTF-8 are accepted: the signer encodes them.
    std::string_view target{};
    /// Headers in send order; names repeat when a header repeats. Include
    /// Host. Authorization, X-Amz-Date and X-Amz-Security-Token given here
    /// are ignored: the signer adds its own.
    std::span<const Header> headers{};
    std::string_view body{};
    /// Sign "UNSIGNED-PAYLOAD" instead of the body's hash (S3 streaming).
    bool unsigned_payload = false;
};

/// Where and when to sign.
struct Context {
    std::string_view region{};
    std::string_view service{};
    std::chrono::system_clock::time_point time{};
};

struct Options {
    /// Remove "." and ".." segments and duplicate slashes from the path
    /// before signing. Every service but S3 expects this.
    bool normalize_path = true;
    /// Percent-encode the path as given (which is normally already encoded
    /// once on the wire, hence AWS calls this "double encoding"). Lambda
    /// needs it: a function ARN's %3A is signed as %253A. Only S3 turns it off.
    bool double_encode_path = true;
    /// Add and sign an x-amz-content-sha256 header holding the payload hash.
    bool sign_body = false;
    /// Leave the session token out of the signature and add it afterwards
    /// (some services, e.g. IoT, want it unsigned).
    bool omit_session_token = false;
};

/// A header-signed request: what was signed, and the headers to send.
struct Signature {
    std::string canonical_request;
    std::string string_to_sign;
    /// Lowercase hex HMAC-SHA256.
    std::string signature;
    /// The Authorization header's value.
    std::string authorization;
    /// "host;x-amz-date;..."
    std::string signed_headers;
    /// Headers to append, in this order: X-Amz-Security-Token (with session
    /// credentials), X-Amz-Date, x-amz-content-sha256 (sign_body), Authorization.
    std::vector<Header> headers_to_add;
};

/// Signs `request` in the Authorization header.
std::expected<Signature, error_code> sign(const Request& request, const AwsCredentials& credentials,
                                          const Context& context, const Options& options = {});

/// A presigned URL's signature (credentials in the query).
struct Presigned {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;
    /// The target with the X-Amz-* parameters appended, X-Amz-Signature last.
    std::string target;
};

/// Presigns `request`: the signature goes in the query, valid for `expires`
/// (1 s to 7 days). Only the given headers are signed.
std::expected<Presigned, error_code> presign(const Request& request, const AwsCredentials& credentials,
                                             const Context& context, std::chrono::seconds expires,
                                             const Options& options = {});

// ---- building blocks, exposed for tests and for reuse ----------------------

/// "20150830T123600Z"
std::string amz_date(std::chrono::system_clock::time_point t);
/// Parses "2015-08-30T12:36:00Z" (also with fractional seconds or a
/// "+hh:mm" offset); sigv4_errc::invalid_scope never, an
/// std::errc::invalid_argument code when malformed.
std::expected<std::chrono::system_clock::time_point, error_code> parse_iso8601(std::string_view text);

/// RFC 3986 percent-encoding: unreserved characters kept, the rest %XX
/// (uppercase); '/' is kept when `keep_slash`.
std::string uri_encode(std::string_view in, bool keep_slash = false);
/// Percent-decoding; a malformed escape is kept literally. '+' stays '+'.
std::string uri_decode(std::string_view in);
/// Removes "." and ".." segments and empty segments, keeping a leading
/// and a trailing slash.
std::string normalize_path(std::string_view path);
/// The canonical URI of a path (no query) under `options`.
std::string canonical_uri(std::string_view path, const Options& options);
/// The canonical query string: each name and value decoded then encoded,
/// sorted by name then value, "name=" for an empty value.
std::string canonical_query(std::string_view query);
/// Trims a header value and collapses inner whitespace runs to one space.
std::string canonical_header_value(std::string_view value);

/// Lowercase hex SHA-256.
std::string sha256_hex(std::string_view data);
/// Raw HMAC-SHA256.
std::array<std::uint8_t, 32> hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);
/// The signing key: HMAC chain from "AWS4"+secret over date, region, service, "aws4_request".
std::array<std::uint8_t, 32> derive_signing_key(std::string_view secret, std::string_view yyyymmdd,
                                                std::string_view region, std::string_view service);
/// derive_signing_key through a one-entry cache per thread: the key changes
/// once a day per (secret, region, service), and deriving it is four of the
/// five HMACs of a signature. The reference is valid until the next call on
/// this thread.
const std::array<std::uint8_t, 32>& cached_signing_key(std::string_view secret, std::string_view yyyymmdd,
                                                       std::string_view region, std::string_view service);

}  // namespace blueprint::faas::aws::sigv4

template <>
struct boost::system::is_error_code_enum<blueprint::faas::aws::sigv4::sigv4_errc> : std::true_type {};
