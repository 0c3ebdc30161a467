// aws::LambdaExecutor: jobs as AWS Lambda functions (ARCHITECTURE.md §3, §6).
//
// One function per job, named "{function_prefix}-job-{id}" (id in decimal
// when it fits in u64, else 0x-hex; never truncated). Functions run the
// `provided.al2023` runtime with the job's binary as `bootstrap`, so any
// binary built on blueprint::function::serve works unchanged. Requests are
// SigV4-signed with credentials from LambdaOptions::credentials or the
// standard chain. Point `endpoint_url` at `bpfaas local` to run everything
// on 127.0.0.1 (docs/providers/aws.md).
//
// Beast, OpenSSL and Boost.JSON stay in src/faas/aws/.
#pragma once

#include <blueprint/faas/executor.hpp>
#include <blueprint/faas/http_client.hpp>

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::faas::aws {

/// The instruction set of the function (CreateFunction/UpdateFunctionCode `Architectures`).
enum class Architecture { x86_64, arm64 };
/// "x86_64" or "arm64".
std::string_view to_string(Architecture arch) noexcept;
/// Parses "x86_64"/"amd64"/"arm64"/"aarch64"; nullopt otherwise.
std::optional<Architecture> parse_architecture(std::string_view text) noexcept;

/// How `invoke` calls the function (X-Amz-Invocation-Type).
enum class InvocationType {
    /// Synchronous: wait for the function and return its result.
    request_response,
    /// Asynchronous, fire-and-forget: Lambda queues the event and answers
    /// 202. The JobResult is then an ok result with an EMPTY body whose
    /// metadata holds `invocation_status_key` = "accepted" and
    /// `request_id_key` = Lambda's request id; the job's own outcome is not
    /// observable through this executor.
    event,
};

/// Result metadata set on Event invocations (see InvocationType::event).
inline constexpr std::string_view invocation_status_key = "X-BLUEPRINT-LAMBDA-INVOCATION";
/// Lambda's request id (x-amzn-RequestId) of an Event invocation.
inline constexpr std::string_view request_id_key = "X-BLUEPRINT-LAMBDA-REQUEST-ID";

/// Lambda's documented limits, checked before a request is sent.
inline constexpr std::uint64_t max_zip_bytes = 50ull * 1024 * 1024;           ///< direct ZipFile upload
inline constexpr std::uint64_t max_sync_payload_bytes = 6ull * 1024 * 1024;   ///< RequestResponse, each way
inline constexpr std::uint32_t min_memory_mb = 128, max_memory_mb = 10240;
inline constexpr std::uint32_t min_timeout_secs = 1, max_timeout_secs = 900;
/// Lambda function names are at most 64 characters.
inline constexpr std::size_t max_function_name = 64;

/// Long-term or session keys given explicitly (step 1 of the chain).
/// Never printed by this library.
struct StaticCredentials {
    std::string access_key_id;
    std::string secret_access_key;
    /// Empty for long-term keys.
    std::string session_token{};
};

/// Everything the executor needs. Plain aggregate; defaults noted per field.
struct LambdaOptions {
    /// Region, e.g. "us-east-1". Empty: AWS_REGION, AWS_DEFAULT_REGION, then
    /// the profile's `region`; create() fails when none is found.
    std::string region;
    /// Execution role passed to CreateFunction. Needed by deploy_job only.
    std::string role_arn;
    /// Functions are named "{function_prefix}-job-{id}".
    std::string function_prefix = "blueprint";
    /// Overrides https://lambda.{region}.amazonaws.com, e.g. "http://127.0.0.1:9000"
    /// for `bpfaas local` (like the AWS CLI's --endpoint-url).
    std::string endpoint_url;
    Architecture architecture = Architecture::x86_64;
    /// Version or alias invoked (?Qualifier=); empty for $LATEST.
    std::string qualifier;
    /// Config of jobs not deployed through this executor (their invocation
    /// deadline is its timeout_secs). deploy_job records each job's own.
    FaasConfig default_config;
    InvocationType invocation_type = InvocationType::request_response;
    /// Explicit keys; when absent the standard chain is walked: environment,
    /// shared files (static keys or credential_process), container
    /// credentials, EC2 IMDSv2.
    std::optional<StaticCredentials> credentials;
    /// Profile of the shared files; overrides AWS_PROFILE.
    std::optional<std::string> profile;
    /// Where the chain reads environment variables (nullopt when unset).
    /// Empty: the process environment. Injected by tests.
    std::function<std::optional<std::string>(std::string_view)> env;
    /// Skip EC2 IMDSv2 in the chain (it costs a connect timeout off EC2).
    bool use_imds = true;
    /// The HTTP client's settings. Its `retry` policy (attempts, backoff,
    /// max_elapsed) governs the executor's retries of TooManyRequests, 5xx
    /// and ResourceNotReady replies; the HTTP client itself never resends.
    http::ClientOptions http;
    /// Bound on deploy_job's whole wait for State Active / LastUpdateStatus
    /// Successful (each wait, not the sum).
    std::chrono::milliseconds deploy_wait{600'000};
    /// First and largest pause between state polls (doubling, with jitter).
    std::chrono::milliseconds poll_initial{200};
    std::chrono::milliseconds poll_max{5'000};
    /// Deadline of each control-plane request (GetFunction, Create..., Delete...).
    std::chrono::milliseconds api_timeout{60'000};
    /// Deploy progress ("packaging", "uploading", "waiting for Active"), one
    /// line per step; none when empty. Called on the I/O thread.
    std::function<void(std::string_view)> progress;
};

/// One function as ListFunctions / GetFunctionConfiguration report it.
struct LambdaFunctionInfo {
    std::string name;
    std::string arn;
    std::string state;               ///< Pending, Active, Inactive, Failed
    std::string last_update_status;  ///< InProgress, Successful, Failed
    std::string state_reason;
    std::uint32_t memory_mb = 0;
    std::uint32_t timeout_secs = 0;
    std::string architecture;
    std::uint64_t code_size = 0;
    std::string last_modified;
    /// ReservedConcurrentExecutions (GetFunction only).
    std::optional<std::uint32_t> reserved_concurrency;
};

/// Runs jobs on AWS Lambda (or anything speaking its API, e.g. `bpfaas local`).
///
/// Errors: a job that ran and failed (X-Amz-Function-Error) is an error
/// JobResult with code `faas_errc::function_error` and the function's
/// errorType / errorMessage as the JobError's type / message; a function
/// killed at its timeout ("Task timed out", errorType Sandbox.Timedout) is
/// an error JobResult with code `faas_errc::timeout` instead. API failures
/// are FaasErrors: ResourceNotFound -> not_found, TooManyRequests/429 ->
/// throttled, AccessDenied/UnrecognizedClient/InvalidSignature/403 ->
/// unauthorized, 5xx/ResourceNotReady/Service -> infrastructure, a request
/// over Lambda's limits (6 MB sync payload, 50 MB zip; checked before
/// sending) -> serialization, others -> invocation_failed; the request id
/// is kept in FaasError::request_id.
///
/// Deadlines: every invoke, with its retries and backoffs, fits within the
/// job's FaasConfig::timeout_secs; cancelling the awaiting coroutine
/// abandons the request (faas_errc::timeout).
///
/// Thread-safe; the executor may be shared by any number of coroutines on
/// any threads. It must outlive the calls made on it.
class LambdaExecutor final : public FaasExecutor {
public:
    /// Checks the options (region resolvable, prefix valid, endpoint URL
    /// parseable) and builds the executor. Credentials are resolved lazily,
    /// on the first request. Use as `.with_faas_executor(1, *executor)`.
    static std::expected<std::shared_ptr<LambdaExecutor>, FaasError> create(LambdaOptions options);

    /// "{prefix}-job-{id}", or `unsupported` when the name would exceed
    /// Lambda's 64 characters (ids of 2^192 and above with the default prefix).
    std::expected<std::string, FaasError> function_name(const JobId& job_id) const;
    /// The resolved region and endpoint.
    const std::string& region() const noexcept;
    const std::string& endpoint() const noexcept;

    /// Sets the config (invocation deadline) of one job without deploying it.
    LambdaExecutor& with_job_config(JobId job_id, FaasConfig config);

    /// ListFunctions (following NextMarker), keeping functions named
    /// "{prefix}-job-...".
    awaitable<Result<std::vector<LambdaFunctionInfo>>> list_functions();
    /// GetFunction as a LambdaFunctionInfo (with reserved concurrency).
    awaitable<Result<LambdaFunctionInfo>> describe(JobId job_id);

    awaitable<Result<JobResult>> invoke(JobCall call) override;
    awaitable<Result<InvocationOutcome>> invoke_with_metrics(JobCall call) override;
    /// Packages `binary` (a function executable, or a zip already holding
    /// `bootstrap`) with packaging::package_lambda, refuses a zip over 50 MB,
    /// creates or updates the function, waits for Active/Successful, applies
    /// memory/timeout/environment, sets reserved concurrency when
    /// `max_concurrency` is set, and warms `keep_warm` instances.
    /// provider_options: "architecture" ("x86_64"/"arm64") overrides the executor's.
    awaitable<Result<FaasDeployment>> deploy_job(JobId job_id, Bytes binary, FaasConfig config) override;
    /// GetFunctionConfiguration: true only for State Active and
    /// LastUpdateStatus Successful; false when missing, Pending, Inactive or
    /// Failed; an error only when Lambda cannot be reached or refuses us.
    awaitable<Result<bool>> health_check(JobId job_id) override;
    /// `instances` concurrent synchronous warm-up invokes (the Blueprint
    /// warm-up event), so that many instances are started and stay warm.
    awaitable<Result<void>> warm(JobId job_id, std::size_t instances = 1) override;
    /// GetFunction; endpoint is the function ARN.
    awaitable<Result<FaasDeployment>> get_deployment(JobId job_id) override;
    /// DeleteFunction; a missing function counts as done.
    awaitable<Result<void>> undeploy_job(JobId job_id) override;
    std::string_view provider_name() const noexcept override { return "aws-lambda"; }

    struct State;  // opaque; public only so the .cpp's free coroutines can name it

private:
    explicit LambdaExecutor(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
};

}  // namespace blueprint::faas::aws
