// The example blueprint (examples/http_faas_blueprint.cpp) runs against the
// real example function server and prints one JSON line per result.
#include "common/process.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

namespace {

using namespace std::chrono_literals;
using blueprint::test::ChildProcess;
using blueprint::test::ProcessOptions;
using blueprint::test::build_path;

std::uint64_t be_number(const boost::json::array& bytes) {
    std::uint64_t v = 0;
    for (const auto& b : bytes) v = (v << 8) | static_cast<std::uint64_t>(b.as_int64());
    return v;
}

TEST(Examples, HttpFaasBlueprintMixesLocalAndDelegatedJobs) {
    ProcessOptions server_options;
    server_options.unset_env = {"PORT", "AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT"};
    auto server = ChildProcess::spawn(build_path("examples/square"), {"--port", "0"}, server_options);
    auto line = server.wait_for_stderr("listening on", 10s);
    ASSERT_TRUE(line) << "the square function did not start";
    auto url = "http://" + line->substr(line->find("listening on ") + 13);

    auto blueprint = ChildProcess::spawn(build_path("examples/http_faas_blueprint"), {url});
    auto outcome = blueprint.communicate("", 60s);
    ASSERT_TRUE(outcome) << "the example did not finish";
    ASSERT_TRUE(outcome->status.ok()) << outcome->status.to_string() << "\n" << outcome->err;

    // 3 calls of each job; each result carries its call id, and the values
    // prove where it ran: the echo locally, the squares in the function.
    std::map<std::string, int> per_job;
    std::istringstream lines(outcome->out);
    std::string json;
    while (std::getline(lines, json)) {
        auto doc = boost::json::parse(json).as_object();
        ASSERT_TRUE(doc.at("ok").as_bool()) << json;
        auto job = std::string(doc.at("job_id").as_string());
        auto n = be_number(doc.at("metadata").as_object().at("X-TANGLE-CALL-ID").as_array());
        auto result = doc.at("result").as_array();
        if (job == "0") {
            std::string text;
            for (const auto& b : result) text.push_back(static_cast<char>(b.as_int64()));
            EXPECT_EQ(text, "hello " + std::to_string(n));
        } else if (job == "1") {
            EXPECT_EQ(be_number(result), n * n) << json;
        } else if (job == "2") {
            EXPECT_EQ(be_number(result), n * 100 * n * 100) << json;
        } else {
            ADD_FAILURE() << "unexpected job in " << json;
        }
        ++per_job[job];
    }
    EXPECT_EQ(per_job, (std::map<std::string, int>{{"0", 3}, {"1", 3}, {"2", 3}}));
    EXPECT_NE(outcome->err.find("9 calls, 9 results, 0 errors, 6 delegated"), std::string::npos) << outcome->err;
}

}  // namespace
