// Instances and scheduling: each function's `bootstrap` runs as warm
// instances speaking the Lambda Runtime API (§7) to a small server of ours
// on a per-instance loopback port, or (run model "stdio") is spawned once
// per invocation. Single-threaded: every member is used on the platform's
// io_context thread only. Private header.
#pragma once

#include "platform/async_process.hpp"
#include "platform/invocation_log.hpp"
#include "platform/metrics.hpp"
#include "platform/model.hpp"

#include <blueprint/log.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace blueprint::platform {

using SteadyClock = std::chrono::steady_clock;

/// How one invocation ended.
enum class Outcome {
    /// The function answered; `payload` is its response.
    success,
    /// The function failed, timed out or crashed; `payload` is the Lambda
    /// error document and `error_type` its type.
    function_error,
    /// No capacity: reserved concurrency or the platform's instance cap.
    throttled,
    /// The platform is stopping.
    shutting_down,
};

struct InvokeResult {
    Outcome outcome = Outcome::success;
    std::string request_id;
    std::string payload;
    std::string error_type;
    /// What the instance printed during its init (cold starts) and during
    /// this invocation; with `report`, what log() assembles.
    std::string init_output;
    std::string output;
    ReportFields report;
    bool cold_start = false;
    bool timed_out = false;
    std::chrono::microseconds duration{0};
    std::optional<std::chrono::microseconds> init_duration;
    unsigned max_memory_mb = 0;
    /// Throttling: "ReservedFunctionConcurrentInvocationLimitExceeded" or
    /// "ConcurrentInvocationLimitExceeded".
    std::string throttle_reason;

    /// START ... REPORT, as Lambda writes it. Built on demand: only
    /// `X-Amz-Log-Type: Tail` asks for it.
    std::string log() const { return invocation_log(init_output, output, report); }
};

struct Invocation {
    explicit Invocation(const boost::asio::any_io_executor& ex) : done_event(ex) {}

    std::string request_id;
    std::string payload;
    bool async = false;
    SteadyClock::time_point started{};
    /// The function's timeout, from delivery (steady and wall clock).
    SteadyClock::time_point deadline{SteadyClock::time_point::max()};
    std::chrono::system_clock::time_point deadline_wall{};
    bool delivered = false;
    bool done = false;
    InvokeResult result;
    std::string init_output;
    std::string output;
    /// Cancelled (woken) when `done` becomes true.
    boost::asio::steady_timer done_event;
};

class Pool;

/// One warm instance: a `bootstrap` process plus its Runtime API server.
class Instance : public std::enable_shared_from_this<Instance> {
public:
    enum class State { starting, idle, busy, stopping, dead };

    Instance(Pool& pool, const boost::asio::any_io_executor& ex, std::string function, std::uint64_t generation);

    State state = State::starting;
    std::string id;
    std::string function;
    std::uint64_t generation;
    bool ready = false;
    /// Set when the function changed: stop after the current invocation.
    bool retired = false;
    SteadyClock::time_point spawned_at = SteadyClock::now();
    SteadyClock::time_point last_used = SteadyClock::now();
    std::optional<std::chrono::microseconds> init_duration;
    std::shared_ptr<Invocation> current;
    /// Output not yet attributed to an invocation (init, or between them).
    std::string pending_output;

    unsigned short port() const;
    /// Starts the server, spawns the process and the watchers.
    std::expected<void, Error> start(const FunctionConfig& config, const std::filesystem::path& code_dir,
                                     const std::string& region, bool memory_limit);
    void assign(std::shared_ptr<Invocation> invocation);
    /// SIGTERM, then SIGKILL after a grace; the exit watcher cleans up.
    void stop(std::string_view reason);
    void kill_now();
    bool assignable() const { return (state == State::idle || state == State::starting) && !current && !retired; }
    /// Reads the process's peak RSS now.
    unsigned peak_rss_mb() const { return process_ ? process_->peak_rss_mb() : 0; }
    /// The peak RSS as last read, read again when that was over 10 ms ago:
    /// reading /proc for each of thousands of calls a second would cost more
    /// than the rest of the call. The peak only grows, so this is a lower
    /// bound at most 10 ms old (at exit, the reaped child's ru_maxrss is exact).
    unsigned recent_peak_rss_mb();
private:
    friend class Pool;
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);
    /// Marks `inv` (the current one) handed to the runtime: starts its clock and timeout.
    void deliver(Invocation& inv);
    boost::asio::awaitable<void> output_loop();
    boost::asio::awaitable<void> exit_watch();
    boost::asio::awaitable<void> init_watch(std::chrono::milliseconds timeout);
    void drain_output();
    void append_output(std::string_view data);
    void complete(Outcome outcome, std::string payload, std::string error_type, bool timed_out = false);
    /// The idle and timeout timers are armed once and re-armed only when
    /// they fire early (a call moves a time point, not a timer).
    void arm_idle_timer();
    void arm_deadline_timer(SteadyClock::time_point at);
    void on_deadline();
    Pool& pool_;
    boost::asio::any_io_executor ex_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::unique_ptr<AsyncProcess> process_;
    /// Woken when an invocation is assigned or the instance stops.
    boost::asio::steady_timer wake_;
    boost::asio::steady_timer idle_timer_;
    bool idle_armed_ = false;
    /// Fires at (or before) the current invocation's deadline.
    boost::asio::steady_timer deadline_timer_;
    bool deadline_armed_ = false;
    boost::asio::steady_timer kill_timer_;
    unsigned sampled_rss_mb_ = 0;
    SteadyClock::time_point sampled_rss_at_{};
    std::vector<std::weak_ptr<boost::asio::ip::tcp::socket>> sockets_;
    std::string arn_;
    unsigned timeout_s_ = 3;
    unsigned memory_mb_ = 128;
};

struct PoolOptions {
    std::string region = "us-east-1";
    std::chrono::seconds keep_alive{300};
    unsigned max_instances = 64;
    std::size_t max_queued_events = 1000;
    std::size_t max_payload_bytes = 6u * 1024 * 1024;
    std::chrono::milliseconds init_timeout{10'000};
    bool apply_memory_limit = true;
    LogSink log;
};

/// Per-function runtime state: the config the instances run, their list,
/// queued Event invocations and counters.
struct FunctionSlot {
    FunctionConfig config;
    std::filesystem::path code_dir;
    std::uint64_t generation = 0;
    std::vector<std::shared_ptr<Instance>> instances;
    std::deque<std::shared_ptr<Invocation>> queued_events;
    std::uint64_t total_invocations = 0;
    std::optional<std::chrono::system_clock::time_point> last_invocation;
    std::optional<std::chrono::microseconds> last_init_duration;
    /// Stdio invocations running now.
    unsigned running_stdio = 0;
};

class Pool {
public:
    Pool(const boost::asio::any_io_executor& ex, PoolOptions options, Metrics& metrics);
    ~Pool();

    /// Adds or replaces a function's runtime config. Instances of an older
    /// generation are retired (idle ones stop now, busy ones after their call).
    void upsert(const FunctionConfig& config, const std::filesystem::path& code_dir);
    /// Changes the config only (concurrency): instances keep running.
    void update_limits(const FunctionConfig& config);
    /// Stops every instance of the function and fails its queued events.
    void remove(const std::string& name);

    /// Runs one invocation to its end (RequestResponse).
    boost::asio::awaitable<InvokeResult> invoke(std::string name, std::string payload);
    /// Queues an Event invocation; its request id, or a throttled result
    /// when the queue is full.
    std::expected<std::string, InvokeResult> invoke_async(const std::string& name, std::string payload);
    /// Starts instances until `count` are ready (or could be), waiting for
    /// their init. Returns how many are warm.
    boost::asio::awaitable<unsigned> warm(std::string name, unsigned count);

    const FunctionSlot* slot(const std::string& name) const;
    /// Fails everything in flight and stops every instance.
    void shutdown();
    bool stopping() const { return stopping_; }

    // ---- used by Instance ----
    void on_ready(Instance& instance);
    void on_completed(Instance& instance, Invocation& invocation);
    void on_exit(Instance& instance);
    /// Wakes whoever waits for an instance to get ready, stop or exit.
    void notify_instance_change();
    void log(LogLevel level, std::string_view message) const {
        if (options_.log) options_.log(level, message);
    }
    const PoolOptions& options() const { return options_; }
    Metrics& metrics() { return metrics_; }

private:
    enum class Acquire { assigned, throttled_reserved, throttled_platform, failed };
    Acquire acquire(FunctionSlot& slot, const std::shared_ptr<Invocation>& invocation, std::string& error);
    unsigned limit(const FunctionSlot& slot) const;
public:
    /// Instances not yet exited, across all functions.
    unsigned alive_total() const;

private:
    bool evict_idle(const std::string& except);
    void dispatch_queued();
    void finish_invocation(FunctionSlot& slot, Invocation& inv);
    boost::asio::awaitable<void> run_stdio(std::shared_ptr<Invocation> inv, std::string name);
    std::shared_ptr<Invocation> make_invocation(std::string payload, bool async);
    void fill_result(FunctionSlot& slot, Invocation& inv);
public:
    /// Sets the instance gauges of the metrics. Called before they are
    /// rendered, rather than on every state change of every instance.
    void update_instance_gauges();

private:

    boost::asio::any_io_executor ex_;
    PoolOptions options_;
    Metrics& metrics_;
    std::map<std::string, FunctionSlot> slots_;
    /// Instances kept alive after their function was removed, until they exit.
    std::vector<std::shared_ptr<Instance>> orphans_;
    /// Stdio children running now, to kill at shutdown.
    std::set<AsyncProcess*> stdio_running_;
    bool stopping_ = false;
    /// Never expires; cancelled to wake waiters (see notify_instance_change).
    boost::asio::steady_timer instance_changed_;
};

/// The environment of an instance: a clean base (PATH, LANG, TZ), Lambda's
/// variables, then the function's own. `runtime_api` empty for stdio.
std::vector<std::string> instance_environment(const FunctionConfig& config, const std::filesystem::path& code_dir,
                                              const std::string& region, const std::string& runtime_api,
                                              const std::string& instance_id);

}  // namespace blueprint::platform
