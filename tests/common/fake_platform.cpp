// In-test HTTP servers: a scripted one and the enforcing fake custom
// platform (see fake_platform.hpp).
#include "common/fake_platform.hpp"

#include <blueprint/faas/packaging.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>
#include <thread>

namespace blueprint::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::string HttpExchange::header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (iequals(k, name)) return v;
    }
    return {};
}

bool HttpExchange::has_header(std::string_view name) const {
    return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
}

HttpReply HttpReply::json(int status, std::string body) {
    HttpReply r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = std::move(body);
    return r;
}

// ---- TestHttpServer ---------------------------------------------------------

struct TestHttpServer::Impl {
    Impl(Handler h, std::size_t max_body) : handler(std::move(h)), max_body_bytes(max_body) {}

    // Declared first so it is destroyed last: the suspended sessions it owns
    // hold sockets on it.
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    unsigned short port = 0;
    Handler handler;
    std::size_t max_body_bytes;
    mutable std::mutex mutex;
    std::vector<HttpExchange> seen;
    std::thread thread;
    std::once_flag stop_once;

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> session(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.body_limit(max_body_bytes);
            auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (ec == bhttp::error::body_limit) {
                bhttp::response<bhttp::string_body> res{bhttp::status::payload_too_large, 11};
                res.set(bhttp::field::content_type, "application/json");
                res.body() = R"({"error":"payload too large","code":"payload_too_large","details":""})";
                res.keep_alive(false);
                res.prepare_payload();
                co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
                beast::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                co_return;
            }
            if (ec) co_return;
            auto& req = parser.get();
            HttpExchange ex;
            ex.method = std::string(req.method_string());
            ex.target = std::string(req.target());
            for (const auto& f : req) ex.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
            ex.body = std::move(req.body());
            {
                std::lock_guard lock(mutex);
                seen.push_back(ex);
            }
            HttpReply reply;
            try {
                reply = handler(ex);
            } catch (const std::exception& e) {
                reply = HttpReply::json(500, json::serialize(json::object{{"error", e.what()}, {"code", "test_handler"}}));
            }
            if (reply.action == HttpReply::Action::close) {
                beast::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                stream.socket().close(ignored);
                co_return;
            }
            if (reply.action == HttpReply::Action::hang) {
                asio::steady_timer forever(ioc, asio::steady_timer::time_point::max());
                co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
                co_return;
            }
            bhttp::response<bhttp::string_body> res;
            res.version(11);
            res.result(static_cast<unsigned>(reply.status));
            for (const auto& [k, v] : reply.headers) res.insert(k, v);
            res.body() = std::move(reply.body);
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            auto [wec, wn] = co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            if (wec || !res.keep_alive()) {
                beast::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                co_return;
            }
        }
    }
};

TestHttpServer::TestHttpServer(Handler handler, std::size_t max_body_bytes)
    : impl_(std::make_shared<Impl>(std::move(handler), max_body_bytes)) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    impl_->port = impl_->acceptor.local_endpoint().port();
    asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

TestHttpServer::~TestHttpServer() { stop(); }

void TestHttpServer::stop() {
    std::call_once(impl_->stop_once, [&] {
        impl_->ioc.stop();
        if (impl_->thread.joinable()) impl_->thread.join();
        beast::error_code ignored;
        impl_->acceptor.close(ignored);
    });
}

unsigned short TestHttpServer::port() const noexcept { return impl_->port; }
std::string TestHttpServer::url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

std::vector<HttpExchange> TestHttpServer::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->seen;
}

std::size_t TestHttpServer::request_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->seen.size();
}



// ---- FakePlatform --------------------------------------------------------------

namespace {

std::optional<std::string> base64_decode(std::string_view in) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < in.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; ++j) {
            char c = in[i + j];
            if (c == '=') {
                if (i + 4 != in.size() || j < 2) return std::nullopt;
                v[j] = 0;
                ++pad;
            } else {
                if (pad) return std::nullopt;
                v[j] = value(c);
                if (v[j] < 0) return std::nullopt;
            }
        }
        const std::uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        out += static_cast<char>(n >> 16);
        if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
        if (pad < 1) out += static_cast<char>(n & 0xff);
    }
    return out;
}

HttpReply error_reply(int status, std::string_view code, std::string_view message, std::string_view details = {}) {
    return HttpReply::json(status, json::serialize(json::object{{"error", message}, {"code", code}, {"details", details}}));
}

std::string_view media_type(std::string_view v) {
    v = v.substr(0, v.find(';'));
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    return v;
}

/// Canonical form of a function id: decimal u64 without leading zeros, or
/// "0x" + 1-64 lowercase hex digits without leading zeros, for ids above u64.
bool valid_function_id(std::string_view id) {
    if (id.empty()) return false;
    if (id.starts_with("0x")) {
        auto hex = id.substr(2);
        if (hex.empty() || hex.size() > 64 || hex.front() == '0') return false;
        if (!std::all_of(hex.begin(), hex.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); }))
            return false;
        return hex.size() > 16;  // ids that fit u64 are named in decimal
    }
    if (id.size() > 1 && id.front() == '0') return false;
    std::uint64_t v;
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
    return ec == std::errc{} && p == id.data() + id.size();
}

std::optional<std::uint64_t> as_u64(const json::value& v) {
    if (v.is_uint64()) return v.as_uint64();
    if (v.is_int64() && v.as_int64() >= 0) return static_cast<std::uint64_t>(v.as_int64());
    return std::nullopt;
}

json::array bytes_json(const std::vector<std::uint8_t>& bytes) {
    json::array a;
    a.reserve(bytes.size());
    for (auto b : bytes) a.push_back(b);
    return a;
}

}  // namespace

struct FakePlatform::State {
    Options options;
    std::string base_url;
    mutable std::mutex mutex;
    std::map<std::string, Deployment, std::less<>> deployments;
    std::map<std::string, bool, std::less<>> unhealthy;
    std::size_t rejected = 0;
    std::size_t conflicts = 0;
    std::size_t last_warm = 0;

    HttpReply reject(int status, std::string_view code, std::string_view message, std::string_view details = {}) {
        {
            std::lock_guard lock(mutex);
            ++rejected;
            if (status == 409) ++conflicts;
        }
        return error_reply(status, code, message, details);
    }

    HttpReply handle(const HttpExchange& ex) {
        constexpr std::string_view prefix = "/api/functions/";
        std::string_view target = ex.target;
        if (target.find('?') != std::string_view::npos) return reject(400, "bad_request", "query strings are not part of the API");
        if (!target.starts_with(prefix)) return reject(404, "not_found", "no such route", target);
        auto rest = target.substr(prefix.size());
        auto slash = rest.find('/');
        std::string_view id = rest.substr(0, slash);
        std::string_view action = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (action.empty() && slash != std::string_view::npos) return reject(404, "not_found", "no such route", target);
        if (!action.empty() && action != "invoke" && action != "health" && action != "warm") {
            return reject(404, "not_found", "no such route", target);
        }
        if (!options.bearer_token.empty() && ex.header("Authorization") != "Bearer " + options.bearer_token) {
            return reject(401, "unauthorized", "missing or wrong bearer token");
        }
        std::string_view allowed = action.empty() ? "GET, PUT, DELETE" : (action == "health" ? "GET" : "POST");
        bool method_ok = action.empty() ? (ex.method == "GET" || ex.method == "PUT" || ex.method == "DELETE")
                                        : ex.method == (action == "health" ? "GET" : "POST");
        if (!method_ok) {
            auto r = reject(405, "method_not_allowed", "method not allowed", ex.method);
            r.headers.emplace_back("Allow", std::string(allowed));
            return r;
        }
        if (!valid_function_id(id)) return reject(400, "invalid_function_id", "function id must be canonical decimal or 0x hex", id);
        std::string fid(id);
        if (action.empty() && ex.method == "PUT") return deploy(ex, fid);
        if (action.empty() && ex.method == "GET") return info(fid);
        if (action.empty()) return remove(fid);
        if (action == "invoke") return invoke(ex, fid);
        if (action == "health") return health(fid);
        return warm(ex, fid);
    }

    std::string invoke_url(const std::string& fid) const { return base_url + "/api/functions/" + fid + "/invoke"; }

    json::object deployment_json(const Deployment& d) const {
        return json::object{{"function_id", d.function_id},   {"endpoint", invoke_url(d.function_id)},
                            {"status", "deployed"},          {"cold_start_ms", 0},
                            {"memory_mb", d.memory_mb},      {"timeout_secs", d.timeout_secs}};
    }

    HttpReply deploy(const HttpExchange& ex, const std::string& fid) {
        if (media_type(ex.header("Content-Type")) != "application/zip") {
            return reject(400, "invalid_content_type", "the package must be application/zip", ex.header("Content-Type"));
        }
        if (ex.body.size() > 250u * 1024 * 1024) return reject(413, "package_too_large", "packages are limited to 250 MB");
        Deployment d;
        d.function_id = fid;
        d.package.assign(ex.body.begin(), ex.body.end());
        auto files = faas::packaging::read_zip_entries(d.package);
        if (!files) return reject(400, "invalid_package", "the body is not a zip archive: " + files.error().message);
        auto boot = std::find_if(files->begin(), files->end(),
                                 [](const faas::packaging::ZipEntry& f) { return f.name == "bootstrap"; });
        if (boot == files->end()) return reject(400, "invalid_package", "the package holds no bootstrap");
        if ((boot->mode & 0111) == 0) return reject(400, "invalid_package", "bootstrap is not executable");
        d.bootstrap = boot->bytes;
        d.bootstrap_mode = boot->mode & 07777;
        if (ex.has_header("X-Blueprint-Config")) {
            d.config_header_sent = true;
            auto raw = base64_decode(ex.header("X-Blueprint-Config"));
            if (!raw) return reject(400, "invalid_config", "X-Blueprint-Config is not base64");
            boost::system::error_code ec;
            auto v = json::parse(*raw, ec);
            if (ec || !v.is_object()) return reject(400, "invalid_config", "X-Blueprint-Config is not a JSON object");
            for (const auto& [key, value] : v.as_object()) {
                if (key == "memory_mb") {
                    auto m = as_u64(value);
                    if (!m || *m < 128 || *m > 10240) return reject(400, "invalid_config", "memory_mb must be 128-10240");
                    d.memory_mb = static_cast<std::uint32_t>(*m);
                } else if (key == "timeout_secs") {
                    auto t = as_u64(value);
                    if (!t || *t < 1 || *t > 900) return reject(400, "invalid_config", "timeout_secs must be 1-900");
                    d.timeout_secs = static_cast<std::uint32_t>(*t);
                } else if (key == "max_concurrency") {
                    if (value.is_null()) continue;
                    auto c = as_u64(value);
                    if (!c || *c < 1 || *c > 100000) return reject(400, "invalid_config", "max_concurrency must be positive");
                    d.max_concurrency = static_cast<std::uint32_t>(*c);
                } else if (key == "env_vars") {
                    if (!value.is_object()) return reject(400, "invalid_config", "env_vars must be an object");
                    for (const auto& [ek, ev] : value.as_object()) {
                        if (!ev.is_string()) return reject(400, "invalid_config", "env_vars values must be strings");
                        d.env_vars.emplace(std::string(ek), std::string(ev.as_string()));
                    }
                } else {
                    return reject(400, "invalid_config", "unknown config field", key);
                }
            }
        }
        std::lock_guard lock(mutex);
        if (deployments.contains(fid)) {
            ++rejected;
            ++conflicts;
            return error_reply(409, "already_exists", "function already exists", fid);
        }
        auto body = json::serialize(deployment_json(d));
        deployments.emplace(fid, std::move(d));
        return HttpReply::json(200, std::move(body));
    }

    HttpReply info(const std::string& fid) {
        std::lock_guard lock(mutex);
        auto it = deployments.find(fid);
        if (it == deployments.end()) {
            ++rejected;
            return error_reply(404, "not_found", "function not found", fid);
        }
        auto o = deployment_json(it->second);
        o["deployed_at"] = "2024-01-01T00:00:00Z";
        o["binary_size_bytes"] = it->second.bootstrap.size();
        return HttpReply::json(200, json::serialize(o));
    }

    HttpReply remove(const std::string& fid) {
        std::lock_guard lock(mutex);
        if (deployments.erase(fid) == 0) {
            ++rejected;
            return error_reply(404, "not_found", "function not found", fid);
        }
        return HttpReply::json(200, json::serialize(json::object{{"function_id", fid}, {"status", "deleted"}}));
    }

    HttpReply health(const std::string& fid) {
        std::lock_guard lock(mutex);
        auto it = deployments.find(fid);
        if (it == deployments.end()) return error_reply(404, "not_found", "function not found", fid);
        if (auto u = unhealthy.find(fid); u != unhealthy.end() && u->second) {
            return error_reply(503, "unhealthy", "function is not ready", fid);
        }
        return HttpReply::json(200, json::serialize(json::object{{"function_id", fid},
                                                                 {"status", "healthy"},
                                                                 {"last_invocation", nullptr},
                                                                 {"total_invocations", it->second.invocations}}));
    }

    HttpReply warm(const HttpExchange& ex, const std::string& fid) {
        std::size_t instances = 1;
        if (!ex.body.empty()) {
            if (media_type(ex.header("Content-Type")) != "application/json") {
                return reject(400, "invalid_content_type", "warm takes application/json");
            }
            boost::system::error_code ec;
            auto v = json::parse(ex.body, ec);
            if (ec || !v.is_object()) return reject(400, "invalid_request", "warm body must be a JSON object");
            if (auto it = v.as_object().find("instances"); it != v.as_object().end()) {
                auto n = as_u64(it->value());
                if (!n || *n < 1 || *n > 1000) return reject(400, "invalid_request", "instances must be 1-1000");
                instances = *n;
            }
        }
        std::lock_guard lock(mutex);
        if (!deployments.contains(fid)) {
            ++rejected;
            return error_reply(404, "not_found", "function not found", fid);
        }
        last_warm = instances;
        return HttpReply::json(200, json::serialize(json::object{
                                        {"function_id", fid}, {"status", "warm"}, {"instances_warmed", instances}}));
    }

    HttpReply invoke(const HttpExchange& ex, const std::string& fid) {
        {
            std::lock_guard lock(mutex);
            if (!deployments.contains(fid)) {
                ++rejected;
                return error_reply(404, "not_found", "function not found", fid);
            }
        }
        if (media_type(ex.header("Content-Type")) != "application/json") {
            return reject(400, "invalid_content_type", "invoke takes application/json", ex.header("Content-Type"));
        }
        boost::system::error_code ec;
        auto v = json::parse(ex.body, ec);
        if (ec || !v.is_object()) return reject(400, "invalid_request", "the request is not a JSON object");
        const auto& o = v.as_object();
        Invocation inv;
        std::string sent_id;
        if (auto it = o.find("job_id"); it != o.end()) {
            auto id = as_u64(it->value());
            if (!id) return reject(400, "invalid_request", "job_id must be an unsigned integer");
            inv.job_id = *id;
            sent_id = std::to_string(*id);
        } else if (auto hx = o.find("job_id_hex"); hx != o.end() && hx->value().is_string()) {
            inv.job_id_hex = std::string(hx->value().as_string());
            sent_id = inv.job_id_hex;
        } else {
            return reject(400, "invalid_request", "job_id is required");
        }
        if (sent_id != fid) return reject(400, "job_id_mismatch", "job_id does not match the function", sent_id);
        auto args = o.find("args");
        if (args == o.end() || !args->value().is_array()) return reject(400, "invalid_request", "args must be a byte array");
        for (const auto& b : args->value().as_array()) {
            auto x = as_u64(b);
            if (!x || *x > 255) return reject(400, "invalid_request", "args must be bytes 0-255");
            inv.args.push_back(static_cast<std::uint8_t>(*x));
        }
        if (auto md = o.find("metadata"); md != o.end()) inv.metadata_json = json::serialize(md->value());
        bool warmup = false;
        if (auto w = o.find("warmup"); w != o.end() && w->value().is_bool()) warmup = w->value().as_bool();

        Outcome out;
        if (!warmup) {
            out = options.function ? options.function(inv) : Outcome{true, inv.args, {}};
            std::lock_guard lock(mutex);
            if (auto it = deployments.find(fid); it != deployments.end()) ++it->second.invocations;
        }
        json::object reply{{"job_id", inv.job_id_hex.empty() ? json::value(inv.job_id) : json::value(inv.job_id_hex)},
                           {"result", out.success ? bytes_json(out.result) : json::array{}},
                           {"success", out.success}};
        if (out.success) {
            reply["execution_ms"] = 1.5;
            reply["memory_used_mb"] = 42;
            return HttpReply::json(200, json::serialize(reply));
        }
        reply["error"] = out.error;
        return HttpReply::json(500, json::serialize(reply));
    }
};

FakePlatform::FakePlatform() : FakePlatform(Options{}) {}

FakePlatform::FakePlatform(Options options) : state_(std::make_shared<State>()) {
    state_->options = std::move(options);
    server_ = std::make_unique<TestHttpServer>([st = state_](const HttpExchange& ex) { return st->handle(ex); },
                                               300u * 1024 * 1024);
    state_->base_url = server_->url();
}

FakePlatform::~FakePlatform() { server_->stop(); }

std::string FakePlatform::url() const { return server_->url(); }
TestHttpServer& FakePlatform::server() { return *server_; }

std::optional<FakePlatform::Deployment> FakePlatform::deployment(std::string_view function_id) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->deployments.find(function_id);
    if (it == state_->deployments.end()) return std::nullopt;
    return it->second;
}

std::size_t FakePlatform::deployment_count() const {
    std::lock_guard lock(state_->mutex);
    return state_->deployments.size();
}

void FakePlatform::set_unhealthy(std::string_view function_id, bool unhealthy) {
    std::lock_guard lock(state_->mutex);
    state_->unhealthy[std::string(function_id)] = unhealthy;
}

std::size_t FakePlatform::rejected() const {
    std::lock_guard lock(state_->mutex);
    return state_->rejected;
}

std::size_t FakePlatform::conflicts() const {
    std::lock_guard lock(state_->mutex);
    return state_->conflicts;
}

std::size_t FakePlatform::last_warm_instances() const {
    std::lock_guard lock(state_->mutex);
    return state_->last_warm;
}

}  // namespace blueprint::test
