// The HTTP client's pure logic, without sockets: retry backoff, Retry-After,
// header lookup, URL parsing and proxy selection.
#include <blueprint/faas/http_client.hpp>

#include "faas/http/url.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using namespace blueprint::faas::http;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

TEST(RetryPolicy, BackoffIsFullJitterOverTheExponentialBound) {
    RetryPolicy p;  // 100 ms initial, x2, 5 s cap
    EXPECT_EQ(p.backoff(2, std::nullopt, 0.0), 0ms);
    EXPECT_EQ(p.backoff(2, std::nullopt, 0.5), 50ms);
    EXPECT_EQ(p.backoff(2, std::nullopt, 0.999999), 99ms);
    EXPECT_EQ(p.backoff(3, std::nullopt, 0.5), 100ms);
    EXPECT_EQ(p.backoff(4, std::nullopt, 0.5), 200ms);
    EXPECT_EQ(p.backoff(5, std::nullopt, 0.5), 400ms);
}

TEST(RetryPolicy, BackoffIsCappedAndNeverOverflows) {
    RetryPolicy p;
    EXPECT_EQ(p.backoff(20, std::nullopt, 0.5), 2500ms);
    EXPECT_EQ(p.backoff(1000, std::nullopt, 0.999999), 4999ms);
    EXPECT_LE(p.backoff(~0u, std::nullopt, 1.0), p.max_backoff);
    EXPECT_EQ(p.backoff(3, std::nullopt, -3.0), 0ms) << "out-of-range draws are clamped";
}

TEST(RetryPolicy, RetryAfterWinsWhenWithinMaxBackoff) {
    RetryPolicy p;
    EXPECT_EQ(p.backoff(2, 1500ms, 0.0), 1500ms);
    EXPECT_EQ(p.backoff(2, 0ms, 0.9), 0ms);
    // Beyond max_backoff the server's hint is not followed blindly.
    EXPECT_EQ(p.backoff(2, 60s, 0.5), 50ms);
}

TEST(RetryPolicy, NoneMeansOneAttempt) { EXPECT_EQ(RetryPolicy::none().max_attempts, 1u); }

TEST(ParseRetryAfter, DeltaSeconds) {
    const auto now = std::chrono::system_clock::now();
    EXPECT_EQ(parse_retry_after("0", now), 0ms);
    EXPECT_EQ(parse_retry_after("3", now), 3000ms);
    EXPECT_EQ(parse_retry_after(" 120 ", now), 120'000ms);
    EXPECT_TRUE(parse_retry_after("99999999999999999999999", now).has_value()) << "saturates, no overflow";
    EXPECT_GT(*parse_retry_after("99999999999999999999999", now), 1'000'000'000ms);
}

TEST(ParseRetryAfter, RejectsGarbage) {
    const auto now = std::chrono::system_clock::now();
    for (const char* bad : {"", "   ", "-1", "1.5", "soon", "3s", "Sun, 06 Nov 1994 08:49:37 UTC",
                            "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Xyz 1994 08:49:37 GMT"})
        EXPECT_FALSE(parse_retry_after(bad, now).has_value()) << '"' << bad << '"';
}

TEST(ParseRetryAfter, HttpDateFormsRelativeToNow) {
    using namespace std::chrono;
    const sys_time<seconds> base = sys_days{1994y / November / 6} + 8h + 49min + 30s;
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", base), 7000ms);
    EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", base), 7000ms);
    EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", base), 7000ms);
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", base), 0ms) << "a date in the past means now";
}

TEST(FindHeader, CaseInsensitiveFirstMatch) {
    Headers h{{"Content-Type", "a"}, {"retry-after", "5"}, {"content-type", "b"}};
    EXPECT_EQ(find_header(h, "content-type"), "a");
    EXPECT_EQ(find_header(h, "RETRY-AFTER"), "5");
    EXPECT_EQ(find_header(h, "missing"), "");
    Response r;
    r.headers = h;
    EXPECT_EQ(r.header("Retry-After"), "5");
}

TEST(HttpErrc, CategoryAndMessages) {
    blueprint::error_code ec = http_errc::tls_failed;
    EXPECT_STREQ(ec.category().name(), "blueprint.http");
    EXPECT_EQ(ec.message(), "TLS handshake failed");
    EXPECT_EQ(blueprint::error_code(http_errc::cancelled), make_error_code(http_errc::cancelled));
    EXPECT_NE(blueprint::error_code(http_errc::timeout), blueprint::error_code(http_errc::connect_timeout));
}

namespace detail = blueprint::faas::http::detail;

TEST(ParseUrl, DefaultsAndExactTarget) {
    auto u = detail::parse_url("https://Example.com");
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->tls);
    EXPECT_EQ(u->port, 443);
    EXPECT_EQ(u->target, "/");
    EXPECT_EQ(u->host_header, "Example.com");

    u = detail::parse_url("http://h:8080/a%2Fb/c?x=1&sig=a%2Bb");
    ASSERT_TRUE(u);
    EXPECT_FALSE(u->tls);
    EXPECT_EQ(u->port, 8080);
    EXPECT_EQ(u->host_header, "h:8080");
    EXPECT_EQ(u->target, "/a%2Fb/c?x=1&sig=a%2Bb") << "path and query are sent exactly as given";

    u = detail::parse_url("http://h:80/p?#frag");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host_header, "h") << "the default port is not repeated in Host";
    EXPECT_EQ(u->target, "/p?");

    u = detail::parse_url("http://[::1]:9000/x");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "::1");
    EXPECT_TRUE(u->host_is_ip);
    EXPECT_EQ(u->host_header, "[::1]:9000");
}

TEST(ParseUrl, RejectsBadInput) {
    for (const char* bad : {"", "/relative", "ftp://h/", "http://", "http:///path", "http://h:0/", "http://h:99999/",
                            "not a url", "http://h/sp ace"}) {
        auto u = detail::parse_url(bad);
        EXPECT_FALSE(u) << bad;
    }
}

TEST(ParseProxyUrl, FormsAndCredentials) {
    auto p = detail::parse_proxy_url("proxy.local:3128");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->host, "proxy.local");
    EXPECT_EQ(p->port, 3128);
    EXPECT_TRUE(p->authorization.empty());
    p = detail::parse_proxy_url("http://user:pass@10.0.0.1/");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->port, 1080) << "curl's default proxy port";
    EXPECT_EQ(p->authorization, "Basic dXNlcjpwYXNz");
    EXPECT_FALSE(detail::parse_proxy_url("https://proxy:443"));
    EXPECT_FALSE(detail::parse_proxy_url("socks5://proxy:1080"));
}

TEST(NoProxy, CurlSemantics) {
    using detail::no_proxy_matches;
    EXPECT_TRUE(no_proxy_matches("*", "anything.example", 80));
    EXPECT_TRUE(no_proxy_matches("example.com", "example.com", 80));
    EXPECT_TRUE(no_proxy_matches("example.com", "api.EXAMPLE.com", 80));
    EXPECT_TRUE(no_proxy_matches(".example.com", "example.com", 80));
    EXPECT_TRUE(no_proxy_matches(".example.com", "a.b.example.com", 80));
    EXPECT_FALSE(no_proxy_matches("example.com", "badexample.com", 80)) << "suffix match is on a label boundary";
    EXPECT_FALSE(no_proxy_matches("example.com", "example.com.evil", 80));
    EXPECT_TRUE(no_proxy_matches("foo, bar ,127.0.0.1", "127.0.0.1", 8080));
    EXPECT_TRUE(no_proxy_matches("a b\tlocalhost", "localhost", 1));
    EXPECT_FALSE(no_proxy_matches("", "localhost", 80)) << "localhost is not exempt implicitly";
    EXPECT_FALSE(no_proxy_matches("*.example.com", "x.example.com", 80)) << "curl has no glob entries";
    EXPECT_TRUE(no_proxy_matches("example.com:8443", "example.com", 8443));
    EXPECT_FALSE(no_proxy_matches("example.com:8443", "example.com", 443));
    EXPECT_TRUE(no_proxy_matches("::1", "::1", 80));
    EXPECT_TRUE(no_proxy_matches("[::1]:80", "::1", 80));
    EXPECT_FALSE(no_proxy_matches("[::1]:80", "::1", 81));
    EXPECT_FALSE(no_proxy_matches("[::1", "::1", 80));
    EXPECT_FALSE(no_proxy_matches("h:notaport", "h", 80));
}

TEST(SelectProxy, BySchemeAndNoProxy) {
    detail::ProxyEnv env{.http_proxy = "http://p1:3128", .https_proxy = "p2:3129", .no_proxy = "internal.corp"};
    EXPECT_EQ(detail::select_proxy(env, *detail::parse_url("http://x.org/")), "http://p1:3128");
    EXPECT_EQ(detail::select_proxy(env, *detail::parse_url("https://x.org/")), "p2:3129");
    EXPECT_EQ(detail::select_proxy(env, *detail::parse_url("https://api.internal.corp/")), "");
    EXPECT_EQ(detail::select_proxy(env, *detail::parse_url("http://127.0.0.1:1/")), "http://p1:3128");
    detail::ProxyEnv none;
    EXPECT_EQ(detail::select_proxy(none, *detail::parse_url("https://x.org/")), "");
}

TEST(ProxyEnv, LowercaseWins) {
    setenv("http_proxy", "lower:1", 1);
    setenv("HTTP_PROXY", "upper:2", 1);
    setenv("HTTPS_PROXY", "upper:3", 1);
    unsetenv("https_proxy");
    auto env = detail::ProxyEnv::from_environment();
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("HTTPS_PROXY");
    EXPECT_EQ(env.http_proxy, "lower:1");
    EXPECT_EQ(env.https_proxy, "upper:3");
}

TEST(Base64, KnownVectors) {
    EXPECT_EQ(detail::base64_encode(""), "");
    EXPECT_EQ(detail::base64_encode("f"), "Zg==");
    EXPECT_EQ(detail::base64_encode("fo"), "Zm8=");
    EXPECT_EQ(detail::base64_encode("foo"), "Zm9v");
    EXPECT_EQ(detail::base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(detail::base64_encode(std::string("\xff\x00\x80", 3)), "/wCA");
}

}  // namespace
