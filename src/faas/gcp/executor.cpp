// gcp::CloudFunctionExecutor: deploy, invoke and manage Cloud Functions (2nd gen).
//
// Retries. Control-plane GETs and DELETEs are idempotent and use the HTTP
// client's own retries. An invocation is a POST that may run the job, so
// only 429 and 503 (the platform refused for load: the job did not run) are
// retried, with the shared RetryPolicy and inside the call's deadline; a
// connection lost mid-request is reported, never resent. A 401 (an expired
// or revoked token) mints a fresh token and is tried once more: the request
// never reached the function.
#include <blueprint/faas/gcp.hpp>
#include <blueprint/faas/packaging.hpp>
#include <blueprint/faas/wire.hpp>

#include "faas/detail/concurrent_warm.hpp"
#include "faas/gcp/api.hpp"
#include "faas/gcp/credentials.hpp"
#include "faas/gcp/operation.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/json.hpp>

#include <mutex>
#include <random>
#include <unordered_map>

namespace blueprint::faas::gcp {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using namespace detail;

struct CloudFunctionExecutor::State {
    CloudFunctionOptions options;
    Api api;
    http::HttpClient client;
    std::shared_ptr<TokenSource> tokens;
    PollPolicy poll;

    std::mutex mutex;
    std::unordered_map<JobId, std::string> uris;      // serviceConfig.uri per job
    std::unordered_map<JobId, FaasConfig> configs;    // what deploy used, for the invoke deadline

    State(CloudFunctionOptions o, Api a, std::shared_ptr<TokenSource> t)
        : options(std::move(o)), api(std::move(a)), client(options.http), tokens(std::move(t)) {
        poll.initial = options.poll_initial;
        poll.max = options.poll_max;
        poll.timeout = options.operation_timeout;
    }

    void log(LogLevel level, const std::string& message) const {
        if (options.log) options.log(level, message);
    }
    void progress(const std::string& line) const {
        if (options.progress) options.progress(line);
        log(LogLevel::info, line);
    }
    FaasConfig config_for(const JobId& job) {
        std::lock_guard lock(mutex);
        auto it = configs.find(job);
        return it == configs.end() ? options.default_config : it->second;
    }
    std::optional<std::string> cached_uri(const JobId& job) {
        std::lock_guard lock(mutex);
        auto it = uris.find(job);
        if (it == uris.end()) return std::nullopt;
        return it->second;
    }
    void remember(const JobId& job, std::string uri, std::optional<FaasConfig> config) {
        std::lock_guard lock(mutex);
        uris[job] = std::move(uri);
        if (config) configs[job] = std::move(*config);
    }
    void forget(const JobId& job) {
        std::lock_guard lock(mutex);
        uris.erase(job);
    }
};

namespace {

using StatePtr = std::shared_ptr<CloudFunctionExecutor::State>;

double random01() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

bool is_2xx(int status) { return status >= 200 && status <= 299; }

awaitable<bool> sleep_for(milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !ec;
}

/// A control-plane call with the access token. A 401 drops the token and
/// tries once more with a fresh one.
awaitable<Result<http::Response>> api_call(StatePtr st, std::string method, std::string url, std::string body,
                                           std::string what, bool idempotent) {
    for (int attempt = 0;; ++attempt) {
        auto token = co_await st->tokens->access_token(st->client);
        if (!token) co_return std::unexpected(std::move(token.error()));
        http::Request req;
        req.method = method;
        req.url = url;
        req.headers.emplace_back("Authorization", "Bearer " + *token);
        if (!body.empty() || method == "POST" || method == "PATCH")
            req.headers.emplace_back("Content-Type", "application/json");
        req.body = body;
        req.idempotent = idempotent;
        auto resp = co_await st->client.send(std::move(req));
        if (!resp) co_return std::unexpected(http::to_faas_error(resp.error(), what));
        if (resp->status == 401 && attempt == 0) {
            st->tokens->forget(*token);
            st->log(LogLevel::debug, what + ": HTTP 401, retrying with a fresh access token");
            continue;
        }
        co_return std::move(*resp);
    }
}

/// Polls `op` until done. A NOT_FOUND error is success when `gone_is_done`.
awaitable<Result<void>> wait_operation(StatePtr st, Operation op, std::string what, bool gone_is_done = false) {
    const auto start = steady_clock::now();
    for (unsigned polls = 1;; ++polls) {
        auto elapsed = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
        auto d = decide_poll(op, polls, elapsed, st->poll, what);
        switch (d.kind) {
        case PollDecision::succeeded: co_return Result<void>{};
        case PollDecision::failed:
            if (gone_is_done && d.error->kind == faas_errc::not_found) co_return Result<void>{};
            co_return std::unexpected(std::move(*d.error));
        case PollDecision::timed_out: co_return std::unexpected(std::move(*d.error));
        case PollDecision::wait: break;
        }
        st->progress("gcp: " + what + ": waiting for " + op.name + " (poll " + std::to_string(polls) + ", " +
                     std::to_string(elapsed.count() / 1000) + " s)");
        if (!co_await sleep_for(d.delay))
            co_return std::unexpected(FaasError::make(faas_errc::timeout, what + ": cancelled while waiting for " + op.name));
        auto resp = co_await api_call(st, "GET", st->api.resource_url(op.name), {}, what + ": poll " + op.name, true);
        if (!resp) co_return std::unexpected(std::move(resp.error()));
        if (!is_2xx(resp->status)) co_return std::unexpected(api_error(resp->status, resp->body, what + ": poll " + op.name));
        auto next = parse_operation(resp->body);
        if (!next) co_return std::unexpected(std::move(next.error()));
        op = std::move(*next);
    }
}

/// GET v2/{name}: the function, or nullopt on 404.
awaitable<Result<std::optional<FunctionInfo>>> get_function(StatePtr st, std::string name, std::string what) {
    auto resp = co_await api_call(st, "GET", st->api.resource_url(name), {}, what, true);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (resp->status == 404) co_return std::optional<FunctionInfo>{};
    if (!is_2xx(resp->status)) co_return std::unexpected(api_error(resp->status, resp->body, what));
    auto info = parse_function(resp->body);
    if (!info) co_return std::unexpected(std::move(info.error()));
    co_return std::optional<FunctionInfo>(std::move(*info));
}

/// The job's function URL: cached, else read from the API.
awaitable<Result<std::string>> function_uri(StatePtr st, JobId job, std::string name) {
    if (auto uri = st->cached_uri(job)) co_return std::move(*uri);
    const std::string what = "look up " + name;
    auto info = co_await get_function(st, name, what);
    if (!info) co_return std::unexpected(std::move(info.error()));
    if (!*info) co_return std::unexpected(FaasError::make(faas_errc::not_found, what + ": function does not exist"));
    if ((*info)->state != "ACTIVE" || (*info)->uri.empty())
        co_return std::unexpected(FaasError::make(faas_errc::not_found, what + ": function is " + (*info)->state +
                                                                          ", not ACTIVE with a URL"));
    st->remember(job, (*info)->uri, std::nullopt);
    co_return (*info)->uri;
}

/// One POST to the function with the ID token, retrying 429/503 inside the
/// deadline and a 401 once with a fresh token.
awaitable<Result<http::Response>> call_function(StatePtr st, std::string uri, http::Headers headers, std::string body,
                                                steady_clock::time_point deadline, milliseconds budget,
                                                std::string what) {
    const auto& policy = st->options.http.retry;
    const auto start = steady_clock::now();
    bool refreshed = false;
    for (unsigned attempt = 1;; ++attempt) {
        auto now = steady_clock::now();
        if (now >= deadline)
            co_return std::unexpected(FaasError::make(
                faas_errc::timeout, what + ": deadline of " + std::to_string(budget.count()) + " ms passed"));
        auto token = co_await st->tokens->id_token(st->client, uri);
        if (!token) co_return std::unexpected(std::move(token.error()));
        http::Request req;
        req.method = "POST";
        req.url = uri;
        req.headers = headers;
        req.headers.emplace_back("Authorization", "Bearer " + *token);
        req.body = body;
        req.retry = http::RetryPolicy::none();
        req.idempotent = false;
        req.timeout = std::chrono::ceil<milliseconds>(deadline - steady_clock::now());
        if (*req.timeout <= milliseconds(0)) req.timeout = milliseconds(1);
        auto resp = co_await st->client.send(std::move(req));
        if (!resp) {
            auto e = http::to_faas_error(resp.error(), what);
            if (e.kind == faas_errc::timeout && steady_clock::now() >= deadline - milliseconds(5))
                e.message = what + ": deadline of " + std::to_string(budget.count()) + " ms passed (" +
                            resp.error().message + ")";
            co_return std::unexpected(std::move(e));
        }
        resp->attempts = attempt;
        if (resp->status == 401 && !refreshed) {
            refreshed = true;
            st->tokens->forget(*token);
            continue;
        }
        if (resp->status != 429 && resp->status != 503) co_return std::move(*resp);
        // A 503 from the shim itself (its bootstrap died) is not load: not retried.
        if (resp->status == 503 && resp->body.find("\"bootstrap_") != std::string::npos) co_return std::move(*resp);
        auto retry_after = http::parse_retry_after(resp->header("Retry-After"), std::chrono::system_clock::now());
        auto wait = policy.backoff(attempt + 1, retry_after, random01());
        now = steady_clock::now();
        if (attempt >= policy.max_attempts || (retry_after && *retry_after > policy.max_backoff) ||
            now + wait >= deadline || (now - start) + wait > policy.max_elapsed)
            co_return std::move(*resp);
        st->log(LogLevel::debug, what + ": HTTP " + std::to_string(resp->status) + ", retrying in " +
                                     std::to_string(wait.count()) + " ms");
        if (!co_await sleep_for(wait))
            co_return std::unexpected(FaasError::make(faas_errc::timeout, what + ": cancelled while waiting to retry"));
    }
}

/// A non-2xx reply from the function URL as a FaasError.
FaasError function_status_error(const http::Response& resp, std::string_view what) {
    // The shim's own failure: {"error","code":"bootstrap_exited",...}.
    if (resp.status == 503 && resp.body.find("\"bootstrap_") != std::string::npos) {
        boost::system::error_code ec;
        auto v = boost::json::parse(resp.body, ec);
        std::string details;
        if (!ec && v.is_object())
            if (auto* d = v.as_object().if_contains("details"); d && d->is_string()) details = std::string(d->as_string());
        auto e = FaasError::make(faas_errc::infrastructure, std::string(what) + ": HTTP 503: " + details);
        e.http_status = 503;
        return e;
    }
    auto e = api_error(resp.status, resp.body, what);
    if (resp.status == 503) e.kind = faas_errc::throttled;
    else if (resp.status >= 500 && resp.status != 504) e.kind = faas_errc::function_error;
    if (auto id = resp.header("X-Cloud-Trace-Context"); !id.empty()) e.request_id = std::string(id.substr(0, id.find('/')));
    if (auto ra = resp.header("Retry-After"); !ra.empty())
        e.retry_after = http::parse_retry_after(ra, std::chrono::system_clock::now());
    return e;
}

awaitable<Result<InvocationOutcome>> invoke_impl(StatePtr st, JobCall call) {
    const auto start = steady_clock::now();
    const JobId job = call.job_id();
    auto name = make_function_id(st->options.function_prefix, job);
    if (!name) co_return std::unexpected(std::move(name.error()));
    const auto config = st->config_for(job);
    const auto budget = config.timeout();
    const auto deadline = start + budget;
    const std::string what = "invoke " + *name;

    auto uri = co_await function_uri(st, job, st->api.function_name(*name));
    if (!uri) co_return std::unexpected(std::move(uri.error()));

    http::Headers headers{{"Content-Type", std::string(wire::json_content_type)}};
    auto resp = co_await call_function(st, *uri, std::move(headers), wire::encode_request_json(call), deadline, budget, what);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (resp->status == 404) st->forget(job);  // maybe redeployed elsewhere: look it up again next time
    if (!is_2xx(resp->status)) {
        // A failed job the bootstrap reports with a non-2xx status is still the job's result.
        if (resp->status == 500) {
            auto reply = wire::decode_reply_json(resp->body);
            if (reply && !reply->success) {
                JobResult result = wire::reply_to_job_result(std::move(*reply));
                result.stamp_from(call);
                InvocationOutcome out{std::move(result), {}};
                out.metrics.total_duration = std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - start);
                out.metrics.cold_start = resp->header(wire::header_cold_start) == "1";
                co_return out;
            }
        }
        co_return std::unexpected(function_status_error(*resp, what));
    }
    auto reply = wire::decode_reply_json(resp->body);
    if (!reply) {
        auto e = std::move(reply.error());
        e.message = what + ": " + e.message;
        e.http_status = resp->status;
        co_return std::unexpected(std::move(e));
    }
    InvocationOutcome out;
    out.result = wire::reply_to_job_result(std::move(*reply));
    out.result.stamp_from(call);
    out.metrics.total_duration = std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - start);
    // The shim marks every instance's first reply, so an absent marker is a warm instance.
    out.metrics.cold_start = resp->header(wire::header_cold_start) == "1";
    co_return out;
}

awaitable<Result<void>> warm_one(StatePtr st, std::string uri, http::Headers headers, std::string body,
                                 steady_clock::time_point deadline, milliseconds budget, std::string what) {
    auto r = co_await call_function(st, std::move(uri), std::move(headers), std::move(body), deadline, budget, what);
    if (!r) co_return std::unexpected(std::move(r.error()));
    if (!is_2xx(r->status)) co_return std::unexpected(function_status_error(*r, what));
    co_return Result<void>{};
}

Result<void> check_config(const FaasConfig& config) {
    if (config.timeout_secs == 0 || config.timeout_secs > max_timeout_secs)
        return std::unexpected(FaasError::make(faas_errc::invocation_failed,
                                               "timeout_secs must be 1-" + std::to_string(max_timeout_secs) +
                                                   " for Cloud Functions HTTP functions, got " +
                                                   std::to_string(config.timeout_secs)));
    if (config.memory_mb < min_memory_mb || config.memory_mb > max_memory_mb)
        return std::unexpected(FaasError::make(faas_errc::invocation_failed,
                                               "memory_mb must be " + std::to_string(min_memory_mb) + "-" +
                                                   std::to_string(max_memory_mb) + ", got " +
                                                   std::to_string(config.memory_mb)));
    return {};
}

FaasDeployment to_deployment(const FunctionInfo& info, std::string function_id, const JobId& job) {
    FaasDeployment d;
    d.function_id = std::move(function_id);
    d.job_id = job;
    d.endpoint = info.uri;
    d.memory_mb = info.memory_mb.value_or(0);
    d.timeout_secs = info.timeout_secs.value_or(0);
    return d;
}

}  // namespace

// ---- CloudFunctionExecutor ---------------------------------------------------

CloudFunctionExecutor::CloudFunctionExecutor(std::shared_ptr<State> state) : state_(std::move(state)) {}

std::expected<CloudFunctionExecutor, FaasError> CloudFunctionExecutor::create(CloudFunctionOptions options) {
    auto invalid = [](std::string m) { return std::unexpected(FaasError::make(faas_errc::invocation_failed, std::move(m))); };
    if (auto why = check_prefix(options.function_prefix); !why.empty()) return invalid(why);
    if (options.region.empty()) return invalid("gcp: the region is required (e.g. us-central1)");
    if (options.endpoints.api_base.empty()) return invalid("gcp: the API endpoint is empty");
    if (options.max_concurrency && *options.max_concurrency == 0) return invalid("gcp: max_concurrency must be at least 1");
    auto tokens = TokenSource::create(options.credentials, options.endpoints);
    if (!tokens) return std::unexpected(std::move(tokens.error()));
    if (options.project.empty()) options.project = (*tokens)->key_project();
    if (options.project.empty())
        return invalid("gcp: the project is required (the credentials name none)");
    Api api{normalize_base(options.endpoints.api_base), options.project, options.region};
    auto state = std::make_shared<State>(std::move(options), std::move(api), std::move(*tokens));
    state->log(LogLevel::debug, "gcp: using " + state->tokens->description());
    return CloudFunctionExecutor(std::move(state));
}

Result<std::string> CloudFunctionExecutor::function_id(const JobId& job_id) const {
    return make_function_id(state_->options.function_prefix, job_id);
}

Result<std::string> CloudFunctionExecutor::function_name(const JobId& job_id) const {
    auto id = function_id(job_id);
    if (!id) return std::unexpected(std::move(id.error()));
    return state_->api.function_name(*id);
}

const std::string& CloudFunctionExecutor::project() const noexcept { return state_->api.project; }
const std::string& CloudFunctionExecutor::region() const noexcept { return state_->api.region; }

awaitable<Result<JobResult>> CloudFunctionExecutor::invoke(JobCall call) {
    auto out = co_await invoke_impl(state_, std::move(call));
    if (!out) co_return std::unexpected(std::move(out.error()));
    co_return std::move(out->result);
}

awaitable<Result<InvocationOutcome>> CloudFunctionExecutor::invoke_with_metrics(JobCall call) {
    co_return co_await invoke_impl(state_, std::move(call));
}

awaitable<Result<FaasDeployment>> CloudFunctionExecutor::deploy_job(JobId job_id, Bytes binary, FaasConfig config) {
    auto st = state_;
    auto id = make_function_id(st->options.function_prefix, job_id);
    if (!id) co_return std::unexpected(std::move(id.error()));
    if (auto ok = check_config(config); !ok) co_return std::unexpected(std::move(ok.error()));
    const std::string name = st->api.function_name(*id);
    const std::string what = "deploy " + *id;

    auto zip = packaging::package_gcp(std::span<const std::uint8_t>(binary));
    if (!zip) co_return std::unexpected(FaasError::make(faas_errc::invocation_failed, what + ": " + zip.error().to_string()));
    st->progress("gcp: " + what + ": packaged " + std::to_string(zip->size()) + " bytes");

    // 1. Where to upload the source.
    auto resp = co_await api_call(st, "POST", st->api.generate_upload_url_url(), generate_upload_url_body(),
                                  what + ": generateUploadUrl", true);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (!is_2xx(resp->status))
        co_return std::unexpected(api_error(resp->status, resp->body, what + ": generateUploadUrl"));
    auto upload = parse_upload_url(resp->body);
    if (!upload) co_return std::unexpected(std::move(upload.error()));

    // 2. The upload: a signed URL, so no Authorization header (the signature
    //    is the credential; Cloud Storage refuses a request carrying both).
    st->progress("gcp: " + what + ": uploading " + std::to_string(zip->size()) + " bytes");
    const auto upload_start = steady_clock::now();
    {
        http::Request put;
        put.method = "PUT";
        put.url = upload->upload_url;
        put.headers.emplace_back("Content-Type", "application/zip");
        put.body.assign(zip->begin(), zip->end());
        auto up = co_await st->client.send(std::move(put));
        if (!up) co_return std::unexpected(http::to_faas_error(up.error(), what + ": upload"));
        if (!is_2xx(up->status)) co_return std::unexpected(api_error(up->status, up->body, what + ": upload"));
    }
    st->progress("gcp: " + what + ": uploaded " + std::to_string(zip->size()) + " bytes in " +
                 std::to_string(std::chrono::duration_cast<milliseconds>(steady_clock::now() - upload_start).count()) +
                 " ms");

    // 3. Create or update.
    auto existing = co_await get_function(st, name, what + ": get");
    if (!existing) co_return std::unexpected(std::move(existing.error()));
    FunctionSpec spec;
    spec.name = name;
    spec.runtime = st->options.runtime;
    spec.entry_point = st->options.entry_point;
    spec.storage_source_json = upload->storage_source_json;
    spec.memory_mb = config.memory_mb;
    spec.timeout_secs = config.timeout_secs;
    spec.max_instances = config.max_concurrency ? config.max_concurrency : st->options.max_concurrency;
    spec.env = config.env_vars;
    const bool create = !existing->has_value();
    st->progress("gcp: " + what + ": " + (create ? "creating " : "updating ") + name);
    // Neither is idempotent: a repeated create fails ALREADY_EXISTS, a repeated patch starts a second rollout.
    if (create)
        resp = co_await api_call(st, "POST", st->api.create_url(*id), function_body_json(spec), what + ": create", false);
    else
        resp = co_await api_call(st, "PATCH", st->api.patch_url(name), function_body_json(spec), what + ": update", false);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (!is_2xx(resp->status))
        co_return std::unexpected(api_error(resp->status, resp->body, what + (create ? ": create" : ": update")));
    auto op = parse_operation(resp->body);
    if (!op) co_return std::unexpected(std::move(op.error()));

    // 4. Wait for the build and rollout.
    auto waited = co_await wait_operation(st, std::move(*op), what);
    if (!waited) {
        st->forget(job_id);
        co_return std::unexpected(std::move(waited.error()));
    }

    // 5. Read back the URL.
    auto info = co_await get_function(st, name, what + ": get");
    if (!info) co_return std::unexpected(std::move(info.error()));
    if (!*info) co_return std::unexpected(FaasError::make(faas_errc::not_found, what + ": the function vanished after deploy"));
    if ((*info)->state != "ACTIVE" || (*info)->uri.empty())
        co_return std::unexpected(FaasError::make(faas_errc::infrastructure,
                                                  what + ": the function is " + (*info)->state + " after deploy"));
    st->remember(job_id, (*info)->uri, config);
    st->progress("gcp: " + what + ": ACTIVE at " + (*info)->uri);
    auto d = to_deployment(**info, *id, job_id);
    if (!d.memory_mb) d.memory_mb = config.memory_mb;
    if (!d.timeout_secs) d.timeout_secs = config.timeout_secs;
    co_return d;
}

awaitable<Result<bool>> CloudFunctionExecutor::health_check(JobId job_id) {
    auto st = state_;
    auto id = make_function_id(st->options.function_prefix, job_id);
    if (!id) co_return std::unexpected(std::move(id.error()));
    auto info = co_await get_function(st, st->api.function_name(*id), "health " + *id);
    if (!info) co_return std::unexpected(std::move(info.error()));
    co_return info->has_value() && (*info)->state == "ACTIVE" && !(*info)->uri.empty();
}

awaitable<Result<void>> CloudFunctionExecutor::warm(JobId job_id, std::size_t instances) {
    auto st = state_;
    if (instances == 0) co_return Result<void>{};
    if (instances > 1000)
        co_return std::unexpected(FaasError::make(faas_errc::invocation_failed, "warm: at most 1000 instances at once"));
    auto id = make_function_id(st->options.function_prefix, job_id);
    if (!id) co_return std::unexpected(std::move(id.error()));
    const std::string what = "warm " + *id;
    auto uri = co_await function_uri(st, job_id, st->api.function_name(*id));
    if (!uri) co_return std::unexpected(std::move(uri.error()));
    const auto budget = st->config_for(job_id).timeout();
    const auto deadline = steady_clock::now() + budget;
    http::Headers headers{{"Content-Type", std::string(wire::json_content_type)},
                          {std::string(wire::header_warmup), "1"}};
    const std::string body = wire::encode_warmup_json(job_id);

    // n at once, so that n instances are busy together and the platform starts that many.
    auto make_one = [&] { return warm_one(st, *uri, headers, body, deadline, budget, what); };
    co_return co_await ::blueprint::faas::detail::warm_concurrently(instances, make_one);
}

awaitable<Result<FaasDeployment>> CloudFunctionExecutor::get_deployment(JobId job_id) {
    auto st = state_;
    auto id = make_function_id(st->options.function_prefix, job_id);
    if (!id) co_return std::unexpected(std::move(id.error()));
    const std::string what = "get " + *id;
    auto info = co_await get_function(st, st->api.function_name(*id), what);
    if (!info) co_return std::unexpected(std::move(info.error()));
    if (!*info) co_return std::unexpected(FaasError::make(faas_errc::not_found, what + ": function does not exist"));
    if ((*info)->state == "ACTIVE" && !(*info)->uri.empty()) st->remember(job_id, (*info)->uri, std::nullopt);
    co_return to_deployment(**info, *id, job_id);
}

awaitable<Result<void>> CloudFunctionExecutor::undeploy_job(JobId job_id) {
    auto st = state_;
    auto id = make_function_id(st->options.function_prefix, job_id);
    if (!id) co_return std::unexpected(std::move(id.error()));
    const std::string what = "undeploy " + *id;
    const std::string name = st->api.function_name(*id);
    st->forget(job_id);
    st->progress("gcp: " + what + ": deleting " + name);
    auto resp = co_await api_call(st, "DELETE", st->api.resource_url(name), {}, what, true);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (resp->status == 404) co_return Result<void>{};  // already gone
    if (!is_2xx(resp->status)) co_return std::unexpected(api_error(resp->status, resp->body, what));
    auto op = parse_operation(resp->body);
    if (!op) co_return std::unexpected(std::move(op.error()));
    auto waited = co_await wait_operation(st, std::move(*op), what, true);
    if (!waited) co_return std::unexpected(std::move(waited.error()));
    st->progress("gcp: " + what + ": deleted");
    co_return Result<void>{};
}

}  // namespace blueprint::faas::gcp
