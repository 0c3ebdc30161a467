// FaasRegistry, FaasError and the default FaasExecutor methods.
#include <blueprint/faas/registry.hpp>

#include "common/run_coro.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

using namespace blueprint;
using namespace blueprint::faas;
using blueprint::test::IoContextTest;

namespace {

// Echoes the body after an optional delay, or fails with a set error.
class FakeExecutor final : public FaasExecutor {
public:
    explicit FakeExecutor(std::string name) : name_(std::move(name)) {}

    std::optional<FaasError> fail_with;
    std::chrono::milliseconds delay{0};
    int invocations = 0;

    awaitable<Result<JobResult>> invoke(JobCall call) override {
        ++invocations;
        if (delay.count() > 0) {
            boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, delay);
            co_await t.async_wait(boost::asio::use_awaitable);
        }
        if (fail_with) co_return std::unexpected(*fail_with);
        co_return JobResult::ok(call.body());
    }
    awaitable<Result<bool>> health_check(JobId) override { co_return true; }
    std::string_view provider_name() const noexcept override { return name_; }

private:
    std::string name_;
};

// co_spawn (and so run_coro) needs a default-constructible value, which
// Result<JobResult> is not; an optional wrapper is.
template <class T> awaitable<std::optional<T>> wrap(awaitable<T> aw) { co_return co_await std::move(aw); }

}  // namespace

TEST(FaasRegistry, RegisterLookupOverwrite) {
    FaasRegistry reg;
    EXPECT_TRUE(reg.empty());
    EXPECT_EQ(reg.get(JobId(1)), nullptr);
    EXPECT_EQ(reg.find(JobId(1)), nullptr);
    EXPECT_FALSE(reg.is_faas_job(JobId(1)));

    auto a = std::make_shared<FakeExecutor>("a");
    auto b = std::make_shared<FakeExecutor>("b");
    reg.register_job(1, a);
    reg.register_job(2, a);
    EXPECT_EQ(reg.size(), 2u);
    EXPECT_TRUE(reg.is_faas_job(JobId(1)));
    EXPECT_EQ(reg.get(JobId(1)), a);
    EXPECT_EQ(reg.find(JobId(2)), a.get());
    EXPECT_FALSE(reg.is_faas_job(JobId(3)));

    reg.register_job(1, b);  // replaces
    EXPECT_EQ(reg.size(), 2u);
    EXPECT_EQ(reg.get(JobId(1)), b);
    EXPECT_EQ(reg.find(JobId(1))->provider_name(), "b");
    EXPECT_EQ(reg.get(JobId(2)), a);
}

TEST(FaasRegistry, JobIdsAreSortedAscending) {
    FaasRegistry reg;
    auto e = std::make_shared<FakeExecutor>("e");
    auto wide = JobId::from_hex("0x1" + std::string(20, '0')).value();
    reg.register_job(wide, e);
    reg.register_job(300, e);
    reg.register_job(2, e);
    reg.register_job(0, e);
    reg.register_job(2, e);
    EXPECT_EQ(reg.job_ids(), (std::vector<JobId>{JobId(0), JobId(2), JobId(300), wide}));
    EXPECT_TRUE(reg.is_faas_job(wide));
    EXPECT_FALSE(reg.is_faas_job(JobId(1)));
}

class ExecutorDefaultsTest : public IoContextTest {};

TEST_F(ExecutorDefaultsTest, InvokeWithMetricsMeasuresWallTimeOnly) {
    FakeExecutor ex("fake");
    ex.delay = std::chrono::milliseconds(2);
    auto out = *run(wrap(ex.invoke_with_metrics(JobCall(JobId(5), to_bytes("ping")))));
    ASSERT_TRUE(out.has_value()) << out.error().to_string();
    EXPECT_EQ(ex.invocations, 1);
    EXPECT_EQ(to_string(out->result.body()), "ping");
    // A lower bound from the fake's own delay; not a performance assertion.
    EXPECT_GE(out->metrics.total_duration, std::chrono::milliseconds(2));
    // Nothing the provider did not report is invented.
    EXPECT_FALSE(out->metrics.execution_duration.has_value());
    EXPECT_FALSE(out->metrics.billed_duration.has_value());
    EXPECT_FALSE(out->metrics.cold_start.has_value());
    EXPECT_FALSE(out->metrics.memory_used_mb.has_value());
}

TEST_F(ExecutorDefaultsTest, InvokeWithMetricsPassesErrorsThrough) {
    FakeExecutor ex("fake");
    FaasError err = FaasError::make(faas_errc::throttled, "slow down");
    err.http_status = 429;
    err.retry_after = std::chrono::milliseconds(1500);
    ex.fail_with = err;
    auto out = *run(wrap(ex.invoke_with_metrics(JobCall(JobId(5), {}))));
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().kind, faas_errc::throttled);
    EXPECT_EQ(out.error().http_status, 429);
    EXPECT_EQ(out.error().retry_after, std::chrono::milliseconds(1500));
}

TEST_F(ExecutorDefaultsTest, OptionalOperationsAreUnsupported) {
    FakeExecutor ex("fake-provider");
    auto d = run(ex.deploy_job(JobId(1), to_bytes("bin"), FaasConfig{}));
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().kind, faas_errc::unsupported);
    EXPECT_EQ(d.error().message, "fake-provider does not support deploy");

    auto w = run(ex.warm(JobId(1)));
    ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error().code(), faas_errc::unsupported);
    EXPECT_NE(w.error().message.find("warm"), std::string::npos);

    auto g = run(ex.get_deployment(JobId(1)));
    ASSERT_FALSE(g.has_value());
    EXPECT_EQ(g.error().kind, faas_errc::unsupported);

    auto u = run(ex.undeploy_job(JobId(1)));
    ASSERT_FALSE(u.has_value());
    EXPECT_EQ(u.error().kind, faas_errc::unsupported);
    EXPECT_EQ(ex.invocations, 0);
}

TEST(FaasError, CategoryNamesAndTransience) {
    error_code ec = faas_errc::timeout;
    EXPECT_STREQ(ec.category().name(), "blueprint.faas");
    EXPECT_EQ(ec, make_error_code(faas_errc::timeout));
    for (int v = 1; v <= 9; ++v) {
        auto kind = static_cast<faas_errc>(v);
        EXPECT_NE(to_string(kind), "unknown") << v;
        EXPECT_NE(make_error_code(kind).message(), "unknown FaaS error") << v;
    }
    EXPECT_EQ(to_string(faas_errc::invocation_failed), "invocation_failed");
    EXPECT_EQ(to_string(faas_errc::not_found), "not_found");

    EXPECT_TRUE(FaasError::make(faas_errc::throttled, "").is_transient());
    EXPECT_TRUE(FaasError::make(faas_errc::infrastructure, "").is_transient());
    EXPECT_TRUE(FaasError::make(faas_errc::timeout, "").is_transient());
    EXPECT_FALSE(FaasError::make(faas_errc::function_error, "").is_transient());
    EXPECT_FALSE(FaasError::make(faas_errc::unauthorized, "").is_transient());
    EXPECT_FALSE(FaasError::make(faas_errc::not_found, "").is_transient());
    EXPECT_FALSE(FaasError::make(faas_errc::serialization, "").is_transient());
}

TEST(FaasError, ToString) {
    EXPECT_EQ(FaasError::make(faas_errc::not_found, "no function blueprint-job-7").to_string(),
              "faas.not_found: no function blueprint-job-7");
    FaasError e = FaasError::make(faas_errc::throttled, "rate exceeded");
    e.http_status = 429;
    e.request_id = "abc-123";
    EXPECT_EQ(e.to_string(), "faas.throttled: rate exceeded (HTTP 429, request id abc-123)");
    FaasError f = FaasError::make(faas_errc::function_error, "division by zero");
    f.function_error_type = "Unhandled";
    EXPECT_EQ(f.to_string(), "faas.function_error: division by zero [Unhandled]");
    // An empty message falls back to the category's text.
    EXPECT_EQ(FaasError::make(faas_errc::timeout, "").to_string(), "faas.timeout: the FaaS call ran past its deadline");
}
