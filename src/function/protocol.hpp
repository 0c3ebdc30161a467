// HTTP mode's protocol logic, without sockets (STYLE.md habit 7): which route
// a request takes, how its body and headers become a JobCall, and how a
// JobResult becomes a reply. http_mode.cpp only moves bytes.
#pragma once

#include <blueprint/job.hpp>

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace blueprint::faas {
struct FaasError;
namespace wire {
struct Request;
namespace detail {
/// wire::decode_request_json, except that a body without a job id (neither
/// `job_id` nor `job_id_hex`, or both null) takes `default_id` instead of
/// failing. A present id is still validated. Defined in src/faas/wire.cpp
/// beside the public decoder; declared here because only HTTP mode uses it.
std::expected<Request, FaasError> decode_request_json(std::string_view json, const JobId& default_id);
}  // namespace detail
}  // namespace wire
}  // namespace blueprint::faas

namespace blueprint::function::detail {

enum class RouteKind {
    /// POST / or POST /job/{id}: the Blueprint wire formats.
    job,
    /// POST /api/functions/{id}/invoke: the custom platform API's reply shape.
    platform_invoke,
    /// GET /health.
    health,
    not_found,
    method_not_allowed,
    /// A known path with an unusable part (e.g. /job/abc).
    bad_request,
};

struct Route {
    RouteKind kind = RouteKind::not_found;
    /// The id of /job/{id}. It wins over the body's job_id (or the binary
    /// header) when both are given and differ: the path is what the caller
    /// routed on, so it is the id the handler sees.
    std::optional<JobId> path_job_id;
    /// The {id} of /api/functions/{id}/invoke when it parses as a job id.
    /// The platform route takes its id from the body (§10), so this is used
    /// only when the JSON body has none.
    std::optional<JobId> name_job_id;
    /// For 405: the Allow header.
    std::string_view allow;
    /// For bad_request / not_found: what to tell the caller.
    std::string message;
};

/// `target` may carry a query string; it is ignored.
Route classify_route(std::string_view method, std::string_view target);

enum class BodyFormat { json, binary };

/// Binary iff the media type is wire::binary_content_type; anything else
/// (including none, or a form type curl sends by default) is read as JSON.
BodyFormat body_format(std::string_view content_type);

struct RequestHeaders {
    std::string_view content_type;
    std::string_view job_id;    // X-Blueprint-Job-Id
    std::string_view metadata;  // X-Blueprint-Metadata
    std::string_view warmup;    // X-Blueprint-Warmup
};

struct HttpReply {
    unsigned status = 200;
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string_view, std::string>> headers;
};

struct ParsedJob {
    JobCall call;
    BodyFormat format = BodyFormat::json;
    bool warmup = false;
};

/// A 400 reply (JSON `{"error","code":"bad_request"}`) when the request is
/// unusable. The body is consumed: binary args are moved, not copied.
/// A JSON body on /job/{id} (or on /api/functions/{id}/invoke with a job id
/// as {id}) may leave out `job_id`: the path names the job.
std::expected<ParsedJob, HttpReply> parse_job_request(const Route& route, const RequestHeaders& headers, Bytes&& body);

struct ReplyExtras {
    bool cold_start = false;
    std::optional<double> execution_ms;
    std::optional<std::uint32_t> memory_used_mb;
};

/// The reply to a job.
///
/// Status policy: a failed job (an error result or a handler exception)
/// answers HTTP 200 with `"success":false` (JSON) or `X-Blueprint-Status:
/// error` (binary) on the Blueprint routes, like Lambda's 200 with
/// X-Amz-Function-Error: the function ran, the transport worked, and non-2xx
/// stays reserved for protocol and platform trouble (400, 404, 413, 5xx).
/// POST /api/functions/{id}/invoke follows the custom platform API (§10)
/// exactly instead: 500 `{job_id, result:[], success:false, error}`.
/// wire::decode_reply_json reads both shapes, whatever the status.
HttpReply make_job_reply(const Route& route, BodyFormat format, const JobId& job_id, const JobResult& result,
                         const ReplyExtras& extras);
/// `{"warmed":true,"result":[]}`, or an empty binary ok reply.
HttpReply make_warmup_reply(BodyFormat format, bool cold_start);
/// `{"error":message,"code":code}` with the given status.
HttpReply make_error_reply(unsigned status, std::string_view code, std::string_view message);
/// 200 `{"status":"healthy","formats":["json","binary"]}`.
HttpReply make_health_reply();

}  // namespace blueprint::function::detail
