// The local platform's function model: what a stored function is, how it is
// validated and persisted. Pure: no I/O. Private header.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::platform {

/// How instances of a function are run.
enum class RunModel {
    /// `bootstrap` runs as a warm instance speaking the Lambda Runtime API.
    lambda,
    /// `bootstrap` is spawned per invocation: request on stdin, reply on
    /// stdout (the custom platform API's original model, §10).
    stdio,
};

/// One function, as persisted in data_dir/functions/{name}/config.json.
struct FunctionConfig {
    std::string name;
    std::string runtime = "provided.al2023";
    std::string role = "arn:aws:iam::000000000000:role/bpfaas-local";
    std::string handler = "bootstrap";
    std::string description;
    unsigned memory_mb = 128;
    unsigned timeout_s = 3;
    std::map<std::string, std::string> env;
    std::string architecture = "x86_64";
    std::map<std::string, std::string> tags;
    std::optional<unsigned> reserved_concurrency;
    RunModel run_model = RunModel::lambda;
    /// Base64 SHA-256 of code.zip, and its size.
    std::string code_sha256;
    std::uint64_t code_size = 0;
    /// Lambda's format: "2024-05-01T12:00:00.000+0000".
    std::string last_modified;
    /// First deployment, ISO 8601 UTC ("2024-05-01T12:00:00Z").
    std::string deployed_at;
    /// Changes on every update (Lambda's RevisionId).
    std::string revision_id;
    /// "lambda" or "custom": which API created it.
    std::string created_via = "lambda";
};

std::string to_json(const FunctionConfig& config);
/// Reads a persisted config; a message naming the bad field on failure.
std::expected<FunctionConfig, std::string> config_from_json(std::string_view json);

// ---- validation (messages are shown to API callers) -------------------------

/// 1-64 of [a-zA-Z0-9-_].
std::optional<std::string> check_function_name(std::string_view name);
/// 128-10240 MB.
std::optional<std::string> check_memory(std::int64_t mb);
/// 1-900 s.
std::optional<std::string> check_timeout(std::int64_t seconds);
/// arn:aws:iam::123456789012:role/name (AWS's pattern).
std::optional<std::string> check_role(std::string_view role);
/// provided.al2023, provided.al2, provided; others are not runnable here.
std::optional<std::string> check_runtime(std::string_view runtime);
/// Names [a-zA-Z][a-zA-Z0-9_]*, none reserved by Lambda, 4 KB in all.
std::optional<std::string> check_environment(const std::map<std::string, std::string>& env);
/// 0 .. max.
std::optional<std::string> check_concurrency(std::int64_t value, unsigned max);

/// A function named in a path: a name, a partial or full ARN, each with an
/// optional ":qualifier". Returns the bare name and the qualifier (empty
/// when none). An error message when it matches none of these forms.
struct FunctionRef {
    std::string name;
    std::string qualifier;
};
std::expected<FunctionRef, std::string> parse_function_ref(std::string_view text);

/// "arn:aws:lambda:{region}:000000000000:function:{name}".
std::string function_arn(std::string_view region, std::string_view name);

// ---- time -------------------------------------------------------------------

/// "2024-05-01T12:00:00.000+0000" (Lambda's LastModified).
std::string lambda_timestamp(std::chrono::system_clock::time_point t);
/// "2024-05-01T12:00:00Z".
std::string iso8601(std::chrono::system_clock::time_point t);

/// A random RFC 4122 version-4 UUID, for request and revision ids.
std::string random_uuid();

}  // namespace blueprint::platform
