// AWS's SigV4 suite (aws-c-auth tests/aws-signing-test-suite/v4), run as it
// is, from its folder: one parameterised test per case folder found at run
// time. The folder comes from SIGV4_SUITE_DIR (ctest sets it), else ".".
//
// Each case: context.json + request.txt in; header-* (Authorization header
// signing) and query-* (presigned URL) expected files out.
#include "faas/aws/sigv4.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace sigv4 = blueprint::faas::aws::sigv4;
using blueprint::faas::aws::AwsCredentials;

namespace {

fs::path suite_dir() {
    if (const char* d = std::getenv("SIGV4_SUITE_DIR"); d && *d) return d;
    return ".";
}

std::vector<std::string> discover_cases() {
    std::vector<std::string> cases;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(suite_dir(), ec)) {
        if (entry.is_directory() && fs::exists(entry.path() / "context.json") && fs::exists(entry.path() / "request.txt"))
            cases.push_back(entry.path().filename().string());
    }
    std::sort(cases.begin(), cases.end());
    return cases;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return std::move(ss).str();
}

// request.txt: "METHOD target HTTP/1.1", then "Name:value" lines (an
// indented line continues the previous value: obs-fold), a blank line, the body.
struct ParsedRequest {
    std::string method, target, version;
    std::vector<std::string> head_lines;  // verbatim, request line excluded
    std::vector<sigv4::Header> headers;
    std::string body;
};

ParsedRequest parse_request(const std::string& text) {
    ParsedRequest r;
    std::size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (first) {
            auto sp1 = line.find(' '), sp2 = line.rfind(' ');
            if (sp1 == std::string::npos || sp2 == sp1) throw std::runtime_error("bad request line");
            r.method = line.substr(0, sp1);
            r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);  // may hold spaces
            r.version = line.substr(sp2 + 1);
            first = false;
            continue;
        }
        if (line.empty()) {
            r.body = pos <= text.size() ? text.substr(std::min(pos, text.size())) : "";
            break;
        }
        r.head_lines.push_back(line);
        if ((line[0] == ' ' || line[0] == '\t') && !r.headers.empty()) {
            r.headers.back().second += " " + line;
            continue;
        }
        auto colon = line.find(':');
        if (colon == std::string::npos) throw std::runtime_error("bad header line");
        r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
    return r;
}

struct Case {
    std::string name;
    AwsCredentials credentials;
    std::string region, service;
    std::chrono::system_clock::time_point time;
    std::chrono::seconds expires{0};
    sigv4::Options options;
    ParsedRequest request;
    fs::path dir;

    std::string expected(const char* file) const { return read_file(dir / file); }
    sigv4::Request view() const {
        return {.method = request.method, .target = request.target, .headers = request.headers, .body = request.body};
    }
    sigv4::Context context() const { return {.region = region, .service = service, .time = time}; }
};

Case load_case(const std::string& name) {
    Case c;
    c.name = name;
    c.dir = suite_dir() / name;
    auto ctx = boost::json::parse(read_file(c.dir / "context.json")).as_object();
    const auto& creds = ctx.at("credentials").as_object();
    c.credentials.access_key_id = creds.at("access_key_id").as_string();
    c.credentials.secret_access_key = creds.at("secret_access_key").as_string();
    if (auto* t = creds.if_contains("token")) c.credentials.session_token = t->as_string();
    c.region = ctx.at("region").as_string();
    c.service = ctx.at("service").as_string();
    auto t = sigv4::parse_iso8601(ctx.at("timestamp").as_string());
    if (!t) throw std::runtime_error("bad timestamp");
    c.time = *t;
    c.expires = std::chrono::seconds(ctx.at("expiration_in_seconds").to_number<long long>());
    auto flag = [&](const char* key, bool dflt) {
        auto* v = ctx.if_contains(key);
        return v ? v->as_bool() : dflt;
    };
    c.options.normalize_path = flag("normalize", true);
    c.options.sign_body = flag("sign_body", false);
    c.options.omit_session_token = flag("omit_session_token", false);
    c.request = parse_request(read_file(c.dir / "request.txt"));
    return c;
}

std::string head_block(const Case& c, const std::string& target) {
    std::string out = c.request.method + " " + target + " " + c.request.version + "\n";
    for (const auto& l : c.request.head_lines) out += l + "\n";
    return out;
}

class Sigv4Suite : public ::testing::TestWithParam<std::string> {};

TEST_P(Sigv4Suite, HeaderSigning) {
    Case c = load_case(GetParam());
    auto s = sigv4::sign(c.view(), c.credentials, c.context(), c.options);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_EQ(s->canonical_request, c.expected("header-canonical-request.txt"));
    EXPECT_EQ(s->string_to_sign, c.expected("header-string-to-sign.txt"));
    EXPECT_EQ(s->signature, c.expected("header-signature.txt"));

    std::string signed_request = head_block(c, c.request.target);
    for (const auto& [n, v] : s->headers_to_add) signed_request += n + ":" + v + "\n";
    signed_request += "\n" + c.request.body;
    EXPECT_EQ(signed_request, c.expected("header-signed-request.txt"));
}

TEST_P(Sigv4Suite, QuerySigning) {
    Case c = load_case(GetParam());
    if (!fs::exists(c.dir / "query-signature.txt")) GTEST_SKIP() << "no presigned expectations for this case";
    auto p = sigv4::presign(c.view(), c.credentials, c.context(), c.expires, c.options);
    ASSERT_TRUE(p.has_value()) << p.error().message();
    EXPECT_EQ(p->canonical_request, c.expected("query-canonical-request.txt"));
    EXPECT_EQ(p->string_to_sign, c.expected("query-string-to-sign.txt"));
    EXPECT_EQ(p->signature, c.expected("query-signature.txt"));
    std::string signed_request = head_block(c, p->target) + "\n" + c.request.body;
    EXPECT_EQ(signed_request, c.expected("query-signed-request.txt"));
}

std::string case_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string n = info.param;
    for (auto& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return n;
}

INSTANTIATE_TEST_SUITE_P(Aws, Sigv4Suite, ::testing::ValuesIn(discover_cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Sigv4Suite);

// A missing or empty suite must fail the run, never pass it vacuously.
TEST(Sigv4SuiteFolder, HasCases) {
    ASSERT_TRUE(fs::is_directory(suite_dir())) << "SIGV4_SUITE_DIR " << suite_dir() << " is not a directory";
    auto cases = discover_cases();
    ASSERT_FALSE(cases.empty()) << "no case folders (context.json + request.txt) in " << fs::absolute(suite_dir());
    // Every case must carry the four header-signing expectations.
    for (const auto& name : cases)
        for (const char* f : {"header-canonical-request.txt", "header-string-to-sign.txt", "header-signature.txt",
                              "header-signed-request.txt"})
            EXPECT_TRUE(fs::exists(suite_dir() / name / f)) << name << " lacks " << f;
}

}  // namespace
