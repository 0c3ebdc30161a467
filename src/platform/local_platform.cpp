// LocalPlatform: the HTTP/1.1 server (Beast) in front of Core, its thread,
// and its shutdown sequence.
#include <blueprint/platform.hpp>

#include "platform/core.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

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
    std::vector<std::weak_ptr<beast::tcp_stream>> sessions;

    void log(LogLevel level, std::string_view message) const {
        if (options.log) options.log(level, message);
    }

    net::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec) co_return;
            auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
            sessions.erase(std::remove_if(sessions.begin(), sessions.end(), [](auto& w) { return w.expired(); }),
                           sessions.end());
            sessions.push_back(stream);
            net::co_spawn(ioc, session(stream), [this](std::exception_ptr e) {
                if (!e) return;
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log(LogLevel::error, std::string("session: ") + ex.what());
                }
            });
        }
    }

    net::awaitable<void> session(std::shared_ptr<beast::tcp_stream> stream) {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(64 * 1024);
            // The limit depends on the route: none until the header is read
            // (Beast's default would refuse a large Content-Length up front).
            parser.body_limit(std::numeric_limits<std::uint64_t>::max());
            // Idle keep-alive connections and slow senders are cut after a while.
            stream->expires_after(120s);
            auto [hec, hn] = co_await http::async_read_header(*stream, buffer, parser, use_tuple);
            if (hec) co_return;
            const std::string target(parser.get().target());
            const std::string method(parser.get().method_string());
            const BodyPolicy policy = body_policy(method, target, options);
            parser.body_limit(policy.limit);
            stream->expires_after(600s);
            beast::error_code bec;
            if (auto length = parser.content_length(); length && *length > policy.limit) {
                bec = http::error::body_limit;  // refuse before reading it
            } else {
                auto [ec, n] = co_await http::async_read(*stream, buffer, parser, use_tuple);
                bec = ec;
            }
            HttpResponse out;
            bool keep_alive = true;
            if (bec == http::error::body_limit) {
                out = too_large_reply(policy, target);
                keep_alive = false;  // the rest of the body is unread
            } else if (bec) {
                co_return;
            } else {
                auto msg = parser.release();
                keep_alive = msg.keep_alive();
                HttpRequest req;
                req.method = method;
                req.target = target;
                for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
                req.body = std::move(msg.body());
                // An invocation may run up to 900 s: no deadline while it does.
                stream->expires_never();
                out = co_await core->handle(std::move(req));
            }
            http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
            res.set(http::field::server, "bpfaas-local");
            if (!out.body.empty()) res.set(http::field::content_type, out.content_type);
            for (auto& [k, v] : out.headers) res.set(k, v);
            res.body() = std::move(out.body);
            res.keep_alive(keep_alive);
            res.prepare_payload();
            stream->expires_after(120s);
            auto [wec, wn] = co_await http::async_write(*stream, res, use_tuple);
            if (wec || !keep_alive) {
                beast::error_code ignored;
                stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
                // Lingering close: a client still sending a refused body would
                // get a reset (and lose our 413) if we closed with data unread.
                if (bec == http::error::body_limit) co_await discard_input(*stream);
                co_return;
            }
        }
    }

    // Reads and drops what the peer still sends, for a bounded time and size.
    static net::awaitable<void> discard_input(beast::tcp_stream& stream) {
        std::vector<char> scratch(64 * 1024);
        std::size_t total = 0;
        stream.expires_after(10s);
        while (total < (512u << 20)) {
            auto [ec, n] = co_await stream.async_read_some(net::buffer(scratch), use_tuple);
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
