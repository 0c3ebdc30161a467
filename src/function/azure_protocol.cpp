// Azure custom-handler mode's protocol logic (see azure_protocol.hpp).
#include "function/azure_protocol.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

namespace blueprint::function::detail {
namespace json = boost::json;
namespace wire = blueprint::faas::wire;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view path_of(std::string_view target) {
    if (auto q = target.find_first_of("?#"); q != std::string_view::npos) target = target.substr(0, q);
    return target;
}

bool is_segment(std::string_view s) { return !s.empty() && s.find('/') == std::string_view::npos; }

std::string text_of(const json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    return json::serialize(v);
}

}  // namespace

std::optional<JobId> job_id_from_function_name(std::string_view name) {
    // Function names are case-insensitive in Azure; the folder is "job{id}".
    if (name.size() <= 3) return std::nullopt;
    if (lower(name.substr(0, 3)) != "job") return std::nullopt;
    auto id = JobId::parse(name.substr(3));
    if (!id) return std::nullopt;
    return *id;
}

AzureRoute classify_azure_route(std::string_view method, std::string_view target) {
    const std::string_view path = path_of(target);
    AzureRoute route;
    auto want_post = [&](AzureRouteKind kind) {
        route.kind = method == "POST" ? kind : AzureRouteKind::method_not_allowed;
    };
    if (path == "/health") {
        route.kind = method == "GET" ? AzureRouteKind::health : AzureRouteKind::method_not_allowed;
        return route;
    }
    constexpr std::string_view api = "/api/";
    if (path.starts_with(api) && is_segment(path.substr(api.size()))) {
        route.function = std::string(path.substr(api.size()));
        route.job_id = job_id_from_function_name(route.function);
        want_post(AzureRouteKind::forwarded);
        return route;
    }
    if (path.size() > 1 && path.front() == '/' && is_segment(path.substr(1)) && path != "/api") {
        route.function = std::string(path.substr(1));
        route.job_id = job_id_from_function_name(route.function);
        want_post(AzureRouteKind::envelope);
        return route;
    }
    route.kind = AzureRouteKind::not_found;
    return route;
}

std::expected<EnvelopeRequest, std::string> parse_envelope(std::string_view text) {
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    if (ec) return std::unexpected("the host's request is not JSON: " + ec.message());
    if (!doc.is_object()) return std::unexpected("the host's request is not a JSON object");
    const auto* data = doc.as_object().if_contains("Data");
    if (!data || !data->is_object()) return std::unexpected("the host's request has no 'Data' object");
    const json::object* req = nullptr;
    if (const auto* r = data->as_object().if_contains("req"); r && r->is_object()) {
        req = &r->as_object();
    } else {
        for (const auto& [key, value] : data->as_object()) {
            if (!value.is_object()) continue;
            if (req) return std::unexpected("the host's request has several triggers and none named 'req'");
            req = &value.as_object();
        }
    }
    if (!req) return std::unexpected("the host's request has no HTTP trigger in 'Data'");

    EnvelopeRequest out;
    if (const auto* m = req->if_contains("Method"); m && m->is_string()) out.method = std::string(m->get_string());
    if (const auto* u = req->if_contains("Url"); u && u->is_string()) out.url = std::string(u->get_string());
    if (const auto* h = req->if_contains("Headers"); h && h->is_object()) {
        for (const auto& [name, value] : h->as_object()) {
            std::string v;
            if (value.is_array()) {
                if (value.as_array().empty()) continue;
                const auto& first = value.as_array().front();
                if (!first.is_string()) return std::unexpected("header '" + std::string(name) + "' is not text");
                v = std::string(first.get_string());
            } else if (value.is_string()) {
                v = std::string(value.get_string());
            } else {
                return std::unexpected("header '" + std::string(name) + "' is not text");
            }
            out.headers.emplace(lower(name), std::move(v));
        }
    }
    if (const auto* b = req->if_contains("Body"); b && !b->is_null()) {
        const std::string body = text_of(*b);
        out.body.assign(body.begin(), body.end());
    }
    return out;
}

std::string encode_envelope_reply(const HttpReply& reply) {
    json::object headers;
    if (!reply.content_type.empty()) headers["Content-Type"] = reply.content_type;
    for (const auto& [name, value] : reply.headers) headers[name] = value;
    json::object res;
    res["statusCode"] = reply.status;
    res["body"] = reply.body;
    res["headers"] = std::move(headers);
    json::object outputs;
    outputs["res"] = std::move(res);
    json::object top;
    top["Outputs"] = std::move(outputs);
    top["Logs"] = json::array();
    top["ReturnValue"] = nullptr;
    return json::serialize(top);
}

void add_job_id_if_missing(Bytes& body, const JobId& id) {
    const std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
    if (text.find("\"job_id") != std::string_view::npos) return;
    auto skip_ws = [&](std::size_t i) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) ++i;
        return i;
    };
    const std::size_t open = skip_ws(0);
    if (open >= text.size() || text[open] != '{') return;
    const std::size_t next = skip_ws(open + 1);
    std::string field;
    if (auto v = id.to_u64()) field = "\"job_id\":" + std::to_string(*v);
    else field = "\"job_id_hex\":\"" + id.to_hex() + "\"";
    if (next < text.size() && text[next] != '}') field += ',';
    body.insert(body.begin() + static_cast<std::ptrdiff_t>(open + 1), field.begin(), field.end());
}

std::expected<AzureJob, HttpReply> accept_azure_request(std::string_view method, std::string_view target,
                                                        const HeaderLookup& header, Bytes&& body) {
    const AzureRoute route = classify_azure_route(method, target);
    switch (route.kind) {
    case AzureRouteKind::health: return std::unexpected(make_health_reply());
    case AzureRouteKind::not_found:
        return std::unexpected(make_error_reply(
            404, "not_found",
            "no such route: " + std::string(path_of(target).substr(0, 200)) + " (custom handler: POST /api/{function} or POST /{function})"));
    case AzureRouteKind::method_not_allowed: {
        auto reply = make_error_reply(405, "method_not_allowed", "use POST for " + std::string(path_of(target).substr(0, 200)));
        reply.headers.emplace_back("Allow", path_of(target) == "/health" ? "GET" : "POST");
        return std::unexpected(std::move(reply));
    }
    case AzureRouteKind::forwarded:
    case AzureRouteKind::envelope: break;
    }

    AzureJob job;
    job.route.kind = RouteKind::job;
    job.route.path_job_id = route.job_id;
    job.envelope = route.kind == AzureRouteKind::envelope;

    std::string content_type, job_id, metadata, warmup;
    if (job.envelope) {
        auto env = parse_envelope(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
        if (!env) return std::unexpected(make_error_reply(400, "bad_request", env.error()));
        auto get = [&](std::string_view name) {
            auto it = env->headers.find(lower(name));
            return it == env->headers.end() ? std::string() : it->second;
        };
        content_type = get("Content-Type");
        job_id = get(wire::header_job_id);
        metadata = get(wire::header_metadata);
        warmup = get(wire::header_warmup);
        body = std::move(env->body);
    } else {
        content_type = header("Content-Type");
        job_id = header(wire::header_job_id);
        metadata = header(wire::header_metadata);
        warmup = header(wire::header_warmup);
    }

    if (route.job_id && body_format(content_type) == BodyFormat::json) add_job_id_if_missing(body, *route.job_id);
    const RequestHeaders headers{content_type, job_id, metadata, warmup};
    auto parsed = parse_job_request(job.route, headers, std::move(body));
    if (!parsed) return std::unexpected(job.envelope ? finish_azure_reply(job, std::move(parsed.error()))
                                                     : std::move(parsed.error()));
    job.parsed = std::move(*parsed);
    // The envelope carries text: its replies are always Blueprint JSON.
    if (job.envelope) job.parsed.format = BodyFormat::json;
    return job;
}

HttpReply finish_azure_reply(const AzureJob& job, HttpReply reply) {
    if (!job.envelope) return reply;
    // The host reads the HTTP output from the envelope: the handler's own
    // reply to the host is always 200 JSON.
    HttpReply out;
    out.content_type = "application/json";
    out.body = encode_envelope_reply(reply);
    return out;
}

}  // namespace blueprint::function::detail
