// URL and proxy-selection logic of the HTTP client: pure functions, no I/O,
// unit-tested in tests/unit/test_retry_policy.cpp.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace blueprint::faas::http::detail {

/// An absolute http(s) URL split into what the client needs.
struct Url {
    bool tls = false;
    /// Host to resolve/connect: percent-decoded, IPv6 without brackets.
    std::string host;
    std::uint16_t port = 0;
    /// Path and query exactly as given ("/" when the path is empty); no fragment.
    std::string target;
    /// Value of the Host header: host ([v6] bracketed) plus ":port" if not the default.
    std::string host_header;
    bool host_is_ip = false;
};

/// Parses an absolute http:// or https:// URL (Boost.URL parse_uri).
/// The error is a short reason that never echoes the URL itself (it may
/// carry credentials or a signed query).
std::expected<Url, std::string> parse_url(std::string_view text);

/// A forward proxy as given in HTTP_PROXY/HTTPS_PROXY.
struct ProxyUrl {
    std::string host;
    std::uint16_t port = 1080;  // curl's default proxy port
    /// "Basic ..." when the proxy URL carried user:password, else empty.
    std::string authorization;
};

/// Parses a proxy setting: "http://[user:pass@]host[:port]" or a bare
/// "host[:port]". https:// proxies (TLS to the proxy) are not supported.
std::expected<ProxyUrl, std::string> parse_proxy_url(std::string_view text);

/// The proxy environment, read once (a client reads it at construction).
struct ProxyEnv {
    std::string http_proxy;   // http_proxy, else HTTP_PROXY
    std::string https_proxy;  // https_proxy, else HTTPS_PROXY
    std::string no_proxy;     // no_proxy, else NO_PROXY

    static ProxyEnv from_environment();
};

/// curl's NO_PROXY semantics: a comma (or space) separated list; "*" alone
/// matches every host; an entry matches the host itself and its subdomains
/// (a leading '.' is ignored, so ".example.com" and "example.com" are the
/// same); IP addresses match literally; case-insensitive. As an extension,
/// "host:port" matches only that port. Nothing is exempt implicitly: like
/// curl, 127.0.0.1 and localhost ARE proxied unless NO_PROXY lists them.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port) noexcept;

/// The proxy setting that applies to `url` (empty: connect directly).
std::string_view select_proxy(const ProxyEnv& env, const Url& url) noexcept;

/// Standard base64 (for Proxy-Authorization: Basic).
std::string base64_encode(std::string_view in);

}  // namespace blueprint::faas::http::detail
