// GCP auth, pure parts: service-account keys, RS256 JWT assertions, token
// replies and the cache's freshness rule. No I/O.
#include "common/fake_gcp.hpp"
#include "faas/gcp/jwt.hpp"
#include "faas/gcp/token.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace {

using namespace blueprint::faas::gcp::detail;
using blueprint::faas::faas_errc;
namespace json = boost::json;
using namespace std::chrono_literals;

const blueprint::test::TestServiceAccount& account() {
    static const auto a = blueprint::test::make_test_service_account();
    return a;
}

std::string key_text() { return account().key_json("https://oauth2.googleapis.com/token"); }

/// The key material that must never appear in a message: the base64 body lines.
void expect_no_key_material(const std::string& message) {
    EXPECT_EQ(message.find("PRIVATE KEY"), std::string::npos) << message;
    const auto& pem = account().private_key_pem;
    auto line_start = pem.find('\n') + 1;
    auto body_line = pem.substr(line_start, 40);
    EXPECT_EQ(message.find(body_line), std::string::npos) << "the key leaked into: " << message;
}

TEST(GcpKey, ParsesAServiceAccountKey) {
    auto key = parse_service_account_key(key_text(), "key.json");
    ASSERT_TRUE(key) << key.error().to_string();
    EXPECT_EQ(key->client_email, account().client_email);
    EXPECT_EQ(key->private_key_id, account().private_key_id);
    EXPECT_EQ(key->private_key, account().private_key_pem);
    EXPECT_EQ(key->token_uri, "https://oauth2.googleapis.com/token");
    EXPECT_EQ(key->project_id, "test-project");
}

TEST(GcpKey, DefaultsTheTokenUri) {
    auto o = json::parse(key_text()).as_object();
    o.erase("token_uri");
    auto key = parse_service_account_key(json::serialize(o), "k");
    ASSERT_TRUE(key);
    EXPECT_EQ(key->token_uri, default_token_uri);
}

TEST(GcpKey, MissingFieldsAreNamedWithoutLeakingTheKey) {
    for (std::string field : {"type", "client_email", "private_key_id", "private_key"}) {
        auto o = json::parse(key_text()).as_object();
        o.erase(field);
        auto key = parse_service_account_key(json::serialize(o), "/etc/key.json");
        ASSERT_FALSE(key) << field;
        EXPECT_EQ(key.error().kind, faas_errc::unauthorized);
        EXPECT_NE(key.error().message.find("missing field \"" + field + "\""), std::string::npos) << key.error().message;
        EXPECT_NE(key.error().message.find("/etc/key.json"), std::string::npos) << key.error().message;
        expect_no_key_material(key.error().to_string());
    }
}

TEST(GcpKey, TruncatedOrCorruptFilesFailClearly) {
    const auto text = key_text();
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, text.size() / 3, text.size() / 2, text.size() - 1}) {
        auto key = parse_service_account_key(text.substr(0, cut), "key.json");
        ASSERT_FALSE(key) << "cut at " << cut;
        EXPECT_EQ(key.error().kind, faas_errc::unauthorized);
        EXPECT_NE(key.error().message.find("not valid JSON"), std::string::npos) << key.error().message;
        expect_no_key_material(key.error().to_string());
    }
    auto arr = parse_service_account_key("[1,2]", "k");
    ASSERT_FALSE(arr);
    EXPECT_NE(arr.error().message.find("not a JSON object"), std::string::npos);
}

TEST(GcpKey, RefusesOtherCredentialTypesAndBadFieldTypes) {
    auto o = json::parse(key_text()).as_object();
    o["type"] = "authorized_user";
    auto k1 = parse_service_account_key(json::serialize(o), "k");
    ASSERT_FALSE(k1);
    EXPECT_NE(k1.error().message.find("authorized_user"), std::string::npos);

    o = json::parse(key_text()).as_object();
    o["client_email"] = 42;
    auto k2 = parse_service_account_key(json::serialize(o), "k");
    ASSERT_FALSE(k2);
    EXPECT_NE(k2.error().message.find("\"client_email\" is not a string"), std::string::npos);

    o = json::parse(key_text()).as_object();
    o["private_key"] = "not a pem";
    auto k3 = parse_service_account_key(json::serialize(o), "k");
    ASSERT_FALSE(k3);
    EXPECT_NE(k3.error().message.find("not a PEM private key"), std::string::npos);
}

TEST(GcpJwt, Base64UrlRoundTripsWithoutPadding) {
    EXPECT_EQ(base64url_encode(""), "");
    EXPECT_EQ(base64url_encode("f"), "Zg");
    EXPECT_EQ(base64url_encode("fo"), "Zm8");
    EXPECT_EQ(base64url_encode("foo"), "Zm9v");
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t n = 0; n < all.size(); n += 37) {
        auto s = all.substr(n);
        EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
        EXPECT_EQ(blueprint::test::unb64url(base64url_encode(s)), s) << "agrees with OpenSSL's base64";
    }
    EXPECT_FALSE(base64url_decode("ab$d"));
    EXPECT_FALSE(base64url_decode("abcde"));
}

TEST(GcpJwt, AssertionForAnAccessTokenIsSignedAndCarriesTheClaims) {
    auto key = parse_service_account_key(key_text(), "k");
    ASSERT_TRUE(key);
    AssertionRequest r;
    r.audience = "https://oauth2.googleapis.com/token";
    r.scope = std::string(cloud_platform_scope);
    r.now = Clock::time_point(std::chrono::seconds(1'700'000'000));
    auto jwt = make_assertion(*key, r);
    ASSERT_TRUE(jwt) << jwt.error().to_string();
    auto d1 = jwt->find('.'), d2 = jwt->rfind('.');
    ASSERT_NE(d1, d2);
    auto header = json::parse(*base64url_decode(jwt->substr(0, d1))).as_object();
    EXPECT_EQ(header.at("alg"), "RS256");
    EXPECT_EQ(header.at("typ"), "JWT");
    EXPECT_EQ(header.at("kid").as_string(), account().private_key_id);
    auto claims = json::parse(*jwt_payload(*jwt)).as_object();
    EXPECT_EQ(claims.at("iss").as_string(), account().client_email);
    EXPECT_EQ(claims.at("aud"), "https://oauth2.googleapis.com/token");
    EXPECT_EQ(claims.at("iat").as_int64(), 1'700'000'000);
    EXPECT_EQ(claims.at("exp").as_int64(), 1'700'003'600);
    EXPECT_EQ(claims.at("scope"), "https://www.googleapis.com/auth/cloud-platform");
    EXPECT_FALSE(claims.contains("target_audience"));
    // The signature verifies with the public half, and not once a byte changes.
    auto sig = base64url_decode(jwt->substr(d2 + 1));
    ASSERT_TRUE(sig);
    EXPECT_TRUE(blueprint::test::verify_rs256(account().public_key_pem, jwt->substr(0, d2), *sig));
    std::string tampered = jwt->substr(0, d2);
    tampered[d1 + 3] ^= 1;
    EXPECT_FALSE(blueprint::test::verify_rs256(account().public_key_pem, tampered, *sig));
    EXPECT_EQ(jwt_exp(*jwt), 1'700'003'600);
}

TEST(GcpJwt, AssertionForAnIdTokenHasTargetAudienceAndCapsTheLifetime) {
    auto key = parse_service_account_key(key_text(), "k");
    ASSERT_TRUE(key);
    AssertionRequest r;
    r.audience = "http://127.0.0.1:1/token";
    r.target_audience = "https://fn-abc-uc.a.run.app";
    r.now = Clock::time_point(std::chrono::seconds(1000));
    r.lifetime = 7200s;  // more than Google allows: capped
    auto claims = json::parse(assertion_claims_json(*key, r)).as_object();
    EXPECT_EQ(claims.at("target_audience"), "https://fn-abc-uc.a.run.app");
    EXPECT_FALSE(claims.contains("scope"));
    EXPECT_EQ(claims.at("exp").as_int64() - claims.at("iat").as_int64(), 3600);
}

TEST(GcpJwt, BadKeysFailWithoutLeakingThem) {
    auto key = *parse_service_account_key(key_text(), "k");
    auto pem = key.private_key;
    // Truncated PEM body.
    key.private_key = pem.substr(0, pem.size() / 2) + "\n-----END PRIVATE KEY-----\n";
    auto r1 = sign_rs256(key.private_key, "x");
    ASSERT_FALSE(r1);
    EXPECT_EQ(r1.error().kind, faas_errc::unauthorized);
    EXPECT_NE(r1.error().message.find("\"private_key\""), std::string::npos);
    expect_no_key_material(r1.error().to_string());
    // An EC key is not an RS256 key.
    EVP_PKEY* ec = EVP_EC_gen("P-256");
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string ec_pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    EVP_PKEY_free(ec);
    auto r2 = sign_rs256(ec_pem, "x");
    ASSERT_FALSE(r2);
    EXPECT_NE(r2.error().message.find("not an RSA key"), std::string::npos);
}

TEST(GcpToken, RequestBodyIsFormEncoded) {
    EXPECT_EQ(token_request_body("a.b-c_d"),
              "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b-c_d");
    EXPECT_EQ(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}

TEST(GcpToken, ParsesAccessTokenReplies) {
    const auto now = Clock::time_point(std::chrono::seconds(5000));
    auto t = parse_access_token_response(200, R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})", now, "t");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->value, "ya29.x");
    EXPECT_EQ(t->expiry, now + 3599s);
    // The metadata server's shape is the same; expires_in may come as a string.
    auto t2 = parse_access_token_response(200, R"({"access_token":"a","expires_in":"60"})", now, "t");
    ASSERT_TRUE(t2);
    EXPECT_EQ(t2->expiry, now + 60s);
    for (std::string_view bad : {R"({"expires_in":3599})", R"({"access_token":"a"})", R"({"access_token":"a","expires_in":0})",
                                 "not json", R"({"access_token":"a","expires_in":)"}) {
        auto r = parse_access_token_response(200, bad, now, "t");
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, faas_errc::serialization) << bad;
    }
}

TEST(GcpToken, OAuthErrorsAreUnauthorizedWithTheDescription) {
    auto r = parse_access_token_response(400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})",
                                         Clock::now(), "access token");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, faas_errc::unauthorized);
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_NE(r.error().message.find("invalid_grant (Invalid JWT Signature.)"), std::string::npos) << r.error().message;
    EXPECT_EQ(parse_access_token_response(503, "", Clock::now(), "t").error().kind, faas_errc::infrastructure);
    EXPECT_EQ(parse_access_token_response(429, "", Clock::now(), "t").error().kind, faas_errc::throttled);
    EXPECT_EQ(parse_access_token_response(403, "", Clock::now(), "t").error().kind, faas_errc::unauthorized);
}

TEST(GcpToken, IdTokenExpiryComesFromItsExpClaimElseExpiresIn) {
    const auto now = Clock::time_point(std::chrono::seconds(1000));
    const std::string jwt = base64url_encode(R"({"alg":"RS256"})") + "." + base64url_encode(R"({"aud":"x","exp":4600})") + ".sig";
    auto t = parse_id_token_response(200, json::serialize(json::object{{"id_token", jwt}}), now, false, "id");
    ASSERT_TRUE(t) << t.error().to_string();
    EXPECT_EQ(t->value, jwt);
    EXPECT_EQ(t->expiry, Clock::time_point(std::chrono::seconds(4600)));
    // The metadata server returns the bare token (with a newline, sometimes).
    auto raw = parse_id_token_response(200, jwt + "\n", now, true, "id");
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->value, jwt);
    // No exp claim: expires_in.
    const std::string no_exp = base64url_encode("{}") + "." + base64url_encode(R"({"aud":"x"})") + ".sig";
    auto t2 = parse_id_token_response(200, json::serialize(json::object{{"id_token", no_exp}, {"expires_in", 100}}), now,
                                      false, "id");
    ASSERT_TRUE(t2);
    EXPECT_EQ(t2->expiry, now + 100s);
    // Neither: usable now, never cached.
    auto t3 = parse_id_token_response(200, json::serialize(json::object{{"id_token", no_exp}}), now, false, "id");
    ASSERT_TRUE(t3);
    EXPECT_FALSE(is_fresh(*t3, now, now));
    EXPECT_FALSE(parse_id_token_response(200, R"({"id_token":"notajwt"})", now, false, "id"));
    EXPECT_FALSE(parse_id_token_response(200, R"({"access_token":"a"})", now, false, "id"));
    EXPECT_EQ(parse_id_token_response(401, "", now, true, "id").error().kind, faas_errc::unauthorized);
}

TEST(GcpToken, FreshUntilAMarginBeforeExpiry) {
    const auto t0 = Clock::time_point(std::chrono::seconds(100'000));
    Token hour{"t", t0 + 3600s};
    EXPECT_TRUE(is_fresh(hour, t0, t0));
    EXPECT_TRUE(is_fresh(hour, t0 + 3600s - 301s, t0));
    EXPECT_FALSE(is_fresh(hour, t0 + 3600s - 299s, t0)) << "refreshed 5 minutes early";
    EXPECT_FALSE(is_fresh(hour, t0 + 4000s, t0));
    Token minute{"t", t0 + 60s};  // short-lived: the margin is half its life
    EXPECT_TRUE(is_fresh(minute, t0 + 29s, t0));
    EXPECT_FALSE(is_fresh(minute, t0 + 31s, t0));
    EXPECT_FALSE(is_fresh(Token{"", t0 + 3600s}, t0, t0));
}

}  // namespace
