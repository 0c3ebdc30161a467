// A stand-in for the Azure Functions host, for custom handlers (ARCHITECTURE.md
// §9): it reads host.json and every {function}/function.json of a deployed
// package exactly as the host does, starts `customHandler.description.
// defaultExecutablePath` with FUNCTIONS_CUSTOMHANDLER_PORT (0 here: the
// runtime reports the port it bound on stderr), and serves HTTP triggers:
//
// - it routes /api/{function} (function names are case-insensitive), enforces
//   the trigger's `methods` (404 otherwise, as the host's route table has no
//   match) and `authLevel` ("function": x-functions-key or ?code= with a
//   function or master key, "admin": the master key, "anonymous": none: 401);
// - forwarding on (`enableForwardingHttpRequest`): the request goes to the
//   handler unchanged at /api/{function} and its reply comes back unchanged;
// - forwarding off: the request is wrapped into the envelope
//   {"Data":{"req":{Url,Method,Query,Headers,Params,Body}},"Metadata":{...}},
//   POSTed to /{function}, and Outputs.res {statusCode, body, headers} becomes
//   the reply; anything else from the handler is a 500;
// - a handler that died (crash) gets a 500 and is started again, as the host
//   restarts its worker.
//
// Not thread-safe: use one host from one thread (the fake Azure's, or a test's).
#pragma once

#include "common/fake_platform.hpp"  // HttpExchange, HttpReply
#include "common/process.hpp"

#include <blueprint/faas/http_client.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace blueprint::test {

struct AzureTestHostOptions {
    /// App settings, set in the handler's environment (as the host does).
    std::vector<std::pair<std::string, std::string>> app_settings;
    /// Keys accepted for authLevel "function" (the master key too).
    std::vector<std::string> function_keys;
    std::string master_key;
    /// How long the handler may take to report its port.
    std::chrono::milliseconds start_timeout{std::chrono::seconds(20)};
};

struct AzureFunctionInfo {
    std::string name;
    std::vector<std::string> methods;  // lower case; empty = any
    std::string auth_level;            // "function", "anonymous", "admin"
};

class AzureTestHost {
public:
    /// Extracts `zip` into a fresh temp dir (removed by the destructor) and starts it.
    static std::expected<std::unique_ptr<AzureTestHost>, std::string> from_zip(std::span<const std::uint8_t> zip,
                                                                               AzureTestHostOptions options);
    /// Starts the app in `dir` (its wwwroot).
    static std::expected<std::unique_ptr<AzureTestHost>, std::string> from_dir(std::filesystem::path dir,
                                                                               AzureTestHostOptions options);
    ~AzureTestHost();
    AzureTestHost(const AzureTestHost&) = delete;
    AzureTestHost& operator=(const AzureTestHost&) = delete;

    /// Serves one HTTP-trigger request (target "/api/{function}[?query]") on
    /// the awaiting coroutine's executor.
    boost::asio::awaitable<HttpReply> handle(HttpExchange request);

    bool forwarding() const noexcept { return forwarding_; }
    const std::vector<AzureFunctionInfo>& functions() const noexcept { return functions_; }
    /// Port the handler listens on.
    unsigned short handler_port() const noexcept { return port_; }
    /// Times the handler was (re)started; 1 after a clean start.
    std::size_t starts() const noexcept { return starts_; }
    /// What the handler wrote to stderr so far.
    std::string handler_stderr();

private:
    AzureTestHost() = default;
    std::expected<void, std::string> load();
    std::expected<void, std::string> start();
    void drain_stderr();

    std::filesystem::path dir_;
    bool owns_dir_ = false;
    AzureTestHostOptions options_;
    std::vector<AzureFunctionInfo> functions_;
    bool forwarding_ = false;
    std::string executable_;
    std::string working_directory_;
    std::vector<std::string> arguments_;
    ChildProcess child_;
    blueprint::faas::http::HttpClient client_{client_options()};
    static blueprint::faas::http::ClientOptions client_options();
    unsigned short port_ = 0;
    std::size_t starts_ = 0;
};

}  // namespace blueprint::test
