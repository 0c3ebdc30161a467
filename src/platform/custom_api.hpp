// The Blueprint custom FaaS platform API (ARCHITECTURE.md §10) as pure
// functions: routes, the X-Blueprint-Config header, reply and error JSON.
// No I/O. Private header.
#pragma once

#include "platform/model.hpp"

#include <blueprint/faas/wire.hpp>

#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::platform::custom_api {

enum class Op { deploy, invoke, health, get, remove, warm, unsupported };

struct Route {
    Op op = Op::unsupported;
    std::string id;
};

/// nullopt when `target` is not under /api/functions/.
std::optional<Route> route(std::string_view method, std::string_view target);

/// An error reply: {"error","code","details"}.
struct ApiError {
    unsigned status = 400;
    /// Machine-readable: not_found, already_exists, invalid_request,
    /// payload_too_large, unauthorized, throttled, conflict, storage_failed, internal.
    std::string code;
    std::string message;
    std::string details;
};
std::string error_body(const ApiError& error);

/// Defaults of §10: memory 512 MB, timeout 300 s.
struct DeployConfig {
    unsigned memory_mb = 512;
    unsigned timeout_secs = 300;
    std::optional<unsigned> max_concurrency;
    std::map<std::string, std::string> env_vars;
    RunModel run_model = RunModel::lambda;
};

/// Decodes X-Blueprint-Config (base64 of JSON {memory_mb, timeout_secs,
/// max_concurrency, env_vars, runtime: "lambda"|"stdio"}); empty -> defaults.
/// Unknown fields are ignored; out-of-range values are refused.
std::expected<DeployConfig, ApiError> parse_deploy_config(std::string_view header, unsigned max_concurrency);

/// A config for a function deployed through this API.
FunctionConfig to_function_config(std::string_view id, const DeployConfig& config);

/// 200 {function_id, endpoint, status:"deployed", cold_start_ms, memory_mb, timeout_secs}
/// plus, for GET, deployed_at and binary_size_bytes.
std::string deployment(const FunctionConfig& config, std::string_view endpoint, std::uint64_t cold_start_ms,
                       bool with_details);

/// 200 {job_id, result, success:true, execution_ms, memory_used_mb, cold_start} or
/// 500 {job_id, result:[], success:false, error, error_type}.
struct InvokeReply {
    unsigned status;
    std::string body;
};
InvokeReply invoke_reply(const JobId& job_id, const faas::wire::Reply& reply, double execution_ms,
                         unsigned memory_used_mb, bool cold_start);

/// {function_id, status, last_invocation, total_invocations}.
std::string health(std::string_view id, std::string_view status, std::optional<std::string> last_invocation,
                   std::uint64_t total_invocations);

std::string deleted(std::string_view id);
std::string warmed(std::string_view id, unsigned instances);

/// The instance count of a warm request: body {"instances":N} or query
/// ?instances=N; 1 when absent. Capped by `max`.
std::expected<unsigned, ApiError> parse_warm_count(std::string_view body, std::string_view query, unsigned max);

/// True when `authorization` is "Bearer <key>" (constant-time compare).
bool bearer_matches(std::string_view authorization, std::string_view key) noexcept;

}  // namespace blueprint::platform::custom_api
