#include "faas/aws/lambda_api.hpp"

#include "faas/aws/sigv4.hpp"
#include "faas/http/url.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace blueprint::faas::aws::lambda_api {

namespace json = boost::json;
using std::chrono::microseconds;
using std::chrono::milliseconds;

namespace {

bool name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

std::string excerpt(std::string_view text, std::size_t max = 300) {
    std::string out(text.substr(0, max));
    for (auto& c : out)
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') c = ' ';
    if (text.size() > max) out += "...";
    return out;
}

std::string functions_path(std::string_view name, std::string_view suffix = {}) {
    std::string p = "/2015-03-31/functions/";
    p += sigv4::uri_encode(name);
    p += suffix;
    return p;
}

json::object environment(const FaasConfig& config) {
    json::object vars;
    for (const auto& [k, v] : config.env_vars) vars[k] = v;
    json::object env;
    env["Variables"] = std::move(vars);
    return env;
}

json::array architectures(Architecture arch) {
    json::array a;
    a.emplace_back(std::string(to_string(arch)));
    return a;
}

ApiCall make(std::string op, std::string_view subject, std::string method, std::string path, std::string body = {}) {
    ApiCall c;
    c.operation = std::move(op);
    c.subject = std::string(subject);
    c.method = std::move(method);
    c.path = std::move(path);
    c.body = std::move(body);
    return c;
}

std::string_view str(const json::object& o, std::string_view key) {
    if (auto it = o.find(key); it != o.end() && it->value().is_string()) return it->value().get_string();
    return {};
}

template <class T> std::optional<T> num(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end()) return std::nullopt;
    const auto& v = it->value();
    if (v.is_int64() && v.get_int64() >= 0) return static_cast<T>(v.get_int64());
    if (v.is_uint64()) return static_cast<T>(v.get_uint64());
    return std::nullopt;
}

std::expected<json::object, FaasError> parse_object(std::string_view text, std::string_view what) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object())
        return std::unexpected(FaasError::make(faas_errc::serialization,
                                               std::string(what) + ": reply is not a JSON object: " + excerpt(text, 200)));
    return std::move(v.as_object());
}

LambdaFunctionInfo info_from(const json::object& o) {
    LambdaFunctionInfo info;
    info.name = std::string(str(o, "FunctionName"));
    info.arn = std::string(str(o, "FunctionArn"));
    info.state = std::string(str(o, "State"));
    info.last_update_status = std::string(str(o, "LastUpdateStatus"));
    info.state_reason = std::string(str(o, "StateReason"));
    if (info.state_reason.empty()) info.state_reason = std::string(str(o, "LastUpdateStatusReason"));
    info.memory_mb = num<std::uint32_t>(o, "MemorySize").value_or(0);
    info.timeout_secs = num<std::uint32_t>(o, "Timeout").value_or(0);
    info.code_size = num<std::uint64_t>(o, "CodeSize").value_or(0);
    info.last_modified = std::string(str(o, "LastModified"));
    if (auto it = o.find("Architectures"); it != o.end() && it->value().is_array()) {
        const auto& a = it->value().get_array();
        if (!a.empty() && a[0].is_string()) info.architecture = std::string(a[0].get_string());
    }
    return info;
}

using boost::beast::iequals;  // ASCII case-insensitive equality

/// "12.34 ms" -> microseconds; "30 MB" -> 30.
std::optional<double> leading_number(std::string_view v) {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    double d = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc{} || p == v.data() || !std::isfinite(d) || d < 0) return std::nullopt;
    return d;
}

std::optional<microseconds> ms_field(std::string_view v) {
    auto d = leading_number(v);
    if (!d || *d > 1e12) return std::nullopt;
    return microseconds(static_cast<std::int64_t>(std::llround(*d * 1000.0)));
}

std::optional<std::uint32_t> mb_field(std::string_view v) {
    auto d = leading_number(v);
    if (!d || *d > 1e9) return std::nullopt;
    return static_cast<std::uint32_t>(*d);
}

}  // namespace

// ---- names ---------------------------------------------------------------------------

bool valid_prefix(std::string_view prefix) noexcept {
    return !prefix.empty() && prefix.size() <= 40 && std::all_of(prefix.begin(), prefix.end(), name_char);
}

std::expected<std::string, FaasError> function_name(std::string_view prefix, const JobId& job_id) {
    std::string name(prefix);
    name += "-job-";
    name += job_id.to_string();
    if (name.size() > max_function_name) {
        return std::unexpected(FaasError::make(
            faas_errc::unsupported, "job " + job_id.to_string() + ": function name \"" + name + "\" has " +
                                        std::to_string(name.size()) + " characters; Lambda allows at most " +
                                        std::to_string(max_function_name) + " (ids are never truncated)"));
    }
    return name;
}

std::string default_endpoint(std::string_view region) { return "https://lambda." + std::string(region) + ".amazonaws.com"; }

bool valid_region(std::string_view region) noexcept {
    return !region.empty() && region.size() <= 32 && std::all_of(region.begin(), region.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

std::optional<FaasError> validate_config(const FaasConfig& config) {
    if (config.memory_mb < min_memory_mb || config.memory_mb > max_memory_mb)
        return FaasError::make(faas_errc::invocation_failed,
                               "memory_mb " + std::to_string(config.memory_mb) + " is outside Lambda's " +
                                   std::to_string(min_memory_mb) + "-" + std::to_string(max_memory_mb) + " MB");
    if (config.timeout_secs < min_timeout_secs || config.timeout_secs > max_timeout_secs)
        return FaasError::make(faas_errc::invocation_failed,
                               "timeout_secs " + std::to_string(config.timeout_secs) + " is outside Lambda's " +
                                   std::to_string(min_timeout_secs) + "-" + std::to_string(max_timeout_secs) + " s");
    if (config.max_concurrency && *config.max_concurrency > 1'000'000)
        return FaasError::make(faas_errc::invocation_failed, "max_concurrency is unreasonably large");
    return std::nullopt;
}

// ---- requests ----------------------------------------------------------------------------

ApiCall get_function(std::string_view name) { return make("GetFunction", name, "GET", functions_path(name)); }

ApiCall get_function_configuration(std::string_view name) {
    return make("GetFunctionConfiguration", name, "GET", functions_path(name, "/configuration"));
}

ApiCall delete_function(std::string_view name) { return make("DeleteFunction", name, "DELETE", functions_path(name)); }

ApiCall list_functions(std::string_view marker, unsigned max_items) {
    auto c = make("ListFunctions", {}, "GET", "/2015-03-31/functions/");
    if (!marker.empty()) c.query = "Marker=" + sigv4::uri_encode(marker) + "&";
    c.query += "MaxItems=" + std::to_string(std::clamp(max_items, 1u, 10000u));
    return c;
}

ApiCall create_function(std::string_view name, std::string_view role_arn, const FaasConfig& config, Architecture arch,
                        std::string_view zip_base64) {
    json::object body;
    body["FunctionName"] = name;
    body["Runtime"] = "provided.al2023";
    body["Role"] = role_arn;
    body["Handler"] = "bootstrap";
    body["PackageType"] = "Zip";
    body["Code"] = json::object{{"ZipFile", zip_base64}};
    body["MemorySize"] = config.memory_mb;
    body["Timeout"] = config.timeout_secs;
    body["Architectures"] = architectures(arch);
    body["Environment"] = environment(config);
    body["Publish"] = false;
    auto c = make("CreateFunction", name, "POST", "/2015-03-31/functions", json::serialize(body));
    c.retry_conflict = false;
    return c;
}

ApiCall update_function_code(std::string_view name, std::string_view zip_base64, Architecture arch) {
    json::object body;
    body["ZipFile"] = zip_base64;
    body["Architectures"] = architectures(arch);
    body["Publish"] = false;
    return make("UpdateFunctionCode", name, "PUT", functions_path(name, "/code"), json::serialize(body));
}

ApiCall update_function_configuration(std::string_view name, const FaasConfig& config) {
    json::object body;
    body["MemorySize"] = config.memory_mb;
    body["Timeout"] = config.timeout_secs;
    body["Environment"] = environment(config);
    return make("UpdateFunctionConfiguration", name, "PUT", functions_path(name, "/configuration"), json::serialize(body));
}

ApiCall put_function_concurrency(std::string_view name, std::uint32_t reserved) {
    json::object body;
    body["ReservedConcurrentExecutions"] = reserved;
    return make("PutFunctionConcurrency", name, "PUT", "/2017-10-31/functions/" + sigv4::uri_encode(name) + "/concurrency",
                json::serialize(body));
}

ApiCall delete_function_concurrency(std::string_view name) {
    return make("DeleteFunctionConcurrency", name, "DELETE", "/2017-10-31/functions/" + sigv4::uri_encode(name) + "/concurrency");
}

ApiCall invoke(std::string_view name, std::string_view qualifier, std::string payload, InvocationType type) {
    auto c = make("Invoke", name, "POST", functions_path(name, "/invocations"), std::move(payload));
    if (!qualifier.empty()) c.query = "Qualifier=" + sigv4::uri_encode(qualifier);
    if (type == InvocationType::event) {
        c.headers.emplace_back("X-Amz-Invocation-Type", "Event");
    } else {
        c.headers.emplace_back("X-Amz-Invocation-Type", "RequestResponse");
        c.headers.emplace_back("X-Amz-Log-Type", "Tail");
    }
    return c;
}

std::expected<http::Request, FaasError> sign_call(const ApiCall& call, std::string_view endpoint,
                                                  const AwsCredentials& credentials, std::string_view region,
                                                  std::chrono::system_clock::time_point now) {
    std::string url(endpoint);
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += call.path;
    if (!call.query.empty()) url += "?" + call.query;
    auto parsed = http::detail::parse_url(url);
    if (!parsed) return std::unexpected(FaasError::make(faas_errc::invocation_failed, "endpoint URL: " + parsed.error()));

    http::Request req;
    req.method = call.method;
    req.url = std::move(url);
    req.headers = call.headers;
    if (!call.body.empty() || call.method == "POST" || call.method == "PUT")
        req.headers.emplace_back("Content-Type", "application/json");

    // The client sends exactly this Host (url.host_header), so it can be signed.
    std::vector<sigv4::Header> to_sign;
    to_sign.emplace_back("Host", parsed->host_header);
    for (const auto& h : req.headers) to_sign.emplace_back(h.first, h.second);
    sigv4::Request sreq{.method = call.method, .target = parsed->target, .headers = to_sign, .body = call.body};
    auto sig = sigv4::sign(sreq, credentials, sigv4::Context{.region = region, .service = "lambda", .time = now});
    if (!sig)
        return std::unexpected(FaasError::make(sig.error() == sigv4::sigv4_errc::missing_credentials
                                                   ? faas_errc::unauthorized
                                                   : faas_errc::invocation_failed,
                                               "cannot sign " + call.operation + ": " + sig.error().message()));
    for (auto& h : sig->headers_to_add) req.headers.emplace_back(std::move(h));
    req.body = call.body;
    return req;
}

// ---- replies ---------------------------------------------------------------------------

std::expected<LambdaFunctionInfo, FaasError> parse_function_configuration(std::string_view text) {
    auto o = parse_object(text, "FunctionConfiguration");
    if (!o) return std::unexpected(std::move(o.error()));
    auto info = info_from(*o);
    if (info.name.empty())
        return std::unexpected(FaasError::make(faas_errc::serialization, "FunctionConfiguration without FunctionName"));
    return info;
}

std::expected<LambdaFunctionInfo, FaasError> parse_get_function(std::string_view text) {
    auto o = parse_object(text, "GetFunction");
    if (!o) return std::unexpected(std::move(o.error()));
    auto it = o->find("Configuration");
    if (it == o->end() || !it->value().is_object())
        return std::unexpected(FaasError::make(faas_errc::serialization, "GetFunction reply without Configuration"));
    auto info = info_from(it->value().get_object());
    if (info.name.empty())
        return std::unexpected(FaasError::make(faas_errc::serialization, "GetFunction reply without FunctionName"));
    if (auto c = o->find("Concurrency"); c != o->end() && c->value().is_object())
        info.reserved_concurrency = num<std::uint32_t>(c->value().get_object(), "ReservedConcurrentExecutions");
    return info;
}

std::expected<FunctionPage, FaasError> parse_list_functions(std::string_view text) {
    auto o = parse_object(text, "ListFunctions");
    if (!o) return std::unexpected(std::move(o.error()));
    FunctionPage page;
    auto it = o->find("Functions");
    if (it == o->end() || !it->value().is_array())
        return std::unexpected(FaasError::make(faas_errc::serialization, "ListFunctions reply without Functions"));
    for (const auto& f : it->value().get_array()) {
        if (!f.is_object())
            return std::unexpected(FaasError::make(faas_errc::serialization, "ListFunctions: a function is not an object"));
        page.functions.push_back(info_from(f.get_object()));
    }
    page.next_marker = std::string(str(*o, "NextMarker"));
    return page;
}

std::string error_code_of(const http::Headers& headers, std::string_view body) {
    if (auto t = http::find_header(headers, "x-amzn-ErrorType"); !t.empty()) {
        return std::string(t.substr(0, t.find(':')));
    }
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) return {};
    const auto& o = v.get_object();
    for (auto key : {"code", "Code", "__type"}) {
        auto s = str(o, key);
        if (s.empty()) continue;
        if (auto hash = s.rfind('#'); hash != std::string_view::npos) s = s.substr(hash + 1);
        return std::string(s.substr(0, s.find(':')));
    }
    return {};
}

FaasError api_error(int status, const http::Headers& headers, std::string_view body, std::string_view what) {
    const std::string code = error_code_of(headers, body);
    std::string message;
    {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        if (!ec && v.is_object()) {
            for (auto key : {"message", "Message", "errorMessage"}) {
                if (auto s = str(v.get_object(), key); !s.empty()) {
                    message = excerpt(s);
                    break;
                }
            }
        }
    }
    if (message.empty() && !body.empty()) message = excerpt(body);

    faas_errc kind;
    auto is = [&](std::initializer_list<std::string_view> names) {
        return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return code == n; });
    };
    if (is({"ResourceNotFoundException"})) {
        kind = faas_errc::not_found;
    } else if (is({"TooManyRequestsException", "ThrottlingException", "EC2ThrottledException"})) {
        kind = faas_errc::throttled;
    } else if (is({"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
                   "IncompleteSignatureException", "MissingAuthenticationTokenException", "ExpiredTokenException",
                   "SignatureDoesNotMatch", "InvalidClientTokenId"})) {
        kind = faas_errc::unauthorized;
    } else if (is({"ResourceNotReadyException", "ServiceException"})) {
        kind = faas_errc::infrastructure;
    } else if (is({"RequestTooLargeException", "InvalidRequestContentException", "UnsupportedMediaTypeException"})) {
        kind = faas_errc::serialization;
    } else if (status == 404) {
        kind = faas_errc::not_found;
    } else if (status == 429) {
        kind = faas_errc::throttled;
    } else if (status == 401 || status == 403) {
        kind = faas_errc::unauthorized;
    } else if (status >= 500) {
        kind = faas_errc::infrastructure;
    } else if (status == 413) {
        kind = faas_errc::serialization;
    } else {
        kind = faas_errc::invocation_failed;
    }

    std::string text(what);
    text += ": ";
    text += code.empty() ? "HTTP " + std::to_string(status) : code;
    if (!message.empty()) text += ": " + message;
    FaasError e = FaasError::make(kind, std::move(text));
    e.http_status = status;
    e.request_id = std::string(http::find_header(headers, "x-amzn-RequestId"));
    if (auto ra = http::find_header(headers, "Retry-After"); !ra.empty())
        e.retry_after = http::parse_retry_after(ra, std::chrono::system_clock::now());
    return e;
}

bool retryable_reply(int status, std::string_view code, bool retry_conflict) noexcept {
    if (code == "TooManyRequestsException" || code == "ThrottlingException" || code == "ResourceNotReadyException" ||
        code == "ServiceException" || code == "EC2ThrottledException")
        return true;
    if (status == 409 && retry_conflict && (code.empty() || code == "ResourceConflictException")) return true;
    return status == 429 || status >= 500;
}

// ---- invoke replies ---------------------------------------------------------------------

std::optional<Report> parse_report(std::string_view log) {
    std::optional<std::string_view> line;
    // The last complete line that starts with "REPORT RequestId:" (the tail
    // may begin mid-line, which then cannot start with it).
    std::size_t pos = 0;
    while (pos < log.size()) {
        auto nl = log.find('\n', pos);
        auto l = log.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        if (l.starts_with("REPORT RequestId:")) line = l;
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    if (!line) return std::nullopt;
    Report r;
    std::string_view rest = *line;
    while (!rest.empty()) {
        auto tab = rest.find('\t');
        auto field = rest.substr(0, tab);
        rest = tab == std::string_view::npos ? std::string_view{} : rest.substr(tab + 1);
        while (!field.empty() && (field.back() == ' ' || field.back() == '\r')) field.remove_suffix(1);
        auto colon = field.find(": ");
        if (colon == std::string_view::npos) continue;
        auto name = field.substr(0, colon);
        auto value = field.substr(colon + 2);
        if (name == "Duration") r.duration = ms_field(value);
        else if (name == "Billed Duration") r.billed_duration = ms_field(value);
        else if (name == "Init Duration") r.init_duration = ms_field(value);
        else if (name == "Memory Size") r.memory_size_mb = mb_field(value);
        else if (name == "Max Memory Used") r.max_memory_used_mb = mb_field(value);
    }
    return r;
}

std::optional<Report> parse_log_result(std::string_view base64) {
    if (base64.empty()) return std::nullopt;
    auto log = wire::base64_decode(base64);
    if (!log) return std::nullopt;
    return parse_report(*log);
}

void apply_report(const Report& report, FaasMetrics& metrics) {
    metrics.execution_duration = report.duration;
    metrics.billed_duration = report.billed_duration;
    metrics.memory_used_mb = report.max_memory_used_mb;
    // Lambda prints Init Duration on a cold start only: its presence is the fact.
    metrics.cold_start = report.init_duration.has_value();
}

std::expected<JobResult, FaasError> interpret_invoke(int status, const http::Headers& headers, std::string_view body,
                                                     std::string_view what) {
    if (status == 202) {
        Metadata md;
        md.insert(std::string(invocation_status_key), MetadataValue(std::string_view("accepted")));
        if (auto id = http::find_header(headers, "x-amzn-RequestId"); !id.empty())
            md.insert(std::string(request_id_key), MetadataValue(id));
        return JobResult::ok(std::move(md), {});
    }
    if (auto fe = http::find_header(headers, "X-Amz-Function-Error"); !fe.empty()) {
        std::string type, message;
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        if (!ec && v.is_object()) {
            type = std::string(str(v.get_object(), "errorType"));
            message = std::string(str(v.get_object(), "errorMessage"));
        }
        if (type.empty()) type = std::string(fe);  // "Unhandled" / "Handled"
        if (message.empty()) message = body.empty() ? "the function failed" : excerpt(body, 1000);
        // A function killed at its timeout: say timeout, not just "failed".
        const bool timed_out = type == "Sandbox.Timedout" || message.find("Task timed out") != std::string::npos;
        return JobResult::error(make_error_code(timed_out ? faas_errc::timeout : faas_errc::function_error),
                                std::move(message), std::move(type));
    }
    if (status == 204) return std::unexpected(FaasError::make(faas_errc::serialization,
                                                              std::string(what) + ": 204 without a payload (DryRun?)"));
    auto reply = wire::decode_reply_json(body);
    if (!reply) {
        auto e = FaasError::make(faas_errc::serialization, std::string(what) + ": the function's reply is not a Blueprint reply: " +
                                                                reply.error().message + "; body: " + excerpt(body, 200));
        e.http_status = status;
        e.request_id = std::string(http::find_header(headers, "x-amzn-RequestId"));
        return std::unexpected(std::move(e));
    }
    return wire::reply_to_job_result(std::move(*reply));
}

// ---- state polling --------------------------------------------------------------------------

PollDecision readiness(const LambdaFunctionInfo& info) {
    if (iequals(info.state, "Failed"))
        return {Readiness::failed, "State Failed" + (info.state_reason.empty() ? "" : ": " + info.state_reason)};
    if (iequals(info.last_update_status, "Failed"))
        return {Readiness::failed,
                "LastUpdateStatus Failed" + (info.state_reason.empty() ? "" : ": " + info.state_reason)};
    const bool active = iequals(info.state, "Active");
    const bool updated = info.last_update_status.empty() || iequals(info.last_update_status, "Successful");
    if (active && updated) return {Readiness::ready, {}};
    std::string why = "State " + (info.state.empty() ? std::string("(none)") : info.state);
    if (!info.last_update_status.empty()) why += ", LastUpdateStatus " + info.last_update_status;
    return {Readiness::wait, std::move(why)};
}

bool is_healthy(const LambdaFunctionInfo& info) noexcept {
    return iequals(info.state, "Active") && iequals(info.last_update_status, "Successful");
}

milliseconds poll_delay(unsigned attempt, milliseconds initial, milliseconds max, double random01) noexcept {
    if (initial.count() <= 0) initial = milliseconds(1);
    if (max < initial) max = initial;
    double d = static_cast<double>(initial.count());
    for (unsigned i = 1; i < attempt && d < static_cast<double>(max.count()); ++i) d *= 2;
    d = std::min(d, static_cast<double>(max.count()));
    random01 = std::clamp(random01, 0.0, 1.0);
    d *= 0.8 + 0.4 * random01;
    return milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(d)));
}

}  // namespace blueprint::faas::aws::lambda_api
