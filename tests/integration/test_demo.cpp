// `bpfaas demo`, the README's first quick-start command, run for real in both
// modes. The checks tie every delegated result to the platform: the table
// rows must name the URL the demo's local platform reported, each delegated
// call's printed value must be the right square, and the platform's own
// /metrics (printed by the demo) must count every invocation. The failure
// tests make sure the exit code can say no.
#include "common/process.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

namespace {

using blueprint::test::ChildProcess;
using blueprint::test::ProcessOptions;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string bpfaas_path() { return blueprint::test::build_path("apps/bpfaas/bpfaas"); }
std::string square_path() { return blueprint::test::build_path("examples/square"); }
std::string fixture_path() { return blueprint::test::build_path("tests/test_function"); }

ChildProcess::Outcome run_demo(std::vector<std::string> args) {
    for (const auto& p : {bpfaas_path(), square_path()})
        if (!fs::exists(p)) throw std::runtime_error(p + " is not built");
    ProcessOptions o;
    o.unset_env = {"PORT", "AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT"};
    args.insert(args.begin(), "demo");
    auto child = ChildProcess::spawn(bpfaas_path(), args, o);
    // Generous: the demo takes about a second; a hang must still end the test.
    auto out = child.communicate("", 120s);
    if (!out) throw std::runtime_error("bpfaas demo did not finish within 120 s");
    return *out;
}

bool has_line(const std::string& text, const std::string& pattern) {
    return std::regex_search(text, std::regex(pattern, std::regex::multiline));
}

std::string quote(const std::string& s) {
    static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
    return std::regex_replace(s, special, R"(\$&)");
}

TEST(Demo, PlatformModeDelegatesThroughBothApisOfTheLocalPlatform) {
    auto out = run_demo({});
    const auto& text = out.out;
    ASSERT_TRUE(out.status.ok()) << out.status.to_string() << "\nstdout:\n" << text << "\nstderr:\n" << out.err;
    EXPECT_EQ(text.find("UNEXPECTED"), std::string::npos) << text;

    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(local platform listening at (http://127\.0\.0\.1:(\d+)))")))
        << text;
    const std::string url = m[1];
    EXPECT_NE(m[2], "0");
    const std::string u = quote(url);

    // Progress comes before the results, in order.
    const auto starting = text.find("starting local platform");
    const auto deploy1 = text.find("deploying job 1 via the custom platform API (PUT " + url + "/api/functions/1)");
    const auto deploy2 = text.find("deploying job 2 via the Lambda API");
    const auto active = text.find("waiting until Active");
    const auto results = text.find("results:");
    ASSERT_NE(starting, std::string::npos) << text;
    ASSERT_NE(deploy1, std::string::npos) << text;
    ASSERT_NE(deploy2, std::string::npos) << text;
    ASSERT_NE(active, std::string::npos) << text;
    ASSERT_NE(results, std::string::npos) << text;
    EXPECT_LT(starting, deploy1);
    EXPECT_LT(deploy1, deploy2);
    EXPECT_LT(deploy2, results);
    EXPECT_TRUE(has_line(text, R"(warm-up: job 1 via the custom platform API: square\(3\) = 9, cold start: yes)")) << text;
    EXPECT_TRUE(has_line(text, R"(warm-up: job 2 via the Lambda API: square\(3\) = 9, cold start: yes)")) << text;

    // Every call's value, on the API it went through (4 calls per job by default).
    for (unsigned i = 1; i <= 4; ++i) {
        for (unsigned job = 0; job <= 2; ++job) {
            const unsigned n = i * 10 + job;
            const std::string where = job == 0 ? "local router" : job == 1 ? "custom platform API " + u : "Lambda API " + u;
            EXPECT_TRUE(has_line(text, "job " + std::to_string(job) + R"( +call \d+ +square\()" + std::to_string(n) +
                                           R"(\) = )" + std::to_string(n * n) + R"( +\[)" + where + ", "))
                << "job " << job << " square(" << n << ")\n" << text;
        }
    }
    // The bad input reached each function and came back as its error.
    EXPECT_TRUE(has_line(text, R"(job 1 +call \d+ +square\(<bad input>\): error: square: expected a big-endian u64.*\[custom platform API )" + u))
        << text;
    EXPECT_TRUE(has_line(text, R"(job 2 +call \d+ +square\(<bad input>\): error: square: expected a big-endian u64.*\[Lambda API )" + u))
        << text;

    // The table: job, where, calls, ok, errors.
    EXPECT_TRUE(has_line(text, R"(^ +0 +local router +4 +4 +0 +[0-9.]+ +[0-9.]+$)")) << text;
    EXPECT_TRUE(has_line(text, R"(^ +1 +custom platform API )" + u + R"( +5 +4 +1 +[0-9.]+ +[0-9.]+$)")) << text;
    EXPECT_TRUE(has_line(text, R"(^ +2 +Lambda API )" + u + R"( +5 +4 +1 +[0-9.]+ +[0-9.]+$)")) << text;
    EXPECT_TRUE(has_line(text, R"(14 calls, 14 results \(2 errors, all delivered\), 10 delegated; 0 unexpected)")) << text;

    // The platform's own count: 4 calls + 1 bad input + 1 warm-up per function.
    EXPECT_TRUE(has_line(text, R"(function 1 +invocations 6, errors 1, cold starts [1-9])")) << text;
    EXPECT_TRUE(has_line(text, R"(function bpfaas-demo-job-2 +invocations 6, errors 1, cold starts [1-9])")) << text;

    // The temporary data dir is gone.
    ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(data dir (/[^)]+)\))"))) << text;
    EXPECT_FALSE(fs::exists(m[1].str())) << m[1];
}

TEST(Demo, PlatformModeCallsOptionScalesThePlatformsCount) {
    auto out = run_demo({"--calls", "2"});
    ASSERT_TRUE(out.status.ok()) << out.status.to_string() << "\n" << out.out << "\n" << out.err;
    EXPECT_TRUE(has_line(out.out, R"(function 1 +invocations 4,)")) << out.out;
    EXPECT_TRUE(has_line(out.out, R"(function bpfaas-demo-job-2 +invocations 4,)")) << out.out;
    EXPECT_TRUE(has_line(out.out, R"(8 calls, 8 results \(2 errors, all delivered\), 6 delegated; 0 unexpected)")) << out.out;
}

TEST(Demo, HttpModeDelegatesToAFunctionServer) {
    auto out = run_demo({"--mode", "http"});
    const auto& text = out.out;
    ASSERT_TRUE(out.status.ok()) << out.status.to_string() << "\n" << text << "\n" << out.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(function server listening at (http://127\.0\.0\.1:\d+))"))) << text;
    const std::string u = quote(m[1].str());
    for (unsigned i = 1; i <= 4; ++i) {
        const unsigned n = i * 10 + 1;
        EXPECT_TRUE(has_line(text, R"(job 1 +call \d+ +square\()" + std::to_string(n) + R"(\) = )" +
                                       std::to_string(n * n) + R"( +\[HTTP function server )" + u + ", "))
            << text;
    }
    EXPECT_TRUE(has_line(text, R"(^ +0 +local router +4 +4 +0 )")) << text;
    EXPECT_TRUE(has_line(text, R"(^ +1 +HTTP function server )" + u + R"( +5 +4 +1 )")) << text;
    EXPECT_EQ(text.find("local platform"), std::string::npos) << "http mode must not start the platform\n" << text;
}

// A binary that is no function at all: deployed, but the warm-up fails, so
// the demo must not claim success.
TEST(Demo, PlatformModeFailsWhenTheFunctionDoesNotServe) {
    auto out = run_demo({"--function", "/bin/true"});
    EXPECT_TRUE(out.status.exited) << out.status.to_string();
    EXPECT_NE(out.status.code, 0) << out.out;
    EXPECT_EQ(out.out.find("results:"), std::string::npos) << out.out;
}

// A function that answers, but not with squares (the fixture's job 1 always
// fails): every delegated call is flagged and the exit code says so.
TEST(Demo, HttpModeFailsWhenResultsAreWrong) {
    ASSERT_TRUE(fs::exists(fixture_path())) << fixture_path() << " is not built";
    auto out = run_demo({"--mode", "http", "--function", fixture_path()});
    EXPECT_TRUE(out.status.exited) << out.status.to_string();
    EXPECT_NE(out.status.code, 0) << out.out;
    EXPECT_NE(out.out.find("UNEXPECTED"), std::string::npos) << out.out;
    EXPECT_TRUE(has_line(out.out, R"(5 unexpected)")) << out.out;
}

TEST(Demo, RejectsAnUnknownMode) {
    auto out = run_demo({"--mode", "nope"});
    EXPECT_TRUE(out.status.exited);
    EXPECT_NE(out.status.code, 0);
}

}  // namespace
