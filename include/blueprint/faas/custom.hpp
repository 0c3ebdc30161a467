// custom::HttpFaasExecutor: per-job HTTP endpoints, or the full Blueprint
// custom FaaS platform API (ARCHITECTURE.md §10).
#pragma once

#include <blueprint/faas/executor.hpp>
#include <blueprint/faas/http_client.hpp>

#include <memory>
#include <string>

namespace blueprint::faas::custom {

enum class WireFormat {
    /// Blueprint JSON, understood by every endpoint and the Rust original.
    json,
    /// Binary framing: raw bodies, the rest in X-Blueprint-* headers.
    binary,
    /// The default in endpoint mode: binary where the endpoint declares it
    /// (ARCHITECTURE.md §4), else JSON. The first invoke to an origin asks
    /// `GET {origin}/health` once and caches the answer per origin: binary
    /// when the 2xx JSON reply's "formats" array holds "binary". While that
    /// probe is in flight, other calls to the origin use JSON. A transport
    /// failure (or 429/503) is not cached: that call uses JSON and a later
    /// one asks again. Platform mode always uses JSON.
    automatic,
};

/// Invokes jobs over HTTP.
///
/// Endpoint mode (`HttpFaasExecutor(base_url)`): job N is POSTed to
/// `{base}/job/N` unless `with_job_endpoint` says otherwise.
/// Platform mode (`HttpFaasExecutor::platform(base_url)`): every method
/// speaks the custom platform API, so deploy, health, warm, get and
/// undeploy work too.
///
/// Copies share state. Thread-safe.
class HttpFaasExecutor final : public FaasExecutor {
public:
    explicit HttpFaasExecutor(std::string base_url, http::ClientOptions client = {});
    static HttpFaasExecutor platform(std::string base_url, http::ClientOptions client = {});

    HttpFaasExecutor& with_job_endpoint(JobId job_id, std::string url);
    HttpFaasExecutor& with_header(std::string name, std::string value);
    /// Sends `Authorization: Bearer <token>`; the token is never logged.
    HttpFaasExecutor& with_bearer_token(std::string token);
    /// Deadline (and FaasConfig) for one job; others use the default.
    HttpFaasExecutor& with_job_config(JobId job_id, FaasConfig config);
    HttpFaasExecutor& with_default_config(FaasConfig config);
    /// Default `WireFormat::automatic`; `json` or `binary` force that format
    /// without a probe.
    HttpFaasExecutor& with_wire_format(WireFormat format);

    /// The URL job N is invoked at.
    std::string endpoint_for(const JobId& job_id) const;

    awaitable<Result<JobResult>> invoke(JobCall call) override;
    awaitable<Result<InvocationOutcome>> invoke_with_metrics(JobCall call) override;
    awaitable<Result<FaasDeployment>> deploy_job(JobId job_id, Bytes binary, FaasConfig config) override;
    awaitable<Result<bool>> health_check(JobId job_id) override;
    awaitable<Result<void>> warm(JobId job_id, std::size_t instances = 1) override;
    awaitable<Result<FaasDeployment>> get_deployment(JobId job_id) override;
    awaitable<Result<void>> undeploy_job(JobId job_id) override;
    std::string_view provider_name() const noexcept override { return "custom-http"; }

private:
    struct State;
    std::shared_ptr<State> state_;
};

/// Maps an HTTP client failure or an HTTP status to a FaasError kind:
/// refused -> infrastructure, deadline -> timeout, 404 -> not_found,
/// 401/403 -> unauthorized, 429/503 -> throttled, other 5xx -> function_error.
/// to_faas_error is http::to_faas_error without a context.
FaasError to_faas_error(const http::HttpError& error);
FaasError status_to_faas_error(int status, std::string_view body, std::string_view context);

}  // namespace blueprint::faas::custom
