// Cloud Functions v2 REST requests and replies (ARCHITECTURE.md §8).
// Pure: builds URLs and bodies, parses replies; no I/O.
//
// https://cloud.google.com/functions/docs/reference/rest/v2/projects.locations.functions
#pragma once

#include <blueprint/faas/error.hpp>
#include <blueprint/job.hpp>

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::faas::gcp::detail {

/// The fields deploy manages, and therefore the PATCH updateMask: a field in
/// the mask but absent from the body (maxInstanceCount with no limit set)
/// returns to GCP's default, so a redeploy is declarative.
inline constexpr std::string_view update_mask =
    "buildConfig.runtime,buildConfig.entryPoint,buildConfig.source,"
    "serviceConfig.availableMemory,serviceConfig.timeoutSeconds,"
    "serviceConfig.maxInstanceCount,serviceConfig.environmentVariables";

/// Cloud Functions 2nd gen bounds for HTTP functions.
inline constexpr std::uint32_t max_timeout_secs = 3600;
inline constexpr std::uint32_t min_memory_mb = 128;
inline constexpr std::uint32_t max_memory_mb = 32768;

/// Where the API is: base URL (ending in '/') and the parent location.
struct Api {
    std::string base;  ///< e.g. "https://cloudfunctions.googleapis.com/v2/"
    std::string project;
    std::string region;

    std::string parent() const { return "projects/" + project + "/locations/" + region; }
    std::string function_name(std::string_view function_id) const {
        return parent() + "/functions/" + std::string(function_id);
    }
    std::string generate_upload_url_url() const { return base + parent() + "/functions:generateUploadUrl"; }
    std::string create_url(std::string_view function_id) const;
    /// GET / DELETE of a function, GET of an operation: base + resource name.
    std::string resource_url(std::string_view name) const { return base + std::string(name); }
    std::string patch_url(std::string_view name) const;
};

/// Adds a trailing '/' when missing.
std::string normalize_base(std::string base);

/// Checks a prefix: lowercase letter first, then lowercase letters, digits
/// and '-' (Cloud Run service naming). Empty on success, else why not.
std::string check_prefix(std::string_view prefix);
/// "{prefix}-job-{id}" (decimal), at most 63 characters; ids above u64 are refused.
std::expected<std::string, FaasError> make_function_id(std::string_view prefix, const JobId& job_id);

/// "512M" for 512; parses "512M", "1G", "1Gi", "256Mi", "2048k"... back to MB
/// (rounded, binary and decimal units treated alike as the API does for
/// MB-sized values); nullopt when unreadable.
std::string memory_string(std::uint32_t memory_mb);
std::optional<std::uint32_t> parse_memory(std::string_view text);

/// What a deploy sends.
struct FunctionSpec {
    std::string name;
    std::string runtime = "nodejs20";
    std::string entry_point = "blueprint";
    /// The `storageSource` object from generateUploadUrl, as JSON text.
    std::string storage_source_json;
    std::uint32_t memory_mb = 512;
    std::uint32_t timeout_secs = 300;
    std::optional<std::uint32_t> max_instances;
    std::map<std::string, std::string> env;
};

/// `{"name","environment":"GEN_2","buildConfig":{...},"serviceConfig":{...}}`.
std::string function_body_json(const FunctionSpec& spec);
/// `{"environment":"GEN_2"}`.
std::string generate_upload_url_body();

struct UploadUrl {
    std::string upload_url;
    std::string storage_source_json;
};
std::expected<UploadUrl, FaasError> parse_upload_url(std::string_view body);

/// What GET v2/{name} says about a function.
struct FunctionInfo {
    std::string name;
    std::string state;  ///< ACTIVE, DEPLOYING, FAILED, DELETING, UNKNOWN, ...
    std::string uri;    ///< serviceConfig.uri; empty until deployed
    std::optional<std::uint32_t> memory_mb;
    std::optional<std::uint32_t> timeout_secs;
    std::optional<std::uint32_t> max_instances;
};
std::expected<FunctionInfo, FaasError> parse_function(std::string_view body);

/// A Google API error reply `{"error":{"code","message","status"}}` (or any
/// other body) as a FaasError: the kind from `status` when known, else from
/// the HTTP status; the message is `context: HTTP n STATUS: message`.
FaasError api_error(int http_status, std::string_view body, std::string_view context);

}  // namespace blueprint::faas::gcp::detail
