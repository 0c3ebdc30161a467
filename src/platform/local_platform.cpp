// LocalPlatform: the HTTP/1.1 server (Beast) in front of Core, its thread,
// and its shutdown sequence.
#include <blueprint/platform.hpp>

#include "platform/core.hpp"
#include "platform/http_head.hpp"
#include "platform/request_parser.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <csignal>
#include <pthread.h>
#include <future>
#include <limits>
#include <mutex>
#include <thread>

namespace blueprint::platform {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

class PlatformCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.platform"; }
    std::string message(int ev) const override {
        switch (static_cast<platform_errc>(ev)) {
        case platform_errc::data_dir_unusable: return "the data directory is unusable";
        case platform_errc::bind_failed: return "cannot bind the listening address";
        case platform_errc::invalid_options: return "invalid platform options";
        case platform_errc::already_started: return "the platform was already started";
        }
        return "unknown platform error";
    }
};

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// One API connection. Its deadline is a time point checked by one timer,
/// which is re-armed only when it fires before the deadline: moving the
/// deadline for each request is a clock read, not a timer operation (as
/// beast::tcp_stream would make it, for each read and write). Past the
/// deadline the socket is closed, which fails the pending read or write.
struct Connection : std::enable_shared_from_this<Connection> {
    using Clock = std::chrono::steady_clock;
    explicit Connection(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}

    void expires_after(Clock::duration d) { set_deadline(Clock::now() + d); }
    void expires_never() { deadline = Clock::time_point::max(); }
    void close() {
        boost::system::error_code ignored;
        socket.close(ignored);
        timer.cancel();
    }

    tcp::socket socket;

private:
    void set_deadline(Clock::time_point t) {
        deadline = t;
        if (t < armed) arm(t);
    }
    void arm(Clock::time_point t) {
        armed = t;
        timer.expires_at(t);
        timer.async_wait([w = weak_from_this()](boost::system::error_code ec) {
            auto self = w.lock();
            if (ec || !self) return;
            self->armed = Clock::time_point::max();
            if (self->deadline <= Clock::now()) {
                boost::system::error_code ignored;
                self->socket.close(ignored);
            } else if (self->deadline != Clock::time_point::max()) {
                self->arm(self->deadline);
            }
        });
    }

    net::steady_timer timer;
    Clock::time_point deadline = Clock::time_point::max();
    /// When the timer fires next; max when it is not armed.
    Clock::time_point armed = Clock::time_point::max();
};

}  // namespace

const boost::system::error_category& platform_category() noexcept {
    static const PlatformCategory category;
    return category;
}

struct LocalPlatform::Impl {
    LocalPlatformOptions options;
    net::io_context ioc{1};
    std::unique_ptr<Core> core;
    tcp::acceptor acceptor{ioc};
    std::thread thread;
    std::mutex mutex;
    bool started = false;
    bool stop_requested = false;
    bool stopped = false;
    /// The context run_until_signalled() waits on, to wake it from stop().
    net::io_context* waiter = nullptr;

    void wake_waiter() {  // call with `mutex` held
        if (waiter) net::post(*waiter, [w = waiter] { w->stop(); });
    }
    std::vector<std::weak_ptr<Connection>> sessions;

    void log(LogLevel level, std::string_view message) const {
        if (options.log) options.log(level, message);
    }

    net::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec) co_return;
            // Replies go out in one write, but a client's next request must
            // not wait on a delayed ACK either way.
            socket.set_option(tcp::no_delay(true), ec);
            auto conn = std::make_shared<Connection>(std::move(socket));
            sessions.erase(std::remove_if(sessions.begin(), sessions.end(), [](auto& w) { return w.expired(); }),
                           sessions.end());
            sessions.push_back(conn);
            net::co_spawn(ioc, session(conn), [this](std::exception_ptr e) {
                if (!e) return;
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log(LogLevel::error, std::string("session: ") + ex.what());
                }
            });
        }
    }

    net::awaitable<void> session(std::shared_ptr<Connection> conn) {
        auto& socket = conn->socket;
        beast::flat_buffer buffer;
        // Beast reads at most max(512, free capacity) bytes at a time: with
        // room up front, a signed Lambda request is one recv, not two.
        buffer.reserve(16 * 1024);
        for (;;) {
            HttpRequest req;
            req.headers.reserve(16);
            RequestParser<HttpRequest> parser(req);
            parser.header_limit(64 * 1024);
            // The limit depends on the route: none until the header is read
            // (Beast's default would refuse a large Content-Length up front).
            parser.body_limit(std::numeric_limits<std::uint64_t>::max());
            // Idle keep-alive connections and slow senders are cut after a while.
            conn->expires_after(120s);
            auto [hec, hn] = co_await http::async_read_header(socket, buffer, parser, use_tuple);
            if (hec) co_return;
            const BodyPolicy policy = body_policy(req.method, req.target, options);
            parser.body_limit(policy.limit);
            conn->expires_after(600s);
            beast::error_code bec;
            if (auto length = parser.content_length(); length && *length > policy.limit) {
                bec = http::error::body_limit;  // refuse before reading it
            } else if (!parser.is_done()) {
                auto [ec, n] = co_await http::async_read(socket, buffer, parser, use_tuple);
                bec = ec;
            }
            HttpResponse out;
            bool keep_alive = true;
            if (bec == http::error::body_limit) {
                out = too_large_reply(policy, req.target);
                keep_alive = false;  // the rest of the body is unread
            } else if (bec) {
                co_return;
            } else {
                keep_alive = parser.keep_alive();
                // An invocation may run up to 900 s: no deadline while it does.
                conn->expires_never();
                out = co_await core->handle(std::move(req));
            }
            http_head::ResponseHead head(out.status, 11);
            head.field("Server", "bpfaas-local");
            const bool body = !out.body.empty() && !http_head::bodiless(out.status);
            if (body) head.field("Content-Type", out.content_type);
            for (const auto& [k, v] : out.headers) head.field(k, v);
            head.finish(out.body.size(), keep_alive);
            std::array<net::const_buffer, 2> bufs{net::buffer(head.str()),
                                                  body ? net::buffer(out.body) : net::const_buffer{}};
            conn->expires_after(120s);
            auto [wec, wn] = co_await net::async_write(socket, bufs, use_tuple);
            if (wec || !keep_alive) {
                beast::error_code ignored;
                socket.shutdown(tcp::socket::shutdown_send, ignored);
                // Lingering close: a client still sending a refused body would
                // get a reset (and lose our 413) if we closed with data unread.
                if (bec == http::error::body_limit) co_await discard_input(*conn);
                co_return;
            }
        }
    }

    // Reads and drops what the peer still sends, for a bounded time and size.
    static net::awaitable<void> discard_input(Connection& conn) {
        std::vector<char> scratch(64 * 1024);
        std::size_t total = 0;
        conn.expires_after(10s);
        while (total < (512u << 20)) {
            auto [ec, n] = co_await conn.socket.async_read_some(net::buffer(scratch), use_tuple);
            if (ec) break;
            total += n;
        }
    }

    // Runs on the io thread: stop accepting, fail in-flight work, stop
    // instances, then give them a bounded time to exit.
    net::awaitable<void> shutdown_sequence() {
        beast::error_code ignored;
        acceptor.close(ignored);
        core->shutdown();
        net::steady_timer timer(ioc);
        const auto deadline = std::chrono::steady_clock::now() + 3s;
        while (core->alive_instances() > 0 && std::chrono::steady_clock::now() < deadline) {
            timer.expires_after(20ms);
            co_await timer.async_wait(use_tuple);
        }
        for (auto& w : sessions)
            if (auto s = w.lock()) s->close();
        ioc.stop();
    }
};

LocalPlatform::LocalPlatform(LocalPlatformOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
}

LocalPlatform::~LocalPlatform() { stop(); }

std::expected<unsigned short, Error> LocalPlatform::start() {
    auto& im = *impl_;
    {
        std::lock_guard lock(im.mutex);
        if (im.started) return std::unexpected(Error{make_error_code(platform_errc::already_started), "start() was called twice"});
        im.started = true;
    }
    if (im.options.data_dir.empty())
        return std::unexpected(Error{make_error_code(platform_errc::invalid_options), "data_dir is required"});
    im.core = std::make_unique<Core>(im.ioc, im.options);
    if (auto r = im.core->open(); !r) return std::unexpected(r.error());

    boost::system::error_code ec;
    auto address = net::ip::make_address(im.options.host, ec);
    if (ec)
        return std::unexpected(Error{make_error_code(platform_errc::invalid_options), "host '" + im.options.host + "' is not an IP address"});
    tcp::endpoint ep(address, im.options.port);
    im.acceptor.open(ep.protocol(), ec);
    if (!ec) im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) im.acceptor.bind(ep, ec);
    if (!ec) im.acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec)
        return std::unexpected(Error{make_error_code(platform_errc::bind_failed),
                                     "cannot listen on " + im.options.host + ":" + std::to_string(im.options.port) + ": " +
                                         ec.message()});
    const unsigned short port = im.acceptor.local_endpoint().port();
    net::co_spawn(im.ioc, im.accept_loop(), [](std::exception_ptr) {});
    im.thread = std::thread([&im] {
        // Writing to a stdio function's stdin after it exited must be an
        // EPIPE error, not a SIGPIPE that kills the platform. Blocked on this
        // thread only (children get a clean mask), leaving the host
        // program's disposition alone.
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
        try {
            im.ioc.run();
        } catch (const std::exception& e) {
            im.log(LogLevel::error, std::string("platform loop: ") + e.what());
        }
        std::lock_guard lock(im.mutex);
        im.stopped = true;
        im.wake_waiter();
    });
    return port;
}

void LocalPlatform::stop() {
    auto& im = *impl_;
    {
        std::lock_guard lock(im.mutex);
        if (!im.started || !im.thread.joinable()) return;
        im.stop_requested = true;
        im.wake_waiter();
    }
    if (std::this_thread::get_id() == im.thread.get_id()) return;  // never join ourselves
    net::co_spawn(im.ioc, im.shutdown_sequence(), [](std::exception_ptr) {});
    im.thread.join();
    // Whatever is left (coroutine frames holding instances) goes now; the
    // process objects SIGKILL and reap any child still running.
    im.core.reset();
    {
        std::lock_guard lock(im.mutex);
        im.stopped = true;
    }
}

int LocalPlatform::run_until_signalled() {
    auto& im = *impl_;
    // Signals are awaited on a small context of this thread, so stop() (which
    // joins the server thread) runs here, never on the server thread. stop()
    // from another thread, or the server loop ending, wakes it too.
    net::io_context signals_ctx;
    net::signal_set signals(signals_ctx, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) { signals_ctx.stop(); });
    auto guard = net::make_work_guard(signals_ctx);
    {
        std::lock_guard lock(im.mutex);
        if (im.stop_requested || im.stopped || !im.started) signals_ctx.stop();
        im.waiter = &signals_ctx;
    }
    signals_ctx.run();
    {
        std::lock_guard lock(im.mutex);
        im.waiter = nullptr;
    }
    stop();
    return 0;
}

}  // namespace blueprint::platform
