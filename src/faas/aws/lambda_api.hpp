// The Lambda API as LambdaExecutor uses it (ARCHITECTURE.md §6), as pure
// functions: request builders, signing into an http::Request, reply and
// error parsers, REPORT-line parsing and the state-poll decision. No I/O;
// unit-tested in tests/unit/test_lambda_api.cpp. Private header.
//
// The wire shapes follow the botocore model, lambda/2015-03-31/service-2.json.
#pragma once

#include "faas/aws/credentials.hpp"

#include <blueprint/faas/aws.hpp>
#include <blueprint/faas/config.hpp>
#include <blueprint/faas/error.hpp>
#include <blueprint/faas/http_client.hpp>

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::faas::aws::lambda_api {

// ---- names and endpoints -----------------------------------------------------

/// A prefix is 1-40 characters of [A-Za-z0-9_-] (so short ids always fit in 64).
bool valid_prefix(std::string_view prefix) noexcept;
/// "{prefix}-job-{JobId::to_string()}"; unsupported when over 64 characters.
std::expected<std::string, FaasError> function_name(std::string_view prefix, const JobId& job_id);
/// "https://lambda.{region}.amazonaws.com"
std::string default_endpoint(std::string_view region);
/// A region is 1-32 characters of [a-z0-9-] (it goes into a host name and the SigV4 scope).
bool valid_region(std::string_view region) noexcept;
/// memory 128-10240 MB, timeout 1-900 s; invocation_failed naming the limit otherwise.
std::optional<FaasError> validate_config(const FaasConfig& config);

// ---- requests ---------------------------------------------------------------------

/// One Lambda API call before signing.
struct ApiCall {
    /// The operation and the function it acts on, for messages
    /// ("CreateFunction", "blueprint-job-7").
    std::string operation;
    std::string subject;
    std::string method;
    /// Path as sent on the wire (already percent-encoded once).
    std::string path;
    /// Query without '?', each name and value percent-encoded.
    std::string query;
    /// JSON body; empty for none.
    std::string body;
    /// Extra headers, signed with the rest (X-Amz-Invocation-Type, ...).
    http::Headers headers;
    /// A 409 ResourceConflictException ("an update is in progress", "the
    /// function is Pending") proves nothing ran: retry it. Not for CreateFunction,
    /// whose 409 means the function already exists.
    bool retry_conflict = true;

    /// "CreateFunction blueprint-job-7"
    std::string what() const { return subject.empty() ? operation : operation + " " + subject; }
};

ApiCall get_function(std::string_view name);
ApiCall get_function_configuration(std::string_view name);
ApiCall delete_function(std::string_view name);
/// GET /2015-03-31/functions/?Marker=&MaxItems=
ApiCall list_functions(std::string_view marker, unsigned max_items = 50);
/// CreateFunction with runtime provided.al2023, handler bootstrap, the
/// config's memory, timeout and environment, and the architecture.
ApiCall create_function(std::string_view name, std::string_view role_arn, const FaasConfig& config,
                        Architecture arch, std::string_view zip_base64);
/// UpdateFunctionCode {"ZipFile","Architectures","Publish":false}: the
/// architecture is set here, not by UpdateFunctionConfiguration.
ApiCall update_function_code(std::string_view name, std::string_view zip_base64, Architecture arch);
/// UpdateFunctionConfiguration {"MemorySize","Timeout","Environment":{"Variables"}}.
ApiCall update_function_configuration(std::string_view name, const FaasConfig& config);
ApiCall put_function_concurrency(std::string_view name, std::uint32_t reserved);
ApiCall delete_function_concurrency(std::string_view name);
/// Invoke: X-Amz-Invocation-Type, X-Amz-Log-Type: Tail (RequestResponse
/// only; Event returns no log), ?Qualifier= when set.
ApiCall invoke(std::string_view name, std::string_view qualifier, std::string payload, InvocationType type);

/// The signed HTTP request for `call` against `endpoint` (no trailing '/'
/// needed). Host, Content-Type and the call's headers are signed; the
/// path is double-encoded in the signature, as Lambda wants.
std::expected<http::Request, FaasError> sign_call(const ApiCall& call, std::string_view endpoint,
                                                  const AwsCredentials& credentials, std::string_view region,
                                                  std::chrono::system_clock::time_point now);

// ---- replies ------------------------------------------------------------------------

/// A FunctionConfiguration object (GetFunctionConfiguration, Create..., Update...).
std::expected<LambdaFunctionInfo, FaasError> parse_function_configuration(std::string_view json);
/// GetFunction: {Configuration, Concurrency?}.
std::expected<LambdaFunctionInfo, FaasError> parse_get_function(std::string_view json);

struct FunctionPage {
    std::vector<LambdaFunctionInfo> functions;
    /// Empty when this is the last page.
    std::string next_marker;
};
std::expected<FunctionPage, FaasError> parse_list_functions(std::string_view json);

/// A non-2xx Lambda API reply as a FaasError. The code is x-amzn-ErrorType
/// up to its first ':', else the body's code/Code/__type (after any '#');
/// the message the body's message/Message; the request id x-amzn-RequestId;
/// Retry-After kept. Kinds: see LambdaExecutor in aws.hpp.
FaasError api_error(int status, const http::Headers& headers, std::string_view body, std::string_view what);
/// The error code api_error found ("ResourceNotFoundException"), for decisions.
std::string error_code_of(const http::Headers& headers, std::string_view body);
/// Whether another attempt may succeed and cannot run the job twice:
/// throttling, 5xx, ResourceNotReady and ServiceException replies
/// (`error_code` as from error_code_of), and 409 ResourceConflict when
/// `retry_conflict`.
bool retryable_reply(int status, std::string_view error_code, bool retry_conflict) noexcept;

// ---- invoke replies -------------------------------------------------------------------

/// The numbers of a log's REPORT line. Absent fields stay absent.
struct Report {
    std::optional<std::chrono::microseconds> duration;
    std::optional<std::chrono::microseconds> billed_duration;
    std::optional<std::chrono::microseconds> init_duration;
    std::optional<std::uint32_t> memory_size_mb;
    std::optional<std::uint32_t> max_memory_used_mb;
};
/// The last complete "REPORT RequestId: ..." line of `log` (tab-separated
/// "Name: value unit" fields); nullopt when there is none.
std::optional<Report> parse_report(std::string_view log);
/// `parse_report` of the base64 X-Amz-Log-Result; nullopt when absent or undecodable.
std::optional<Report> parse_log_result(std::string_view base64);
/// Duration -> execution_duration, Billed Duration -> billed_duration, Max
/// Memory Used -> memory_used_mb, cold_start = Init Duration present.
void apply_report(const Report& report, FaasMetrics& metrics);

/// A 2xx Invoke reply as the job's result. 202 (Event): ok, empty body,
/// metadata `invocation_status_key`="accepted" and `request_id_key`. With
/// X-Amz-Function-Error: an error result, code function_error (timeout for
/// "Task timed out"/Sandbox.Timedout), type errorType, message errorMessage.
/// Otherwise the Blueprint JSON reply; serialization when it is not one.
std::expected<JobResult, FaasError> interpret_invoke(int status, const http::Headers& headers, std::string_view body,
                                                     std::string_view what);

// ---- state polling ---------------------------------------------------------------

enum class Readiness {
    /// State Active and LastUpdateStatus Successful (or absent): invoke or update now.
    ready,
    /// Pending / InProgress (or Inactive): poll again.
    wait,
    /// State Failed or LastUpdateStatus Failed: stop, the reason says why.
    failed,
};
struct PollDecision {
    Readiness readiness = Readiness::wait;
    std::string reason;
};
PollDecision readiness(const LambdaFunctionInfo& info);
/// Only Active + Successful is healthy.
bool is_healthy(const LambdaFunctionInfo& info) noexcept;
/// Pause before state poll `attempt` (1-based): initial * 2^(attempt-1),
/// capped at `max`, with +-20% jitter from `random01` in [0,1).
std::chrono::milliseconds poll_delay(unsigned attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                     double random01) noexcept;

}  // namespace blueprint::faas::aws::lambda_api
