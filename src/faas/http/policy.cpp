// The HTTP client's pure parts: error category, the FaasError mapping,
// header lookup, retry backoff and Retry-After parsing. No I/O here.
#include <blueprint/faas/http_client.hpp>

#include <boost/asio/error.hpp>
#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

namespace blueprint::faas::http {
namespace {

class http_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.http"; }
    std::string message(int ev) const override {
        switch (static_cast<http_errc>(ev)) {
        case http_errc::invalid_url: return "invalid or unsupported URL";
        case http_errc::resolve_failed: return "host name resolution failed";
        case http_errc::connect_failed: return "could not connect";
        case http_errc::connect_timeout: return "connect timed out";
        case http_errc::timeout: return "request timed out";
        case http_errc::tls_failed: return "TLS handshake failed";
        case http_errc::connection_lost: return "connection lost mid-exchange";
        case http_errc::protocol_error: return "invalid HTTP response";
        case http_errc::response_too_large: return "response body too large";
        case http_errc::proxy_failed: return "proxy refused the tunnel";
        case http_errc::cancelled: return "request cancelled";
        }
        return "unknown HTTP client error";
    }
};

using boost::beast::iequals;  // ASCII case-insensitive equality

// Parses exactly `n` digits at `s[pos]`.
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) noexcept {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = s[pos + i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

int month_index(std::string_view m) noexcept {
    static constexpr std::array<std::string_view, 12> names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (std::size_t i = 0; i < names.size(); ++i)
        if (m == names[i]) return static_cast<int>(i) + 1;
    return 0;
}

// "08:49:37" at pos.
bool clock_time(std::string_view s, std::size_t pos, int& h, int& mi, int& sec) noexcept {
    return digits(s, pos, 2, h) && pos + 8 <= s.size() && s[pos + 2] == ':' && digits(s, pos + 3, 2, mi) &&
           s[pos + 5] == ':' && digits(s, pos + 6, 2, sec) && h < 24 && mi < 60 && sec < 61;
}

// The three HTTP-date forms of RFC 9110 §5.6.7.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view s) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    const auto comma = s.find(',');
    if (comma == 3) {
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
            s.substr(25) != " GMT")
            return std::nullopt;
        if (!digits(s, 5, 2, d) || !(mo = month_index(s.substr(8, 3))) || !digits(s, 12, 4, y) ||
            !clock_time(s, 17, h, mi, sec))
            return std::nullopt;
    } else if (comma != std::string_view::npos) {
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        auto r = s.substr(comma + 1);
        if (r.size() != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || r.substr(19) != " GMT")
            return std::nullopt;
        if (!digits(r, 1, 2, d) || !(mo = month_index(r.substr(4, 3))) || !digits(r, 8, 2, y) ||
            !clock_time(r, 11, h, mi, sec))
            return std::nullopt;
        y += y < 70 ? 2000 : 1900;  // two-digit years: RFC 9110 says interpret within 50 years; close enough
    } else {
        // asctime: "Sun Nov  6 08:49:37 1994"
        if (s.size() != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ') return std::nullopt;
        if (!(mo = month_index(s.substr(4, 3)))) return std::nullopt;
        if (s[8] == ' ') {
            if (!digits(s, 9, 1, d)) return std::nullopt;
        } else if (!digits(s, 8, 2, d)) {
            return std::nullopt;
        }
        if (!clock_time(s, 11, h, mi, sec) || !digits(s, 20, 4, y)) return std::nullopt;
    }
    const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                          std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return std::nullopt;
    return std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{sec};
}

}  // namespace

const boost::system::error_category& http_category() noexcept {
    static const http_category_impl cat;
    return cat;
}

std::string_view find_header(const Headers& headers, std::string_view name) noexcept {
    for (const auto& [n, v] : headers)
        if (iequals(n, name)) return v;
    return {};
}

std::chrono::milliseconds RetryPolicy::backoff(unsigned attempt, std::optional<std::chrono::milliseconds> retry_after,
                                               double random01) const noexcept {
    using std::chrono::milliseconds;
    if (retry_after && *retry_after >= milliseconds::zero() && *retry_after <= max_backoff) return *retry_after;
    if (attempt < 2) attempt = 2;
    // Exponential bound initial * multiplier^(attempt-2), capped; computed in
    // double so a large attempt count cannot overflow.
    const double bound_ms = std::min(static_cast<double>(max_backoff.count()),
                                      static_cast<double>(initial_backoff.count()) *
                                          std::pow(std::max(multiplier, 1.0), static_cast<double>(attempt - 2)));
    const double r = std::clamp(random01, 0.0, 1.0);
    const auto ms = static_cast<milliseconds::rep>(std::floor(std::max(bound_ms, 0.0) * r));
    return milliseconds{std::min<milliseconds::rep>(ms, max_backoff.count())};
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        // delta-seconds; saturate absurd values instead of overflowing.
        constexpr std::int64_t cap_seconds = std::int64_t{1} << 40;
        std::int64_t secs = 0;
        for (char c : value) {
            secs = secs * 10 + (c - '0');
            if (secs > cap_seconds) {
                secs = cap_seconds;
                break;
            }
        }
        return std::chrono::milliseconds{secs * 1000};
    }
    auto when = parse_http_date(value);
    if (!when) return std::nullopt;
    if (*when <= now) return std::chrono::milliseconds::zero();
    return std::chrono::ceil<std::chrono::milliseconds>(*when - now);
}

// The choices the header does not spell out:
// - `cancelled` (the awaiting coroutine was cancelled) is a timeout: the
//   runner cancels a delegated call when its deadline or shutdown grace ends,
//   and in both cases the call ran out of time. The message says "cancelled".
// - `response_too_large` is serialization: the reply exists but cannot be
//   accepted within ClientOptions::max_response_bytes.
// - `protocol_error` (not HTTP at all) is infrastructure, like a reset.
// - `invalid_url` is invocation_failed: a configuration mistake, not load
//   or network, so it is never transient.
FaasError to_faas_error(const HttpError& error, std::string_view context) {
    faas_errc kind = faas_errc::infrastructure;
    if (error.code.category() == http_category()) {
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
    std::string message(context);
    if (!message.empty()) message += ": ";
    message += error.message.empty() ? error.code.message() : error.message;
    FaasError out = FaasError::make(kind, std::move(message));
    if (error.last_response) out.http_status = error.last_response->status;
    return out;
}

}  // namespace blueprint::faas::http
