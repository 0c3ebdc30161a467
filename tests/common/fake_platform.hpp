// In-test HTTP servers on 127.0.0.1 port 0:
// - TestHttpServer: answers each request with what a test's handler says
//   (a reply, never answering, or closing the connection).
// - FakePlatform: the Blueprint custom FaaS platform API
//   (ARCHITECTURE.md §10), ENFORCED: a request off the contract (path,
//   method, content type, config, auth, package) is refused with 400, 401,
//   404, 405 or 409 and the error shape {"error","code","details"}.
// Each runs on its own thread and io_context, so the code under test can run
// on the test's io_context, and stops in its destructor.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace blueprint::test {

/// One request as the server read it.
struct HttpExchange {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    /// Case-insensitive; empty when absent.
    std::string header(std::string_view name) const;
    bool has_header(std::string_view name) const;
};

/// What the server does with a request.
struct HttpReply {
    enum class Action {
        respond,  ///< send status, headers and body
        hang,     ///< never answer; the connection stays open until the server stops
        close,    ///< close the connection without answering
    };
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    Action action = Action::respond;

    static HttpReply json(int status, std::string body);
    static HttpReply hang() { return with_action(Action::hang); }
    static HttpReply close() { return with_action(Action::close); }

private:
    static HttpReply with_action(Action a) {
        HttpReply r;
        r.action = a;
        return r;
    }
};

class TestHttpServer {
public:
    /// Called on the server's thread, one request at a time.
    using Handler = std::function<HttpReply(const HttpExchange&)>;

    /// Binds 127.0.0.1:0 and starts serving. A body above `max_body_bytes`
    /// gets 413.
    explicit TestHttpServer(Handler handler, std::size_t max_body_bytes = 64 * 1024 * 1024);
    ~TestHttpServer();
    TestHttpServer(const TestHttpServer&) = delete;
    TestHttpServer& operator=(const TestHttpServer&) = delete;

    unsigned short port() const noexcept;
    /// "http://127.0.0.1:<port>".
    std::string url() const;
    /// Every request read so far, in arrival order.
    std::vector<HttpExchange> requests() const;
    std::size_t request_count() const;
    /// Stops accepting and closes every connection. Idempotent.
    void stop();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/// The custom platform API, enforced. Functions run in-process: an invoke
/// decodes the Blueprint JSON request itself (independently of the library's
/// wire code) and runs `FakePlatform::Function`.
class FakePlatform {
public:
    struct Invocation {
        std::uint64_t job_id = 0;  ///< or 0 with job_id_hex set
        std::string job_id_hex;
        std::vector<std::uint8_t> args;
        std::string metadata_json;  ///< raw "metadata" value, when sent
    };
    struct Outcome {
        bool success = true;
        std::vector<std::uint8_t> result;
        std::string error;
    };
    using Function = std::function<Outcome(const Invocation&)>;

    /// What a PUT stored.
    struct Deployment {
        std::string function_id;
        std::vector<std::uint8_t> package;
        std::vector<std::uint8_t> bootstrap;  ///< the `bootstrap` entry's bytes
        std::uint32_t bootstrap_mode = 0;     ///< its unix mode bits
        std::uint32_t memory_mb = 512;
        std::uint32_t timeout_secs = 300;
        std::optional<std::uint32_t> max_concurrency;
        std::map<std::string, std::string> env_vars;
        bool config_header_sent = false;
        std::uint64_t invocations = 0;
    };

    struct Options {
        /// When set, every request needs `Authorization: Bearer <token>`.
        std::string bearer_token;
        /// Runs invokes; the default echoes the args.
        Function function;
    };

    FakePlatform();
    explicit FakePlatform(Options options);
    ~FakePlatform();

    std::string url() const;
    TestHttpServer& server();

    std::optional<Deployment> deployment(std::string_view function_id) const;
    std::size_t deployment_count() const;
    /// Makes health answer 503 for the function.
    void set_unhealthy(std::string_view function_id, bool unhealthy = true);
    /// Requests refused as off the contract (400/401/404/405/409/413).
    std::size_t rejected() const;
    /// Number of 409 replies sent.
    std::size_t conflicts() const;
    /// The last warm request's instance count.
    std::size_t last_warm_instances() const;

private:
    struct State;
    std::shared_ptr<State> state_;
    std::unique_ptr<TestHttpServer> server_;
};

}  // namespace blueprint::test
