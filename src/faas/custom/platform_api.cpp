// Pure helpers of the custom HTTP executor (see platform_api.hpp).
#include "faas/custom/platform_api.hpp"

#include <boost/crc.hpp>
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

namespace {

void put16(std::vector<std::uint8_t>& out, std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
}
void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    put16(out, v & 0xffff);
    put16(out, v >> 16);
}

// DOS date of 1980-01-01: ((1980-1980) << 9) | (1 << 5) | 1; time 00:00:00.
constexpr std::uint16_t dos_date = 0x0021;
constexpr std::uint16_t dos_time = 0;
// "Version made by": high byte 3 = UNIX, so unzip honours the mode bits in
// the external attributes; low byte 20 = spec 2.0.
constexpr std::uint16_t made_by_unix = (3u << 8) | 20u;
constexpr std::uint16_t version_needed = 20;
constexpr std::uint32_t s_ifreg = 0100000;

}  // namespace

std::expected<std::vector<std::uint8_t>, FaasError> write_zip(const std::vector<ZipEntry>& entries) {
    constexpr std::uint64_t max32 = 0xffffffffull;
    if (entries.size() > 0xffff) {
        return std::unexpected(FaasError::make(faas_errc::serialization, "zip: more than 65535 entries"));
    }
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> central;
    for (const auto& e : entries) {
        if (e.name.empty() || e.name.size() > 0xffff) {
            return std::unexpected(FaasError::make(faas_errc::serialization, "zip: bad entry name"));
        }
        if (e.data.size() >= max32 || out.size() >= max32) {
            return std::unexpected(
                FaasError::make(faas_errc::serialization, "zip: package larger than 4 GiB (zip64 is not written)"));
        }
        boost::crc_32_type crc;
        crc.process_bytes(e.data.data(), e.data.size());
        const auto crc32 = static_cast<std::uint32_t>(crc.checksum());
        const auto size = static_cast<std::uint32_t>(e.data.size());
        const auto offset = static_cast<std::uint32_t>(out.size());
        const auto name_len = static_cast<std::uint32_t>(e.name.size());

        put32(out, 0x04034b50);  // local file header
        put16(out, version_needed);
        put16(out, 0);  // flags
        put16(out, 0);  // method: stored
        put16(out, dos_time);
        put16(out, dos_date);
        put32(out, crc32);
        put32(out, size);
        put32(out, size);
        put16(out, name_len);
        put16(out, 0);  // extra length
        out.insert(out.end(), e.name.begin(), e.name.end());
        out.insert(out.end(), e.data.begin(), e.data.end());

        put32(central, 0x02014b50);  // central directory header
        put16(central, made_by_unix);
        put16(central, version_needed);
        put16(central, 0);
        put16(central, 0);
        put16(central, dos_time);
        put16(central, dos_date);
        put32(central, crc32);
        put32(central, size);
        put32(central, size);
        put16(central, name_len);
        put16(central, 0);  // extra
        put16(central, 0);  // comment
        put16(central, 0);  // disk number
        put16(central, 0);  // internal attributes
        put32(central, (s_ifreg | (e.mode & 07777)) << 16);
        put32(central, offset);
        central.insert(central.end(), e.name.begin(), e.name.end());
    }
    if (out.size() + central.size() >= max32) {
        return std::unexpected(
            FaasError::make(faas_errc::serialization, "zip: package larger than 4 GiB (zip64 is not written)"));
    }
    const auto cd_offset = static_cast<std::uint32_t>(out.size());
    const auto cd_size = static_cast<std::uint32_t>(central.size());
    out.insert(out.end(), central.begin(), central.end());
    put32(out, 0x06054b50);  // end of central directory
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<std::uint32_t>(entries.size()));
    put16(out, static_cast<std::uint32_t>(entries.size()));
    put32(out, cd_size);
    put32(out, cd_offset);
    put16(out, 0);  // comment length
    return out;
}

std::expected<std::vector<std::uint8_t>, FaasError> make_bootstrap_zip(const std::vector<std::uint8_t>& binary) {
    if (binary.empty()) {
        return std::unexpected(FaasError::make(faas_errc::invocation_failed, "the function binary is empty"));
    }
    return write_zip({ZipEntry{"bootstrap", binary, 0755}});
}

bool looks_like_zip(const std::vector<std::uint8_t>& data) noexcept {
    return data.size() >= 4 && data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4;
}

}  // namespace blueprint::faas::custom::detail
