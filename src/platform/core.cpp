#include "platform/core.hpp"

#include "platform/custom_api.hpp"
#include "platform/sigv4_verify.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>

#include <openssl/evp.h>

#include <fstream>
#include <sstream>

namespace blueprint::platform {
namespace net = boost::asio;
namespace json = boost::json;
namespace wire = blueprint::faas::wire;
namespace lapi = lambda_api;
namespace capi = custom_api;

namespace {

std::string sha256_base64(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
    return wire::base64_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

using boost::beast::iequals;  // ASCII case-insensitive equality

HttpResponse lambda_error(const lapi::ApiError& e, std::string request_id = random_uuid()) {
    HttpResponse r;
    r.status = e.status;
    r.body = lapi::error_body(e);
    r.headers.emplace_back("x-amzn-ErrorType", e.type);
    r.headers.emplace_back("x-amzn-RequestId", std::move(request_id));
    if (e.retry_after) r.headers.emplace_back("Retry-After", std::to_string(*e.retry_after));
    return r;
}

HttpResponse lambda_ok(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("x-amzn-RequestId", random_uuid());
    return r;
}

HttpResponse custom_error(unsigned status, std::string code, std::string message, std::string details = {}) {
    HttpResponse r;
    r.status = status;
    r.body = capi::error_body({status, std::move(code), std::move(message), std::move(details)});
    return r;
}

HttpResponse custom_ok(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

lapi::ApiError store_error_to_lambda(const Error& e, std::string_view region, std::string_view name) {
    if (e.code == store_errc::already_exists) return lapi::conflict("Function already exist: " + std::string(name));
    if (e.code == store_errc::not_found) return lapi::not_found(region, name);
    if (e.code == store_errc::invalid_package) return lapi::invalid_parameter(e.message);
    return lapi::service_error("The function could not be stored: " + e.message);
}

HttpResponse store_error_to_custom(const Error& e) {
    if (e.code == store_errc::already_exists) return custom_error(409, "already_exists", e.message);
    if (e.code == store_errc::not_found) return custom_error(404, "not_found", e.message);
    if (e.code == store_errc::invalid_package) return custom_error(400, "invalid_package", e.message);
    return custom_error(507, "storage_failed", "the function could not be stored", e.message);
}

std::pair<std::string, std::string> error_doc_fields(std::string_view doc, std::string_view fallback_type) {
    boost::system::error_code ec;
    auto v = json::parse(doc, ec);
    std::string message(doc.substr(0, 4096)), type(fallback_type);
    if (!ec && v.is_object()) {
        const auto& o = v.as_object();
        if (auto it = o.find("errorMessage"); it != o.end() && it->value().is_string()) message = it->value().as_string();
        if (auto it = o.find("errorType"); it != o.end() && it->value().is_string()) type = it->value().as_string();
    }
    return {message, type};
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const noexcept {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

BodyPolicy body_policy(std::string_view method, std::string_view target, const LocalPlatformOptions& o) {
    // Base64 grows a zip by 4/3; leave room for the JSON around it.
    const std::size_t zip_json = o.max_package_bytes / 3 * 4 + 64 * 1024;
    if (auto r = lapi::route(method, target)) {
        if (r->op == lapi::Op::create_function || r->op == lapi::Op::update_function_code) return {"lambda", zip_json};
        if (r->op == lapi::Op::invoke) return {"lambda", o.max_payload_bytes};
        return {"lambda", 1u << 20};
    }
    if (auto r = capi::route(method, target)) {
        if (r->op == capi::Op::deploy) return {"custom", o.max_package_bytes};
        if (r->op == capi::Op::invoke) return {"custom", o.max_payload_bytes};
        return {"custom", 1u << 20};
    }
    return {"platform", 64 * 1024};
}

HttpResponse too_large_reply(const BodyPolicy& policy, std::string_view target) {
    if (policy.api == "lambda") {
        std::string op = target.find("/invocations") != std::string_view::npos ? "InvokeFunction" : "this";
        return lambda_error(lapi::too_large("Request must be smaller than " + std::to_string(policy.limit) +
                                           " bytes for the " + op + " operation"));
    }
    return custom_error(413, "payload_too_large",
                        "the request body is larger than " + std::to_string(policy.limit) + " bytes");
}

Core::Core(net::io_context& ioc, LocalPlatformOptions options, FunctionStore::FaultHook fault)
    : ioc_(ioc),
      options_(std::move(options)),
      store_(StoreOptions{.data_dir = options_.data_dir, .fault = std::move(fault)}),
      pool_(ioc.get_executor(),
            PoolOptions{.region = options_.region,
                        .keep_alive = options_.keep_alive,
                        .max_instances = options_.max_instances,
                        .max_queued_events = options_.max_queued_events,
                        .max_payload_bytes = options_.max_payload_bytes,
                        .init_timeout = options_.init_timeout,
                        .apply_memory_limit = options_.apply_memory_limit,
                        .log = options_.log},
            metrics_) {}

Core::~Core() { store_thread_.join(); }

std::expected<void, Error> Core::open() {
    if (options_.aws_credentials) {
        auto parsed = parse_credentials(*options_.aws_credentials);
        if (!parsed)
            return std::unexpected(Error{make_error_code(platform_errc::invalid_options), "aws_credentials: " + parsed.error()});
        aws_key_ = *parsed;
    }
    if (auto r = store_.open(); !r)
        return std::unexpected(Error{make_error_code(platform_errc::data_dir_unusable), r.error().message});
    std::vector<std::string> warnings;
    for (auto& f : store_.load_all(warnings)) {
        Entry e{f.config, f.code_dir, {}, false};
        pool_.upsert(f.config, f.code_dir);
        functions_.emplace(f.config.name, std::move(e));
    }
    for (const auto& w : warnings)
        if (options_.log) options_.log(LogLevel::warn, w);
    if (options_.log)
        options_.log(LogLevel::info, "loaded " + std::to_string(functions_.size()) + " function(s) from " +
                                         options_.data_dir.string());
    return {};
}

void Core::shutdown() { pool_.shutdown(); }

template <class F> net::awaitable<std::invoke_result_t<F&>> Core::offload(F& f) {
    using R = std::invoke_result_t<F&>;
    // Not a coroutine itself, and a plain callback hop (store thread, then
    // back to the caller's executor): GCC 12 mis-moves lambdas passed by value
    // into coroutine parameters (the copy keeps pointers into the caller's frame).
    return net::async_initiate<decltype(net::use_awaitable), void(R)>(
        [this](auto handler, F fn) {
            auto home = net::get_associated_executor(handler, ioc_.get_executor());
            net::post(store_thread_, [handler = std::move(handler), fn = std::move(fn), home]() mutable {
                auto result = std::make_shared<R>(fn());
                net::post(home, [handler = std::move(handler), result]() mutable { std::move(handler)(std::move(*result)); });
            });
        },
        net::use_awaitable, std::move(f));
}

void Core::schedule_transition(const std::string& name, std::string revision, bool created) {
    auto timer = std::make_shared<net::steady_timer>(ioc_, options_.state_transition_delay);
    timer->async_wait([this, timer, name, revision, created](boost::system::error_code ec) {
        if (ec) return;
        auto it = functions_.find(name);
        if (it == functions_.end() || it->second.config.revision_id != revision) return;
        if (created) it->second.status.state = "Active", it->second.status.state_reason.clear();
        it->second.status.last_update_status = "Successful";
    });
}

std::string Core::base_url(const HttpRequest& req) const {
    // The address the client used, so URLs we hand out work from where it is.
    std::string host(req.header("Host"));
    if (host.empty()) host = options_.host + ":" + std::to_string(options_.port);
    return "http://" + host;
}

std::string Core::endpoint_url(const HttpRequest& req, std::string_view name) const {
    return base_url(req) + "/api/functions/" + std::string(name) + "/invoke";
}

net::awaitable<HttpResponse> Core::handle(HttpRequest req) {
    std::string_view target = req.target;
    if (auto route = lapi::route(req.method, target)) {
        HttpResponse res;
        if (aws_key_) {
            auto verified = verify_sigv4(
                SignedRequest{req.method, req.target, &req.headers, req.body},
                VerifierKey{aws_key_->first, aws_key_->second, options_.region, "lambda"},
                std::chrono::system_clock::now());
            if (!verified) {
                res = lambda_error(lapi::ApiError{403, verified.error().type, verified.error().message, {}, {}});
                metrics_.api_request("lambda", res.status);
                co_return res;
            }
        }
        res = co_await handle_lambda(req, *route);
        metrics_.api_request("lambda", res.status);
        co_return res;
    }
    if (auto route = capi::route(req.method, target)) {
        HttpResponse res;
        if (options_.api_key && !capi::bearer_matches(req.header("Authorization"), *options_.api_key)) {
            res = custom_error(401, "unauthorized", "missing or invalid API key (Authorization: Bearer <key>)");
            res.headers.emplace_back("WWW-Authenticate", "Bearer");
        } else {
            static constexpr std::string_view names[] = {"deploy", "invoke", "health", "get", "remove", "warm", "unsupported"};
            res = co_await handle_custom(req, names[static_cast<int>(route->op)], route->id);
        }
        metrics_.api_request("custom", res.status);
        co_return res;
    }
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/health" && req.method == "GET") co_return platform_health();
    if (path == "/metrics" && req.method == "GET") {
        HttpResponse r;
        r.content_type = "text/plain; version=0.0.4";
        pool_.update_instance_gauges();
        r.body = metrics_.render();
        co_return r;
    }
    if (path.starts_with("/bpfaas/code/") && req.method == "GET") {
        auto name = lapi::percent_decode(path.substr(13));
        auto r = co_await code_download(name.value_or(""));
        co_return r;
    }
    co_return custom_error(404, "not_found", "no such endpoint: " + std::string(req.method) + " " + std::string(path.substr(0, 200)));
}

HttpResponse Core::platform_health() const {
    json::object o;
    o["status"] = "ok";
    o["functions"] = functions_.size();
    o["instances"] = pool_.alive_total();
    return custom_ok(200, json::serialize(o));
}

net::awaitable<HttpResponse> Core::code_download(std::string name) {
    auto it = functions_.find(name);
    if (name.empty() || it == functions_.end()) co_return custom_error(404, "not_found", "no such function");
    auto path = store_.zip_path(name);
    auto read = [path]() -> std::optional<std::string> {
        std::ifstream in(path, std::ios::binary);
        if (!in) return std::nullopt;
        std::ostringstream ss;
        ss << in.rdbuf();
        return std::move(ss).str();
    };
    auto data = co_await offload(read);
    if (!data) co_return custom_error(500, "storage_failed", "cannot read the stored package");
    HttpResponse r;
    r.content_type = "application/zip";
    r.body = std::move(*data);
    co_return r;
}

// ---- Lambda API ---------------------------------------------------------------

net::awaitable<HttpResponse> Core::handle_lambda(HttpRequest& req, const lapi::Route& route) {
    // Each store-changing operation is its own small coroutine, reached
    // through plain ifs: GCC 12 miscompiles coroutines that co_await inside
    // switch cases holding locals.
    using lapi::Op;
    const auto& region = options_.region;
    if (route.op == Op::unsupported) co_return lambda_error(lapi::unsupported_operation(req.method, req.target));
    if (route.op == Op::create_function) {
        HttpResponse r = co_await lambda_create(req);
        co_return r;
    }
    if (route.op == Op::list_functions) co_return lambda_list(route.query);

    auto name_or = lapi::function_name(region, route.function);
    if (!name_or) co_return lambda_error(name_or.error());
    const std::string name = *name_or;
    auto it = functions_.find(name);
    if (it == functions_.end()) co_return lambda_error(lapi::not_found(region, name));
    const Entry& entry = it->second;

    if (route.op == Op::get_function)
        co_return lambda_ok(200, lapi::get_function(entry.config, region, entry.status,
                                                    base_url(req) + "/bpfaas/code/" + name));
    if (route.op == Op::get_function_configuration)
        co_return lambda_ok(200, lapi::function_configuration(entry.config, region, entry.status));
    if (route.op == Op::get_function_concurrency)
        co_return lambda_ok(200, lapi::concurrency(entry.config.reserved_concurrency));
    HttpResponse r;
    if (route.op == Op::invoke) r = co_await lambda_invoke(req, name, route.query);
    else if (route.op == Op::delete_function) r = co_await lambda_delete(name);
    else if (route.op == Op::update_function_code) r = co_await lambda_update_code(req, name);
    else if (route.op == Op::update_function_configuration) r = co_await lambda_update_configuration(req, name);
    else if (route.op == Op::put_function_concurrency || route.op == Op::delete_function_concurrency)
        r = co_await lambda_concurrency(req, name, route.op == Op::put_function_concurrency);
    else r = lambda_error(lapi::unsupported_operation(req.method, req.target));
    co_return r;
}

HttpResponse Core::lambda_list(std::string_view query) const {
    auto q = lapi::parse_list_query(query);
    if (!q) return lambda_error(q.error());
    std::vector<std::string> page;
    std::optional<std::string> next;
    auto it = q->marker.empty() ? functions_.begin() : functions_.upper_bound(q->marker);
    for (; it != functions_.end(); ++it) {
        if (page.size() == q->max_items) {
            next = std::prev(it)->first;
            break;
        }
        page.push_back(lapi::function_configuration(it->second.config, options_.region, it->second.status));
    }
    return lambda_ok(200, lapi::list_functions(page, next));
}

std::optional<HttpResponse> Core::refuse_change(const std::string& name, bool allow_pending) const {
    const auto& e = functions_.at(name);
    if (e.busy || (!allow_pending && (e.status.last_update_status == "InProgress" || e.status.state == "Pending")))
        return lambda_error(lapi::conflict("The operation cannot be performed at this time. An update is in progress "
                                           "for resource: " + function_arn(options_.region, name)));
    return std::nullopt;
}

net::awaitable<HttpResponse> Core::lambda_create(const HttpRequest& req) {
    const auto& region = options_.region;
    auto parsed = lapi::parse_create(req.body, options_.max_package_bytes);
    if (!parsed) co_return lambda_error(parsed.error());
    FunctionConfig config = std::move(parsed->config);
    std::string zip = std::move(parsed->zip);
    if (functions_.contains(config.name) || creating_.contains(config.name))
        co_return lambda_error(lapi::conflict("Function already exist: " + config.name));
    const auto now = std::chrono::system_clock::now();
    config.code_sha256 = sha256_base64(zip);
    config.code_size = zip.size();
    config.last_modified = lambda_timestamp(now);
    config.deployed_at = iso8601(now);
    config.revision_id = random_uuid();
    config.created_via = "lambda";
    creating_.insert(config.name);
    auto job1 = [this, config, zip = std::move(zip)] { return store_.create(config, bytes_of(zip)); };
    auto stored = co_await offload(job1);
    creating_.erase(config.name);
    if (!stored) co_return lambda_error(store_error_to_lambda(stored.error(), region, config.name));
    lapi::Status status{"Pending", "Successful", "The function is being created."};
    functions_[config.name] = Entry{config, stored->code_dir, status, false};
    pool_.upsert(config, stored->code_dir);
    schedule_transition(config.name, config.revision_id, true);
    co_return lambda_ok(201, lapi::function_configuration(config, region, status));
}

net::awaitable<HttpResponse> Core::lambda_delete(std::string name) {
    if (auto refused = refuse_change(name, true)) co_return *refused;
    functions_.at(name).busy = true;
    auto job2 = [this, name] { return store_.remove(name); };
    auto removed = co_await offload(job2);
    auto it = functions_.find(name);
    if (it == functions_.end()) co_return lambda_error(lapi::not_found(options_.region, name));
    it->second.busy = false;
    if (!removed) co_return lambda_error(store_error_to_lambda(removed.error(), options_.region, name));
    functions_.erase(it);
    pool_.remove(name);
    co_return lambda_ok(204, {});
}

net::awaitable<HttpResponse> Core::lambda_update_code(const HttpRequest& req, std::string name) {
    const auto& region = options_.region;
    if (auto refused = refuse_change(name, false)) co_return *refused;
    auto update = lapi::parse_update_code(req.body, options_.max_package_bytes);
    if (!update) co_return lambda_error(update.error());
    Entry& entry = functions_.at(name);
    if (update->revision_id && *update->revision_id != entry.config.revision_id)
        co_return lambda_error(lapi::ApiError{412, "PreconditionFailedException",
                                              "The RevisionId provided does not match the latest RevisionId for the "
                                              "Lambda function or alias.", {}, {}});
    FunctionConfig next = entry.config;
    std::string zip = std::move(update->zip);
    next.code_sha256 = sha256_base64(zip);
    next.code_size = zip.size();
    next.last_modified = lambda_timestamp(std::chrono::system_clock::now());
    next.revision_id = random_uuid();
    if (update->architecture) next.architecture = *update->architecture;
    if (update->dry_run) co_return lambda_ok(200, lapi::function_configuration(next, region, entry.status));
    entry.busy = true;
    auto job3 = [this, next, zip = std::move(zip)] { return store_.replace_code(next, bytes_of(zip)); };
    auto stored = co_await offload(job3);
    auto it = functions_.find(name);
    if (it == functions_.end()) co_return lambda_error(lapi::not_found(region, name));
    it->second.busy = false;
    if (!stored) co_return lambda_error(store_error_to_lambda(stored.error(), region, name));
    it->second.config = next;
    it->second.code_dir = stored->code_dir;
    it->second.status.last_update_status = "InProgress";
    pool_.upsert(next, stored->code_dir);
    schedule_transition(name, next.revision_id, false);
    co_return lambda_ok(200, lapi::function_configuration(next, region, it->second.status));
}

net::awaitable<HttpResponse> Core::lambda_update_configuration(const HttpRequest& req, std::string name) {
    const auto& region = options_.region;
    if (auto refused = refuse_change(name, false)) co_return *refused;
    FunctionConfig next = functions_.at(name).config;
    if (auto r = lapi::apply_update_configuration(req.body, next); !r) co_return lambda_error(r.error());
    next.last_modified = lambda_timestamp(std::chrono::system_clock::now());
    next.revision_id = random_uuid();
    functions_.at(name).busy = true;
    auto job4 = [this, next] { return store_.write_config(next); };
    auto written = co_await offload(job4);
    auto it = functions_.find(name);
    if (it == functions_.end()) co_return lambda_error(lapi::not_found(region, name));
    it->second.busy = false;
    if (!written) co_return lambda_error(store_error_to_lambda(written.error(), region, name));
    it->second.config = next;
    it->second.status.last_update_status = "InProgress";
    pool_.upsert(next, it->second.code_dir);
    schedule_transition(name, next.revision_id, false);
    co_return lambda_ok(200, lapi::function_configuration(next, region, it->second.status));
}

net::awaitable<HttpResponse> Core::lambda_concurrency(const HttpRequest& req, std::string name, bool put) {
    const auto& region = options_.region;
    if (auto refused = refuse_change(name, true)) co_return *refused;
    std::optional<unsigned> value;
    if (put) {
        auto n = lapi::parse_put_concurrency(req.body, options_.max_instances);
        if (!n) co_return lambda_error(n.error());
        value = *n;
    }
    FunctionConfig next = functions_.at(name).config;
    next.reserved_concurrency = value;
    functions_.at(name).busy = true;
    auto job5 = [this, next] { return store_.write_config(next); };
    auto written = co_await offload(job5);
    auto it = functions_.find(name);
    if (it == functions_.end()) co_return lambda_error(lapi::not_found(region, name));
    it->second.busy = false;
    if (!written) co_return lambda_error(store_error_to_lambda(written.error(), region, name));
    it->second.config.reserved_concurrency = value;
    pool_.update_limits(it->second.config);
    if (value) co_return lambda_ok(200, lapi::concurrency(value));
    co_return lambda_ok(204, {});
}

net::awaitable<HttpResponse> Core::lambda_invoke(HttpRequest& req, const std::string& name,
                                                 std::string_view query) {
    const auto& region = options_.region;
    auto& entry = functions_.at(name);
    if (auto q = lapi::query_param(query, "Qualifier"); q && !q->empty() && *q != "$LATEST")
        co_return lambda_error(lapi::not_found(region, name + ":" + *q));
    if (entry.status.state != "Active")
        co_return lambda_error(lapi::conflict("The operation cannot be performed at this time. The function is "
                                              "currently in the following state: " + entry.status.state));
    std::string type(req.header("X-Amz-Invocation-Type"));
    if (type.empty()) type = "RequestResponse";
    if (type != "RequestResponse" && type != "Event" && type != "DryRun")
        co_return lambda_error(lapi::invalid_parameter("X-Amz-Invocation-Type must be RequestResponse, Event or DryRun"));
    std::string log_type(req.header("X-Amz-Log-Type"));
    if (!log_type.empty() && log_type != "None" && log_type != "Tail")
        co_return lambda_error(lapi::invalid_parameter("X-Amz-Log-Type must be None or Tail"));

    // The event is the client's body byte for byte: checked, never re-encoded.
    std::string payload = req.body.empty() ? std::string("{}") : std::move(req.body);
    if (auto ec = lapi::validate_json(payload))
        co_return lambda_error(lapi::invalid_content("Could not parse request body into json: " + ec.message()));
    if (type == "DryRun") co_return lambda_ok(204, {});
    auto throttled = [&](const InvokeResult& r) {
        return lambda_error(lapi::throttled(r.throttle_reason, "Rate Exceeded.", 1));
    };
    if (type == "Event") {
        // Lambda's asynchronous payload cap (256 KB).
        if (payload.size() > 256 * 1024)
            co_return lambda_error(lapi::too_large("Request must be smaller than 262144 bytes for the InvokeAsync operation"));
        auto queued = pool_.invoke_async(name, std::move(payload));
        if (!queued) {
            if (queued.error().outcome == Outcome::throttled) co_return throttled(queued.error());
            co_return lambda_error(lapi::service_error("The platform is shutting down"));
        }
        HttpResponse r;
        r.status = 202;
        r.headers.emplace_back("x-amzn-RequestId", *queued);
        co_return r;
    }

    InvokeResult result = co_await pool_.invoke(name, std::move(payload));
    if (result.outcome == Outcome::throttled) co_return throttled(result);
    if (result.outcome == Outcome::shutting_down)
        co_return lambda_error(lapi::service_error("The platform is shutting down; the invocation did not complete"),
                               result.request_id);
    HttpResponse r;
    r.status = 200;
    r.body = std::move(result.payload);
    r.headers.emplace_back("x-amzn-RequestId", result.request_id);
    r.headers.emplace_back("X-Amz-Executed-Version", "$LATEST");
    if (result.outcome == Outcome::function_error) r.headers.emplace_back("X-Amz-Function-Error", "Unhandled");
    if (log_type == "Tail") r.headers.emplace_back("X-Amz-Log-Result", wire::base64_encode(log_tail(result.log())));
    co_return r;
}

// ---- custom platform API ------------------------------------------------------

net::awaitable<HttpResponse> Core::handle_custom(HttpRequest& req, std::string_view op, std::string id) {
    if (op == "unsupported")
        co_return custom_error(id.empty() ? 404 : 405, id.empty() ? "not_found" : "method_not_allowed",
                               "unsupported: " + req.method + " " + req.target.substr(0, 200));
    if (auto bad = check_function_name(id)) co_return custom_error(400, "invalid_request", "function id: " + *bad);
    auto it = functions_.find(id);

    if (op == "deploy") {
        if (it != functions_.end() || creating_.contains(id))
            co_return custom_error(409, "already_exists", "function " + id + " already exists");
        if (req.body.empty()) co_return custom_error(400, "invalid_package", "the body must be a zip holding bootstrap");
        auto deploy = capi::parse_deploy_config(req.header("X-Blueprint-Config"), options_.max_instances);
        if (!deploy) co_return custom_error(deploy.error().status, deploy.error().code, deploy.error().message);
        FunctionConfig config = capi::to_function_config(id, *deploy);
        const auto now = std::chrono::system_clock::now();
        config.code_sha256 = sha256_base64(req.body);
        config.code_size = req.body.size();
        config.last_modified = lambda_timestamp(now);
        config.deployed_at = iso8601(now);
        config.revision_id = random_uuid();
        creating_.insert(id);
        auto job6 = [this, config, zip = req.body] { return store_.create(config, bytes_of(zip)); };
        auto stored = co_await offload(job6);
        creating_.erase(id);
        if (!stored) co_return store_error_to_custom(stored.error());
        functions_[id] = Entry{config, stored->code_dir, {}, false};
        pool_.upsert(config, stored->code_dir);
        co_return custom_ok(200, capi::deployment(config, endpoint_url(req, id), 0, false));
    }

    if (it == functions_.end()) co_return custom_error(404, "not_found", "function " + id + " not found");
    Entry& entry = it->second;

    if (op == "get") {
        const auto* slot = pool_.slot(id);
        std::uint64_t cold_ms = 0;
        if (slot && slot->last_init_duration)
            cold_ms = static_cast<std::uint64_t>(slot->last_init_duration->count() / 1000);
        co_return custom_ok(200, capi::deployment(entry.config, endpoint_url(req, id), cold_ms, true));
    }
    if (op == "health") {
        const auto* slot = pool_.slot(id);
        std::optional<std::string> last;
        std::uint64_t total = 0;
        if (slot) {
            total = slot->total_invocations;
            if (slot->last_invocation) last = iso8601(*slot->last_invocation);
        }
        if (entry.status.state != "Active")
            co_return custom_ok(503, capi::health(id, entry.status.state == "Pending" ? "deploying" : "unhealthy", last, total));
        co_return custom_ok(200, capi::health(id, "healthy", last, total));
    }
    if (op == "remove") {
        if (entry.busy) co_return custom_error(409, "conflict", "function " + id + " is being changed");
        entry.busy = true;
        auto job7 = [this, id] { return store_.remove(id); };
        auto removed = co_await offload(job7);
        it = functions_.find(id);
        if (it == functions_.end()) co_return custom_error(404, "not_found", "function " + id + " not found");
        it->second.busy = false;
        if (!removed) co_return store_error_to_custom(removed.error());
        functions_.erase(it);
        pool_.remove(id);
        co_return custom_ok(200, capi::deleted(id));
    }
    if (op == "warm") {
        // Asking for more than the function may run is clamped, not refused.
        const unsigned max = options_.max_instances;
        const auto q = req.target.find('?');
        const std::string_view query = q == std::string::npos ? std::string_view{} : std::string_view(req.target).substr(q + 1);
        auto count = capi::parse_warm_count(req.body, query, std::max(max, 1u));
        if (!count) co_return custom_error(count.error().status, count.error().code, count.error().message);
        if (entry.status.state != "Active") co_return custom_error(409, "conflict", "function " + id + " is not active yet");
        unsigned warmed = co_await pool_.warm(id, *count);
        co_return custom_ok(200, capi::warmed(id, warmed));
    }

    // invoke
    if (entry.status.state != "Active") co_return custom_error(409, "conflict", "function " + id + " is not active yet");
    // Decoded to check it and learn the job id; the event is the body as sent.
    std::optional<JobId> job_id;
    std::string bad_request;
    if (auto request = wire::decode_request_json(req.body)) job_id = std::move(request->job_id);
    else bad_request = std::move(request.error().message);
    if (!job_id) co_return custom_error(400, "invalid_request", "not a Blueprint JSON request", bad_request);
    InvokeResult result = co_await pool_.invoke(id, std::move(req.body));
    if (result.outcome == Outcome::throttled) {
        auto r = custom_error(429, "throttled", "too many concurrent invocations of " + id, result.throttle_reason);
        r.headers.emplace_back("Retry-After", "1");
        co_return r;
    }
    if (result.outcome == Outcome::shutting_down) co_return custom_error(503, "unavailable", "the platform is shutting down");
    const double execution_ms = static_cast<double>(result.duration.count()) / 1000.0;
    wire::Reply reply;
    if (result.outcome == Outcome::function_error) {
        auto [message, type] = error_doc_fields(result.payload, result.error_type);
        reply.success = false;
        reply.error = message;
        reply.error_type = type;
    } else {
        auto decoded = wire::decode_reply_json(result.payload);
        if (!decoded) {
            reply.success = false;
            reply.error = "the function's reply is not a Blueprint reply: " + decoded.error().message;
            reply.error_type = "InvalidReply";
        } else {
            reply = std::move(*decoded);
        }
    }
    auto out = capi::invoke_reply(*job_id, reply, execution_ms, result.max_memory_mb, result.cold_start);
    HttpResponse r = custom_ok(out.status, std::move(out.body));
    r.headers.emplace_back("X-Request-Id", result.request_id);
    co_return r;
}

}  // namespace blueprint::platform
