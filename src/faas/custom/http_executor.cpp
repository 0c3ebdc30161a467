// custom::HttpFaasExecutor: endpoint mode and platform mode.
//
// Retries. A POST invoke is not idempotent: once a request reached the
// function, sending it again may run the job twice. The only replies that
// prove the job did not run are 429 and 503 (the endpoint refused for load),
// so those, and only those, are retried here, with the client's shared
// RetryPolicy (its backoff, max_attempts, max_elapsed) honouring
// Retry-After. Every attempt and every backoff fits inside the call's
// deadline (FaasConfig::timeout_secs). The HTTP client's own retries are
// turned off for these requests (Request::retry = none, idempotent = false),
// so a connection lost mid-request is reported, never silently resent.
#include <blueprint/faas/custom.hpp>
#include <blueprint/faas/packaging.hpp>
#include <blueprint/faas/wire.hpp>

#include "faas/detail/concurrent_warm.hpp"
#include "faas/custom/platform_api.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <random>

namespace blueprint::faas::custom {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::string_view platform_functions = "api/functions/";
/// Most warm-up requests one `warm` call sends at once.
constexpr std::size_t max_warm_instances = 1000;

double random01() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

bool is_2xx(int status) { return status >= 200 && status <= 299; }

std::string_view media_type(std::string_view content_type) {
    auto semi = content_type.find(';');
    auto out = content_type.substr(0, semi);
    while (!out.empty() && out.back() == ' ') out.remove_suffix(1);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

namespace detail {

// The executor's shared state. Defined here rather than as the private
// HttpFaasExecutor::State itself so the free coroutines below can name it.
struct ExecutorState {
    ExecutorState(std::string base, bool platform_mode, http::ClientOptions options)
        : base_url(std::move(base)), platform(platform_mode), client(std::move(options)) {}

    const std::string base_url;
    bool platform;  ///< set once, before the state is shared
    http::HttpClient client;

    mutable std::mutex mutex;
    std::map<JobId, std::string> endpoints;
    http::Headers headers;
    std::string token;
    std::map<JobId, FaasConfig> configs;
    FaasConfig default_config;
    WireFormat format = WireFormat::automatic;
    /// What `WireFormat::automatic` found per origin (guarded by mutex).
    struct OriginFormat {
        std::optional<WireFormat> known;  ///< json or binary, once a probe answered
        bool probing = false;             ///< a probe is in flight
    };
    std::map<std::string, OriginFormat, std::less<>> origin_formats;
    /// Origins that have sent X-Blueprint-Cold-Start (or X-Blueprint-Status):
    /// the Blueprint runtime, which sends "1" on a cold start and nothing
    /// otherwise, so there an absent header means a warm instance.
    std::set<std::string, std::less<>> cold_start_origins;

    FaasConfig config_for(const JobId& id) const {
        std::lock_guard lock(mutex);
        auto it = configs.find(id);
        return it != configs.end() ? it->second : default_config;
    }

    /// User headers plus Authorization.
    http::Headers common_headers() const {
        std::lock_guard lock(mutex);
        http::Headers out = headers;
        if (!token.empty()) out.emplace_back("Authorization", "Bearer " + token);
        return out;
    }

    std::string endpoint_for(const JobId& id) const {
        {
            std::lock_guard lock(mutex);
            if (auto it = endpoints.find(id); it != endpoints.end()) return it->second;
        }
        if (platform) return function_url(id, "/invoke");
        return detail::join_url(base_url, "job/" + id.to_string());
    }

    std::string function_url(const JobId& id, std::string_view suffix = {}) const {
        std::string path(platform_functions);
        path += detail::function_id(id);
        path += suffix;
        return detail::join_url(base_url, path);
    }

    /// Removes the bearer token from text that may have echoed it back.
    std::string scrub(std::string text) const {
        std::string tok;
        {
            std::lock_guard lock(mutex);
            tok = token;
        }
        if (tok.empty()) return text;
        for (auto pos = text.find(tok); pos != std::string::npos; pos = text.find(tok, pos)) {
            text.replace(pos, tok.size(), "<redacted>");
        }
        return text;
    }

    void log(LogLevel level, std::string_view line) const {
        if (const auto& sink = client.options().log) sink(level, scrub(std::string(line)));
    }
    /// False when no log sink is set: callers skip building the line.
    bool logging() const { return static_cast<bool>(client.options().log); }

    /// What the invoke path derives from an endpoint URL by parsing it:
    /// the origin (cold-start bookkeeping) and the redacted URL (messages).
    /// Cached per URL because two full URL parses per invocation cost ~5%
    /// of the client's CPU in `bpfaas bench http` (docs/performance.md).
    struct UrlInfo {
        std::string origin_key;
        std::string redacted;
        bool has_origin = false;  ///< origin_key is a real origin, not the URL itself
    };
    std::shared_ptr<const UrlInfo> url_info(const std::string& url) const {
        {
            std::lock_guard lock(mutex);
            if (auto it = url_cache.find(url); it != url_cache.end()) return it->second;
        }
        auto origin = detail::url_origin(url);
        auto info = std::make_shared<const UrlInfo>(
            UrlInfo{origin ? *origin : url, detail::redact_url(url), origin.has_value()});
        std::lock_guard lock(mutex);
        // Endpoints are per job, so this stays small; the bound is only a
        // guard against callers that invent URLs without end.
        if (url_cache.size() >= 4096) url_cache.clear();
        url_cache.emplace(url, info);
        return info;
    }
    mutable std::map<std::string, std::shared_ptr<const UrlInfo>, std::less<>> url_cache;  ///< guarded by mutex
};

}  // namespace detail

struct HttpFaasExecutor::State : detail::ExecutorState {
    using ExecutorState::ExecutorState;
};

namespace {

using StatePtr = std::shared_ptr<detail::ExecutorState>;

FaasError with_context(FaasError e, std::string_view what) {
    e.message = std::string(what) + ": " + e.message;
    return e;
}

/// Sends `req`, retrying 429/503 within `budget` (see the file comment).
/// Returns the final response whatever its status; a transport failure or a
/// passed deadline as a FaasError.
awaitable<Result<http::Response>> exchange(StatePtr st, http::Request req, milliseconds budget, std::string what,
                                           bool retry_throttled = true) {
    const auto policy = st->client.options().retry;
    const auto start = steady_clock::now();
    const auto deadline_at = start + budget;
    const auto deadline_text = [&] { return "deadline of " + std::to_string(budget.count()) + " ms passed"; };
    req.retry = http::RetryPolicy::none();
    req.idempotent = false;
    for (unsigned attempt = 1;; ++attempt) {
        auto now = steady_clock::now();
        if (now >= deadline_at) {
            co_return std::unexpected(FaasError::make(faas_errc::timeout, st->scrub(what + ": " + deadline_text())));
        }
        req.timeout = std::chrono::ceil<milliseconds>(deadline_at - now);
        if (st->logging()) st->log(LogLevel::debug, what + " (attempt " + std::to_string(attempt) + ")");
        auto r = co_await st->client.send(req);
        if (!r) {
            auto e = to_faas_error(r.error());
            if (e.kind == faas_errc::timeout && steady_clock::now() >= deadline_at - milliseconds(5)) {
                e.message = deadline_text() + " (" + e.message + ")";
            }
            e.message = st->scrub(what + ": " + e.message);
            co_return std::unexpected(std::move(e));
        }
        r->attempts = attempt;
        if (!retry_throttled || (r->status != 429 && r->status != 503)) co_return std::move(*r);

        auto retry_after = http::parse_retry_after(r->header("Retry-After"), std::chrono::system_clock::now());
        auto wait = policy.backoff(attempt + 1, retry_after, random01());
        if (retry_after) wait = std::max(wait, *retry_after);
        now = steady_clock::now();
        const bool give_up = attempt >= policy.max_attempts ||
                             (retry_after && *retry_after > policy.max_backoff) || now + wait >= deadline_at ||
                             (now - start) + wait > policy.max_elapsed;
        if (give_up) co_return std::move(*r);
        if (st->logging()) st->log(LogLevel::debug, what + ": HTTP " + std::to_string(r->status) + ", retrying in " +
                                     std::to_string(wait.count()) + " ms");
        asio::steady_timer timer(co_await asio::this_coro::executor, wait);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) {
            co_return std::unexpected(
                FaasError::make(faas_errc::timeout, st->scrub(what + ": cancelled while waiting to retry")));
        }
    }
}

/// A non-2xx reply as a FaasError, with Retry-After, request id and the
/// attempt count. `control_plane`: a 5xx other than 503 is the platform's
/// failure (infrastructure), not the function's.
FaasError status_error(const StatePtr& st, const http::Response& resp, std::string_view what, bool control_plane) {
    auto e = status_to_faas_error(resp.status, resp.body, what);
    if (control_plane && e.kind == faas_errc::function_error) {
        e.kind = faas_errc::infrastructure;
        e.function_error_type.clear();
    }
    if (auto ra = resp.header("Retry-After"); !ra.empty()) {
        e.retry_after = http::parse_retry_after(ra, std::chrono::system_clock::now());
    }
    for (auto name : {"X-Request-Id", "X-Blueprint-Request-Id", "X-Amzn-RequestId"}) {
        if (auto id = resp.header(name); !id.empty()) {
            e.request_id = std::string(id);
            break;
        }
    }
    if (resp.attempts > 1) e.message += " (after " + std::to_string(resp.attempts) + " attempts)";
    e.message = st->scrub(std::move(e.message));
    return e;
}

FaasError reply_error(const StatePtr& st, std::string_view what, const http::Response& resp, const FaasError& cause) {
    auto e = FaasError::make(faas_errc::serialization,
                             st->scrub(std::string(what) + ": HTTP " + std::to_string(resp.status) +
                                       " reply is not a Blueprint reply: " + cause.message +
                                       "; body: " + detail::body_excerpt(resp.body)));
    e.http_status = resp.status;
    return e;
}

/// A binary-framed reply (wire.hpp): the body is the raw result, or the
/// error message when X-Blueprint-Status is "error".
Result<wire::Reply> decode_binary_reply(const http::Response& resp) {
    wire::Reply reply;
    auto status = resp.header(wire::header_status);
    if (iequals(status, "ok")) {
        reply.result.assign(resp.body.begin(), resp.body.end());
    } else if (iequals(status, "error")) {
        reply.success = false;
        reply.error = resp.body;
        reply.error_type = std::string(resp.header(wire::header_error_type));
    } else {
        return std::unexpected(FaasError::make(
            faas_errc::serialization,
            status.empty() ? std::string("binary reply without ") + std::string(wire::header_status)
                           : std::string(wire::header_status) + " is \"" + detail::body_excerpt(status, 40) + "\""));
    }
    return reply;
}

bool is_binary_reply(const http::Response& resp, WireFormat format) {
    auto type = media_type(resp.header("Content-Type"));
    if (iequals(type, wire::binary_content_type)) return true;
    // A binary-format caller also accepts a framed reply with another type
    // (application/octet-stream), as long as it carries the status header.
    return format == WireFormat::binary && !resp.header(wire::header_status).empty() &&
           !iequals(type, wire::json_content_type);
}

/// Remembers that `url`'s origin is the Blueprint runtime when the reply
/// says so (a cold-start or framing header).
bool note_runtime(detail::ExecutorState& st, const std::string& key, const http::Response& resp) {
    if (resp.header(wire::header_cold_start).empty() && resp.header(wire::header_status).empty()) return false;
    std::lock_guard lock(st.mutex);
    st.cold_start_origins.insert(key);
    return true;
}

/// Metrics the reply states. Cold start comes from X-Blueprint-Cold-Start
/// ("1" true, "0"/"false" false) or the body's "cold_start" field. The
/// Blueprint runtime sends them only on a cold start, so their absence means
/// "warm" only from an origin known to be that runtime: one that has sent
/// either before (to an invoke or a warm-up), or that frames replies with
/// X-Blueprint-Status. From any other endpoint an absent header is unknown
/// (nullopt). Never guessed from latency.
void fill_metrics(detail::ExecutorState& st, const std::string& key, FaasMetrics& m, const http::Response& resp,
                  const wire::Reply& reply) {
    note_runtime(st, key, resp);
    if (auto cs = resp.header(wire::header_cold_start); !cs.empty()) {
        m.cold_start = (cs == "1" || iequals(cs, "true"));
    } else if (reply.cold_start) {
        m.cold_start = reply.cold_start;
        std::lock_guard lock(st.mutex);
        st.cold_start_origins.insert(key);
    } else {
        std::lock_guard lock(st.mutex);
        if (st.cold_start_origins.contains(key)) m.cold_start = false;
    }
    if (reply.execution_ms && *reply.execution_ms >= 0) {
        m.execution_duration = std::chrono::microseconds(static_cast<std::int64_t>(*reply.execution_ms * 1000.0));
    }
    m.memory_used_mb = reply.memory_used_mb;
}

/// "op job N (redacted URL)", for messages.
std::string describe_redacted(std::string_view op, const JobId& id, std::string_view redacted_url) {
    std::string out(op);
    out += " job ";
    out += id.to_string();
    out += " (";
    out += redacted_url;
    out += ')';
    return out;
}

std::string describe(std::string_view op, const JobId& id, std::string_view url) {
    return describe_redacted(op, id, detail::redact_url(url));
}

/// True when a GET /health reply declares binary framing: 2xx, a JSON
/// object whose "formats" array holds "binary" (our runtime's reply is
/// `{"status":"healthy","formats":["json","binary"]}`).
bool declares_binary(const http::Response& resp) {
    if (!is_2xx(resp.status)) return false;
    boost::system::error_code ec;
    const auto v = boost::json::parse(resp.body, ec);
    if (ec || !v.is_object()) return false;
    const auto* formats = v.get_object().if_contains("formats");
    if (!formats || !formats->is_array()) return false;
    const auto& list = formats->get_array();
    return std::any_of(list.begin(), list.end(), [](const boost::json::value& f) { return f.is_string() && f.get_string() == "binary"; });
}

/// The format `automatic` has settled on for `origin`, if any.
std::optional<WireFormat> known_format(detail::ExecutorState& st, std::string_view origin) {
    std::lock_guard lock(st.mutex);
    auto it = st.origin_formats.find(origin);
    return it != st.origin_formats.end() ? it->second.known : std::nullopt;
}

/// What `WireFormat::automatic` means for `origin` (see custom.hpp): the
/// cached answer; JSON while another call's probe is in flight, so a first
/// wave of calls sends one probe, not one each; else this call probes,
/// within `budget`, and caches a definite answer.
awaitable<WireFormat> resolve_format(StatePtr st, std::string origin, milliseconds budget) {
    {
        std::lock_guard lock(st->mutex);
        auto& entry = st->origin_formats[origin];
        if (entry.known) co_return *entry.known;
        if (entry.probing) co_return WireFormat::json;
        entry.probing = true;
    }
    // Clears the in-flight mark however the probe ends, cancellation (the
    // coroutine frame destroyed mid-probe) included; otherwise the origin
    // would never be probed again.
    struct InFlight {
        detail::ExecutorState& st;
        const std::string& origin;
        std::optional<WireFormat> answer;
        ~InFlight() {
            std::lock_guard lock(st.mutex);
            auto& entry = st.origin_formats[origin];
            entry.probing = false;
            if (answer) entry.known = answer;
        }
    } in_flight{*st, origin, std::nullopt};

    const auto url = detail::join_url(origin, "health");
    const auto what = "wire-format probe (" + detail::redact_url(url) + ")";
    http::Request req;
    req.method = "GET";
    req.url = url;
    req.headers = st->common_headers();
    req.headers.emplace_back("Accept", std::string(wire::json_content_type));
    auto resp = co_await exchange(st, std::move(req), budget, what, false);
    if (!resp) {
        // Unreachable now: not an answer about the formats. This call uses
        // JSON; a later one asks again.
        if (st->logging()) st->log(LogLevel::debug, what + ": " + resp.error().message + "; using JSON, not cached");
        co_return WireFormat::json;
    }
    if (resp->status == 429 || resp->status == 503) {
        if (st->logging()) st->log(LogLevel::debug, what + ": HTTP " + std::to_string(resp->status) + "; using JSON, not cached");
        co_return WireFormat::json;
    }
    // 404 (not our runtime), a non-JSON body, any other status: JSON, cached.
    in_flight.answer = declares_binary(*resp) ? WireFormat::binary : WireFormat::json;
    if (st->logging())
        st->log(LogLevel::debug, what + ": HTTP " + std::to_string(resp->status) + ", using " +
                                     (*in_flight.answer == WireFormat::binary ? "binary" : "JSON"));
    co_return *in_flight.answer;
}

awaitable<Result<InvocationOutcome>> invoke_impl(StatePtr st, JobCall call) {
    const auto& id = call.job_id();
    const auto url = st->endpoint_for(id);
    const auto config = st->config_for(id);
    WireFormat format;
    {
        std::lock_guard lock(st->mutex);
        format = st->format;
    }
    const auto url_info = st->url_info(url);
    const auto what = describe_redacted("invoke", id, url_info->redacted);
    // The deadline covers a format probe too.
    const auto start = steady_clock::now();
    // The platform API speaks Blueprint JSON only (ARCHITECTURE.md §10).
    if (st->platform || (format == WireFormat::automatic && !url_info->has_origin)) {
        format = WireFormat::json;
    } else if (format == WireFormat::automatic) {
        format = co_await resolve_format(st, url_info->origin_key, config.timeout());
    }

    http::Request req;
    req.method = "POST";
    req.url = url;
    req.headers = st->common_headers();
    if (format == WireFormat::json) {
        req.headers.emplace_back("Content-Type", std::string(wire::json_content_type));
        req.headers.emplace_back("Accept", std::string(wire::json_content_type));
        req.body = wire::encode_request_json(call);
    } else {
        req.headers.emplace_back("Content-Type", std::string(wire::binary_content_type));
        req.headers.emplace_back("Accept", std::string(wire::binary_content_type));
        req.headers.emplace_back(std::string(wire::header_job_id), id.to_string());
        if (!call.metadata().empty()) {
            req.headers.emplace_back(std::string(wire::header_metadata),
                                     wire::base64_encode(wire::encode_metadata_json(call.metadata())));
        }
        req.body.assign(call.body().begin(), call.body().end());
    }

    const auto left = std::max(milliseconds(0), config.timeout() - std::chrono::duration_cast<milliseconds>(steady_clock::now() - start));
    auto resp = co_await exchange(st, std::move(req), left, what);
    FaasMetrics metrics;
    metrics.total_duration = std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - start);
    if (!resp) co_return std::unexpected(std::move(resp.error()));

    Result<wire::Reply> reply = std::unexpected(FaasError{});
    if (is_2xx(resp->status)) {
        reply = is_binary_reply(*resp, format) ? decode_binary_reply(*resp) : wire::decode_reply_json(resp->body);
        if (!reply) co_return std::unexpected(reply_error(st, what, *resp, reply.error()));
    } else if (resp->status >= 500 && detail::is_failure_reply(resp->body)) {
        // The platform API's failed-job shape: the job ran and failed.
        reply = wire::decode_reply_json(resp->body);
        if (!reply || reply->success) co_return std::unexpected(status_error(st, *resp, what, false));
    } else {
        co_return std::unexpected(status_error(st, *resp, what, false));
    }
    fill_metrics(*st, url_info->origin_key, metrics, *resp, *reply);
    JobResult result = wire::reply_to_job_result(std::move(*reply));
    result.stamp_from(call);
    co_return InvocationOutcome{std::move(result), metrics};
}

awaitable<Result<void>> warm_one(StatePtr st, http::Request req, milliseconds budget, std::string what) {
    const std::string req_url = req.url;
    auto resp = co_await exchange(st, std::move(req), budget, what);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (!is_2xx(resp->status)) co_return std::unexpected(status_error(st, *resp, what, false));
    note_runtime(*st, st->url_info(req_url)->origin_key, *resp);
    co_return Result<void>{};
}

FaasError unsupported_in_endpoint_mode(std::string_view op) {
    return FaasError::make(faas_errc::unsupported,
                           "endpoint mode cannot " + std::string(op) + "; use HttpFaasExecutor::platform");
}

}  // namespace

HttpFaasExecutor::HttpFaasExecutor(std::string base_url, http::ClientOptions client)
    : state_(std::make_shared<State>(std::move(base_url), false, std::move(client))) {}

HttpFaasExecutor HttpFaasExecutor::platform(std::string base_url, http::ClientOptions client) {
    HttpFaasExecutor out(std::move(base_url), std::move(client));
    out.state_->platform = true;  // not shared with anyone yet
    return out;
}

HttpFaasExecutor& HttpFaasExecutor::with_job_endpoint(JobId job_id, std::string url) {
    std::lock_guard lock(state_->mutex);
    state_->endpoints[job_id] = std::move(url);
    return *this;
}

HttpFaasExecutor& HttpFaasExecutor::with_header(std::string name, std::string value) {
    std::lock_guard lock(state_->mutex);
    state_->headers.emplace_back(std::move(name), std::move(value));
    return *this;
}

HttpFaasExecutor& HttpFaasExecutor::with_bearer_token(std::string token) {
    std::lock_guard lock(state_->mutex);
    state_->token = std::move(token);
    return *this;
}

HttpFaasExecutor& HttpFaasExecutor::with_job_config(JobId job_id, FaasConfig config) {
    std::lock_guard lock(state_->mutex);
    state_->configs[job_id] = std::move(config);
    return *this;
}

HttpFaasExecutor& HttpFaasExecutor::with_default_config(FaasConfig config) {
    std::lock_guard lock(state_->mutex);
    state_->default_config = std::move(config);
    return *this;
}

HttpFaasExecutor& HttpFaasExecutor::with_wire_format(WireFormat format) {
    std::lock_guard lock(state_->mutex);
    state_->format = format;
    return *this;
}

std::string HttpFaasExecutor::endpoint_for(const JobId& job_id) const { return state_->endpoint_for(job_id); }

awaitable<Result<JobResult>> HttpFaasExecutor::invoke(JobCall call) {
    auto out = co_await invoke_impl(state_, std::move(call));
    if (!out) co_return std::unexpected(std::move(out.error()));
    co_return std::move(out->result);
}

awaitable<Result<InvocationOutcome>> HttpFaasExecutor::invoke_with_metrics(JobCall call) {
    co_return co_await invoke_impl(state_, std::move(call));
}

// A second deploy of the same job is an update, as it is on every other
// provider: the platform API answers 409 to a PUT of an existing function,
// so the executor deletes it and PUTs again. Between the two requests the
// function does not exist; calls arriving then fail with not_found.
awaitable<Result<FaasDeployment>> HttpFaasExecutor::deploy_job(JobId job_id, Bytes binary, FaasConfig config) {
    auto st = state_;
    if (!st->platform) co_return std::unexpected(unsupported_in_endpoint_mode("deploy"));
    const auto url = st->function_url(job_id);
    const auto what = describe("deploy", job_id, url);

    // A binary that is already a zip (e.g. from `bpfaas package`) is sent as is.
    std::vector<std::uint8_t> package;
    if (detail::looks_like_zip(binary)) {
        package = std::move(binary);
    } else {
        auto zip = packaging::package_custom(std::span<const std::uint8_t>(binary));
        if (!zip) {
            co_return std::unexpected(
                with_context(FaasError::make(faas_errc::invocation_failed, zip.error().message), what));
        }
        package = std::move(*zip);
    }

    http::Request put;
    put.method = "PUT";
    put.url = url;
    put.headers = st->common_headers();
    put.headers.emplace_back("Content-Type", "application/zip");
    put.headers.emplace_back("X-Blueprint-Config", wire::base64_encode(detail::encode_deploy_config(config)));
    put.body.assign(package.begin(), package.end());
    const auto budget = st->client.options().request_timeout;

    auto resp = co_await exchange(st, put, budget, what);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (resp->status == 409) {
        st->log(LogLevel::info, what + ": already deployed; replacing it (DELETE then PUT)");
        http::Request del;
        del.method = "DELETE";
        del.url = url;
        del.headers = st->common_headers();
        auto gone = co_await exchange(st, std::move(del), budget, describe("undeploy (for redeploy)", job_id, url));
        if (!gone) co_return std::unexpected(std::move(gone.error()));
        if (!is_2xx(gone->status) && gone->status != 404) {
            co_return std::unexpected(status_error(st, *gone, what + " (delete before redeploy)", true));
        }
        resp = co_await exchange(st, std::move(put), budget, what);
        if (!resp) co_return std::unexpected(std::move(resp.error()));
    }
    if (!is_2xx(resp->status)) co_return std::unexpected(status_error(st, *resp, what, true));
    auto deployment = detail::parse_deployment(resp->body, job_id, st->base_url, st->endpoint_for(job_id));
    if (!deployment) co_return std::unexpected(with_context(std::move(deployment.error()), what));
    // The deployed timeout becomes the job's invocation deadline.
    with_job_config(job_id, std::move(config));
    co_return std::move(*deployment);
}

awaitable<Result<bool>> HttpFaasExecutor::health_check(JobId job_id) {
    auto st = state_;
    std::string url;
    if (st->platform) {
        url = st->function_url(job_id, "/health");
    } else {
        // Our runtime answers GET /health on the endpoint's origin.
        auto origin = detail::url_origin(st->endpoint_for(job_id));
        if (!origin) co_return std::unexpected(std::move(origin.error()));
        url = detail::join_url(*origin, "health");
    }
    const auto what = describe("health of", job_id, url);
    http::Request req;
    req.method = "GET";
    req.url = url;
    req.headers = st->common_headers();
    auto resp = co_await exchange(st, std::move(req), st->config_for(job_id).timeout(), what, false);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (is_2xx(resp->status)) co_return true;
    if (resp->status == 404 || resp->status == 503) co_return false;
    co_return std::unexpected(status_error(st, *resp, what, true));
}

awaitable<Result<void>> HttpFaasExecutor::warm(JobId job_id, std::size_t instances) {
    auto st = state_;
    if (instances == 0) co_return Result<void>{};
    if (instances > max_warm_instances) {
        co_return std::unexpected(FaasError::make(
            faas_errc::invocation_failed, "warm: at most " + std::to_string(max_warm_instances) + " instances at once"));
    }
    const auto budget = st->config_for(job_id).timeout();
    if (st->platform) {
        const auto url = st->function_url(job_id, "/warm");
        const auto what = describe("warm", job_id, url);
        http::Request req;
        req.method = "POST";
        req.url = url;
        req.headers = st->common_headers();
        req.headers.emplace_back("Content-Type", std::string(wire::json_content_type));
        req.body = "{\"instances\":" + std::to_string(instances) + "}";
        auto resp = co_await exchange(st, std::move(req), budget, what);
        if (!resp) co_return std::unexpected(std::move(resp.error()));
        if (!is_2xx(resp->status)) co_return std::unexpected(status_error(st, *resp, what, true));
        co_return Result<void>{};
    }

    WireFormat format;
    {
        std::lock_guard lock(st->mutex);
        format = st->format;
    }
    const auto url = st->endpoint_for(job_id);
    const auto what = describe("warm", job_id, url);
    // Warm-ups do not probe: what an invoke found, else JSON (any endpoint).
    if (format == WireFormat::automatic) format = known_format(*st, st->url_info(url)->origin_key).value_or(WireFormat::json);
    http::Request req;
    req.method = "POST";
    req.url = url;
    req.headers = st->common_headers();
    req.headers.emplace_back(std::string(wire::header_warmup), "1");
    if (format == WireFormat::json) {
        req.headers.emplace_back("Content-Type", std::string(wire::json_content_type));
        req.body = wire::encode_warmup_json(job_id);
    } else {
        req.headers.emplace_back("Content-Type", std::string(wire::binary_content_type));
        req.headers.emplace_back(std::string(wire::header_job_id), job_id.to_string());
    }

    // n concurrent requests, so that n instances are busy at once and the
    // platform has to start that many.
    auto make_one = [&] { return warm_one(st, req, budget, what); };
    co_return co_await ::blueprint::faas::detail::warm_concurrently(instances, make_one);
}

awaitable<Result<FaasDeployment>> HttpFaasExecutor::get_deployment(JobId job_id) {
    auto st = state_;
    if (!st->platform) {
        // Endpoint mode: what the executor itself knows.
        auto config = st->config_for(job_id);
        FaasDeployment d;
        d.function_id = detail::function_id(job_id);
        d.job_id = job_id;
        d.endpoint = st->endpoint_for(job_id);
        d.memory_mb = config.memory_mb;
        d.timeout_secs = config.timeout_secs;
        co_return d;
    }
    const auto url = st->function_url(job_id);
    const auto what = describe("get deployment of", job_id, url);
    http::Request req;
    req.method = "GET";
    req.url = url;
    req.headers = st->common_headers();
    auto resp = co_await exchange(st, std::move(req), st->client.options().request_timeout, what);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (!is_2xx(resp->status)) co_return std::unexpected(status_error(st, *resp, what, true));
    auto d = detail::parse_deployment(resp->body, job_id, st->base_url, st->endpoint_for(job_id));
    if (!d) co_return std::unexpected(with_context(std::move(d.error()), what));
    co_return std::move(*d);
}

awaitable<Result<void>> HttpFaasExecutor::undeploy_job(JobId job_id) {
    auto st = state_;
    if (!st->platform) co_return std::unexpected(unsupported_in_endpoint_mode("undeploy"));
    const auto url = st->function_url(job_id);
    const auto what = describe("undeploy", job_id, url);
    http::Request req;
    req.method = "DELETE";
    req.url = url;
    req.headers = st->common_headers();
    auto resp = co_await exchange(st, std::move(req), st->client.options().request_timeout, what);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (is_2xx(resp->status) || resp->status == 404) co_return Result<void>{};
    co_return std::unexpected(status_error(st, *resp, what, true));
}

}  // namespace blueprint::faas::custom
