// The state of one run of a BlueprintRunner, shared by intake (producer
// pumps), dispatch and fan-out. Private to src/runner/.
//
// Threading: everything not marked otherwise lives on the loop executor
// (`Loop::loop_ex`, a strand, or the io_context itself when it has one
// thread) and is touched only from there. Job tasks run on their own
// executors and come back to the loop with their results.
#pragma once

#include <blueprint/runner.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <forward_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace blueprint::runner_detail {

namespace asio = boost::asio;

/// What a runner was built with. Shared, so that job tasks which outlive a run
/// (a blocking handler, a task that ignores cancellation) keep it alive.
struct Parts {
    RunnerConfig config;
    Router router;
    std::vector<std::shared_ptr<Producer>> producers;
    std::vector<std::shared_ptr<Consumer>> consumers;
    faas::FaasRegistry registry;
    std::function<void()> shutdown_handler;
};

/// Live counters. Written only from the loop (one writer at a time, ordered
/// by the strand), read from any thread, so a relaxed load+store is enough
/// and cheaper than an atomic read-modify-write on the hot path.
struct Counters {
    std::atomic<std::uint64_t> calls_received{0}, calls_finished{0}, calls_delegated{0}, results{0},
        error_results{0}, cancelled{0}, consumer_errors{0}, producer_errors{0};
    std::atomic<std::size_t> in_flight{0}, peak_in_flight{0};

    template <class T> static void add(std::atomic<T>& c, T n = 1) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    RunnerStats snapshot() const;
};

/// A wake-up for coroutines waiting on the loop: a timer that never expires
/// and is cancelled to wake every waiter. Callers re-check their condition in
/// a loop, so a spurious wake-up is harmless.
class Event {
public:
    explicit Event(const asio::any_io_executor& ex);
    /// Returns after the next `notify()` or when the wait is cancelled.
    asio::awaitable<void> wait();
    void notify() {
        if (pending_ == 0) return;  // the common case on the hot path: nobody waits
        pending_ = 0;
        timer_.cancel();
    }

private:
    asio::steady_timer timer_;
    std::size_t pending_ = 0;
};

/// A blocking handler's wait for its thread-pool job; see dispatch.cpp.
struct BlockingOp;

/// A call that has job tasks (delegated, async or blocking handlers).
/// Calls whose handlers are all inline need none of this.
struct CallState : std::enable_shared_from_this<CallState> {
    JobCall stamp;                   ///< job id and metadata (no body), stamped on results
    asio::any_io_executor task_ex;  ///< where its tasks run
    std::uint32_t running = 0;       ///< tasks not yet completed
    std::uint32_t undelivered = 0;   ///< results queued for the consumers
    bool abandoned = false;          ///< cancelled: late task results are dropped
    bool finished = false;           ///< its slot was released
    asio::cancellation_signal signal;                  ///< the first task's
    std::forward_list<asio::cancellation_signal> more;  ///< other tasks' (rare)
    std::forward_list<std::shared_ptr<BlockingOp>> blocking;
    CallState* prev = nullptr;  ///< the loop's list of calls with running tasks
    CallState* next = nullptr;
};

struct Worker;

/// A delegated call in flight. Delegated calls yield exactly one result, so
/// this is all the loop keeps of one: what to stamp on its result, and how
/// to cancel it. Pooled (`DelegationPool`), since a job parked in a slow
/// executor costs this plus its task's frames (see dispatch.cpp).
struct Delegation {
    JobId job_id;
    Metadata metadata;                 ///< the call's, stamped on its result
    asio::cancellation_signal signal;  ///< its own task's; unused on a pool worker
    union {
        Worker* worker = nullptr;  ///< in use: the pool worker running it, or null: its own task
        Delegation* next_free;     ///< free: the pool's next free slot
    };
    bool in_use = false;     ///< acquired, and its task has not reported back
    bool abandoned = false;  ///< cancelled at shutdown: its late result is dropped
};

/// Stable, reused `Delegation`s. A slot is released only when its task has
/// reported back, so a task never outlives the signal its cancellation is
/// bound to; the slot's signal keeps its handler memory for the next task.
class DelegationPool {
public:
    Delegation& acquire();
    void release(Delegation& d);
    template <class F> void for_each_in_use(F&& f) {
        for (auto& chunk : chunks_)
            for (std::size_t i = 0; i < chunk_size; ++i)
                if (chunk[i].in_use) f(chunk[i]);
    }

private:
    static constexpr std::size_t chunk_size = 128;
    std::vector<std::unique_ptr<Delegation[]>> chunks_;
    Delegation* free_ = nullptr;
};

/// How a parked pool worker is resumed: the completion handler of a
/// `use_awaitable` operation with signature void().
using WakeHandler = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

/// A long-lived coroutine that runs delegated invocations one after another
/// (dispatch.cpp): a job that finishes at once costs no task of its own.
/// Fields are handed over between the loop and the worker with the
/// resumption, so each side touches them only while the other waits.
struct Worker {
    explicit Worker(asio::any_io_executor e) : ex(std::move(e)) {}
    asio::any_io_executor ex;               ///< where it runs
    asio::cancellation_signal signal;       ///< bound to its task: cancels the current invocation
    faas::FaasExecutor* executor = nullptr;  ///< loop -> worker: what to invoke
    JobCall call;                            ///< loop -> worker: the call to invoke
    std::optional<JobResult> result;         ///< worker -> loop: the call's result
    Delegation* job = nullptr;               ///< loop only: the call it runs
    std::optional<WakeHandler> parked;       ///< loop only: set while idle
    bool exit = false;                       ///< loop -> worker: end instead of running `call`
};

/// A result waiting for the consumers.
struct Delivery {
    JobResult result;
    std::shared_ptr<CallState> call;  ///< null for a call whose handlers were all inline
    bool releases_slot = false;       ///< inline call: its last result
};

/// The thread pool for blocking handlers and how many of them run now. The
/// counter is shared with the pool's jobs, which may outlive the run.
struct BlockingPool {
    explicit BlockingPool(std::size_t threads) : pool(threads) {}
    asio::thread_pool pool;
    std::shared_ptr<std::atomic<std::size_t>> running = std::make_shared<std::atomic<std::size_t>>(0);
};

struct Loop : std::enable_shared_from_this<Loop> {
    Loop(std::shared_ptr<const Parts> parts, std::shared_ptr<Counters> counters, asio::any_io_executor io,
         bool single_threaded, BlockingPool* blocking);

    std::shared_ptr<const Parts> parts;
    const RunnerConfig& config;
    std::shared_ptr<Counters> counters;
    asio::any_io_executor io;       ///< the io_context: job tasks run here
    asio::any_io_executor loop_ex;  ///< the loop
    bool single_threaded;           ///< one io thread: no strands needed
    BlockingPool* blocking;

    // ---- loop-only state
    std::size_t max_in_flight;
    std::size_t in_flight = 0;  ///< calls pulled and not finished
    std::size_t reserved = 0;   ///< slots held by a pump awaiting next()
    std::size_t pumps_active = 0;
    bool stopping = false;   ///< shutdown began: pull nothing more
    bool shutdown_at_start = false;  ///< shutdown() came before the run
    bool run_over = false;   ///< supervise() returned
    bool fanout_closing = false;
    std::optional<Error> failure;  ///< why a stop policy ended the run
    Event slot_freed;  ///< pumps wait here for room
    Event changed;     ///< the supervisor waits here
    Event queue_ready; ///< the fan-out waits here
    std::deque<Delivery> queue;
    CallState* running_head = nullptr;
    DelegationPool delegations;
    std::size_t delegations_running = 0;  ///< in use and not abandoned
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<Worker*> idle_workers;
    std::size_t max_workers;  ///< pool size: a call finding none idle gets its own task
    static constexpr std::size_t max_pool_workers = 64;
    std::vector<std::unique_ptr<asio::cancellation_signal>> pump_signals;
    std::vector<bool> pump_active;
    asio::steady_timer grace_timer;
    bool grace_over = false;

    /// The whole run: start the pumps and the fan-out, wait for the end or
    /// shutdown, drain, cancel what is left. Runs on `loop_ex`.
    asio::awaitable<std::expected<RunnerStats, Error>> supervise();

    /// Stop pulling and start the drain. `why` is the error `run` returns
    /// (stop policies); null for a requested shutdown. Idempotent.
    void begin_shutdown(std::optional<Error> why, std::string_view reason);

    /// A pump pulled a call: count it (its slot was reserved).
    void call_received();
    /// Queues a result for the consumers. `call` or `releases_slot` say how
    /// its slot is released after delivery.
    void enqueue(JobResult&& result, std::shared_ptr<CallState> call, bool releases_slot);
    /// Called by the fan-out after a result reached every consumer.
    void delivered(const Delivery& d, bool was_error);
    void release_slot();
    void maybe_finish(CallState& call);

    std::shared_ptr<CallState> new_call(const JobCall& call, std::uint32_t tasks);
    void unlink(CallState& call);
    /// A task of `call` ended with `result` (or an exception).
    void task_done(const std::shared_ptr<CallState>& call, std::optional<JobResult>& result);
    /// Grace is over: every call still running gets one cancelled result.
    void cancel_running();
    /// Whether any call still has a task running.
    bool tasks_running() const { return running_head != nullptr || delegations_running > 0; }

    /// A delegated call's task reported back with its one result.
    void delegation_done(Delegation& d, JobResult&& result);
    /// A pool worker finished its call (its result is in `w.result`); `wake`
    /// resumes it, for the next call or to exit.
    void worker_finished(Worker& w, WakeHandler&& wake);
    /// A pool worker's task ended (normally only when told to exit).
    void worker_ended(Worker& w, const std::exception_ptr& e);
    /// End of the run: idle workers exit.
    void release_workers();

    /// A call pulled after shutdown began: it gets a cancelled result at once.
    void cancel_unstarted(JobCall call);

    asio::any_io_executor new_task_executor() const;
    void log(LogLevel level, const std::string& message) const noexcept;

private:
    asio::awaitable<void> wait_changed();
};

/// "job 7 {key=value}": how logs name a call.
std::string describe_call(const JobId& id, const Metadata& metadata);
/// what() of an exception, or a placeholder when it is not a std::exception.
std::string exception_message(const std::exception_ptr& e);
/// The error result for a handler or executor that threw.
JobResult exception_result(const std::exception_ptr& e);
/// Stamps a result with its call's job id and metadata (the result's own
/// entries win), as `JobResult::stamp_from`, consuming the metadata.
void stamp_result(JobResult& result, const JobId& job_id, Metadata&& call_metadata);

}  // namespace blueprint::runner_detail
