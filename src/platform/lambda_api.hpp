// The AWS Lambda control-plane subset (ARCHITECTURE.md §6) as pure
// functions: which operation a request is, what its body says, and the JSON
// of replies and errors, following the botocore model (lambda/2015-03-31).
// No I/O. Private header.
#pragma once

#include "platform/model.hpp"

#include <boost/system/error_code.hpp>

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::platform::lambda_api {

enum class Op {
    create_function,
    list_functions,
    get_function,
    get_function_configuration,
    delete_function,
    update_function_code,
    update_function_configuration,
    put_function_concurrency,
    get_function_concurrency,
    delete_function_concurrency,
    invoke,
    /// A Lambda API path this platform does not serve, or the wrong method.
    unsupported,
};

struct Route {
    Op op = Op::unsupported;
    /// The {FunctionName} path segment, percent-decoded.
    std::string function;
    /// The query string without '?'.
    std::string query;
};

/// nullopt when `target` is not under a Lambda API version prefix
/// (/2015-03-31/, /2017-10-31/, /2019-09-30/) at all.
std::optional<Route> route(std::string_view method, std::string_view target);

/// Whether `text` is one JSON value (Invoke's payload must be): the
/// parser's error, or success. Validates without building a document, with
/// boost::json::parse's default limits (depth 32, no comments).
boost::system::error_code validate_json(std::string_view text);

/// A Lambda API error reply.
struct ApiError {
    unsigned status = 400;
    /// The x-amzn-ErrorType, e.g. "ResourceNotFoundException".
    std::string type;
    std::string message;
    /// TooManyRequestsException: Retry-After seconds and Reason.
    std::optional<unsigned> retry_after;
    std::string reason;
};

/// The body of an error: {"Type":"User","message":...}, with "Message" for
/// the exceptions whose model spells it so (ResourceNotFoundException,
/// ServiceException, ...), and "Reason" for throttling.
std::string error_body(const ApiError& error);

ApiError not_found(std::string_view region, std::string_view name);
ApiError invalid_parameter(std::string message);
ApiError invalid_content(std::string message);
ApiError conflict(std::string message);
ApiError too_large(std::string message);
ApiError throttled(std::string reason, std::string message, unsigned retry_after = 1);
ApiError service_error(std::string message);
ApiError unsupported_operation(std::string_view method, std::string_view target);

/// Maps a decoded FunctionName to the stored name; only $LATEST (or no
/// qualifier) exists here, so another qualifier is not found.
std::expected<std::string, ApiError> function_name(std::string_view region, std::string_view path_name);

struct CreateRequest {
    FunctionConfig config;
    std::string zip;
};
/// CreateFunction: FunctionName, Role and Code.ZipFile are required; only
/// zip packages with a provided runtime are accepted.
std::expected<CreateRequest, ApiError> parse_create(std::string_view body, std::size_t max_zip_bytes);

struct CodeUpdate {
    std::string zip;
    std::optional<std::string> architecture;
    std::optional<std::string> revision_id;
    bool dry_run = false;
};
std::expected<CodeUpdate, ApiError> parse_update_code(std::string_view body, std::size_t max_zip_bytes);

/// UpdateFunctionConfiguration: applies the fields present to `config`
/// (Environment replaces all variables). RevisionId, when given, must match.
std::expected<void, ApiError> apply_update_configuration(std::string_view body, FunctionConfig& config);

/// PutFunctionConcurrency: {"ReservedConcurrentExecutions":N}.
std::expected<unsigned, ApiError> parse_put_concurrency(std::string_view body, unsigned max);

struct ListQuery {
    std::string marker;
    unsigned max_items = 50;
};
std::expected<ListQuery, ApiError> parse_list_query(std::string_view query);

/// The state shown in FunctionConfiguration.
struct Status {
    std::string state = "Active";
    std::string last_update_status = "Successful";
    std::string state_reason;
};

std::string function_configuration(const FunctionConfig& config, std::string_view region, const Status& status);
/// GetFunction: {Configuration, Code:{RepositoryType:"S3", Location}, Tags?, Concurrency?}.
std::string get_function(const FunctionConfig& config, std::string_view region, const Status& status,
                         std::string_view code_location);
/// ListFunctions: {"Functions":[...]} plus "NextMarker" when more follow.
std::string list_functions(const std::vector<std::string>& configurations, std::optional<std::string> next_marker);
/// {"ReservedConcurrentExecutions":N} or {} when none.
std::string concurrency(std::optional<unsigned> reserved);

/// The value of one query parameter, percent-decoded.
std::optional<std::string> query_param(std::string_view query, std::string_view name);
/// Percent-decoding ('+' stays '+'); nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace blueprint::platform::lambda_api
