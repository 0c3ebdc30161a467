// The fake Azure (see fake_azure.hpp).
#include "common/fake_azure.hpp"

#include "common/azure_test_host.hpp"
#include "common/http_test_server.hpp"

#include <blueprint/faas/packaging.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <future>
#include <random>
#include <set>
#include <thread>

namespace blueprint::test {
namespace json = boost::json;
namespace net = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool ieq(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

std::string random_hex(std::size_t n) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += hex[rng() % 16];
    return out;
}

std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        auto j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        out.emplace_back(path.substr(i, j - i));
        i = j;
    }
    return out;
}

std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') out += ' ';
        else if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else out += s[i];
    }
    return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    std::size_t i = 0;
    while (i <= q.size() && !q.empty()) {
        auto j = q.find('&', i);
        if (j == std::string_view::npos) j = q.size();
        auto pair = q.substr(i, j - i);
        auto eq = pair.find('=');
        if (!pair.empty()) out[url_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
        if (j == q.size()) break;
        i = j + 1;
    }
    return out;
}

HttpReply arm_error(int status, std::string_view code, std::string_view message) {
    json::object e;
    e["code"] = code;
    e["message"] = message;
    json::object o;
    o["error"] = std::move(e);
    return HttpReply::json(status, json::serialize(o));
}

HttpReply aad_error(int status, std::string_view code, std::string_view description) {
    json::object o;
    o["error"] = code;
    o["error_description"] = description;
    return HttpReply::json(status, json::serialize(o));
}

}  // namespace

struct FakeAzure::State {
    FakeAzureOptions options;
    net::io_context ioc;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
    std::unique_ptr<HttpTestServer> server;
    std::thread thread;
    std::string base_url;

    struct Deployment {
        std::string app;
        std::string zip;
        int polls_left = 0;
        bool fail = false;
        std::string message;
        bool finished = false;
        bool succeeded = false;
    };
    struct Site {
        std::string location;
        std::string plan;
        std::map<std::string, std::string> settings;
        std::vector<std::string> functions;
        std::string function_key = "fkey-" + random_hex(24);
        std::string master_key = "mkey-" + random_hex(24);
        std::string zip;
        std::shared_ptr<AzureTestHost> host;  // io thread only
    };

    mutable std::mutex mutex;
    std::vector<HttpExchange> log;
    std::map<std::string, std::chrono::system_clock::time_point> tokens;
    std::size_t issued = 0;
    std::set<std::string> groups;
    std::set<std::string> plans;  // "rg/plan" lower case
    std::map<std::string, Site> sites;  // by app name (lower case)
    std::map<std::string, Deployment> deployments;
    std::map<std::string, int> operations;  // async op id -> polls left
    std::optional<std::string> fail_next;
    int throttle = 0;

    net::awaitable<HttpReply> dispatch(HttpExchange ex);
    HttpReply token(const HttpExchange& ex, std::string_view path);
    HttpReply msi(const HttpExchange& ex, const std::map<std::string, std::string>& query);
    std::optional<HttpReply> check_bearer(const HttpExchange& ex);
    HttpReply arm(const HttpExchange& ex, std::string_view path, const std::map<std::string, std::string>& query);
    HttpReply scm(const HttpExchange& ex, const std::vector<std::string>& seg, const std::map<std::string, std::string>& query);
    std::string issue_token();
};

std::string FakeAzure::State::issue_token() {
    std::string t = "eyJ0eXAi." + random_hex(40);
    tokens[t] = std::chrono::system_clock::now() + options.token_lifetime;
    ++issued;
    return t;
}

HttpReply FakeAzure::State::token(const HttpExchange& ex, std::string_view path) {
    // /aad/{tenant}/oauth2/v2.0/token
    auto seg = split(path);
    if (seg.size() != 5 || seg[2] != "oauth2" || seg[3] != "v2.0" || seg[4] != "token")
        return aad_error(404, "invalid_request", "AADSTS90002: no such endpoint");
    if (ex.method != "POST") return aad_error(405, "invalid_request", "AADSTS900561: the endpoint only accepts POST");
    if (seg[1] != options.tenant) return aad_error(400, "invalid_request", "AADSTS90002: Tenant '" + seg[1] + "' not found.");
    if (lower(ex.header("Content-Type")).find("application/x-www-form-urlencoded") != 0)
        return aad_error(400, "invalid_request", "AADSTS900144: the body must be form-encoded");
    auto form = parse_query(ex.body);
    for (auto field : {"client_id", "client_secret", "grant_type", "scope"})
        if (!form.contains(field))
            return aad_error(400, "invalid_request", std::string("AADSTS900144: The request body must contain the following parameter: '") + field + "'.");
    if (form["grant_type"] != "client_credentials") return aad_error(400, "unsupported_grant_type", "AADSTS70003");
    if (form["scope"] != "https://management.azure.com/.default") return aad_error(400, "invalid_scope", "AADSTS70011: bad scope");
    if (form["client_id"] != options.client_id)
        return aad_error(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.");
    if (form["client_secret"] != options.client_secret)
        return aad_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
    json::object o;
    o["token_type"] = "Bearer";
    o["expires_in"] = options.token_lifetime.count();
    o["ext_expires_in"] = options.token_lifetime.count();
    o["access_token"] = issue_token();
    return HttpReply::json(200, json::serialize(o));
}

HttpReply FakeAzure::State::msi(const HttpExchange& ex, const std::map<std::string, std::string>& query) {
    if (ex.method != "GET") return HttpReply::json(405, R"({"error":"method"})");
    if (ex.header("X-IDENTITY-HEADER") != options.identity_header)
        return aad_error(401, "invalid_request", "missing or wrong X-IDENTITY-HEADER");
    auto v = query.find("api-version");
    if (v == query.end() || v->second != "2019-08-01") return aad_error(400, "invalid_request", "api-version 2019-08-01 required");
    auto r = query.find("resource");
    if (r == query.end() || r->second != "https://management.azure.com/") return aad_error(400, "invalid_resource", "bad resource");
    json::object o;
    o["access_token"] = issue_token();
    const auto expires = std::chrono::system_clock::now() + options.token_lifetime;
    o["expires_on"] = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch()).count());
    o["resource"] = "https://management.azure.com/";
    o["token_type"] = "Bearer";
    return HttpReply::json(200, json::serialize(o));
}

std::optional<HttpReply> FakeAzure::State::check_bearer(const HttpExchange& ex) {
    const std::string auth = ex.header("Authorization");
    if (!auth.starts_with("Bearer "))
        return arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
    auto it = tokens.find(auth.substr(7));
    if (it == tokens.end() || it->second < std::chrono::system_clock::now())
        return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid or expired.");
    return std::nullopt;
}

HttpReply FakeAzure::State::arm(const HttpExchange& ex, std::string_view path, const std::map<std::string, std::string>& query) {
    if (auto denied = check_bearer(ex)) return *denied;
    auto seg = split(path);  // seg[0] == "arm"
    seg.erase(seg.begin());
    auto version = query.find("api-version");
    if (version == query.end())
        return arm_error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
    auto need_version = [&](std::string_view v) -> std::optional<HttpReply> {
        if (version->second != v)
            return arm_error(400, "InvalidApiVersionParameter", "The api-version '" + version->second + "' is invalid here; use " + std::string(v));
        return std::nullopt;
    };
    auto body_json = [&]() -> std::optional<json::object> {
        boost::system::error_code ec;
        auto v = json::parse(ex.body, ec);
        if (ec || !v.is_object()) return std::nullopt;
        return v.as_object();
    };

    // Async operation status.
    if (seg.size() == 2 && seg[0] == "operations") {
        auto it = operations.find(seg[1]);
        if (it == operations.end()) return arm_error(404, "NotFound", "no such operation");
        if (it->second-- > 0) return HttpReply::json(200, R"({"status":"InProgress"})");
        return HttpReply::json(200, R"({"status":"Succeeded"})");
    }
    if (seg.size() < 4 || seg[0] != "subscriptions" || !ieq(seg[2], "resourcegroups"))
        return arm_error(400, "InvalidRequestUri", "The request URI '" + std::string(path) + "' is not valid.");
    if (seg[1] != options.subscription) return arm_error(404, "SubscriptionNotFound", "The subscription '" + seg[1] + "' could not be found.");
    const std::string rg = lower(seg[3]);

    if (seg.size() == 4) {
        if (auto bad = need_version("2021-04-01")) return *bad;
        if (ex.method == "PUT") {
            auto b = body_json();
            if (!b || !b->contains("location") || !(*b)["location"].is_string())
                return arm_error(400, "InvalidRequestContent", "The resource group needs a location.");
            const bool created = groups.insert(rg).second;
            return HttpReply::json(created ? 201 : 200, R"({"name":")" + seg[3] + R"(","properties":{"provisioningState":"Succeeded"}})");
        }
        if (ex.method == "GET") return groups.contains(rg) ? HttpReply::json(200, "{}") : arm_error(404, "ResourceGroupNotFound", "Resource group not found.");
        return arm_error(405, "MethodNotAllowed", "not supported here");
    }
    if (seg.size() < 7 || seg[4] != "providers" || !ieq(seg[5], "Microsoft.Web"))
        return arm_error(404, "InvalidResourceType", "The resource type could not be found in the namespace.");
    if (auto bad = need_version("2022-09-01")) return *bad;
    if (!groups.contains(rg)) return arm_error(404, "ResourceGroupNotFound", "Resource group '" + seg[3] + "' could not be found.");

    if (ieq(seg[6], "serverfarms") && seg.size() == 8) {
        const std::string key = rg + "/" + lower(seg[7]);
        if (ex.method == "PUT") {
            auto b = body_json();
            if (!b || !b->contains("location") || !b->contains("sku") || !(*b)["sku"].is_object() ||
                !(*b)["sku"].as_object().contains("name"))
                return arm_error(400, "BadRequest", "A plan needs a location and a sku.");
            const auto* props = b->if_contains("properties");
            if (!props || !props->is_object() || !props->as_object().contains("reserved") ||
                !props->as_object().at("reserved").is_bool() || !props->as_object().at("reserved").as_bool())
                return arm_error(400, "BadRequest", "A Linux plan needs properties.reserved = true.");
            const bool created = plans.insert(key).second;
            return HttpReply::json(created ? 201 : 200, R"({"properties":{"status":"Ready"}})");
        }
        if (ex.method == "DELETE") {
            for (const auto& [name, site] : sites)
                if (site.plan == key) return arm_error(409, "Conflict", "The plan is in use by a site.");
            plans.erase(key);
            return HttpReply::json(200, "{}");
        }
        return arm_error(405, "MethodNotAllowed", "not supported here");
    }
    if (!ieq(seg[6], "sites") || seg.size() < 8) return arm_error(404, "InvalidResourceType", "unknown resource type");
    const std::string app = lower(seg[7]);
    auto site_it = sites.find(app);

    if (seg.size() == 8) {
        if (ex.method == "PUT") {
            auto b = body_json();
            if (!b) return arm_error(400, "InvalidRequestContent", "The request content is not JSON.");
            const auto* kind = b->if_contains("kind");
            if (!kind || !kind->is_string() || lower(kind->as_string()).find("functionapp") == std::string::npos ||
                lower(kind->as_string()).find("linux") == std::string::npos)
                return arm_error(400, "BadRequest", "kind must be functionapp,linux");
            const auto* props = b->if_contains("properties");
            if (!props || !props->is_object()) return arm_error(400, "BadRequest", "properties missing");
            const auto& p = props->as_object();
            if (!p.contains("reserved") || !p.at("reserved").is_bool() || !p.at("reserved").as_bool())
                return arm_error(400, "BadRequest", "A Linux app needs properties.reserved = true.");
            std::string farm;
            if (const auto* f = p.if_contains("serverFarmId"); f && f->is_string()) farm = lower(f->as_string());
            auto farm_seg = split(farm);
            if (farm_seg.size() != 8 || !plans.contains(rg + "/" + farm_seg[7]))
                return arm_error(400, "BadRequest", "serverFarmId does not name an existing plan.");
            std::map<std::string, std::string> settings;
            const auto* sc = p.if_contains("siteConfig");
            const auto* as = sc && sc->is_object() ? sc->as_object().if_contains("appSettings") : nullptr;
            if (!as || !as->is_array()) return arm_error(400, "BadRequest", "siteConfig.appSettings missing");
            for (const auto& s : as->as_array()) {
                if (!s.is_object() || !s.as_object().contains("name") || !s.as_object().contains("value") ||
                    !s.as_object().at("name").is_string() || !s.as_object().at("value").is_string())
                    return arm_error(400, "BadRequest", "each app setting needs a name and a value");
                settings[std::string(s.as_object().at("name").as_string())] = std::string(s.as_object().at("value").as_string());
            }
            if (settings["FUNCTIONS_WORKER_RUNTIME"] != "Custom" || settings["FUNCTIONS_EXTENSION_VERSION"] != "~4")
                return arm_error(400, "BadRequest", "a custom handler app needs FUNCTIONS_WORKER_RUNTIME=Custom and FUNCTIONS_EXTENSION_VERSION=~4");
            const bool created = site_it == sites.end();
            Site& site = sites[app];
            site.location = std::string((*b)["location"].is_string() ? (*b)["location"].as_string() : "");
            site.plan = rg + "/" + farm_seg[7];
            site.settings = std::move(settings);
            if (created && options.async_site_create) {
                const std::string op = random_hex(16);
                operations[op] = 1;
                HttpReply r = HttpReply::json(202, "");
                r.headers.emplace_back("Azure-AsyncOperation", base_url + "/arm/operations/" + op + "?api-version=2022-09-01");
                return r;
            }
            return HttpReply::json(created ? 201 : 200, R"({"properties":{"state":"Running"}})");
        }
        if (ex.method == "GET") {
            if (site_it == sites.end()) return arm_error(404, "ResourceNotFound", "The Resource 'Microsoft.Web/sites/" + seg[7] + "' was not found.");
            return HttpReply::json(200, R"({"name":")" + seg[7] + R"(","kind":"functionapp,linux","properties":{"state":"Running"}})");
        }
        if (ex.method == "DELETE") {
            if (site_it == sites.end()) return HttpReply::json(204, "");
            sites.erase(site_it);  // the host (and its process) goes with it
            return HttpReply::json(200, "");
        }
        return arm_error(405, "MethodNotAllowed", "not supported here");
    }
    if (site_it == sites.end()) return arm_error(404, "ResourceNotFound", "The Resource 'Microsoft.Web/sites/" + seg[7] + "' was not found.");
    Site& site = site_it->second;
    if (seg.size() == 9 && seg[8] == "functions") {
        if (ex.method != "GET") return arm_error(405, "MethodNotAllowed", "not supported here");
        json::array value;
        for (const auto& f : site.functions) {
            json::object props;
            props["name"] = f;
            json::object item;
            item["name"] = seg[7] + "/" + f;
            item["properties"] = std::move(props);
            value.push_back(std::move(item));
        }
        json::object o;
        o["value"] = std::move(value);
        return HttpReply::json(200, json::serialize(o));
    }
    if (seg.size() == 10 && seg[8] == "functions") {
        if (ex.method != "GET") return arm_error(405, "MethodNotAllowed", "not supported here");
        for (const auto& f : site.functions)
            if (ieq(f, seg[9])) return HttpReply::json(200, R"({"name":")" + seg[7] + "/" + f + R"("})");
        return arm_error(404, "ResourceNotFound", "Function '" + seg[9] + "' not found.");
    }
    if (seg.size() == 11 && seg[8] == "host" && seg[9] == "default" && seg[10] == "listKeys") {
        if (ex.method != "POST") return arm_error(405, "MethodNotAllowed", "listKeys is a POST");
        json::object fk;
        fk["default"] = site.function_key;
        json::object o;
        o["masterKey"] = site.master_key;
        o["functionKeys"] = std::move(fk);
        o["systemKeys"] = json::object();
        return HttpReply::json(200, json::serialize(o));
    }
    return arm_error(404, "InvalidResourceType", "unknown resource under the site");
}

HttpReply FakeAzure::State::scm(const HttpExchange& ex, const std::vector<std::string>& seg,
                                const std::map<std::string, std::string>& query) {
    // seg: scm, {app}, api, ...
    if (auto denied = check_bearer(ex)) return *denied;
    if (seg.size() < 4 || seg[2] != "api") return HttpReply::json(404, R"({"Message":"no such Kudu route"})");
    const std::string app = lower(seg[1]);
    auto site_it = sites.find(app);
    if (site_it == sites.end()) return HttpReply::json(404, R"({"Message":"no such site"})");
    Site& site = site_it->second;

    if (seg.size() == 4 && seg[3] == "zipdeploy") {
        if (ex.method != "POST") return HttpReply::json(405, R"({"Message":"POST only"})");
        auto async = query.find("isAsync");
        if (async == query.end() || async->second != "true")
            return HttpReply::json(400, R"({"Message":"this fake only serves ?isAsync=true"})");
        if (lower(ex.header("Content-Type")) != "application/zip")
            return HttpReply::json(415, R"({"Message":"Content-Type must be application/zip"})");
        Deployment d;
        d.app = app;
        d.zip = ex.body;
        d.polls_left = options.deploy_polls;
        if (fail_next) {
            d.fail = true;
            d.message = *std::exchange(fail_next, std::nullopt);
        }
        const std::string id = random_hex(32);
        deployments[id] = std::move(d);
        HttpReply r = HttpReply::json(202, "");
        r.headers.emplace_back("Location", base_url + "/scm/" + seg[1] + "/api/deployments/" + id);
        return r;
    }
    if (seg.size() == 5 && seg[3] == "deployments") {
        if (ex.method != "GET") return HttpReply::json(405, R"({"Message":"GET only"})");
        auto it = deployments.find(seg[4]);
        if (it == deployments.end()) return HttpReply::json(404, R"({"Message":"no such deployment"})");
        Deployment& d = it->second;
        if (!d.finished && d.polls_left-- > 0)
            return HttpReply::json(202, R"({"id":")" + seg[4] + R"(","status":1,"status_text":"Building","complete":false})");
        if (!d.finished) {
            d.finished = true;
            if (!d.fail) {
                // Activate: what the Functions host would load from wwwroot.
                AzureTestHostOptions ho;
                for (const auto& [k, v] : site.settings) ho.app_settings.emplace_back(k, v);
                ho.function_keys = {site.function_key};
                ho.master_key = site.master_key;
                const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(d.zip.data()), d.zip.size());
                site.host.reset();
                auto host = AzureTestHost::from_zip(bytes, std::move(ho));
                if (!host) {
                    d.fail = true;
                    d.message = "the package does not start: " + host.error().substr(0, 300);
                } else {
                    site.host = std::shared_ptr<AzureTestHost>(std::move(*host));
                    site.functions.clear();
                    for (const auto& f : site.host->functions()) site.functions.push_back(f.name);
                    site.zip = d.zip;
                }
            }
            d.succeeded = !d.fail;
        }
        json::object o;
        o["id"] = seg[4];
        o["status"] = d.succeeded ? 4 : 3;
        o["status_text"] = d.succeeded ? "" : d.message;
        o["complete"] = true;
        return HttpReply::json(200, json::serialize(o));
    }
    if (seg.size() >= 6 && seg[3] == "zip" && seg[4] == "site" && seg[5] == "wwwroot") {
        if (site.zip.empty()) return HttpReply::json(404, R"({"Message":"nothing deployed"})");
        HttpReply r;
        r.status = 200;
        r.headers.emplace_back("Content-Type", "application/zip");
        r.body = site.zip;
        return r;
    }
    return HttpReply::json(404, R"({"Message":"no such Kudu route"})");
}

net::awaitable<HttpReply> FakeAzure::State::dispatch(HttpExchange ex) {
    std::string path = ex.target.substr(0, ex.target.find('?'));
    const auto query = parse_query(ex.target.find('?') == std::string::npos ? "" : ex.target.substr(ex.target.find('?') + 1));
    std::shared_ptr<AzureTestHost> host;
    {
        std::lock_guard lock(mutex);
        log.push_back(ex);
        if (path.starts_with("/aad/")) co_return token(ex, path);
        if (path == "/msi/token") co_return msi(ex, query);
        if (path.starts_with("/arm/")) co_return arm(ex, path, query);
        auto seg = split(path);
        if (!seg.empty() && seg[0] == "scm") co_return scm(ex, seg, query);
        if (seg.size() >= 3 && seg[0] == "site") {
            auto it = sites.find(lower(seg[1]));
            if (it == sites.end() || !it->second.host) co_return HttpReply::json(404, R"({"error":"no such app"})");
            if (throttle > 0) {
                --throttle;
                HttpReply r = HttpReply::json(429, R"({"error":"too many requests"})");
                r.headers.emplace_back("Retry-After", "0");
                co_return r;
            }
            host = it->second.host;
            // The host sees the path below the app: /api/{function}.
            ex.target = ex.target.substr(std::string("/site/").size() + seg[1].size());
        }
    }
    if (!host) co_return HttpReply::json(404, R"({"error":"unknown fake Azure route"})");
    // Only the io thread touches hosts, so it may be used without the lock.
    co_return co_await host->handle(std::move(ex));
}

FakeAzure::FakeAzure(FakeAzureOptions options) : options_(std::move(options)), state_(std::make_shared<State>()) {
    state_->options = options_;
    state_->work.emplace(state_->ioc.get_executor());
    auto st = state_;
    state_->server = std::make_unique<HttpTestServer>(state_->ioc, [st](HttpTestServer::Session& s) -> net::awaitable<void> {
        for (;;) {
            auto req = co_await s.read_request();
            if (!req) co_return;
            HttpExchange ex;
            ex.method = std::string(req->method_string());
            ex.target = std::string(req->target());
            for (const auto& f : *req) ex.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
            ex.body = std::move(req->body());
            HttpReply rep = co_await st->dispatch(std::move(ex));
            HttpTestServer::Response res{static_cast<bhttp::status>(rep.status), 11};
            for (const auto& [k, v] : rep.headers) res.set(k, v);
            res.body() = std::move(rep.body);
            res.keep_alive(req->keep_alive());
            if (!co_await s.write(std::move(res)) || !req->keep_alive()) co_return;
        }
    });
    state_->base_url = "http://127.0.0.1:" + std::to_string(state_->server->port());
    state_->thread = std::thread([st] { st->ioc.run(); });
}

FakeAzure::~FakeAzure() {
    auto st = state_;
    net::post(st->ioc, [st] {
        st->server->stop();
        std::lock_guard lock(st->mutex);
        st->sites.clear();  // stops the handlers
        st->work.reset();
    });
    st->thread.join();
}

std::string FakeAzure::url() const { return state_->base_url; }

void FakeAzure::fail_next_deployment(std::string message) {
    std::lock_guard lock(state_->mutex);
    state_->fail_next = std::move(message);
}
void FakeAzure::throttle_invocations(int n) {
    std::lock_guard lock(state_->mutex);
    state_->throttle = n;
}
void FakeAzure::revoke_tokens() {
    std::lock_guard lock(state_->mutex);
    state_->tokens.clear();
}
void FakeAzure::rotate_function_key(const std::string& app) {
    auto st = state_;
    std::promise<void> done;
    // The running host must accept only the new key: rebuild it on the io
    // thread (hosts live there), and wait, so the test sees the new key.
    net::post(st->ioc, [st, app = lower(app), &done] {
        {
            std::lock_guard lock(st->mutex);
            auto it = st->sites.find(app);
            if (it != st->sites.end()) {
                it->second.function_key = "fkey-" + random_hex(24);
                if (!it->second.zip.empty()) {
                    AzureTestHostOptions ho;
                    for (const auto& [k, v] : it->second.settings) ho.app_settings.emplace_back(k, v);
                    ho.function_keys = {it->second.function_key};
                    ho.master_key = it->second.master_key;
                    const auto& zip = it->second.zip;
                    auto host = AzureTestHost::from_zip(
                        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(zip.data()), zip.size()), std::move(ho));
                    if (host) it->second.host = std::shared_ptr<AzureTestHost>(std::move(*host));
                }
            }
        }
        done.set_value();
    });
    done.get_future().wait();
}

std::vector<HttpExchange> FakeAzure::requests() const {
    std::lock_guard lock(state_->mutex);
    return state_->log;
}
std::size_t FakeAzure::count(std::string_view prefix) const {
    std::lock_guard lock(state_->mutex);
    std::size_t n = 0;
    for (const auto& r : state_->log)
        if (r.target.starts_with(prefix)) ++n;
    return n;
}
std::size_t FakeAzure::tokens_issued() const {
    std::lock_guard lock(state_->mutex);
    return state_->issued;
}
std::vector<std::string> FakeAzure::functions(const std::string& app) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->sites.find(lower(app));
    return it == state_->sites.end() ? std::vector<std::string>{} : it->second.functions;
}
bool FakeAzure::app_exists(const std::string& app) const {
    std::lock_guard lock(state_->mutex);
    return state_->sites.contains(lower(app));
}
bool FakeAzure::plan_exists(const std::string& app) const {
    std::lock_guard lock(state_->mutex);
    std::string suffix = "/";
    suffix += lower(app);
    suffix += "-plan";
    for (const auto& p : state_->plans)
        if (p.ends_with(suffix)) return true;
    return false;
}
std::map<std::string, std::string> FakeAzure::app_settings(const std::string& app) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->sites.find(lower(app));
    return it == state_->sites.end() ? std::map<std::string, std::string>{} : it->second.settings;
}
std::string FakeAzure::function_key(const std::string& app) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->sites.find(lower(app));
    return it == state_->sites.end() ? std::string() : it->second.function_key;
}
std::string FakeAzure::transcript() const {
    std::lock_guard lock(state_->mutex);
    std::string out;
    for (const auto& r : state_->log) {
        out += r.method + " " + r.target + "\n";
        for (const auto& [k, v] : r.headers) out += k + ": " + v + "\n";
        out += r.body + "\n";
    }
    return out;
}

}  // namespace blueprint::test
