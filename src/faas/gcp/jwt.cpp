// Service-account keys and RS256 JWTs.
#include "faas/gcp/jwt.hpp"

#include <boost/json.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <memory>

namespace blueprint::faas::gcp::detail {
namespace json = boost::json;

namespace {

FaasError key_error(std::string_view source, std::string message) {
    return FaasError::make(faas_errc::unauthorized, "service-account key " + std::string(source) + ": " + message);
}

constexpr std::string_view b64url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void append_json_string(std::string& out, std::string_view s) { out += json::serialize(json::string_view(s)); }

}  // namespace

std::expected<ServiceAccountKey, FaasError> parse_service_account_key(std::string_view text, std::string_view source) {
    boost::system::error_code ec;
    // No parser message: it may point into the text, which holds the key.
    json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
    if (ec) return std::unexpected(key_error(source, "is not valid JSON (truncated or corrupt file?)"));
    if (!v.is_object()) return std::unexpected(key_error(source, "is not a JSON object"));
    const auto& o = v.as_object();
    auto field = [&](std::string_view name, bool required) -> std::expected<std::string, FaasError> {
        const json::value* f = o.if_contains(name);
        if (!f || (f->is_string() && f->as_string().empty())) {
            if (!required) return std::string{};
            return std::unexpected(key_error(source, "missing field \"" + std::string(name) + "\""));
        }
        if (!f->is_string())
            return std::unexpected(key_error(source, "field \"" + std::string(name) + "\" is not a string"));
        return std::string(f->as_string());
    };
    auto type = field("type", true);
    if (!type) return std::unexpected(type.error());
    if (*type != "service_account")
        return std::unexpected(key_error(source, "field \"type\" is \"" + type->substr(0, 40) +
                                                     "\"; only \"service_account\" keys are supported"));
    ServiceAccountKey key;
    for (auto [name, out, required] : {std::tuple{"client_email", &key.client_email, true},
                                       std::tuple{"private_key_id", &key.private_key_id, true},
                                       std::tuple{"private_key", &key.private_key, true},
                                       std::tuple{"token_uri", &key.token_uri, false},
                                       std::tuple{"project_id", &key.project_id, false}}) {
        auto f = field(name, required);
        if (!f) return std::unexpected(f.error());
        *out = std::move(*f);
    }
    if (key.private_key.find("-----BEGIN") == std::string::npos || key.private_key.find("PRIVATE KEY-----") == std::string::npos)
        return std::unexpected(key_error(source, "field \"private_key\" is not a PEM private key"));
    if (key.token_uri.empty()) key.token_uri = std::string(default_token_uri);
    return key;
}

std::string base64url_encode(std::string_view data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(data[k]); };
    for (; i + 2 < data.size(); i += 3) {
        std::uint32_t n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
        out += b64url_alphabet[(n >> 18) & 63];
        out += b64url_alphabet[(n >> 12) & 63];
        out += b64url_alphabet[(n >> 6) & 63];
        out += b64url_alphabet[n & 63];
    }
    if (data.size() - i == 1) {
        std::uint32_t n = at(i) << 16;
        out += b64url_alphabet[(n >> 18) & 63];
        out += b64url_alphabet[(n >> 12) & 63];
    } else if (data.size() - i == 2) {
        std::uint32_t n = (at(i) << 16) | (at(i + 1) << 8);
        out += b64url_alphabet[(n >> 18) & 63];
        out += b64url_alphabet[(n >> 12) & 63];
        out += b64url_alphabet[(n >> 6) & 63];
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '-' || c == '+') v = 62;
        else if (c == '_' || c == '/') v = 63;
        else return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

std::string assertion_header_json(const ServiceAccountKey& key) {
    std::string out = R"({"alg":"RS256","typ":"JWT","kid":)";
    append_json_string(out, key.private_key_id);
    out += '}';
    return out;
}

std::string assertion_claims_json(const ServiceAccountKey& key, const AssertionRequest& request) {
    using namespace std::chrono;
    const auto iat = duration_cast<seconds>(request.now.time_since_epoch()).count();
    const auto lifetime = std::min(request.lifetime, max_assertion_lifetime);
    json::object claims;
    claims["iss"] = key.client_email;
    claims["aud"] = request.audience;
    claims["iat"] = iat;
    claims["exp"] = iat + lifetime.count();
    if (!request.scope.empty()) claims["scope"] = request.scope;
    if (!request.target_audience.empty()) claims["target_audience"] = request.target_audience;
    return json::serialize(claims);
}

std::expected<std::string, FaasError> sign_rs256(std::string_view pem, std::string_view input) {
    // The error never carries OpenSSL's own text: it can quote PEM lines.
    auto fail = [](std::string what) {
        ERR_clear_error();
        return std::unexpected(FaasError::make(faas_errc::unauthorized, "service-account key: " + std::move(what)));
    };
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) return fail("out of memory reading \"private_key\"");
    // A passphrase callback that refuses: an encrypted key must not prompt on the terminal.
    auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr), &EVP_PKEY_free);
    if (!key) return fail("field \"private_key\" is not a readable PEM private key");
    if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) return fail("field \"private_key\" is not an RSA key");
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
        return fail("cannot sign with \"private_key\"");
    std::size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) return fail("cannot sign with \"private_key\"");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) != 1)
        return fail("cannot sign with \"private_key\"");
    sig.resize(len);
    return sig;
}

std::expected<std::string, FaasError> make_assertion(const ServiceAccountKey& key, const AssertionRequest& request) {
    std::string input = base64url_encode(assertion_header_json(key));
    input += '.';
    input += base64url_encode(assertion_claims_json(key, request));
    auto sig = sign_rs256(key.private_key, input);
    if (!sig) return std::unexpected(std::move(sig.error()));
    input += '.';
    input += base64url_encode(*sig);
    return input;
}

std::optional<std::string> jwt_payload(std::string_view token) {
    auto first = token.find('.');
    if (first == std::string_view::npos) return std::nullopt;
    auto second = token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return std::nullopt;
    return base64url_decode(token.substr(first + 1, second - first - 1));
}

std::optional<std::int64_t> jwt_exp(std::string_view token) {
    auto payload = jwt_payload(token);
    if (!payload) return std::nullopt;
    boost::system::error_code ec;
    auto v = json::parse(*payload, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const json::value* exp = v.as_object().if_contains("exp");
    if (!exp) return std::nullopt;
    if (exp->is_int64()) return exp->as_int64();
    if (exp->is_uint64() && exp->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(exp->as_uint64());
    if (exp->is_double()) return static_cast<std::int64_t>(exp->as_double());
    return std::nullopt;
}

}  // namespace blueprint::faas::gcp::detail
