// Instances, the per-instance Lambda Runtime API server, and scheduling.
// See runtime.hpp. Runtime API reference:
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
#include "platform/runtime.hpp"

#include "function/lambda_protocol.hpp"
#include "platform/http_head.hpp"
#include "platform/request_parser.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace blueprint::platform {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace wire = blueprint::faas::wire;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
/// Captured output kept per invocation (the log tail needs only 4 KB).
constexpr std::size_t max_output_bytes = 1u << 20;
constexpr auto stop_grace = 2s;

void keep_tail(std::string& s, std::size_t max) {
    if (s.size() > max) s.erase(0, s.size() - max);
}

std::string short_id() {
    auto u = random_uuid();
    u.erase(std::remove(u.begin(), u.end(), '-'), u.end());
    return u.substr(0, 16);
}

std::string seconds_2dp(std::chrono::milliseconds ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(ms.count()) / 1000.0);
    return buf;
}

// Logs a detached coroutine's escape instead of losing it.
auto log_exceptions(Pool& pool, std::string what) {
    return [&pool, what = std::move(what)](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const boost::system::system_error& se) {
            if (se.code() != net::error::operation_aborted) pool.log(LogLevel::error, what + ": " + se.what());
        } catch (const std::exception& ex) {
            pool.log(LogLevel::error, what + ": " + ex.what());
        }
    };
}

std::string runtime_error_json(std::string_view message, std::string_view type) {
    return function_error_body(message, type);
}

// The error document a runtime posted, normalised: a JSON object with
// errorMessage/errorType is kept as is; anything else is wrapped.
std::pair<std::string, std::string> normalise_error(std::string_view body, std::string_view header_type) {
    std::string type(header_type);
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object()) {
        const auto& o = v.as_object();
        if (type.empty())
            if (auto it = o.find("errorType"); it != o.end() && it->value().is_string()) type = it->value().as_string();
        if (type.empty()) type = "Runtime.Unknown";
        if (o.contains("errorMessage")) return {std::string(body), type};
    }
    if (type.empty()) type = "Runtime.Unknown";
    return {function_error_body(body.substr(0, 4096), type), type};
}

/// Whether the bytes received but not parsed yet begin a GET (a pipelined
/// `next`), ignoring the empty lines RFC 9112 §2.2 lets a client send first.
bool starts_with_get(const beast::flat_buffer& buffer) {
    std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
    while (data.starts_with("\r\n")) data.remove_prefix(2);
    return data.starts_with("GET ");
}

/// A Runtime API request, as RequestParser fills it.
struct RuntimeRequest {
    std::string method, target, body;
    std::vector<std::pair<std::string, std::string>> headers;

    std::string_view header(std::string_view name) const {
        for (const auto& [k, v] : headers)
            if (beast::iequals(k, name)) return v;
        return {};
    }
};

std::string timestamp_now() { return lambda_timestamp(std::chrono::system_clock::now()).substr(0, 23) + "Z"; }

// Stdio helpers: plain coroutines taking everything by value, so they may
// outlive the invocation that started them (they end when the pipes close).
net::awaitable<void> feed_stdin(std::shared_ptr<AsyncProcess> proc, std::shared_ptr<std::string> payload) {
    auto* in = proc->stdin_pipe();
    co_await net::async_write(*in, net::buffer(*payload), use_tuple);
    boost::system::error_code ignored;
    in->close(ignored);
}

// Reads `pipe` into `sink`; with a `limit` (stdout), going over it kills the child.
net::awaitable<void> collect(std::shared_ptr<AsyncProcess> proc, net::posix::stream_descriptor* pipe,
                             std::shared_ptr<std::string> sink, std::size_t limit, std::shared_ptr<bool> over) {
    for (;;) {
        // Drain first: see Instance::output_loop.
        bool open = AsyncProcess::drain(*pipe, *sink);
        if (limit && sink->size() > limit) {
            *over = true;
            proc->kill(SIGKILL);
            co_return;
        }
        if (!limit) keep_tail(*sink, max_output_bytes);
        if (!open) co_return;
        auto [ec] = co_await pipe->async_wait(net::posix::stream_descriptor::wait_read, use_tuple);
        if (ec) co_return;
    }
}

}  // namespace

std::vector<std::string> instance_environment(const FunctionConfig& config, const std::filesystem::path& code_dir,
                                              const std::string& region, const std::string& runtime_api,
                                              const std::string& instance_id) {
    std::vector<std::string> env;
    // A clean base, like Lambda's, so nothing of the platform's own
    // environment (credentials, PORT, ...) leaks into functions.
    const char* path = std::getenv("PATH");
    env.push_back(std::string("PATH=") + (path && *path ? path : "/usr/local/bin:/usr/bin:/bin"));
    if (const char* ld = std::getenv("LD_LIBRARY_PATH"); ld && *ld) env.push_back(std::string("LD_LIBRARY_PATH=") + ld);
    env.push_back("LANG=C.UTF-8");
    env.push_back("TZ=:UTC");
    if (!runtime_api.empty()) env.push_back("AWS_LAMBDA_RUNTIME_API=" + runtime_api);
    env.push_back("_HANDLER=" + config.handler);
    env.push_back("LAMBDA_TASK_ROOT=" + code_dir.string());
    env.push_back("LAMBDA_RUNTIME_DIR=" + code_dir.string());
    env.push_back("AWS_LAMBDA_FUNCTION_NAME=" + config.name);
    env.push_back("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + std::to_string(config.memory_mb));
    env.push_back("AWS_LAMBDA_FUNCTION_TIMEOUT=" + std::to_string(config.timeout_s));
    env.push_back("AWS_LAMBDA_FUNCTION_VERSION=$LATEST");
    env.push_back("AWS_LAMBDA_INITIALIZATION_TYPE=on-demand");
    env.push_back("AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + config.name);
    env.push_back("AWS_LAMBDA_LOG_STREAM_NAME=local/[$LATEST]" + instance_id);
    env.push_back("AWS_REGION=" + region);
    env.push_back("AWS_DEFAULT_REGION=" + region);
    for (const auto& [k, v] : config.env) env.push_back(k + "=" + v);
    return env;
}

// ---- Instance -----------------------------------------------------------------

Instance::Instance(Pool& pool, const net::any_io_executor& ex, std::string fn, std::uint64_t gen)
    : id(short_id()), function(std::move(fn)), generation(gen), pool_(pool), ex_(ex), acceptor_(ex), wake_(ex),
      idle_timer_(ex), deadline_timer_(ex), kill_timer_(ex) {}

unsigned short Instance::port() const {
    boost::system::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

std::expected<void, Error> Instance::start(const FunctionConfig& config, const std::filesystem::path& code_dir,
                                           const std::string& region, bool memory_limit) {
    boost::system::error_code ec;
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return std::unexpected(Error{ec, "cannot open the Runtime API port: " + ec.message()});
    arn_ = function_arn(region, config.name);
    timeout_s_ = config.timeout_s;
    memory_mb_ = config.memory_mb;

    SpawnSpec spec;
    spec.argv = {(code_dir / "bootstrap").string()};
    spec.env = instance_environment(config, code_dir, region, "127.0.0.1:" + std::to_string(port()), id);
    spec.cwd = code_dir.string();
    if (memory_limit) spec.address_space_limit = std::uint64_t{config.memory_mb} * 1024 * 1024;
    auto process = AsyncProcess::spawn(ex_, spec);
    if (!process) {
        acceptor_.close(ec);
        state = State::dead;
        return std::unexpected(process.error());
    }
    process_ = std::move(*process);
    spawned_at = SteadyClock::now();
    wake_.expires_at(SteadyClock::time_point::max());
    // Posted, not started inline: co_spawn may run a coroutine at once on
    // this thread, and an instance that exits immediately must not be
    // reported dead before the caller has assigned its invocation.
    net::post(ex_, [self = shared_from_this()] {
        auto& pool = self->pool_;
        net::co_spawn(self->ex_, [self]() { return self->accept_loop(); }, log_exceptions(pool, "runtime api " + self->id));
        net::co_spawn(self->ex_, [self]() { return self->output_loop(); }, log_exceptions(pool, "output " + self->id));
        net::co_spawn(self->ex_, [self]() { return self->exit_watch(); }, log_exceptions(pool, "exit " + self->id));
        net::co_spawn(self->ex_, [self, t = pool.options().init_timeout]() { return self->init_watch(t); },
                      log_exceptions(pool, "init " + self->id));
    });
    pool_.log(LogLevel::debug, "instance " + id + " of " + function + " started (pid " +
                                   std::to_string(process_->pid()) + ", runtime api 127.0.0.1:" +
                                   std::to_string(port()) + ")");
    return {};
}

void Instance::assign(std::shared_ptr<Invocation> invocation) {
    invocation->result.cold_start = !ready;
    // Reset at delivery; until then it times a failure before delivery.
    invocation->started = SteadyClock::now();
    current = std::move(invocation);
    state = State::busy;
    // The idle timer stays armed: it checks the state when it fires.
    wake_.cancel();
}

void Instance::stop(std::string_view reason) {
    if (state == State::stopping || state == State::dead) return;
    pool_.log(LogLevel::debug, "stopping instance " + id + " of " + function + ": " + std::string(reason));
    state = State::stopping;
    idle_timer_.cancel();
    wake_.cancel();
    pool_.notify_instance_change();
    if (process_) process_->kill(SIGTERM);
    kill_timer_.expires_after(stop_grace);
    kill_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec && self->process_) self->process_->kill(SIGKILL);
    });
}

void Instance::kill_now() {
    if (state != State::dead) state = State::stopping;
    idle_timer_.cancel();
    wake_.cancel();
    pool_.notify_instance_change();
    if (process_) process_->kill(SIGKILL);
}

void Instance::append_output(std::string_view data) {
    if (data.empty()) return;
    pool_.log(LogLevel::trace, "[" + function + " " + id + "] " + std::string(data.substr(0, 2000)));
    std::string& target = (current && current->delivered && !current->done) ? current->output : pending_output;
    target.append(data);
    keep_tail(target, max_output_bytes);
}

void Instance::drain_output() {
    if (!process_) return;
    std::string chunk;
    AsyncProcess::drain(process_->output(), chunk);
    append_output(chunk);
}

net::awaitable<void> Instance::output_loop() {
    auto& pipe = process_->output();
    // Drain, then wait: the reactor is edge-triggered, so data (or EOF) that
    // arrived before a wait was queued must be read before waiting.
    for (;;) {
        std::string chunk;
        bool open = AsyncProcess::drain(pipe, chunk);
        append_output(chunk);
        if (!open) co_return;
        auto [ec] = co_await pipe.async_wait(net::posix::stream_descriptor::wait_read, use_tuple);
        if (ec) co_return;
    }
}

net::awaitable<void> Instance::init_watch(std::chrono::milliseconds timeout) {
    net::steady_timer timer(ex_);
    timer.expires_after(timeout);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec || ready || state == State::dead || state == State::stopping) co_return;
    pool_.log(LogLevel::warn, "instance " + id + " of " + function + " did not ask for an event within " +
                                  seconds_2dp(timeout) + " s; killing it");
    kill_now();
    if (current && !current->done) {
        drain_output();
        const std::string msg = "RequestId: " + current->request_id + " Error: Runtime failed to initialize within " +
                                seconds_2dp(timeout) + " seconds";
        complete(Outcome::function_error, function_error_body(msg, "Runtime.InitTimeout"), "Runtime.InitTimeout", true);
    }
}

net::awaitable<void> Instance::exit_watch() {
    const int status = co_await process_->async_wait_exit();
    drain_output();
    const bool was_stopping = state == State::stopping;
    state = State::dead;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& w : sockets_)
        if (auto s = w.lock()) s->close(ignored);
    wake_.cancel();
    idle_timer_.cancel();
    deadline_timer_.cancel();
    kill_timer_.cancel();
    pool_.log(was_stopping ? LogLevel::debug : LogLevel::warn,
              "instance " + id + " of " + function + " exited: " + describe_exit(status));
    if (current && !current->done) {
        const std::string reason = describe_exit(status);
        const std::string msg = "RequestId: " + current->request_id + " Error: Runtime exited with error: " + reason;
        current->output += "RequestId: " + current->request_id + " Error: Runtime exited with error: " + reason +
                           "\nRuntime.ExitError\n";
        complete(Outcome::function_error, function_error_body(msg, "Runtime.ExitError"), "Runtime.ExitError");
    }
    pool_.on_exit(*this);
}

void Instance::complete(Outcome outcome, std::string payload, std::string error_type, bool timed_out) {
    if (!current) return;
    auto inv = std::move(current);
    current.reset();
    if (!inv->delivered) {
        // Failed before the runtime took it (init crash or timeout): what the
        // instance printed so far is the invocation's log.
        inv->init_output += std::exchange(pending_output, {});
    }
    auto& r = inv->result;
    r.outcome = outcome;
    r.payload = std::move(payload);
    r.error_type = std::move(error_type);
    r.timed_out = timed_out;
    r.duration = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - inv->started);
    if (r.cold_start && init_duration) r.init_duration = init_duration;
    r.max_memory_mb = std::max(r.max_memory_mb, recent_peak_rss_mb());
    last_used = SteadyClock::now();
    pool_.on_completed(*this, *inv);
}

net::awaitable<void> Instance::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
        if (ec) co_return;
        socket.set_option(tcp::no_delay(true), ec);
        auto self = shared_from_this();
        net::co_spawn(ex_, [self, s = std::move(socket)]() mutable { return self->session(std::move(s)); },
                      log_exceptions(pool_, "runtime api session " + id));
    }
}

net::awaitable<void> Instance::session(tcp::socket raw) {
    auto socket = std::make_shared<tcp::socket>(std::move(raw));
    sockets_.erase(std::remove_if(sockets_.begin(), sockets_.end(), [](auto& w) { return w.expired(); }), sockets_.end());
    sockets_.push_back(socket);
    beast::flat_buffer buffer;
    // Beast reads at most max(512, free capacity) bytes at a time: with room
    // up front, a pipelined `response` + `next` is one recv, not two.
    buffer.reserve(16 * 1024);
    constexpr std::string_view next_target = "/2018-06-01/runtime/invocation/next";
    constexpr std::string_view init_error_target = "/2018-06-01/runtime/init/error";
    constexpr std::string_view invocation_prefix = "/2018-06-01/runtime/invocation/";
    // What one reply sends: a head built by hand and a body. An event's body
    // is the invocation's payload itself (no copy); `hold` keeps it alive
    // while it is written, even if the invocation ends meanwhile.
    std::string head, owned_body;
    std::string_view body;
    std::shared_ptr<Invocation> hold;
    // A runtime that pipelines (its `response` and the next `next` in one
    // write) waits for both replies anyway: its 202 is held back and leaves
    // with the event, one send and one wake-up instead of two.
    std::string held_reply;
    auto reply = [&](unsigned status, std::string b, unsigned version, bool keep_alive) {
        owned_body = std::move(b);
        body = owned_body;
        head = http_head::ResponseHead(status, version)
                   .field("Content-Type", "application/json")
                   .finish(owned_body.size(), keep_alive);
    };

    for (;;) {
        // Empty lines before a request line are to be ignored (RFC 9112
        // §2.2); some clients end a POST body with an extra CRLF.
        while (buffer.size() >= 2 && std::string_view(static_cast<const char*>(buffer.data().data()), 2) == "\r\n")
            buffer.consume(2);
        RuntimeRequest req;
        RequestParser<RuntimeRequest> parser(req);
        parser.header_limit(64 * 1024);
        parser.body_limit(pool_.options().max_payload_bytes);
        auto [ec, n] = co_await http::async_read(*socket, buffer, parser, use_tuple);
        if (ec == http::error::body_limit) {
            // An oversize response fails its invocation, as on Lambda.
            std::string_view target = req.target;
            if (current && current->delivered && target.find(current->request_id) != std::string_view::npos) {
                drain_output();
                const std::string msg = "Response payload size exceeded maximum allowed payload size (" +
                                        std::to_string(pool_.options().max_payload_bytes) + " bytes).";
                complete(Outcome::function_error, function_error_body(msg, "Function.ResponseSizeTooLarge"),
                         "Function.ResponseSizeTooLarge");
            }
            reply(413, runtime_error_json("Payload too large", "RequestEntityTooLarge"), 11, false);
            co_await net::async_write(
                *socket,
                std::array<net::const_buffer, 3>{net::buffer(held_reply), net::buffer(head), net::buffer(body)},
                use_tuple);
            // Let the runtime finish sending before closing, so it reads the
            // 413 instead of a reset; bounded by the instance's lifetime.
            boost::system::error_code ignored;
            socket->shutdown(tcp::socket::shutdown_send, ignored);
            std::vector<char> scratch(64 * 1024);
            for (;;) {
                auto [rec, rn] = co_await socket->async_read_some(net::buffer(scratch), use_tuple);
                if (rec) break;
            }
            co_return;
        }
        if (ec) {
            // A held 202 still goes out: its invocation was answered.
            if (!held_reply.empty()) co_await net::async_write(*socket, net::buffer(held_reply), use_tuple);
            co_return;
        }
        const bool keep_alive = parser.keep_alive();
        const unsigned version = parser.version();
        const auto method = parser.method();
        std::string_view target = req.target;
        hold.reset();

        if (state == State::dead) co_return;
        if (method == http::verb::get && target == next_target) {
            if (current && current->delivered && !current->done) {
                // Asking for more without answering: that invocation is lost.
                drain_output();
                const std::string msg = "RequestId: " + current->request_id +
                                        " Error: the runtime asked for the next event without answering this one";
                complete(Outcome::function_error, function_error_body(msg, "Runtime.NoResponse"), "Runtime.NoResponse");
            }
            if (!ready) {
                ready = true;
                init_duration = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - spawned_at);
                pool_.on_ready(*this);
            }
            // Block until an invocation is assigned (or the instance stops):
            // this is the Runtime API's long poll.
            while (!(current && !current->delivered)) {
                if (state == State::stopping || state == State::dead || pool_.stopping()) co_return;
                wake_.expires_at(SteadyClock::time_point::max());
                co_await wake_.async_wait(use_tuple);
            }
            hold = current;
            auto& inv = *hold;
            deliver(inv);
            char deadline_ms[24];
            auto [end, dec] = std::to_chars(
                deadline_ms, deadline_ms + sizeof deadline_ms,
                std::chrono::duration_cast<std::chrono::milliseconds>(inv.deadline_wall.time_since_epoch()).count());
            std::string trace = "Root=1-";
            trace.append(inv.request_id, 0, 8);
            trace += '-';
            trace += id;
            trace += ";Sampled=0";
            head = http_head::ResponseHead(200, version)
                       .field("Content-Type", "application/json")
                       .field("Lambda-Runtime-Aws-Request-Id", inv.request_id)
                       .field("Lambda-Runtime-Deadline-Ms", std::string_view(deadline_ms, end))
                       .field("Lambda-Runtime-Invoked-Function-Arn", arn_)
                       .field("Lambda-Runtime-Trace-Id", trace)
                       .field(function::detail::lambda::pipelining_header, "1")
                       .finish(inv.payload.size(), keep_alive);
            body = inv.payload;
        } else if (method == http::verb::post && target == init_error_target) {
            drain_output();
            auto [doc, type] = normalise_error(req.body, req.header("Lambda-Runtime-Function-Error-Type"));
            pool_.log(LogLevel::warn, "instance " + id + " of " + function + " reported an init error: " +
                                          doc.substr(0, 300));
            kill_now();
            if (current && !current->done) complete(Outcome::function_error, doc, type);
            reply(202, R"({"status":"OK"})", version, keep_alive);
        } else if (method == http::verb::post && target.starts_with(invocation_prefix)) {
            auto rest = target.substr(invocation_prefix.size());  // "{id}/response" or "{id}/error"
            auto slash = rest.find('/');
            auto request_id = rest.substr(0, slash);
            auto kind = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
            if (!current || !current->delivered || current->done || current->request_id != request_id ||
                (kind != "response" && kind != "error")) {
                reply(kind == "response" || kind == "error" ? 400 : 404,
                      runtime_error_json("Invalid request ID", "InvalidRequestID"), version, keep_alive);
            } else {
                drain_output();
                if (kind == "response") {
                    complete(Outcome::success, std::move(req.body), {});
                } else {
                    auto [doc, type] = normalise_error(req.body, req.header("Lambda-Runtime-Function-Error-Type"));
                    complete(Outcome::function_error, std::move(doc), std::move(type));
                }
                reply(202, R"({"status":"OK"})", version, keep_alive);
                // Held only while the next request is already here: a runtime
                // that waits for this 202 before asking again gets it now.
                if (keep_alive && starts_with_get(buffer)) {
                    held_reply += head;
                    held_reply += body;
                    continue;
                }
            }
        } else {
            reply(404, runtime_error_json("Unknown Runtime API path", "InvalidRequest"), version, keep_alive);
        }

        auto [wec, wn] = co_await net::async_write(
            *socket,
            std::array<net::const_buffer, 3>{net::buffer(held_reply), net::buffer(head), net::buffer(body)},
            use_tuple);
        held_reply.clear();
        if (wec || !keep_alive) co_return;
    }
}

void Instance::deliver(Invocation& inv) {
    inv.delivered = true;
    inv.started = SteadyClock::now();
    const auto timeout = std::chrono::seconds(timeout_s_);
    inv.deadline = inv.started + timeout;
    inv.deadline_wall = std::chrono::system_clock::now() + timeout;
    if (inv.result.cold_start) inv.init_output += std::exchange(pending_output, {});
    else inv.output += std::exchange(pending_output, {});
    // Deadlines only grow (one timeout per instance), so a timer armed for an
    // earlier call fires no later than this one's deadline.
    if (!deadline_armed_) arm_deadline_timer(inv.deadline);
}

void Instance::arm_deadline_timer(SteadyClock::time_point at) {
    deadline_armed_ = true;
    deadline_timer_.expires_at(at);
    deadline_timer_.async_wait([w = weak_from_this()](boost::system::error_code ec) {
        auto self = w.lock();
        if (!self) return;
        self->deadline_armed_ = false;
        if (!ec) self->on_deadline();
    });
}

void Instance::on_deadline() {
    if (!current || !current->delivered || current->done || state == State::dead) return;
    if (SteadyClock::now() < current->deadline) {
        arm_deadline_timer(current->deadline);
        return;
    }
    auto invp = current;
    invp->result.max_memory_mb = peak_rss_mb();  // before the kill makes it unreadable
    kill_now();
    drain_output();
    const std::string what = "Task timed out after " + seconds_2dp(std::chrono::seconds(timeout_s_)) + " seconds";
    invp->output += timestamp_now() + " " + invp->request_id + " " + what + "\n";
    complete(Outcome::function_error,
             function_error_body("RequestId: " + invp->request_id + " Error: " + what, "Sandbox.Timedout"),
             "Sandbox.Timedout", true);
}

void Instance::arm_idle_timer() {
    if (idle_armed_) return;  // it re-arms itself from last_used when it fires
    idle_armed_ = true;
    idle_timer_.expires_at(last_used + pool_.options().keep_alive);
    idle_timer_.async_wait([w = weak_from_this()](boost::system::error_code ec) {
        auto self = w.lock();
        if (!self) return;
        self->idle_armed_ = false;
        if (ec || self->state != State::idle || self->current) return;  // busy: armed again when idle
        if (SteadyClock::now() - self->last_used >= self->pool_.options().keep_alive) self->stop("idle past keep-alive");
        else self->arm_idle_timer();
    });
}

unsigned Instance::recent_peak_rss_mb() {
    const auto now = SteadyClock::now();
    if (sampled_rss_at_ == SteadyClock::time_point{} || now - sampled_rss_at_ >= 10ms) {
        sampled_rss_mb_ = std::max(sampled_rss_mb_, peak_rss_mb());
        sampled_rss_at_ = now;
    }
    return sampled_rss_mb_;
}

// ---- Pool ---------------------------------------------------------------------

Pool::Pool(const net::any_io_executor& ex, PoolOptions options, Metrics& metrics)
    : ex_(ex), options_(std::move(options)), metrics_(metrics), instance_changed_(ex) {
    instance_changed_.expires_at(SteadyClock::time_point::max());
}

void Pool::notify_instance_change() {
    // Wakes every waiter; the expiry stays at max, so later waits block again.
    instance_changed_.cancel();
}

Pool::~Pool() = default;

const FunctionSlot* Pool::slot(const std::string& name) const {
    auto it = slots_.find(name);
    return it == slots_.end() ? nullptr : &it->second;
}

unsigned Pool::limit(const FunctionSlot& slot) const {
    return std::min(slot.config.reserved_concurrency.value_or(options_.max_instances), options_.max_instances);
}

unsigned Pool::alive_total() const {
    unsigned n = 0;
    for (const auto& [name, slot] : slots_)
        for (const auto& i : slot.instances)
            if (i->state != Instance::State::dead) ++n;
    for (const auto& i : orphans_)
        if (i->state != Instance::State::dead) ++n;
    return n;
}

bool Pool::evict_idle(const std::string& except) {
    Instance* oldest = nullptr;
    for (auto& [name, slot] : slots_) {
        if (name == except) continue;
        for (auto& i : slot.instances)
            if (i->state == Instance::State::idle && !i->current && (!oldest || i->last_used < oldest->last_used))
                oldest = i.get();
    }
    if (!oldest) return false;
    oldest->kill_now();
    return true;
}

void Pool::update_instance_gauges() {
    for (auto& [name, slot] : slots_) {
        std::uint64_t starting = 0, idle = 0, busy = 0;
        for (auto& i : slot.instances) {
            if (i->state == Instance::State::starting) ++starting;
            else if (i->state == Instance::State::idle) ++idle;
            else if (i->state == Instance::State::busy) ++busy;
        }
        metrics_.set_instances(name, "starting", starting);
        metrics_.set_instances(name, "idle", idle);
        metrics_.set_instances(name, "busy", busy + slot.running_stdio);
    }
}

void Pool::upsert(const FunctionConfig& config, const std::filesystem::path& code_dir) {
    auto& slot = slots_[config.name];
    slot.config = config;
    slot.code_dir = code_dir;
    ++slot.generation;
    for (auto& i : slot.instances) {
        i->retired = true;
        if (i->state == Instance::State::idle || (i->state == Instance::State::starting && !i->current))
            i->stop("the function was updated");
    }
}

void Pool::update_limits(const FunctionConfig& config) {
    auto it = slots_.find(config.name);
    if (it == slots_.end()) return;
    it->second.config.reserved_concurrency = config.reserved_concurrency;
    // Idle instances above a lowered limit stop now.
    unsigned alive = 0;
    for (auto& i : it->second.instances)
        if (i->state != Instance::State::dead && i->state != Instance::State::stopping) ++alive;
    for (auto& i : it->second.instances) {
        if (alive <= limit(it->second)) break;
        if (i->state == Instance::State::idle && !i->current) {
            i->stop("reserved concurrency lowered");
            --alive;
        }
    }
    dispatch_queued();
}

void Pool::remove(const std::string& name) {
    auto it = slots_.find(name);
    if (it == slots_.end()) return;
    auto slot = std::move(it->second);
    slots_.erase(it);
    for (auto& inv : slot.queued_events) {
        inv->result.outcome = Outcome::shutting_down;
        inv->done = true;
        inv->done_event.cancel();
    }
    for (auto& i : slot.instances) {
        if (i->current && !i->current->done) {
            i->kill_now();
            i->complete(Outcome::function_error,
                        function_error_body("RequestId: " + i->current->request_id + " Error: the function was deleted",
                                            "Runtime.ExitError"),
                        "Runtime.ExitError");
        }
        i->stop("the function was deleted");
        if (i->state != Instance::State::dead) orphans_.push_back(i);
    }
    metrics_.forget(name);
}

std::shared_ptr<Invocation> Pool::make_invocation(std::string payload, bool async) {
    auto inv = std::make_shared<Invocation>(ex_);
    inv->request_id = random_uuid();
    inv->payload = std::move(payload);
    inv->async = async;
    inv->result.request_id = inv->request_id;
    inv->done_event.expires_at(SteadyClock::time_point::max());
    return inv;
}

Pool::Acquire Pool::acquire(FunctionSlot& slot, const std::shared_ptr<Invocation>& inv, std::string& error) {
    // Reuse: the most recently used ready instance keeps caches warm; an
    // instance still starting comes next (the call waits for its init).
    Instance* best = nullptr;
    for (auto& i : slot.instances) {
        if (i->generation != slot.generation || !i->assignable()) continue;
        if (!best || (i->ready && !best->ready) || (i->ready == best->ready && i->last_used > best->last_used))
            best = i.get();
    }
    if (best) {
        best->assign(inv);
        return Acquire::assigned;
    }
    unsigned alive = 0;
    for (auto& i : slot.instances)
        if (i->state != Instance::State::dead && i->state != Instance::State::stopping) ++alive;
    if (alive >= limit(slot))
        return slot.config.reserved_concurrency ? Acquire::throttled_reserved : Acquire::throttled_platform;
    if (alive_total() >= options_.max_instances && !evict_idle(slot.config.name)) return Acquire::throttled_platform;

    auto inst = std::make_shared<Instance>(*this, ex_, slot.config.name, slot.generation);
    auto started = inst->start(slot.config, slot.code_dir, options_.region, options_.apply_memory_limit);
    if (!started) {
        error = started.error().message;
        return Acquire::failed;
    }
    slot.instances.push_back(inst);
    inst->assign(inv);
    return Acquire::assigned;
}

void Pool::fill_result(FunctionSlot& slot, Invocation& inv) {
    auto& r = inv.result;
    ReportFields f;
    f.request_id = inv.request_id;
    f.duration = r.duration;
    f.memory_size_mb = slot.config.memory_mb;
    f.max_memory_used_mb = r.max_memory_mb;
    f.init_duration = r.init_duration;
    r.report = std::move(f);
    r.init_output = std::move(inv.init_output);
    r.output = std::move(inv.output);
}

void Pool::finish_invocation(FunctionSlot& slot, Invocation& inv) {
    fill_result(slot, inv);
    auto& r = inv.result;
    ++slot.total_invocations;
    slot.last_invocation = std::chrono::system_clock::now();
    if (r.init_duration) slot.last_init_duration = r.init_duration;
    metrics_.invocation(slot.config.name, r.duration, r.outcome != Outcome::success, r.cold_start, r.timed_out);
    if (inv.async)
        log(r.outcome == Outcome::success ? LogLevel::debug : LogLevel::warn,
            "event " + inv.request_id + " of " + slot.config.name + ": " +
                (r.outcome == Outcome::success ? std::string("ok") : r.error_type + " " + r.payload.substr(0, 300)));
    inv.done = true;
    inv.done_event.cancel();
}

void Pool::on_ready(Instance& instance) {
    notify_instance_change();
    if (!instance.current && instance.state == Instance::State::starting) {
        instance.state = Instance::State::idle;
        instance.last_used = SteadyClock::now();
        if (instance.retired) instance.stop("the function was updated");
    }
    dispatch_queued();
    if (instance.state == Instance::State::idle) instance.arm_idle_timer();
}

void Pool::on_completed(Instance& instance, Invocation& inv) {
    auto it = slots_.find(instance.function);
    if (it != slots_.end()) finish_invocation(it->second, inv);
    else {
        inv.done = true;
        inv.done_event.cancel();
    }
    if (instance.state == Instance::State::busy) {
        bool over_limit = false;
        if (it != slots_.end()) {
            unsigned alive = 0;
            for (auto& i : it->second.instances)
                if (i->state != Instance::State::dead && i->state != Instance::State::stopping) ++alive;
            over_limit = alive > limit(it->second);
        }
        if (instance.retired || it == slots_.end() || instance.generation != it->second.generation || over_limit ||
            stopping_) {
            instance.stop(over_limit ? "over the reserved concurrency" : "the function was updated");
        } else {
            // Available at once: the next invocation waits for the runtime's
            // next `next`, so back-to-back calls never see a spurious 429.
            instance.state = Instance::State::idle;
            instance.last_used = SteadyClock::now();
            dispatch_queued();
            if (instance.state == Instance::State::idle && instance.ready) instance.arm_idle_timer();
        }
    }
}

void Pool::on_exit(Instance& instance) {
    notify_instance_change();
    auto self = instance.shared_from_this();  // keep alive while erasing
    auto drop = [&](std::vector<std::shared_ptr<Instance>>& v) {
        v.erase(std::remove_if(v.begin(), v.end(), [&](auto& p) { return p.get() == &instance; }), v.end());
    };
    if (auto it = slots_.find(instance.function); it != slots_.end()) drop(it->second.instances);
    drop(orphans_);
    if (!stopping_) dispatch_queued();
}

void Pool::dispatch_queued() {
    if (stopping_) return;
    for (auto& [name, slot] : slots_) {
        while (!slot.queued_events.empty()) {
            if (slot.config.run_model == RunModel::stdio) {
                if (slot.running_stdio >= limit(slot)) break;
                auto inv = slot.queued_events.front();
                slot.queued_events.pop_front();
                ++slot.running_stdio;
                // Posted so it never re-enters this loop inline.
                net::post(ex_, [this, inv, n = name] {
                    net::co_spawn(ex_, run_stdio(inv, n), log_exceptions(*this, "stdio event"));
                });
                continue;
            }
            std::string error;
            auto inv = slot.queued_events.front();
            auto r = acquire(slot, inv, error);
            if (r == Acquire::throttled_platform || r == Acquire::throttled_reserved) break;
            slot.queued_events.pop_front();
            if (r == Acquire::failed) {
                inv->result.outcome = Outcome::function_error;
                inv->result.error_type = "Runtime.InvalidEntrypoint";
                inv->result.payload = function_error_body("RequestId: " + inv->request_id + " Error: " + error,
                                                          "Runtime.InvalidEntrypoint");
                inv->started = SteadyClock::now();
                finish_invocation(slot, *inv);
            }
        }
    }
}

net::awaitable<InvokeResult> Pool::invoke(std::string name, std::string payload) {
    auto inv = make_invocation(std::move(payload), false);
    if (stopping_) {
        inv->result.outcome = Outcome::shutting_down;
        co_return std::move(inv->result);
    }
    auto it = slots_.find(name);
    if (it == slots_.end()) {
        inv->result.outcome = Outcome::shutting_down;
        co_return std::move(inv->result);
    }
    auto& slot = it->second;
    auto throttled = [&](bool reserved) {
        metrics_.throttle(name);
        inv->result.outcome = Outcome::throttled;
        inv->result.throttle_reason =
            reserved ? "ReservedFunctionConcurrentInvocationLimitExceeded" : "ConcurrentInvocationLimitExceeded";
        return inv->result;
    };
    if (slot.config.run_model == RunModel::stdio) {
        if (slot.running_stdio >= limit(slot)) co_return throttled(slot.config.reserved_concurrency.has_value());
        ++slot.running_stdio;
        co_await run_stdio(inv, name);
        co_return std::move(inv->result);
    }
    std::string error;
    switch (acquire(slot, inv, error)) {
    case Acquire::throttled_reserved: co_return throttled(true);
    case Acquire::throttled_platform: co_return throttled(false);
    case Acquire::failed:
        inv->result.outcome = Outcome::function_error;
        inv->result.error_type = "Runtime.InvalidEntrypoint";
        inv->result.payload =
            function_error_body("RequestId: " + inv->request_id + " Error: " + error, "Runtime.InvalidEntrypoint");
        inv->output = error + "\n";
        inv->started = SteadyClock::now();
        finish_invocation(slot, *inv);
        co_return std::move(inv->result);
    case Acquire::assigned: break;
    }
    while (!inv->done) co_await inv->done_event.async_wait(use_tuple);
    co_return std::move(inv->result);
}

std::expected<std::string, InvokeResult> Pool::invoke_async(const std::string& name, std::string payload) {
    auto it = slots_.find(name);
    InvokeResult refused;
    if (stopping_ || it == slots_.end()) {
        refused.outcome = Outcome::shutting_down;
        return std::unexpected(refused);
    }
    if (it->second.queued_events.size() >= options_.max_queued_events) {
        metrics_.throttle(name);
        refused.outcome = Outcome::throttled;
        refused.throttle_reason = "ConcurrentInvocationLimitExceeded";
        return std::unexpected(refused);
    }
    auto inv = make_invocation(std::move(payload), true);
    it->second.queued_events.push_back(inv);
    dispatch_queued();
    return inv->request_id;
}

net::awaitable<unsigned> Pool::warm(std::string name, unsigned count) {
    auto it = slots_.find(name);
    if (it == slots_.end() || stopping_) co_return 0u;
    if (it->second.config.run_model == RunModel::stdio) {
        // Nothing stays warm; run the warm-up event once so a broken
        // package shows here rather than on the first real call.
        auto r = co_await invoke(name, "{\"warmup\":true,\"job_id\":0,\"args\":[]}");
        co_return r.outcome == Outcome::success ? 1u : 0u;
    }
    std::vector<std::weak_ptr<Instance>> started;
    {
        auto& slot = it->second;
        unsigned have = 0;
        for (auto& i : slot.instances)
            if (i->generation == slot.generation && !i->retired && i->state != Instance::State::dead &&
                i->state != Instance::State::stopping)
                ++have, started.push_back(i);
        while (have < count && have < limit(slot)) {
            if (alive_total() >= options_.max_instances && !evict_idle(name)) break;
            auto inst = std::make_shared<Instance>(*this, ex_, name, slot.generation);
            if (!inst->start(slot.config, slot.code_dir, options_.region, options_.apply_memory_limit)) break;
            slot.instances.push_back(inst);
            started.push_back(inst);
            ++have;
        }
        update_instance_gauges();
    }
    // Wait for their init (each either calls `next`, dies, or hits the init timeout).
    for (;;) {
        bool waiting = false;
        for (auto& w : started)
            if (auto i = w.lock(); i && !i->ready && i->state != Instance::State::dead && i->state != Instance::State::stopping)
                waiting = true;
        if (!waiting || stopping_) break;
        // Woken when any instance gets ready, stops or exits.
        co_await instance_changed_.async_wait(use_tuple);
    }
    unsigned warm = 0;
    for (auto& w : started)
        if (auto i = w.lock(); i && i->ready && i->state != Instance::State::dead && i->state != Instance::State::stopping)
            ++warm;
    co_return std::min(warm, count);
}

net::awaitable<void> Pool::run_stdio(std::shared_ptr<Invocation> inv, std::string name) {
    // `running_stdio` was counted by the caller.
    auto finish = [&](Outcome outcome, std::string payload, std::string type, bool timed_out = false) {
        auto it = slots_.find(name);
        auto& r = inv->result;
        r.outcome = outcome;
        r.payload = std::move(payload);
        r.error_type = std::move(type);
        r.timed_out = timed_out;
        r.cold_start = true;
        r.duration = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - inv->started);
        if (it != slots_.end()) {
            if (it->second.running_stdio > 0) --it->second.running_stdio;
            finish_invocation(it->second, *inv);
        } else {
            inv->done = true;
            inv->done_event.cancel();
        }
        update_instance_gauges();
        dispatch_queued();
    };
    auto it = slots_.find(name);
    if (it == slots_.end()) {
        finish(Outcome::shutting_down, {}, {});
        co_return;
    }
    const FunctionConfig config = it->second.config;
    SpawnSpec spec;
    spec.argv = {(it->second.code_dir / "bootstrap").string()};
    spec.env = instance_environment(config, it->second.code_dir, options_.region, "", short_id());
    spec.cwd = it->second.code_dir.string();
    spec.pipe_stdin = true;
    spec.separate_stderr = true;
    if (options_.apply_memory_limit) spec.address_space_limit = std::uint64_t{config.memory_mb} * 1024 * 1024;
    inv->started = SteadyClock::now();
    inv->delivered = true;
    auto spawned = AsyncProcess::spawn(ex_, spec);
    if (!spawned) {
        inv->output = spawned.error().message + "\n";
        finish(Outcome::function_error,
               function_error_body("RequestId: " + inv->request_id + " Error: " + spawned.error().message,
                                   "Runtime.InvalidEntrypoint"),
               "Runtime.InvalidEntrypoint");
        co_return;
    }
    std::shared_ptr<AsyncProcess> proc = std::move(*spawned);
    stdio_running_.insert(proc.get());

    // Feed stdin, collect stdout and stderr, and enforce the timeout, all at
    // once: a child that does not read its stdin must not stall us.
    auto payload = std::make_shared<std::string>(inv->payload);
    net::co_spawn(ex_, feed_stdin(proc, payload), net::detached);
    auto out = std::make_shared<std::string>();
    auto err = std::make_shared<std::string>();
    auto too_large = std::make_shared<bool>(false);
    const std::size_t max_out = options_.max_payload_bytes;
    net::co_spawn(ex_, collect(proc, &proc->output(), out, max_out, too_large), net::detached);
    net::co_spawn(ex_, collect(proc, proc->stderr_pipe(), err, 0, too_large), net::detached);
    auto timed_out = std::make_shared<bool>(false);
    net::steady_timer deadline(ex_);
    deadline.expires_after(std::chrono::seconds(config.timeout_s));
    deadline.async_wait([proc, timed_out](boost::system::error_code ec) {
        if (ec) return;
        *timed_out = true;
        proc->kill(SIGKILL);
    });

    const int status = co_await proc->async_wait_exit();
    deadline.cancel();
    AsyncProcess::drain(proc->output(), *out);
    AsyncProcess::drain(*proc->stderr_pipe(), *err);
    proc->cancel();
    stdio_running_.erase(proc.get());
    inv->result.max_memory_mb = proc->peak_rss_mb();
    inv->output = std::move(*err);
    keep_tail(inv->output, max_output_bytes);

    if (*timed_out) {
        const std::string what = "Task timed out after " + seconds_2dp(std::chrono::seconds(config.timeout_s)) + " seconds";
        inv->output += timestamp_now() + " " + inv->request_id + " " + what + "\n";
        finish(Outcome::function_error,
               function_error_body("RequestId: " + inv->request_id + " Error: " + what, "Sandbox.Timedout"),
               "Sandbox.Timedout", true);
        co_return;
    }
    if (*too_large) {
        finish(Outcome::function_error,
               function_error_body("Response payload size exceeded maximum allowed payload size (" +
                                       std::to_string(max_out) + " bytes).",
                                   "Function.ResponseSizeTooLarge"),
               "Function.ResponseSizeTooLarge");
        co_return;
    }
    std::string response = std::move(*out);
    while (!response.empty() && (response.back() == '\n' || response.back() == '\r')) response.pop_back();
    if (status == 0) {
        finish(Outcome::success, std::move(response), {});
        co_return;
    }
    // A Blueprint failure reply on stdout says what went wrong; otherwise the exit does.
    if (auto reply = wire::decode_reply_json(response); reply && !reply->success) {
        std::string type = reply->error_type.empty() ? "JobError" : reply->error_type;
        finish(Outcome::function_error, function_error_body(reply->error, type), type);
        co_return;
    }
    const std::string msg = "RequestId: " + inv->request_id + " Error: Runtime exited with error: " + describe_exit(status);
    inv->output += msg + "\nRuntime.ExitError\n";
    finish(Outcome::function_error, function_error_body(msg, "Runtime.ExitError"), "Runtime.ExitError");
}

void Pool::shutdown() {
    if (stopping_) return;
    stopping_ = true;
    notify_instance_change();
    for (auto& [name, slot] : slots_) {
        for (auto& inv : slot.queued_events) {
            inv->result.outcome = Outcome::shutting_down;
            inv->done = true;
            inv->done_event.cancel();
        }
        slot.queued_events.clear();
        for (auto& i : slot.instances) {
            if (i->current && !i->current->done) {
                auto invp = i->current;
                i->current.reset();
                invp->result.outcome = Outcome::shutting_down;
                invp->done = true;
                invp->done_event.cancel();
            }
            i->stop("the platform is stopping");
        }
    }
    for (auto* p : stdio_running_) p->kill(SIGKILL);
}

}  // namespace blueprint::platform
