// The real AWS CLI (Debian's awscli) against the real `bpfaas local`: every
// Lambda call the executor relies on, as the CLI signs, sends and parses it.
#include "integration/local_platform_fixture.hpp"

#include <blueprint/faas/wire.hpp>

#include <boost/json.hpp>

#include <unistd.h>

namespace {
using namespace blueprint::test::local;
namespace json = boost::json;
namespace wire = blueprint::faas::wire;
using namespace std::chrono_literals;

const char* aws_path() {
    // Debian's awscli; a pyenv shim in PATH may be another major version.
    return ::access("/usr/bin/aws", X_OK) == 0 ? "/usr/bin/aws" : nullptr;
}

struct CliResult {
    int code = -1;
    std::string out, err;
    json::value json() const {
        boost::system::error_code ec;
        auto v = json::parse(out, ec);
        EXPECT_FALSE(ec) << "not JSON: " << out << "\nstderr: " << err;
        return ec ? json::value() : v;
    }
};

class AwsCli : public ::testing::Test {
protected:
    void SetUp() override {
        // Never skipped: the real AWS CLI is this test's whole point (scripts/setup-debian.sh installs it).
        ASSERT_TRUE(aws_path()) << "/usr/bin/aws (Debian awscli) is not installed; run scripts/setup-debian.sh";
        zip_path = dir.path / "fn.zip";
        zip = fixture_zip();
        write_file(zip_path, zip);
        std::filesystem::create_directories(dir.path / "home");
    }

    CliResult aws(unsigned short port, std::vector<std::string> args, std::string secret = "secret") {
        std::vector<std::string> full = {"--endpoint-url", "http://127.0.0.1:" + std::to_string(port), "--region",
                                         "us-east-1", "--output", "json"};
        full.insert(full.end(), args.begin(), args.end());
        blueprint::test::ProcessOptions o;
        o.clear_env = true;
        o.cwd = dir.path.string();
        o.env = {{"PATH", "/usr/bin:/bin"},
                 {"HOME", (dir.path / "home").string()},
                 {"LANG", "C.UTF-8"},
                 {"AWS_ACCESS_KEY_ID", "AKIDTEST"},
                 {"AWS_SECRET_ACCESS_KEY", secret},
                 {"AWS_EC2_METADATA_DISABLED", "true"},
                 {"AWS_PAGER", ""},
                 {"AWS_MAX_ATTEMPTS", "1"}};
        auto child = blueprint::test::ChildProcess::spawn(aws_path(), full, o);
        auto outcome = child.communicate("", 120s);
        CliResult r;
        if (!outcome) {
            ADD_FAILURE() << "aws did not finish: " << full.back();
            return r;
        }
        r.code = outcome->status.exited ? outcome->status.code : 128 + outcome->status.signal;
        r.out = std::move(outcome->out);
        r.err = std::move(outcome->err);
        return r;
    }

    std::vector<std::string> create_args(const std::string& name) {
        return {"lambda", "create-function", "--function-name", name, "--runtime", "provided.al2023", "--role",
                "arn:aws:iam::123456789012:role/x", "--handler", "bootstrap", "--zip-file", "fileb://" + zip_path.string()};
    }

    std::string read(const std::string& file) {
        std::ifstream in(dir.path / file, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    TempDir dir;
    std::filesystem::path zip_path;
    std::string zip;
};

TEST_F(AwsCli, FunctionLifecycle) {
    PlatformProcess p(dir.path / "data");
    const auto port = p.port();

    auto created = aws(port, create_args("f"));
    ASSERT_EQ(created.code, 0) << created.err;
    auto c = created.json().as_object();
    EXPECT_EQ(c.at("FunctionName"), "f");
    EXPECT_EQ(c.at("FunctionArn"), "arn:aws:lambda:us-east-1:000000000000:function:f");
    EXPECT_EQ(c.at("Runtime"), "provided.al2023");
    EXPECT_EQ(c.at("Handler"), "bootstrap");
    EXPECT_EQ(c.at("CodeSize"), static_cast<std::int64_t>(zip.size()));
    EXPECT_EQ(c.at("CodeSha256").as_string().size(), 44u);  // base64 of 32 bytes
    EXPECT_EQ(c.at("State"), "Pending");
    EXPECT_EQ(c.at("Version"), "$LATEST");
    EXPECT_EQ(c.at("MemorySize"), 128);
    EXPECT_EQ(c.at("Timeout"), 3);

    auto waited = aws(port, {"lambda", "wait", "function-active-v2", "--function-name", "f"});
    ASSERT_EQ(waited.code, 0) << waited.err;

    auto inv = aws(port, {"lambda", "invoke", "--function-name", "f", "--cli-binary-format", "raw-in-base64-out",
                          "--payload", R"({"job_id":0,"args":[104,105]})", "--log-type", "Tail", "out.json"});
    ASSERT_EQ(inv.code, 0) << inv.err;
    auto meta = inv.json().as_object();
    EXPECT_EQ(meta.at("StatusCode"), 200);
    EXPECT_EQ(meta.at("ExecutedVersion"), "$LATEST");
    EXPECT_FALSE(meta.contains("FunctionError"));
    EXPECT_EQ(json::parse(read("out.json")), json::parse(R"({"result":[104,105]})"));
    auto log = wire::base64_decode(meta.at("LogResult").as_string());
    ASSERT_TRUE(log);
    EXPECT_NE(log->find("START RequestId: "), std::string::npos) << *log;
    EXPECT_NE(log->find("REPORT RequestId: "), std::string::npos) << *log;
    EXPECT_NE(log->find("\tInit Duration: "), std::string::npos) << *log;

    auto failed = aws(port, {"lambda", "invoke", "--function-name", "f", "--cli-binary-format", "raw-in-base64-out",
                             "--payload", R"({"job_id":1,"args":[]})", "err.json"});
    ASSERT_EQ(failed.code, 0) << failed.err;
    EXPECT_EQ(failed.json().at("FunctionError"), "Unhandled");
    auto err = json::parse(read("err.json")).as_object();
    EXPECT_EQ(err.at("errorType"), "FixtureError");
    EXPECT_EQ(err.at("errorMessage"), "requested failure");

    auto event = aws(port, {"lambda", "invoke", "--function-name", "f", "--invocation-type", "Event",
                            "--cli-binary-format", "raw-in-base64-out", "--payload", R"({"job_id":0,"args":[]})", "ev.json"});
    ASSERT_EQ(event.code, 0) << event.err;
    EXPECT_EQ(event.json().at("StatusCode"), 202);
    auto dry = aws(port, {"lambda", "invoke", "--function-name", "f", "--invocation-type", "DryRun", "dry.json"});
    ASSERT_EQ(dry.code, 0) << dry.err;
    EXPECT_EQ(dry.json().at("StatusCode"), 204);

    auto got = aws(port, {"lambda", "get-function", "--function-name", "f"});
    ASSERT_EQ(got.code, 0) << got.err;
    auto g = got.json().as_object();
    EXPECT_EQ(g.at("Configuration").at("State"), "Active");
    EXPECT_EQ(g.at("Code").at("RepositoryType"), "S3");
    // Code.Location serves the stored package.
    std::string location(g.at("Code").at("Location").as_string());
    auto path = location.substr(location.find('/', 7));
    EXPECT_EQ(http(port, "GET", path).body, zip);

    auto listed = aws(port, {"lambda", "list-functions"});
    ASSERT_EQ(listed.code, 0) << listed.err;
    auto fns = listed.json().at("Functions").as_array();
    ASSERT_EQ(fns.size(), 1u);
    EXPECT_EQ(fns[0].at("FunctionName"), "f");

    auto updated = aws(port, {"lambda", "update-function-code", "--function-name", "f", "--zip-file",
                              "fileb://" + zip_path.string()});
    ASSERT_EQ(updated.code, 0) << updated.err;
    EXPECT_EQ(updated.json().at("LastUpdateStatus"), "InProgress");
    ASSERT_EQ(aws(port, {"lambda", "wait", "function-updated-v2", "--function-name", "f"}).code, 0);
    auto reconf = aws(port, {"lambda", "update-function-configuration", "--function-name", "f", "--timeout", "10",
                             "--memory-size", "256", "--environment", "Variables={GREETING=hi}"});
    ASSERT_EQ(reconf.code, 0) << reconf.err;
    ASSERT_EQ(aws(port, {"lambda", "wait", "function-updated-v2", "--function-name", "f"}).code, 0);
    auto conf = aws(port, {"lambda", "get-function-configuration", "--function-name", "f"}).json().as_object();
    EXPECT_EQ(conf.at("Timeout"), 10);
    EXPECT_EQ(conf.at("MemorySize"), 256);
    EXPECT_EQ(conf.at("Environment").at("Variables").at("GREETING"), "hi");
    EXPECT_EQ(conf.at("LastUpdateStatus"), "Successful");

    auto put = aws(port, {"lambda", "put-function-concurrency", "--function-name", "f",
                          "--reserved-concurrent-executions", "2"});
    ASSERT_EQ(put.code, 0) << put.err;
    EXPECT_EQ(put.json().at("ReservedConcurrentExecutions"), 2);
    EXPECT_EQ(aws(port, {"lambda", "get-function-concurrency", "--function-name", "f"}).json().at(
                  "ReservedConcurrentExecutions"),
              2);
    EXPECT_EQ(aws(port, {"lambda", "delete-function-concurrency", "--function-name", "f"}).code, 0);

    auto dup = aws(port, create_args("f"));
    EXPECT_EQ(dup.code, 254);
    EXPECT_NE(dup.err.find("ResourceConflictException"), std::string::npos) << dup.err;

    auto missing = aws(port, {"lambda", "get-function", "--function-name", "nope"});
    EXPECT_EQ(missing.code, 254);
    EXPECT_NE(missing.err.find("ResourceNotFoundException"), std::string::npos) << missing.err;
    auto bad = aws(port, {"lambda", "create-function", "--function-name", "g", "--runtime", "provided.al2023", "--role",
                          "arn:aws:iam::123456789012:role/x", "--handler", "bootstrap", "--memory-size", "64",
                          "--zip-file", "fileb://" + zip_path.string()});
    EXPECT_NE(bad.code, 0);

    auto deleted = aws(port, {"lambda", "delete-function", "--function-name", "f"});
    ASSERT_EQ(deleted.code, 0) << deleted.err;
    auto gone = aws(port, {"lambda", "invoke", "--function-name", "f", "gone.json"});
    EXPECT_EQ(gone.code, 254);
    EXPECT_NE(gone.err.find("ResourceNotFoundException"), std::string::npos) << gone.err;
}

TEST_F(AwsCli, SignaturesAreVerifiedWhenConfigured) {
    PlatformProcess p(dir.path / "data", {"--aws-credentials", "AKIDTEST:secret"});
    const auto port = p.port();
    auto ok = aws(port, {"lambda", "list-functions"});
    ASSERT_EQ(ok.code, 0) << ok.err;

    auto wrong = aws(port, {"lambda", "list-functions"}, "not-the-secret");
    EXPECT_EQ(wrong.code, 254);
    EXPECT_NE(wrong.err.find("InvalidSignatureException"), std::string::npos) << wrong.err;
    auto unsigned_req = aws(port, {"--no-sign-request", "lambda", "list-functions"});
    EXPECT_NE(unsigned_req.code, 0);
    EXPECT_NE(unsigned_req.err.find("MissingAuthenticationToken"), std::string::npos) << unsigned_req.err;

    // A signed create and an invoke by full ARN (its ':' are %3A on the wire,
    // signed double-encoded).
    ASSERT_EQ(aws(port, create_args("signed")).code, 0);
    ASSERT_EQ(aws(port, {"lambda", "wait", "function-active-v2", "--function-name", "signed"}).code, 0);
    auto inv = aws(port, {"lambda", "invoke", "--function-name", "arn:aws:lambda:us-east-1:000000000000:function:signed",
                          "--cli-binary-format", "raw-in-base64-out", "--payload", R"({"job_id":0,"args":[1]})", "o.json"});
    ASSERT_EQ(inv.code, 0) << inv.err;
    EXPECT_EQ(json::parse(read("o.json")), json::parse(R"({"result":[1]})"));
    // The custom API is not SigV4-guarded (it has its own bearer key option).
    EXPECT_EQ(http(port, "GET", "/api/functions/signed").status, 200);
}

}  // namespace
