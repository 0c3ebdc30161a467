// HTTP mode (ARCHITECTURE.md §5, item 3): a Beast server on coroutines.
//
// Threads: one io_context thread does all socket I/O and owns every piece of
// server state (sessions, the cold-start flag), so none of it needs a lock.
// Handlers run on a thread_pool (ServeOptions::threads) so a slow handler
// never stalls the acceptor or other connections; each job costs one post to
// the pool and one post back.
//
// Shutdown (SIGTERM/SIGINT): close the acceptor, cancel the reads of idle
// keep-alive connections, let in-flight requests finish and answer them with
// "Connection: close", then return 0. A second signal exits at once (status
// 1), for a handler that never returns.
#include "function/modes.hpp"
#include "function/protocol.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>

#include <sys/resource.h>

namespace blueprint::function::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace wire = blueprint::faas::wire;
using tcp = asio::ip::tcp;

using Request = http::request<http::vector_body<std::uint8_t>>;
using Response = http::response<http::string_body>;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Runs `fn` on `pool` and completes on the awaiting coroutine's executor.
// (asio::post(pool, token) would only hop there and back without running
// anything; this runs the work there and posts the result back.)
template <class Fn, class Token>
auto async_run_on(asio::thread_pool::executor_type pool, Fn fn, Token&& token) {
    using Result = std::invoke_result_t<Fn&>;
    return asio::async_initiate<Token, void(Result)>(
        [pool](auto handler, Fn fn) {
            auto work = asio::make_work_guard(asio::get_associated_executor(handler));
            asio::post(pool, [handler = std::move(handler), fn = std::move(fn), work = std::move(work)]() mutable {
                Result result = fn();
                auto home = work.get_executor();
                asio::post(home, [handler = std::move(handler), result = std::move(result)]() mutable {
                    std::move(handler)(std::move(result));
                });
            });
        },
        token, std::move(fn));
}

double memory_used_mb() {
    // Peak resident set of the process: what the platform API's
    // memory_used_mb means (Lambda's "Max Memory Used" likewise).
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

class HttpServer {
public:
    HttpServer(const Handler& handler, const ServeOptions& options, std::string_view mode, const HttpFront* front)
        : handler_(handler), options_(options), mode_(mode), front_(front), pool_(options.threads == 0 ? 1 : options.threads) {}

    int run(unsigned short port) {
        boost::system::error_code ec;
        tcp::endpoint endpoint;
        auto address = asio::ip::make_address(options_.host, ec);
        if (!ec) {
            endpoint = tcp::endpoint(address, port);
        } else {
            tcp::resolver resolver(ioc_);
            auto results = resolver.resolve(options_.host, std::to_string(port), ec);
            if (ec || results.empty()) {
                std::fprintf(stderr, "blueprint::function (http): cannot resolve host '%s': %s\n", options_.host.c_str(),
                             ec.message().c_str());
                return 1;
            }
            endpoint = results.begin()->endpoint();
        }
        if (acceptor_.open(endpoint.protocol(), ec); !ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) acceptor_.bind(endpoint, ec);
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            std::fprintf(stderr, "blueprint::function (http): cannot listen on %s:%u: %s\n", options_.host.c_str(), port,
                         ec.message().c_str());
            return 1;
        }
        const auto bound = acceptor_.local_endpoint(ec);
        const std::string shown = bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
        std::fprintf(stderr, "listening on %s:%u\n", shown.c_str(), bound.port());
        std::fflush(stderr);
        if (options_.on_listening) options_.on_listening(bound.port());

        wait_for_signal();
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        ioc_.run();
        pool_.join();
        return 0;
    }

private:
    struct Session {
        tcp::socket* socket;
        bool idle = true;  // waiting for a request; safe to cancel on shutdown
    };

    void wait_for_signal() {
        signals_.async_wait([this](boost::system::error_code ec, int sig) {
            if (ec) return;  // cancelled: everything finished
            if (stopping_) {
                std::fprintf(stderr, "blueprint::function (http): second signal %d, exiting now\n", sig);
                std::_Exit(1);
            }
            std::fprintf(stderr, "blueprint::function (http): signal %d, finishing in-flight requests\n", sig);
            wait_for_signal();  // a second one forces the exit (stop() may cancel this wait)
            stop();
        });
    }

    void stop() {
        stopping_ = true;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        for (Session* s : sessions_)
            if (s->idle) s->socket->cancel(ignored);
        maybe_finished();
    }

    void maybe_finished() {
        if (stopping_ && sessions_.empty()) signals_.cancel();
    }

    bool take_cold_start() { return std::exchange(cold_, false); }

    asio::awaitable<void> accept_loop() {
        asio::steady_timer backoff(ioc_);
        while (!stopping_) {
            auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
            if (stopping_) break;
            if (ec) {
                // EMFILE and friends: back off briefly instead of spinning.
                backoff.expires_after(std::chrono::milliseconds(50));
                co_await backoff.async_wait(use_tuple);
                continue;
            }
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            asio::co_spawn(ioc_, session(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> session(tcp::socket socket) {
        Session state{&socket};
        sessions_.insert(&state);
        beast::flat_buffer buffer;
        // Beast reads at most max(512, free capacity) bytes at a time.
        buffer.reserve(16 * 1024);
        while (!stopping_) {
            http::request_parser<http::vector_body<std::uint8_t>> parser;
            parser.body_limit(options_.max_body_bytes);
            parser.header_limit(64 * 1024);

            state.idle = true;
            auto [ec, n] = co_await http::async_read_header(socket, buffer, parser, use_tuple);
            state.idle = false;
            if (!ec && !parser.is_done()) {
                // curl and others wait for "100 Continue" before a large body.
                auto expect = parser.get()[http::field::expect];
                if (beast::iequals(expect, "100-continue")) {
                    http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
                    auto [wec, wn] = co_await http::async_write(socket, cont, use_tuple);
                    ec = wec;
                }
                if (!ec) std::tie(ec, n) = co_await http::async_read(socket, buffer, parser, use_tuple);
            }
            if (ec) {
                if (ec == http::error::body_limit) {
                    co_await write_error(socket, 413, "payload_too_large",
                                         "the request body is larger than the limit of " +
                                             std::to_string(options_.max_body_bytes) + " bytes");
                } else if (ec == http::error::header_limit) {
                    co_await write_error(socket, 431, "headers_too_large", "the request headers are too large");
                } else if (ec.category() == http::make_error_code(http::error::end_of_stream).category() && ec != http::error::end_of_stream &&
                           ec != http::error::partial_message) {
                    co_await write_error(socket, 400, "bad_request", "malformed HTTP request: " + ec.message());
                }
                break;  // end of stream, reset, cancelled by shutdown, or answered above
            }

            Request req = parser.release();
            const bool keep_alive = req.keep_alive();
            Response res = co_await handle(req);
            res.keep_alive(keep_alive && !stopping_);
            res.prepare_payload();
            auto [wec, wn] = co_await http::async_write(socket, res, use_tuple);
            if (wec || !res.keep_alive()) break;
        }
        boost::system::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        socket.close(ignored);
        sessions_.erase(&state);
        maybe_finished();
    }

    asio::awaitable<void> write_error(tcp::socket& socket, unsigned status, std::string_view code, std::string message) {
        Response res = to_response(make_error_reply(status, code, message), 11);
        res.keep_alive(false);
        res.prepare_payload();
        auto [ec, n] = co_await http::async_write(socket, res, use_tuple);
        if (!ec) co_await linger(socket);
    }

    // After an error reply on a request we did not read to the end: send FIN,
    // then discard what the peer still sends for a bounded time before
    // closing. Closing with unread data makes the kernel send RST, which can
    // destroy the reply before the client reads it.
    asio::awaitable<void> linger(tcp::socket& socket) {
        boost::system::error_code ec;
        socket.shutdown(tcp::socket::shutdown_send, ec);
        if (ec) co_return;
        asio::steady_timer timer(ioc_);
        timer.expires_after(std::chrono::seconds(1));
        timer.async_wait([&socket](boost::system::error_code wec) {
            boost::system::error_code ignored;
            if (!wec) socket.cancel(ignored);  // only touches the socket when it fired
        });
        std::array<char, 16 * 1024> scratch;
        std::size_t total = 0;
        while (total < 8 * 1024 * 1024) {
            auto [rec, n] = co_await socket.async_read_some(asio::buffer(scratch), use_tuple);
            if (rec) break;
            total += n;
        }
        timer.cancel();
    }

    static Response to_response(HttpReply&& reply, unsigned version) {
        Response res{static_cast<http::status>(reply.status), version};
        res.set(http::field::content_type, reply.content_type);
        for (auto& [name, value] : reply.headers) res.set(name, value);
        res.body() = std::move(reply.body);
        return res;
    }

    asio::awaitable<Response> handle(Request& req) {
        // A front (Azure) maps the request itself; its routes are always jobs.
        std::optional<HttpFront::Job> fronted;
        if (front_) {
            auto job = front_->accept(sv(req.method_string()), sv(req.target()),
                                      [&req](std::string_view name) { return sv(req[name]); }, std::move(req.body()));
            if (!job) co_return to_response(std::move(job.error()), req.version());
            fronted = std::move(*job);
        }
        auto finish = [&fronted](HttpReply reply) {
            return fronted && fronted->finish ? fronted->finish(std::move(reply)) : std::move(reply);
        };
        const Route route = fronted ? fronted->route : classify_route(sv(req.method_string()), sv(req.target()));
        switch (route.kind) {
        case RouteKind::health: co_return to_response(make_health_reply(), req.version());
        case RouteKind::not_found: co_return to_response(make_error_reply(404, "not_found", route.message), req.version());
        case RouteKind::bad_request:
            co_return to_response(make_error_reply(400, "bad_request", route.message), req.version());
        case RouteKind::method_not_allowed: {
            auto res = to_response(make_error_reply(405, "method_not_allowed",
                                                    "use " + std::string(route.allow) + " for " + std::string(sv(req.target()))),
                                   req.version());
            res.set(http::field::allow, route.allow);
            co_return res;
        }
        case RouteKind::job:
        case RouteKind::platform_invoke: break;
        }

        RequestHeaders headers{sv(req[http::field::content_type]), sv(req[wire::header_job_id]),
                               sv(req[wire::header_metadata]), sv(req[wire::header_warmup])};
        auto parsed = fronted ? std::expected<ParsedJob, HttpReply>(std::move(fronted->parsed))
                              : parse_job_request(route, headers, std::move(req.body()));
        if (!parsed) co_return to_response(std::move(parsed.error()), req.version());
        if (parsed->warmup)
            co_return to_response(finish(make_warmup_reply(parsed->format, take_cold_start())), req.version());

        InvocationContext context;
        context.mode = mode_;
        if (auto id = req["X-Request-Id"]; !id.empty()) context.request_id = std::string(sv(id));
        else if (auto fid = req["Function-Execution-Id"]; !fid.empty()) context.request_id = std::string(sv(fid));

        const bool cold = take_cold_start();
        const JobId job_id = parsed->call.job_id();
        struct Outcome {
            JobResult result;
            double execution_ms;
        };
        Outcome outcome = co_await async_run_on(
            pool_.get_executor(),
            [this, &parsed, &context] {
                const auto start = std::chrono::steady_clock::now();
                JobResult result = call_handler(handler_, std::move(parsed->call), context);
                const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
                return Outcome{std::move(result), took.count()};
            },
            asio::use_awaitable);

        ReplyExtras extras;
        extras.cold_start = cold;
        extras.execution_ms = outcome.execution_ms;
        if (route.kind == RouteKind::platform_invoke)
            extras.memory_used_mb = static_cast<std::uint32_t>(memory_used_mb() + 0.5);
        co_return to_response(finish(make_job_reply(route, parsed->format, job_id, outcome.result, extras)), req.version());
    }

    const Handler& handler_;
    const ServeOptions& options_;
    std::string mode_;
    const HttpFront* front_;
    asio::io_context ioc_{1};
    asio::thread_pool pool_;
    tcp::acceptor acceptor_{ioc_};
    asio::signal_set signals_{ioc_, SIGINT, SIGTERM};
    std::unordered_set<Session*> sessions_;
    bool stopping_ = false;
    bool cold_ = true;
};

}  // namespace

int run_http(const Handler& handler, const ServeOptions& options, unsigned short port, std::string_view mode,
             const HttpFront* front) {
    HttpServer server(handler, options, mode, front);
    return server.run(port);
}

}  // namespace blueprint::function::detail
