// Lambda-style invocation logs, Prometheus metrics, and the function
// runtime's Runtime API protocol pieces. Pure functions only.
#include "function/lambda_protocol.hpp"
#include "platform/invocation_log.hpp"
#include "platform/metrics.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <csignal>

namespace {
using namespace blueprint::platform;
using namespace std::chrono_literals;
namespace rt = blueprint::function::detail::lambda;

TEST(PlatformLog, ReportLineWarm) {
    ReportFields f{.request_id = "abc", .duration = 12'345us, .memory_size_mb = 256, .max_memory_used_mb = 20};
    EXPECT_EQ(report_line(f),
              "REPORT RequestId: abc\tDuration: 12.35 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
              "Max Memory Used: 20 MB\t\n");
}

TEST(PlatformLog, ReportLineColdHasInitDurationOnly) {
    ReportFields f{.request_id = "abc", .duration = 1'000us, .memory_size_mb = 128, .max_memory_used_mb = 7,
                   .init_duration = 45'670us};
    const auto line = report_line(f);
    EXPECT_EQ(line,
              "REPORT RequestId: abc\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\t"
              "Max Memory Used: 7 MB\tInit Duration: 45.67 ms\t\n");
    f.init_duration.reset();
    EXPECT_EQ(report_line(f).find("Init Duration"), std::string::npos);
}

TEST(PlatformLog, BilledDurationRoundsUp) {
    EXPECT_EQ(billed_ms(0us), 1u);
    EXPECT_EQ(billed_ms(1us), 1u);
    EXPECT_EQ(billed_ms(1000us), 1u);
    EXPECT_EQ(billed_ms(1001us), 2u);
    EXPECT_EQ(billed_ms(-5us), 1u);
    EXPECT_EQ(billed_ms(2'999'999us), 3000u);
}

TEST(PlatformLog, WholeLogAndTail) {
    ReportFields f{.request_id = "r1", .duration = 2ms, .memory_size_mb = 128, .max_memory_used_mb = 1};
    const auto log = invocation_log("init says hi", "line 1\nline 2", f);
    EXPECT_EQ(log.rfind("init says hi\nSTART RequestId: r1 Version: $LATEST\nline 1\nline 2\nEND RequestId: r1\nREPORT", 0), 0u);
    EXPECT_EQ(log.back(), '\n');
    std::string big(10'000, 'x');
    big += "THE END";
    EXPECT_EQ(log_tail(big).size(), 4096u);
    EXPECT_TRUE(log_tail(big).ends_with("THE END"));
    EXPECT_EQ(log_tail("short"), "short");
}

TEST(PlatformLog, Messages) {
    EXPECT_EQ(timeout_message(3000ms), "Task timed out after 3.00 seconds");
    EXPECT_EQ(timeout_message(1500ms), "Task timed out after 1.50 seconds");
    EXPECT_EQ(describe_exit(1), "exit status 1");
    EXPECT_EQ(describe_exit(128 + SIGKILL), "signal: killed");
    EXPECT_EQ(describe_exit(128 + SIGABRT), "signal: aborted");
    auto doc = boost::json::parse(function_error_body("m \"q\"", "T")).as_object();
    EXPECT_EQ(doc.at("errorMessage"), "m \"q\"");
    EXPECT_EQ(doc.at("errorType"), "T");
    EXPECT_TRUE(doc.at("stackTrace").as_array().empty());
}

TEST(PlatformMetrics, ExpositionFormat) {
    Metrics m;
    m.invocation("f\"1", 2ms, false, true, false);
    m.invocation("f\"1", 2s, true, false, true);
    m.throttle("f\"1");
    m.set_instances("f\"1", "idle", 2);
    m.api_request("lambda", 200);
    const auto text = m.render();
    EXPECT_NE(text.find("bpfaas_invocations_total{function=\"f\\\"1\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bpfaas_invocation_errors_total{function=\"f\\\"1\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("bpfaas_cold_starts_total{function=\"f\\\"1\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("bpfaas_timeouts_total{function=\"f\\\"1\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("bpfaas_throttles_total{function=\"f\\\"1\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("bpfaas_instances{function=\"f\\\"1\",state=\"idle\"} 2\n"), std::string::npos);
    // Buckets are cumulative: 2 ms falls in le=0.005 and up, 2 s in le=2.5 and up.
    EXPECT_NE(text.find("le=\"0.001\"} 0\n"), std::string::npos);
    EXPECT_NE(text.find("le=\"0.005\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("le=\"1\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("le=\"2.5\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("le=\"+Inf\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("bpfaas_invocation_duration_seconds_count{function=\"f\\\"1\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("bpfaas_api_requests_total{api=\"lambda\",status=\"200\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE bpfaas_invocation_duration_seconds histogram"), std::string::npos);
    m.forget("f\"1");
    EXPECT_EQ(m.render().find("f\\\"1"), std::string::npos);
}

TEST(LambdaRuntimeProtocol, ParsesTheRuntimeApiVariable) {
    auto ep = rt::parse_runtime_api("127.0.0.1:9001");
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->host, "127.0.0.1");
    EXPECT_EQ(ep->port, "9001");
    EXPECT_EQ(ep->target("/runtime/invocation/next"), "/2018-06-01/runtime/invocation/next");
    auto prefixed = rt::parse_runtime_api("localhost:80/rt/abc/");
    ASSERT_TRUE(prefixed);
    EXPECT_EQ(prefixed->target("/runtime/init/error"), "/rt/abc/2018-06-01/runtime/init/error");
    auto v6 = rt::parse_runtime_api("[::1]:9001");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_TRUE(rt::parse_runtime_api("http://127.0.0.1:9001"));
    for (auto bad : {"", "127.0.0.1", ":9001", "h:", "h:0", "h:65536", "h:12x", "[::1", "[::1]9001"})
        EXPECT_FALSE(rt::parse_runtime_api(bad)) << bad;
}

TEST(LambdaRuntimeProtocol, ContextFromHeaders) {
    auto ctx = rt::context_from_headers({.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                                         .deadline_ms = "1542409706888",
                                         .function_arn = "arn",
                                         .trace_id = "Root=1"});
    ASSERT_TRUE(ctx);
    EXPECT_EQ(ctx->mode, "lambda");
    EXPECT_EQ(ctx->request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
    ASSERT_TRUE(ctx->deadline);
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(ctx->deadline->time_since_epoch()).count(),
              1542409706888);
    // A missing or bad deadline is no deadline, not an error.
    auto no_deadline = rt::context_from_headers({.request_id = "id", .deadline_ms = "soon"});
    ASSERT_TRUE(no_deadline);
    EXPECT_FALSE(no_deadline->deadline);
    EXPECT_FALSE(rt::context_from_headers({.request_id = ""}));
    EXPECT_FALSE(rt::context_from_headers({.request_id = "../../x"}));
    EXPECT_FALSE(rt::context_from_headers({.request_id = "a b"}));
}

TEST(LambdaRuntimeProtocol, StatusActionsAndErrorDocument) {
    EXPECT_EQ(rt::classify_status(200), rt::StatusAction::proceed);
    EXPECT_EQ(rt::classify_status(202), rt::StatusAction::proceed);
    EXPECT_EQ(rt::classify_status(403), rt::StatusAction::exit);
    EXPECT_EQ(rt::classify_status(500), rt::StatusAction::exit);
    EXPECT_EQ(rt::classify_status(502), rt::StatusAction::exit);
    EXPECT_EQ(rt::classify_status(400), rt::StatusAction::skip);
    EXPECT_EQ(rt::classify_status(413), rt::StatusAction::skip);
    auto doc = boost::json::parse(rt::error_document("bad\nthing", "HandlerException")).as_object();
    EXPECT_EQ(doc.at("errorMessage"), "bad\nthing");
    EXPECT_EQ(doc.at("errorType"), "HandlerException");
    EXPECT_TRUE(doc.at("stackTrace").as_array().empty());
}

}  // namespace
