#include "platform/custom_api.hpp"

#include "platform/lambda_api.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>

namespace blueprint::platform::custom_api {
namespace json = boost::json;
namespace wire = blueprint::faas::wire;

std::optional<Route> route(std::string_view method, std::string_view target) {
    std::string_view path = target.substr(0, target.find('?'));
    constexpr std::string_view prefix = "/api/functions/";
    if (!path.starts_with(prefix)) {
        if (path == "/api/functions") return Route{};
        return std::nullopt;
    }
    path.remove_prefix(prefix.size());
    auto slash = path.find('/');
    auto id = lambda_api::percent_decode(path.substr(0, slash));
    Route r;
    if (!id || id->empty()) return r;
    r.id = std::move(*id);
    const auto tail = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
    if (tail.empty()) {
        if (method == "PUT") r.op = Op::deploy;
        else if (method == "GET") r.op = Op::get;
        else if (method == "DELETE") r.op = Op::remove;
    } else if (tail == "/invoke" && method == "POST") r.op = Op::invoke;
    else if (tail == "/health" && method == "GET") r.op = Op::health;
    else if (tail == "/warm" && method == "POST") r.op = Op::warm;
    return r;
}

std::string error_body(const ApiError& e) {
    json::object o;
    o["error"] = e.message;
    o["code"] = e.code;
    if (!e.details.empty()) o["details"] = e.details;
    return json::serialize(o);
}

namespace {
ApiError bad(std::string message) { return {400, "invalid_request", std::move(message), {}}; }

std::expected<std::optional<std::int64_t>, ApiError> int_field(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) return std::optional<std::int64_t>{};
    if (it->value().is_int64()) return std::optional<std::int64_t>(it->value().as_int64());
    if (it->value().is_uint64()) return std::optional<std::int64_t>(INT64_MAX);
    return std::unexpected(bad("X-Blueprint-Config: " + std::string(key) + " must be an integer"));
}
}  // namespace

std::expected<DeployConfig, ApiError> parse_deploy_config(std::string_view header, unsigned max_concurrency) {
    DeployConfig c;
    if (header.empty()) return c;
    auto decoded = wire::base64_decode(header);
    if (!decoded) return std::unexpected(bad("X-Blueprint-Config is not base64: " + decoded.error().message));
    boost::system::error_code ec;
    json::value v = json::parse(*decoded, ec);
    if (ec || !v.is_object()) return std::unexpected(bad("X-Blueprint-Config is not a JSON object"));
    const auto& o = v.as_object();
    if (auto m = int_field(o, "memory_mb"); !m) return std::unexpected(m.error());
    else if (*m) {
        if (auto e = check_memory(**m)) return std::unexpected(bad(*e));
        c.memory_mb = static_cast<unsigned>(**m);
    }
    if (auto t = int_field(o, "timeout_secs"); !t) return std::unexpected(t.error());
    else if (*t) {
        if (auto e = check_timeout(**t)) return std::unexpected(bad(*e));
        c.timeout_secs = static_cast<unsigned>(**t);
    }
    if (auto n = int_field(o, "max_concurrency"); !n) return std::unexpected(n.error());
    else if (*n) {
        if (auto e = check_concurrency(**n, max_concurrency)) return std::unexpected(bad(*e));
        c.max_concurrency = static_cast<unsigned>(**n);
    }
    if (auto it = o.find("env_vars"); it != o.end() && !it->value().is_null()) {
        if (!it->value().is_object()) return std::unexpected(bad("X-Blueprint-Config: env_vars must be an object"));
        for (const auto& kv : it->value().as_object()) {
            if (!kv.value().is_string()) return std::unexpected(bad("X-Blueprint-Config: env_vars values must be strings"));
            c.env_vars[std::string(kv.key())] = std::string(kv.value().as_string());
        }
        if (auto e = check_environment(c.env_vars)) return std::unexpected(bad(*e));
    }
    if (auto it = o.find("runtime"); it != o.end() && !it->value().is_null()) {
        if (!it->value().is_string()) return std::unexpected(bad("X-Blueprint-Config: runtime must be a string"));
        std::string_view rt = it->value().as_string();
        if (rt == "stdio") c.run_model = RunModel::stdio;
        else if (rt == "lambda" || rt.starts_with("provided")) c.run_model = RunModel::lambda;
        else return std::unexpected(bad("X-Blueprint-Config: runtime must be \"lambda\" or \"stdio\""));
    }
    return c;
}

FunctionConfig to_function_config(std::string_view id, const DeployConfig& d) {
    FunctionConfig c;
    c.name = std::string(id);
    c.memory_mb = d.memory_mb;
    c.timeout_s = d.timeout_secs;
    c.env = d.env_vars;
    c.reserved_concurrency = d.max_concurrency;
    c.run_model = d.run_model;
    c.created_via = "custom";
    return c;
}

std::string deployment(const FunctionConfig& c, std::string_view endpoint, std::uint64_t cold_start_ms,
                       bool with_details) {
    json::object o;
    o["function_id"] = c.name;
    o["endpoint"] = endpoint;
    o["status"] = "deployed";
    o["cold_start_ms"] = cold_start_ms;
    o["memory_mb"] = c.memory_mb;
    o["timeout_secs"] = c.timeout_s;
    o["runtime"] = c.run_model == RunModel::stdio ? "stdio" : "lambda";
    if (with_details) {
        o["deployed_at"] = c.deployed_at;
        o["binary_size_bytes"] = c.code_size;
    }
    return json::serialize(o);
}

namespace {
json::value job_id_json(const JobId& id) {
    if (auto v = id.to_u64()) return json::value(*v);
    return json::value(id.to_hex());
}
template <class T> void append_number(std::string& out, T v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}
}  // namespace

InvokeReply invoke_reply(const JobId& job_id, const wire::Reply& reply, double execution_ms, unsigned memory_used_mb,
                         bool cold_start) {
    json::object o;
    if (reply.success) {
        // Written directly: this is every successful call's reply, and a DOM
        // of one json::value per result byte cost more than the rest of it.
        std::string out;
        out.reserve(96 + reply.result.size() * 4);
        out += "{\"job_id\":";
        if (auto v = job_id.to_u64()) append_number(out, *v);
        else out += '"' + job_id.to_hex() + '"';  // hex digits: nothing to escape
        out += ",\"result\":[";
        for (std::size_t i = 0; i < reply.result.size(); ++i) {
            if (i) out += ',';
            append_number(out, reply.result[i]);
        }
        out += "],\"success\":true,\"execution_ms\":";
        append_number(out, std::isfinite(execution_ms) ? execution_ms : 0.0);
        out += ",\"memory_used_mb\":";
        append_number(out, memory_used_mb);
        out += cold_start ? ",\"cold_start\":true}" : ",\"cold_start\":false}";
        return {200, std::move(out)};
    }
    o["job_id"] = job_id_json(job_id);
    o["result"] = json::array();
    o["success"] = false;
    o["error"] = reply.error;
    if (!reply.error_type.empty()) o["error_type"] = reply.error_type;
    o["execution_ms"] = execution_ms;
    return {500, json::serialize(o)};
}

std::string health(std::string_view id, std::string_view status, std::optional<std::string> last_invocation,
                   std::uint64_t total_invocations) {
    json::object o;
    o["function_id"] = id;
    o["status"] = status;
    o["last_invocation"] = last_invocation ? json::value(*last_invocation) : json::value(nullptr);
    o["total_invocations"] = total_invocations;
    return json::serialize(o);
}

std::string deleted(std::string_view id) {
    return json::serialize(json::object{{"function_id", id}, {"status", "deleted"}});
}

std::string warmed(std::string_view id, unsigned instances) {
    return json::serialize(json::object{{"function_id", id}, {"status", "warm"}, {"instances_warmed", instances}});
}

std::expected<unsigned, ApiError> parse_warm_count(std::string_view body, std::string_view query, unsigned max) {
    std::int64_t n = 1;
    if (auto q = lambda_api::query_param(query, "instances")) {
        auto [end, ec] = std::from_chars(q->data(), q->data() + q->size(), n);
        if (ec != std::errc{} || end != q->data() + q->size()) return std::unexpected(bad("instances must be an integer"));
    } else if (!body.empty()) {
        boost::system::error_code ec;
        json::value v = json::parse(body, ec);
        if (ec || !v.is_object()) return std::unexpected(bad("the warm body must be a JSON object"));
        auto count = int_field(v.as_object(), "instances");
        if (!count) return std::unexpected(bad("instances must be an integer"));
        if (*count) n = **count;
    }
    if (n < 1 || n > static_cast<std::int64_t>(max))
        return std::unexpected(bad("instances must be between 1 and " + std::to_string(max)));
    return static_cast<unsigned>(n);
}

bool bearer_matches(std::string_view authorization, std::string_view key) noexcept {
    constexpr std::string_view scheme = "Bearer ";
    if (key.empty()) return false;
    if (authorization.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if ((authorization[i] | 0x20) != (scheme[i] | 0x20)) return false;
    auto given = authorization.substr(scheme.size());
    // Compare every byte whatever the mismatch, so timing tells nothing.
    unsigned char diff = given.size() == key.size() ? 0 : 1;
    for (std::size_t i = 0; i < given.size(); ++i)
        diff |= static_cast<unsigned char>(given[i] ^ key[i % key.size()]);
    return diff == 0;
}

}  // namespace blueprint::platform::custom_api
