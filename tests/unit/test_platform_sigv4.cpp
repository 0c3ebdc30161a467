// The platform's SigV4 verification against requests signed by our own
// signer (src/faas/aws/sigv4.hpp): what one signs, the other accepts, and
// any change (secret, body, path, header, time, scope) is refused. The AWS
// CLI's signatures are checked end to end in tests/integration/test_aws_cli.cpp.
#include "faas/aws/sigv4.hpp"
#include "platform/sigv4_verify.hpp"

#include <gtest/gtest.h>

namespace {
using namespace blueprint::platform;
namespace sigv4 = blueprint::faas::aws::sigv4;
using Headers = std::vector<std::pair<std::string, std::string>>;
using namespace std::chrono_literals;

const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1714564800));  // 2024-05-01T12:00:00Z

struct Signed {
    std::string method, target, body;
    Headers headers;
};

Signed sign(std::string method, std::string target, std::string body, std::string secret = "secret",
            std::string region = "us-east-1", std::string service = "lambda",
            std::chrono::system_clock::time_point when = t0) {
    Signed s{std::move(method), std::move(target), std::move(body),
             {{"Host", "127.0.0.1:9000"}, {"Content-Type", "application/json"}, {"X-Amz-Invocation-Type", "Event"}}};
    blueprint::faas::aws::AwsCredentials creds;
    creds.access_key_id = "AKIDEXAMPLE";
    creds.secret_access_key = secret;
    std::vector<sigv4::Header> hs(s.headers.begin(), s.headers.end());
    auto sig = sigv4::sign({.method = s.method, .target = s.target, .headers = hs, .body = s.body}, creds,
                           {.region = region, .service = service, .time = when});
    EXPECT_TRUE(sig);
    for (auto& h : sig->headers_to_add) s.headers.push_back(h);
    return s;
}

std::expected<void, SignatureError> verify(const Signed& s, std::chrono::system_clock::time_point now = t0) {
    return verify_sigv4({s.method, s.target, &s.headers, s.body},
                        {.access_key_id = "AKIDEXAMPLE", .secret_access_key = "secret", .region = "us-east-1"}, now);
}

TEST(PlatformSigV4, AcceptsWhatTheSignerSigns) {
    EXPECT_TRUE(verify(sign("GET", "/2015-03-31/functions/?MaxItems=2&Marker=a%20b", "")));
    EXPECT_TRUE(verify(sign("POST", "/2015-03-31/functions/f/invocations", R"({"job_id":1})")));
    // An ARN in the path: its %3A is signed double-encoded.
    EXPECT_TRUE(verify(sign("POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations",
                            "{}")));
    // Within the 5-minute window either way.
    EXPECT_TRUE(verify(sign("GET", "/2015-03-31/functions/", ""), t0 + 4min));
    EXPECT_TRUE(verify(sign("GET", "/2015-03-31/functions/", ""), t0 - 4min));
}

TEST(PlatformSigV4, RefusesEveryAlteration) {
    auto expect_refused = [](std::expected<void, SignatureError> r, std::string_view type) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().type, type);
        EXPECT_FALSE(r.error().message.empty());
    };
    expect_refused(verify(sign("GET", "/2015-03-31/functions/", "", "wrong")), "InvalidSignatureException");
    auto body = sign("POST", "/2015-03-31/functions/f/invocations", "{\"a\":1}");
    body.body = "{\"a\":2}";
    expect_refused(verify(body), "InvalidSignatureException");
    auto path = sign("POST", "/2015-03-31/functions/f/invocations", "{}");
    path.target = "/2015-03-31/functions/g/invocations";
    expect_refused(verify(path), "InvalidSignatureException");
    auto header = sign("POST", "/2015-03-31/functions/f/invocations", "{}");
    for (auto& [k, v] : header.headers)
        if (k == "X-Amz-Invocation-Type") v = "RequestResponse";
    expect_refused(verify(header), "InvalidSignatureException");
    auto query = sign("GET", "/2015-03-31/functions/?MaxItems=2", "");
    query.target = "/2015-03-31/functions/?MaxItems=3";
    expect_refused(verify(query), "InvalidSignatureException");
    // Time: more than 5 minutes either way.
    expect_refused(verify(sign("GET", "/2015-03-31/functions/", ""), t0 + 6min), "InvalidSignatureException");
    expect_refused(verify(sign("GET", "/2015-03-31/functions/", ""), t0 - 6min), "InvalidSignatureException");
    // Scope.
    expect_refused(verify(sign("GET", "/2015-03-31/functions/", "", "secret", "eu-west-1")), "InvalidSignatureException");
    expect_refused(verify(sign("GET", "/2015-03-31/functions/", "", "secret", "us-east-1", "s3")),
                   "InvalidSignatureException");
}

TEST(PlatformSigV4, MalformedAuthorization) {
    Signed s{"GET", "/2015-03-31/functions/", "", {{"Host", "h"}}};
    auto r = verify(s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().type, "MissingAuthenticationTokenException");

    auto with_auth = [&](std::string value) {
        Signed x = s;
        x.headers.emplace_back("X-Amz-Date", "20240501T120000Z");
        x.headers.emplace_back("Authorization", std::move(value));
        return verify(x);
    };
    for (auto bad : {"Bearer x", "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/lambda",
                     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/lambda/aws4_request, SignedHeaders=host"}) {
        auto e = with_auth(bad);
        ASSERT_FALSE(e) << bad;
        EXPECT_EQ(e.error().type, "IncompleteSignatureException") << bad;
    }
    auto unknown = with_auth(
        "AWS4-HMAC-SHA256 Credential=OTHERKEY/20240501/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
        "Signature=00");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().type, "UnrecognizedClientException");
    auto unsigned_host = with_auth(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/lambda/aws4_request, SignedHeaders=x-amz-date, "
        "Signature=00");
    ASSERT_FALSE(unsigned_host);
    EXPECT_EQ(unsigned_host.error().type, "InvalidSignatureException");
    auto bad_date = with_auth(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240502/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
        "Signature=00");
    ASSERT_FALSE(bad_date);
    EXPECT_EQ(bad_date.error().type, "InvalidSignatureException");
}

TEST(PlatformSigV4, CredentialsOption) {
    auto ok = parse_credentials("AKID:sec:ret");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->first, "AKID");
    EXPECT_EQ(ok->second, "sec:ret");
    EXPECT_FALSE(parse_credentials("AKID"));
    EXPECT_FALSE(parse_credentials(":secret"));
    EXPECT_FALSE(parse_credentials("AKID:"));
}

}  // namespace
