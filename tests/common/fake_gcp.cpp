// The fake Google Cloud: see fake_gcp.hpp for what it enforces.
#include "common/fake_gcp.hpp"

#include "common/http_test_server.hpp"
#include "common/process.hpp"

#include <blueprint/faas/packaging.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

namespace blueprint::test {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Clock = std::chrono::system_clock;

// ---- keys and JWTs ---------------------------------------------------------------

namespace {

std::string bio_to_string(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string random_hex(std::size_t bytes) {
    std::string raw(bytes, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

std::string TestServiceAccount::key_json(std::string_view token_uri) const {
    json::object o;
    o["type"] = "service_account";
    o["project_id"] = project_id;
    o["private_key_id"] = private_key_id;
    o["private_key"] = private_key_pem;
    o["client_email"] = client_email;
    o["client_id"] = "123456789012345678901";
    o["auth_uri"] = "https://accounts.google.com/o/oauth2/auth";
    o["token_uri"] = token_uri;
    o["auth_provider_x509_cert_url"] = "https://www.googleapis.com/oauth2/v1/certs";
    o["universe_domain"] = "googleapis.com";
    return json::serialize(o);
}

TestServiceAccount make_test_service_account() {
    TestServiceAccount a;
    EVP_PKEY* key = EVP_RSA_gen(2048);
    if (!key) throw std::runtime_error("RSA key generation failed");
    BIO* priv = BIO_new(BIO_s_mem());
    BIO* pub = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);  // PKCS#8, as Google issues
    PEM_write_bio_PUBKEY(pub, key);
    a.private_key_pem = bio_to_string(priv);
    a.public_key_pem = bio_to_string(pub);
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(key);
    a.private_key_id = random_hex(20);
    return a;
}

bool verify_rs256(std::string_view public_pem, std::string_view input, std::string_view sig) {
    BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!key) return false;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                               reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

std::string b64url(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

std::optional<std::string> unb64url(std::string_view text) {
    std::string s(text);
    for (auto& c : s) {
        if (c == '-') c = '+';
        else if (c == '_') c = '/';
        else if (!(std::isalnum(static_cast<unsigned char>(c)))) return std::nullopt;
    }
    while (s.size() % 4) s += '=';
    std::string out(s.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
    if (n < 0) return std::nullopt;
    std::size_t pad = 0;
    for (std::size_t i = s.size(); i > 0 && s[i - 1] == '='; --i) ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

fs::path npm_cache_dir() {
    if (const char* env = std::getenv("BLUEPRINT_NPM_CACHE"); env && *env) return env;
    const char* home = std::getenv("HOME");
    return fs::path(home ? home : "/root") / ".cache/blueprint-faas/npm";
}

namespace {
fs::path framework_main() { return npm_cache_dir() / "node_modules/@google-cloud/functions-framework/build/src/main.js"; }
}  // namespace

std::optional<std::string> functions_framework_missing() {
    if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not installed (run scripts/setup-debian.sh)";
    if (!fs::exists(framework_main()))
        return "@google-cloud/functions-framework is not in " + npm_cache_dir().string() +
               ": run scripts/setup-npm.sh (or set BLUEPRINT_NPM_CACHE)";
    return std::nullopt;
}

// ---- the fake --------------------------------------------------------------------

namespace {

using Request = HttpTestServer::Request;
using Response = HttpTestServer::Response;

Response google_error(int status, std::string_view rpc_status, std::string_view message) {
    json::object e;
    e["code"] = status;
    e["message"] = message;
    e["status"] = rpc_status;
    json::object o;
    o["error"] = std::move(e);
    auto r = HttpTestServer::make_response(static_cast<unsigned>(status), json::serialize(o));
    r.set(bhttp::field::content_type, "application/json; charset=UTF-8");
    return r;
}

Response oauth_error(std::string_view error, std::string_view description) {
    json::object o;
    o["error"] = error;
    o["error_description"] = description;
    auto r = HttpTestServer::make_response(400, json::serialize(o));
    r.set(bhttp::field::content_type, "application/json; charset=utf-8");
    return r;
}

Response json_response(const json::value& v, unsigned status = 200) {
    auto r = HttpTestServer::make_response(status, json::serialize(v));
    r.set(bhttp::field::content_type, "application/json; charset=UTF-8");
    return r;
}

std::string pct_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else if (s[i] == '+') {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    while (!q.empty()) {
        auto amp = q.find('&');
        auto part = q.substr(0, amp);
        auto eq = part.find('=');
        out[pct_decode(part.substr(0, eq))] = eq == std::string_view::npos ? "" : pct_decode(part.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return out;
}

std::vector<pid_t> children_named(pid_t parent, std::string_view comm) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(entry.path() / "stat");
        std::string stat((std::istreambuf_iterator<char>(in)), {});
        auto open = stat.find('('), close = stat.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        auto c = stat.substr(open + 1, close - open - 1);
        int ppid = 0;
        char st = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %d", &st, &ppid) != 2) continue;
        if (ppid == parent && c == comm && st != 'Z') out.push_back(static_cast<pid_t>(std::stoi(name)));
    }
    return out;
}

unsigned short free_port() {
    net::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();
}

bool listening(unsigned short port) {
    net::io_context ioc;
    tcp::socket s(ioc);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    return !ec;
}

/// The Functions Framework serving one unpacked package.
struct Framework {
    fs::path dir;
    fs::path log;
    unsigned short port = 0;
    ChildProcess process;

    ~Framework() {
        if (process.pid() > 0 && process.running()) {
            // The bootstrap first, while the framework is there to reap it.
            for (auto k : children_named(process.pid(), "bootstrap")) ::kill(k, SIGKILL);
            for (int i = 0; i < 100 && !children_named(process.pid(), "bootstrap").empty(); ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            process.kill();
        }
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::string output() const {
        std::ifstream in(log);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }
};

struct Function {
    std::string id;
    std::string name;
    std::string state;  // DEPLOYING, ACTIVE, FAILED, DELETING
    json::object spec;  // the last accepted body
    std::string uri;    // the front's URL once first deployed
    std::unique_ptr<HttpTestServer> front;
    std::shared_ptr<Framework> framework;  // serving now
    bool cold = true;                      // builtin backend: next reply is a cold start
};

struct Operation {
    std::string name;
    std::string function_id;
    std::string verb;  // create, update, delete
    unsigned polls = 0;
    bool done = false;
    std::optional<std::pair<int, std::string>> fail;
    std::shared_ptr<Framework> pending;  // the new version, starting
    json::object pending_spec;
    json::value result;
};

const std::set<std::string> mask_fields = {
    "buildConfig.runtime",           "buildConfig.entryPoint",         "buildConfig.source",
    "serviceConfig.availableMemory", "serviceConfig.timeoutSeconds",   "serviceConfig.maxInstanceCount",
    "serviceConfig.environmentVariables"};

}  // namespace

struct FakeGcp::State : std::enable_shared_from_this<FakeGcp::State> {
    net::io_context& ioc;
    FakeGcpOptions options;
    TestServiceAccount account;
    fs::path dir;
    std::unique_ptr<HttpTestServer> server;

    mutable std::mutex mutex;
    Stats stats;
    std::vector<std::string> rejections;
    std::map<std::string, Clock::time_point> access_tokens;
    struct IdToken {
        std::string audience;
        Clock::time_point expiry;
    };
    std::map<std::string, IdToken> id_tokens;
    std::map<std::string, std::string> uploads;     // object -> zip bytes (uploaded)
    std::set<std::string> upload_slots;             // objects handed out by generateUploadUrl
    std::map<std::string, Function> functions;      // by id
    std::map<std::string, Operation> operations;    // by name
    unsigned next_op = 1;
    std::optional<std::pair<int, std::string>> fail_next_op;
    std::optional<std::tuple<int, std::string, std::string>> fail_next_api;
    int inject_status = 0;
    unsigned inject_count = 0;
    std::string inject_retry_after;
    std::string last_mask;
    std::string last_body;
    std::string last_id_claims;
    std::set<std::shared_ptr<beast::tcp_stream>> upstreams;
    bool stopped = false;

    State(net::io_context& i, FakeGcpOptions o) : ioc(i), options(std::move(o)) {}

    std::string base() const { return server->url(""); }
    std::string parent() const { return "projects/" + options.project + "/locations/" + options.region; }

    Response reject(const Request& req, Response res, std::string why) {
        rejections.push_back(std::string(req.method_string()) + " " + std::string(req.target()) + ": " + why);
        return res;
    }

    // ---- token endpoint ----
    Response token(const Request& req) {
        ++stats.token_requests;
        if (req[bhttp::field::content_type].substr(0, 33) != "application/x-www-form-urlencoded")
            return reject(req, oauth_error("invalid_request", "Content-Type must be application/x-www-form-urlencoded"),
                          "token: wrong content type");
        auto form = parse_query(req.body());
        if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer")
            return reject(req, oauth_error("unsupported_grant_type", "Invalid grant_type: " + form["grant_type"]),
                          "token: wrong grant_type");
        const std::string& jwt = form["assertion"];
        auto d1 = jwt.find('.'), d2 = jwt.find('.', d1 == std::string::npos ? 0 : d1 + 1);
        if (d1 == std::string::npos || d2 == std::string::npos || jwt.find('.', d2 + 1) != std::string::npos)
            return reject(req, oauth_error("invalid_grant", "Invalid JWT: not a compact JWS"), "token: not a JWT");
        auto header_text = unb64url(std::string_view(jwt).substr(0, d1));
        auto claims_text = unb64url(std::string_view(jwt).substr(d1 + 1, d2 - d1 - 1));
        auto sig = unb64url(std::string_view(jwt).substr(d2 + 1));
        if (!header_text || !claims_text || !sig)
            return reject(req, oauth_error("invalid_grant", "Invalid JWT: bad base64url"), "token: bad base64url");
        boost::system::error_code ec;
        auto header = json::parse(*header_text, ec);
        if (ec || !header.is_object())
            return reject(req, oauth_error("invalid_grant", "Invalid JWT header"), "token: header not JSON");
        auto claims = json::parse(*claims_text, ec);
        if (ec || !claims.is_object())
            return reject(req, oauth_error("invalid_grant", "Invalid JWT claims"), "token: claims not JSON");
        auto str = [](const json::value& v, std::string_view k) -> std::string {
            auto* f = v.as_object().if_contains(k);
            return f && f->is_string() ? std::string(f->as_string()) : std::string{};
        };
        if (str(header, "alg") != "RS256")
            return reject(req, oauth_error("invalid_grant", "Invalid JWT: alg must be RS256"), "token: alg");
        if (str(header, "kid") != account.private_key_id)
            return reject(req, oauth_error("invalid_grant", "Invalid JWT: kid does not name a key of this account"),
                          "token: kid");
        if (!verify_rs256(account.public_key_pem, std::string_view(jwt).substr(0, d2), *sig))
            return reject(req, oauth_error("invalid_grant", "Invalid JWT Signature."), "token: bad signature");
        if (str(claims, "iss") != account.client_email)
            return reject(req, oauth_error("invalid_grant", "Invalid JWT: iss is not the service account"), "token: iss");
        if (str(claims, "aud") != base() + "/token")
            return reject(req, oauth_error("invalid_grant", "Invalid JWT: aud must be the token URI"), "token: aud");
        auto* iat = claims.as_object().if_contains("iat");
        auto* exp = claims.as_object().if_contains("exp");
        if (!iat || !exp || !iat->is_int64() || !exp->is_int64())
            return reject(req, oauth_error("invalid_grant", "Invalid JWT: iat and exp are required integers"),
                          "token: iat/exp");
        const auto now = unix_now();
        if (iat->as_int64() > now + 300 || exp->as_int64() <= now || exp->as_int64() - iat->as_int64() > 3600 ||
            exp->as_int64() <= iat->as_int64())
            return reject(req,
                          oauth_error("invalid_grant",
                                      "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                                      "reasonable timeframe. Check your iat and exp values in the JWT claim."),
                          "token: iat/exp out of range");
        const std::string scope = str(claims, "scope");
        const std::string target = str(claims, "target_audience");
        if (scope.empty() == target.empty())
            return reject(req, oauth_error("invalid_scope", "exactly one of scope and target_audience is required"),
                          "token: scope/target_audience");
        if (!scope.empty()) {
            if (scope.find("https://www.googleapis.com/auth/cloud-platform") == std::string::npos)
                return reject(req, oauth_error("invalid_scope", "cloud-platform scope required"), "token: scope");
            return json_response(mint_access_token());
        }
        return json_response(json::object{{"id_token", mint_id_token(target)}});
    }

    json::object mint_access_token() {
        ++stats.access_tokens;
        std::string t = "ya29.fake-" + random_hex(24);
        access_tokens[t] = Clock::now() + options.access_token_lifetime;
        return json::object{{"access_token", t},
                            {"expires_in", options.access_token_lifetime.count()},
                            {"token_type", "Bearer"}};
    }

    std::string mint_id_token(const std::string& audience) {
        ++stats.id_tokens;
        const auto now = unix_now();
        json::object claims{{"iss", "https://accounts.google.com"}, {"aud", audience},
                            {"azp", account.client_email},          {"email", account.client_email},
                            {"iat", now},                           {"exp", now + options.id_token_lifetime.count()},
                            {"sub", "123456789012345678901"},       {"jti", random_hex(8)}};
        last_id_claims = json::serialize(claims);
        // Signed by "Google": here a random signature; the front checks the registry.
        std::string t = b64url(R"({"alg":"RS256","typ":"JWT"})") + "." + b64url(last_id_claims) + "." +
                        b64url(random_hex(32));
        id_tokens[t] = IdToken{audience, Clock::now() + options.id_token_lifetime};
        return t;
    }

    // ---- metadata server ----
    Response metadata(const Request& req, std::string_view path, const std::map<std::string, std::string>& query) {
        ++stats.metadata_requests;
        if (req["Metadata-Flavor"] != "Google")
            return reject(req, HttpTestServer::make_response(403, "Missing Metadata-Flavor:Google header."),
                          "metadata: no Metadata-Flavor");
        if (req.method() != bhttp::verb::get) return reject(req, HttpTestServer::make_response(405), "metadata: method");
        if (path == "/computeMetadata/v1/instance/service-accounts/default/token") return json_response(mint_access_token());
        if (path == "/computeMetadata/v1/instance/service-accounts/default/identity") {
            auto it = query.find("audience");
            if (it == query.end() || it->second.empty())
                return reject(req, HttpTestServer::make_response(400, "non-empty audience parameter required"),
                              "metadata: no audience");
            auto r = HttpTestServer::make_response(200, mint_id_token(it->second));
            r.set(bhttp::field::content_type, "text/html; charset=utf-8");
            return r;
        }
        return reject(req, HttpTestServer::make_response(404, "Not Found"), "metadata: unknown path");
    }

    // ---- upload ----
    Response upload(const Request& req, std::string_view object, const std::map<std::string, std::string>& query) {
        if (req.method() != bhttp::verb::put) return reject(req, google_error(405, "INVALID_ARGUMENT", "PUT only"), "upload: method");
        if (req.count(bhttp::field::authorization))
            return reject(req, google_error(400, "INVALID_ARGUMENT",
                                            "Cannot use both a signed URL and an Authorization header"),
                          "upload: has an Authorization header");
        if (req[bhttp::field::content_type] != "application/zip")
            return reject(req, google_error(403, "PERMISSION_DENIED",
                                            "The request signature we calculated does not match (content-type must be application/zip)"),
                          "upload: content type is not application/zip");
        if (!query.contains("X-Goog-Signature") || !upload_slots.contains(std::string(object)))
            return reject(req, google_error(403, "PERMISSION_DENIED", "bad signed URL"), "upload: unknown URL");
        ++stats.uploads;
        uploads[std::string(object)] = req.body();
        return HttpTestServer::make_response(200);
    }

    // ---- API ----
    Response api(const Request& req, std::string_view path, const std::map<std::string, std::string>& query) {
        ++stats.api_requests;
        auto auth = std::string(req[bhttp::field::authorization]);
        if (!auth.starts_with("Bearer "))
            return reject(req, google_error(401, "UNAUTHENTICATED", "Request is missing required authentication credential."),
                          "api: no bearer token");
        auto tok = access_tokens.find(auth.substr(7));
        if (tok == access_tokens.end() || tok->second <= Clock::now())
            return reject(req, google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
                          "api: unknown or expired access token");
        if (fail_next_api) {
            auto [status, rpc, message] = *fail_next_api;
            fail_next_api.reset();
            return google_error(status, rpc, message);
        }
        const std::string prefix = "/v2/" + parent() + "/";
        if (!path.starts_with(prefix))
            return reject(req, google_error(404, "NOT_FOUND", "Requested entity was not found."), "api: unknown location");
        std::string_view rest = path.substr(prefix.size());
        const auto method = req.method();
        if (rest == "functions:generateUploadUrl") {
            if (method != bhttp::verb::post) return reject(req, google_error(404, "NOT_FOUND", "not found"), "api: method");
            boost::system::error_code ec;
            auto body = json::parse(req.body(), ec);
            if (ec || !body.is_object() || body.as_object() != json::object{{"environment", "GEN_2"}})
                return reject(req, google_error(400, "INVALID_ARGUMENT", "body must be {\"environment\":\"GEN_2\"}"),
                              "api: generateUploadUrl body");
            std::string object = random_hex(8) + ".zip";
            upload_slots.insert(object);
            json::object source{{"bucket", "gcf-v2-uploads-123456789012-" + options.region}, {"object", object}};
            return json_response(json::object{
                {"uploadUrl", base() + "/upload/" + object + "?GoogleAccessId=x&Expires=9999999999&X-Goog-Signature=abc"},
                {"storageSource", source}});
        }
        if (rest == "functions") {
            if (method != bhttp::verb::post) return reject(req, google_error(404, "NOT_FOUND", "not found"), "api: method");
            auto id = query.find("functionId");
            if (id == query.end() || id->second.empty())
                return reject(req, google_error(400, "INVALID_ARGUMENT", "functionId is required"), "api: no functionId");
            return create_or_patch(req, id->second, true);
        }
        if (rest.starts_with("functions/")) {
            std::string id(rest.substr(10));
            if (id.empty() || id.find('/') != std::string::npos || id.find(':') != std::string::npos)
                return reject(req, google_error(404, "NOT_FOUND", "not found"), "api: bad function path");
            auto it = functions.find(id);
            if (method == bhttp::verb::get) {
                if (it == functions.end())
                    return google_error(404, "NOT_FOUND", "Resource '" + parent() + "/functions/" + id + "' was not found");
                return json_response(function_json(it->second));
            }
            if (method == bhttp::verb::patch) {
                if (it == functions.end())
                    return reject(req, google_error(404, "NOT_FOUND", "function not found"), "api: patch of a missing function");
                auto mask = query.find("updateMask");
                if (mask == query.end() || mask->second.empty())
                    return reject(req, google_error(400, "INVALID_ARGUMENT", "updateMask is required"), "api: no updateMask");
                std::string_view m = mask->second;
                while (!m.empty()) {
                    auto c = m.find(',');
                    std::string field(m.substr(0, c));
                    if (!mask_fields.contains(field))
                        return reject(req, google_error(400, "INVALID_ARGUMENT", "bad updateMask field " + field),
                                      "api: updateMask field " + field);
                    if (c == std::string_view::npos) break;
                    m.remove_prefix(c + 1);
                }
                last_mask = mask->second;
                return create_or_patch(req, id, false);
            }
            if (method == bhttp::verb::delete_) {
                if (it == functions.end())
                    return google_error(404, "NOT_FOUND", "Resource '" + parent() + "/functions/" + id + "' was not found");
                ++stats.deletes;
                it->second.state = "DELETING";
                return json_response(new_operation(id, "delete", {}, nullptr).result_json());
            }
            return reject(req, google_error(404, "NOT_FOUND", "not found"), "api: method on function");
        }
        if (rest.starts_with("operations/")) {
            if (method != bhttp::verb::get) return reject(req, google_error(404, "NOT_FOUND", "not found"), "api: method on operation");
            auto it = operations.find(parent() + "/" + std::string(rest));
            if (it == operations.end())
                return reject(req, google_error(404, "NOT_FOUND", "operation not found"), "api: unknown operation");
            ++stats.operation_polls;
            return json_response(poll(it->second));
        }
        return reject(req, google_error(404, "NOT_FOUND", "Requested entity was not found."), "api: unknown path");
    }

    struct OpRef {
        Operation& op;
        json::object result_json() const {
            json::object metadata;
            metadata["@type"] = "type.googleapis.com/google.cloud.functions.v2.OperationMetadata";
            metadata["verb"] = op.verb;
            json::object o;
            o["name"] = op.name;
            o["metadata"] = std::move(metadata);
            o["done"] = false;
            return o;
        }
    };

    OpRef new_operation(std::string id, std::string verb, json::object spec, std::shared_ptr<Framework> pending) {
        Operation op;
        op.name = parent() + "/operations/operation-" + std::to_string(next_op++) + "-" + random_hex(4);
        op.function_id = std::move(id);
        op.verb = std::move(verb);
        op.pending_spec = std::move(spec);
        op.pending = std::move(pending);
        if (op.verb != "delete" && fail_next_op) {
            op.fail = std::move(fail_next_op);
            fail_next_op.reset();
        }
        auto name = op.name;
        auto [it, _] = operations.emplace(name, std::move(op));
        return OpRef{it->second};
    }

    /// Validates a create/patch body; empty when good, else why not.
    std::string check_body(const json::value& v, const std::string& id, std::string& object) {
        if (!v.is_object()) return "body is not a JSON object";
        const auto& o = v.as_object();
        for (auto& [k, _] : o)
            if (k != "name" && k != "environment" && k != "buildConfig" && k != "serviceConfig")
                return "Invalid JSON payload received. Unknown name \"" + std::string(k) + "\"";
        auto s = [](const json::object& obj, std::string_view k) -> std::string {
            auto* f = obj.if_contains(k);
            return f && f->is_string() ? std::string(f->as_string()) : std::string{};
        };
        if (s(o, "name") != parent() + "/functions/" + id) return "name must be " + parent() + "/functions/" + id;
        if (s(o, "environment") != "GEN_2") return "environment must be GEN_2";
        auto* build = o.if_contains("buildConfig");
        if (!build || !build->is_object()) return "buildConfig is required";
        const auto& b = build->as_object();
        if (s(b, "runtime") != "nodejs20") return "buildConfig.runtime must be nodejs20";
        if (s(b, "entryPoint") != "blueprint") return "buildConfig.entryPoint must be blueprint";
        auto* source = b.if_contains("source");
        if (!source || !source->is_object()) return "buildConfig.source is required";
        auto* ss = source->as_object().if_contains("storageSource");
        if (!ss || !ss->is_object()) return "buildConfig.source.storageSource is required";
        object = s(ss->as_object(), "object");
        if (s(ss->as_object(), "bucket").empty() || !uploads.contains(object))
            return "buildConfig.source.storageSource names no uploaded object";
        auto* service = o.if_contains("serviceConfig");
        if (!service || !service->is_object()) return "serviceConfig is required";
        const auto& sc = service->as_object();
        for (auto& [k, _] : sc)
            if (k != "availableMemory" && k != "timeoutSeconds" && k != "maxInstanceCount" && k != "environmentVariables")
                return "Unknown name \"serviceConfig." + std::string(k) + "\"";
        auto mem = s(sc, "availableMemory");
        if (mem.empty() || mem.find_first_not_of("0123456789") == 0 ||
            !(mem.ends_with("M") || mem.ends_with("Mi") || mem.ends_with("G") || mem.ends_with("Gi")))
            return "serviceConfig.availableMemory is not a quantity like 512M";
        auto* t = sc.if_contains("timeoutSeconds");
        if (!t || !t->is_int64() || t->as_int64() < 1 || t->as_int64() > 3600)
            return "serviceConfig.timeoutSeconds must be an integer 1-3600";
        if (auto* m = sc.if_contains("maxInstanceCount"); m && (!m->is_int64() || m->as_int64() < 1))
            return "serviceConfig.maxInstanceCount must be a positive integer";
        if (auto* env = sc.if_contains("environmentVariables")) {
            if (!env->is_object()) return "serviceConfig.environmentVariables must be a map";
            for (auto& [_, val] : env->as_object())
                if (!val.is_string()) return "serviceConfig.environmentVariables values must be strings";
        }
        return {};
    }

    Response create_or_patch(const Request& req, const std::string& id, bool create) {
        if (req[bhttp::field::content_type].substr(0, 16) != "application/json")
            return reject(req, google_error(400, "INVALID_ARGUMENT", "Content-Type must be application/json"),
                          "api: content type");
        boost::system::error_code ec;
        auto body = json::parse(req.body(), ec);
        if (ec) return reject(req, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."), "api: body not JSON");
        std::string object;
        if (auto why = check_body(body, id, object); !why.empty())
            return reject(req, google_error(400, "INVALID_ARGUMENT", why), "api: " + why);
        if (create && functions.contains(id))
            return reject(req, google_error(409, "ALREADY_EXISTS", "Function " + id + " already exists"), "api: exists");
        last_body = req.body();
        if (create) {
            ++stats.creates;
            Function f;
            f.id = id;
            f.name = parent() + "/functions/" + id;
            f.state = "DEPLOYING";
            f.spec = body.as_object();
            functions.emplace(id, std::move(f));
        } else {
            ++stats.patches;
            functions[id].state = "DEPLOYING";
        }
        std::shared_ptr<Framework> fw;
        if (options.run_framework && !fail_next_op) {
            try {
                fw = start_framework(id, uploads[object], body.as_object());
            } catch (const std::exception& e) {
                fail_next_op = std::pair{3, std::string("Build failed: ") + e.what()};
            }
        }
        return json_response(new_operation(id, create ? "create" : "update", body.as_object(), fw).result_json());
    }

    std::shared_ptr<Framework> start_framework(const std::string& id, const std::string& zip, const json::object& spec) {
        auto fw = std::make_shared<Framework>();
        fw->dir = dir / ("fn-" + id + "-" + random_hex(4));
        const fs::path src = fw->dir / "src";
        std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(zip.data()), zip.size());
        auto ok = faas::packaging::extract_zip(bytes, src);
        if (!ok) throw std::runtime_error("cannot unpack the source: " + ok.error().to_string());
        // npm install on GCP puts node_modules next to index.js; a symlink to the cache here.
        fs::create_directory_symlink(npm_cache_dir() / "node_modules", src / "node_modules");
        fw->port = free_port();
        fw->log = fw->dir / "framework.log";
        ProcessOptions po;
        po.cwd = src.string();
        po.pipe_stdin = po.pipe_stdout = po.pipe_stderr = false;
        po.unset_env = {"PORT", "AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT"};
        if (auto* env = spec.at("serviceConfig").as_object().if_contains("environmentVariables"))
            for (auto& [k, v] : env->as_object()) po.env.emplace_back(std::string(k), std::string(v.as_string()));
        po.env.emplace_back("K_SERVICE", id);  // as Cloud Run sets it
        fw->process = ChildProcess::spawn(
            "/bin/sh",
            {"-c", "exec node \"$0\" --target=blueprint --signature-type=http --port=\"$1\" >\"$2\" 2>&1",
             framework_main().string(), std::to_string(fw->port), fw->log.string()},
            po);
        return fw;
    }

    json::object function_json(const Function& f) const {
        json::object o = f.spec;
        o["name"] = f.name;
        o["state"] = f.state;
        o["environment"] = "GEN_2";
        o["updateTime"] = "2024-01-01T00:00:00Z";
        auto& sc = o["serviceConfig"].as_object();
        if (!f.uri.empty()) sc["uri"] = f.uri;
        sc["service"] = "projects/" + options.project + "/locations/" + options.region + "/services/" + f.id;
        return o;
    }

    json::object poll(Operation& op) {
        json::object out = OpRef{op}.result_json();
        if (op.done) {
            out["done"] = true;
            if (!op.result.is_null()) out[op.result.is_object() && op.result.as_object().contains("code") ? "error" : "response"] = op.result;
            return out;
        }
        ++op.polls;
        if (op.polls < options.polls_until_done) return out;
        auto fit = functions.find(op.function_id);
        if (op.fail) {
            op.done = true;
            op.result = json::object{{"code", op.fail->first}, {"message", op.fail->second}};
            if (fit != functions.end()) fit->second.state = "FAILED";
        } else if (op.verb == "delete") {
            op.done = true;
            if (fit != functions.end()) {
                if (fit->second.front) fit->second.front->stop();
                functions.erase(fit);
            }
            op.result = json::object{{"@type", "type.googleapis.com/google.protobuf.Empty"}};
        } else {
            if (op.pending) {
                if (!op.pending->process.running()) {
                    op.done = true;
                    op.result = json::object{
                        {"code", 3},
                        {"message", "Could not create or update Cloud Run service " + op.function_id +
                                        ", Container Healthcheck failed: " + op.pending->output().substr(0, 500)}};
                    if (fit != functions.end()) fit->second.state = "FAILED";
                    out["done"] = true;
                    out["error"] = op.result;
                    return out;
                }
                if (!listening(op.pending->port)) return out;  // still starting: not done yet
            }
            op.done = true;
            if (fit == functions.end()) return out;
            Function& f = fit->second;
            f.spec = op.pending_spec;
            f.framework = op.pending;  // the old version stops here
            f.cold = true;
            f.state = "ACTIVE";
            if (!f.front) {
                f.front = std::make_unique<HttpTestServer>(ioc, front_handler(f.id));
                f.uri = f.front->url("");
            }
            op.result = function_json(f);
            op.result.as_object()["@type"] = "type.googleapis.com/google.cloud.functions.v2.Function";
        }
        out["done"] = true;
        out[op.result.as_object().contains("code") ? "error" : "response"] = op.result;
        return out;
    }

    Response route(const Request& req) {
        std::lock_guard lock(mutex);
        std::string_view target = req.target();
        auto q = target.find('?');
        std::string path(target.substr(0, q));
        auto query = parse_query(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1));
        if (path == "/token") {
            if (req.method() != bhttp::verb::post) return reject(req, oauth_error("invalid_request", "POST only"), "token: method");
            return token(req);
        }
        if (path.starts_with("/computeMetadata/")) return metadata(req, path, query);
        if (path.starts_with("/upload/")) return upload(req, std::string_view(path).substr(8), query);
        if (path.starts_with("/v2/")) return api(req, path, query);
        return reject(req, google_error(404, "NOT_FOUND", "not found"), "unknown path");
    }

    // ---- the function's URL: ID-token check, injected statuses, forwarding ----
    // The handler only forwards to a coroutine taking its arguments by
    // value: a coroutine lambda's captures live in the lambda object, which
    // the server may drop (DELETE) while the session still runs.
    HttpTestServer::Handler front_handler(std::string id) {
        auto weak = weak_from_this();
        return [weak, id](HttpTestServer::Session& s) { return front_session(weak, id, s); };
    }

    static net::awaitable<void> front_session(std::weak_ptr<State> weak, std::string id, HttpTestServer::Session& s) {
        {
            std::shared_ptr<beast::tcp_stream> upstream;
            unsigned short upstream_port = 0;
            for (;;) {
                auto req = co_await s.read_request();
                if (!req) break;
                auto self = weak.lock();
                if (!self) break;
                std::optional<Response> early;
                std::shared_ptr<Framework> fw;
                bool cold = false;
                {
                    std::lock_guard lock(self->mutex);
                    auto fit = self->functions.find(id);
                    if (fit == self->functions.end()) {
                        early = HttpTestServer::make_response(404, "Page not found");
                    } else {
                        auto auth = std::string((*req)[bhttp::field::authorization]);
                        auto it = auth.starts_with("Bearer ") ? self->id_tokens.find(auth.substr(7)) : self->id_tokens.end();
                        std::string why;
                        if (it == self->id_tokens.end()) why = "no ID token this fake minted";
                        else if (it->second.audience != fit->second.uri) why = "ID token audience " + it->second.audience + " is not " + fit->second.uri;
                        else if (it->second.expiry <= Clock::now()) why = "ID token expired";
                        if (!why.empty()) {
                            ++self->stats.invoke_auth_failures;
                            self->rejections.push_back("POST " + fit->second.uri + ": " + why);
                            early = HttpTestServer::make_response(401, "Your client does not have permission to the requested URL.");
                            early->set("WWW-Authenticate", "Bearer error=\"invalid_token\"");
                        } else if (self->inject_count > 0) {
                            --self->inject_count;
                            ++self->stats.injected;
                            early = HttpTestServer::make_response(static_cast<unsigned>(self->inject_status),
                                                                  "Rate exceeded.");
                            if (!self->inject_retry_after.empty()) early->set("Retry-After", self->inject_retry_after);
                        } else {
                            ++self->stats.invocations;
                            fw = fit->second.framework;
                            cold = fit->second.cold;
                            fit->second.cold = false;
                        }
                    }
                }
                Response res;
                if (early) {
                    res = std::move(*early);
                } else if (fw) {
                    // Forward to the framework on a kept-alive connection.
                    if (!upstream || upstream_port != fw->port) {
                        upstream = std::make_shared<beast::tcp_stream>(co_await net::this_coro::executor);
                        upstream_port = fw->port;
                        {
                            std::lock_guard lock(self->mutex);
                            self->upstreams.insert(upstream);
                        }
                        upstream->expires_after(std::chrono::seconds(120));
                        auto [ec] = co_await upstream->async_connect(
                            tcp::endpoint(net::ip::make_address("127.0.0.1"), fw->port), net::as_tuple(net::use_awaitable));
                        if (ec) {
                            res = HttpTestServer::make_response(503, "upstream connect failed");
                            upstream.reset();
                        }
                    }
                    if (upstream) {
                        Request fwd = *req;
                        fwd.set(bhttp::field::host, "127.0.0.1:" + std::to_string(fw->port));
                        fwd.keep_alive(true);
                        upstream->expires_after(std::chrono::seconds(120));
                        auto [wec, wn] = co_await bhttp::async_write(*upstream, fwd, net::as_tuple(net::use_awaitable));
                        beast::flat_buffer buf;
                        bhttp::response_parser<bhttp::string_body> parser;
                        parser.body_limit(256u << 20);
                        boost::system::error_code rec = wec;
                        if (!wec) std::tie(rec, std::ignore) = co_await bhttp::async_read(*upstream, buf, parser, net::as_tuple(net::use_awaitable));
                        if (rec) {
                            res = HttpTestServer::make_response(503, "upstream failed: " + rec.message());
                            upstream.reset();
                        } else {
                            res = parser.release();
                            if (!res.keep_alive()) upstream.reset();
                            res.keep_alive(true);
                        }
                    }
                } else {
                    res = self->builtin_reply(*req, cold);
                }
                self.reset();
                if (!co_await s.write(std::move(res))) break;
            }
            if (upstream) {
                if (auto self = weak.lock()) {
                    std::lock_guard lock(self->mutex);
                    self->upstreams.erase(upstream);
                }
                boost::system::error_code ec;
                upstream->socket().close(ec);
            }
        }
    }

    /// Echo without a framework: job 0 echoes, others fail; warm-ups answered.
    Response builtin_reply(const Request& req, bool cold) {
        boost::system::error_code ec;
        auto v = json::parse(req.body(), ec);
        Response r;
        if (ec || !v.is_object()) {
            r = HttpTestServer::make_response(400, R"({"error":"bad request","code":"bad_request"})");
        } else if (v.as_object().contains("warmup")) {
            r = HttpTestServer::make_response(200, R"({"warmed":true,"result":[]})");
        } else if (auto* job = v.as_object().if_contains("job_id"); job && job->is_number() && job->to_number<int>() == 0) {
            r = HttpTestServer::make_response(200, json::serialize(json::object{{"result", v.as_object().at("args")}}));
        } else {
            r = HttpTestServer::make_response(
                200, R"({"success":false,"error":"no behaviour for this job","error_type":"UnknownJob","result":[]})");
        }
        r.set(bhttp::field::content_type, "application/json");
        if (cold) r.set("X-Blueprint-Cold-Start", "1");
        return r;
    }
};

FakeGcp::FakeGcp(net::io_context& ioc, FakeGcpOptions options) : state_(std::make_shared<State>(ioc, std::move(options))) {
    auto& st = *state_;
    st.account = make_test_service_account();
    st.account.project_id = st.options.project;
    std::string tmpl = (fs::temp_directory_path() / "bp-fake-gcp-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    st.dir = tmpl;
    std::weak_ptr<State> weak = state_;
    st.server = std::make_unique<HttpTestServer>(ioc, HttpTestServer::respond([weak](const Request& req) {
        auto self = weak.lock();
        if (!self) return HttpTestServer::make_response(503);
        return self->route(req);
    }));
    std::ofstream(st.dir / "key.json") << key_json();
}

FakeGcp::~FakeGcp() {
    stop();
    std::error_code ec;
    fs::remove_all(state_->dir, ec);
}

void FakeGcp::stop() {
    auto& st = *state_;
    std::map<std::string, Function> functions;
    std::map<std::string, Operation> operations;
    {
        std::lock_guard lock(st.mutex);
        if (st.stopped) return;
        st.stopped = true;
        for (auto& u : st.upstreams) {
            boost::system::error_code ec;
            u->socket().close(ec);
        }
        st.upstreams.clear();
        functions.swap(st.functions);
        operations.swap(st.operations);
    }
    st.server->stop();
    for (auto& [_, f] : functions)
        if (f.front) f.front->stop();
    // Framework processes die with the Function / Operation records here.
}

const TestServiceAccount& FakeGcp::account() const { return state_->account; }
std::string FakeGcp::key_json() const { return state_->account.key_json(token_uri()); }
fs::path FakeGcp::key_file() const { return state_->dir / "key.json"; }
std::string FakeGcp::api_base() const { return state_->base() + "/v2/"; }
std::string FakeGcp::token_uri() const { return state_->base() + "/token"; }
std::string FakeGcp::metadata_host() const { return "127.0.0.1:" + std::to_string(state_->server->port()); }

void FakeGcp::fail_next_operation(std::string message, int code) {
    std::lock_guard lock(state_->mutex);
    state_->fail_next_op = std::pair{code, std::move(message)};
}
void FakeGcp::inject_invoke_status(int status, unsigned count, std::string retry_after) {
    std::lock_guard lock(state_->mutex);
    state_->inject_status = status;
    state_->inject_count = count;
    state_->inject_retry_after = std::move(retry_after);
}
void FakeGcp::revoke_tokens() {
    std::lock_guard lock(state_->mutex);
    state_->access_tokens.clear();
    state_->id_tokens.clear();
}
void FakeGcp::fail_next_api_call(int http_status, std::string status, std::string message) {
    std::lock_guard lock(state_->mutex);
    state_->fail_next_api = std::tuple{http_status, std::move(status), std::move(message)};
}
FakeGcp::Stats FakeGcp::stats() const {
    std::lock_guard lock(state_->mutex);
    return state_->stats;
}
std::vector<std::string> FakeGcp::rejections() const {
    std::lock_guard lock(state_->mutex);
    return state_->rejections;
}
std::string FakeGcp::last_update_mask() const {
    std::lock_guard lock(state_->mutex);
    return state_->last_mask;
}
std::string FakeGcp::last_function_body() const {
    std::lock_guard lock(state_->mutex);
    return state_->last_body;
}
std::optional<std::string> FakeGcp::function_state(std::string_view id) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->functions.find(std::string(id));
    if (it == state_->functions.end()) return std::nullopt;
    return it->second.state;
}
std::string FakeGcp::framework_log(std::string_view id) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->functions.find(std::string(id));
    if (it == state_->functions.end() || !it->second.framework) return {};
    return it->second.framework->output();
}
std::string FakeGcp::last_id_token_claims() const {
    std::lock_guard lock(state_->mutex);
    return state_->last_id_claims;
}

}  // namespace blueprint::test
