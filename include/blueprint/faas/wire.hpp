// Wire formats between executors and functions (ARCHITECTURE.md §4,
// docs/wire-format.md). Pure functions: no I/O.
#pragma once

#include <blueprint/faas/error.hpp>
#include <blueprint/job.hpp>

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace blueprint::faas::wire {

/// Content type of the Blueprint JSON form.
inline constexpr std::string_view json_content_type = "application/json";
/// Content type of the binary framing: the body is the raw args / result.
inline constexpr std::string_view binary_content_type = "application/vnd.blueprint.job+octet-stream";

/// Binary-framing headers. The job id is "0x"-prefixed hex or decimal.
inline constexpr std::string_view header_job_id = "X-Blueprint-Job-Id";
/// base64 of the JSON metadata object (see `encode_metadata_json`).
inline constexpr std::string_view header_metadata = "X-Blueprint-Metadata";
/// Reply header: "ok" or "error". An error reply's body is the message.
inline constexpr std::string_view header_status = "X-Blueprint-Status";
/// Reply header: the function's error type, on an error reply.
inline constexpr std::string_view header_error_type = "X-Blueprint-Error-Type";
/// Reply header: "1" on the first request an instance served (a cold start).
inline constexpr std::string_view header_cold_start = "X-Blueprint-Cold-Start";
/// Request header marking a warm-up event in either format.
inline constexpr std::string_view header_warmup = "X-Blueprint-Warmup";

/// A request as a function sees it.
struct Request {
    JobId job_id;
    Bytes args;
    Metadata metadata;
    /// True for the warm-up event: answer at once, do not run the job.
    bool warmup = false;
};

/// A reply as an executor sees it.
struct Reply {
    bool success = true;
    Bytes result;
    /// On failure: the message and the function's own error type.
    std::string error;
    std::string error_type;
    /// Extra fields of the custom platform API, when present.
    std::optional<double> execution_ms;
    std::optional<std::uint32_t> memory_used_mb;
    std::optional<bool> cold_start;
};

// ---- Blueprint JSON -------------------------------------------------------

/// `{"job_id":7,"args":[...]}`, plus `"metadata"` when the call has any.
/// An id above u64 is sent as `"job_id_hex":"0x..."` without `job_id`, so an
/// original (u32) reader fails loudly rather than truncating.
std::string encode_request_json(const JobCall& call);
/// `{"warmup":true,"job_id":7,"args":[]}`.
std::string encode_warmup_json(const JobId& job_id);
/// Accepts the original's form and ours; ignores unknown fields.
std::expected<Request, FaasError> decode_request_json(std::string_view json);

/// `{"result":[...]}` on success; `{"success":false,"error":"...","error_type":"...","result":[]}` on failure.
std::string encode_reply_json(const Reply& reply);
/// Accepts `result` as a byte array or a string (its UTF-8 bytes), and
/// `"success":false` with `"error"` (string or {"message","type"}) as failure.
std::expected<Reply, FaasError> decode_reply_json(std::string_view json);

/// `{"key":[bytes],...}`; sensitive values as `{"value":[bytes],"sensitive":true}`.
std::string encode_metadata_json(const Metadata& metadata);
std::expected<Metadata, FaasError> decode_metadata_json(std::string_view json);

// ---- conversions ----------------------------------------------------------

/// A reply as a JobResult (error code `faas_errc::function_error` on failure).
JobResult reply_to_job_result(Reply reply);
/// A handler's JobResult as a reply.
Reply job_result_to_reply(const JobResult& result);

/// Base64 (RFC 4648, with padding), for headers and Lambda payloads.
std::string base64_encode(std::string_view data);
std::expected<std::string, FaasError> base64_decode(std::string_view text);

}  // namespace blueprint::faas::wire
