// aws::LambdaExecutor: the I/O around the pure pieces of lambda_api.hpp.
//
// Retries. Only replies that prove the request was not carried out are
// retried: TooManyRequests/429, 5xx, ResourceNotReady, ServiceException,
// and (except for CreateFunction) 409 ResourceConflict, which Lambda sends
// while a function is Pending or an update is in progress. The backoff is
// the client's RetryPolicy (full jitter, on top of any Retry-After) and every
// attempt and pause fits inside the call's deadline. The HTTP client's own
// retries are off: a connection lost mid-Invoke may have run the job, so it
// is reported, never silently resent. An ExpiredToken reply refreshes the
// credentials once.
#include <blueprint/faas/aws.hpp>
#include <blueprint/faas/packaging.hpp>
#include <blueprint/faas/wire.hpp>

#include "faas/detail/concurrent_warm.hpp"
#include "faas/aws/credentials.hpp"
#include "faas/aws/lambda_api.hpp"
#include "faas/http/url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>

namespace blueprint::faas::aws {

namespace asio = boost::asio;
namespace lapi = lambda_api;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string_view to_string(Architecture arch) noexcept { return arch == Architecture::arm64 ? "arm64" : "x86_64"; }

std::optional<Architecture> parse_architecture(std::string_view text) noexcept {
    if (text == "x86_64" || text == "amd64" || text == "x86-64") return Architecture::x86_64;
    if (text == "arm64" || text == "aarch64") return Architecture::arm64;
    return std::nullopt;
}

struct LambdaExecutor::State {
    State(LambdaOptions o, std::string r, std::string e, http::HttpClient c, CredentialsProvider p)
        : options(std::move(o)), region(std::move(r)), endpoint(std::move(e)), client(std::move(c)),
          credentials(std::move(p)) {}

    const LambdaOptions options;
    const std::string region;
    const std::string endpoint;
    http::HttpClient client;
    CredentialsProvider credentials;

    mutable std::mutex mutex;
    std::map<JobId, FaasConfig> configs;

    FaasConfig config_for(const JobId& id) const {
        std::lock_guard lock(mutex);
        auto it = configs.find(id);
        return it != configs.end() ? it->second : options.default_config;
    }
    void log(LogLevel level, std::string_view line) const {
        if (const auto& sink = client.options().log) sink(level, line);
    }
    void progress(std::string_view line) const {
        if (options.progress) options.progress(line);
        log(LogLevel::info, line);
    }
};

namespace {

using StatePtr = std::shared_ptr<LambdaExecutor::State>;

double random01() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

bool is_2xx(int status) { return status >= 200 && status <= 299; }

FaasError with_context(FaasError e, std::string_view what) {
    e.message = std::string(what) + ": " + e.message;
    return e;
}

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

/// Signs and sends `call`, retrying per the file comment, until `deadline`.
/// Returns the 2xx response, or the FaasError of the last reply or failure.
awaitable<Result<http::Response>> send_api(StatePtr st, lapi::ApiCall call, steady_clock::time_point deadline) {
    const std::string what = call.what();
    const auto& policy = st->client.options().retry;
    const auto start = steady_clock::now();
    const auto budget = std::chrono::ceil<milliseconds>(deadline - start);
    bool refreshed = false;
    for (unsigned attempt = 1;; ++attempt) {
        auto now = steady_clock::now();
        if (now >= deadline)
            co_return std::unexpected(FaasError::make(faas_errc::timeout, what + ": deadline of " + ms_text(budget) + " passed"));

        auto creds = co_await st->credentials.get();
        if (!creds) co_return std::unexpected(with_context(std::move(creds.error()), what + ": credentials"));
        auto req = lapi::sign_call(call, st->endpoint, *creds, st->region, std::chrono::system_clock::now());
        if (!req) co_return std::unexpected(with_context(std::move(req.error()), what));
        now = steady_clock::now();
        req->timeout = std::max(milliseconds(1), std::chrono::ceil<milliseconds>(deadline - now));
        req->retry = http::RetryPolicy::none();
        req->idempotent = false;

        st->log(LogLevel::debug, what + " (attempt " + std::to_string(attempt) + ")");
        auto resp = co_await st->client.send(std::move(*req));
        if (!resp) {
            auto e = http::to_faas_error(resp.error(), what);
            if (e.kind == faas_errc::timeout && steady_clock::now() >= deadline - milliseconds(5))
                e.message += " (deadline of " + ms_text(budget) + ")";
            co_return std::unexpected(std::move(e));
        }
        resp->attempts = attempt;
        if (is_2xx(resp->status)) co_return std::move(*resp);

        const auto code = lapi::error_code_of(resp->headers, resp->body);
        auto err = lapi::api_error(resp->status, resp->headers, resp->body, what);
        if (code == "ExpiredTokenException" && !refreshed) {
            // Temporary credentials ran out between fetch and use: fetch anew once.
            refreshed = true;
            st->credentials.invalidate();
            continue;
        }
        if (!lapi::retryable_reply(resp->status, code, call.retry_conflict)) co_return std::unexpected(std::move(err));

        // Retry-After is honoured as a floor; the jittered backoff goes on top
        // so that callers throttled together do not come back in lockstep.
        auto wait = policy.backoff(attempt + 1, std::nullopt, random01());
        if (err.retry_after) wait += *err.retry_after;
        now = steady_clock::now();
        if (attempt >= policy.max_attempts || now + wait >= deadline || (now - start) + wait > policy.max_elapsed) {
            if (attempt > 1) err.message += " (after " + std::to_string(attempt) + " attempts)";
            co_return std::unexpected(std::move(err));
        }
        st->log(LogLevel::debug, what + ": " + (code.empty() ? "HTTP " + std::to_string(resp->status) : code) +
                                     ", retrying in " + ms_text(wait));
        asio::steady_timer timer(co_await asio::this_coro::executor, wait);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return std::unexpected(FaasError::make(faas_errc::timeout, what + ": cancelled while waiting to retry"));
    }
}

steady_clock::time_point after(milliseconds d) { return steady_clock::now() + d; }

FaasDeployment deployment_of(JobId job_id, std::string function_id, const LambdaFunctionInfo& info) {
    FaasDeployment d;
    d.function_id = std::move(function_id);
    d.job_id = job_id;
    d.endpoint = info.arn;
    d.memory_mb = info.memory_mb;
    d.timeout_secs = info.timeout_secs;
    return d;
}

std::string op_text(std::string_view op, std::string_view name) {
    std::string out(op);
    out += ' ';
    out += name;
    return out;
}

/// GetFunctionConfiguration until ready, failed, or `deadline`.
awaitable<Result<LambdaFunctionInfo>> wait_ready(StatePtr st, std::string name, std::string_view why) {
    const auto deadline = after(st->options.deploy_wait);
    std::string last;
    for (unsigned attempt = 1;; ++attempt) {
        auto call = lapi::get_function_configuration(name);
        auto resp = co_await send_api(st, std::move(call), deadline);
        if (!resp) co_return std::unexpected(std::move(resp.error()));
        auto info = lapi::parse_function_configuration(resp->body);
        if (!info) co_return std::unexpected(with_context(std::move(info.error()), name));
        auto decision = lapi::readiness(*info);
        if (decision.readiness == lapi::Readiness::ready) co_return std::move(*info);
        if (decision.readiness == lapi::Readiness::failed)
            co_return std::unexpected(FaasError::make(faas_errc::infrastructure, name + ": " + decision.reason));
        if (decision.reason != last) {
            st->progress(name + ": " + std::string(why) + ": " + decision.reason);
            last = decision.reason;
        }
        auto pause = lapi::poll_delay(attempt, st->options.poll_initial, st->options.poll_max, random01());
        if (steady_clock::now() + pause >= deadline)
            co_return std::unexpected(FaasError::make(
                faas_errc::timeout, name + ": still " + decision.reason + " after " + ms_text(st->options.deploy_wait)));
        asio::steady_timer timer(co_await asio::this_coro::executor, pause);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return std::unexpected(FaasError::make(faas_errc::timeout, name + ": cancelled while waiting"));
    }
}

awaitable<Result<InvocationOutcome>> invoke_impl(StatePtr st, JobCall call, std::string payload, bool stamp) {
    const auto& id = call.job_id();
    auto name = lapi::function_name(st->options.function_prefix, id);
    if (!name) co_return std::unexpected(std::move(name.error()));
    const auto what = op_text("invoke", *name);
    const auto type = st->options.invocation_type;
    if (type == InvocationType::request_response && payload.size() > max_sync_payload_bytes) {
        // Refused here rather than by a 413 after uploading megabytes.
        co_return std::unexpected(FaasError::make(
            faas_errc::serialization, what + ": the request payload is " + std::to_string(payload.size()) +
                                          " bytes; Lambda's synchronous limit is 6 MB (" +
                                          std::to_string(max_sync_payload_bytes) + " bytes)"));
    }
    const auto start = steady_clock::now();
    const auto deadline = start + st->config_for(id).timeout();
    auto api_call = lapi::invoke(*name, st->options.qualifier, std::move(payload), type);
    auto resp = co_await send_api(st, std::move(api_call), deadline);
    FaasMetrics metrics;
    metrics.total_duration = std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - start);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    auto result = lapi::interpret_invoke(resp->status, resp->headers, resp->body, what);
    if (!result) co_return std::unexpected(std::move(result.error()));
    if (auto report = lapi::parse_log_result(resp->header("X-Amz-Log-Result"))) lapi::apply_report(*report, metrics);
    if (stamp) result->stamp_from(call);
    co_return InvocationOutcome{std::move(*result), metrics};
}

FaasError packaging_error(const Error& e, std::string_view what) {
    using packaging::packaging_errc;
    const bool too_large = e.code == packaging_errc::too_large;
    return FaasError::make(too_large ? faas_errc::serialization : faas_errc::invocation_failed,
                           std::string(what) + ": packaging: " + e.message);
}

bool looks_like_zip(const Bytes& b) {
    return b.size() >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4;
}

}  // namespace

// ---- construction --------------------------------------------------------------

LambdaExecutor::LambdaExecutor(std::shared_ptr<State> state) : state_(std::move(state)) {}

std::expected<std::shared_ptr<LambdaExecutor>, FaasError> LambdaExecutor::create(LambdaOptions options) {
    auto bad = [](std::string m) { return std::unexpected(FaasError::make(faas_errc::invocation_failed, std::move(m))); };
    Env env = options.env ? Env(options.env) : process_env();

    std::string region = options.region;
    if (region.empty()) {
        auto paths = shared_file_paths(env);
        std::optional<IniFile> config;
        if (auto text = read_text_file(paths.config_file))
            if (auto ini = parse_ini(*text)) config = std::move(*ini);
        auto r = resolve_region(env, config ? &*config : nullptr, options.profile.value_or(paths.profile));
        if (!r) return bad("no region: set LambdaOptions::region, AWS_REGION or the profile's region");
        region = *r;
    }
    if (!lapi::valid_region(region)) return bad("region \"" + region + "\" is not a valid AWS region name");
    if (!lapi::valid_prefix(options.function_prefix))
        return bad("function_prefix must be 1-40 characters of letters, digits, '-' and '_'");
    if (auto e = lapi::validate_config(options.default_config)) return std::unexpected(std::move(*e));

    std::string endpoint = options.endpoint_url.empty() ? lapi::default_endpoint(region) : options.endpoint_url;
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    if (auto u = http::detail::parse_url(endpoint); !u) return bad("endpoint_url: " + u.error());

    http::HttpClient client(options.http);
    CredentialsProviderOptions copts;
    if (options.credentials) {
        AwsCredentials c;
        c.access_key_id = options.credentials->access_key_id;
        c.secret_access_key = options.credentials->secret_access_key;
        c.session_token = options.credentials->session_token;
        c.source = "explicit";
        if (!c.complete()) {
            return std::unexpected(
                FaasError::make(faas_errc::unauthorized, "explicit credentials need an access key id and a secret key"));
        }
        copts.explicit_credentials = std::move(c);
    }
    copts.profile = options.profile;
    copts.env = env;
    copts.use_imds = options.use_imds;
    CredentialsProvider provider(client, std::move(copts));
    auto state = std::make_shared<State>(std::move(options), std::move(region), std::move(endpoint), std::move(client),
                                         std::move(provider));
    return std::shared_ptr<LambdaExecutor>(new LambdaExecutor(std::move(state)));
}

std::expected<std::string, FaasError> LambdaExecutor::function_name(const JobId& job_id) const {
    return lapi::function_name(state_->options.function_prefix, job_id);
}

const std::string& LambdaExecutor::region() const noexcept { return state_->region; }
const std::string& LambdaExecutor::endpoint() const noexcept { return state_->endpoint; }

LambdaExecutor& LambdaExecutor::with_job_config(JobId job_id, FaasConfig config) {
    std::lock_guard lock(state_->mutex);
    state_->configs[job_id] = std::move(config);
    return *this;
}

// ---- invoke ------------------------------------------------------------------------

awaitable<Result<JobResult>> LambdaExecutor::invoke(JobCall call) {
    auto payload = wire::encode_request_json(call);
    auto out = co_await invoke_impl(state_, std::move(call), std::move(payload), true);
    if (!out) co_return std::unexpected(std::move(out.error()));
    co_return std::move(out->result);
}

awaitable<Result<InvocationOutcome>> LambdaExecutor::invoke_with_metrics(JobCall call) {
    auto payload = wire::encode_request_json(call);
    co_return co_await invoke_impl(state_, std::move(call), std::move(payload), true);
}

namespace {

// One synchronous warm-up invoke (never Event: it must hold an instance busy
// so that `instances` concurrent ones need that many instances).
awaitable<Result<void>> warm_one(StatePtr st, JobId job_id, std::string name, steady_clock::time_point deadline) {
    auto call = lapi::invoke(name, st->options.qualifier, wire::encode_warmup_json(job_id), InvocationType::request_response);
    auto resp = co_await send_api(st, std::move(call), deadline);
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    if (auto fe = resp->header("X-Amz-Function-Error"); !fe.empty())
        co_return std::unexpected(FaasError::make(faas_errc::function_error,
                                                  "warm " + name + ": the warm-up event failed: " + resp->body.substr(0, 300)));
    co_return Result<void>{};
}

}  // namespace

awaitable<Result<void>> LambdaExecutor::warm(JobId job_id, std::size_t instances) {
    auto st = state_;
    if (instances == 0) co_return Result<void>{};
    if (instances > 1000)
        co_return std::unexpected(FaasError::make(faas_errc::invocation_failed, "warm: at most 1000 instances at once"));
    auto name = lapi::function_name(st->options.function_prefix, job_id);
    if (!name) co_return std::unexpected(std::move(name.error()));
    const auto deadline = after(st->config_for(job_id).timeout());

    auto make_one = [&] { return warm_one(st, job_id, *name, deadline); };
    co_return co_await ::blueprint::faas::detail::warm_concurrently(instances, make_one);
}

// ---- control plane ----------------------------------------------------------------

awaitable<Result<FaasDeployment>> LambdaExecutor::deploy_job(JobId job_id, Bytes binary, FaasConfig config) {
    auto st = state_;
    auto name_r = lapi::function_name(st->options.function_prefix, job_id);
    if (!name_r) co_return std::unexpected(std::move(name_r.error()));
    const std::string name = *name_r;
    const auto what = op_text("deploy", name);
    if (auto e = lapi::validate_config(config)) co_return std::unexpected(with_context(std::move(*e), what));
    if (st->options.role_arn.empty())
        co_return std::unexpected(FaasError::make(faas_errc::invocation_failed, what + ": LambdaOptions::role_arn is required to deploy"));
    Architecture arch = st->options.architecture;
    if (auto it = config.provider_options.find("architecture"); it != config.provider_options.end()) {
        auto a = parse_architecture(it->second);
        if (!a) co_return std::unexpected(FaasError::make(faas_errc::invocation_failed,
                                                          what + ": architecture \"" + it->second + "\" is not x86_64 or arm64"));
        arch = *a;
    }

    // A zip already holding bootstrap (from `bpfaas package`) is sent as is.
    Bytes zip;
    if (looks_like_zip(binary)) {
        zip = std::move(binary);
    } else {
        st->progress(name + ": packaging " + std::to_string(binary.size()) + " bytes");
        auto packaged = packaging::package_lambda(std::span<const std::uint8_t>(binary));
        if (!packaged) co_return std::unexpected(packaging_error(packaged.error(), what));
        zip = std::move(*packaged);
    }
    if (zip.size() > max_zip_bytes) {
        co_return std::unexpected(FaasError::make(
            faas_errc::serialization, what + ": the package is " + std::to_string(zip.size()) +
                                          " bytes; Lambda's direct-upload limit is 50 MB (" +
                                          std::to_string(max_zip_bytes) + " bytes)"));
    }
    const std::string zip_b64 = wire::base64_encode(std::string_view(reinterpret_cast<const char*>(zip.data()), zip.size()));
    zip.clear();
    zip.shrink_to_fit();

    const auto api = [&] { return after(st->options.api_timeout); };
    auto get_call = lapi::get_function(name);
    auto existing = co_await send_api(st, std::move(get_call), api());
    std::optional<LambdaFunctionInfo> before;
    if (existing) {
        auto info = lapi::parse_get_function(existing->body);
        if (!info) co_return std::unexpected(with_context(std::move(info.error()), what));
        before = std::move(*info);
    } else if (existing.error().kind != faas_errc::not_found) {
        co_return std::unexpected(std::move(existing.error()));
    }

    if (!before) {
        st->progress(name + ": creating the function (" + std::to_string(zip_b64.size() / 4 * 3 / 1024) + " KiB, " +
                     std::string(to_string(arch)) + ")");
        auto create_call = lapi::create_function(name, st->options.role_arn, config, arch, zip_b64);
        auto created = co_await send_api(st, std::move(create_call), api());
        if (!created) co_return std::unexpected(std::move(created.error()));
        // CreateFunction carried memory, timeout and environment already.
        auto ready = co_await wait_ready(st, name, "waiting for Active");
        if (!ready) co_return std::unexpected(std::move(ready.error()));
    } else {
        // A previous update may still be running: Lambda refuses another until it ends.
        auto ready = co_await wait_ready(st, name, "waiting for the previous update");
        if (!ready) co_return std::unexpected(std::move(ready.error()));
        st->progress(name + ": uploading new code (" + std::to_string(zip_b64.size() / 4 * 3 / 1024) + " KiB, " +
                     std::string(to_string(arch)) + ")");
        auto code_call = lapi::update_function_code(name, zip_b64, arch);
        auto code = co_await send_api(st, std::move(code_call), api());
        if (!code) co_return std::unexpected(std::move(code.error()));
        ready = co_await wait_ready(st, name, "waiting for the code update");
        if (!ready) co_return std::unexpected(std::move(ready.error()));
        st->progress(name + ": updating configuration (" + std::to_string(config.memory_mb) + " MB, " +
                     std::to_string(config.timeout_secs) + " s)");
        auto conf_call = lapi::update_function_configuration(name, config);
        auto conf = co_await send_api(st, std::move(conf_call), api());
        if (!conf) co_return std::unexpected(std::move(conf.error()));
        ready = co_await wait_ready(st, name, "waiting for the configuration update");
        if (!ready) co_return std::unexpected(std::move(ready.error()));
    }

    if (config.max_concurrency) {
        st->progress(name + ": reserved concurrency " + std::to_string(*config.max_concurrency));
        auto put_call = lapi::put_function_concurrency(name, *config.max_concurrency);
        auto put = co_await send_api(st, std::move(put_call), api());
        if (!put) co_return std::unexpected(std::move(put.error()));
    } else if (before && before->reserved_concurrency) {
        // No limit asked for now: drop the one an earlier deploy set.
        auto del_call = lapi::delete_function_concurrency(name);
        auto del = co_await send_api(st, std::move(del_call), api());
        if (!del && del.error().kind != faas_errc::not_found) co_return std::unexpected(std::move(del.error()));
    }

    // The deployed timeout becomes the job's invocation deadline.
    with_job_config(job_id, config);

    auto final_call = lapi::get_function_configuration(name);
    auto final_info = co_await send_api(st, std::move(final_call), api());
    if (!final_info) co_return std::unexpected(std::move(final_info.error()));
    auto info = lapi::parse_function_configuration(final_info->body);
    if (!info) co_return std::unexpected(with_context(std::move(info.error()), what));

    if (config.keep_warm > 0) {
        st->progress(name + ": warming " + std::to_string(config.keep_warm) + " instance(s)");
        auto warmed = co_await warm(job_id, config.keep_warm);
        if (!warmed) co_return std::unexpected(std::move(warmed.error()));
    }
    st->progress(name + ": deployed (" + info->arn + ")");

    co_return deployment_of(job_id, name, *info);
}

awaitable<Result<bool>> LambdaExecutor::health_check(JobId job_id) {
    auto st = state_;
    auto name = lapi::function_name(st->options.function_prefix, job_id);
    if (!name) co_return std::unexpected(std::move(name.error()));
    auto call = lapi::get_function_configuration(*name);
    auto resp = co_await send_api(st, std::move(call), after(st->options.api_timeout));
    if (!resp) {
        if (resp.error().kind == faas_errc::not_found) co_return false;
        co_return std::unexpected(std::move(resp.error()));
    }
    auto info = lapi::parse_function_configuration(resp->body);
    if (!info) co_return std::unexpected(std::move(info.error()));
    co_return lapi::is_healthy(*info);
}

awaitable<Result<LambdaFunctionInfo>> LambdaExecutor::describe(JobId job_id) {
    auto st = state_;
    auto name = lapi::function_name(st->options.function_prefix, job_id);
    if (!name) co_return std::unexpected(std::move(name.error()));
    auto call = lapi::get_function(*name);
    auto resp = co_await send_api(st, std::move(call), after(st->options.api_timeout));
    if (!resp) co_return std::unexpected(std::move(resp.error()));
    co_return lapi::parse_get_function(resp->body);
}

awaitable<Result<FaasDeployment>> LambdaExecutor::get_deployment(JobId job_id) {
    auto info = co_await describe(job_id);
    if (!info) co_return std::unexpected(std::move(info.error()));
    co_return deployment_of(job_id, info->name, *info);
}

awaitable<Result<void>> LambdaExecutor::undeploy_job(JobId job_id) {
    auto st = state_;
    auto name = lapi::function_name(st->options.function_prefix, job_id);
    if (!name) co_return std::unexpected(std::move(name.error()));
    auto call = lapi::delete_function(*name);
    auto resp = co_await send_api(st, std::move(call), after(st->options.api_timeout));
    if (!resp && resp.error().kind != faas_errc::not_found) co_return std::unexpected(std::move(resp.error()));
    {
        std::lock_guard lock(st->mutex);
        st->configs.erase(job_id);
    }
    co_return Result<void>{};
}

awaitable<Result<std::vector<LambdaFunctionInfo>>> LambdaExecutor::list_functions() {
    auto st = state_;
    const std::string prefix = st->options.function_prefix + "-job-";
    std::vector<LambdaFunctionInfo> out;
    std::string marker;
    for (unsigned page = 0; page < 10'000; ++page) {
        auto call = lapi::list_functions(marker);
        auto resp = co_await send_api(st, std::move(call), after(st->options.api_timeout));
        if (!resp) co_return std::unexpected(std::move(resp.error()));
        auto parsed = lapi::parse_list_functions(resp->body);
        if (!parsed) co_return std::unexpected(std::move(parsed.error()));
        for (auto& f : parsed->functions)
            if (f.name.starts_with(prefix)) out.push_back(std::move(f));
        if (parsed->next_marker.empty() || parsed->next_marker == marker) break;
        marker = std::move(parsed->next_marker);
    }
    co_return out;
}

}  // namespace blueprint::faas::aws
