// Cloud Functions v2 REST requests and replies.
#include "faas/gcp/api.hpp"

#include "faas/gcp/operation.hpp"
#include "faas/gcp/token.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>

namespace blueprint::faas::gcp::detail {
namespace json = boost::json;

namespace {

std::optional<std::uint32_t> u32_of(const json::value* v) {
    if (!v) return std::nullopt;
    std::int64_t n = 0;
    if (v->is_int64()) n = v->as_int64();
    else if (v->is_uint64()) n = static_cast<std::int64_t>(std::min<std::uint64_t>(v->as_uint64(), UINT32_MAX));
    else if (v->is_string()) {  // proto3 JSON may render integers as strings
        auto s = v->as_string();
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    } else return std::nullopt;
    if (n < 0 || n > UINT32_MAX) return std::nullopt;
    return static_cast<std::uint32_t>(n);
}

FaasError bad_reply(std::string_view what, std::string m) {
    return FaasError::make(faas_errc::serialization, std::string(what) + ": " + std::move(m));
}

}  // namespace

std::string Api::create_url(std::string_view function_id) const {
    return base + parent() + "/functions?functionId=" + query_encode(function_id);
}

std::string Api::patch_url(std::string_view name) const {
    return base + std::string(name) + "?updateMask=" + query_encode(update_mask);
}

std::string normalize_base(std::string base) {
    if (!base.empty() && base.back() != '/') base += '/';
    return base;
}

std::string check_prefix(std::string_view prefix) {
    if (prefix.empty()) return "the function prefix is empty";
    if (!(prefix[0] >= 'a' && prefix[0] <= 'z')) return "the function prefix must start with a lowercase letter";
    for (char c : prefix)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return "the function prefix may hold only lowercase letters, digits and '-'";
    if (prefix.size() > 63 - 5 - 1) return "the function prefix is too long";
    return {};
}

std::expected<std::string, FaasError> make_function_id(std::string_view prefix, const JobId& job_id) {
    auto id = job_id.to_u64();
    if (!id)
        return std::unexpected(FaasError::make(faas_errc::invocation_failed,
                                               "job " + job_id.to_string() +
                                                   " does not fit in 64 bits; Cloud Functions names hold decimal ids"));
    std::string out = std::string(prefix) + "-job-" + std::to_string(*id);
    if (out.size() > 63)
        return std::unexpected(FaasError::make(faas_errc::invocation_failed,
                                               "function name " + out + " is longer than 63 characters"));
    return out;
}

std::string memory_string(std::uint32_t memory_mb) { return std::to_string(memory_mb) + "M"; }

std::optional<std::uint32_t> parse_memory(std::string_view text) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || p == text.data()) return std::nullopt;
    std::string_view unit(p, text.data() + text.size() - p);
    double mb;
    if (unit.empty()) mb = static_cast<double>(n) / (1 << 20);
    else if (unit == "k" || unit == "Ki") mb = static_cast<double>(n) / 1024;
    else if (unit == "M" || unit == "Mi") mb = static_cast<double>(n);
    else if (unit == "G" || unit == "Gi") mb = static_cast<double>(n) * 1024;
    else return std::nullopt;
    if (mb > UINT32_MAX) return std::nullopt;
    return static_cast<std::uint32_t>(std::llround(mb));
}

std::string generate_upload_url_body() { return R"({"environment":"GEN_2"})"; }

std::string function_body_json(const FunctionSpec& spec) {
    json::object body;
    body["name"] = spec.name;
    body["environment"] = "GEN_2";
    json::object build;
    build["runtime"] = spec.runtime;
    build["entryPoint"] = spec.entry_point;
    json::object source;
    boost::system::error_code ec;
    auto storage = json::parse(spec.storage_source_json, ec);
    source["storageSource"] = ec ? json::value(json::object{}) : std::move(storage);
    build["source"] = std::move(source);
    body["buildConfig"] = std::move(build);
    json::object service;
    service["availableMemory"] = memory_string(spec.memory_mb);
    service["timeoutSeconds"] = spec.timeout_secs;
    if (spec.max_instances) service["maxInstanceCount"] = *spec.max_instances;
    json::object env;
    for (const auto& [k, v] : spec.env) env[k] = v;
    service["environmentVariables"] = std::move(env);
    body["serviceConfig"] = std::move(service);
    return json::serialize(body);
}

std::expected<UploadUrl, FaasError> parse_upload_url(std::string_view body) {
    constexpr std::string_view what = "generateUploadUrl";
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::unexpected(bad_reply(what, "reply is not a JSON object"));
    const auto& o = v.as_object();
    auto* url = o.if_contains("uploadUrl");
    if (!url || !url->is_string() || url->as_string().empty())
        return std::unexpected(bad_reply(what, "reply has no \"uploadUrl\""));
    auto* source = o.if_contains("storageSource");
    if (!source || !source->is_object() || source->as_object().empty())
        return std::unexpected(bad_reply(what, "reply has no \"storageSource\" object"));
    return UploadUrl{std::string(url->as_string()), json::serialize(*source)};
}

std::expected<FunctionInfo, FaasError> parse_function(std::string_view body) {
    constexpr std::string_view what = "function";
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::unexpected(bad_reply(what, "reply is not a JSON object"));
    const auto& o = v.as_object();
    FunctionInfo info;
    auto* name = o.if_contains("name");
    if (!name || !name->is_string()) return std::unexpected(bad_reply(what, "reply has no \"name\""));
    info.name = std::string(name->as_string());
    if (auto* s = o.if_contains("state"); s && s->is_string()) info.state = std::string(s->as_string());
    else info.state = "STATE_UNSPECIFIED";
    if (auto* sc = o.if_contains("serviceConfig"); sc && sc->is_object()) {
        const auto& s = sc->as_object();
        if (auto* u = s.if_contains("uri"); u && u->is_string()) info.uri = std::string(u->as_string());
        if (auto* m = s.if_contains("availableMemory"); m && m->is_string()) info.memory_mb = parse_memory(m->as_string());
        info.timeout_secs = u32_of(s.if_contains("timeoutSeconds"));
        info.max_instances = u32_of(s.if_contains("maxInstanceCount"));
    }
    return info;
}

FaasError api_error(int http_status, std::string_view body, std::string_view context) {
    faas_errc kind = kind_for_status(http_status);
    std::string message = std::string(context) + ": HTTP " + std::to_string(http_status);
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    const json::object* err = nullptr;
    if (!ec && v.is_object())
        if (auto* e = v.as_object().if_contains("error"); e && e->is_object()) err = &e->as_object();
    if (err) {
        if (auto* s = err->if_contains("status"); s && s->is_string()) {
            message += ' ';
            message.append(s->as_string().data(), s->as_string().size());
            if (auto k = kind_for_rpc_status(s->as_string())) kind = *k;
        }
        if (auto* m = err->if_contains("message"); m && m->is_string()) {
            message += ": ";
            message.append(m->as_string().data(), std::min<std::size_t>(m->as_string().size(), 500));
        }
    } else if (!body.empty()) {
        std::string excerpt(body.substr(0, 200));
        for (auto& c : excerpt)
            if (static_cast<unsigned char>(c) < 0x20) c = ' ';
        message += ": " + excerpt;
    }
    auto out = FaasError::make(kind, std::move(message));
    out.http_status = http_status;
    return out;
}

}  // namespace blueprint::faas::gcp::detail
