// Router: handler normalisation, routing order, always, fallback, context.
#include <blueprint/router.hpp>

#include "common/run_coro.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

using namespace blueprint;
using blueprint::test::run_coro;

namespace {

// Runs whichever form the handler has, synchronously, as the runner would.
std::optional<JobResult> invoke(const Handler& h, JobCall call, const RouterContext& ctx = {}) {
    if (h.inline_fn) return h.inline_fn(std::move(call), ctx);
    if (h.blocking_fn) return h.blocking_fn(std::move(call), ctx);
    boost::asio::io_context ioc;
    return run_coro(ioc, h.async_fn(std::move(call), ctx));
}

int forms_set(const Handler& h) { return !!h.inline_fn + !!h.async_fn + !!h.blocking_fn; }

JobCall call_of(std::uint64_t id, std::string_view body = "in") { return JobCall(JobId(id), to_bytes(body)); }

}  // namespace

TEST(MakeHandler, PlainJobResult) {
    auto h = detail::make_handler([](JobCall c) { return JobResult::ok(c.body()); });
    ASSERT_TRUE(h.inline_fn);
    EXPECT_EQ(forms_set(h), 1);
    auto r = invoke(h, call_of(1, "abc"));
    ASSERT_TRUE(r && r->is_ok());
    EXPECT_EQ(to_string(r->body()), "abc");
}

TEST(MakeHandler, BytesBecomeOkResult) {
    auto h = detail::make_handler([](JobCall c) -> Bytes { return to_bytes("out:" + to_string(c.body())); });
    auto r = invoke(h, call_of(1, "x"));
    ASSERT_TRUE(r && r->is_ok());
    EXPECT_EQ(to_string(r->body()), "out:x");
}

TEST(MakeHandler, VoidYieldsNothingButRuns) {
    int runs = 0;
    auto h = detail::make_handler([&](JobCall) { ++runs; });
    ASSERT_TRUE(h.inline_fn);
    EXPECT_FALSE(invoke(h, call_of(1)).has_value());
    EXPECT_EQ(runs, 1);
}

TEST(MakeHandler, OptionalResult) {
    auto h = detail::make_handler([](JobCall c) -> std::optional<JobResult> {
        if (c.body().empty()) return std::nullopt;
        return JobResult::error(job_errc::handler_failed, "non-empty");
    });
    EXPECT_FALSE(invoke(h, call_of(1, "")).has_value());
    auto r = invoke(h, call_of(1, "x"));
    ASSERT_TRUE(r && r->is_error());
    EXPECT_EQ(r->error().code, job_errc::handler_failed);
}

TEST(MakeHandler, CoroutineHandlers) {
    auto h = detail::make_handler([](JobCall c) -> awaitable<JobResult> { co_return JobResult::ok(c.body()); });
    ASSERT_TRUE(h.async_fn);
    EXPECT_EQ(forms_set(h), 1);
    auto r = invoke(h, call_of(1, "co"));
    ASSERT_TRUE(r && r->is_ok());
    EXPECT_EQ(to_string(r->body()), "co");

    int runs = 0;
    auto v = detail::make_handler([&](JobCall) -> awaitable<void> {
        ++runs;
        co_return;
    });
    ASSERT_TRUE(v.async_fn);
    EXPECT_FALSE(invoke(v, call_of(1)).has_value());
    EXPECT_EQ(runs, 1);

    auto b = detail::make_handler([](JobCall) -> awaitable<Bytes> { co_return to_bytes("b"); });
    EXPECT_EQ(to_string(invoke(b, call_of(1))->body()), "b");

    auto o = detail::make_handler([](JobCall) -> awaitable<std::optional<JobResult>> { co_return std::nullopt; });
    EXPECT_FALSE(invoke(o, call_of(1)).has_value());
}

TEST(MakeHandler, CoroutineExceptionPropagates) {
    auto h = detail::make_handler([](JobCall) -> awaitable<JobResult> {
        throw std::runtime_error("bad");
        co_return JobResult::ok({});
    });
    EXPECT_THROW(invoke(h, call_of(1)), std::runtime_error);
}

TEST(MakeHandler, BlockingHandlers) {
    auto h = detail::make_handler(blocking([](JobCall c) { return JobResult::ok(c.body()); }));
    ASSERT_TRUE(h.blocking_fn);
    EXPECT_EQ(forms_set(h), 1);
    EXPECT_EQ(to_string(invoke(h, call_of(1, "blk"))->body()), "blk");

    int runs = 0;
    auto v = detail::make_handler(blocking([&](JobCall) { ++runs; }));
    ASSERT_TRUE(v.blocking_fn);
    EXPECT_FALSE(invoke(v, call_of(1)).has_value());
    EXPECT_EQ(runs, 1);

    auto b = detail::make_handler(blocking([](JobCall, const RouterContext&) { return to_bytes("ctx"); }));
    EXPECT_EQ(to_string(invoke(b, call_of(1))->body()), "ctx");
}

TEST(MakeHandler, PlainExceptionPropagates) {
    auto h = detail::make_handler([](JobCall) -> JobResult { throw std::logic_error("nope"); });
    EXPECT_THROW(invoke(h, call_of(1)), std::logic_error);
}

TEST(Router, RoutesInRegistrationOrder) {
    Router r;
    r.route(1, [](JobCall) { return to_bytes("a"); });
    r.route(2, [](JobCall) { return to_bytes("other"); });
    r.route(1, [](JobCall) { return to_bytes("b"); });
    auto hs = r.handlers_for(JobId(1));
    ASSERT_EQ(hs.size(), 2u);
    EXPECT_EQ(to_string(invoke(*hs[0], call_of(1))->body()), "a");
    EXPECT_EQ(to_string(invoke(*hs[1], call_of(1))->body()), "b");
    EXPECT_TRUE(r.has_route(JobId(2)));
    EXPECT_FALSE(r.has_route(JobId(3)));
    EXPECT_TRUE(r.handlers_for(JobId(3)).empty());
}

TEST(Router, AlwaysRunsAfterRoutes) {
    Router r;
    r.always([](JobCall) { return to_bytes("always"); });
    r.route(5, [](JobCall) { return to_bytes("route"); });
    auto hs = r.handlers_for(JobId(5));
    ASSERT_EQ(hs.size(), 2u);
    EXPECT_EQ(to_string(invoke(*hs[0], call_of(5))->body()), "route");
    EXPECT_EQ(to_string(invoke(*hs[1], call_of(5))->body()), "always");

    auto unrouted = r.handlers_for(JobId(6));
    ASSERT_EQ(unrouted.size(), 1u);
    EXPECT_EQ(to_string(invoke(*unrouted[0], call_of(6))->body()), "always");
}

TEST(Router, FallbackOnlyWithoutRoute) {
    Router r;
    r.route(1, [](JobCall) { return to_bytes("route"); });
    r.fallback([](JobCall c) { return to_bytes("fallback:" + c.job_id().to_string()); });
    r.always([](JobCall) { return to_bytes("always"); });

    auto routed = r.handlers_for(JobId(1));
    ASSERT_EQ(routed.size(), 2u);
    EXPECT_EQ(to_string(invoke(*routed[0], call_of(1))->body()), "route");
    EXPECT_EQ(to_string(invoke(*routed[1], call_of(1))->body()), "always");

    auto other = r.handlers_for(JobId(9));
    ASSERT_EQ(other.size(), 2u);
    EXPECT_EQ(to_string(invoke(*other[0], call_of(9))->body()), "fallback:9");
    EXPECT_EQ(to_string(invoke(*other[1], call_of(9))->body()), "always");
}

TEST(Router, FallbackReplacesEarlierFallback) {
    Router r;
    r.fallback([](JobCall) { return to_bytes("first"); });
    r.fallback([](JobCall) { return to_bytes("second"); });
    auto hs = r.handlers_for(JobId(1));
    ASSERT_EQ(hs.size(), 1u);
    EXPECT_EQ(to_string(invoke(*hs[0], call_of(1))->body()), "second");
}

TEST(Router, FullWidthIdsRoute) {
    auto wide = JobId::from_hex("0x1" + std::string(63, '0')).value();
    Router r;
    r.route(wide, [](JobCall) { return to_bytes("wide"); });
    EXPECT_EQ(r.handlers_for(wide).size(), 1u);
    EXPECT_TRUE(r.handlers_for(JobId(0)).empty());
}

TEST(Router, ContextIsShared) {
    struct Counter {
        int n = 0;
    };
    auto counter = std::make_shared<Counter>();
    Router r;
    r.with_context(counter);
    r.route(1, [](JobCall, const RouterContext& ctx) {
        auto c = ctx.get<Counter>();
        if (!c) return JobResult::error(job_errc::handler_failed, "no context");
        ++c->n;
        return JobResult::ok(to_bytes(std::to_string(c->n)));
    });
    r.route(1, [](JobCall, const RouterContext& ctx) -> awaitable<Bytes> {
        co_return to_bytes(ctx.get<int>() == nullptr ? "no int" : "int");
    });
    auto hs = r.handlers_for(JobId(1));
    ASSERT_EQ(hs.size(), 2u);
    auto res = invoke(*hs[0], call_of(1), r.context());
    ASSERT_TRUE(res && res->is_ok());
    EXPECT_EQ(to_string(res->body()), "1");
    EXPECT_EQ(counter->n, 1);
    EXPECT_EQ(to_string(invoke(*hs[1], call_of(1), r.context())->body()), "no int");
    // Without the router's context the handler sees nothing.
    EXPECT_TRUE(invoke(*hs[0], call_of(1), RouterContext{})->is_error());
}
