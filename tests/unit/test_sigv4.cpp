// SigV4 building blocks and signing, without I/O. The full AWS suite runs in
// tests/conformance; these cover the pieces, the Lambda path quirk and bad input.
#include "faas/aws/sigv4.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sigv4 = blueprint::faas::aws::sigv4;
using blueprint::faas::aws::AwsCredentials;
using namespace std::chrono;

namespace {

AwsCredentials example_credentials(std::string token = {}) {
    AwsCredentials c;
    c.access_key_id = "AKIDEXAMPLE";
    c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    c.session_token = std::move(token);
    return c;
}

system_clock::time_point at(const char* iso) { return sigv4::parse_iso8601(iso).value(); }

TEST(Sigv4Time, FormatsAmzDate) {
    EXPECT_EQ(sigv4::amz_date(sys_days{2015y / August / 30} + 12h + 36min), "20150830T123600Z");
    EXPECT_EQ(sigv4::amz_date(sys_days{2024y / January / 1} + 59s + 999ms), "20240101T000059Z");
}

TEST(Sigv4Time, ParsesIso8601Forms) {
    auto base = sys_days{2015y / August / 30} + 12h + 36min;
    EXPECT_EQ(at("2015-08-30T12:36:00Z"), base);
    EXPECT_EQ(at("2015-08-30T12:36:00.250Z"), base + 250ms);
    EXPECT_EQ(at("2015-08-30T14:36:00+02:00"), base);
    EXPECT_EQ(at("2015-08-30T11:36:00-01:00"), base);
}

TEST(Sigv4Time, RejectsMalformedTimes) {
    for (const char* bad : {"", "2015-08-30", "2015-08-30T12:36:00", "2015-13-30T12:36:00Z", "2015-02-30T12:36:00Z",
                            "2015-08-30T25:36:00Z", "2015-08-30T12:36:00Zjunk", "2015-08-30T12:36:00.Z",
                            "2015-08-30T12:36:00+0200", "20150830T123600Z", "2015-08-3xT12:36:00Z"})
        EXPECT_FALSE(sigv4::parse_iso8601(bad).has_value()) << bad;
}

TEST(Sigv4Encoding, KeepsUnreservedAndEncodesTheRest) {
    EXPECT_EQ(sigv4::uri_encode("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(sigv4::uri_encode("a b+c/d=e&f"), "a%20b%2Bc%2Fd%3De%26f");
    EXPECT_EQ(sigv4::uri_encode("a b/c", true), "a%20b/c");
    EXPECT_EQ(sigv4::uri_encode("\xE1\x88\xB4"), "%E1%88%B4");
    EXPECT_EQ(sigv4::uri_encode("%3A"), "%253A");
    EXPECT_EQ(sigv4::uri_encode(std::string("a\0b", 3)), "a%00b");
}

TEST(Sigv4Encoding, DecodesAndKeepsMalformedEscapes) {
    EXPECT_EQ(sigv4::uri_decode("%E1%88%B4=%2f"), "\xE1\x88\xB4=/");
    EXPECT_EQ(sigv4::uri_decode("100%"), "100%");
    EXPECT_EQ(sigv4::uri_decode("%4"), "%4");
    EXPECT_EQ(sigv4::uri_decode("%zz%4g"), "%zz%4g");
    EXPECT_EQ(sigv4::uri_decode("a+b"), "a+b");
}

TEST(Sigv4Path, Normalizes) {
    struct {
        const char* in;
        const char* out;
    } cases[] = {{"/", "/"},           {"//", "/"},         {"/./", "/"},          {"/example/..", "/"},
                 {"/a/b/../..", "/"},  {"//example//", "/example/"}, {"/./example", "/example"},
                 {"/a/./b/../c/", "/a/c/"}, {"/../../a", "/a"}, {"/a/b", "/a/b"}, {"/a//b///c", "/a/b/c"}};
    for (auto& c : cases) EXPECT_EQ(sigv4::normalize_path(c.in), c.out) << c.in;
}

TEST(Sigv4Path, LambdaArnIsEncodedTwice) {
    const char* path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn/invocations";
    EXPECT_EQ(sigv4::canonical_uri(path, {}),
              "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A123456789012%253Afunction%253Amy-fn/"
              "invocations");
    // S3 style: no second encoding, no normalisation.
    sigv4::Options s3{.normalize_path = false, .double_encode_path = false};
    EXPECT_EQ(sigv4::canonical_uri(path, s3), path);
    EXPECT_EQ(sigv4::canonical_uri("//a/../b", s3), "//a/../b");
    EXPECT_EQ(sigv4::canonical_uri("", {}), "/");
}

TEST(Sigv4Query, SortsEncodesAndKeepsEmptyValues) {
    EXPECT_EQ(sigv4::canonical_query(""), "");
    EXPECT_EQ(sigv4::canonical_query("b=2&a=1"), "a=1&b=2");
    EXPECT_EQ(sigv4::canonical_query("a=2&a=1&a=10"), "a=1&a=10&a=2");  // same name: by value
    EXPECT_EQ(sigv4::canonical_query("flag&x="), "flag=&x=");
    EXPECT_EQ(sigv4::canonical_query("&&a=1&"), "a=1");
    EXPECT_EQ(sigv4::canonical_query("q=a b+c"), "q=a%20b%2Bc");
    EXPECT_EQ(sigv4::canonical_query("Marker=&MaxItems=50"), "Marker=&MaxItems=50");
    // Raw and encoded forms sign alike.
    EXPECT_EQ(sigv4::canonical_query("\xE1\x88\xB4=v"), sigv4::canonical_query("%E1%88%B4=v"));
    EXPECT_EQ(sigv4::canonical_query("k=%24LATEST"), "k=%24LATEST");
    EXPECT_EQ(sigv4::canonical_query("a=b=c"), "a=b%3Dc");
}

TEST(Sigv4Headers, TrimsAndCollapsesValues) {
    EXPECT_EQ(sigv4::canonical_header_value("  a   b\t\tc  "), "a b c");
    EXPECT_EQ(sigv4::canonical_header_value("value1\n  value2"), "value1 value2");
    EXPECT_EQ(sigv4::canonical_header_value(""), "");
    EXPECT_EQ(sigv4::canonical_header_value("   "), "");
    EXPECT_EQ(sigv4::canonical_header_value("\"a   b\""), "\"a b\"");
}

TEST(Sigv4Crypto, Sha256KnownAnswers) {
    EXPECT_EQ(sigv4::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sigv4::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

std::string hex(std::span<const std::uint8_t> b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (auto x : b) (s += d[x >> 4]) += d[x & 15];
    return s;
}

TEST(Sigv4Crypto, HmacRfc4231Vectors) {
    // Test case 2: short key.
    std::string key2 = "Jefe";
    EXPECT_EQ(hex(sigv4::hmac_sha256({reinterpret_cast<const std::uint8_t*>(key2.data()), key2.size()},
                                     "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Test case 6: a key longer than the block is hashed first.
    std::vector<std::uint8_t> key6(131, 0xaa);
    EXPECT_EQ(hex(sigv4::hmac_sha256(key6, "Test Using Larger Than Block-Size Key - Hash Key First")),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Sigv4Crypto, DerivesTheDocumentedSigningKey) {
    // AWS documentation example (IAM "Examples of how to derive a signing key").
    EXPECT_EQ(hex(sigv4::derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")),
              "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

// Checked against botocore's SigV4Auth (python3-botocore 1.43) on the same request.
TEST(Sigv4Sign, LambdaInvokeMatchesBotocore) {
    std::vector<sigv4::Header> headers{{"Content-Type", "application/json"},
                                       {"X-Amz-Invocation-Type", "RequestResponse"},
                                       {"Host", "lambda.us-east-1.amazonaws.com"}};
    sigv4::Request req{.method = "POST",
                       .target = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn/"
                                 "invocations?Qualifier=%24LATEST",
                       .headers = headers,
                       .body = R"({"job_id":7,"args":[1,2,3]})"};
    auto s = sigv4::sign(req, example_credentials("session-token-example"),
                         {.region = "us-east-1", .service = "lambda", .time = at("2024-05-01T10:20:30Z")});
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->canonical_request,
              "POST\n"
              "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A123456789012%253Afunction%253Amy-fn/"
              "invocations\n"
              "Qualifier=%24LATEST\n"
              "content-type:application/json\n"
              "host:lambda.us-east-1.amazonaws.com\n"
              "x-amz-date:20240501T102030Z\n"
              "x-amz-invocation-type:RequestResponse\n"
              "x-amz-security-token:session-token-example\n"
              "\n"
              "content-type;host;x-amz-date;x-amz-invocation-type;x-amz-security-token\n"
              "5c4e05f9945c46620b572e942e061513f313d4b022eaeb7900a6cd6be604b049");
    EXPECT_EQ(s->string_to_sign,
              "AWS4-HMAC-SHA256\n20240501T102030Z\n20240501/us-east-1/lambda/aws4_request\n"
              "d4698099b1b95a27f82afca7304b7854d2809e9ca58b209695be792068507dfc");
    EXPECT_EQ(s->signature, "9773e3bca7ee8f096b2d60ea1d140e5060dbfbef0f375d66f275e509ca71885d");
    EXPECT_EQ(s->authorization,
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/lambda/aws4_request, "
              "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type;x-amz-security-token, "
              "Signature=9773e3bca7ee8f096b2d60ea1d140e5060dbfbef0f375d66f275e509ca71885d");
    ASSERT_EQ(s->headers_to_add.size(), 3u);
    EXPECT_EQ(s->headers_to_add[0], (sigv4::Header{"X-Amz-Security-Token", "session-token-example"}));
    EXPECT_EQ(s->headers_to_add[1], (sigv4::Header{"X-Amz-Date", "20240501T102030Z"}));
    EXPECT_EQ(s->headers_to_add[2].first, "Authorization");
}

sigv4::Context ctx() { return {.region = "us-east-1", .service = "service", .time = at("2015-08-30T12:36:00Z")}; }

TEST(Sigv4Sign, CallerAuthHeadersAreReplacedNotSigned) {
    std::vector<sigv4::Header> clean{{"Host", "example.amazonaws.com"}};
    std::vector<sigv4::Header> stale{{"Host", "example.amazonaws.com"},
                                     {"Authorization", "old"},
                                     {"X-Amz-Date", "19990101T000000Z"},
                                     {"x-amz-security-token", "old"}};
    auto a = sigv4::sign({.method = "GET", .target = "/", .headers = clean}, example_credentials(), ctx());
    auto b = sigv4::sign({.method = "GET", .target = "/", .headers = stale}, example_credentials(), ctx());
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->signature, b->signature);
    EXPECT_EQ(a->signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");  // get-vanilla
}

TEST(Sigv4Sign, SignBodyAndUnsignedPayload) {
    std::vector<sigv4::Header> headers{{"Host", "example.amazonaws.com"}};
    sigv4::Request req{.method = "PUT", .target = "/k", .headers = headers, .body = "hello"};
    auto s = sigv4::sign(req, example_credentials(), ctx(), {.sign_body = true});
    ASSERT_TRUE(s);
    auto body_hash = sigv4::sha256_hex("hello");
    EXPECT_NE(s->canonical_request.find("x-amz-content-sha256:" + body_hash + "\n"), std::string::npos);
    EXPECT_TRUE(s->canonical_request.ends_with("\n" + body_hash));
    EXPECT_EQ(s->headers_to_add[1], (sigv4::Header{"x-amz-content-sha256", body_hash}));

    req.unsigned_payload = true;
    auto u = sigv4::sign(req, example_credentials(), ctx(), {.sign_body = true});
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
    EXPECT_NE(u->signature, s->signature);
}

TEST(Sigv4Sign, OmittedSessionTokenIsSentButNotSigned) {
    std::vector<sigv4::Header> headers{{"Host", "example.amazonaws.com"}};
    auto s = sigv4::sign({.method = "POST", .target = "/", .headers = headers}, example_credentials("tok"), ctx(),
                         {.omit_session_token = true});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->canonical_request.find("x-amz-security-token"), std::string::npos);
    EXPECT_EQ(s->signed_headers, "host;x-amz-date");
    EXPECT_EQ(s->headers_to_add.front(), (sigv4::Header{"X-Amz-Security-Token", "tok"}));
}

TEST(Sigv4Sign, SecretNeverAppearsInOutput) {
    std::vector<sigv4::Header> headers{{"Host", "example.amazonaws.com"}};
    auto creds = example_credentials();
    auto s = sigv4::sign({.method = "GET", .target = "/", .headers = headers}, creds, ctx());
    ASSERT_TRUE(s);
    for (const auto& text : {s->canonical_request, s->string_to_sign, s->authorization, s->signature})
        EXPECT_EQ(text.find(creds.secret_access_key), std::string::npos);
}

TEST(Sigv4Sign, RejectsBadInput) {
    std::vector<sigv4::Header> ok{{"Host", "h"}};
    auto creds = example_credentials();
    auto code = [](auto r) { return r ? std::error_code{} : std::error_code(r.error().value(), std::generic_category()); };
    (void)code;
    auto err = [&](sigv4::Request r, AwsCredentials c, sigv4::Context x) {
        auto s = sigv4::sign(r, c, x);
        return s ? boost::system::error_code{} : s.error();
    };
    using E = sigv4::sigv4_errc;
    EXPECT_EQ(err({.method = "GET", .target = "", .headers = ok}, creds, ctx()), E::invalid_target);
    EXPECT_EQ(err({.method = "GET", .target = "relative", .headers = ok}, creds, ctx()), E::invalid_target);
    EXPECT_EQ(err({.method = "GET", .target = "/", .headers = ok}, AwsCredentials{}, ctx()), E::missing_credentials);
    auto no_secret = creds;
    no_secret.secret_access_key.clear();
    EXPECT_EQ(err({.method = "GET", .target = "/", .headers = ok}, no_secret, ctx()), E::missing_credentials);
    for (auto bad : std::vector<std::vector<sigv4::Header>>{{{"", "v"}}, {{"Bad Name", "v"}}, {{"a:b", "v"}}, {{"x\n", "v"}}})
        EXPECT_EQ(err({.method = "GET", .target = "/", .headers = bad}, creds, ctx()), E::invalid_header_name);
    auto x = ctx();
    x.region = "";
    EXPECT_EQ(err({.method = "GET", .target = "/", .headers = ok}, creds, x), E::invalid_scope);
    x = ctx();
    x.service = "lam/bda";
    EXPECT_EQ(err({.method = "GET", .target = "/", .headers = ok}, creds, x), E::invalid_scope);

    for (auto bad : {seconds(0), seconds(-5), seconds(7 * 24 * 3600 + 1)}) {
        auto p = sigv4::presign({.method = "GET", .target = "/", .headers = ok}, creds, ctx(), bad);
        ASSERT_FALSE(p);
        EXPECT_EQ(p.error(), E::invalid_expiry);
    }
    EXPECT_FALSE(sigv4::sigv4_category().message(static_cast<int>(E::invalid_scope)).empty());
}

TEST(Sigv4Presign, AppendsParametersAfterAnExistingQuery) {
    std::vector<sigv4::Header> headers{{"Host", "example.amazonaws.com"}};
    auto p = sigv4::presign({.method = "GET", .target = "/?Param1=value1", .headers = headers}, example_credentials(),
                            ctx(), seconds(3600));
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->target.starts_with("/?Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
    EXPECT_TRUE(p->target.ends_with("&X-Amz-Signature=" + p->signature));
    // Same as the suite's get-vanilla-empty-query-key query signature.
    EXPECT_EQ(p->signature, "49096700cbbaa5753443850f40df10f904fc2fdb544dc9512203cc77c471a9de");
}

}  // namespace
