// Test driver for coroutines: run an awaitable to completion on a fresh
// io_context with a deadline, and fail the test if work is left behind.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>

namespace blueprint::test {

/// Runs `make(ioc)`'s awaitable on `ioc` until it completes, at most `timeout`.
/// Throws if it did not complete in time; rethrows its exception.
template <class T>
T run_coro(boost::asio::io_context& ioc, boost::asio::awaitable<T> aw,
           std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::optional<T> result;
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T value) {
        done = true;
        error = e;
        if (!e) result.emplace(std::move(value));
    });
    ioc.restart();
    ioc.run_for(timeout);
    if (!done) throw std::runtime_error("run_coro: coroutine did not finish within the timeout");
    if (error) std::rethrow_exception(error);
    return std::move(*result);
}

inline void run_coro(boost::asio::io_context& ioc, boost::asio::awaitable<void> aw,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e) {
        done = true;
        error = e;
    });
    ioc.restart();
    ioc.run_for(timeout);
    if (!done) throw std::runtime_error("run_coro: coroutine did not finish within the timeout");
    if (error) std::rethrow_exception(error);
}

/// A fixture owning an io_context that fails the test if, after the test
/// body, the context still has work queued (a leaked operation).
class IoContextTest : public ::testing::Test {
protected:
    boost::asio::io_context ioc;

    template <class T> T run(boost::asio::awaitable<T> aw, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
        return run_coro(ioc, std::move(aw), timeout);
    }
    void run(boost::asio::awaitable<void> aw, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
        run_coro(ioc, std::move(aw), timeout);
    }

    void TearDown() override {
        ioc.restart();
        auto handlers = ioc.poll();
        EXPECT_EQ(handlers, 0u) << "the io_context still had queued work after the test";
        EXPECT_TRUE(ioc.stopped()) << "the io_context still has outstanding work (a leaked operation)";
    }
};

}  // namespace blueprint::test
