#include "platform/model.hpp"

#include <boost/json.hpp>

#include <array>
#include <cstdio>
#include <ctime>
#include <random>
#include <regex>

namespace blueprint::platform {
namespace json = boost::json;

namespace {

std::string_view to_string(RunModel m) { return m == RunModel::stdio ? "stdio" : "lambda"; }

const json::value* field(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

bool read_string(const json::object& o, std::string_view key, std::string& out, bool required, std::string& error) {
    const auto* v = field(o, key);
    if (!v || v->is_null()) {
        if (required) error = std::string("missing \"") + std::string(key) + "\"";
        return !required;
    }
    if (!v->is_string()) {
        error = std::string("\"") + std::string(key) + "\" is not a string";
        return false;
    }
    out = std::string(v->as_string());
    return true;
}

template <class T> bool read_uint(const json::object& o, std::string_view key, T& out, std::string& error) {
    const auto* v = field(o, key);
    if (!v || v->is_null()) return true;
    if (v->is_int64() && v->as_int64() >= 0) out = static_cast<T>(v->as_int64());
    else if (v->is_uint64()) out = static_cast<T>(v->as_uint64());
    else {
        error = std::string("\"") + std::string(key) + "\" is not a non-negative integer";
        return false;
    }
    return true;
}

bool read_map(const json::object& o, std::string_view key, std::map<std::string, std::string>& out, std::string& error) {
    const auto* v = field(o, key);
    if (!v || v->is_null()) return true;
    if (!v->is_object()) {
        error = std::string("\"") + std::string(key) + "\" is not an object";
        return false;
    }
    for (const auto& kv : v->as_object()) {
        if (!kv.value().is_string()) {
            error = std::string("\"") + std::string(key) + "." + std::string(kv.key()) + "\" is not a string";
            return false;
        }
        out[std::string(kv.key())] = std::string(kv.value().as_string());
    }
    return true;
}

json::object map_to_json(const std::map<std::string, std::string>& m) {
    json::object o;
    for (const auto& [k, v] : m) o[k] = v;
    return o;
}

}  // namespace

std::string to_json(const FunctionConfig& c) {
    json::object o;
    o["format"] = 1;
    o["name"] = c.name;
    o["runtime"] = c.runtime;
    o["role"] = c.role;
    o["handler"] = c.handler;
    o["description"] = c.description;
    o["memory_mb"] = c.memory_mb;
    o["timeout_s"] = c.timeout_s;
    o["env"] = map_to_json(c.env);
    o["architecture"] = c.architecture;
    o["tags"] = map_to_json(c.tags);
    if (c.reserved_concurrency) o["reserved_concurrency"] = *c.reserved_concurrency;
    o["run_model"] = to_string(c.run_model);
    o["code_sha256"] = c.code_sha256;
    o["code_size"] = c.code_size;
    o["last_modified"] = c.last_modified;
    o["deployed_at"] = c.deployed_at;
    o["revision_id"] = c.revision_id;
    o["created_via"] = c.created_via;
    return json::serialize(o);
}

std::expected<FunctionConfig, std::string> config_from_json(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return std::unexpected("not JSON: " + ec.message());
    if (!v.is_object()) return std::unexpected("not a JSON object");
    const auto& o = v.as_object();
    FunctionConfig c;
    std::string error, run_model = "lambda";
    unsigned reserved = 0;
    bool ok = read_string(o, "name", c.name, true, error) && read_string(o, "runtime", c.runtime, false, error) &&
              read_string(o, "role", c.role, false, error) && read_string(o, "handler", c.handler, false, error) &&
              read_string(o, "description", c.description, false, error) &&
              read_uint(o, "memory_mb", c.memory_mb, error) && read_uint(o, "timeout_s", c.timeout_s, error) &&
              read_map(o, "env", c.env, error) && read_string(o, "architecture", c.architecture, false, error) &&
              read_map(o, "tags", c.tags, error) && read_string(o, "run_model", run_model, false, error) &&
              read_string(o, "code_sha256", c.code_sha256, false, error) &&
              read_uint(o, "code_size", c.code_size, error) &&
              read_string(o, "last_modified", c.last_modified, false, error) &&
              read_string(o, "deployed_at", c.deployed_at, false, error) &&
              read_string(o, "revision_id", c.revision_id, false, error) &&
              read_string(o, "created_via", c.created_via, false, error);
    if (ok && field(o, "reserved_concurrency")) {
        ok = read_uint(o, "reserved_concurrency", reserved, error);
        if (ok && !field(o, "reserved_concurrency")->is_null()) c.reserved_concurrency = reserved;
    }
    if (!ok) return std::unexpected(error);
    if (run_model == "stdio") c.run_model = RunModel::stdio;
    else if (run_model == "lambda") c.run_model = RunModel::lambda;
    else return std::unexpected("unknown run_model \"" + run_model + "\"");
    if (auto bad = check_function_name(c.name)) return std::unexpected(*bad);
    if (auto bad = check_memory(c.memory_mb)) return std::unexpected(*bad);
    if (auto bad = check_timeout(c.timeout_s)) return std::unexpected(*bad);
    return c;
}

std::optional<std::string> check_function_name(std::string_view name) {
    if (name.empty() || name.size() > 64)
        return "Function name must be 1 to 64 characters long, got " + std::to_string(name.size());
    for (unsigned char ch : name) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_';
        if (!ok) return "Function name may only hold letters, digits, '-' and '_'";
    }
    return std::nullopt;
}

std::optional<std::string> check_memory(std::int64_t mb) {
    if (mb < 128 || mb > 10240)
        return "MemorySize must be between 128 and 10240 MB, got " + std::to_string(mb);
    return std::nullopt;
}

std::optional<std::string> check_timeout(std::int64_t seconds) {
    if (seconds < 1 || seconds > 900) return "Timeout must be between 1 and 900 seconds, got " + std::to_string(seconds);
    return std::nullopt;
}

std::optional<std::string> check_role(std::string_view role) {
    static const std::regex pattern(R"(arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+)");
    if (!std::regex_match(role.begin(), role.end(), pattern))
        return "The role ARN '" + std::string(role.substr(0, 200)) +
               "' does not match arn:aws:iam::<12-digit account>:role/<name>";
    return std::nullopt;
}

std::optional<std::string> check_runtime(std::string_view runtime) {
    if (runtime == "provided.al2023" || runtime == "provided.al2" || runtime == "provided") return std::nullopt;
    return "Runtime '" + std::string(runtime.substr(0, 64)) +
           "' is not supported by bpfaas local: use provided.al2023 (a bootstrap executable)";
}

std::optional<std::string> check_environment(const std::map<std::string, std::string>& env) {
    // Names Lambda sets itself and refuses to let a function override.
    static constexpr std::array<std::string_view, 18> reserved = {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"};
    std::size_t total = 0;
    for (const auto& [k, v] : env) {
        bool ok = !k.empty() && ((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z'));
        for (unsigned char ch : k)
            ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_');
        if (!ok) return "Environment variable name '" + k.substr(0, 64) + "' must match [a-zA-Z][a-zA-Z0-9_]*";
        for (auto r : reserved)
            if (k == r) return "Lambda was unable to configure your environment variables because the environment "
                               "variables you have provided contains reserved keys that are currently not supported "
                               "for modification. Reserved keys used in this request: " + k;
        if (v.find('\0') != std::string::npos) return "Environment variable '" + k + "' holds a NUL byte";
        total += k.size() + v.size();
    }
    if (total > 4096)
        return "Environment variables exceed the 4 KB limit (" + std::to_string(total) + " bytes)";
    return std::nullopt;
}

std::optional<std::string> check_concurrency(std::int64_t value, unsigned max) {
    if (value < 0 || value > static_cast<std::int64_t>(max))
        return "ReservedConcurrentExecutions must be between 0 and " + std::to_string(max) + ", got " +
               std::to_string(value);
    return std::nullopt;
}

std::expected<FunctionRef, std::string> parse_function_ref(std::string_view text) {
    // Forms: name, name:qualifier, 123456789012:function:name[:q],
    // arn:aws:lambda:region:123456789012:function:name[:q].
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        auto colon = text.find(':', start);
        parts.push_back(text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
        if (colon == std::string_view::npos) break;
        start = colon + 1;
    }
    std::size_t at = 0;
    if (parts.size() >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function") at = 6;
    else if (parts.size() >= 3 && parts[1] == "function") at = 2;
    else if (parts[0] == "arn") return std::unexpected("'" + std::string(text.substr(0, 170)) + "' is not a function ARN");
    FunctionRef ref;
    ref.name = std::string(parts[at]);
    if (parts.size() == at + 2) ref.qualifier = std::string(parts[at + 1]);
    else if (parts.size() > at + 2)
        return std::unexpected("'" + std::string(text.substr(0, 170)) + "' is not a function name or ARN");
    if (auto bad = check_function_name(ref.name)) return std::unexpected(*bad);
    return ref;
}

std::string function_arn(std::string_view region, std::string_view name) {
    std::string out = "arn:aws:lambda:";
    out += region;
    out += ":000000000000:function:";
    out += name;
    return out;
}

std::string lambda_timestamp(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    auto secs = time_point_cast<seconds>(t);
    auto ms = duration_cast<milliseconds>(t - secs).count();
    std::time_t tt = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

std::string iso8601(std::chrono::system_clock::time_point t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string random_uuid() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < 16; i += 8) {
        auto r = rng();
        for (int j = 0; j < 8; ++j) b[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);
    // Every invocation takes one: hex by table, not snprintf.
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(36, '-');
    std::size_t pos = 0;
    for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) ++pos;  // the dashes
        out[pos++] = hex[b[i] >> 4];
        out[pos++] = hex[b[i] & 0xf];
    }
    return out;
}

}  // namespace blueprint::platform
