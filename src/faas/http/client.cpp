// HttpClient on Boost.Beast: keep-alive pool, TLS, proxies, deadlines, retries.
//
// Deadlines use beast::tcp_stream's expiry (Boost 1.81 has no
// asio::cancel_after): every socket operation of one attempt runs under
// expires_at(deadline), and beast::error::timeout is mapped to
// connect_timeout / timeout. Caller cancellation reaches the socket through
// the awaitable's cancellation slot (Beast 1.81 ops honour it) and is
// reported as http_errc::cancelled.
#include <blueprint/faas/http_client.hpp>

#include "faas/http/url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <random>
#include <unordered_map>

namespace blueprint::faas::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
/// Cap on the response status line plus headers.
constexpr std::uint32_t header_limit = 64 * 1024;

struct Connection {
    net::execution_context* context = nullptr;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    clock_type::time_point idle_since{};
    // Set by the verify callback when the chain was fine but the name was not.
    bool host_mismatch = false;

    beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    template <class F> auto visit(F&& f) { return tls ? f(*tls) : f(*plain); }
};

using ConnectionPtr = std::unique_ptr<Connection>;

bool default_idempotent(std::string_view method) noexcept {
    return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS" ||
           method == "TRACE";
}

using beast::iequals;

double random01() {
    thread_local std::minstd_rand rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

HttpError make_error(http_errc code, std::string message) {
    return HttpError{.code = make_error_code(code), .message = std::move(message), .last_response = std::nullopt};
}

bool is_connection_loss(const error_code& ec) noexcept {
    return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == net::error::connection_aborted ||
           ec == net::error::broken_pipe || ec == net::error::not_connected || ec == net::error::bad_descriptor ||
           ec == ssl::error::stream_truncated;
}

// Transport failures worth another attempt of an idempotent request.
bool retryable(const error_code& ec) noexcept {
    return ec == http_errc::connect_failed || ec == http_errc::connect_timeout || ec == http_errc::connection_lost;
}

std::string describe(std::string_view what, const detail::Url& url, const error_code& ec) {
    std::string m(what);
    m += ' ';
    m += url.host_header;
    m += ": ";
    m += ec.message();
    return m;
}

/// Per-io_context hook: when a context shuts down, every client drops its
/// idle connections of that context, so a client may outlive the context
/// without closing sockets of a destroyed reactor.
class PoolShutdownService;

}  // namespace

namespace detail {

/// The shared state behind HttpClient (its Impl derives from this).
struct ClientCore : std::enable_shared_from_this<ClientCore> {
    explicit ClientCore(ClientOptions o);

    ClientOptions options;
    detail::ProxyEnv proxy_env;
    ssl::context tls_context{ssl::context::tls_client};
    std::string tls_setup_error;  // set when ca_file could not be loaded

    // The pool: key -> idle connections, newest at the back.
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::vector<ConnectionPtr>> idle;
    std::size_t idle_count = 0;
    std::vector<net::execution_context*> hooked_contexts;

    ConnectionPtr acquire(const std::string& key);
    void release(const std::string& key, ConnectionPtr conn);
    void drop_context(net::execution_context* ctx);

    net::awaitable<std::expected<Response, HttpError>> send(Request request);

    /// parse_url results by URL. A client talks to few distinct URLs, and
    /// parsing one costs ~4k instructions per request (Boost.URL), ~5% of
    /// the client's CPU under load (docs/performance.md).
    std::expected<Url, std::string> parse_url_cached(std::string_view text);
    std::mutex url_mutex;
    std::unordered_map<std::string, Url> url_cache;  ///< guarded by url_mutex
};

std::expected<Url, std::string> ClientCore::parse_url_cached(std::string_view text) {
    {
        std::lock_guard lock(url_mutex);
        if (auto it = url_cache.find(std::string(text)); it != url_cache.end()) return it->second;
    }
    auto parsed = parse_url(text);
    if (!parsed) return parsed;  // failures are not cached: they are rare and cheap to redo
    std::lock_guard lock(url_mutex);
    // Bounded: callers that put unique query strings in every URL would
    // otherwise grow it without end.
    if (url_cache.size() >= 1024) url_cache.clear();
    url_cache.emplace(std::string(text), *parsed);
    return parsed;
}

}  // namespace detail

struct HttpClient::Impl : detail::ClientCore {
    using ClientCore::ClientCore;
};

namespace {

class PoolShutdownService final : public net::execution_context::service {
public:
    static inline net::execution_context::id id;
    explicit PoolShutdownService(net::execution_context& ctx) : service(ctx) {}

    void add(std::weak_ptr<detail::ClientCore> impl) {
        std::lock_guard lock(mutex_);
        std::erase_if(clients_, [](const auto& w) { return w.expired(); });
        clients_.push_back(std::move(impl));
    }

private:
    void shutdown() override {
        std::vector<std::weak_ptr<detail::ClientCore>> clients;
        {
            std::lock_guard lock(mutex_);
            clients.swap(clients_);
        }
        for (auto& w : clients)
            if (auto impl = w.lock()) impl->drop_context(&context());
    }

    std::mutex mutex_;
    std::vector<std::weak_ptr<detail::ClientCore>> clients_;
};

}  // namespace

detail::ClientCore::ClientCore(ClientOptions o) : options(std::move(o)) {
    if (options.use_env_proxy) proxy_env = detail::ProxyEnv::from_environment();
    error_code ec;
    tls_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (options.verify_tls) {
        tls_context.set_verify_mode(ssl::verify_peer, ec);
        tls_context.set_default_verify_paths(ec);
        if (ec) ec = {};  // no system store is not fatal when ca_file is given
        if (!options.ca_file.empty()) {
            tls_context.load_verify_file(options.ca_file, ec);
            if (ec) tls_setup_error = "cannot load ca_file " + options.ca_file + ": " + ec.message();
        }
    } else {
        tls_context.set_verify_mode(ssl::verify_none, ec);
    }
}

ConnectionPtr detail::ClientCore::acquire(const std::string& key) {
    std::vector<ConnectionPtr> expired;  // closed outside the lock
    ConnectionPtr found;
    {
        std::lock_guard lock(mutex);
        auto it = idle.find(key);
        if (it == idle.end() || it->second.empty()) return nullptr;
        auto& stack = it->second;
        if (clock_type::now() - stack.back()->idle_since < options.idle_timeout) {
            found = std::move(stack.back());
            stack.pop_back();
            --idle_count;
        } else {
            // The newest is too old, so all are.
            idle_count -= stack.size();
            expired.swap(stack);
        }
    }
    return found;
}

void detail::ClientCore::release(const std::string& key, ConnectionPtr conn) {
    if (options.max_idle_per_host == 0) return;
    net::execution_context* ctx = conn->context;
    conn->idle_since = clock_type::now();
    ConnectionPtr evicted;
    bool hook = false;
    {
        std::lock_guard lock(mutex);
        auto& stack = idle[key];
        if (stack.size() >= options.max_idle_per_host) {
            evicted = std::move(stack.front());  // the oldest goes
            stack.erase(stack.begin());
            --idle_count;
        }
        stack.push_back(std::move(conn));
        ++idle_count;
        if (std::find(hooked_contexts.begin(), hooked_contexts.end(), ctx) == hooked_contexts.end()) {
            hooked_contexts.push_back(ctx);
            hook = true;
        }
    }
    if (hook) net::use_service<PoolShutdownService>(*ctx).add(weak_from_this());
}

void detail::ClientCore::drop_context(net::execution_context* ctx) {
    std::vector<ConnectionPtr> dropped;
    {
        std::lock_guard lock(mutex);
        std::erase(hooked_contexts, ctx);
        for (auto& [key, stack] : idle) {
            for (auto& c : stack)
                if (c->context == ctx) dropped.push_back(std::move(c));
            std::erase(stack, nullptr);
        }
        idle_count -= dropped.size();
    }
}

namespace {

/// Where and how one request travels: direct, via a forward proxy
/// (absolute-form target) or through a CONNECT tunnel.
struct Route {
    const detail::Url* url = nullptr;
    std::optional<detail::ProxyUrl> proxy;
    bool tunnel = false;  // https via proxy

    std::string_view connect_host() const { return proxy ? std::string_view(proxy->host) : url->host; }
    std::uint16_t connect_port() const { return proxy ? proxy->port : url->port; }
};

/// The request line and header block of `msg`: what Beast's serializer
/// writes for a message whose framing is Content-Length (or no body), which
/// is all this client sends (send() strips caller framing headers). Written
/// together with the body in one gather write: Beast's generic serializer
/// cost ~24k instructions per request, ~25% of the client's CPU under load
/// (docs/performance.md).
std::string serialize_head(const bhttp::request<bhttp::string_body>& msg) {
    std::string out;
    out.reserve(256);
    out.append(msg.method_string().data(), msg.method_string().size());
    out += ' ';
    out.append(msg.target().data(), msg.target().size());
    out += msg.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
    for (const auto& f : msg) {
        out.append(f.name_string().data(), f.name_string().size());
        out += ": ";
        out.append(f.value().data(), f.value().size());
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

struct Attempt {
    detail::ClientCore& impl;
    const Route& route;
    const std::string& pool_key;
    bhttp::request<bhttp::string_body>& msg;
    /// serialize_head(msg), built once and re-sent as is on retries.
    const std::string& head_block;
    clock_type::time_point deadline;
    bool head = false;

    const detail::Url& url() const { return *route.url; }

    static net::awaitable<bool> cancelled() {
        auto cs = co_await net::this_coro::cancellation_state;
        co_return cs.cancelled() != net::cancellation_type::none;
    }

    net::awaitable<std::expected<ConnectionPtr, HttpError>> connect() {
        auto ex = co_await net::this_coro::executor;
        const auto connect_deadline = std::min(clock_type::now() + impl.options.connect_timeout, deadline);
        const bool request_deadline_first = connect_deadline == deadline;
        auto timed_out = [&](std::string what) {
            return make_error(request_deadline_first ? http_errc::timeout : http_errc::connect_timeout,
                              what + " " + url().host_header + " timed out");
        };

        auto conn = std::make_unique<Connection>();
        conn->context = &net::query(ex, net::execution::context);
        // Each connection gets its own strand: the stream's internal timer
        // handler and its I/O completions never run concurrently on a
        // multi-threaded io_context, whichever coroutine uses it next.
        conn->plain.emplace(net::make_strand(ex));

        const std::string host(route.connect_host());
        const auto port = route.connect_port();
        error_code ec;
        const auto address = net::ip::make_address(host, ec);
        if (!ec) {
            conn->plain->expires_at(connect_deadline);
            auto [cec] = co_await conn->plain->async_connect(tcp::endpoint(address, port), use_tuple);
            ec = cec;
        } else {
            // Name resolution has no deadline of its own (getaddrinfo runs on
            // a helper thread and cannot be interrupted); the connect deadline
            // is checked once it returns.
            tcp::resolver resolver(ex);
            auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), use_tuple);
            if (rec) {
                if (co_await cancelled()) co_return std::unexpected(make_error(http_errc::cancelled, "request cancelled"));
                co_return std::unexpected(
                    make_error(http_errc::resolve_failed, "cannot resolve " + host + ": " + rec.message()));
            }
            if (clock_type::now() >= connect_deadline) co_return std::unexpected(timed_out("connecting to"));
            conn->plain->expires_at(connect_deadline);
            auto [cec, ep] = co_await conn->plain->async_connect(results, use_tuple);
            ec = cec;
        }
        if (ec) {
            if (co_await cancelled()) co_return std::unexpected(make_error(http_errc::cancelled, "request cancelled"));
            if (ec == beast::error::timeout) co_return std::unexpected(timed_out("connecting to"));
            std::string what = route.proxy ? "cannot connect to proxy " + host + ":" + std::to_string(port) + " for"
                                           : std::string("cannot connect to");
            co_return std::unexpected(make_error(http_errc::connect_failed, describe(what, url(), ec)));
        }
        conn->plain->socket().set_option(tcp::no_delay(true), ec);

        if (route.tunnel) {
            if (auto r = co_await open_tunnel(*conn, connect_deadline, request_deadline_first); !r)
                co_return std::unexpected(std::move(r.error()));
        }

        if (url().tls) {
            if (!impl.tls_setup_error.empty())
                co_return std::unexpected(make_error(http_errc::tls_failed, impl.tls_setup_error));
            conn->tls.emplace(std::move(*conn->plain), impl.tls_context);
            conn->plain.reset();
            auto* native = conn->tls->native_handle();
            // SNI must be a DNS name (RFC 6066 §3), never an IP literal.
            if (!url().host_is_ip) SSL_set_tlsext_host_name(native, url().host.c_str());
            if (impl.options.verify_tls) {
                Connection* c = conn.get();
                conn->tls->set_verify_callback(
                    [c, check = ssl::host_name_verification(url().host)](bool preverified,
                                                                        ssl::verify_context& vctx) mutable {
                        if (!preverified) return false;
                        // host_name_verification only looks at the leaf.
                        if (X509_STORE_CTX_get_error_depth(vctx.native_handle()) > 0) return true;
                        const bool ok = check(preverified, vctx);
                        if (!ok) c->host_mismatch = true;
                        return ok;
                    },
                    ec);
            }
            conn->tcp().expires_at(connect_deadline);
            auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, use_tuple);
            if (hec) {
                if (co_await cancelled()) co_return std::unexpected(make_error(http_errc::cancelled, "request cancelled"));
                if (hec == beast::error::timeout) co_return std::unexpected(timed_out("TLS handshake with"));
                std::string m = "TLS handshake with " + url().host + " failed: ";
                if (conn->host_mismatch) {
                    m += "the certificate does not match the host name " + url().host;
                } else if (const long vr = SSL_get_verify_result(native); vr != X509_V_OK) {
                    m += X509_verify_cert_error_string(vr);
                } else {
                    m += hec.message();
                }
                co_return std::unexpected(make_error(http_errc::tls_failed, std::move(m)));
            }
        }
        co_return conn;
    }

    // CONNECT host:port through the proxy on the plain stream.
    net::awaitable<std::expected<void, HttpError>> open_tunnel(Connection& conn, clock_type::time_point connect_deadline,
                                                               bool request_deadline_first) {
        const std::string authority =
            (url().host.find(':') != std::string::npos ? "[" + url().host + "]" : url().host) + ":" +
            std::to_string(url().port);
        bhttp::request<bhttp::empty_body> req{bhttp::verb::connect, authority, 11};
        req.set(bhttp::field::host, authority);
        req.set(bhttp::field::user_agent, impl.options.user_agent);
        if (!route.proxy->authorization.empty()) req.set(bhttp::field::proxy_authorization, route.proxy->authorization);
        conn.plain->expires_at(connect_deadline);
        auto fail = [&](const error_code& ec) -> net::awaitable<HttpError> {
            if (co_await cancelled()) co_return make_error(http_errc::cancelled, "request cancelled");
            if (ec == beast::error::timeout)
                co_return make_error(request_deadline_first ? http_errc::timeout : http_errc::connect_timeout,
                                     "proxy CONNECT to " + url().host_header + " timed out");
            co_return make_error(http_errc::proxy_failed, describe("proxy CONNECT to", url(), ec));
        };
        if (auto [ec, n] = co_await bhttp::async_write(*conn.plain, req, use_tuple); ec)
            co_return std::unexpected(co_await fail(ec));
        bhttp::response_parser<bhttp::empty_body> parser;
        parser.skip(true);  // a 2xx reply to CONNECT has no body; the tunnel starts after the header
        parser.header_limit(header_limit);
        if (auto [ec, n] = co_await bhttp::async_read(*conn.plain, conn.buffer, parser, use_tuple); ec)
            co_return std::unexpected(co_await fail(ec));
        const int status = parser.get().result_int();
        if (status < 200 || status > 299)
            co_return std::unexpected(make_error(http_errc::proxy_failed, "proxy refused CONNECT to " +
                                                                              url().host_header + " with HTTP " +
                                                                              std::to_string(status)));
        if (conn.buffer.size() != 0)
            co_return std::unexpected(make_error(http_errc::proxy_failed, "proxy sent data before the TLS handshake"));
        co_return std::expected<void, HttpError>{};
    }

    // Maps a failure of the request/response exchange.
    net::awaitable<HttpError> exchange_error(const error_code& ec, std::string_view phase) {
        if (co_await cancelled()) co_return make_error(http_errc::cancelled, "request cancelled");
        std::string where = std::string(phase) + " " + url().host_header;
        if (ec == beast::error::timeout) co_return make_error(http_errc::timeout, "request to " + url().host_header + " timed out");
        if (ec == bhttp::error::body_limit)
            co_return make_error(http_errc::response_too_large,
                                 "response from " + url().host_header + " exceeds max_response_bytes (" +
                                     std::to_string(impl.options.max_response_bytes) + ")");
        if (ec == bhttp::error::header_limit)
            co_return make_error(http_errc::protocol_error, "response header from " + url().host_header +
                                                                " exceeds " + std::to_string(header_limit) + " bytes");
        if (ec == net::error::operation_aborted) co_return make_error(http_errc::cancelled, "request cancelled");
        if (is_connection_loss(ec)) co_return make_error(http_errc::connection_lost, where + ": " + ec.message());
        if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category())
            co_return make_error(http_errc::protocol_error, "invalid HTTP response from " + url().host_header + ": " + ec.message());
        co_return make_error(http_errc::connection_lost, "connection to " + url().host_header + " failed: " + ec.message());
    }

    // One request/response on `conn`. `got_bytes` tells whether any part of
    // a response arrived; `reusable` whether the connection may be pooled.
    net::awaitable<std::expected<Response, HttpError>> exchange(Connection& conn, bool& got_bytes, bool& reusable) {
        got_bytes = false;
        reusable = false;
        conn.tcp().expires_at(deadline);
        const std::array<net::const_buffer, 2> wire{net::buffer(head_block), net::buffer(msg.body())};
        auto [wec, wn] = co_await conn.visit([&](auto& s) { return net::async_write(s, wire, use_tuple); });
        if (wec) co_return std::unexpected(co_await exchange_error(wec, "sending to"));

        std::optional<bhttp::response_parser<bhttp::string_body>> parser;
        for (;;) {
            parser.emplace();
            parser->body_limit(impl.options.max_response_bytes);
            parser->header_limit(header_limit);
            if (head) parser->skip(true);
            auto [rec, rn] =
                co_await conn.visit([&](auto& s) { return bhttp::async_read(s, conn.buffer, *parser, use_tuple); });
            got_bytes = got_bytes || parser->got_some() || conn.buffer.size() != 0;
            if (rec) co_return std::unexpected(co_await exchange_error(rec, "reading from"));
            const int status = parser->get().result_int();
            // Interim 1xx responses (100 Continue, 103 Early Hints) precede the real one.
            if (status >= 100 && status < 200 && status != 101) continue;
            break;
        }
        conn.tcp().expires_never();
        auto res = parser->release();
        reusable = res.keep_alive() && conn.buffer.size() == 0 && res.result_int() != 101;
        Response out;
        out.status = res.result_int();
        out.headers.reserve(static_cast<std::size_t>(std::distance(res.begin(), res.end())));
        for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        out.body = std::move(res.body());
        co_return out;
    }

    net::awaitable<std::expected<Response, HttpError>> run() {
        ConnectionPtr conn = impl.acquire(pool_key);
        bool reused = conn != nullptr;
        for (;;) {
            if (!conn) {
                auto c = co_await connect();
                if (!c) co_return std::unexpected(std::move(c.error()));
                conn = std::move(*c);
            }
            bool got_bytes = false, reusable = false;
            auto r = co_await exchange(*conn, got_bytes, reusable);
            if (!r && reused && !got_bytes && r.error().code == http_errc::connection_lost) {
                // A pooled connection the peer had closed while idle: the
                // request was never processed, so resend it on a fresh one.
                conn.reset();
                reused = false;
                continue;
            }
            if (r && reusable) impl.release(pool_key, std::move(conn));
            co_return r;
        }
    }
};

}  // namespace

net::awaitable<std::expected<Response, HttpError>> detail::ClientCore::send(Request request) {
    auto parsed = parse_url_cached(request.url);
    if (!parsed) co_return std::unexpected(make_error(http_errc::invalid_url, "invalid URL: " + parsed.error()));
    const detail::Url& url = *parsed;
    const auto start = clock_type::now();
    const auto deadline = start + request.timeout.value_or(options.request_timeout);
    const RetryPolicy& policy = request.retry ? *request.retry : options.retry;
    const bool idempotent = request.idempotent.value_or(default_idempotent(request.method));

    Route route;
    route.url = &url;
    if (auto proxy = detail::select_proxy(proxy_env, url); !proxy.empty()) {
        auto p = detail::parse_proxy_url(proxy);
        if (!p) co_return std::unexpected(make_error(http_errc::invalid_url, "proxy setting: " + p.error()));
        route.proxy = std::move(*p);
        route.tunnel = url.tls;
    }

    auto ex = co_await net::this_coro::executor;
    std::string pool_key;
    pool_key.reserve(url.host.size() + 48);
    pool_key += url.tls ? "https://" : "http://";
    pool_key += url.host_header;
    if (route.proxy) {
        pool_key += "|via ";
        pool_key += route.proxy->host;
        pool_key += ':';
        pool_key += std::to_string(route.proxy->port);
    }
    pool_key += '|';
    pool_key += std::to_string(reinterpret_cast<std::uintptr_t>(&net::query(ex, net::execution::context)));

    // The request message is built once and re-sent as is on retries.
    bhttp::request<bhttp::string_body> msg;
    msg.version(11);
    msg.method_string(request.method);
    if (route.proxy && !route.tunnel) {
        std::string target = "http://";
        target += url.host_header;
        target += url.target;
        msg.target(target);
        if (!route.proxy->authorization.empty()) msg.set(bhttp::field::proxy_authorization, route.proxy->authorization);
    } else {
        msg.target(url.target);
    }
    msg.set(bhttp::field::host, url.host_header);
    msg.set(bhttp::field::user_agent, options.user_agent);
    for (auto& [name, value] : request.headers) {
        // Framing is ours: a caller's Content-Length/Transfer-Encoding could desync the connection.
        if (iequals(name, "content-length") || iequals(name, "transfer-encoding")) continue;
        if (iequals(name, "host") || iequals(name, "user-agent"))
            msg.set(name, value);
        else
            msg.insert(name, value);
    }
    const bool head = iequals(request.method, "HEAD");
    if (!request.body.empty() || !(head || iequals(request.method, "GET")))
        msg.content_length(request.body.size());
    msg.body() = std::move(request.body);

    auto log = [&](LogLevel level, const std::string& line) {
        if (options.log) options.log(level, line);
    };
    // Logged as method + host + path: never the query or any header.
    auto what = [&] {
        return request.method + " " + (url.tls ? "https://" : "http://") + url.host_header +
               url.target.substr(0, url.target.find('?'));
    };

    const std::string head_block = serialize_head(msg);
    Attempt attempt{*this, route, pool_key, msg, head_block, deadline, head};
    std::optional<Response> last;
    std::optional<HttpError> last_error;
    for (unsigned n = 1;; ++n) {
        auto r = co_await attempt.run();
        std::optional<std::chrono::milliseconds> retry_after;
        std::string reason;
        if (r) {
            r->attempts = n;
            const bool retry_status =
                std::find(policy.retry_statuses.begin(), policy.retry_statuses.end(), r->status) !=
                policy.retry_statuses.end();
            if (!retry_status || !idempotent || n >= policy.max_attempts) co_return std::move(*r);
            if (auto ra = r->header("retry-after"); !ra.empty()) {
                retry_after = parse_retry_after(ra, std::chrono::system_clock::now());
                // The peer asks for a longer pause than we are willing to wait.
                if (retry_after && *retry_after > policy.max_backoff) co_return std::move(*r);
            }
            reason = "HTTP " + std::to_string(r->status);
            last = std::move(*r);
            last_error.reset();
        } else {
            auto& err = r.error();
            if (!idempotent || n >= policy.max_attempts || !retryable(err.code)) {
                if (n > 1) err.message += " (after " + std::to_string(n) + " attempts)";
                err.last_response = std::move(last);
                co_return std::move(r);
            }
            reason = err.message;
            // Kept in case the retry budget ends the loop.
            last_error = std::move(err);
        }
        const auto delay = policy.backoff(n + 1, retry_after, random01());
        const auto now = clock_type::now();
        if (now + delay >= deadline || (now + delay) - start > policy.max_elapsed) {
            if (!last_error) co_return std::move(*last);  // the retryable status is the answer
            HttpError e = std::move(*last_error);
            e.message += " (after " + std::to_string(n) + " attempts; retry budget exhausted)";
            e.last_response = std::move(last);
            co_return std::unexpected(std::move(e));
        }
        log(LogLevel::debug, "http: retrying " + what() + " (attempt " + std::to_string(n + 1) + ") in " +
                                 std::to_string(delay.count()) + " ms after " + reason);
        if (co_await Attempt::cancelled()) {  // awaiting would throw; keep the last response
            HttpError e = make_error(http_errc::cancelled, "request cancelled");
            e.last_response = std::move(last);
            co_return std::unexpected(std::move(e));
        }
        net::steady_timer timer(ex, delay);
        auto [tec] = co_await timer.async_wait(use_tuple);
        if (tec) {
            HttpError e = make_error(http_errc::cancelled, "request cancelled");
            e.last_response = std::move(last);
            co_return std::unexpected(std::move(e));
        }
    }
}

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}

net::awaitable<std::expected<Response, HttpError>> HttpClient::send(Request request) const {
    auto impl = impl_;  // the pool outlives this call even if the client is destroyed meanwhile
    try {
        co_return co_await impl->send(std::move(request));
    } catch (const boost::system::system_error& e) {
        // Awaiting after the caller's cancellation throws operation_aborted.
        if (e.code() == net::error::operation_aborted)
            co_return std::unexpected(make_error(http_errc::cancelled, "request cancelled"));
        co_return std::unexpected(make_error(http_errc::connection_lost, e.what()));
    }
}

const ClientOptions& HttpClient::options() const noexcept { return impl_->options; }

std::size_t HttpClient::idle_connections() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->idle_count;
}

}  // namespace blueprint::faas::http
