// The platform's request handling: one function store, the Lambda API, the
// custom platform API, /health and /metrics, over the instance pool.
// Runs on the platform's io_context thread; store writes go to a worker
// thread so a large deploy never stalls invocations. Private header.
#pragma once

#include "platform/lambda_api.hpp"
#include "platform/metrics.hpp"
#include "platform/runtime.hpp"
#include "platform/store.hpp"

#include <blueprint/platform.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace blueprint::platform {

/// A request as the core sees it: Beast stays in server.cpp.
struct HttpRequest {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::string_view header(std::string_view name) const noexcept;
};

struct HttpResponse {
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string content_type = "application/json";
};

/// Which API a target belongs to, and the body limit to read it with.
struct BodyPolicy {
    std::string api;  // "lambda", "custom", "platform"
    std::size_t limit = 1u << 20;
};
BodyPolicy body_policy(std::string_view method, std::string_view target, const LocalPlatformOptions& options);
/// The 413 reply for a body over `policy.limit`, shaped for its API.
HttpResponse too_large_reply(const BodyPolicy& policy, std::string_view target);

class Core {
public:
    Core(boost::asio::io_context& ioc, LocalPlatformOptions options, FunctionStore::FaultHook fault = {});
    ~Core();

    /// Opens the store and loads every stored function.
    std::expected<void, Error> open();
    boost::asio::awaitable<HttpResponse> handle(HttpRequest request);
    void shutdown();
    unsigned alive_instances() const { return pool_.alive_total(); }

private:
    struct Entry {
        FunctionConfig config;
        std::filesystem::path code_dir;
        lambda_api::Status status;
        /// A store change is running: further changes get 409.
        bool busy = false;
    };

    boost::asio::awaitable<HttpResponse> handle_lambda(HttpRequest& req, const lambda_api::Route& route);
    boost::asio::awaitable<HttpResponse> handle_custom(HttpRequest& req, std::string_view op, std::string id);
    boost::asio::awaitable<HttpResponse> lambda_invoke(HttpRequest& req, const std::string& name,
                                                       std::string_view query);
    boost::asio::awaitable<HttpResponse> lambda_create(const HttpRequest& req);
    boost::asio::awaitable<HttpResponse> lambda_delete(std::string name);
    boost::asio::awaitable<HttpResponse> lambda_update_code(const HttpRequest& req, std::string name);
    boost::asio::awaitable<HttpResponse> lambda_update_configuration(const HttpRequest& req, std::string name);
    boost::asio::awaitable<HttpResponse> lambda_concurrency(const HttpRequest& req, std::string name, bool put);
    HttpResponse lambda_list(std::string_view query) const;
    /// A 409 when `name` is being changed (or, unless `allow_pending`, not yet settled).
    std::optional<HttpResponse> refuse_change(const std::string& name, bool allow_pending) const;
    HttpResponse platform_health() const;
    boost::asio::awaitable<HttpResponse> code_download(std::string name);

    /// Runs `f` on the store thread and resumes here.
    template <class F> boost::asio::awaitable<std::invoke_result_t<F&>> offload(F& f);
    void schedule_transition(const std::string& name, std::string revision, bool created);
    std::string endpoint_url(const HttpRequest& req, std::string_view name) const;
    std::string base_url(const HttpRequest& req) const;

    boost::asio::io_context& ioc_;
    LocalPlatformOptions options_;
    std::optional<std::pair<std::string, std::string>> aws_key_;
    FunctionStore store_;
    Metrics metrics_;
    Pool pool_;
    std::map<std::string, Entry> functions_;
    /// Names being created right now (not yet visible).
    std::set<std::string> creating_;
    boost::asio::thread_pool store_thread_{1};
};

}  // namespace blueprint::platform
