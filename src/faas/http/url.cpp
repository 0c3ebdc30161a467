// URL parsing (Boost.URL) and proxy selection for the HTTP client.
#include "faas/http/url.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>

namespace blueprint::faas::http::detail {
namespace {

using boost::beast::iequals;  // ASCII case-insensitive equality

std::string env_or(const char* lower, const char* upper) {
    // Lowercase first, as curl does.
    if (const char* v = std::getenv(lower); v && *v) return v;
    if (const char* v = std::getenv(upper); v && *v) return v;
    return {};
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

// One NO_PROXY entry against a host (IPv6 without brackets) and port.
bool entry_matches(std::string_view entry, std::string_view host, std::uint16_t port) noexcept {
    std::string_view name = entry;
    std::string_view port_text;
    if (!name.empty() && name.front() == '[') {  // [v6] or [v6]:port
        auto close = name.find(']');
        if (close == std::string_view::npos) return false;
        if (close + 1 < name.size() && name[close + 1] == ':') port_text = name.substr(close + 2);
        name = name.substr(1, close - 1);
    } else if (auto colon = name.find(':'); colon != std::string_view::npos && name.find(':', colon + 1) == std::string_view::npos) {
        port_text = name.substr(colon + 1);  // host:port (exactly one colon; more means a bare IPv6)
        name = name.substr(0, colon);
    }
    if (!port_text.empty()) {
        unsigned p = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9') return false;
            p = p * 10 + static_cast<unsigned>(c - '0');
            if (p > 65535) return false;
        }
        if (p != port) return false;
    }
    while (!name.empty() && name.front() == '.') name.remove_prefix(1);
    while (!name.empty() && name.back() == '.') name.remove_suffix(1);
    while (!host.empty() && host.back() == '.') host.remove_suffix(1);
    if (name.empty()) return false;
    if (iequals(name, host)) return true;
    // Suffix match on a label boundary: "example.com" matches "api.example.com".
    return host.size() > name.size() && host[host.size() - name.size() - 1] == '.' &&
           iequals(host.substr(host.size() - name.size()), name);
}

// Boost.URL's port_number() wraps values above 65535, so check the text.
std::optional<std::uint16_t> parse_port(std::string_view text) noexcept {
    if (text.empty() || text.size() > 5) return std::nullopt;
    unsigned v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

}  // namespace

std::expected<Url, std::string> parse_url(std::string_view text) {
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed) return std::unexpected(std::string("not an absolute URI: ") + parsed.error().message());
    const boost::urls::url_view& u = *parsed;
    Url out;
    if (u.scheme_id() == boost::urls::scheme::https) {
        out.tls = true;
    } else if (u.scheme_id() != boost::urls::scheme::http) {
        return std::unexpected(std::string("unsupported scheme (only http and https)"));
    }
    if (!u.has_authority() || u.encoded_host().empty()) return std::unexpected(std::string("the URL has no host"));
    const std::uint16_t default_port = out.tls ? 443 : 80;
    if (u.has_port()) {
        if (u.port().empty()) {
            out.port = default_port;
        } else if (auto p = parse_port(u.port())) {
            out.port = *p;
        } else {
            return std::unexpected(std::string("invalid port"));
        }
    } else {
        out.port = default_port;
    }
    out.host = u.host_address();
    const auto type = u.host_type();
    out.host_is_ip = type == boost::urls::host_type::ipv4 || type == boost::urls::host_type::ipv6;
    if (type == boost::urls::host_type::ipvfuture) return std::unexpected(std::string("unsupported IP literal"));
    if (type == boost::urls::host_type::ipv6) {
        out.host_header = "[" + out.host + "]";
    } else {
        out.host_header = std::string(u.encoded_host());
    }
    if (out.port != default_port) {
        out.host_header += ':';
        out.host_header += std::to_string(out.port);
    }
    auto path = u.encoded_path();
    if (path.empty()) {
        out.target.push_back('/');
    } else {
        out.target.assign(path.data(), path.size());
    }
    if (u.has_query()) {
        auto q = u.encoded_query();
        out.target += '?';
        out.target.append(q.data(), q.size());
    }
    return out;
}

std::expected<ProxyUrl, std::string> parse_proxy_url(std::string_view text) {
    text = trim(text);
    std::string owned;
    if (text.find("://") == std::string_view::npos) {
        owned = "http://";
        owned += text;
        text = owned;
    }
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed) return std::unexpected(std::string("invalid proxy URL: ") + parsed.error().message());
    const boost::urls::url_view& u = *parsed;
    if (u.scheme_id() != boost::urls::scheme::http)
        return std::unexpected(std::string("unsupported proxy scheme (only http:// proxies)"));
    if (u.encoded_host().empty()) return std::unexpected(std::string("the proxy URL has no host"));
    ProxyUrl out;
    out.host = u.host_address();
    if (u.has_port() && !u.port().empty()) {
        auto p = parse_port(u.port());
        if (!p) return std::unexpected(std::string("invalid proxy port"));
        out.port = *p;
    }
    if (u.has_userinfo()) out.authorization = "Basic " + base64_encode(u.userinfo());
    return out;
}

ProxyEnv ProxyEnv::from_environment() {
    return ProxyEnv{
        .http_proxy = env_or("http_proxy", "HTTP_PROXY"),
        .https_proxy = env_or("https_proxy", "HTTPS_PROXY"),
        .no_proxy = env_or("no_proxy", "NO_PROXY"),
    };
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port) noexcept {
    std::string_view rest = no_proxy;
    while (!rest.empty()) {
        auto sep = rest.find_first_of(", \t");
        std::string_view entry = trim(rest.substr(0, sep));
        rest = sep == std::string_view::npos ? std::string_view{} : rest.substr(sep + 1);
        if (entry.empty()) continue;
        if (entry == "*") return true;
        if (entry_matches(entry, host, port)) return true;
    }
    return false;
}

std::string_view select_proxy(const ProxyEnv& env, const Url& url) noexcept {
    const std::string& proxy = url.tls ? env.https_proxy : env.http_proxy;
    if (proxy.empty()) return {};
    if (no_proxy_matches(env.no_proxy, url.host, url.port)) return {};
    return proxy;
}

std::string base64_encode(std::string_view in) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (const auto left = in.size() - i; left > 0) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (left == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += left == 2 ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

}  // namespace blueprint::faas::http::detail
