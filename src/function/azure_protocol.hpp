// Azure custom-handler mode's protocol logic, without sockets (ARCHITECTURE.md
// §9, STYLE.md habit 7). azure_mode.cpp plugs `accept_azure_request` into the
// HTTP server as its front.
//
// The Functions host talks to a custom handler in one of two ways
// (https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers):
// - forwarding on (host.json `enableForwardingHttpRequest`, our packages): the
//   caller's HTTP request arrives unchanged at `/api/{function}`, and the
//   handler's HTTP reply goes back to the caller unchanged;
// - forwarding off: the host POSTs a JSON envelope to `/{function}`,
//   `{"Data":{"req":{"Url","Method","Query","Headers":{name:[values]},"Params","Body"}},"Metadata":{...}}`,
//   and expects `{"Outputs":{"res":{"statusCode","body","headers"}},"Logs":[],"ReturnValue":null}`.
#pragma once

#include "function/protocol.hpp"

#include <blueprint/job.hpp>

#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::function::detail {

/// The id in an Azure function name `job{id}` (decimal, or 0x-hex), as
/// packaging::azure_function_name writes it; nullopt for any other name.
std::optional<JobId> job_id_from_function_name(std::string_view name);

enum class AzureRouteKind {
    /// POST /api/{function}: a forwarded request.
    forwarded,
    /// POST /{function}: the host's envelope.
    envelope,
    /// GET /health.
    health,
    not_found,
    method_not_allowed,
};

struct AzureRoute {
    AzureRouteKind kind = AzureRouteKind::not_found;
    /// The function's name (the path segment).
    std::string function;
    /// Its job id when the name is `job{id}`.
    std::optional<JobId> job_id;
};

/// `target` may carry a query string; it is ignored.
AzureRoute classify_azure_route(std::string_view method, std::string_view target);

/// The HTTP request inside the host's envelope (Data.<trigger name>).
struct EnvelopeRequest {
    std::string method;
    std::string url;
    /// Lower-cased names; the first value of each.
    std::map<std::string, std::string> headers;
    Bytes body;
};

/// Parses the envelope. The trigger is `Data.req` (our function.json's
/// binding name), else the only object in `Data`. `Body` may be a string
/// (its bytes), JSON (re-serialised), or absent/null (empty). Header values
/// may be arrays of strings (the host's form) or strings.
std::expected<EnvelopeRequest, std::string> parse_envelope(std::string_view json);

/// The reply envelope: `{"Outputs":{"res":{"statusCode":N,"body":"...","headers":{...}}},"Logs":[],"ReturnValue":null}`.
std::string encode_envelope_reply(const HttpReply& reply);

/// Inserts `"job_id":N` (or `"job_id_hex"`) into a JSON object body that has
/// no job id, so a request to `/api/job7` need not repeat the id. Bodies that
/// mention a job id, or are not an object, are left alone.
void add_job_id_if_missing(Bytes& body, const JobId& id);

/// What the front made of a request: a job to run (with how to wrap its
/// reply) or a reply to send at once.
struct AzureJob {
    Route route;
    ParsedJob parsed;
    /// True for the envelope: every reply goes back inside it.
    bool envelope = false;
};

using HeaderLookup = std::function<std::string_view(std::string_view)>;

/// The whole front, without I/O: routes, envelope, job id from the name,
/// warm-ups (parsed.warmup), bad JSON (a 400, inside the envelope when the
/// request came in one).
std::expected<AzureJob, HttpReply> accept_azure_request(std::string_view method, std::string_view target,
                                                        const HeaderLookup& header, Bytes&& body);

/// The reply to send for `reply` to a request that `job` came from.
HttpReply finish_azure_reply(const AzureJob& job, HttpReply reply);

}  // namespace blueprint::function::detail
