// Runs n warm-up requests at once, shared by every provider's `warm`.
// Private header.
#pragma once

#include <blueprint/faas/executor.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace blueprint::faas::detail {

/// Starts `instances` copies of `make_one()` together (so that the provider
/// has to run that many instances at once) and waits for all of them.
/// Ok when every one succeeded; otherwise the first failure, its message
/// prefixed with how many of the `instances` failed.
template <class MakeOne>
awaitable<Result<void>> warm_concurrently(std::size_t instances, MakeOne make_one) {
    namespace asio = boost::asio;
    auto ex = co_await asio::this_coro::executor;
    using Op = decltype(asio::co_spawn(ex, make_one(), asio::deferred));
    std::vector<Op> ops;
    ops.reserve(instances);
    for (std::size_t i = 0; i < instances; ++i) ops.push_back(asio::co_spawn(ex, make_one(), asio::deferred));
    auto [order, exceptions, results] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    std::size_t failed = 0;
    std::optional<FaasError> first;
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (exceptions[i]) std::rethrow_exception(exceptions[i]);
        if (!results[i]) {
            ++failed;
            if (!first) first = std::move(results[i].error());
        }
    }
    if (first) {
        first->message = std::to_string(failed) + " of " + std::to_string(instances) +
                         " warm-up requests failed; first: " + first->message;
        co_return std::unexpected(std::move(*first));
    }
    co_return Result<void>{};
}

}  // namespace blueprint::faas::detail
