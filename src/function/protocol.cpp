// HTTP mode's protocol logic (see protocol.hpp).
#include "function/protocol.hpp"

#include <blueprint/faas/wire.hpp>

#include <cctype>

namespace blueprint::function::detail {
namespace wire = blueprint::faas::wire;

namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// A JSON string for protocol messages. They may quote caller input, so
// anything outside printable ASCII is replaced rather than trusted.
void append_json_text(std::string& out, std::string_view s) {
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c >= 0x7f) {
            out += '?';
        } else {
            out += ch;
        }
    }
    out += '"';
}

void append_job_id_field(std::string& out, const JobId& id) {
    if (auto v = id.to_u64()) {
        out += "\"job_id\":";
        out += std::to_string(*v);
    } else {
        out += "\"job_id_hex\":\"";
        out += id.to_hex();
        out += '"';
    }
}

bool is_truthy(std::string_view v) {
    v = trim(v);
    return v == "1" || iequals(v, "true") || iequals(v, "yes");
}

HttpReply bad_request(std::string_view message) { return make_error_reply(400, "bad_request", message); }

}  // namespace

Route classify_route(std::string_view method, std::string_view target) {
    if (auto q = target.find_first_of("?#"); q != std::string_view::npos) target = target.substr(0, q);

    Route route;
    auto want = [&](std::string_view allowed, RouteKind kind) {
        if (method == allowed) {
            route.kind = kind;
        } else {
            route.kind = RouteKind::method_not_allowed;
            route.allow = allowed;
        }
        return route;
    };

    if (target == "/") return want("POST", RouteKind::job);
    if (target == "/health") return want("GET", RouteKind::health);

    constexpr std::string_view job_prefix = "/job/";
    if (target.starts_with(job_prefix)) {
        const std::string_view id_text = target.substr(job_prefix.size());
        if (id_text.empty() || id_text.find('/') != std::string_view::npos) {
            route.kind = RouteKind::not_found;
            route.message = "no such route: " + std::string(target);
            return route;
        }
        want("POST", RouteKind::job);
        if (route.kind != RouteKind::job) return route;
        auto id = JobId::parse(id_text);
        if (!id) {
            route.kind = RouteKind::bad_request;
            route.message = "invalid job id in the path: '" + std::string(id_text.substr(0, 80)) +
                            "' (decimal that fits u64, or 0x-prefixed hex up to 256 bits)";
            return route;
        }
        route.path_job_id = *id;
        return route;
    }

    // The custom platform API's invoke endpoint (§10): lets an executor that
    // speaks that API call a function server directly. The {id} is the
    // platform's function name; the job id comes from the body.
    constexpr std::string_view api_prefix = "/api/functions/";
    constexpr std::string_view invoke_suffix = "/invoke";
    if (target.starts_with(api_prefix) && target.ends_with(invoke_suffix) &&
        target.size() > api_prefix.size() + invoke_suffix.size()) {
        const auto name = target.substr(api_prefix.size(), target.size() - api_prefix.size() - invoke_suffix.size());
        if (name.find('/') == std::string_view::npos) {
            want("POST", RouteKind::platform_invoke);
            if (route.kind == RouteKind::platform_invoke) {
                if (auto id = JobId::parse(name)) route.name_job_id = *id;
            }
            return route;
        }
    }

    route.kind = RouteKind::not_found;
    route.message = "no such route: " + std::string(target.substr(0, 200));
    return route;
}

BodyFormat body_format(std::string_view content_type) {
    if (auto semi = content_type.find(';'); semi != std::string_view::npos) content_type = content_type.substr(0, semi);
    return iequals(trim(content_type), wire::binary_content_type) ? BodyFormat::binary : BodyFormat::json;
}

std::expected<ParsedJob, HttpReply> parse_job_request(const Route& route, const RequestHeaders& headers, Bytes&& body) {
    ParsedJob parsed;
    parsed.format = body_format(headers.content_type);
    parsed.warmup = is_truthy(headers.warmup);

    if (parsed.format == BodyFormat::binary) {
        JobId id;
        if (route.path_job_id) {
            id = *route.path_job_id;
        } else if (!trim(headers.job_id).empty()) {
            auto v = JobId::parse(trim(headers.job_id));
            if (!v)
                return std::unexpected(bad_request("invalid " + std::string(wire::header_job_id) + " header: '" +
                                                   std::string(trim(headers.job_id).substr(0, 80)) + "'"));
            id = *v;
        } else if (!parsed.warmup) {
            return std::unexpected(bad_request("a binary request needs the " + std::string(wire::header_job_id) +
                                               " header or a /job/{id} path"));
        }
        Metadata metadata;
        if (auto m = trim(headers.metadata); !m.empty()) {
            auto json = wire::base64_decode(m);
            if (!json)
                return std::unexpected(bad_request("invalid " + std::string(wire::header_metadata) +
                                                   " header: " + json.error().message));
            auto md = wire::decode_metadata_json(*json);
            if (!md)
                return std::unexpected(bad_request("invalid " + std::string(wire::header_metadata) +
                                                   " header: " + md.error().message));
            metadata = std::move(*md);
        }
        parsed.call = JobCall(id, std::move(body), std::move(metadata));
        return parsed;
    }

    // JSON. A warm-up marked by the header alone may have an empty body.
    if (parsed.warmup && body.empty()) {
        parsed.call = JobCall(route.path_job_id.value_or(JobId{}), {});
        return parsed;
    }
    const std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
    // The path names the job, so a body without job_id is complete there; a
    // present but ill-typed one is still a 400.
    const std::optional<JobId>& default_id = route.path_job_id ? route.path_job_id : route.name_job_id;
    auto request = default_id ? wire::detail::decode_request_json(text, *default_id) : wire::decode_request_json(text);
    if (!request) return std::unexpected(bad_request(request.error().message));
    parsed.warmup = parsed.warmup || request->warmup;
    const JobId id = route.path_job_id.value_or(request->job_id);
    parsed.call = JobCall(id, std::move(request->args), std::move(request->metadata));
    return parsed;
}

HttpReply make_job_reply(const Route& route, BodyFormat format, const JobId& job_id, const JobResult& result,
                         const ReplyExtras& extras) {
    HttpReply reply;
    if (extras.cold_start) reply.headers.emplace_back(wire::header_cold_start, "1");

    if (format == BodyFormat::binary) {
        reply.content_type = wire::binary_content_type;
        if (result.is_ok()) {
            reply.headers.emplace_back(wire::header_status, "ok");
            reply.body.assign(result.body().begin(), result.body().end());
        } else {
            const auto r = wire::job_result_to_reply(result);
            reply.headers.emplace_back(wire::header_status, "error");
            reply.headers.emplace_back(wire::header_error_type, r.error_type);
            reply.body = r.error;
        }
        return reply;
    }

    reply.content_type = wire::json_content_type;
    auto r = wire::job_result_to_reply(result);
    r.execution_ms = extras.execution_ms;
    if (extras.cold_start) r.cold_start = true;
    if (route.kind == RouteKind::platform_invoke) {
        // §10 shape: {job_id, result, success, execution_ms, memory_used_mb}.
        r.memory_used_mb = extras.memory_used_mb;
        std::string body = wire::encode_reply_json(r);  // "{...}" with result first or success:false first
        std::string out = "{";
        append_job_id_field(out, job_id);
        out += r.success ? ",\"success\":true," : ",";
        out.append(body, 1);
        reply.body = std::move(out);
        if (!r.success) reply.status = 500;
        return reply;
    }
    reply.body = wire::encode_reply_json(r);
    return reply;
}

HttpReply make_warmup_reply(BodyFormat format, bool cold_start) {
    HttpReply reply;
    if (cold_start) reply.headers.emplace_back(wire::header_cold_start, "1");
    if (format == BodyFormat::binary) {
        reply.content_type = wire::binary_content_type;
        reply.headers.emplace_back(wire::header_status, "ok");
        return reply;
    }
    reply.content_type = wire::json_content_type;
    reply.body = cold_start ? R"({"warmed":true,"result":[],"cold_start":true})" : R"({"warmed":true,"result":[]})";
    return reply;
}

HttpReply make_error_reply(unsigned status, std::string_view code, std::string_view message) {
    HttpReply reply;
    reply.status = status;
    reply.content_type = wire::json_content_type;
    reply.body = "{\"error\":";
    append_json_text(reply.body, message);
    reply.body += ",\"code\":";
    append_json_text(reply.body, code);
    reply.body += '}';
    return reply;
}

HttpReply make_health_reply() {
    HttpReply reply;
    reply.content_type = wire::json_content_type;
    reply.body = R"({"status":"healthy","formats":["json","binary"]})";
    return reply;
}

}  // namespace blueprint::function::detail
