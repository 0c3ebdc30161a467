// Shared pieces of the bpfaas verbs.
#pragma once

#include <blueprint/faas/executor.hpp>
#include <blueprint/log.hpp>

#include <CLI/CLI.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>
#include <string>

namespace bpfaas {

/// A LogSink writing through spdlog (the one place spdlog is glued in).
blueprint::LogSink spdlog_sink();

/// Runs one coroutine to completion on a fresh io_context.
template <class T> T run_async(boost::asio::awaitable<T> aw) {
    boost::asio::io_context ioc;
    std::optional<T> out;
    std::exception_ptr error;
    boost::asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T v) {
        error = e;
        if (!e) out.emplace(std::move(v));
    });
    ioc.run();
    if (error) std::rethrow_exception(error);
    return std::move(*out);
}

/// Each verb registers its subcommand and returns the action to run.
using Action = std::function<int()>;
Action add_demo(CLI::App& app);
Action add_invoke(CLI::App& app);
Action add_local(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_package(CLI::App& app);
Action add_deploy(CLI::App& app);    // providers.cpp
Action add_health(CLI::App& app);    // providers.cpp
Action add_warm(CLI::App& app);      // providers.cpp
Action add_undeploy(CLI::App& app);  // providers.cpp
Action add_list(CLI::App& app);      // providers.cpp
Action add_aws(CLI::App& app);       // aws.cpp: `bpfaas aws sign`

}  // namespace bpfaas
