// The Lambda Runtime API mode (ARCHITECTURE.md §7): a custom runtime's loop.
//
//   GET  /2018-06-01/runtime/invocation/next          -> an event (blocks)
//   POST /2018-06-01/runtime/invocation/{id}/response  -> the Blueprint reply
//   POST /2018-06-01/runtime/invocation/{id}/error     -> a failed job
//   POST /2018-06-01/runtime/init/error                -> could not start
//
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
//
// The client is a small synchronous Beast client of its own over one
// keep-alive connection: the runtime does one thing at a time, so there is
// nothing to gain from the shared async client's pool, and the runtime must
// not depend on its retry and timeout semantics (next must never time out).
#include "function/lambda_protocol.hpp"
#include "function/modes.hpp"
#include "function/protocol.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <array>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>

namespace blueprint::function::detail {
namespace lambda {

std::string RuntimeEndpoint::target(std::string_view path) const {
    std::string out = prefix;
    out += "/2018-06-01";
    out += path;
    return out;
}

std::expected<RuntimeEndpoint, std::string> parse_runtime_api(std::string_view value) {
    // Tolerate a scheme: some local emulators set "http://host:port".
    if (value.starts_with("http://")) value.remove_prefix(7);
    RuntimeEndpoint ep;
    auto slash = value.find('/');
    std::string_view authority = value.substr(0, slash);
    if (slash != std::string_view::npos) {
        std::string_view prefix = value.substr(slash);
        while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
        ep.prefix = std::string(prefix);
    }
    std::string_view host, port;
    if (authority.starts_with('[')) {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::unexpected("unterminated '[' in the host");
        host = authority.substr(1, close - 1);
        auto rest = authority.substr(close + 1);
        if (!rest.starts_with(':')) return std::unexpected("no port after the IPv6 host");
        port = rest.substr(1);
    } else {
        auto colon = authority.rfind(':');
        if (colon == std::string_view::npos) return std::unexpected("no port (expected host:port)");
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    unsigned number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (host.empty()) return std::unexpected("empty host");
    if (ec != std::errc{} || end != port.data() + port.size() || port.empty() || number == 0 || number > 65535)
        return std::unexpected("the port must be a number 1-65535");
    ep.host = std::string(host);
    ep.port = std::string(port);
    return ep;
}

std::expected<InvocationContext, std::string> context_from_headers(const NextHeaders& headers) {
    if (headers.request_id.empty()) return std::unexpected("the event has no Lambda-Runtime-Aws-Request-Id");
    for (unsigned char c : headers.request_id) {
        // The id goes back into a URL path; refuse anything that would need escaping.
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == '~';
        if (!ok) return std::unexpected("the request id holds a character not allowed in a URL path");
    }
    InvocationContext ctx;
    ctx.mode = "lambda";
    ctx.request_id = std::string(headers.request_id);
    std::int64_t ms = 0;
    auto d = headers.deadline_ms;
    auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), ms);
    if (!d.empty() && ec == std::errc{} && end == d.data() + d.size() && ms > 0)
        ctx.deadline = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    return ctx;
}

std::string error_document(std::string_view message, std::string_view type) {
    boost::json::object o;
    o["errorMessage"] = message;
    o["errorType"] = type;
    o["stackTrace"] = boost::json::array();
    return boost::json::serialize(o);
}

StatusAction classify_status(unsigned status) noexcept {
    if (status >= 200 && status < 300) return StatusAction::proceed;
    if (status == 403 || status >= 500) return StatusAction::exit;
    return StatusAction::skip;
}

}  // namespace lambda

namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace wire = blueprint::faas::wire;
using tcp = net::ip::tcp;

using beast::iequals;

void log_line(const std::string& text) { std::fprintf(stderr, "blueprint::function (lambda): %s\n", text.c_str()); }

// One keep-alive connection to the Runtime API, reopened when the peer
// closed it between requests.
class RuntimeClient {
public:
    RuntimeClient(lambda::RuntimeEndpoint endpoint, std::size_t max_body)
        : endpoint_(std::move(endpoint)), max_body_(max_body) {}

    using Response = http::response<http::string_body>;

    /// One request, one response. With `then_next`, a `GET next_target`
    /// leaves in the same write (HTTP/1.1 pipelining): the caller then gets
    /// that event from next() without another send, and the platform can
    /// answer both in one write.
    std::expected<Response, beast::error_code> exchange(http::verb method, const std::string& target, std::string body,
                                                        std::string_view error_type = {},
                                                        const std::string* then_next = nullptr) {
        // The heads are written by hand (what Beast's serializer would write
        // for these messages, without its generic buffer machinery), and
        // everything leaves in one gather write.
        head_.clear();
        append_head(head_, method, target, body.size(), error_type);
        next_head_.clear();
        if (then_next) append_head(next_head_, http::verb::get, *then_next, 0, {});
        const std::array<net::const_buffer, 3> request{net::buffer(head_), net::buffer(body), net::buffer(next_head_)};
        next_sent_ = false;

        // A reused connection may have been closed by the peer while idle;
        // then (and only then) reconnect and send once more.
        for (int attempt = 0; attempt < 2; ++attempt) {
            const bool reused = connected_;
            beast::error_code ec;
            if (!connected_ && !connect(ec)) return std::unexpected(ec);
            net::write(stream_.socket(), request, ec);
            if (!ec) {
                if (auto res = read_response(ec)) {
                    // A peer that closes after this response never read the
                    // pipelined request: next() sends it again.
                    next_sent_ = then_next && connected_;
                    return std::move(*res);
                }
            }
            close();
            if (!reused) return std::unexpected(ec);
        }
        return std::unexpected(beast::error_code(net::error::connection_reset));
    }

    /// The next event: the answer to a pipelined `next` when one was sent,
    /// else a fresh request.
    std::expected<Response, beast::error_code> next(const std::string& target) {
        if (std::exchange(next_sent_, false)) {
            beast::error_code ec;
            if (auto res = read_response(ec)) return std::move(*res);
            close();  // the connection broke: ask again on a new one
        }
        return exchange(http::verb::get, target, {});
    }

private:
    bool connect(beast::error_code& ec) {
        tcp::resolver resolver(ioc_);
        auto results = resolver.resolve(endpoint_.host, endpoint_.port, ec);
        if (ec) return false;
        stream_.connect(results, ec);
        if (ec) return false;
        stream_.socket().set_option(tcp::no_delay(true), ec);
        ec = {};
        buffer_.clear();
        // Beast reads at most max(512, free capacity) bytes at a time: with
        // room up front, a 202 and the next event arrive in one recv.
        buffer_.reserve(16 * 1024);
        connected_ = true;
        return true;
    }
    void append_head(std::string& out, http::verb method, std::string_view target, std::size_t body_size,
                     std::string_view error_type) const {
        out += method == http::verb::post ? "POST " : "GET ";
        out += target;
        out += " HTTP/1.1\r\nHost: ";
        out += host_;
        out += "\r\nUser-Agent: blueprint-faas-runtime\r\n";
        if (method == http::verb::post) {
            out += "Content-Type: application/json\r\n";
            if (!error_type.empty()) {
                out += "Lambda-Runtime-Function-Error-Type: ";
                for (char c : error_type) out += (c == '\r' || c == '\n') ? ' ' : c;
                out += "\r\n";
            }
            out += "Content-Length: ";
            out += std::to_string(body_size);
            out += "\r\n";
        }
        out += "\r\n";
    }
    std::optional<Response> read_response(beast::error_code& ec) {
        http::response_parser<http::string_body> parser;
        parser.body_limit(max_body_);
        // No timeout: `next` blocks until the platform has an event, which
        // may take hours. AWS: "Don't set a timeout on the GET request as
        // the response may be delayed."
        // https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-next
        http::read(stream_, buffer_, parser, ec);
        if (ec) return std::nullopt;
        Response res = parser.release();
        if (!res.keep_alive()) close();
        return res;
    }
    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
        connected_ = false;
    }

    lambda::RuntimeEndpoint endpoint_;
    std::string host_ = endpoint_.host + ":" + endpoint_.port;
    std::string head_, next_head_;
    /// A `next` went out pipelined and its answer is still to be read.
    bool next_sent_ = false;
    std::size_t max_body_;
    net::io_context ioc_;
    beast::tcp_stream stream_{ioc_};
    beast::flat_buffer buffer_;
    bool connected_ = false;
};

// Posts a reply, with the next `next` pipelined when `then_next` is given;
// true when the loop may go on.
bool post(RuntimeClient& client, const std::string& target, std::string body, std::string_view error_type = {},
          const std::string* then_next = nullptr) {
    auto res = client.exchange(http::verb::post, target, std::move(body), error_type, then_next);
    if (!res) {
        log_line("cannot reach the Runtime API (" + target + "): " + res.error().message());
        return false;
    }
    switch (lambda::classify_status(res->result_int())) {
    case lambda::StatusAction::proceed: return true;
    case lambda::StatusAction::skip:
        log_line("the Runtime API refused " + target + " with HTTP " + std::to_string(res->result_int()) + ": " +
                 res->body().substr(0, 200));
        return true;
    case lambda::StatusAction::exit:
        log_line("the Runtime API answered " + target + " with HTTP " + std::to_string(res->result_int()) +
                 "; exiting as the Runtime API contract requires");
        return false;
    }
    return false;
}

}  // namespace

int run_lambda(const Handler& handler, const ServeOptions& options, std::string_view runtime_api) {
    auto endpoint = lambda::parse_runtime_api(runtime_api);
    if (!endpoint) {
        log_line("AWS_LAMBDA_RUNTIME_API='" + std::string(runtime_api) + "' is unusable: " + endpoint.error());
        return 2;
    }
    RuntimeClient client(*endpoint, options.max_body_bytes);

    if (!handler) {
        post(client, endpoint->target("/runtime/init/error"),
             lambda::error_document("no handler was given to blueprint::function::serve", "Runtime.NoHandler"),
             "Runtime.NoHandler");
        return 2;
    }

    bool cold = true;
    const std::string next_target = endpoint->target("/runtime/invocation/next");
    for (;;) {
        auto res = client.next(next_target);
        if (!res) {
            log_line("cannot reach the Runtime API: " + res.error().message());
            return 1;
        }
        const auto action = lambda::classify_status(res->result_int());
        if (action != lambda::StatusAction::proceed) {
            log_line("next answered HTTP " + std::to_string(res->result_int()) + ": " + res->body().substr(0, 200));
            if (action == lambda::StatusAction::exit) return 1;
            continue;
        }

        // One pass over the fields (four lookups in Beast's case-insensitive
        // tree cost more than the rest of the parse).
        lambda::NextHeaders headers;
        // Pipelining only where the server said it handles it (bpfaas local
        // does): on any other Runtime API each request waits for its reply.
        const std::string* pipeline_next = nullptr;
        for (const auto& field : *res) {
            const std::string_view name(field.name_string().data(), field.name_string().size());
            const std::string_view value(field.value().data(), field.value().size());
            if (iequals(name, "Lambda-Runtime-Aws-Request-Id")) headers.request_id = value;
            else if (iequals(name, "Lambda-Runtime-Deadline-Ms")) headers.deadline_ms = value;
            else if (iequals(name, "Lambda-Runtime-Invoked-Function-Arn")) headers.function_arn = value;
            else if (iequals(name, "Lambda-Runtime-Trace-Id")) headers.trace_id = value;
            else if (iequals(name, lambda::pipelining_header) && value == "1") pipeline_next = &next_target;
        }
        auto context = lambda::context_from_headers(headers);
        if (!context) {
            // Without a usable id there is nowhere to send a reply.
            log_line("dropping an event: " + context.error());
            continue;
        }
        const std::string base = endpoint->target("/runtime/invocation/" + context->request_id);

        auto request = wire::decode_request_json(res->body());
        if (!request) {
            if (!post(client, base + "/error",
                      lambda::error_document("the event is not a Blueprint JSON request: " + request.error().message,
                                             "InvalidEvent"),
                      "InvalidEvent", pipeline_next))
                return 1;
            continue;
        }
        if (request->warmup) {
            // Warm-up events only start the environment: the job never runs.
            if (!post(client, base + "/response", make_warmup_reply(BodyFormat::json, cold).body, {}, pipeline_next))
                return 1;
            cold = false;
            continue;
        }
        cold = false;

        const JobResult result =
            call_handler(handler, JobCall(request->job_id, std::move(request->args), std::move(request->metadata)),
                         *context);
        bool go_on;
        if (result.is_ok()) {
            go_on = post(client, base + "/response", wire::encode_reply_json(wire::job_result_to_reply(result)), {},
                         pipeline_next);
        } else {
            const auto& err = result.error();
            std::string type = err.type.empty() ? "JobError" : err.type;
            std::string message = err.message.empty() ? err.code.message() : err.message;
            go_on = post(client, base + "/error", lambda::error_document(message, type), type, pipeline_next);
        }
        if (!go_on) return 1;
    }
}

}  // namespace blueprint::function::detail
