// gcp::CloudFunctionExecutor: jobs as Google Cloud Functions (2nd gen).
//
// Each job is one HTTP function, "{prefix}-job-{id}", built from a Node.js 20
// source (packaging::package_gcp: the Functions Framework shim plus the
// native `bootstrap`). Control-plane calls go to the Cloud Functions v2 API
// with an OAuth access token; invocations go to the function's own URL with
// an ID token whose audience is that URL (ARCHITECTURE.md §8,
// docs/providers/gcp.md).
#pragma once

#include <blueprint/faas/executor.hpp>
#include <blueprint/faas/http_client.hpp>
#include <blueprint/log.hpp>

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::faas::gcp {

/// Where the executor's Google credentials come from. The first that is set
/// wins: `key_json`, `key_file`, $GOOGLE_APPLICATION_CREDENTIALS, then (when
/// `allow_metadata_server`) the GCE metadata server. A key that is named
/// but unreadable or malformed is an error, never a silent fallback.
struct Credentials {
    /// The service-account key JSON itself.
    std::string key_json;
    /// Path of a service-account key file.
    std::string key_file;
    /// Use the metadata server when no key is found (on GCE, Cloud Run, GKE).
    bool allow_metadata_server = true;
};

/// Every Google endpoint the executor talks to. Defaults are the real ones.
struct Endpoints {
    /// The Cloud Functions v2 API base, ending in "v2/".
    std::string api_base = "https://cloudfunctions.googleapis.com/v2/";
    /// OAuth token endpoint; empty means the key file's `token_uri`, else
    /// https://oauth2.googleapis.com/token.
    std::string token_uri;
    /// Metadata server "host[:port]"; empty means $GCE_METADATA_HOST, else
    /// metadata.google.internal. Always plain http, as on GCE.
    std::string metadata_host;
};

/// Settings of `CloudFunctionExecutor::create`.
struct CloudFunctionOptions {
    /// Project id. Empty: the key file's `project_id`.
    std::string project;
    /// Region, e.g. "us-central1". Required.
    std::string region;
    /// Function names are "{function_prefix}-job-{id}": lowercase letters,
    /// digits and '-', starting with a letter.
    std::string function_prefix = "blueprint";
    Credentials credentials;
    Endpoints endpoints;
    /// Used for jobs not deployed through this executor, and by deploy when
    /// the caller gives the default FaasConfig.
    FaasConfig default_config;
    /// serviceConfig.maxInstanceCount when FaasConfig::max_concurrency is unset;
    /// none leaves GCP's default.
    std::optional<std::uint32_t> max_concurrency;
    /// buildConfig.runtime and entryPoint; the shim registers "blueprint".
    std::string runtime = "nodejs20";
    std::string entry_point = "blueprint";
    /// Long-running operation polling: the first wait, its cap (the wait
    /// grows 1.5x per poll), and how long a deploy or delete may take in all.
    std::chrono::milliseconds poll_initial{1'000};
    std::chrono::milliseconds poll_max{10'000};
    std::chrono::milliseconds operation_timeout{std::chrono::minutes(20)};
    /// The HTTP client (its `retry` is the shared RetryPolicy: invocations
    /// retry 429 and 503 with it, inside the call's deadline).
    http::ClientOptions http;
    /// Deploy/undeploy progress, one line per step (upload, each poll).
    std::function<void(std::string_view)> progress;
    /// Logs; never receives tokens or key material.
    LogSink log;
};

/// Runs jobs as Cloud Functions (2nd gen).
///
/// Copies share state (token cache, function URLs). Thread-safe. Every
/// coroutine runs on the awaiting coroutine's executor; the executor object
/// must outlive the call. Cancelling the awaiting coroutine abandons the
/// request in flight (a started deploy keeps running on GCP's side).
class CloudFunctionExecutor final : public FaasExecutor {
public:
    /// Checks the options and loads the credentials (no network I/O).
    /// Errors: unauthorized for a missing, unreadable or malformed key (the
    /// message names the missing field, never the key material);
    /// invocation_failed for bad options.
    static std::expected<CloudFunctionExecutor, FaasError> create(CloudFunctionOptions options);

    /// "{prefix}-job-{id}" in decimal; an id above u64 is refused
    /// (invocation_failed), never truncated.
    Result<std::string> function_id(const JobId& job_id) const;
    /// "projects/{p}/locations/{r}/functions/{function_id}".
    Result<std::string> function_name(const JobId& job_id) const;
    const std::string& project() const noexcept;
    const std::string& region() const noexcept;

    awaitable<Result<JobResult>> invoke(JobCall call) override;
    /// cold_start comes from the shim's X-Blueprint-Cold-Start marker
    /// (the shim marks every instance's first reply, so absent means warm).
    awaitable<Result<InvocationOutcome>> invoke_with_metrics(JobCall call) override;
    awaitable<Result<FaasDeployment>> deploy_job(JobId job_id, Bytes binary, FaasConfig config) override;
    awaitable<Result<bool>> health_check(JobId job_id) override;
    awaitable<Result<void>> warm(JobId job_id, std::size_t instances = 1) override;
    awaitable<Result<FaasDeployment>> get_deployment(JobId job_id) override;
    awaitable<Result<void>> undeploy_job(JobId job_id) override;
    std::string_view provider_name() const noexcept override { return "gcp-cloud-functions"; }

    struct State;  // opaque; public so the .cpp's free coroutines can name it

private:
    explicit CloudFunctionExecutor(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
};

}  // namespace blueprint::faas::gcp
