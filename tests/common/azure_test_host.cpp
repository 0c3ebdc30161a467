// The Azure Functions host stand-in (see azure_test_host.hpp).
#include "common/azure_test_host.hpp"

#include <blueprint/faas/http_client.hpp>
#include <blueprint/faas/packaging.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

namespace blueprint::test {
namespace json = boost::json;
namespace fs = std::filesystem;
namespace fhttp = blueprint::faas::http;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::expected<json::value, std::string> read_json(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::unexpected("cannot read " + path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    auto v = json::parse(ss.str(), ec);
    if (ec) return std::unexpected(path.filename().string() + " is not JSON: " + ec.message());
    return v;
}

HttpReply reply(int status, std::string body) {
    HttpReply r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", "application/json");
    return r;
}

std::string query_of(std::string_view target) {
    auto q = target.find('?');
    return q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
}

}  // namespace

fhttp::ClientOptions AzureTestHost::client_options() {
    fhttp::ClientOptions o;
    o.use_env_proxy = false;
    o.retry = fhttp::RetryPolicy::none();
    o.request_timeout = std::chrono::minutes(10);
    return o;
}

std::expected<std::unique_ptr<AzureTestHost>, std::string> AzureTestHost::from_zip(std::span<const std::uint8_t> zip,
                                                                                   AzureTestHostOptions options) {
    std::string templ = (fs::temp_directory_path() / "bp-azure-host-XXXXXX").string();
    if (!mkdtemp(templ.data())) return std::unexpected("mkdtemp failed");
    auto extracted = faas::packaging::extract_zip(zip, templ);
    if (!extracted) {
        std::error_code ec;
        fs::remove_all(templ, ec);
        return std::unexpected("cannot extract the package: " + extracted.error().to_string());
    }
    auto host = from_dir(templ, std::move(options));
    if (host) (*host)->owns_dir_ = true;
    else {
        std::error_code ec;
        fs::remove_all(templ, ec);
    }
    return host;
}

std::expected<std::unique_ptr<AzureTestHost>, std::string> AzureTestHost::from_dir(fs::path dir, AzureTestHostOptions options) {
    std::unique_ptr<AzureTestHost> host(new AzureTestHost());
    host->dir_ = std::move(dir);
    host->options_ = std::move(options);
    if (auto ok = host->load(); !ok) return std::unexpected(ok.error());
    if (auto ok = host->start(); !ok) return std::unexpected(ok.error());
    return host;
}

AzureTestHost::~AzureTestHost() {
    child_ = ChildProcess();  // kills and reaps
    if (owns_dir_) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

std::expected<void, std::string> AzureTestHost::load() {
    auto host = read_json(dir_ / "host.json");
    if (!host) return std::unexpected(host.error());
    if (!host->is_object()) return std::unexpected("host.json is not an object");
    const auto& h = host->as_object();
    if (const auto* v = h.if_contains("version"); !v || !v->is_string() || v->get_string() != "2.0")
        return std::unexpected("host.json: \"version\" must be \"2.0\"");
    const auto* ch = h.if_contains("customHandler");
    if (!ch || !ch->is_object()) return std::unexpected("host.json: no customHandler section");
    const auto* desc = ch->as_object().if_contains("description");
    if (!desc || !desc->is_object()) return std::unexpected("host.json: customHandler.description missing");
    const auto& d = desc->as_object();
    if (const auto* p = d.if_contains("defaultExecutablePath"); p && p->is_string()) executable_ = std::string(p->get_string());
    if (executable_.empty()) return std::unexpected("host.json: customHandler.description.defaultExecutablePath missing");
    if (const auto* w = d.if_contains("workingDirectory"); w && w->is_string()) working_directory_ = std::string(w->get_string());
    if (const auto* a = d.if_contains("arguments"); a && a->is_array())
        for (const auto& arg : a->as_array())
            if (arg.is_string()) arguments_.emplace_back(arg.get_string());
    if (const auto* f = ch->as_object().if_contains("enableForwardingHttpRequest"); f && f->is_bool())
        forwarding_ = f->get_bool();

    for (const auto& entry : fs::directory_iterator(dir_)) {
        if (!entry.is_directory() || !fs::exists(entry.path() / "function.json")) continue;
        auto fj = read_json(entry.path() / "function.json");
        if (!fj) return std::unexpected(fj.error());
        const auto* bindings = fj->is_object() ? fj->as_object().if_contains("bindings") : nullptr;
        if (!bindings || !bindings->is_array()) return std::unexpected(entry.path().filename().string() + "/function.json: no bindings");
        AzureFunctionInfo info;
        info.name = entry.path().filename().string();
        bool trigger = false;
        for (const auto& b : bindings->as_array()) {
            if (!b.is_object()) continue;
            const auto& bo = b.as_object();
            const auto* type = bo.if_contains("type");
            if (!type || !type->is_string() || type->get_string() != "httpTrigger") continue;
            trigger = true;
            info.auth_level = "function";  // the host's default
            if (const auto* al = bo.if_contains("authLevel"); al && al->is_string()) info.auth_level = lower(al->get_string());
            if (const auto* m = bo.if_contains("methods"); m && m->is_array())
                for (const auto& method : m->as_array())
                    if (method.is_string()) info.methods.push_back(lower(method.get_string()));
        }
        if (trigger) functions_.push_back(std::move(info));
    }
    std::sort(functions_.begin(), functions_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return {};
}

std::expected<void, std::string> AzureTestHost::start() {
    const fs::path exe = dir_ / executable_;
    if (!fs::exists(exe)) return std::unexpected("the package has no " + executable_);
    ProcessOptions po;
    po.env = options_.app_settings;
    po.env.emplace_back("FUNCTIONS_CUSTOMHANDLER_PORT", "0");
    po.unset_env = {"AWS_LAMBDA_RUNTIME_API", "PORT"};
    po.cwd = working_directory_.empty() ? dir_.string() : (dir_ / working_directory_).string();
    po.pipe_stdin = false;
    po.pipe_stdout = false;
    try {
        child_ = ChildProcess::spawn(exe.string(), arguments_, po);
    } catch (const std::exception& e) {
        return std::unexpected(std::string("cannot start the handler: ") + e.what());
    }
    auto line = child_.wait_for_stderr("listening on", options_.start_timeout);
    if (!line) return std::unexpected("the handler did not open its port: " + child_.stderr_seen());
    port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
    ++starts_;
    return {};
}

void AzureTestHost::drain_stderr() {
    // Keep the pipe from filling up (the handler would block writing to it).
    while (child_.read_stderr_line(std::chrono::milliseconds(0))) {
    }
}

std::string AzureTestHost::handler_stderr() {
    drain_stderr();
    return child_.stderr_seen();
}

boost::asio::awaitable<HttpReply> AzureTestHost::handle(HttpExchange request) {
    drain_stderr();
    std::string path = request.target.substr(0, request.target.find('?'));
    constexpr std::string_view api = "/api/";
    if (!path.starts_with(api)) co_return reply(404, R"({"error":"no route"})");
    const std::string name = path.substr(api.size());
    auto fn = std::find_if(functions_.begin(), functions_.end(), [&](const auto& f) { return lower(f.name) == lower(name); });
    if (fn == functions_.end()) co_return reply(404, R"({"error":"no such function"})");
    if (!fn->methods.empty() && std::find(fn->methods.begin(), fn->methods.end(), lower(request.method)) == fn->methods.end())
        co_return reply(404, R"({"error":"method not in the trigger's methods"})");

    // authLevel: the key comes in x-functions-key, or ?code= (which the
    // executor must never use: the fake Azure records it).
    std::string key = request.header("x-functions-key");
    if (key.empty()) {
        const std::string q = query_of(request.target);
        if (auto pos = q.find("code="); pos != std::string::npos && (pos == 0 || q[pos - 1] == '&'))
            key = q.substr(pos + 5, q.find('&', pos) - pos - 5);
    }
    if (fn->auth_level != "anonymous") {
        bool ok = !key.empty() && key == options_.master_key;
        if (fn->auth_level == "function")
            ok = ok || (!key.empty() && std::find(options_.function_keys.begin(), options_.function_keys.end(), key) !=
                                            options_.function_keys.end());
        if (!ok) {
            HttpReply r;
            r.status = 401;
            co_return r;
        }
    }

    fhttp::Request out;
    out.method = "POST";
    out.retry = fhttp::RetryPolicy::none();
    out.idempotent = false;
    const std::string base = "http://127.0.0.1:" + std::to_string(port_);
    if (forwarding_) {
        out.method = request.method;
        out.url = base + request.target;
        for (const auto& [k, v] : request.headers) {
            const std::string lk = lower(k);
            if (lk == "host" || lk == "content-length" || lk == "connection" || lk == "transfer-encoding") continue;
            out.headers.emplace_back(k, v);
        }
        out.body = request.body;
    } else {
        json::object headers;
        for (const auto& [k, v] : request.headers) {
            json::array values;
            values.emplace_back(v);
            headers[k] = std::move(values);
        }
        json::object req;
        req["Url"] = "https://localhost" + request.target;
        req["Method"] = request.method;
        req["Query"] = json::object();
        req["Headers"] = std::move(headers);
        req["Params"] = json::object();
        req["Body"] = request.body;
        json::object data;
        data["req"] = std::move(req);
        json::object sys;
        sys["MethodName"] = fn->name;
        sys["UtcNow"] = "2026-01-01T00:00:00Z";
        sys["RandGuid"] = "00000000-0000-0000-0000-000000000000";
        json::object metadata;
        metadata["sys"] = std::move(sys);
        json::object envelope;
        envelope["Data"] = std::move(data);
        envelope["Metadata"] = std::move(metadata);
        out.url = base + "/" + fn->name;
        out.headers.emplace_back("Content-Type", "application/json");
        out.body = json::serialize(envelope);
    }

    auto r = co_await client_.send(std::move(out));
    if (!r) {
        // The worker died (or never answered): the host restarts it and
        // fails this invocation.
        // The reset can arrive before the process is gone: give it a moment.
        if (!child_.wait_for(std::chrono::seconds(5))) {
            co_return reply(500, R"({"error":"the custom handler did not answer: )" + r.error().message + "\"}");
        }
        {
            child_ = ChildProcess();
            auto restarted = start();
            (void)restarted;
        }
        co_return reply(500, R"({"error":"the custom handler failed: )" + r.error().message + "\"}");
    }
    if (forwarding_) {
        HttpReply res;
        res.status = r->status;
        for (const auto& [k, v] : r->headers) {
            const std::string lk = lower(k);
            if (lk == "content-length" || lk == "connection" || lk == "transfer-encoding") continue;
            res.headers.emplace_back(k, v);
        }
        res.body = std::move(r->body);
        co_return res;
    }
    // Envelope: the handler must answer 200 with Outputs.res.
    boost::system::error_code ec;
    auto doc = json::parse(r->body, ec);
    const json::object* res = nullptr;
    if (!ec && r->status == 200 && doc.is_object())
        if (const auto* outs = doc.as_object().if_contains("Outputs"); outs && outs->is_object())
            if (const auto* rr = outs->as_object().if_contains("res"); rr && rr->is_object()) res = &rr->as_object();
    if (!res) co_return reply(500, R"({"error":"the custom handler's reply has no Outputs.res"})");
    HttpReply result;
    result.status = 200;
    if (const auto* s = res->if_contains("statusCode"); s && s->is_int64()) result.status = static_cast<int>(s->get_int64());
    if (const auto* b = res->if_contains("body"); b && b->is_string()) result.body = std::string(b->get_string());
    if (const auto* h = res->if_contains("headers"); h && h->is_object())
        for (const auto& [k, v] : h->as_object())
            if (v.is_string()) result.headers.emplace_back(std::string(k), std::string(v.get_string()));
    co_return result;
}

}  // namespace blueprint::test
