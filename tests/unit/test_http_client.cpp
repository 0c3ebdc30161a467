// HttpClient against real sockets on 127.0.0.1 (port 0): keep-alive, dead
// and misbehaving peers, limits, retries, cancellation, TLS and proxies.
#include <blueprint/faas/http_client.hpp>

#include "common/http_test_server.hpp"
#include "common/run_coro.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using namespace blueprint::faas::http;
using namespace std::chrono_literals;
using blueprint::test::HttpTestServer;
using Session = HttpTestServer::Session;
using Result = std::expected<Response, HttpError>;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// ASSERT_* returns from the function, which a coroutine cannot; this co_returns.
#define CO_ASSERT(cond, msg)                                      \
    if (!(cond)) {                                                \
        ADD_FAILURE() << "assertion failed: " #cond " " << msg;  \
        co_return;                                                \
    }

ClientOptions test_options() {
    ClientOptions o;
    o.use_env_proxy = false;  // the CI environment's proxy must not leak into tests
    o.connect_timeout = 5s;
    o.request_timeout = 10s;
    o.retry.initial_backoff = 1ms;
    o.retry.max_backoff = 20ms;
    return o;
}

Request get(std::string url) {
    Request r;
    r.url = std::move(url);
    return r;
}

Request post(std::string url, std::string body) {
    Request r;
    r.method = "POST";
    r.url = std::move(url);
    r.body = std::move(body);
    return r;
}

// Echoes "<method> <target> <body>" and a few request headers back.
HttpTestServer::Handler echo_handler() {
    return HttpTestServer::respond([](const HttpTestServer::Request& req) {
        auto res = HttpTestServer::make_response(200, std::string(req.method_string()) + " " +
                                                          std::string(req.target()) + " " + req.body());
        res.set("X-Host", req[bhttp::field::host]);
        res.set("X-User-Agent", req[bhttp::field::user_agent]);
        res.set("X-Content-Length", req.count(bhttp::field::content_length) ? req[bhttp::field::content_length] : "none");
        res.set("X-Custom", req["x-custom"]);
        return res;
    });
}

// An unused port: bind, read the port, close.
std::uint16_t dead_port(net::io_context& ioc) {
    net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

class HttpClientTest : public blueprint::test::IoContextTest {};

TEST_F(HttpClientTest, GetAndPost) {
    HttpTestServer server(ioc, echo_handler());
    HttpClient client(test_options());
    run([&]() -> net::awaitable<void> {
        Request g = get(server.url("/a/b?x=1&y=%2F"));
        g.headers.emplace_back("X-Custom", "yes");
        auto r = co_await client.send(g);
        EXPECT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "GET /a/b?x=1&y=%2F ");
        EXPECT_EQ(r->header("x-host"), "127.0.0.1:" + std::to_string(server.port()));
        EXPECT_EQ(r->header("X-USER-AGENT"), "blueprint-faas/0.1");
        EXPECT_EQ(r->header("x-content-length"), "none");
        EXPECT_EQ(r->header("x-custom"), "yes");
        EXPECT_EQ(r->attempts, 1u);

        Request p = post(server.url("/submit"), "payload");
        p.headers.emplace_back("Content-Length", "999");  // ignored: framing is the client's
        r = co_await client.send(p);
        EXPECT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->body, "POST /submit payload");
        EXPECT_EQ(r->header("x-content-length"), "7");

        r = co_await client.send(post(server.url("/empty"), ""));
        EXPECT_TRUE(r);
        EXPECT_EQ(r->header("x-content-length"), "0");

        Request h = get(server.url("/head"));
        h.method = "HEAD";
        r = co_await client.send(h);
        EXPECT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->status, 200);
        EXPECT_TRUE(r->body.empty());

        r = co_await client.send(get(server.url("/after-head")));
        EXPECT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->body, "GET /after-head ");
        EXPECT_EQ(server.connections(), 1u) << "one keep-alive connection for all five";
        server.stop();
    }());
}

TEST_F(HttpClientTest, InvalidUrl) {
    HttpClient client(test_options());
    run([&]() -> net::awaitable<void> {
        for (const char* bad : {"", "ftp://x/", "127.0.0.1:80/path", "http://"}) {
            auto r = co_await client.send(get(bad));
            EXPECT_FALSE(r) << bad;
            if (!r) {
                EXPECT_EQ(r.error().code, http_errc::invalid_url);
            }
        }
    }());
}

TEST_F(HttpClientTest, KeepAliveReusesOneConnection) {
    HttpTestServer server(ioc, echo_handler());
    HttpClient client(test_options());
    HttpClient copy = client;  // copies share the pool
    run([&]() -> net::awaitable<void> {
        for (int i = 0; i < 5; ++i) {
            auto r = co_await (i % 2 ? copy : client).send(get(server.url("/k")));
            EXPECT_TRUE(r);
            EXPECT_EQ(client.idle_connections(), 1u);
        }
        EXPECT_EQ(server.connections(), 1u);
        EXPECT_EQ(copy.idle_connections(), 1u);
        server.stop();
    }());
}

TEST_F(HttpClientTest, ServerClosingAConnectionOmitsItFromThePool) {
    HttpTestServer server(ioc, HttpTestServer::respond([](const auto&) {
        auto res = HttpTestServer::make_response(200, "bye");
        res.keep_alive(false);
        return res;
    }));
    HttpClient client(test_options());
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url()));
        EXPECT_TRUE(r);
        EXPECT_EQ(client.idle_connections(), 0u);
        server.stop();
    }());
}

TEST_F(HttpClientTest, StalePooledConnectionIsReplacedEvenForPost) {
    // The server answers keep-alive but then closes the connection while it
    // sits idle in the client's pool.
    HttpTestServer server(ioc, [](Session& s) -> net::awaitable<void> {
        auto req = co_await s.read_request();
        if (!req) co_return;
        co_await s.write(HttpTestServer::make_response(200, "once"));
        s.close();
    });
    auto opts = test_options();
    opts.retry = RetryPolicy::none();  // the stale-connection resend is not a retry
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(post(server.url(), "1"));
        EXPECT_TRUE(r);
        EXPECT_EQ(client.idle_connections(), 1u);
        // Let the FIN arrive before reuse.
        net::steady_timer t(co_await net::this_coro::executor, 20ms);
        co_await t.async_wait(use_tuple);
        r = co_await client.send(post(server.url(), "2"));
        EXPECT_TRUE(r) << r.error().message;
        if (r) {
            EXPECT_EQ(r->body, "once");
            EXPECT_EQ(r->attempts, 1u);
        }
        EXPECT_EQ(server.connections(), 2u);
        server.stop();
    }());
}

TEST_F(HttpClientTest, IdleTimeoutExpiresPooledConnections) {
    HttpTestServer server(ioc, echo_handler());
    auto opts = test_options();
    opts.idle_timeout = 1ms;
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        EXPECT_TRUE(co_await client.send(get(server.url())));
        net::steady_timer t(co_await net::this_coro::executor, 10ms);
        co_await t.async_wait(use_tuple);
        EXPECT_TRUE(co_await client.send(get(server.url())));
        EXPECT_EQ(server.connections(), 2u) << "the expired connection was not reused";
        server.stop();
    }());
}

TEST_F(HttpClientTest, RefusedPortIsConnectFailed) {
    const auto port = dead_port(ioc);
    auto opts = test_options();
    opts.retry = RetryPolicy::none();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get("http://127.0.0.1:" + std::to_string(port) + "/?secret=1"));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::connect_failed);
        EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos) << r.error().message;
        EXPECT_EQ(r.error().message.find("secret"), std::string::npos) << "never the query";
    }());
}

TEST_F(HttpClientTest, FullListenQueueIsConnectTimeout) {
    // A listener with backlog 0 that never accepts: once one connection
    // fills its queue, Linux drops further SYNs, so connect() hangs.
    net::ip::tcp::acceptor acceptor(ioc);
    const net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor.open(ep.protocol());
    acceptor.bind(ep);
    acceptor.listen(0);
    const auto port = acceptor.local_endpoint().port();
    std::vector<std::unique_ptr<net::ip::tcp::socket>> fillers;
    auto opts = test_options();
    opts.connect_timeout = 150ms;
    opts.retry = RetryPolicy::none();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto ex = co_await net::this_coro::executor;
        for (int i = 0; i < 2; ++i) {  // fill the queue (backlog 0 admits one, some kernels two)
            fillers.push_back(std::make_unique<net::ip::tcp::socket>(ex));
            net::steady_timer t(ex, 50ms);
            fillers.back()->async_connect({net::ip::make_address("127.0.0.1"), port}, [](auto) {});
            co_await t.async_wait(use_tuple);
        }
        auto r = co_await client.send(get("http://127.0.0.1:" + std::to_string(port) + "/"));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::connect_timeout) << r.error().message;
        // The request deadline, when shorter, wins and is reported as such.
        Request g = get("http://127.0.0.1:" + std::to_string(port) + "/");
        g.timeout = 50ms;
        r = co_await client.send(g);
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::timeout) << r.error().message;
        for (auto& f : fillers) f->close();
        acceptor.close();
    }());
}

TEST_F(HttpClientTest, TransportRetriesAreBoundedByMaxAttempts) {
    const auto port = dead_port(ioc);
    auto opts = test_options();
    opts.retry.max_attempts = 3;
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get("http://127.0.0.1:" + std::to_string(port) + "/"));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::connect_failed);
        EXPECT_NE(r.error().message.find("after 3 attempts"), std::string::npos) << r.error().message;
        // A POST is not retried on a transport failure.
        r = co_await client.send(post("http://127.0.0.1:" + std::to_string(port) + "/", "x"));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().message.find("attempts"), std::string::npos) << r.error().message;
    }());
}

TEST_F(HttpClientTest, UnresolvableHostIsResolveFailed) {
    auto opts = test_options();
    opts.retry = RetryPolicy::none();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        // RFC 6761: .invalid never resolves.
        auto r = co_await client.send(get("http://no-such-host.invalid/"));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::resolve_failed) << r.error().message;
    }());
}

TEST_F(HttpClientTest, PeerThatNeverAnswersTimesOutAtTheDeadline) {
    HttpTestServer server(ioc, [](Session& s) -> net::awaitable<void> {
        co_await s.read_request();
        co_await s.wait_closed();
    });
    HttpClient client(test_options());
    run([&]() -> net::awaitable<void> {
        Request r = get(server.url());
        r.timeout = 200ms;
        const auto start = std::chrono::steady_clock::now();
        auto res = co_await client.send(r);
        CO_ASSERT(!(res), "");
        EXPECT_EQ(res.error().code, http_errc::timeout) << res.error().message;
        EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms) << "not before the deadline";
        EXPECT_EQ(client.idle_connections(), 0u);
        server.stop();
    }());
}

TEST_F(HttpClientTest, SlowBodyPastTheDeadlineTimesOut) {
    HttpTestServer server(ioc, [](Session& s) -> net::awaitable<void> {
        co_await s.read_request();
        co_await s.write_raw("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        net::steady_timer t(co_await net::this_coro::executor);
        for (int i = 0; i < 1000; ++i) {
            if (!co_await s.write_raw("x")) co_return;
            t.expires_after(20ms);
            co_await t.async_wait(use_tuple);
        }
    });
    HttpClient client(test_options());
    run([&]() -> net::awaitable<void> {
        Request r = get(server.url());
        r.timeout = 150ms;
        auto res = co_await client.send(r);
        CO_ASSERT(!(res), "");
        EXPECT_EQ(res.error().code, http_errc::timeout) << res.error().message;
        server.stop();
    }());
}

TEST_F(HttpClientTest, CloseMidBodyIsConnectionLost) {
    HttpTestServer server(ioc, [](Session& s) -> net::awaitable<void> {
        co_await s.read_request();
        co_await s.write_raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly half");
        s.close();
    });
    auto opts = test_options();
    opts.retry = RetryPolicy::none();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url()));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::connection_lost) << r.error().message;
        server.stop();
    }());
}

// Fault injection: the peer closes after every possible prefix of a valid
// response. Every cut is a clean connection_lost; only the whole works.
TEST_F(HttpClientTest, TruncationAtEveryByteIsConnectionLost) {
    const std::string full = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
    std::size_t cut = 0;
    HttpTestServer server(ioc, [&](Session& s) -> net::awaitable<void> {
        co_await s.read_request();
        co_await s.write_raw(std::string_view(full).substr(0, cut));
        s.close();
    });
    auto opts = test_options();
    opts.retry = RetryPolicy::none();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        for (cut = 0; cut <= full.size(); ++cut) {
            auto r = co_await client.send(get(server.url()));
            if (cut == full.size()) {
                EXPECT_TRUE(r);
                if (r) {
                    EXPECT_EQ(r->body, "hello");
                }
            } else {
                EXPECT_FALSE(r) << "cut at " << cut;
                if (!r) {
                    EXPECT_EQ(r.error().code, http_errc::connection_lost) << "cut at " << cut << ": " << r.error().message;
                }
            }
        }
        server.stop();
    }());
}

TEST_F(HttpClientTest, GarbageIsProtocolError) {
    std::string garbage;
    HttpTestServer server(ioc, [&](Session& s) -> net::awaitable<void> {
        co_await s.read_request();
        co_await s.write_raw(garbage);
        co_await s.wait_closed();
    });
    auto opts = test_options();
    opts.retry = RetryPolicy::none();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        for (std::string g : {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n",
                              "HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
                              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
            garbage = g;
            auto r = co_await client.send(get(server.url()));
            EXPECT_FALSE(r) << g;
            if (!r) {
                EXPECT_EQ(r.error().code, http_errc::protocol_error) << g << ": " << r.error().message;
            }
        }
        server.stop();
    }());
}

TEST_F(HttpClientTest, OversizeBodyAndHeaderAreRefused) {
    HttpTestServer server(ioc, HttpTestServer::respond([](const HttpTestServer::Request& req) {
        auto res = HttpTestServer::make_response(200);
        if (req.target() == "/big-body") res.body() = std::string(4096, 'b');
        if (req.target() == "/big-header")
            for (int i = 0; i < 10; ++i) res.insert("X-Huge-" + std::to_string(i), std::string(10 * 1024, 'h'));
        return res;
    }));
    auto opts = test_options();
    opts.max_response_bytes = 1024;
    opts.retry = RetryPolicy::none();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url("/big-body")));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::response_too_large) << r.error().message;
        r = co_await client.send(get(server.url("/big-header")));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::protocol_error) << r.error().message;
        r = co_await client.send(get(server.url("/small")));
        EXPECT_TRUE(r);
        server.stop();
    }());
}

TEST_F(HttpClientTest, EightMiBBodiesBothWays) {
    HttpTestServer server(ioc, HttpTestServer::respond([](const HttpTestServer::Request& req) {
        auto body = req.body();
        std::reverse(body.begin(), body.end());
        return HttpTestServer::make_response(200, std::move(body));
    }));
    HttpClient client(test_options());
    run([&]() -> net::awaitable<void> {
        std::string big(8 * 1024 * 1024, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
        auto r = co_await client.send(post(server.url("/big"), big));
        CO_ASSERT(static_cast<bool>(r), r.error().message);
        std::reverse(big.begin(), big.end());
        EXPECT_EQ(r->body.size(), big.size());
        EXPECT_TRUE(r->body == big);
        server.stop();
    }());
}

TEST_F(HttpClientTest, TooManyRequestsWithRetryAfterThenOk) {
    int seen = 0;
    HttpTestServer server(ioc, HttpTestServer::respond([&](const HttpTestServer::Request&) {
        if (seen++ == 0) {
            auto res = HttpTestServer::make_response(429, "slow down");
            res.set(bhttp::field::retry_after, "0");
            return res;
        }
        return HttpTestServer::make_response(200, "ok");
    }));
    HttpClient client(test_options());
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url()));
        CO_ASSERT(static_cast<bool>(r), r.error().message);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->attempts, 2u);
        EXPECT_EQ(seen, 2);
        server.stop();
    }());
}

TEST_F(HttpClientTest, RetryAfterLongerThanMaxBackoffIsNotAwaited) {
    HttpTestServer server(ioc, HttpTestServer::respond([](const HttpTestServer::Request&) {
        auto res = HttpTestServer::make_response(503);
        res.set(bhttp::field::retry_after, "3600");
        return res;
    }));
    HttpClient client(test_options());
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url()));
        CO_ASSERT(static_cast<bool>(r), "");
        EXPECT_EQ(r->status, 503);
        EXPECT_EQ(r->attempts, 1u);
        server.stop();
    }());
}

TEST_F(HttpClientTest, PostIsRetriedOnStatusOnlyWhenIdempotent) {
    HttpTestServer server(ioc, HttpTestServer::respond([](const HttpTestServer::Request&) {
        return HttpTestServer::make_response(503, "busy");
    }));
    auto opts = test_options();
    opts.retry.max_attempts = 3;
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(post(server.url(), "x"));
        CO_ASSERT(static_cast<bool>(r), "");
        EXPECT_EQ(r->status, 503);
        EXPECT_EQ(r->attempts, 1u);
        EXPECT_EQ(server.requests(), 1u);

        Request p = post(server.url(), "x");
        p.idempotent = true;
        r = co_await client.send(p);
        CO_ASSERT(static_cast<bool>(r), "retries exhausted on a status return that last response");
        EXPECT_EQ(r->status, 503);
        EXPECT_EQ(r->body, "busy");
        EXPECT_EQ(r->attempts, 3u);
        EXPECT_EQ(server.requests(), 4u);

        Request g = get(server.url());
        g.idempotent = false;
        r = co_await client.send(g);
        CO_ASSERT(static_cast<bool>(r), "");
        EXPECT_EQ(r->attempts, 1u) << "an explicit idempotent=false wins over the method";
        server.stop();
    }());
}

TEST_F(HttpClientTest, RetriesStopAtMaxElapsed) {
    HttpTestServer server(ioc, HttpTestServer::respond([](const HttpTestServer::Request& req) {
        auto res = HttpTestServer::make_response(503);
        if (req.target() == "/ra") res.set(bhttp::field::retry_after, "0");
        return res;
    }));
    auto opts = test_options();
    opts.retry.max_attempts = 1000;
    opts.retry.max_elapsed = 0ms;  // no time for any retry
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url("/ra")));
        CO_ASSERT(static_cast<bool>(r), "");
        EXPECT_EQ(r->attempts, 1u);
        // ... and never past the request's own deadline.
        Request g = get(server.url());
        g.retry = opts.retry;
        g.retry->max_elapsed = 60s;
        g.retry->retry_statuses = {503};
        g.timeout = 50ms;
        g.retry->initial_backoff = 10ms;
        const auto start = std::chrono::steady_clock::now();
        r = co_await client.send(g);
        CO_ASSERT(static_cast<bool>(r), "");
        EXPECT_EQ(r->status, 503);
        EXPECT_GT(r->attempts, 1u);
        EXPECT_LT(r->attempts, 1000u);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
        server.stop();
    }());
}

// An event a test coroutine can await: set() wakes wait().
class Event {
public:
    explicit Event(net::io_context& ioc) : timer_(ioc, std::chrono::steady_clock::time_point::max()) {}
    void set() {
        set_ = true;
        timer_.cancel();
    }
    net::awaitable<void> wait() {
        while (!set_) co_await timer_.async_wait(use_tuple);
    }

private:
    net::steady_timer timer_;
    bool set_ = false;
};

TEST_F(HttpClientTest, CancellationClosesTheConnectionAndReportsCancelled) {
    net::cancellation_signal cancel;
    Event peer_saw_close(ioc), client_done(ioc);
    HttpTestServer server(ioc, [&](Session& s) -> net::awaitable<void> {
        co_await s.read_request();
        cancel.emit(net::cancellation_type::terminal);  // the request is in flight now
        co_await s.wait_closed();
        peer_saw_close.set();
    });
    HttpClient client(test_options());
    std::optional<Result> result;
    net::co_spawn(ioc, client.send(get(server.url())),
                  net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, Result r) {
                      EXPECT_FALSE(e);
                      result = std::move(r);
                      client_done.set();
                  }));
    run([&]() -> net::awaitable<void> {
        co_await client_done.wait();
        co_await peer_saw_close.wait();  // only the client's close ends it: the server is still up
        server.stop();
    }(), 10s);
    ASSERT_TRUE(result);
    ASSERT_FALSE(*result);
    EXPECT_EQ(result->error().code, http_errc::cancelled) << result->error().message;
    EXPECT_EQ(client.idle_connections(), 0u);
}

TEST_F(HttpClientTest, CancellationDuringBackoff) {
    net::cancellation_signal cancel;
    Event client_done(ioc);
    HttpTestServer server(ioc, HttpTestServer::respond([&](const HttpTestServer::Request&) {
        auto res = HttpTestServer::make_response(503);
        res.set(bhttp::field::retry_after, "5");  // within max_backoff below: the client would sleep 5 s
        return res;
    }));
    auto opts = test_options();
    opts.retry.max_backoff = 10s;
    // The client logs "retrying" just before it sleeps; cancel once it does.
    opts.log = [&](blueprint::LogLevel, std::string_view line) {
        if (line.find("retrying") != std::string_view::npos)
            net::post(ioc, [&] { cancel.emit(net::cancellation_type::terminal); });
    };
    HttpClient client(opts);
    std::optional<Result> result;
    net::co_spawn(ioc, client.send(get(server.url())),
                  net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr, Result r) {
                      result = std::move(r);
                      client_done.set();
                  }));
    run([&]() -> net::awaitable<void> {
        co_await client_done.wait();
        server.stop();
    }(), 10s);
    ASSERT_TRUE(result);
    ASSERT_FALSE(*result);
    EXPECT_EQ(result->error().code, http_errc::cancelled);
    ASSERT_TRUE(result->error().last_response);
    EXPECT_EQ(result->error().last_response->status, 503);
    EXPECT_EQ(server.requests(), 1u);
}

TEST_F(HttpClientTest, HundredConcurrentRequests) {
    HttpTestServer server(ioc, echo_handler());
    auto opts = test_options();
    opts.max_idle_per_host = 16;
    HttpClient client(opts);
    int ok = 0, done = 0;
    Event all_done(ioc);
    run([&]() -> net::awaitable<void> {
        auto ex = co_await net::this_coro::executor;
        for (int i = 0; i < 100; ++i) {
            net::co_spawn(ex, client.send(get(server.url("/c/" + std::to_string(i)))),
                          [&, i](std::exception_ptr, Result r) {
                              if (r && r->status == 200 && r->body == "GET /c/" + std::to_string(i) + " ") ++ok;
                              if (++done == 100) all_done.set();
                          });
        }
        co_await all_done.wait();
        // A second wave reuses pooled connections.
        const auto before = server.connections();
        auto r = co_await client.send(get(server.url("/again")));
        EXPECT_TRUE(r);
        EXPECT_EQ(server.connections(), before);
        server.stop();
    }(), 20s);
    EXPECT_EQ(done, 100);
    EXPECT_EQ(ok, 100);
    EXPECT_LE(client.idle_connections(), 16u);
    EXPECT_GE(client.idle_connections(), 1u);
}

TEST(HttpClientThreads, MultiThreadedIoContextSharesThePool) {
    // The server on its own single-threaded context; the client's context on two threads.
    net::io_context server_ioc, client_ioc;
    HttpTestServer server(server_ioc, echo_handler());
    std::thread server_thread([&] { server_ioc.run(); });
    auto opts = test_options();
    opts.max_idle_per_host = 4;
    HttpClient client(opts);
    std::atomic<int> ok{0};
    auto guard = net::make_work_guard(client_ioc);
    for (int w = 0; w < 8; ++w) {
        net::co_spawn(client_ioc, [&, w]() -> net::awaitable<void> {
            const HttpClient copy = client;
            for (int i = 0; i < 25; ++i) {
                const std::string path = "/w" + std::to_string(w) + "/" + std::to_string(i);
                auto r = co_await copy.send(get(server.url(path)));
                if (r && r->body == "GET " + path + " ") ++ok;
            }
        }, net::detached);
    }
    guard.reset();
    std::thread t1([&] { client_ioc.run(); });
    client_ioc.run();
    t1.join();
    net::post(server_ioc, [&] { server.stop(); });
    server_thread.join();
    EXPECT_EQ(ok.load(), 200);
    EXPECT_LE(client.idle_connections(), 4u);
    EXPECT_LT(server.connections(), 200u) << "connections were reused";
}

TEST_F(HttpClientTest, ClientMayOutliveItsIoContext) {
    auto ctx = std::make_unique<net::io_context>();
    HttpClient client(test_options());
    {
        HttpTestServer server(*ctx, echo_handler());
        blueprint::test::run_coro(*ctx, [&]() -> net::awaitable<void> {
            EXPECT_TRUE(co_await client.send(get(server.url())));
            EXPECT_EQ(client.idle_connections(), 1u);
            server.stop();
        }());
    }
    ctx.reset();  // drops the pooled connection of that context
    EXPECT_EQ(client.idle_connections(), 0u);
}

// ---------------------------------------------------------------------------
// TLS

class HttpsClientTest : public HttpClientTest {
protected:
    static void SetUpTestSuite() {
        pki_ = new blueprint::test::TestPki(blueprint::test::make_test_pki({"127.0.0.1", "localhost"}, "good"));
        other_ = new blueprint::test::TestPki(blueprint::test::make_test_pki({"127.0.0.1", "localhost"}, "other"));
        wrong_name_ = new blueprint::test::TestPki(blueprint::test::make_test_pki({"other.example"}, "wrong-name"));
    }
    static void TearDownTestSuite() {
        delete pki_;
        delete other_;
        delete wrong_name_;
    }
    static inline blueprint::test::TestPki* pki_ = nullptr;
    static inline blueprint::test::TestPki* other_ = nullptr;
    static inline blueprint::test::TestPki* wrong_name_ = nullptr;
};

TEST_F(HttpsClientTest, TrustedCaViaCaFile) {
    HttpTestServer server(ioc, echo_handler(), pki_->server_context());
    auto opts = test_options();
    opts.ca_file = pki_->ca_file.string();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url("/tls")));
        CO_ASSERT(static_cast<bool>(r), r.error().message);
        EXPECT_EQ(r->body, "GET /tls ");
        // By name too: resolution, SNI and a DNS SAN.
        r = co_await client.send(post("https://localhost:" + std::to_string(server.port()) + "/n", "b"));
        CO_ASSERT(static_cast<bool>(r), r.error().message);
        EXPECT_EQ(r->body, "POST /n b");
        r = co_await client.send(get(server.url("/again")));
        EXPECT_TRUE(r);
        EXPECT_EQ(server.connections(), 2u) << "127.0.0.1 and localhost are two pools; each reused";
        server.stop();
    }());
}

TEST_F(HttpsClientTest, UntrustedCaIsTlsFailed) {
    HttpTestServer server(ioc, echo_handler(), pki_->server_context());
    auto opts = test_options();
    opts.ca_file = other_->ca_file.string();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url()));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::tls_failed);
        EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().message;
        EXPECT_EQ(r.error().code, http_errc::tls_failed);
        server.stop();
    }());
}

TEST_F(HttpsClientTest, WrongHostNameIsTlsFailed) {
    HttpTestServer server(ioc, echo_handler(), wrong_name_->server_context());
    auto opts = test_options();
    opts.ca_file = wrong_name_->ca_file.string();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url()));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::tls_failed);
        EXPECT_NE(r.error().message.find("host name"), std::string::npos) << r.error().message;
        server.stop();
    }());
}

TEST_F(HttpsClientTest, MissingCaFileIsTlsFailed) {
    HttpClient client([] {
        auto o = test_options();
        o.ca_file = "/nonexistent/ca.pem";
        return o;
    }());
    HttpTestServer server(ioc, echo_handler(), pki_->server_context());
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url()));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::tls_failed);
        EXPECT_NE(r.error().message.find("ca_file"), std::string::npos) << r.error().message;
        server.stop();
    }());
}

TEST_F(HttpsClientTest, VerifyTlsOffConnectsToAnyCertificate) {
    HttpTestServer server(ioc, echo_handler(), wrong_name_->server_context());
    auto opts = test_options();
    opts.verify_tls = false;
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get(server.url("/insecure")));
        CO_ASSERT(static_cast<bool>(r), r.error().message);
        EXPECT_EQ(r->body, "GET /insecure ");
        server.stop();
    }());
}

TEST_F(HttpsClientTest, PlainHttpPeerIsTlsFailed) {
    HttpTestServer server(ioc, [](Session& s) -> net::awaitable<void> {
        co_await s.write_raw("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        s.close();
    });
    auto opts = test_options();
    opts.verify_tls = false;
    opts.retry = RetryPolicy::none();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get("https://127.0.0.1:" + std::to_string(server.port()) + "/"));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::tls_failed) << r.error().message;
        server.stop();
    }());
}

// ---------------------------------------------------------------------------
// Proxies (environment read when the client is constructed)

class ScopedEnv {
public:
    ScopedEnv(std::initializer_list<std::pair<const char*, std::string>> vars) {
        for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"}) {
            if (const char* v = std::getenv(name)) saved_.emplace_back(name, v);
            unsetenv(name);
        }
        for (auto& [name, value] : vars) setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"})
            unsetenv(name);
        for (auto& [name, value] : saved_) setenv(name.c_str(), value.c_str(), 1);
    }

private:
    std::vector<std::pair<std::string, std::string>> saved_;
};

ClientOptions proxy_options() {
    auto o = test_options();
    o.use_env_proxy = true;
    o.retry = RetryPolicy::none();
    return o;
}

// Copies bytes from `from` to `to` until either side closes, then closes both.
net::awaitable<void> pump(net::ip::tcp::socket& from, net::ip::tcp::socket& to) {
    char buf[16 * 1024];
    for (;;) {
        auto [ec, n] = co_await from.async_read_some(net::buffer(buf), use_tuple);
        if (ec) break;
        auto [wec, wn] = co_await net::async_write(to, net::buffer(buf, n), use_tuple);
        if (wec) break;
    }
    boost::system::error_code ignored;
    from.close(ignored);
    to.close(ignored);
}

// A CONNECT proxy: tunnels to the requested 127.0.0.1 port, or refuses with `refuse_status`.
HttpTestServer::Handler connect_proxy(std::vector<std::string>& seen, unsigned refuse_status = 0) {
    return [&seen, refuse_status](Session& s) -> net::awaitable<void> {
        auto req = co_await s.read_request();
        if (!req) co_return;
        seen.push_back(std::string(req->method_string()) + " " + std::string(req->target()) + " host=" +
                       std::string((*req)[bhttp::field::host]) + " auth=" +
                       std::string((*req)[bhttp::field::proxy_authorization]));
        if (req->method() != bhttp::verb::connect || refuse_status != 0) {
            co_await s.write(HttpTestServer::make_response(refuse_status ? refuse_status : 405));
            co_return;
        }
        const std::string target(req->target());
        const auto port = static_cast<std::uint16_t>(std::stoi(target.substr(target.rfind(':') + 1)));
        net::ip::tcp::socket upstream(co_await net::this_coro::executor);
        auto [ec] = co_await upstream.async_connect({net::ip::make_address("127.0.0.1"), port}, use_tuple);
        if (ec) {
            co_await s.write(HttpTestServer::make_response(502));
            co_return;
        }
        co_await s.write_raw("HTTP/1.1 200 Connection Established\r\n\r\n");
        using namespace net::experimental::awaitable_operators;
        auto& down = s.plain_stream()->socket();
        co_await (pump(down, upstream) && pump(upstream, down));
    };
}

TEST_F(HttpClientTest, HttpProxyGetsAbsoluteFormTarget) {
    std::vector<std::string> seen;
    HttpTestServer proxy(ioc, HttpTestServer::respond([&](const HttpTestServer::Request& req) {
        seen.push_back(std::string(req.target()) + " host=" + std::string(req[bhttp::field::host]) + " auth=" +
                       std::string(req[bhttp::field::proxy_authorization]));
        return HttpTestServer::make_response(200, "from proxy");
    }));
    ScopedEnv env{{"HTTP_PROXY", "http://u:p@127.0.0.1:" + std::to_string(proxy.port())}};
    HttpClient client(proxy_options());
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get("http://origin.invalid:8080/p/a?q=1"));
        CO_ASSERT(static_cast<bool>(r), r.error().message);
        EXPECT_EQ(r->body, "from proxy");
        r = co_await client.send(get("http://origin.invalid:8080/second"));
        EXPECT_TRUE(r);
        CO_ASSERT((seen.size()) == (2u), "");
        EXPECT_EQ(seen[0], "http://origin.invalid:8080/p/a?q=1 host=origin.invalid:8080 auth=Basic dTpw");
        EXPECT_EQ(proxy.connections(), 1u) << "the proxy connection is pooled too";
        proxy.stop();
    }());
}

TEST_F(HttpClientTest, NoProxyBypassesAndLocalhostIsNotImplicitlyExempt) {
    std::vector<std::string> seen;
    HttpTestServer proxy(ioc, HttpTestServer::respond([&](const HttpTestServer::Request& req) {
        seen.emplace_back(req.target());
        return HttpTestServer::make_response(200, "from proxy");
    }));
    HttpTestServer origin(ioc, echo_handler());
    const std::string proxy_url = "127.0.0.1:" + std::to_string(proxy.port());
    // One run: the servers live until the end of it.
    run([&]() -> net::awaitable<void> {
        {
            ScopedEnv env{{"http_proxy", proxy_url}};
            HttpClient client(proxy_options());
            auto r = co_await client.send(get(origin.url("/x")));
            EXPECT_TRUE(r);
            if (r) {
                EXPECT_EQ(r->body, "from proxy") << "like curl, 127.0.0.1 is proxied unless NO_PROXY lists it";
            }
        }
        {
            ScopedEnv env{{"http_proxy", proxy_url}, {"NO_PROXY", "example.com, 127.0.0.1"}};
            HttpClient client(proxy_options());
            auto r = co_await client.send(get(origin.url("/x")));
            EXPECT_TRUE(r);
            if (r) {
                EXPECT_EQ(r->body, "GET /x ");
            }
        }
        {
            ScopedEnv env{{"http_proxy", proxy_url}};
            auto opts = proxy_options();
            opts.use_env_proxy = false;
            HttpClient client(opts);
            auto r = co_await client.send(get(origin.url("/y")));
            EXPECT_TRUE(r);
            if (r) {
                EXPECT_EQ(r->body, "GET /y ");
            }
        }
        proxy.stop();
        origin.stop();
    }());
    EXPECT_EQ(seen.size(), 1u);
}

TEST_F(HttpsClientTest, HttpsThroughConnectTunnel) {
    HttpTestServer origin(ioc, echo_handler(), pki_->server_context());
    std::vector<std::string> seen;
    HttpTestServer proxy(ioc, connect_proxy(seen));
    ScopedEnv env{{"https_proxy", "http://127.0.0.1:" + std::to_string(proxy.port())},
                  {"http_proxy", "http://127.0.0.1:1"}};
    auto opts = proxy_options();
    opts.ca_file = pki_->ca_file.string();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        const std::string url = "https://localhost:" + std::to_string(origin.port()) + "/secure?k=v";
        auto r = co_await client.send(get(url));
        CO_ASSERT(static_cast<bool>(r), r.error().message);
        EXPECT_EQ(r->body, "GET /secure?k=v ");
        r = co_await client.send(post(url, "again"));
        CO_ASSERT(static_cast<bool>(r), r.error().message);
        EXPECT_EQ(r->body, "POST /secure?k=v again");
        CO_ASSERT((seen.size()) == (1u), "the tunnel is kept alive and reused");
        const std::string authority = "localhost:" + std::to_string(origin.port());
        EXPECT_EQ(seen[0], "CONNECT " + authority + " host=" + authority + " auth=");
        proxy.stop();
        origin.stop();
    }());
}

TEST_F(HttpsClientTest, ProxyRefusingTheTunnelIsProxyFailed) {
    std::vector<std::string> seen;
    HttpTestServer proxy(ioc, connect_proxy(seen, 403));
    ScopedEnv env{{"HTTPS_PROXY", "127.0.0.1:" + std::to_string(proxy.port())}};
    auto opts = proxy_options();
    opts.ca_file = pki_->ca_file.string();
    HttpClient client(opts);
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get("https://127.0.0.1:9/"));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::proxy_failed) << r.error().message;
        EXPECT_NE(r.error().message.find("403"), std::string::npos) << r.error().message;
        proxy.stop();
    }());
}

TEST_F(HttpClientTest, BadProxySettingIsInvalidUrl) {
    ScopedEnv env{{"http_proxy", "socks5://127.0.0.1:1080"}};
    HttpClient client(proxy_options());
    run([&]() -> net::awaitable<void> {
        auto r = co_await client.send(get("http://example.com/"));
        CO_ASSERT(!(r), "");
        EXPECT_EQ(r.error().code, http_errc::invalid_url) << r.error().message;
    }());
}

}  // namespace
