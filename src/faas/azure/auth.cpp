// Credentials and tokens for ARM and Kudu (pure; see protocol.hpp).
#include "faas/azure/protocol.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>

namespace blueprint::faas::azure::detail {
namespace json = boost::json;
using std::chrono::seconds;
using std::chrono::system_clock;

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string out;
    for (const auto& [name, value] : fields) {
        if (!out.empty()) out += '&';
        out += percent_encode(name);
        out += '=';
        out += percent_encode(value);
    }
    return out;
}

std::string trim_slashes(std::string_view base) {
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    return std::string(base);
}

std::string expand_app_template(std::string_view url_template, std::string_view app) {
    std::string out(url_template);
    constexpr std::string_view key = "{app}";
    for (auto pos = out.find(key); pos != std::string::npos; pos = out.find(key, pos + app.size()))
        out.replace(pos, key.size(), app);
    return trim_slashes(out);
}

std::string redact(std::string text, const std::vector<std::string_view>& secrets) {
    for (auto secret : secrets) {
        if (secret.empty()) continue;
        for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos))
            text.replace(pos, secret.size(), "<redacted>");
        // Also its form-encoded spelling, as it would appear in a request body.
        const std::string encoded = percent_encode(secret);
        if (encoded != secret)
            for (auto pos = text.find(encoded); pos != std::string::npos; pos = text.find(encoded, pos))
                text.replace(pos, encoded.size(), "<redacted>");
    }
    return text;
}

bool valid_app_name(std::string_view name) {
    if (name.size() < 2 || name.size() > 60 || name.front() == '-' || name.back() == '-') return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

std::expected<CredentialSource, FaasError> choose_credential(const AzureOptions& options, const EnvLookup& env) {
    CredentialSource source;
    if (options.credential) {
        const auto& c = *options.credential;
        if (c.tenant_id.empty() || c.client_id.empty() || c.client_secret.empty())
            return std::unexpected(FaasError::make(
                faas_errc::unauthorized, "azure: the explicit credential needs a tenant id, a client id and a client secret"));
        source.kind = CredentialSource::Kind::client_secret;
        source.secret = c;
        return source;
    }
    auto get = [&](std::string_view name) { return env ? env(name).value_or("") : std::string(); };
    ClientSecretCredential c{get("AZURE_TENANT_ID"), get("AZURE_CLIENT_ID"), get("AZURE_CLIENT_SECRET")};
    const bool any = !c.tenant_id.empty() || !c.client_id.empty() || !c.client_secret.empty();
    if (any) {
        std::string missing;
        for (auto [name, value] : {std::pair{"AZURE_TENANT_ID", &c.tenant_id}, std::pair{"AZURE_CLIENT_ID", &c.client_id},
                                   std::pair{"AZURE_CLIENT_SECRET", &c.client_secret}})
            if (value->empty()) missing += (missing.empty() ? "" : ", ") + std::string(name);
        if (!missing.empty())
            return std::unexpected(FaasError::make(faas_errc::unauthorized,
                                                   "azure: service principal in the environment is incomplete: " +
                                                       missing + " not set"));
        source.kind = CredentialSource::Kind::client_secret;
        source.secret = std::move(c);
        return source;
    }
    std::string endpoint = options.endpoints.identity_endpoint.empty() ? get("IDENTITY_ENDPOINT")
                                                                       : options.endpoints.identity_endpoint;
    std::string header = options.endpoints.identity_header.empty() ? get("IDENTITY_HEADER")
                                                                   : options.endpoints.identity_header;
    if (!endpoint.empty() && !header.empty()) {
        source.kind = CredentialSource::Kind::managed_identity;
        source.identity_endpoint = std::move(endpoint);
        source.identity_header = std::move(header);
        return source;
    }
    source.kind = CredentialSource::Kind::none;
    return source;
}

http::Request client_credentials_request(const Endpoints& endpoints, const ClientSecretCredential& credential) {
    http::Request req;
    req.method = "POST";
    req.url = trim_slashes(endpoints.authority) + "/" + percent_encode(credential.tenant_id) + "/oauth2/v2.0/token";
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.headers.emplace_back("Accept", "application/json");
    req.body = form_encode({{"client_id", credential.client_id},
                            {"client_secret", credential.client_secret},
                            {"grant_type", "client_credentials"},
                            {"scope", endpoints.scope}});
    // Asking for a token twice is harmless.
    req.idempotent = true;
    return req;
}

http::Request managed_identity_request(const Endpoints& endpoints, std::string_view endpoint, std::string_view header) {
    std::string resource = endpoints.scope;
    constexpr std::string_view suffix = "/.default";
    if (resource.ends_with(suffix)) resource.resize(resource.size() - suffix.size());
    if (!resource.ends_with('/')) resource += '/';
    http::Request req;
    req.method = "GET";
    req.url = std::string(endpoint) + (endpoint.find('?') == std::string_view::npos ? "?" : "&") +
              "resource=" + percent_encode(resource) + "&api-version=" + std::string(managed_identity_api_version);
    req.headers.emplace_back("X-IDENTITY-HEADER", std::string(header));
    req.headers.emplace_back("Accept", "application/json");
    return req;
}

namespace {

std::optional<std::int64_t> as_seconds(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
    if (v.is_double()) return static_cast<std::int64_t>(v.get_double());
    if (v.is_string()) {
        std::int64_t out = 0;
        const auto s = v.get_string();
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec == std::errc{} && p == s.data() + s.size() && !s.empty()) return out;
    }
    return std::nullopt;
}

std::string string_field(const json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->get_string());
    return {};
}

}  // namespace

std::expected<AccessToken, FaasError> parse_token_response(int status, std::string_view body, system_clock::time_point now) {
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec);
    const json::object* o = (!ec && doc.is_object()) ? &doc.as_object() : nullptr;
    if (status < 200 || status > 299 || (o && o->contains("error") && !o->contains("access_token"))) {
        faas_errc kind = faas_errc::infrastructure;
        if (status == 400 || status == 401 || status == 403) kind = faas_errc::unauthorized;
        else if (status == 429) kind = faas_errc::throttled;
        else if (status == 404) kind = faas_errc::not_found;
        std::string message = "azure: token request failed with HTTP " + std::to_string(status);
        if (o) {
            const auto code = string_field(*o, "error");
            const auto desc = string_field(*o, "error_description");
            if (!code.empty()) message += ": " + code;
            // Entra's description is several lines; the first says what went wrong.
            if (!desc.empty()) message += ": " + desc.substr(0, std::min<std::size_t>(desc.find('\n'), 300));
        }
        FaasError e = FaasError::make(kind, std::move(message));
        e.http_status = status;
        return std::unexpected(std::move(e));
    }
    if (!o) return std::unexpected(FaasError::make(faas_errc::serialization, "azure: token reply is not a JSON object"));
    AccessToken token;
    token.value = string_field(*o, "access_token");
    if (token.value.empty())
        return std::unexpected(FaasError::make(faas_errc::serialization, "azure: token reply has no access_token"));
    token.obtained = now;
    if (const auto* v = o->if_contains("expires_in"); v && as_seconds(*v)) {
        token.expires = now + seconds(*as_seconds(*v));
    } else if (const auto* on = o->if_contains("expires_on"); on && as_seconds(*on)) {
        token.expires = system_clock::time_point(seconds(*as_seconds(*on)));
    } else {
        return std::unexpected(
            FaasError::make(faas_errc::serialization, "azure: token reply has neither expires_in nor expires_on"));
    }
    return token;
}

system_clock::time_point refresh_at(const AccessToken& token) {
    const auto lifetime = token.expires - token.obtained;
    const auto margin = std::min<system_clock::duration>(std::chrono::minutes(5), lifetime / 2);
    return token.expires - margin;
}

bool needs_refresh(const AccessToken& token, system_clock::time_point now) {
    return token.value.empty() || now >= refresh_at(token);
}

}  // namespace blueprint::faas::azure::detail
