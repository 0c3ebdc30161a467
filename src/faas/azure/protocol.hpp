// The Azure provider's protocol logic without I/O (STYLE.md habit 7):
// request builders (auth.cpp, arm.cpp, kudu.cpp), reply parsers, and the
// decisions of the polling loops. executor.cpp only moves bytes.
#pragma once

#include <blueprint/faas/azure.hpp>
#include <blueprint/faas/error.hpp>
#include <blueprint/faas/http_client.hpp>

#include <chrono>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::faas::azure::detail {

// ---- API versions (each ARM call carries one) ----------------------------
inline constexpr std::string_view resource_group_api_version = "2021-04-01";
inline constexpr std::string_view web_api_version = "2022-09-01";
inline constexpr std::string_view managed_identity_api_version = "2019-08-01";

// ---- text helpers ------------------------------------------------------------

/// RFC 3986 percent-encoding of everything but unreserved characters.
std::string percent_encode(std::string_view text);
/// application/x-www-form-urlencoded body of `fields`, in the given order.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);
/// `base` without trailing slashes.
std::string trim_slashes(std::string_view base);
/// The template with every `{app}` replaced by `app`, trailing '/' removed.
std::string expand_app_template(std::string_view url_template, std::string_view app);
/// Replaces each non-empty secret in `text` by "<redacted>".
std::string redact(std::string text, const std::vector<std::string_view>& secrets);
/// Whether `name` is a valid function app name: 2-60 of [a-z0-9-] (any
/// case), not starting or ending with '-'.
bool valid_app_name(std::string_view name);

// ---- credentials and tokens -------------------------------------------------

/// Where the ARM token comes from.
struct CredentialSource {
    enum class Kind { client_secret, managed_identity, none } kind = Kind::none;
    ClientSecretCredential secret;
    std::string identity_endpoint;
    std::string identity_header;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

/// Explicit credential, else AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET,
/// else IDENTITY_ENDPOINT/IDENTITY_HEADER (or the endpoints' overrides).
/// A partial service principal in the environment is an error that names the
/// missing variables (never their values).
std::expected<CredentialSource, FaasError> choose_credential(const AzureOptions& options, const EnvLookup& env);

/// POST {authority}/{tenant}/oauth2/v2.0/token, form-encoded client_id,
/// client_secret, grant_type=client_credentials, scope.
http::Request client_credentials_request(const Endpoints& endpoints, const ClientSecretCredential& credential);
/// GET {endpoint}?resource=...&api-version=2019-08-01 with X-IDENTITY-HEADER.
/// The resource is the scope without "/.default", ending in '/'.
http::Request managed_identity_request(const Endpoints& endpoints, std::string_view endpoint, std::string_view header);

struct AccessToken {
    std::string value;
    std::chrono::system_clock::time_point obtained;
    std::chrono::system_clock::time_point expires;
};

/// Reads a token reply of either source: `access_token` plus `expires_in`
/// (seconds, number or text) or `expires_on` (Unix seconds, number or text).
/// Entra errors (`error`, `error_description`) and non-2xx statuses become
/// FaasErrors (401/400/403 -> unauthorized).
std::expected<AccessToken, FaasError> parse_token_response(int status, std::string_view body,
                                                           std::chrono::system_clock::time_point now);

/// When to fetch a new token: five minutes before expiry, or half-way
/// through a shorter lifetime.
std::chrono::system_clock::time_point refresh_at(const AccessToken& token);
bool needs_refresh(const AccessToken& token, std::chrono::system_clock::time_point now);

// ---- ARM -----------------------------------------------------------------------

struct ArmTarget {
    std::string arm;  // endpoint, no trailing slash
    std::string subscription;
    std::string resource_group;
    std::string app;
};

std::string resource_group_url(const ArmTarget& t);
std::string plan_name(const ArmTarget& t);
std::string plan_url(const ArmTarget& t);
std::string plan_id(const ArmTarget& t);
std::string site_url(const ArmTarget& t);
std::string functions_url(const ArmTarget& t);
std::string function_url(const ArmTarget& t, std::string_view function);
std::string list_keys_url(const ArmTarget& t);

std::string resource_group_body(std::string_view region);
/// Consumption: sku Y1/Dynamic, kind functionapp; premium: EPn/ElasticPremium,
/// kind elastic; both Linux (reserved).
std::string plan_body(std::string_view region, PlanKind plan, std::string_view sku);
/// kind functionapp,linux, reserved, httpsOnly, siteConfig.appSettings with
/// FUNCTIONS_WORKER_RUNTIME=Custom and FUNCTIONS_EXTENSION_VERSION=~4 first,
/// then AzureWebJobsStorage (when given), then `env` (which cannot override
/// the first two).
std::string site_body(const ArmTarget& t, std::string_view region, std::string_view storage,
                      const std::map<std::string, std::string>& env);

/// ARM's error `{"error":{"code","message"}}` or a status as a FaasError:
/// 401/403 unauthorized, 404 not_found, 429 throttled (Retry-After), 5xx
/// infrastructure, other 4xx invocation_failed. `what` leads the message.
FaasError arm_error(const http::Response& response, std::string_view what);

/// properties.state of a site ("Running", "Stopped", ...); empty if absent.
std::expected<std::string, FaasError> parse_site_state(std::string_view body);

/// The function names of a functions list and its nextLink.
struct FunctionList {
    std::vector<std::string> names;
    std::string next_link;
};
std::expected<FunctionList, FaasError> parse_function_list(std::string_view body);

/// functionKeys.default, else another function key, else the master key.
std::expected<std::string, FaasError> parse_host_keys(std::string_view body);

/// The decision after an ARM call that may finish asynchronously (202 with
/// Azure-AsyncOperation or Location).
enum class ArmAsync { done, poll, failed };
struct ArmAsyncStep {
    ArmAsync step = ArmAsync::done;
    std::string poll_url;
    std::string message;
};
/// For the first reply: 200/201/204 done; 202 poll (Azure-AsyncOperation, else Location).
ArmAsyncStep arm_async_start(const http::Response& response);
/// For a poll of Azure-AsyncOperation: status Succeeded done, Failed/Canceled
/// failed, anything else poll again. For a Location poll: 202 again, 2xx done.
ArmAsyncStep arm_async_poll(const http::Response& response, bool azure_async_operation);

// ---- Kudu zip deploy ----------------------------------------------------------

/// POST {scm}/api/zipdeploy?isAsync=true, bearer token, application/zip.
http::Request zipdeploy_request(std::string_view scm_base, std::string_view token, std::string body);
/// An absolute status URL from the Location header (which may be relative to `scm_base`).
std::string absolute_location(std::string_view scm_base, std::string_view location);

/// Kudu's DeployStatus: Pending 0, Building 1, Deploying 2, Failed 3, Success 4.
enum class DeployPhase { in_progress, succeeded, failed, missing };
struct DeployStatus {
    DeployPhase phase = DeployPhase::in_progress;
    /// status_text or message for people.
    std::string message;
};
/// 202 in progress; 200 by `status`/`complete`; 404 missing (the record may
/// not exist yet); 401/403 and other statuses are errors.
std::expected<DeployStatus, FaasError> parse_deploy_status(int http_status, std::string_view body);

/// Backoff before poll `attempt` (1-based): initial * 2^(attempt-1), capped.
std::chrono::milliseconds poll_delay(unsigned attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max);

// ---- invocations ----------------------------------------------------------------

/// POST {site}/api/{function} with x-functions-key (never `?code=`).
http::Request invoke_request(std::string_view site_base, std::string_view function, std::string_view key,
                             std::string body, bool warmup);

/// A non-200 reply of an invocation: 401/403 unauthorized, 404 not_found,
/// 429/503 throttled, 500 function_error (the host's answer to a failed or
/// crashed handler), 504 timeout, other 5xx infrastructure, other 4xx
/// invocation_failed.
FaasError invoke_error(const http::Response& response, std::string_view what);

}  // namespace blueprint::faas::azure::detail
