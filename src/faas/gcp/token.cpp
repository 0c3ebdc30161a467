// OAuth token requests and responses.
#include "faas/gcp/token.hpp"

#include "faas/gcp/jwt.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace blueprint::faas::gcp::detail {
namespace json = boost::json;

std::string form_encode(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (unsigned char c : value) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string token_request_body(std::string_view assertion) {
    return "grant_type=" + form_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
           "&assertion=" + form_encode(assertion);
}

faas_errc kind_for_status(int status) noexcept {
    if (status == 401 || status == 403) return faas_errc::unauthorized;
    if (status == 404) return faas_errc::not_found;
    if (status == 429) return faas_errc::throttled;
    if (status == 408 || status == 504) return faas_errc::timeout;
    if (status >= 500) return faas_errc::infrastructure;
    return faas_errc::invocation_failed;
}

namespace {

/// A refusal from a token endpoint. OAuth errors (RFC 6749 §5.2) say
/// "invalid_grant" and the like: the credentials are at fault.
FaasError token_error(int status, std::string_view body, std::string_view what) {
    auto kind = kind_for_status(status);
    if (status == 400) kind = faas_errc::unauthorized;
    std::string message = std::string(what) + ": HTTP " + std::to_string(status);
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (!ec && v.is_object()) {
        const auto& o = v.as_object();
        auto str = [&](std::string_view k) -> std::string {
            auto* f = o.if_contains(k);
            return f && f->is_string() ? std::string(f->as_string()).substr(0, 300) : std::string{};
        };
        if (auto err = str("error"); !err.empty()) {
            message += ": " + err;
            if (auto d = str("error_description"); !d.empty()) message += " (" + d + ")";
        } else if (auto* e = o.if_contains("error"); e && e->is_object()) {
            // Google's API error shape, which some endpoints use too.
            auto* m = e->as_object().if_contains("message");
            if (m && m->is_string()) message += ": " + std::string(m->as_string()).substr(0, 300);
        }
    }
    auto out = FaasError::make(kind, std::move(message));
    out.http_status = status;
    return out;
}

std::optional<std::int64_t> int_field(const json::object& o, std::string_view k) {
    auto* f = o.if_contains(k);
    if (!f) return std::nullopt;
    if (f->is_int64()) return f->as_int64();
    if (f->is_uint64()) return static_cast<std::int64_t>(std::min<std::uint64_t>(f->as_uint64(), INT32_MAX));
    if (f->is_double()) return static_cast<std::int64_t>(f->as_double());
    if (f->is_string()) {
        try {
            return std::stoll(std::string(f->as_string()));
        } catch (...) {
            return std::nullopt;
        }
    }
    return std::nullopt;
}

}  // namespace

std::expected<Token, FaasError> parse_access_token_response(int status, std::string_view body, Clock::time_point now,
                                                            std::string_view what) {
    if (status != 200) return std::unexpected(token_error(status, body, what));
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object())
        return std::unexpected(FaasError::make(faas_errc::serialization, std::string(what) + ": reply is not a JSON object"));
    const auto& o = v.as_object();
    auto* tok = o.if_contains("access_token");
    if (!tok || !tok->is_string() || tok->as_string().empty())
        return std::unexpected(FaasError::make(faas_errc::serialization, std::string(what) + ": reply has no \"access_token\""));
    auto expires_in = int_field(o, "expires_in");
    if (!expires_in || *expires_in <= 0)
        return std::unexpected(FaasError::make(faas_errc::serialization, std::string(what) + ": reply has no valid \"expires_in\""));
    return Token{std::string(tok->as_string()), now + std::chrono::seconds(*expires_in)};
}

std::expected<Token, FaasError> parse_id_token_response(int status, std::string_view body, Clock::time_point now,
                                                        bool raw, std::string_view what) {
    if (status != 200) return std::unexpected(token_error(status, body, what));
    std::string token;
    std::optional<std::int64_t> expires_in;
    if (raw) {
        token = std::string(body);
        while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    } else {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        if (ec || !v.is_object())
            return std::unexpected(FaasError::make(faas_errc::serialization, std::string(what) + ": reply is not a JSON object"));
        const auto& o = v.as_object();
        auto* tok = o.if_contains("id_token");
        if (!tok || !tok->is_string())
            return std::unexpected(FaasError::make(faas_errc::serialization, std::string(what) + ": reply has no \"id_token\""));
        token = std::string(tok->as_string());
        expires_in = int_field(o, "expires_in");
    }
    if (token.empty() || !jwt_payload(token))
        return std::unexpected(FaasError::make(faas_errc::serialization, std::string(what) + ": the ID token is not a JWT"));
    Clock::time_point expiry = now;
    if (auto exp = jwt_exp(token)) {
        expiry = Clock::time_point(std::chrono::seconds(*exp));
    } else if (expires_in && *expires_in > 0) {
        expiry = now + std::chrono::seconds(*expires_in);
    }
    return Token{std::move(token), expiry};
}

bool is_fresh(const Token& token, Clock::time_point now, Clock::time_point obtained) {
    if (token.value.empty() || now >= token.expiry) return false;
    const auto life = token.expiry - std::min(obtained, token.expiry);
    const auto margin = std::min<Clock::duration>(std::chrono::minutes(5), life / 2);
    return now + margin < token.expiry;
}

}  // namespace blueprint::faas::gcp::detail
