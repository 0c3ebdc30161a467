// Pure helpers of the custom HTTP executor (see platform_api.hpp).
#include "faas/custom/platform_api.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <limits>

namespace blueprint::faas::custom::detail {
namespace json = boost::json;

std::string join_url(std::string_view base, std::string_view path) {
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    std::string out(base);
    out += '/';
    out += path;
    return out;
}

std::string function_id(const JobId& job_id) { return job_id.to_string(); }

std::expected<std::string, FaasError> url_origin(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") || !parsed->has_authority() ||
        parsed->encoded_host().empty()) {
        return std::unexpected(FaasError::make(faas_errc::invocation_failed,
                                               "not an absolute http(s) URL: " + body_excerpt(url, 120)));
    }
    std::string out(parsed->scheme());
    out += "://";
    out += parsed->encoded_host_and_port();
    return out;
}

std::string redact_url(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return "<invalid URL>";
    std::string out(parsed->scheme());
    out += "://";
    out += parsed->encoded_host_and_port();
    out += parsed->encoded_path();
    return out;
}

std::string body_excerpt(std::string_view body, std::size_t max) {
    std::string out;
    const auto n = std::min(body.size(), max);
    out.reserve(n + 3);
    for (std::size_t i = 0; i < n; ++i) {
        auto c = static_cast<unsigned char>(body[i]);
        // Keep UTF-8 and printable ASCII; hide control bytes so a binary
        // body cannot garble a log line.
        out += (c < 0x20 || c == 0x7f) ? '.' : static_cast<char>(c);
    }
    if (body.size() > max) out += "...";
    return out;
}

namespace {

const json::object* parse_object(std::string_view body, json::value& holder) {
    boost::system::error_code ec;
    holder = json::parse(body, ec);
    if (ec || !holder.is_object()) return nullptr;
    return &holder.as_object();
}

std::string string_field(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end()) return {};
    if (it->value().is_string()) return std::string(it->value().as_string());
    if (it->value().is_int64()) return std::to_string(it->value().as_int64());
    return {};
}

std::optional<std::uint64_t> uint_field(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end()) return std::nullopt;
    const auto& v = it->value();
    if (v.is_uint64()) return v.as_uint64();
    if (v.is_int64() && v.as_int64() >= 0) return static_cast<std::uint64_t>(v.as_int64());
    if (v.is_double() && v.as_double() >= 0 && v.as_double() < 1.8e19) return static_cast<std::uint64_t>(v.as_double());
    return std::nullopt;
}

}  // namespace

std::optional<ErrorBody> parse_error_body(std::string_view body) {
    json::value holder;
    const auto* o = parse_object(body, holder);
    if (!o) return std::nullopt;
    ErrorBody out;
    if (auto it = o->find("error"); it != o->end()) {
        if (it->value().is_string()) {
            out.message = std::string(it->value().as_string());
        } else if (it->value().is_object()) {
            const auto& e = it->value().as_object();
            out.message = string_field(e, "message");
            out.type = string_field(e, "type");
        }
    }
    if (out.message.empty()) out.message = string_field(*o, "message");
    if (out.message.empty()) out.message = string_field(*o, "errorMessage");
    if (out.type.empty()) out.type = string_field(*o, "errorType");
    if (out.type.empty()) out.type = string_field(*o, "error_type");
    if (out.type.empty()) out.type = string_field(*o, "code");
    if (auto details = string_field(*o, "details"); !details.empty() && !out.message.empty()) {
        out.message += " (" + details + ")";
    }
    if (out.message.empty() && out.type.empty()) return std::nullopt;
    return out;
}

bool is_failure_reply(std::string_view body) {
    json::value holder;
    const auto* o = parse_object(body, holder);
    if (!o) return false;
    auto it = o->find("success");
    return it != o->end() && it->value().is_bool() && !it->value().as_bool();
}

std::string encode_deploy_config(const FaasConfig& config) {
    json::object o;
    o["memory_mb"] = config.memory_mb;
    o["timeout_secs"] = config.timeout_secs;
    if (config.max_concurrency) o["max_concurrency"] = *config.max_concurrency;
    json::object env;
    for (const auto& [k, v] : config.env_vars) env[k] = v;
    o["env_vars"] = std::move(env);
    return json::serialize(o);
}

std::expected<FaasDeployment, FaasError> parse_deployment(std::string_view body, const JobId& job_id,
                                                          std::string_view base_url,
                                                          std::string_view fallback_endpoint) {
    json::value holder;
    const auto* o = parse_object(body, holder);
    if (!o) {
        return std::unexpected(FaasError::make(faas_errc::serialization,
                                               "deployment reply is not a JSON object: " + body_excerpt(body)));
    }
    FaasDeployment d;
    d.job_id = job_id;
    d.function_id = string_field(*o, "function_id");
    if (d.function_id.empty()) d.function_id = function_id(job_id);
    d.endpoint = string_field(*o, "endpoint");
    if (d.endpoint.empty()) {
        d.endpoint = std::string(fallback_endpoint);
    } else if (d.endpoint.front() == '/') {
        if (auto origin = url_origin(base_url)) d.endpoint = join_url(*origin, d.endpoint);
    }
    auto narrow32 = [](std::optional<std::uint64_t> v) -> std::uint32_t {
        return v && *v <= std::numeric_limits<std::uint32_t>::max() ? static_cast<std::uint32_t>(*v) : 0;
    };
    d.cold_start_ms = uint_field(*o, "cold_start_ms").value_or(0);
    d.memory_mb = narrow32(uint_field(*o, "memory_mb"));
    d.timeout_secs = narrow32(uint_field(*o, "timeout_secs"));
    return d;
}

// ---- zip ------------------------------------------------------------------

bool looks_like_zip(const std::vector<std::uint8_t>& data) noexcept {
    return data.size() >= 4 && data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4;
}

}  // namespace blueprint::faas::custom::detail
