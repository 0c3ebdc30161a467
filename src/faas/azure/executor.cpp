// azure::AzureFunctionExecutor (ARCHITECTURE.md §9, docs/providers/azure.md).
//
// Control plane: ARM (resource group, plan, site, functions, listKeys) and
// Kudu (zip deploy), both with an Entra ID bearer token for ARM's scope.
// Data plane: POST {site}/api/job{id} with the function key in
// x-functions-key.
//
// Secrets (client secret, tokens, the function key, the storage connection
// string, the managed-identity header) are never logged: every log line and
// every error message goes through State::scrub.
//
// Retries. ARM and Kudu calls use the HTTP client's policy (idempotent
// PUT/GET/DELETE, and listKeys / the token POST, which are safe to repeat).
// An invocation is a POST that may run the job twice if resent, so only 429
// and 503 (refused for load: the job did not run) are retried, within the
// call's deadline, as the custom executor does.
#include <blueprint/faas/azure.hpp>
#include <blueprint/faas/packaging.hpp>
#include <blueprint/faas/wire.hpp>

#include "faas/detail/concurrent_warm.hpp"
#include "faas/azure/protocol.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <random>
#include <set>

namespace blueprint::faas::azure {

std::optional<PlanKind> parse_plan_kind(std::string_view text) noexcept {
    if (text == "consumption" || text == "Y1" || text == "y1") return PlanKind::consumption;
    if (text == "premium" || text.starts_with("EP") || text.starts_with("ep")) return PlanKind::premium;
    if (text == "flex" || text == "flex-consumption" || text == "FC1" || text == "fc1") return PlanKind::flex_consumption;
    return std::nullopt;
}

std::string_view to_string(PlanKind kind) noexcept {
    switch (kind) {
    case PlanKind::consumption: return "consumption";
    case PlanKind::premium: return "premium";
    case PlanKind::flex_consumption: return "flex";
    }
    return "unknown";
}

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using namespace detail;

struct AzureFunctionExecutor::State {
    AzureOptions options;
    CredentialSource credential;
    ArmTarget target;
    std::string scm_base;
    std::string site_base;
    http::HttpClient client;

    mutable std::mutex mutex;
    std::optional<AccessToken> token;
    std::string function_key;
    bool key_explicit = false;
    /// Jobs known to be in the app, with the config they were deployed with.
    std::map<JobId, FaasConfig> jobs;
    std::map<JobId, FaasConfig> configs;
    /// The bootstrap binary last deployed by this executor.
    std::optional<Bytes> binary;
    /// App settings: every deployed job's env_vars (one app, one environment).
    std::map<std::string, std::string> env;
    std::function<void(std::string_view)> progress;

    State(AzureOptions o, CredentialSource c)
        : options(std::move(o)), credential(std::move(c)), client(options.client) {}

    std::string scrub(std::string text) const {
        std::string tok, key;
        {
            std::lock_guard lock(mutex);
            if (token) tok = token->value;
            key = function_key;
        }
        return redact(std::move(text), {credential.secret.client_secret, tok, key, options.storage_connection_string,
                                        credential.identity_header, options.function_key});
    }

    void log(LogLevel level, std::string_view line) const {
        if (const auto& sink = client.options().log) sink(level, scrub(std::string(line)));
    }

    void report(std::string_view line) const {
        const std::string clean = scrub(std::string(line));
        std::function<void(std::string_view)> cb;
        {
            std::lock_guard lock(mutex);
            cb = progress;
        }
        if (cb) cb(clean);
        if (const auto& sink = client.options().log) sink(LogLevel::info, clean);
    }

    FaasConfig config_for(const JobId& id) const {
        std::lock_guard lock(mutex);
        if (auto it = configs.find(id); it != configs.end()) return it->second;
        if (auto it = jobs.find(id); it != jobs.end()) return it->second;
        return options.default_config;
    }

    FaasError scrubbed(FaasError e) const {
        e.message = scrub(std::move(e.message));
        return e;
    }
};

namespace {

using StatePtr = std::shared_ptr<AzureFunctionExecutor::State>;

double random01() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::optional<JobId> job_from_function(std::string_view name) {
    if (name.size() <= 3) return std::nullopt;
    const std::string prefix(name.substr(0, 3));
    if (prefix != "job" && prefix != "Job" && prefix != "JOB") return std::nullopt;
    auto id = JobId::parse(name.substr(3));
    if (!id) return std::nullopt;
    return *id;
}

awaitable<void> sleep_for(milliseconds delay) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

awaitable<Result<http::Response>> send(StatePtr st, http::Request req, std::string what) {
    st->log(LogLevel::debug, what + ": " + req.method + " " + req.url.substr(0, req.url.find('?')));
    auto r = co_await st->client.send(std::move(req));
    if (!r) co_return std::unexpected(st->scrubbed(http::to_faas_error(r.error(), what)));
    co_return std::move(*r);
}

/// A bearer token for ARM's scope, from the cache when it is fresh.
awaitable<Result<std::string>> arm_token(StatePtr st, bool force_refresh = false) {
    {
        std::lock_guard lock(st->mutex);
        if (!force_refresh && st->token && !needs_refresh(*st->token, std::chrono::system_clock::now()))
            co_return st->token->value;
    }
    http::Request req;
    std::string what;
    switch (st->credential.kind) {
    case CredentialSource::Kind::client_secret:
        req = client_credentials_request(st->options.endpoints, st->credential.secret);
        what = "azure: token (client credentials)";
        break;
    case CredentialSource::Kind::managed_identity:
        req = managed_identity_request(st->options.endpoints, st->credential.identity_endpoint,
                                       st->credential.identity_header);
        what = "azure: token (managed identity)";
        break;
    case CredentialSource::Kind::none:
        co_return std::unexpected(FaasError::make(
            faas_errc::unauthorized, "azure: no credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, "
                                     "or run with a managed identity"));
    }
    auto r = co_await send(st, std::move(req), what);
    if (!r) co_return std::unexpected(std::move(r.error()));
    auto token = parse_token_response(r->status, r->body, std::chrono::system_clock::now());
    if (!token) co_return std::unexpected(st->scrubbed(std::move(token.error())));
    std::string value = token->value;
    {
        std::lock_guard lock(st->mutex);
        st->token = std::move(*token);
    }
    st->log(LogLevel::debug, what + ": new token");
    co_return value;
}

/// An ARM (or Kudu) call with the bearer token. A 401 may mean the cached
/// token was revoked or expired early: fetch a new one and try once more.
awaitable<Result<http::Response>> arm_send(StatePtr st, std::string method, std::string url, std::string body,
                                           std::string what, bool idempotent = true,
                                           std::string content_type = "application/json") {
    for (int round = 0;; ++round) {
        auto token = co_await arm_token(st, round > 0);
        if (!token) co_return std::unexpected(std::move(token.error()));
        http::Request req;
        req.method = method;
        req.url = url;
        req.headers.emplace_back("Authorization", "Bearer " + *token);
        req.headers.emplace_back("Accept", "application/json");
        if (!body.empty() || method == "PUT" || method == "POST") req.headers.emplace_back("Content-Type", content_type);
        req.body = body;
        req.idempotent = idempotent;
        auto r = co_await send(st, std::move(req), what);
        if (!r) co_return r;
        if (r->status == 401 && round == 0) continue;
        co_return r;
    }
}

awaitable<Result<void>> arm_put_and_wait(StatePtr st, std::string url, std::string body, std::string what,
                                         steady_clock::time_point deadline) {
    auto r = co_await arm_send(st, "PUT", url, std::move(body), what);
    if (!r) co_return std::unexpected(std::move(r.error()));
    if (r->status < 200 || r->status > 299) co_return std::unexpected(st->scrubbed(arm_error(*r, what)));
    ArmAsyncStep step = arm_async_start(*r);
    const bool async_op = !r->header("Azure-AsyncOperation").empty();
    const std::string poll_url = step.poll_url;
    for (unsigned attempt = 1; step.step == ArmAsync::poll; ++attempt) {
        const auto delay = poll_delay(attempt, st->options.poll_initial, st->options.poll_max);
        if (steady_clock::now() + delay >= deadline)
            co_return std::unexpected(FaasError::make(faas_errc::timeout, what + ": still running at the deadline"));
        co_await sleep_for(delay);
        auto p = co_await arm_send(st, "GET", poll_url, {}, what + " (status)");
        if (!p) co_return std::unexpected(std::move(p.error()));
        step = arm_async_poll(*p, async_op);
        if (step.step == ArmAsync::failed)
            co_return std::unexpected(st->scrubbed(FaasError::make(faas_errc::infrastructure, what + ": " + step.message)));
    }
    co_return Result<void>{};
}

/// The jobs whose functions the app holds now; empty when the app does not exist.
awaitable<Result<std::set<JobId>>> list_app_jobs(StatePtr st) {
    std::set<JobId> out;
    std::string url = functions_url(st->target);
    for (int page = 0; page < 100 && !url.empty(); ++page) {
        auto r = co_await arm_send(st, "GET", url, {}, "azure: list functions");
        if (!r) co_return std::unexpected(std::move(r.error()));
        if (r->status == 404) co_return out;
        if (r->status != 200) co_return std::unexpected(st->scrubbed(arm_error(*r, "azure: list functions")));
        auto list = parse_function_list(r->body);
        if (!list) co_return std::unexpected(std::move(list.error()));
        for (const auto& name : list->names)
            if (auto id = job_from_function(name)) out.insert(*id);
        url = list->next_link;
    }
    co_return out;
}

/// POSTs the zip to Kudu and polls the deployment until it ends.
awaitable<Result<void>> zip_deploy(StatePtr st, std::string zip, steady_clock::time_point deadline) {
    const std::string what = "azure: zip deploy";
    const std::size_t size = zip.size();
    auto token = co_await arm_token(st);
    if (!token) co_return std::unexpected(std::move(token.error()));
    st->report("uploading the package (" + std::to_string(size) + " bytes) to Kudu");
    http::Request req = zipdeploy_request(st->scm_base, *token, std::move(zip));
    auto r = co_await send(st, std::move(req), what);
    if (!r) co_return std::unexpected(std::move(r.error()));
    if (r->status == 200) co_return Result<void>{};  // Kudu deployed synchronously
    if (r->status != 202) co_return std::unexpected(st->scrubbed(arm_error(*r, what)));
    const std::string location(r->header("Location"));
    if (location.empty())
        co_return std::unexpected(FaasError::make(faas_errc::serialization, what + ": 202 without a Location to poll"));
    const std::string status_url = absolute_location(st->scm_base, location);

    unsigned missing = 0;
    for (unsigned attempt = 1;; ++attempt) {
        const auto delay = poll_delay(attempt, st->options.poll_initial, st->options.poll_max);
        if (steady_clock::now() + delay >= deadline)
            co_return std::unexpected(FaasError::make(faas_errc::timeout, what + ": the deployment did not finish in time"));
        co_await sleep_for(delay);
        auto p = co_await arm_send(st, "GET", status_url, {}, what + " (status)");
        if (!p) co_return std::unexpected(std::move(p.error()));
        auto status = parse_deploy_status(p->status, p->body);
        if (!status) co_return std::unexpected(st->scrubbed(std::move(status.error())));
        switch (status->phase) {
        case DeployPhase::succeeded: st->report("deployment succeeded"); co_return Result<void>{};
        case DeployPhase::failed:
            co_return std::unexpected(st->scrubbed(FaasError::make(
                faas_errc::infrastructure,
                what + ": the deployment failed" + (status->message.empty() ? "" : ": " + status->message))));
        case DeployPhase::missing:
            // Kudu may not have recorded the deployment yet; not forever.
            if (++missing > 5)
                co_return std::unexpected(FaasError::make(faas_errc::not_found, what + ": the deployment status is gone (404)"));
            break;
        case DeployPhase::in_progress:
            missing = 0;
            st->report("deployment in progress" + (status->message.empty() ? "" : ": " + status->message));
            break;
        }
    }
}

/// The function key: explicit, cached, or fetched once with listKeys.
awaitable<Result<std::string>> function_key(StatePtr st, bool refresh = false) {
    {
        std::lock_guard lock(st->mutex);
        if (st->key_explicit || (!refresh && !st->function_key.empty())) co_return st->function_key;
    }
    auto r = co_await arm_send(st, "POST", list_keys_url(st->target), {}, "azure: listKeys");
    if (!r) co_return std::unexpected(std::move(r.error()));
    if (r->status != 200) co_return std::unexpected(st->scrubbed(arm_error(*r, "azure: listKeys")));
    auto key = parse_host_keys(r->body);
    if (!key) co_return std::unexpected(std::move(key.error()));
    {
        std::lock_guard lock(st->mutex);
        st->function_key = *key;
    }
    co_return std::move(*key);
}

/// Polls ARM until the app lists the function (trigger sync can lag the
/// deployment).
awaitable<Result<void>> wait_function_listed(StatePtr st, std::string function, steady_clock::time_point deadline) {
    const std::string what = "azure: function " + function;
    for (unsigned attempt = 1;; ++attempt) {
        auto r = co_await arm_send(st, "GET", function_url(st->target, function), {}, what);
        if (!r) co_return std::unexpected(std::move(r.error()));
        if (r->status == 200) co_return Result<void>{};
        if (r->status != 404) co_return std::unexpected(st->scrubbed(arm_error(*r, what)));
        const auto delay = poll_delay(attempt, st->options.poll_initial, st->options.poll_max);
        if (steady_clock::now() + delay >= deadline)
            co_return std::unexpected(FaasError::make(faas_errc::timeout, what + ": not listed by the app after the deployment"));
        co_await sleep_for(delay);
    }
}

/// The binary to repackage with: the one this executor deployed, else the
/// `bootstrap` of the app's current content (Kudu's zip of wwwroot).
awaitable<Result<Bytes>> current_binary(StatePtr st) {
    {
        std::lock_guard lock(st->mutex);
        if (st->binary) co_return *st->binary;
    }
    const std::string what = "azure: download wwwroot";
    auto r = co_await arm_send(st, "GET", trim_slashes(st->scm_base) + "/api/zip/site/wwwroot/", {}, what);
    if (!r) co_return std::unexpected(std::move(r.error()));
    if (r->status != 200) co_return std::unexpected(st->scrubbed(arm_error(*r, what)));
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(r->body.data()), r->body.size());
    auto entries = packaging::read_zip_entries(bytes);
    if (!entries)
        co_return std::unexpected(FaasError::make(faas_errc::serialization, what + ": " + entries.error().to_string()));
    for (auto& e : *entries)
        if (e.name == "bootstrap") co_return std::move(e.bytes);
    co_return std::unexpected(FaasError::make(faas_errc::not_found, what + ": the app's content has no bootstrap"));
}

awaitable<Result<void>> deploy_package(StatePtr st, const Bytes& binary, const std::set<JobId>& jobs,
                                       steady_clock::time_point deadline) {
    const std::vector<JobId> list(jobs.begin(), jobs.end());
    auto zip = packaging::package_azure(std::span<const std::uint8_t>(binary), list);
    if (!zip)
        co_return std::unexpected(FaasError::make(faas_errc::invocation_failed, "azure: package: " + zip.error().to_string()));
    std::string body(zip->begin(), zip->end());
    co_return co_await zip_deploy(st, std::move(body), deadline);
}

/// One invocation POST, retrying 429/503 within `deadline`; a 401 with a
/// fetched key refreshes it once (it may have been rotated).
awaitable<Result<http::Response>> invoke_exchange(StatePtr st, std::string function, std::string body, bool warmup,
                                                  milliseconds budget, std::string what) {
    const auto policy = st->client.options().retry;
    const auto start = steady_clock::now();
    const auto deadline = start + budget;
    bool refreshed = false;
    for (unsigned attempt = 1;; ++attempt) {
        auto key = co_await function_key(st, false);
        if (!key) co_return std::unexpected(std::move(key.error()));
        auto now = steady_clock::now();
        if (now >= deadline)
            co_return std::unexpected(FaasError::make(
                faas_errc::timeout, what + ": deadline of " + std::to_string(budget.count()) + " ms passed"));
        http::Request req = invoke_request(st->site_base, function, *key, body, warmup);
        req.timeout = std::chrono::ceil<milliseconds>(deadline - now);
        req.retry = http::RetryPolicy::none();
        req.idempotent = false;
        auto r = co_await send(st, std::move(req), what);
        if (!r) {
            if (r.error().kind == faas_errc::timeout && steady_clock::now() >= deadline - milliseconds(5))
                r.error().message = what + ": deadline of " + std::to_string(budget.count()) + " ms passed";
            co_return r;
        }
        r->attempts = attempt;
        if (r->status == 401 && !refreshed) {
            bool explicit_key;
            {
                std::lock_guard lock(st->mutex);
                explicit_key = st->key_explicit;
            }
            if (!explicit_key) {
                refreshed = true;
                auto fresh = co_await function_key(st, true);
                if (!fresh) co_return std::unexpected(std::move(fresh.error()));
                continue;
            }
        }
        if (r->status != 429 && r->status != 503) co_return r;
        auto retry_after = http::parse_retry_after(r->header("Retry-After"), std::chrono::system_clock::now());
        auto wait = policy.backoff(attempt + 1, retry_after, random01());
        if (retry_after) wait = std::max(wait, *retry_after);
        now = steady_clock::now();
        if (attempt >= policy.max_attempts || now + wait >= deadline || (now - start) + wait > policy.max_elapsed)
            co_return r;
        st->log(LogLevel::debug, what + ": HTTP " + std::to_string(r->status) + ", retrying in " +
                                     std::to_string(wait.count()) + " ms");
        co_await sleep_for(wait);
    }
}

awaitable<Result<InvocationOutcome>> do_invoke(StatePtr st, JobCall call) {
    const auto start = steady_clock::now();
    const std::string function = packaging::azure_function_name(call.job_id());
    const FaasConfig config = st->config_for(call.job_id());
    const std::string what = "azure: invoke " + function;
    std::string body = wire::encode_request_json(call);
    auto r = co_await invoke_exchange(st, function, std::move(body), false, config.timeout(), what);
    if (!r) co_return std::unexpected(std::move(r.error()));
    if (r->status != 200) co_return std::unexpected(st->scrubbed(invoke_error(*r, what)));
    auto reply = wire::decode_reply_json(r->body);
    if (!reply) {
        FaasError e = std::move(reply.error());
        e.message = what + ": " + e.message;
        e.http_status = r->status;
        co_return std::unexpected(std::move(e));
    }
    InvocationOutcome out;
    out.metrics.total_duration = std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - start);
    if (reply->execution_ms)
        out.metrics.execution_duration = std::chrono::microseconds(static_cast<std::int64_t>(*reply->execution_ms * 1000.0));
    // Our runtime marks the first request an instance serves; Azure forwards
    // the handler's headers unchanged.
    out.metrics.cold_start = r->header(wire::header_cold_start) == "1" || reply->cold_start.value_or(false);
    out.result = wire::reply_to_job_result(std::move(*reply));
    out.result.stamp_from(call);
    co_return out;
}

awaitable<Result<void>> warm_one(StatePtr st, std::string function, std::string body, milliseconds budget, std::string what) {
    auto r = co_await invoke_exchange(st, std::move(function), std::move(body), true, budget, what);
    if (!r) co_return std::unexpected(std::move(r.error()));
    if (r->status != 200) co_return std::unexpected(st->scrubbed(invoke_error(*r, what)));
    co_return Result<void>{};
}

FaasDeployment deployment_of(const StatePtr& st, const JobId& job, const FaasConfig& config) {
    FaasDeployment d;
    d.function_id = st->options.app_name + "/" + packaging::azure_function_name(job);
    d.job_id = job;
    d.endpoint = trim_slashes(st->site_base) + "/api/" + packaging::azure_function_name(job);
    d.memory_mb = config.memory_mb;
    d.timeout_secs = config.timeout_secs;
    return d;
}

awaitable<Result<FaasDeployment>> do_deploy(StatePtr st, JobId job, Bytes binary, FaasConfig config) {
    const auto deadline = steady_clock::now() + st->options.deploy_timeout;
    const auto& o = st->options;
    const std::string function = packaging::azure_function_name(job);

    st->report("resource group " + o.resource_group + " in " + o.region);
    if (auto r = co_await arm_put_and_wait(st, resource_group_url(st->target), resource_group_body(o.region),
                                           "azure: resource group", deadline);
        !r)
        co_return std::unexpected(std::move(r.error()));

    st->report("plan " + plan_name(st->target) + " (" + std::string(to_string(o.plan)) + ")");
    if (auto r = co_await arm_put_and_wait(st, plan_url(st->target), plan_body(o.region, o.plan, o.plan_sku),
                                           "azure: plan", deadline);
        !r)
        co_return std::unexpected(std::move(r.error()));

    std::map<std::string, std::string> env;
    {
        std::lock_guard lock(st->mutex);
        env = st->env;
    }
    for (const auto& [k, v] : config.env_vars) env[k] = v;
    st->report("function app " + o.app_name);
    if (auto r = co_await arm_put_and_wait(st, site_url(st->target),
                                           site_body(st->target, o.region, o.storage_connection_string, env),
                                           "azure: function app", deadline);
        !r)
        co_return std::unexpected(std::move(r.error()));

    // Every job the app already holds stays in the new package.
    auto listed = co_await list_app_jobs(st);
    if (!listed) co_return std::unexpected(std::move(listed.error()));
    std::set<JobId> jobs = std::move(*listed);
    {
        std::lock_guard lock(st->mutex);
        for (const auto& [id, c] : st->jobs) jobs.insert(id);
    }
    jobs.insert(job);
    st->report("packaging " + std::to_string(jobs.size()) + " function(s) for " + o.app_name);
    if (auto r = co_await deploy_package(st, binary, jobs, deadline); !r) co_return std::unexpected(std::move(r.error()));

    st->report("waiting for " + function + " to be listed");
    if (auto r = co_await wait_function_listed(st, function, deadline); !r) co_return std::unexpected(std::move(r.error()));
    {
        std::lock_guard lock(st->mutex);
        st->binary = std::move(binary);
        st->env = std::move(env);
        st->jobs[job] = config;
        st->configs[job] = config;
    }
    if (auto key = co_await function_key(st); !key) co_return std::unexpected(std::move(key.error()));
    st->report("deployed " + function + " at " + trim_slashes(st->site_base) + "/api/" + function);
    co_return deployment_of(st, job, config);
}

awaitable<Result<bool>> do_health(StatePtr st, JobId job) {
    auto site = co_await arm_send(st, "GET", site_url(st->target), {}, "azure: site");
    if (!site) co_return std::unexpected(std::move(site.error()));
    if (site->status == 404) co_return false;
    if (site->status != 200) co_return std::unexpected(st->scrubbed(arm_error(*site, "azure: site")));
    auto state = parse_site_state(site->body);
    if (!state) co_return std::unexpected(std::move(state.error()));
    if (*state != "Running") co_return false;
    const std::string function = packaging::azure_function_name(job);
    auto fn = co_await arm_send(st, "GET", function_url(st->target, function), {}, "azure: function " + function);
    if (!fn) co_return std::unexpected(std::move(fn.error()));
    if (fn->status == 404) co_return false;
    if (fn->status != 200) co_return std::unexpected(st->scrubbed(arm_error(*fn, "azure: function " + function)));
    co_return true;
}

awaitable<Result<FaasDeployment>> do_get(StatePtr st, JobId job) {
    const std::string function = packaging::azure_function_name(job);
    auto fn = co_await arm_send(st, "GET", function_url(st->target, function), {}, "azure: function " + function);
    if (!fn) co_return std::unexpected(std::move(fn.error()));
    if (fn->status != 200) co_return std::unexpected(st->scrubbed(arm_error(*fn, "azure: function " + function)));
    co_return deployment_of(st, job, st->config_for(job));
}

awaitable<Result<void>> do_undeploy(StatePtr st, JobId job) {
    const auto deadline = steady_clock::now() + st->options.deploy_timeout;
    const std::string function = packaging::azure_function_name(job);
    auto listed = co_await list_app_jobs(st);
    if (!listed) co_return std::unexpected(std::move(listed.error()));
    std::set<JobId> rest = std::move(*listed);
    rest.erase(job);
    {
        std::lock_guard lock(st->mutex);
        st->jobs.erase(job);
    }
    if (rest.empty()) {
        // The last job: the app (and the plan we made for it) goes.
        st->report("deleting function app " + st->options.app_name);
        auto r = co_await arm_send(st, "DELETE", site_url(st->target), {}, "azure: delete function app");
        if (!r) co_return std::unexpected(std::move(r.error()));
        if (r->status != 200 && r->status != 204 && r->status != 404)
            co_return std::unexpected(st->scrubbed(arm_error(*r, "azure: delete function app")));
        st->report("deleting plan " + plan_name(st->target));
        auto p = co_await arm_send(st, "DELETE", plan_url(st->target), {}, "azure: delete plan");
        if (!p) co_return std::unexpected(std::move(p.error()));
        // 409: another app uses the plan; it stays.
        if (p->status != 200 && p->status != 204 && p->status != 404 && p->status != 409)
            co_return std::unexpected(st->scrubbed(arm_error(*p, "azure: delete plan")));
        std::lock_guard lock(st->mutex);
        st->binary.reset();
        st->function_key = st->key_explicit ? st->function_key : std::string();
        co_return Result<void>{};
    }
    st->report("redeploying " + st->options.app_name + " without " + function + " (" + std::to_string(rest.size()) +
               " function(s) stay)");
    auto binary = co_await current_binary(st);
    if (!binary) co_return std::unexpected(std::move(binary.error()));
    co_return co_await deploy_package(st, *binary, rest, deadline);
}

awaitable<Result<void>> do_warm(StatePtr st, JobId job, std::size_t instances) {
    if (instances == 0) co_return Result<void>{};
    instances = std::min<std::size_t>(instances, 1000);
    const std::string function = packaging::azure_function_name(job);
    const auto budget = st->config_for(job).timeout();
    const std::string what = "azure: warm " + function;
    const std::string body = wire::encode_warmup_json(job);
    // Make sure the key is there before n requests race to fetch it.
    if (auto key = co_await function_key(st); !key) co_return std::unexpected(std::move(key.error()));
    auto make_one = [&] { return warm_one(st, function, body, budget, what); };
    co_return co_await ::blueprint::faas::detail::warm_concurrently(instances, make_one);
}

}  // namespace

std::expected<AzureFunctionExecutor, FaasError> AzureFunctionExecutor::create(AzureOptions options) {
    auto bad = [](std::string message) { return std::unexpected(FaasError::make(faas_errc::invocation_failed, std::move(message))); };
    if (options.subscription_id.empty()) return bad("azure: a subscription id is required");
    if (options.resource_group.empty()) return bad("azure: a resource group is required");
    if (options.app_name.empty()) return bad("azure: a function app name is required");
    if (!valid_app_name(options.app_name))
        return bad("azure: '" + options.app_name + "' is not a valid function app name (2-60 letters, digits and '-')");
    if (options.region.empty()) return bad("azure: a region is required");
    if (options.plan == PlanKind::flex_consumption)
        return std::unexpected(FaasError::make(
            faas_errc::unsupported, "azure: Flex Consumption deploys through a storage container and one-deploy, not "
                                    "zip deploy; use the consumption (Y1) or premium (EP1-EP3) plan"));
    auto credential = choose_credential(options, [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (!v || !*v) return std::nullopt;
        return std::string(v);
    });
    if (!credential) return std::unexpected(std::move(credential.error()));
    if (credential->kind == CredentialSource::Kind::none && options.function_key.empty())
        return std::unexpected(FaasError::make(
            faas_errc::unauthorized, "azure: no credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, "
                                     "run with a managed identity, or give a function key for invoke-only use"));

    auto st = std::make_shared<State>(std::move(options), std::move(*credential));
    const auto& o = st->options;
    st->target = ArmTarget{trim_slashes(o.endpoints.arm), o.subscription_id, o.resource_group, o.app_name};
    st->scm_base = expand_app_template(o.endpoints.scm_url_template, o.app_name);
    st->site_base = expand_app_template(o.endpoints.site_url_template, o.app_name);
    st->function_key = o.function_key;
    st->key_explicit = !o.function_key.empty();
    return AzureFunctionExecutor(std::move(st));
}

AzureFunctionExecutor& AzureFunctionExecutor::with_job_config(JobId job_id, FaasConfig config) {
    std::lock_guard lock(state_->mutex);
    state_->configs[job_id] = std::move(config);
    return *this;
}

AzureFunctionExecutor& AzureFunctionExecutor::on_progress(std::function<void(std::string_view)> callback) {
    std::lock_guard lock(state_->mutex);
    state_->progress = std::move(callback);
    return *this;
}

std::string AzureFunctionExecutor::function_url(const JobId& job_id) const {
    return trim_slashes(state_->site_base) + "/api/" + packaging::azure_function_name(job_id);
}

std::vector<JobId> AzureFunctionExecutor::known_jobs() const {
    std::lock_guard lock(state_->mutex);
    std::vector<JobId> out;
    for (const auto& [id, c] : state_->jobs) out.push_back(id);
    return out;
}

awaitable<Result<JobResult>> AzureFunctionExecutor::invoke(JobCall call) {
    auto r = co_await do_invoke(state_, std::move(call));
    if (!r) co_return std::unexpected(std::move(r.error()));
    co_return std::move(r->result);
}

awaitable<Result<InvocationOutcome>> AzureFunctionExecutor::invoke_with_metrics(JobCall call) {
    co_return co_await do_invoke(state_, std::move(call));
}

awaitable<Result<FaasDeployment>> AzureFunctionExecutor::deploy_job(JobId job_id, Bytes binary, FaasConfig config) {
    co_return co_await do_deploy(state_, job_id, std::move(binary), std::move(config));
}

awaitable<Result<bool>> AzureFunctionExecutor::health_check(JobId job_id) { co_return co_await do_health(state_, job_id); }

awaitable<Result<void>> AzureFunctionExecutor::warm(JobId job_id, std::size_t instances) {
    co_return co_await do_warm(state_, job_id, instances);
}

awaitable<Result<FaasDeployment>> AzureFunctionExecutor::get_deployment(JobId job_id) {
    co_return co_await do_get(state_, job_id);
}

awaitable<Result<void>> AzureFunctionExecutor::undeploy_job(JobId job_id) { co_return co_await do_undeploy(state_, job_id); }

}  // namespace blueprint::faas::azure
