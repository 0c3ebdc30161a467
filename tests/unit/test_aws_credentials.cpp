// The AWS credential chain's pure parts: environment, shared files,
// credential_process, container and IMDS request builders and parsers.
#include "faas/aws/credentials.hpp"

#include "common/http_test_server.hpp"
#include "common/run_coro.hpp"

#include <boost/beast/http/field.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace aws = blueprint::faas::aws;
using aws::credentials_errc;
using aws::Clock;
using namespace std::chrono;

namespace {

constexpr const char* secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* token = "FwoGZXIvYXdzSECRETTOKEN";

aws::AwsCredentials full() {
    return {.access_key_id = "AKIDEXAMPLE", .secret_access_key = secret, .session_token = token, .expiration = {}, .source = "test"};
}

void expect_no_secrets(const std::string& text) {
    EXPECT_EQ(text.find(secret), std::string::npos) << text;
    EXPECT_EQ(text.find(token), std::string::npos) << text;
}

// ---- redaction -----------------------------------------------------------------

TEST(AwsCredentials, PrintsOnlyTheKeyId) {
    auto c = full();
    c.expiration = sys_days{2030y / 1 / 2};
    std::ostringstream os;
    os << c;
    EXPECT_EQ(os.str(), aws::to_string(c));
    EXPECT_NE(os.str().find("AKIDEXAMPLE"), std::string::npos);
    EXPECT_NE(os.str().find("<redacted>"), std::string::npos);
    expect_no_secrets(os.str());
    expect_no_secrets(::testing::PrintToString(c));  // what a failing EXPECT_EQ would show
    EXPECT_NE(aws::to_string(aws::AwsCredentials{}).find("<none>"), std::string::npos);
}

TEST(AwsCredentials, ExpiryMargin) {
    auto now = sys_days{2030y / 1 / 1} + 0s;
    auto c = full();
    EXPECT_FALSE(c.expires_within(now, 5min));  // long-term keys never expire
    c.expiration = now + 4min;
    EXPECT_TRUE(c.expires_within(now, 5min));
    c.expiration = now + 6min;
    EXPECT_FALSE(c.expires_within(now, 5min));
    EXPECT_TRUE(c.complete());
    EXPECT_FALSE(aws::AwsCredentials{}.complete());
}

TEST(AwsCredentials, ErrorsMapToFaasKinds) {
    auto e = aws::CredentialsError::make(credentials_errc::not_found, "x").to_faas_error();
    EXPECT_EQ(e.kind, blueprint::faas::faas_errc::unauthorized);
    EXPECT_EQ(aws::CredentialsError::make(credentials_errc::fetch_failed, "x").to_faas_error().kind,
              blueprint::faas::faas_errc::infrastructure);
    EXPECT_STREQ(aws::credentials_category().name(), "blueprint.aws.credentials");
}

// ---- environment ------------------------------------------------------------------

TEST(AwsEnvCredentials, ReadsKeysAndToken) {
    auto c = aws::credentials_from_env(aws::map_env(
        {{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", secret}, {"AWS_SESSION_TOKEN", token}}));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->access_key_id, "AKID");
    EXPECT_EQ(c->secret_access_key, secret);
    EXPECT_EQ(c->session_token, token);
    EXPECT_EQ(c->source, "environment");

    auto legacy = aws::credentials_from_env(
        aws::map_env({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", secret}, {"AWS_SECURITY_TOKEN", "legacy"}}));
    ASSERT_TRUE(legacy);
    EXPECT_EQ(legacy->session_token, "legacy");
}

TEST(AwsEnvCredentials, MissingAndPartial) {
    auto none = aws::credentials_from_env(aws::map_env({}));
    ASSERT_FALSE(none);
    EXPECT_TRUE(none.error().is(credentials_errc::not_found));

    auto empty = aws::credentials_from_env(aws::map_env({{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", ""}}));
    ASSERT_FALSE(empty);
    EXPECT_TRUE(empty.error().is(credentials_errc::not_found));

    auto only_secret = aws::credentials_from_env(aws::map_env({{"AWS_SECRET_ACCESS_KEY", secret}}));
    ASSERT_FALSE(only_secret);
    EXPECT_TRUE(only_secret.error().is(credentials_errc::incomplete));
    expect_no_secrets(only_secret.error().message);

    auto only_id = aws::credentials_from_env(aws::map_env({{"AWS_ACCESS_KEY_ID", "AKID"}}));
    ASSERT_FALSE(only_id);
    EXPECT_TRUE(only_id.error().is(credentials_errc::incomplete));
}

TEST(AwsRegion, Precedence) {
    auto config = aws::parse_ini("[default]\nregion = eu-west-1\n[profile dev]\nregion=ap-south-1\n").value();
    EXPECT_EQ(aws::resolve_region(aws::map_env({{"AWS_REGION", "us-east-2"}, {"AWS_DEFAULT_REGION", "x"}}), &config, "default"),
              "us-east-2");
    EXPECT_EQ(aws::resolve_region(aws::map_env({{"AWS_DEFAULT_REGION", "us-west-1"}}), &config, "default"), "us-west-1");
    EXPECT_EQ(aws::resolve_region(aws::map_env({}), &config, "default"), "eu-west-1");
    EXPECT_EQ(aws::resolve_region(aws::map_env({}), &config, "dev"), "ap-south-1");
    EXPECT_EQ(aws::resolve_region(aws::map_env({}), &config, "nope"), std::nullopt);
    EXPECT_EQ(aws::resolve_region(aws::map_env({}), nullptr, "default"), std::nullopt);
}

// ---- INI files ------------------------------------------------------------------------

TEST(AwsIni, ParsesSectionsCommentsAndSubsections) {
    auto ini = aws::parse_ini(
        "# comment\n"
        "; another\n"
        "\n"
        "[default]\r\n"
        "aws_access_key_id = AKID \n"
        "aws_secret_access_key=abc=def\n"
        "s3 =\n"
        "  max_concurrent_requests = 20\n"
        "  addressing_style = path\n"
        "region = us-east-1\n"
        "[ profile dev ]\n"
        "region = eu-west-1\n"
        "credential_process = /bin/echo\n"
        "    --flag\n"
        "[empty]\n");
    ASSERT_TRUE(ini) << ini.error().message;
    EXPECT_EQ(*ini->get("default", "aws_access_key_id"), "AKID");
    EXPECT_EQ(*ini->get("default", "aws_secret_access_key"), "abc=def");
    EXPECT_EQ(*ini->get("default", "s3"), "");
    EXPECT_EQ(ini->get("default", "max_concurrent_requests"), nullptr);
    EXPECT_EQ(*ini->get("default", "region"), "us-east-1");
    EXPECT_EQ(*ini->get("profile dev", "credential_process"), "/bin/echo\n--flag");
    EXPECT_TRUE(ini->has_section("empty"));
    EXPECT_EQ(ini->get("missing", "x"), nullptr);
}

TEST(AwsIni, RejectsMalformedLinesWithoutEchoingThem) {
    struct {
        const char* text;
        const char* where;
    } bad[] = {{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n", "line 1"},
               {"[default]\nwJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n", "line 2"},
               {"[default\nx=1\n", "line 1"},
               {"[default]\n = value\n", "line 2"}};
    for (auto& b : bad) {
        auto r = aws::parse_ini(b.text);
        ASSERT_FALSE(r) << b.text;
        EXPECT_TRUE(r.error().is(credentials_errc::malformed));
        EXPECT_NE(r.error().message.find(b.where), std::string::npos) << r.error().message;
        expect_no_secrets(r.error().message);
    }
    EXPECT_TRUE(aws::parse_ini("").has_value());
}

TEST(AwsSharedFiles, PathsAndProfile) {
    auto p = aws::shared_file_paths(aws::map_env({{"HOME", "/home/u"}}));
    EXPECT_EQ(p.credentials_file, "/home/u/.aws/credentials");
    EXPECT_EQ(p.config_file, "/home/u/.aws/config");
    EXPECT_EQ(p.profile, "default");
    auto o = aws::shared_file_paths(aws::map_env({{"HOME", "/h"},
                                                  {"AWS_SHARED_CREDENTIALS_FILE", "~/creds"},
                                                  {"AWS_CONFIG_FILE", "/etc/aws.conf"},
                                                  {"AWS_PROFILE", "dev"}}));
    EXPECT_EQ(o.credentials_file, "/h/creds");
    EXPECT_EQ(o.config_file, "/etc/aws.conf");
    EXPECT_EQ(o.profile, "dev");
}

TEST(AwsProfile, StaticKeysAndPrecedence) {
    auto creds = aws::parse_ini("[default]\naws_access_key_id=A1\naws_secret_access_key=S1\n"
                                "[dev]\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token=T2\n")
                     .value();
    auto config = aws::parse_ini("[default]\naws_access_key_id=C0\naws_secret_access_key=CS0\n"
                                 "[profile dev]\ncredential_process=never-run\n"
                                 "[profile conf-only]\naws_access_key_id=C3\naws_secret_access_key=CS3\n"
                                 "[profile proc]\ncredential_process = my-tool --json\n"
                                 "[profile role]\nrole_arn=arn:aws:iam::1:role/x\nsource_profile=default\n"
                                 "[profile sso]\nsso_session=corp\n"
                                 "[profile bare]\nregion=us-east-1\n")
                      .value();
    auto d = aws::profile_credentials(&creds, &config, "default");
    ASSERT_TRUE(d && d->credentials);
    EXPECT_EQ(d->credentials->access_key_id, "A1");  // the credentials file wins
    EXPECT_EQ(d->credentials->source, "profile:default");

    auto dev = aws::profile_credentials(&creds, &config, "dev");
    ASSERT_TRUE(dev && dev->credentials);
    EXPECT_EQ(dev->credentials->session_token, "T2");
    EXPECT_FALSE(dev->credential_process);

    auto conf = aws::profile_credentials(&creds, &config, "conf-only");
    ASSERT_TRUE(conf && conf->credentials);
    EXPECT_EQ(conf->credentials->access_key_id, "C3");

    auto proc = aws::profile_credentials(&creds, &config, "proc");
    ASSERT_TRUE(proc);
    EXPECT_FALSE(proc->credentials);
    EXPECT_EQ(proc->credential_process, "my-tool --json");

    auto role = aws::profile_credentials(&creds, &config, "role");
    ASSERT_FALSE(role);
    EXPECT_TRUE(role.error().is(credentials_errc::unsupported));
    auto sso = aws::profile_credentials(&creds, &config, "sso");
    ASSERT_FALSE(sso);
    EXPECT_TRUE(sso.error().is(credentials_errc::unsupported));

    for (const char* p : {"bare", "missing"}) {
        auto r = aws::profile_credentials(&creds, &config, p);
        ASSERT_FALSE(r) << p;
        EXPECT_TRUE(r.error().is(credentials_errc::not_found)) << p;
    }
    EXPECT_TRUE(aws::profile_credentials(nullptr, nullptr, "default").error().is(credentials_errc::not_found));
    EXPECT_TRUE(aws::profile_credentials(nullptr, &config, "default").has_value());
}

TEST(AwsProfile, HalfKeysAreAnError) {
    auto creds = aws::parse_ini(std::string("[default]\naws_secret_access_key=") + secret + "\n").value();
    auto r = aws::profile_credentials(&creds, nullptr, "default");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(credentials_errc::incomplete));
    expect_no_secrets(r.error().message);
}

// ---- credential_process ------------------------------------------------------------------

TEST(AwsCredentialProcess, ParsesOutput) {
    auto c = aws::parse_credential_process_output(
        R"({"Version":1,"AccessKeyId":"AKID","SecretAccessKey":"S","SessionToken":"T","Expiration":"2030-01-02T03:04:05Z"})");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->access_key_id, "AKID");
    EXPECT_EQ(c->session_token, "T");
    ASSERT_TRUE(c->expiration);
    EXPECT_EQ(*c->expiration, sys_days{2030y / 1 / 2} + 3h + 4min + 5s);

    auto no_exp = aws::parse_credential_process_output(R"({"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"})");
    ASSERT_TRUE(no_exp);
    EXPECT_FALSE(no_exp->expiration);
    EXPECT_TRUE(no_exp->session_token.empty());
}

TEST(AwsCredentialProcess, RejectsBadOutputWithoutEchoingIt) {
    std::string s = secret;
    struct {
        std::string json;
        credentials_errc want;
    } bad[] = {
        {R"({"Version":2,"AccessKeyId":"A","SecretAccessKey":")" + s + "\"}", credentials_errc::unsupported_version},
        {R"({"Version":"1","AccessKeyId":"A","SecretAccessKey":")" + s + "\"}", credentials_errc::unsupported_version},
        {R"({"AccessKeyId":"A","SecretAccessKey":")" + s + "\"}", credentials_errc::malformed},
        {R"({"Version":1,"SecretAccessKey":")" + s + "\"}", credentials_errc::incomplete},
        {R"({"Version":1,"AccessKeyId":"A","SecretAccessKey":")" + s + R"(","Expiration":"tomorrow"})",
         credentials_errc::malformed},
        {R"({"Version":1,"AccessKeyId":"A","SecretAccessKey":")" + s + R"(","Expiration":5})", credentials_errc::malformed},
        {R"({"Version":1,"AccessKeyId":"A","SecretAccessKey":")" + s, credentials_errc::malformed},  // truncated
        {"[1,2,3]", credentials_errc::malformed},
        {"", credentials_errc::malformed},
    };
    for (auto& b : bad) {
        auto r = aws::parse_credential_process_output(b.json);
        ASSERT_FALSE(r) << b.json;
        EXPECT_EQ(r.error().code, aws::make_error_code(b.want)) << b.json << " -> " << r.error().message;
        expect_no_secrets(r.error().message);
    }
}

TEST(AwsCredentialProcess, RunsTheCommandThroughTheShell) {
    auto c = aws::run_credential_process(
        R"(printf '%s' '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "SPROC"}')");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->access_key_id, "AKIDPROC");
    EXPECT_EQ(c->source, "credential_process");
}

TEST(AwsCredentialProcess, ReportsFailuresWithoutOutput) {
    auto exit3 = aws::run_credential_process(std::string("echo ") + secret + "; exit 3");
    ASSERT_FALSE(exit3);
    EXPECT_TRUE(exit3.error().is(credentials_errc::process_failed));
    EXPECT_NE(exit3.error().message.find("status 3"), std::string::npos);
    expect_no_secrets(exit3.error().message);

    auto silent = aws::run_credential_process("true");
    ASSERT_FALSE(silent);
    EXPECT_TRUE(silent.error().is(credentials_errc::process_failed));

    auto garbage = aws::run_credential_process(std::string("echo '{\"Version\":1,\"SecretAccessKey\":\"") + secret + "\"'");
    ASSERT_FALSE(garbage);
    EXPECT_TRUE(garbage.error().is(credentials_errc::malformed));
    expect_no_secrets(garbage.error().message);

    auto huge = aws::run_credential_process("head -c 200000 /dev/zero");
    ASSERT_FALSE(huge);
    EXPECT_TRUE(huge.error().is(credentials_errc::process_failed));

    auto killed = aws::run_credential_process("kill -9 $$");
    ASSERT_FALSE(killed);
    EXPECT_TRUE(killed.error().is(credentials_errc::process_failed));
    EXPECT_NE(killed.error().message.find("signal 9"), std::string::npos);

    auto missing = aws::run_credential_process("/nonexistent/credential-helper");
    ASSERT_FALSE(missing);
    EXPECT_TRUE(missing.error().is(credentials_errc::process_failed));
}

// Whether `pid` has ended: gone, or a zombie not reaped yet.
bool process_ended(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

TEST(AwsCredentialProcess, AHangingCommandIsKilledAtTheTimeout) {
    using namespace std::chrono_literals;
    // Silent and still running: the read would block forever.
    auto hang = aws::run_credential_process("sleep 30", 300ms);
    ASSERT_FALSE(hang);
    EXPECT_TRUE(hang.error().is(credentials_errc::process_failed));
    EXPECT_NE(hang.error().message.find("no answer within 300 ms"), std::string::npos) << hang.error().message;

    // Stdout closed at once, process still running: the wait for its exit is bounded too.
    auto closed = aws::run_credential_process("exec >&-; sleep 30", 300ms);
    ASSERT_FALSE(closed);
    EXPECT_NE(closed.error().message.find("no answer within"), std::string::npos) << closed.error().message;

    // What the shell started dies with it (one process group).
    const auto pid_file = std::filesystem::temp_directory_path() /
                          ("bpfaas-credential-process-" + std::to_string(::getpid()) + ".pid");
    auto group = aws::run_credential_process("sleep 30 & echo $! > '" + pid_file.string() + "'; wait",
                                             1500ms);  // time for sh to write the file, even on a loaded machine
    ASSERT_FALSE(group);
    std::ifstream in(pid_file);
    pid_t child = 0;
    ASSERT_TRUE(in >> child);
    bool ended = false;
    for (int i = 0; i < 100 && !ended; ++i) {  // SIGKILL is delivered asynchronously
        ended = process_ended(child);
        if (!ended) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(ended) << "the shell's child " << child << " outlived the timeout";
    std::filesystem::remove(pid_file);
}

// ---- container credentials ------------------------------------------------------------

TEST(AwsContainer, RelativeUriGoesToTheEcsHost) {
    auto r = aws::container_credentials_request(aws::map_env(
        {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"},
         {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/ignored"}}));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->method, "GET");
    EXPECT_EQ(r->url, "http://169.254.170.2/v2/credentials/abc");
    EXPECT_EQ(blueprint::faas::http::find_header(r->headers, "Authorization"), "");
}

TEST(AwsContainer, FullUriRulesAndToken) {
    auto https = aws::container_credentials_request(aws::map_env(
        {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://creds.example.com/x"}, {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"}}));
    ASSERT_TRUE(https) << https.error().message;
    EXPECT_EQ(https->url, "https://creds.example.com/x");
    EXPECT_EQ(blueprint::faas::http::find_header(https->headers, "Authorization"), "tok");

    for (const char* ok : {"http://127.0.0.1:8080/c", "http://127.1.2.3/c", "http://localhost:1/c", "http://[::1]:9/c",
                           "http://169.254.170.2/c", "http://169.254.170.23/v1/credentials"}) {
        auto r = aws::container_credentials_request(aws::map_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", ok}}));
        EXPECT_TRUE(r) << ok;
    }
    for (const char* bad : {"http://example.com/c", "http://10.0.0.1/c", "http://127.0.0.1.evil.com/c", "ftp://127.0.0.1/c",
                            "not a uri", "http://127.0.0.1/c\r\nX-Injected: 1"}) {
        auto r = aws::container_credentials_request(aws::map_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", bad}}));
        ASSERT_FALSE(r) << bad;
        EXPECT_TRUE(r.error().is(credentials_errc::invalid_uri)) << bad;
    }
    auto rel = aws::container_credentials_request(aws::map_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/x"}}));
    ASSERT_FALSE(rel);
    EXPECT_TRUE(rel.error().is(credentials_errc::invalid_uri));

    auto none = aws::container_credentials_request(aws::map_env({}));
    ASSERT_FALSE(none);
    EXPECT_TRUE(none.error().is(credentials_errc::not_found));
}

TEST(AwsContainer, TokenFileAndInjection) {
    aws::FileReader reader = [](const std::string& path) -> std::optional<std::string> {
        if (path == "/var/run/token") return std::string("file-token\n");
        if (path == "/var/run/evil") return std::string("a\r\nX-Evil: 1");
        return std::nullopt;
    };
    auto base = std::map<std::string, std::string, std::less<>>{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c"},
                                                                {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token"}};
    auto env = base;
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/var/run/token";
    auto r = aws::container_credentials_request(aws::map_env(env), reader);
    ASSERT_TRUE(r);
    EXPECT_EQ(blueprint::faas::http::find_header(r->headers, "Authorization"), "file-token");

    env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/var/run/evil";
    auto evil = aws::container_credentials_request(aws::map_env(env), reader);
    ASSERT_FALSE(evil);
    EXPECT_TRUE(evil.error().is(credentials_errc::malformed));

    env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/missing";
    EXPECT_FALSE(aws::container_credentials_request(aws::map_env(env), reader));

    base["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "x\ny";
    EXPECT_FALSE(aws::container_credentials_request(aws::map_env(base), reader));
}

TEST(AwsContainer, ParsesReplies) {
    auto c = aws::parse_container_credentials(
        200, R"({"AccessKeyId":"ASIA","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-01T00:00:00Z","RoleArn":"r"})");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->session_token, "T");
    EXPECT_TRUE(c->expiration);
    EXPECT_EQ(c->source, "container");

    auto e500 = aws::parse_container_credentials(500, R"({"message":"boom"})");
    ASSERT_FALSE(e500);
    EXPECT_TRUE(e500.error().is(credentials_errc::fetch_failed));
    EXPECT_NE(e500.error().message.find("500"), std::string::npos);

    auto trunc = aws::parse_container_credentials(200, std::string(R"({"AccessKeyId":"ASIA","SecretAccessKey":")") + secret);
    ASSERT_FALSE(trunc);
    EXPECT_TRUE(trunc.error().is(credentials_errc::malformed));
    expect_no_secrets(trunc.error().message);
}

// ---- IMDSv2 ------------------------------------------------------------------------------

TEST(AwsImds, EndpointSelection) {
    EXPECT_EQ(aws::imds_endpoint(aws::map_env({})), "http://169.254.169.254");
    EXPECT_EQ(aws::imds_endpoint(aws::map_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"}})),
              "http://127.0.0.1:9/");
    EXPECT_EQ(aws::imds_endpoint(aws::map_env({{"AWS_EC2_METADATA_DISABLED", "TRUE"}})), std::nullopt);
    EXPECT_EQ(aws::imds_endpoint(aws::map_env({{"AWS_EC2_METADATA_DISABLED", "false"}})), "http://169.254.169.254");
}

TEST(AwsImds, BuildsTheThreeRequests) {
    auto t = aws::imds_token_request("http://169.254.169.254/", seconds(21600));
    EXPECT_EQ(t.method, "PUT");
    EXPECT_EQ(t.url, "http://169.254.169.254/latest/api/token");
    EXPECT_EQ(blueprint::faas::http::find_header(t.headers, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");

    auto l = aws::imds_role_request("http://169.254.169.254", "TOKEN");
    EXPECT_EQ(l.method, "GET");
    EXPECT_EQ(l.url, "http://169.254.169.254/latest/meta-data/iam/security-credentials/");
    EXPECT_EQ(blueprint::faas::http::find_header(l.headers, "X-aws-ec2-metadata-token"), "TOKEN");

    auto c = aws::imds_credentials_request("http://169.254.169.254", "TOKEN", "my role+x");
    EXPECT_EQ(c.url, "http://169.254.169.254/latest/meta-data/iam/security-credentials/my%20role%2Bx");
    EXPECT_EQ(blueprint::faas::http::find_header(c.headers, "X-aws-ec2-metadata-token"), "TOKEN");
}

TEST(AwsImds, ParsesTokenRoleAndCredentials) {
    EXPECT_EQ(aws::parse_imds_token(200, "AQAEAtoken==\n").value(), "AQAEAtoken==");
    EXPECT_TRUE(aws::parse_imds_token(403, "").error().is(credentials_errc::fetch_failed));
    EXPECT_TRUE(aws::parse_imds_token(200, "  ").error().is(credentials_errc::malformed));

    EXPECT_EQ(aws::parse_imds_role(200, "ec2-role\nother\n").value(), "ec2-role");
    EXPECT_TRUE(aws::parse_imds_role(404, "").error().is(credentials_errc::not_found));
    EXPECT_TRUE(aws::parse_imds_role(200, "\n").error().is(credentials_errc::not_found));
    EXPECT_TRUE(aws::parse_imds_role(500, "x").error().is(credentials_errc::fetch_failed));
    EXPECT_TRUE(aws::parse_imds_role(200, "a\x01" "b").error().is(credentials_errc::malformed));

    auto c = aws::parse_imds_credentials(200, R"({"Code":"Success","LastUpdated":"2030-01-01T00:00:00Z","Type":"AWS-HMAC",
        "AccessKeyId":"ASIA","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-01T06:00:00Z"})");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->access_key_id, "ASIA");
    EXPECT_EQ(c->session_token, "T");
    EXPECT_EQ(c->source, "imds");
    EXPECT_EQ(*c->expiration, sys_days{2030y / 1 / 1} + 6h);

    auto failed = aws::parse_imds_credentials(200, R"({"Code":"AssumeRoleUnauthorizedAccess","AccessKeyId":"","SecretAccessKey":""})");
    ASSERT_FALSE(failed);
    EXPECT_TRUE(failed.error().is(credentials_errc::fetch_failed));
    EXPECT_NE(failed.error().message.find("AssumeRoleUnauthorizedAccess"), std::string::npos);

    EXPECT_TRUE(aws::parse_imds_credentials(401, "").error().is(credentials_errc::fetch_failed));
    EXPECT_TRUE(aws::parse_imds_credentials(200, "<html>").error().is(credentials_errc::malformed));
}

// ---- CredentialsProvider against in-test servers on 127.0.0.1:0 -------------------------

namespace net = boost::asio;
using blueprint::test::HttpTestServer;

// A temp folder for shared files, removed afterwards.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "bp-aws-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
        return (path / name).string();
    }
};

blueprint::faas::http::HttpClient test_client() {
    blueprint::faas::http::ClientOptions o;
    o.use_env_proxy = false;
    o.connect_timeout = 5s;
    o.request_timeout = 10s;
    o.retry.initial_backoff = 1ms;
    o.retry.max_backoff = 5ms;
    return blueprint::faas::http::HttpClient(o);
}

std::string iso(Clock::time_point t) {
    // amz_date is compact ISO 8601; the readers want the extended form.
    auto d = std::chrono::floor<std::chrono::days>(t);
    std::chrono::year_month_day ymd{d};
    std::chrono::hh_mm_ss hms{std::chrono::floor<seconds>(t) - d};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                  hms.minutes().count(), static_cast<long>(hms.seconds().count()));
    return buf;
}

// Every test gets an environment that points the shared files at nothing.
std::map<std::string, std::string, std::less<>> isolated_env(const TempDir& dir) {
    return {{"HOME", dir.path.string()},
            {"AWS_SHARED_CREDENTIALS_FILE", (dir.path / "no-credentials").string()},
            {"AWS_CONFIG_FILE", (dir.path / "no-config").string()},
            {"AWS_EC2_METADATA_DISABLED", "true"}};
}

class CredentialsProviderTest : public blueprint::test::IoContextTest {
protected:
    TempDir dir;
    Clock::time_point now = sys_days{2030y / 1 / 1} + 12h;
    std::function<Clock::time_point()> fake_clock() {
        return [this] { return now; };
    }
};

TEST_F(CredentialsProviderTest, ExplicitThenEnvironmentThenProfile) {
    aws::CredentialsProviderOptions o;
    o.explicit_credentials = full();
    o.env = aws::map_env(isolated_env(dir));
    auto got = run(aws::CredentialsProvider(test_client(), o).get());
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->source, "test");

    auto env = isolated_env(dir);
    env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
    env["AWS_SECRET_ACCESS_KEY"] = "SENV";
    aws::CredentialsProviderOptions e;
    e.env = aws::map_env(env);
    got = run(aws::CredentialsProvider(test_client(), e).get());
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->access_key_id, "AKIDENV");

    env = isolated_env(dir);
    env["AWS_SHARED_CREDENTIALS_FILE"] = dir.write("credentials", "[dev]\naws_access_key_id = AKIDFILE\naws_secret_access_key = SFILE\n");
    env["AWS_CONFIG_FILE"] = dir.write("config",
        "[profile proc]\ncredential_process = printf '{\"Version\":1,\"AccessKeyId\":\"AKIDPROC\",\"SecretAccessKey\":\"S\"}'\n");
    env["AWS_PROFILE"] = "dev";
    aws::CredentialsProviderOptions f;
    f.env = aws::map_env(env);
    got = run(aws::CredentialsProvider(test_client(), f).get());
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->access_key_id, "AKIDFILE");

    f.profile = "proc";  // overrides AWS_PROFILE
    got = run(aws::CredentialsProvider(test_client(), f).get());
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->access_key_id, "AKIDPROC");
    EXPECT_EQ(got->source, "profile:proc:credential_process");
}

TEST_F(CredentialsProviderTest, NothingAnywhereIsUnauthorized) {
    aws::CredentialsProviderOptions o;
    o.env = aws::map_env(isolated_env(dir));
    auto got = run(aws::CredentialsProvider(test_client(), o).get());
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, blueprint::faas::faas_errc::unauthorized);

    auto env = isolated_env(dir);
    env["AWS_CONFIG_FILE"] = dir.write("bad-config", std::string("[default]\n") + secret + "\n");
    o.env = aws::map_env(env);
    got = run(aws::CredentialsProvider(test_client(), o).get());
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, blueprint::faas::faas_errc::unauthorized);
    expect_no_secrets(got.error().message);
}

TEST_F(CredentialsProviderTest, ContainerCredentialsAreCachedAndRefreshed) {
    std::atomic<int> hits{0};
    std::string seen_auth;
    HttpTestServer server(ioc, HttpTestServer::respond([&](const HttpTestServer::Request& req) {
        ++hits;
        seen_auth = std::string(req[boost::beast::http::field::authorization]);
        auto body = std::string(R"({"AccessKeyId":"ASIA)") + std::to_string(hits.load()) + R"(","SecretAccessKey":")" + secret +
                    R"(","Token":")" + token + R"(","Expiration":")" + iso(now + 1h) + "\"}";
        return HttpTestServer::make_response(200, body);
    }));
    auto env = isolated_env(dir);
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url("/v2/credentials");
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer abc";
    aws::CredentialsProviderOptions o;
    o.env = aws::map_env(env);
    o.now = fake_clock();
    aws::CredentialsProvider provider(test_client(), o);
    run([&]() -> net::awaitable<void> {
        auto a = co_await provider.get();
        EXPECT_TRUE(a) << (a ? "" : a.error().message);
        if (a) {
            EXPECT_EQ(a->access_key_id, "ASIA1");
        }
        EXPECT_EQ(seen_auth, "Bearer abc");
        auto b = co_await provider.get();  // cached
        EXPECT_EQ(hits.load(), 1);
        if (b) {
            EXPECT_EQ(b->access_key_id, "ASIA1");
        }

        now += 56min;  // within 5 minutes of expiry: refresh
        auto c = co_await provider.get();
        EXPECT_EQ(hits.load(), 2);
        if (c) {
            EXPECT_EQ(c->access_key_id, "ASIA2");
        }

        provider.invalidate();
        auto d = co_await provider.get();
        EXPECT_EQ(hits.load(), 3);
        if (d) {
            EXPECT_EQ(d->access_key_id, "ASIA3");
        }
        server.stop();
    }());
}

TEST_F(CredentialsProviderTest, ContainerFailuresNeverLeakSecrets) {
    struct Case {
        unsigned status;
        std::string body;
        blueprint::faas::faas_errc want;
    };
    std::vector<Case> cases{
        {500, std::string("{\"SecretAccessKey\":\"") + secret + "\"}", blueprint::faas::faas_errc::infrastructure},
        {200, std::string("{\"SecretAccessKey\":\"") + secret + "\",\"Token\":\"" + token + "\"}",
         blueprint::faas::faas_errc::unauthorized},
        {200, std::string("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"") + secret, blueprint::faas::faas_errc::unauthorized},
        // Already expired.
        {200, std::string("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"") + secret + "\",\"Expiration\":\"2001-01-01T00:00:00Z\"}",
         blueprint::faas::faas_errc::unauthorized},
    };
    for (auto& c : cases) {
        HttpTestServer server(ioc, HttpTestServer::respond([&](const HttpTestServer::Request&) {
            return HttpTestServer::make_response(c.status, c.body);
        }));
        auto env = isolated_env(dir);
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url("/creds");
        aws::CredentialsProviderOptions o;
        o.env = aws::map_env(env);
        o.now = fake_clock();
        aws::CredentialsProvider provider(test_client(), o);
        run([&]() -> net::awaitable<void> {
            auto r = co_await provider.get();
            EXPECT_FALSE(r) << c.body;
            if (!r) {
                EXPECT_EQ(r.error().kind, c.want) << r.error().message;
                expect_no_secrets(r.error().message);
                expect_no_secrets(r.error().to_string());
            }
            server.stop();
        }());
    }
}

TEST_F(CredentialsProviderTest, DeadContainerEndpointIsInfrastructure) {
    HttpTestServer server(ioc, [](HttpTestServer::Session& s) -> net::awaitable<void> {
        co_await s.read_request();
        s.close();  // the peer dies mid-exchange
    });
    auto env = isolated_env(dir);
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url("/creds");
    aws::CredentialsProviderOptions o;
    o.env = aws::map_env(env);
    aws::CredentialsProvider provider(test_client(), o);
    run([&]() -> net::awaitable<void> {
        auto r = co_await provider.get();
        EXPECT_FALSE(r);
        if (!r) {
            EXPECT_EQ(r.error().kind, blueprint::faas::faas_errc::infrastructure) << r.error().message;
        }
        server.stop();
    }());
}

TEST_F(CredentialsProviderTest, ImdsV2Sequence) {
    std::vector<std::string> log;
    HttpTestServer server(ioc, HttpTestServer::respond([&](const HttpTestServer::Request& req) {
        std::string target(req.target());
        log.push_back(std::string(req.method_string()) + " " + target);
        if (req.method() == boost::beast::http::verb::put && target == "/latest/api/token") {
            if (req["X-aws-ec2-metadata-token-ttl-seconds"].empty()) return HttpTestServer::make_response(400);
            return HttpTestServer::make_response(200, "SESSION-TOKEN");
        }
        if (req["X-aws-ec2-metadata-token"] != "SESSION-TOKEN") return HttpTestServer::make_response(401);
        if (target == "/latest/meta-data/iam/security-credentials/") return HttpTestServer::make_response(200, "ec2-role\n");
        if (target == "/latest/meta-data/iam/security-credentials/ec2-role")
            return HttpTestServer::make_response(
                200, std::string(R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS","SecretAccessKey":"S",)") +
                         R"("Token":"T","Expiration":")" + iso(now + 6h) + "\"}");
        return HttpTestServer::make_response(404);
    }));
    auto env = isolated_env(dir);
    env.erase("AWS_EC2_METADATA_DISABLED");
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = server.url("/");
    aws::CredentialsProviderOptions o;
    o.env = aws::map_env(env);
    o.use_container = false;
    o.now = fake_clock();
    aws::CredentialsProvider provider(test_client(), o);
    run([&]() -> net::awaitable<void> {
        auto r = co_await provider.get();
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        if (r) {
            EXPECT_EQ(r->access_key_id, "ASIAIMDS");
            EXPECT_EQ(r->source, "imds");
        }
        server.stop();
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/",
                                             "GET /latest/meta-data/iam/security-credentials/ec2-role"}));
}

TEST_F(CredentialsProviderTest, ImdsWithoutRoleIsUnauthorized) {
    HttpTestServer server(ioc, HttpTestServer::respond([&](const HttpTestServer::Request& req) {
        if (req.method() == boost::beast::http::verb::put) return HttpTestServer::make_response(200, "TOK");
        return HttpTestServer::make_response(404);
    }));
    auto env = isolated_env(dir);
    env.erase("AWS_EC2_METADATA_DISABLED");
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = server.url("/");
    aws::CredentialsProviderOptions o;
    o.env = aws::map_env(env);
    o.use_container = false;
    aws::CredentialsProvider provider(test_client(), o);
    run([&]() -> net::awaitable<void> {
        auto r = co_await provider.get();
        EXPECT_FALSE(r);
        if (!r) {
            EXPECT_EQ(r.error().kind, blueprint::faas::faas_errc::unauthorized);
        }
        server.stop();
    }());
}

}  // namespace
