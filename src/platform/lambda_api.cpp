#include "platform/lambda_api.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include <charconv>

namespace blueprint::platform::lambda_api {
namespace json = boost::json;
namespace wire = blueprint::faas::wire;

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        out.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return out;
}

std::expected<json::object, ApiError> parse_object(std::string_view body) {
    if (body.empty()) return json::object{};
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return std::unexpected(invalid_content("Could not parse request body into json: " + ec.message()));
    if (!v.is_object()) return std::unexpected(invalid_content("The request body must be a JSON object"));
    return std::move(v.as_object());
}

const json::value* field(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return (it == o.end() || it->value().is_null()) ? nullptr : &it->value();
}

std::expected<std::optional<std::string>, ApiError> string_field(const json::object& o, std::string_view key) {
    const auto* v = field(o, key);
    if (!v) return std::optional<std::string>{};
    if (!v->is_string()) return std::unexpected(invalid_parameter(std::string(key) + " must be a string"));
    return std::optional<std::string>(std::string(v->as_string()));
}

std::expected<std::optional<std::int64_t>, ApiError> int_field(const json::object& o, std::string_view key) {
    const auto* v = field(o, key);
    if (!v) return std::optional<std::int64_t>{};
    if (v->is_int64()) return std::optional<std::int64_t>(v->as_int64());
    if (v->is_uint64()) return std::optional<std::int64_t>(INT64_MAX);
    return std::unexpected(invalid_parameter(std::string(key) + " must be an integer"));
}

std::expected<std::optional<std::map<std::string, std::string>>, ApiError> env_field(const json::object& o) {
    const auto* env = field(o, "Environment");
    if (!env) return std::optional<std::map<std::string, std::string>>{};
    if (!env->is_object()) return std::unexpected(invalid_parameter("Environment must be an object"));
    std::map<std::string, std::string> out;
    if (const auto* vars = field(env->as_object(), "Variables")) {
        if (!vars->is_object()) return std::unexpected(invalid_parameter("Environment.Variables must be an object"));
        for (const auto& kv : vars->as_object()) {
            if (!kv.value().is_string())
                return std::unexpected(invalid_parameter("Environment variable " + std::string(kv.key()) + " must be a string"));
            out[std::string(kv.key())] = std::string(kv.value().as_string());
        }
    }
    if (auto bad = check_environment(out)) return std::unexpected(invalid_parameter(*bad));
    return std::optional(std::move(out));
}

std::expected<std::optional<std::string>, ApiError> architecture_field(const json::object& o) {
    const auto* a = field(o, "Architectures");
    if (!a) return std::optional<std::string>{};
    if (!a->is_array() || a->as_array().size() != 1 || !a->as_array()[0].is_string())
        return std::unexpected(invalid_parameter("Architectures must hold exactly one of x86_64, arm64"));
    std::string arch(a->as_array()[0].as_string());
    if (arch != "x86_64" && arch != "arm64")
        return std::unexpected(invalid_parameter("Architectures must hold exactly one of x86_64, arm64, got " + arch));
    return std::optional(std::move(arch));
}

std::expected<std::string, ApiError> decode_zip(const json::value& v, std::size_t max_zip_bytes) {
    if (!v.is_string()) return std::unexpected(invalid_parameter("ZipFile must be a base64 string"));
    auto decoded = wire::base64_decode(v.as_string());
    if (!decoded) return std::unexpected(invalid_parameter("ZipFile is not valid base64: " + decoded.error().message));
    if (decoded->size() > max_zip_bytes)
        return std::unexpected(too_large("Unzipped size must be smaller than the package limit: the zip is " +
                                         std::to_string(decoded->size()) + " bytes, the limit " +
                                         std::to_string(max_zip_bytes)));
    if (decoded->empty()) return std::unexpected(invalid_parameter("ZipFile is empty"));
    return std::move(*decoded);
}

// Which exceptions spell the message "Message" in the botocore model.
bool capital_message(std::string_view type) {
    return type == "ResourceNotFoundException" || type == "ServiceException" || type == "InvalidZipFileException" ||
           type == "ResourceInUseException" || type == "InvalidRuntimeException";
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        unsigned v = 0;
        auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
        if (ec != std::errc{} || end != text.data() + i + 3) return std::nullopt;
        out += static_cast<char>(v);
        i += 2;
    }
    return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    std::size_t start = 0;
    while (start <= query.size() && !query.empty()) {
        auto amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        auto pair = query.substr(start, amp - start);
        auto eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq));
        if (key && *key == name) return percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        start = amp + 1;
    }
    return std::nullopt;
}

std::optional<Route> route(std::string_view method, std::string_view target) {
    auto q = target.find('?');
    std::string_view path = target.substr(0, q);
    Route r;
    if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
    auto parts = split_path(path);  // "", version, "functions", name, ...
    if (parts.size() < 3 || !parts[0].empty()) return std::nullopt;
    const auto version = parts[1];
    if (version != "2015-03-31" && version != "2017-10-31" && version != "2019-09-30") return std::nullopt;
    if (parts[2] != "functions") return r;
    // Trailing slash on ListFunctions ("/2015-03-31/functions/") is the model's own URI.
    if (parts.size() == 3 || (parts.size() == 4 && parts[3].empty())) {
        if (version == "2015-03-31" && method == "POST") r.op = Op::create_function;
        else if (version == "2015-03-31" && method == "GET") r.op = Op::list_functions;
        return r;
    }
    auto name = percent_decode(parts[3]);
    if (!name || name->empty()) return r;
    r.function = std::move(*name);
    const auto tail = parts.size() == 4 ? std::string_view{} : parts[4];
    if (parts.size() > 5) return r;
    if (version == "2015-03-31") {
        if (tail.empty() && parts.size() == 4) {
            if (method == "GET") r.op = Op::get_function;
            else if (method == "DELETE") r.op = Op::delete_function;
        } else if (tail == "code" && method == "PUT") r.op = Op::update_function_code;
        else if (tail == "configuration" && method == "GET") r.op = Op::get_function_configuration;
        else if (tail == "configuration" && method == "PUT") r.op = Op::update_function_configuration;
        else if (tail == "invocations" && method == "POST") r.op = Op::invoke;
    } else if (version == "2017-10-31" && tail == "concurrency") {
        if (method == "PUT") r.op = Op::put_function_concurrency;
        else if (method == "DELETE") r.op = Op::delete_function_concurrency;
    } else if (version == "2019-09-30" && tail == "concurrency" && method == "GET") {
        r.op = Op::get_function_concurrency;
    }
    return r;
}

namespace {
// A SAX handler that accepts every event: only the syntax is checked.
struct NullHandler {
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);
    using ec = boost::system::error_code;
    bool on_document_begin(ec&) { return true; }
    bool on_document_end(ec&) { return true; }
    bool on_array_begin(ec&) { return true; }
    bool on_array_end(std::size_t, ec&) { return true; }
    bool on_object_begin(ec&) { return true; }
    bool on_object_end(std::size_t, ec&) { return true; }
    bool on_string_part(std::string_view, std::size_t, ec&) { return true; }
    bool on_string(std::string_view, std::size_t, ec&) { return true; }
    bool on_key_part(std::string_view, std::size_t, ec&) { return true; }
    bool on_key(std::string_view, std::size_t, ec&) { return true; }
    bool on_number_part(std::string_view, ec&) { return true; }
    bool on_int64(std::int64_t, std::string_view, ec&) { return true; }
    bool on_uint64(std::uint64_t, std::string_view, ec&) { return true; }
    bool on_double(double, std::string_view, ec&) { return true; }
    bool on_bool(bool, ec&) { return true; }
    bool on_null(ec&) { return true; }
    bool on_comment_part(std::string_view, ec&) { return true; }
    bool on_comment(std::string_view, ec&) { return true; }
};
}  // namespace

boost::system::error_code validate_json(std::string_view text) {
    json::basic_parser<NullHandler> parser(json::parse_options{});
    boost::system::error_code ec;
    const auto n = parser.write_some(false, text.data(), text.size(), ec);
    if (!ec && n < text.size()) ec = json::error::extra_data;
    return ec;
}

std::string error_body(const ApiError& e) {
    json::object o;
    o["Type"] = "User";
    o[capital_message(e.type) ? "Message" : "message"] = e.message;
    if (!e.reason.empty()) o["Reason"] = e.reason;
    return json::serialize(o);
}

ApiError not_found(std::string_view region, std::string_view name) {
    return {404, "ResourceNotFoundException", "Function not found: " + function_arn(region, name), {}, {}};
}
ApiError invalid_parameter(std::string message) { return {400, "InvalidParameterValueException", std::move(message), {}, {}}; }
ApiError invalid_content(std::string message) { return {400, "InvalidRequestContentException", std::move(message), {}, {}}; }
ApiError conflict(std::string message) { return {409, "ResourceConflictException", std::move(message), {}, {}}; }
ApiError too_large(std::string message) { return {413, "RequestTooLargeException", std::move(message), {}, {}}; }
ApiError throttled(std::string reason, std::string message, unsigned retry_after) {
    return {429, "TooManyRequestsException", std::move(message), retry_after, std::move(reason)};
}
ApiError service_error(std::string message) { return {500, "ServiceException", std::move(message), {}, {}}; }
ApiError unsupported_operation(std::string_view method, std::string_view target) {
    return {404, "UnknownOperationException",
            "bpfaas local does not serve " + std::string(method) + " " + std::string(target.substr(0, 200)), {}, {}};
}

std::expected<std::string, ApiError> function_name(std::string_view region, std::string_view path_name) {
    auto ref = parse_function_ref(path_name);
    if (!ref) return std::unexpected(invalid_parameter(ref.error()));
    if (!ref->qualifier.empty() && ref->qualifier != "$LATEST") {
        ApiError e = not_found(region, ref->name);
        e.message = "Function not found: " + function_arn(region, ref->name) + ":" + ref->qualifier +
                    " (bpfaas local has only $LATEST)";
        return std::unexpected(e);
    }
    return ref->name;
}

std::expected<CreateRequest, ApiError> parse_create(std::string_view body, std::size_t max_zip_bytes) {
    auto o = parse_object(body);
    if (!o) return std::unexpected(o.error());
    CreateRequest req;
    auto& c = req.config;

    auto name = string_field(*o, "FunctionName");
    if (!name) return std::unexpected(name.error());
    if (!*name) return std::unexpected(invalid_parameter("FunctionName is required"));
    auto ref = parse_function_ref(**name);
    if (!ref || !ref->qualifier.empty())
        return std::unexpected(invalid_parameter(ref ? "FunctionName may not hold a qualifier" : ref.error()));
    c.name = ref->name;

    auto role = string_field(*o, "Role");
    if (!role) return std::unexpected(role.error());
    if (!*role) return std::unexpected(invalid_parameter("Role is required"));
    if (auto bad = check_role(**role)) return std::unexpected(invalid_parameter(*bad));
    c.role = **role;

    if (auto pt = string_field(*o, "PackageType"); !pt) return std::unexpected(pt.error());
    else if (*pt && **pt != "Zip")
        return std::unexpected(invalid_parameter("bpfaas local runs zip packages only (PackageType Zip)"));

    auto runtime = string_field(*o, "Runtime");
    auto handler = string_field(*o, "Handler");
    if (!runtime) return std::unexpected(runtime.error());
    if (!handler) return std::unexpected(handler.error());
    if (!*runtime || !*handler)
        return std::unexpected(invalid_parameter(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages."));
    if (auto bad = check_runtime(**runtime)) return std::unexpected(invalid_parameter(*bad));
    c.runtime = **runtime;
    c.handler = **handler;
    if (c.handler.empty() || c.handler.size() > 128) return std::unexpected(invalid_parameter("Handler must be 1-128 characters"));

    if (auto d = string_field(*o, "Description"); !d) return std::unexpected(d.error());
    else if (*d) c.description = **d;
    if (auto t = int_field(*o, "Timeout"); !t) return std::unexpected(t.error());
    else if (*t) {
        if (auto bad = check_timeout(**t)) return std::unexpected(invalid_parameter(*bad));
        c.timeout_s = static_cast<unsigned>(**t);
    }
    if (auto m = int_field(*o, "MemorySize"); !m) return std::unexpected(m.error());
    else if (*m) {
        if (auto bad = check_memory(**m)) return std::unexpected(invalid_parameter(*bad));
        c.memory_mb = static_cast<unsigned>(**m);
    }
    if (auto env = env_field(*o); !env) return std::unexpected(env.error());
    else if (*env) c.env = std::move(**env);
    if (auto arch = architecture_field(*o); !arch) return std::unexpected(arch.error());
    else if (*arch) c.architecture = **arch;
    if (const auto* tags = field(*o, "Tags")) {
        if (!tags->is_object()) return std::unexpected(invalid_parameter("Tags must be an object"));
        for (const auto& kv : tags->as_object()) {
            if (!kv.value().is_string()) return std::unexpected(invalid_parameter("Tag values must be strings"));
            c.tags[std::string(kv.key())] = std::string(kv.value().as_string());
        }
    }

    const auto* code = field(*o, "Code");
    if (!code || !code->is_object()) return std::unexpected(invalid_parameter("Code is required"));
    const auto& co = code->as_object();
    if (field(co, "S3Bucket") || field(co, "S3Key") || field(co, "ImageUri"))
        return std::unexpected(invalid_parameter("bpfaas local accepts Code.ZipFile only (no S3 or image code)"));
    const auto* zip = field(co, "ZipFile");
    if (!zip) return std::unexpected(invalid_parameter("Code.ZipFile is required"));
    auto bytes = decode_zip(*zip, max_zip_bytes);
    if (!bytes) return std::unexpected(bytes.error());
    req.zip = std::move(*bytes);
    return req;
}

std::expected<CodeUpdate, ApiError> parse_update_code(std::string_view body, std::size_t max_zip_bytes) {
    auto o = parse_object(body);
    if (!o) return std::unexpected(o.error());
    CodeUpdate u;
    if (field(*o, "S3Bucket") || field(*o, "S3Key") || field(*o, "ImageUri"))
        return std::unexpected(invalid_parameter("bpfaas local accepts ZipFile only (no S3 or image code)"));
    const auto* zip = field(*o, "ZipFile");
    if (!zip) return std::unexpected(invalid_parameter("ZipFile is required"));
    auto bytes = decode_zip(*zip, max_zip_bytes);
    if (!bytes) return std::unexpected(bytes.error());
    u.zip = std::move(*bytes);
    if (auto arch = architecture_field(*o); !arch) return std::unexpected(arch.error());
    else u.architecture = *arch;
    if (auto rev = string_field(*o, "RevisionId"); !rev) return std::unexpected(rev.error());
    else u.revision_id = *rev;
    if (const auto* dry = field(*o, "DryRun")) u.dry_run = dry->is_bool() && dry->as_bool();
    return u;
}

std::expected<void, ApiError> apply_update_configuration(std::string_view body, FunctionConfig& c) {
    auto o = parse_object(body);
    if (!o) return std::unexpected(o.error());
    FunctionConfig next = c;
    if (auto rev = string_field(*o, "RevisionId"); !rev) return std::unexpected(rev.error());
    else if (*rev && **rev != c.revision_id) {
        return std::unexpected(ApiError{412, "PreconditionFailedException",
                                        "The RevisionId provided does not match the latest RevisionId for the Lambda "
                                        "function or alias. Call the GetFunction or the GetAlias API to retrieve the "
                                        "latest RevisionId for your resource.",
                                        {}, {}});
    }
    if (auto role = string_field(*o, "Role"); !role) return std::unexpected(role.error());
    else if (*role) {
        if (auto bad = check_role(**role)) return std::unexpected(invalid_parameter(*bad));
        next.role = **role;
    }
    if (auto h = string_field(*o, "Handler"); !h) return std::unexpected(h.error());
    else if (*h) next.handler = **h;
    if (auto r = string_field(*o, "Runtime"); !r) return std::unexpected(r.error());
    else if (*r) {
        if (auto bad = check_runtime(**r)) return std::unexpected(invalid_parameter(*bad));
        next.runtime = **r;
    }
    if (auto d = string_field(*o, "Description"); !d) return std::unexpected(d.error());
    else if (*d) next.description = **d;
    if (auto t = int_field(*o, "Timeout"); !t) return std::unexpected(t.error());
    else if (*t) {
        if (auto bad = check_timeout(**t)) return std::unexpected(invalid_parameter(*bad));
        next.timeout_s = static_cast<unsigned>(**t);
    }
    if (auto m = int_field(*o, "MemorySize"); !m) return std::unexpected(m.error());
    else if (*m) {
        if (auto bad = check_memory(**m)) return std::unexpected(invalid_parameter(*bad));
        next.memory_mb = static_cast<unsigned>(**m);
    }
    if (auto env = env_field(*o); !env) return std::unexpected(env.error());
    else if (*env) next.env = std::move(**env);
    c = std::move(next);
    return {};
}

std::expected<unsigned, ApiError> parse_put_concurrency(std::string_view body, unsigned max) {
    auto o = parse_object(body);
    if (!o) return std::unexpected(o.error());
    auto n = int_field(*o, "ReservedConcurrentExecutions");
    if (!n) return std::unexpected(n.error());
    if (!*n) return std::unexpected(invalid_parameter("ReservedConcurrentExecutions is required"));
    if (auto bad = check_concurrency(**n, max)) return std::unexpected(invalid_parameter(*bad));
    return static_cast<unsigned>(**n);
}

std::expected<ListQuery, ApiError> parse_list_query(std::string_view query) {
    ListQuery q;
    if (auto m = query_param(query, "Marker")) q.marker = *m;
    if (auto items = query_param(query, "MaxItems")) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(items->data(), items->data() + items->size(), v);
        if (ec != std::errc{} || end != items->data() + items->size() || v < 1 || v > 10000)
            return std::unexpected(invalid_parameter("MaxItems must be an integer 1-10000"));
        // ListFunctions returns at most 50 per page, whatever is asked.
        q.max_items = std::min(v, 50u);
    }
    return q;
}

namespace {
json::object configuration_object(const FunctionConfig& c, std::string_view region, const Status& s) {
    json::object o;
    o["FunctionName"] = c.name;
    o["FunctionArn"] = function_arn(region, c.name);
    o["Runtime"] = c.runtime;
    o["Role"] = c.role;
    o["Handler"] = c.handler;
    o["CodeSize"] = c.code_size;
    o["Description"] = c.description;
    o["Timeout"] = c.timeout_s;
    o["MemorySize"] = c.memory_mb;
    o["LastModified"] = c.last_modified;
    o["CodeSha256"] = c.code_sha256;
    o["Version"] = "$LATEST";
    if (!c.env.empty()) {
        json::object vars;
        for (const auto& [k, v] : c.env) vars[k] = v;
        o["Environment"] = json::object{{"Variables", std::move(vars)}};
    }
    o["TracingConfig"] = json::object{{"Mode", "PassThrough"}};
    o["RevisionId"] = c.revision_id;
    o["State"] = s.state;
    if (!s.state_reason.empty()) o["StateReason"] = s.state_reason;
    o["LastUpdateStatus"] = s.last_update_status;
    o["PackageType"] = "Zip";
    o["Architectures"] = json::array{json::value(c.architecture)};
    o["EphemeralStorage"] = json::object{{"Size", 512}};
    return o;
}
}  // namespace

std::string function_configuration(const FunctionConfig& c, std::string_view region, const Status& s) {
    return json::serialize(configuration_object(c, region, s));
}

std::string get_function(const FunctionConfig& c, std::string_view region, const Status& s,
                         std::string_view code_location) {
    json::object o;
    o["Configuration"] = configuration_object(c, region, s);
    o["Code"] = json::object{{"RepositoryType", "S3"}, {"Location", code_location}};
    if (!c.tags.empty()) {
        json::object tags;
        for (const auto& [k, v] : c.tags) tags[k] = v;
        o["Tags"] = std::move(tags);
    }
    if (c.reserved_concurrency) o["Concurrency"] = json::object{{"ReservedConcurrentExecutions", *c.reserved_concurrency}};
    return json::serialize(o);
}

std::string list_functions(const std::vector<std::string>& configurations, std::optional<std::string> next_marker) {
    std::string out = "{\"Functions\":[";
    for (std::size_t i = 0; i < configurations.size(); ++i) {
        if (i) out += ',';
        out += configurations[i];
    }
    out += ']';
    if (next_marker) out += ",\"NextMarker\":" + json::serialize(json::value(*next_marker));
    out += '}';
    return out;
}

std::string concurrency(std::optional<unsigned> reserved) {
    if (!reserved) return "{}";
    return "{\"ReservedConcurrentExecutions\":" + std::to_string(*reserved) + "}";
}

}  // namespace blueprint::platform::lambda_api
