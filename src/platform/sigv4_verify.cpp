#include "platform/sigv4_verify.hpp"

#include "faas/aws/sigv4.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <charconv>
#include <ctime>

namespace blueprint::platform {
namespace sigv4 = blueprint::faas::aws::sigv4;

namespace {

constexpr std::string_view mismatch_message =
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details.";

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        auto at = s.find(sep, start);
        out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
        if (at == std::string_view::npos) return out;
        start = at + 1;
    }
}

// "20150830T123600Z" -> time point.
std::optional<std::chrono::system_clock::time_point> parse_amz_date(std::string_view s) {
    if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
    auto num = [&](std::size_t at, std::size_t n) -> int {
        int v = 0;
        auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + n, v);
        return (ec == std::errc{} && end == s.data() + at + n) ? v : -1;
    };
    std::tm tm{};
    tm.tm_year = num(0, 4) - 1900;
    tm.tm_mon = num(4, 2) - 1;
    tm.tm_mday = num(6, 2);
    tm.tm_hour = num(9, 2);
    tm.tm_min = num(11, 2);
    tm.tm_sec = num(13, 2);
    if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
        tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
        return std::nullopt;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (auto b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

SignatureError incomplete(std::string message) { return {"IncompleteSignatureException", std::move(message)}; }

}  // namespace

std::expected<std::pair<std::string, std::string>, std::string> parse_credentials(std::string_view text) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
        return std::unexpected("expected ACCESS_KEY_ID:SECRET_ACCESS_KEY");
    return std::pair{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

std::expected<void, SignatureError> verify_sigv4(const SignedRequest& req, const VerifierKey& key,
                                                 std::chrono::system_clock::time_point now,
                                                 std::chrono::seconds max_skew) {
    static const std::vector<std::pair<std::string, std::string>> none;
    const auto& headers = req.headers ? *req.headers : none;
    auto header_values = [&](std::string_view lname) {
        std::vector<std::string_view> out;
        for (const auto& [k, v] : headers)
            if (boost::beast::iequals(k, lname)) out.push_back(v);
        return out;
    };

    auto auth = header_values("authorization");
    if (auth.empty()) return std::unexpected(SignatureError{"MissingAuthenticationTokenException", "Missing Authentication Token"});
    std::string_view a = trim(auth.front());
    constexpr std::string_view algorithm = "AWS4-HMAC-SHA256 ";
    if (!a.starts_with(algorithm))
        return std::unexpected(incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm"));
    a.remove_prefix(algorithm.size());

    std::string_view credential, signed_headers, signature;
    for (auto part : split(a, ',')) {
        part = trim(part);
        auto eq = part.find('=');
        if (eq == std::string_view::npos) continue;
        auto name = part.substr(0, eq), value = part.substr(eq + 1);
        if (name == "Credential") credential = value;
        else if (name == "SignedHeaders") signed_headers = value;
        else if (name == "Signature") signature = value;
    }
    if (credential.empty() || signed_headers.empty() || signature.empty())
        return std::unexpected(incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters"));

    auto scope = split(credential, '/');  // AKID/date/region/service/aws4_request
    if (scope.size() != 5 || scope[4] != "aws4_request")
        return std::unexpected(incomplete("Credential must be AKID/yyyymmdd/region/service/aws4_request"));
    if (scope[0] != key.access_key_id)
        return std::unexpected(
            SignatureError{"UnrecognizedClientException", "The security token included in the request is invalid."});
    if (scope[2] != key.region)
        return std::unexpected(SignatureError{"InvalidSignatureException",
                                              "Credential should be scoped to a valid region, not '" +
                                                  std::string(scope[2]) + "'; this endpoint serves '" + key.region + "'"});
    if (scope[3] != key.service)
        return std::unexpected(SignatureError{"InvalidSignatureException",
                                              "Credential should be scoped to correct service: '" + key.service + "'"});

    auto dates = header_values("x-amz-date");
    if (dates.empty()) return std::unexpected(incomplete("The request must carry X-Amz-Date"));
    const std::string amz_date(trim(dates.front()));
    auto when = parse_amz_date(amz_date);
    if (!when) return std::unexpected(incomplete("X-Amz-Date must look like 20150830T123600Z"));
    if (amz_date.substr(0, 8) != scope[1])
        return std::unexpected(SignatureError{"InvalidSignatureException",
                                              "Date in Credential scope does not match YYYYMMDD from X-Amz-Date"});
    if (*when < now - max_skew)
        return std::unexpected(SignatureError{"InvalidSignatureException",
                                              "Signature expired: " + amz_date + " is now earlier than " +
                                                  sigv4::amz_date(now - max_skew) + " (" + sigv4::amz_date(now) +
                                                  " - 5 min.)"});
    if (*when > now + max_skew)
        return std::unexpected(SignatureError{"InvalidSignatureException",
                                              "Signature not yet current: " + amz_date + " is still later than " +
                                                  sigv4::amz_date(now + max_skew) + " (" + sigv4::amz_date(now) +
                                                  " + 5 min.)"});

    auto names = split(signed_headers, ';');
    if (std::find(names.begin(), names.end(), "host") == names.end())
        return std::unexpected(SignatureError{"InvalidSignatureException", "'Host' must be a signed header"});

    // The canonical request, rebuilt from what arrived.
    auto q = req.target.find('?');
    std::string canonical(req.method);
    canonical += '\n';
    canonical += sigv4::canonical_uri(req.target.substr(0, q), sigv4::Options{});
    canonical += '\n';
    canonical += sigv4::canonical_query(q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1));
    canonical += '\n';
    for (auto name : names) {
        if (name.empty() || lower(name) != name)
            return std::unexpected(incomplete("SignedHeaders must be lowercase names separated by ';'"));
        auto values = header_values(name);
        if (values.empty())
            return std::unexpected(SignatureError{"InvalidSignatureException",
                                                  "Signed header '" + std::string(name) + "' is missing"});
        canonical += name;
        canonical += ':';
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i) canonical += ',';
            canonical += sigv4::canonical_header_value(values[i]);
        }
        canonical += '\n';
    }
    canonical += '\n';
    canonical += signed_headers;
    canonical += '\n';
    auto content_sha = header_values("x-amz-content-sha256");
    canonical += content_sha.empty() ? sigv4::sha256_hex(req.body) : std::string(trim(content_sha.front()));
    if (!content_sha.empty() && trim(content_sha.front()) != sigv4::unsigned_payload &&
        trim(content_sha.front()) != sigv4::sha256_hex(req.body))
        return std::unexpected(SignatureError{"InvalidSignatureException",
                                              "The provided x-amz-content-sha256 does not match the body"});

    std::string string_to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + std::string(scope[1]) + "/" +
                                 std::string(scope[2]) + "/" + std::string(scope[3]) + "/aws4_request\n" +
                                 sigv4::sha256_hex(canonical);
    const auto& derived = sigv4::cached_signing_key(key.secret_access_key, scope[1], scope[2], scope[3]);
    const std::string expected = hex(sigv4::hmac_sha256(derived, string_to_sign));

    unsigned char diff = expected.size() == signature.size() ? 0 : 1;
    for (std::size_t i = 0; i < expected.size() && i < signature.size(); ++i)
        diff |= static_cast<unsigned char>(expected[i] ^ signature[i]);
    if (diff != 0) return std::unexpected(SignatureError{"InvalidSignatureException", std::string(mismatch_message)});
    return {};
}

}  // namespace blueprint::platform
