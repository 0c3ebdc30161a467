// azure::AzureFunctionExecutor: jobs as Azure Functions custom handlers
// (ARCHITECTURE.md §9, docs/providers/azure.md).
//
// One function app hosts every job this executor deploys: each job is the
// function `job{id}` of the app, all served by the same `bootstrap` binary.
// Deploying a job packages the jobs already in the app plus the new one and
// zip-deploys the lot; undeploying one redeploys the rest, and deletes the
// app (and the plan it created) when no job is left.
#pragma once

#include <blueprint/faas/executor.hpp>
#include <blueprint/faas/http_client.hpp>

#include <chrono>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::faas::azure {

/// The hosting plan the executor creates for the app.
enum class PlanKind {
    /// Linux Consumption, sku "Y1" (tier Dynamic): pay per execution, scales
    /// to zero, at most 10 minutes per execution (230 s per HTTP request).
    consumption,
    /// Elastic Premium, sku "EP1" (or EP2/EP3 in `plan_sku`): pre-warmed
    /// instances, no cold starts, longer executions.
    premium,
    /// Flex Consumption ("FC1"). Refused by `create` with `unsupported`: it is
    /// deployed through a storage container and the one-deploy API, not zip
    /// deploy (see docs/providers/azure.md).
    flex_consumption,
};

/// "consumption", "premium", "flex"; nullopt for anything else.
std::optional<PlanKind> parse_plan_kind(std::string_view text) noexcept;
std::string_view to_string(PlanKind kind) noexcept;

/// A service principal's client secret (client-credentials grant).
struct ClientSecretCredential {
    std::string tenant_id;
    std::string client_id;
    /// Never logged, never part of an error message.
    std::string client_secret;
};

/// Where each service is. Every field can point elsewhere (a sovereign cloud,
/// a test server); `{app}` in the templates is the app name.
struct Endpoints {
    /// Entra ID authority; the token endpoint is {authority}/{tenant}/oauth2/v2.0/token.
    std::string authority = "https://login.microsoftonline.com";
    /// Azure Resource Manager.
    std::string arm = "https://management.azure.com";
    /// Kudu (zip deploy).
    std::string scm_url_template = "https://{app}.scm.azurewebsites.net";
    /// The app itself (invocations).
    std::string site_url_template = "https://{app}.azurewebsites.net";
    /// The token scope for ARM and Kudu.
    std::string scope = "https://management.azure.com/.default";
    /// Managed identity's endpoint and header; empty = IDENTITY_ENDPOINT and
    /// IDENTITY_HEADER from the environment.
    std::string identity_endpoint;
    std::string identity_header;
};

struct AzureOptions {
    std::string subscription_id;
    std::string resource_group;
    /// The function app (globally unique: it is a host name).
    std::string app_name;
    /// Azure region of the resource group, plan and app, e.g. "westeurope".
    std::string region;
    PlanKind plan = PlanKind::consumption;
    /// Empty: "Y1" for consumption, "EP1" for premium.
    std::string plan_sku;
    /// Explicit service-principal credentials. Without them: AZURE_TENANT_ID,
    /// AZURE_CLIENT_ID and AZURE_CLIENT_SECRET from the environment, else a
    /// managed identity (IDENTITY_ENDPOINT + IDENTITY_HEADER).
    std::optional<ClientSecretCredential> credential;
    /// The app's `AzureWebJobsStorage` connection string. Real Azure needs a
    /// storage account for the Functions host; the executor does not create
    /// one. Never logged.
    std::string storage_connection_string;
    /// A function key to invoke with instead of fetching one with listKeys
    /// (invoke-only use without ARM rights). Never logged.
    std::string function_key;
    /// Used for jobs deployed without their own config (and by invoke of a
    /// job this executor did not deploy).
    FaasConfig default_config;
    Endpoints endpoints;
    http::ClientOptions client;
    /// How long deploy_job waits for the zip deployment to finish.
    std::chrono::milliseconds deploy_timeout{std::chrono::minutes(15)};
    /// Bounds of the backoff between deployment-status polls.
    std::chrono::milliseconds poll_initial{std::chrono::seconds(1)};
    std::chrono::milliseconds poll_max{std::chrono::seconds(15)};
};

/// Runs jobs as functions of one Azure function app.
///
/// Copies share state. Thread-safe. Every coroutine runs on the awaiting
/// coroutine's executor; cancelling it abandons the request in flight.
class AzureFunctionExecutor final : public FaasExecutor {
public:
    /// Checks the options and picks the credential. Refuses (invocation_failed)
    /// a missing subscription, resource group, app or region, or an app name
    /// that is not a valid host label; `unsupported` for Flex Consumption;
    /// `unauthorized` when no credential is found and no function key is given.
    static std::expected<AzureFunctionExecutor, FaasError> create(AzureOptions options);

    awaitable<Result<JobResult>> invoke(JobCall call) override;
    awaitable<Result<InvocationOutcome>> invoke_with_metrics(JobCall call) override;
    awaitable<Result<FaasDeployment>> deploy_job(JobId job_id, Bytes binary, FaasConfig config) override;
    awaitable<Result<bool>> health_check(JobId job_id) override;
    awaitable<Result<void>> warm(JobId job_id, std::size_t instances = 1) override;
    awaitable<Result<FaasDeployment>> get_deployment(JobId job_id) override;
    awaitable<Result<void>> undeploy_job(JobId job_id) override;
    std::string_view provider_name() const noexcept override { return "azure-functions"; }

    /// Deadline (and FaasConfig) for one job; others use the default.
    AzureFunctionExecutor& with_job_config(JobId job_id, FaasConfig config);

    /// "https://{app}.azurewebsites.net/api/job{id}".
    std::string function_url(const JobId& job_id) const;
    /// Jobs this executor knows to be in the app, in id order.
    std::vector<JobId> known_jobs() const;

    /// Progress lines for people (deploy steps, polls), besides the log sink.
    AzureFunctionExecutor& on_progress(std::function<void(std::string_view)> callback);

    struct State;

private:
    explicit AzureFunctionExecutor(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

}  // namespace blueprint::faas::azure
