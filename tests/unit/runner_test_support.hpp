// Test doubles for the runner tests: a scripted FaaS executor, producers and
// a tallying consumer.
#pragma once

#include <blueprint/runner.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace blueprint::test {

namespace asio = boost::asio;

/// A log sink that drops everything (the tests provoke many failures).
inline LogSink quiet_log() {
    return [](LogLevel, std::string_view) {};
}

/// A runner config for tests: silent, and leaving signals to the test.
inline RunnerConfig quiet_config() {
    RunnerConfig c;
    c.log = quiet_log();
    c.handle_signals = false;
    return c;
}

/// Waits on a timer of the awaiting coroutine's executor.
inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

/// Metadata key carrying each call's unique number.
inline constexpr std::string_view seq_key = "seq";

inline JobCall numbered_call(JobId job, std::uint64_t seq, Bytes body = {}) {
    Metadata md;
    md.insert(std::string(seq_key), MetadataValue::from_u64(seq));
    md.insert(std::string(metadata_keys::call_id), MetadataValue("call-" + std::to_string(seq)));
    return JobCall(job, std::move(body), std::move(md));
}

inline std::uint64_t seq_of(const JobCall& c) { return c.metadata().get(seq_key)->to_u64().value(); }

inline std::uint64_t seq_of(const JobResult& r) {
    const MetadataValue* v = r.metadata().get(seq_key);
    if (!v) throw std::runtime_error("result without its call's seq metadata");
    return v->to_u64().value();
}

/// The first body byte picks what the executor does:
/// 'o' echo the body, 'e' a throttled FaasError, 't' throw, 's' wait body[1]
/// ms then echo, 'p' park until cancelled (a job that never finishes).
class ScriptedExecutor final : public faas::FaasExecutor {
public:
    faas::awaitable<faas::Result<JobResult>> invoke(JobCall call) override {
        const int now = ++concurrent;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        ++invocations;
        struct Leave {
            std::atomic<int>& c;
            ~Leave() { --c; }
        } leave{concurrent};

        const char mode = call.body().empty() ? 'o' : static_cast<char>(call.body()[0]);
        if (mode == 'e') {
            faas::FaasError e = faas::FaasError::make(faas::faas_errc::throttled, "slow down");
            e.function_error_type = "TooManyRequestsException";
            co_return std::unexpected(std::move(e));
        }
        if (mode == 't') throw std::runtime_error("executor exploded");
        if (mode == 's' || mode == 'p') {
            asio::steady_timer timer(co_await asio::this_coro::executor);
            if (mode == 's') timer.expires_after(std::chrono::milliseconds(call.body().size() > 1 ? call.body()[1] : 1));
            else timer.expires_at(asio::steady_timer::time_point::max());
            ++parked;
            parked.notify_all();
            co_await timer.async_wait(asio::use_awaitable);  // throws when cancelled
        }
        Metadata md;
        md.insert("executor", MetadataValue("scripted"));
        co_return JobResult::ok(std::move(md), call.body());
    }
    faas::awaitable<faas::Result<bool>> health_check(JobId) override { co_return true; }
    std::string_view provider_name() const noexcept override { return "scripted"; }

    std::atomic<int> concurrent{0}, peak{0}, invocations{0}, parked{0};
};

/// Yields `calls`, then throws (when `fail_after` is set) or ends.
class ScriptedProducer final : public Producer {
public:
    explicit ScriptedProducer(std::vector<JobCall> calls, bool fail_at_end = false)
        : calls_(std::move(calls)), fail_at_end_(fail_at_end) {}
    asio::awaitable<std::optional<JobCall>> next() override {
        ++pulls;
        if (hook) hook(next_);
        if (next_ < calls_.size()) co_return std::move(calls_[next_++]);
        if (fail_at_end_) throw std::runtime_error("producer broke");
        co_return std::nullopt;
    }
    std::string name() const override { return "scripted"; }

    std::function<void(std::size_t)> hook;  ///< called before each pull, on the loop
    std::size_t pulls = 0;

private:
    std::vector<JobCall> calls_;
    std::size_t next_ = 0;
    bool fail_at_end_;
};

/// Yields `calls`, then waits for ever (honouring cancellation): a live
/// source such as a chain listener.
class OpenProducer final : public Producer {
public:
    explicit OpenProducer(std::vector<JobCall> calls) : calls_(std::move(calls)) {}
    asio::awaitable<std::optional<JobCall>> next() override {
        if (next_ < calls_.size()) co_return std::move(calls_[next_++]);
        asio::steady_timer forever(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
        waiting = true;
        waiting.notify_all();
        if (on_wait) on_wait();
        co_await forever.async_wait(asio::use_awaitable);
        co_return std::nullopt;
    }
    std::atomic<bool> waiting{false};
    std::function<void()> on_wait;  ///< called on the loop when it starts waiting

private:
    std::vector<JobCall> calls_;
    std::size_t next_ = 0;
};

/// Counts results per call (by the seq metadata). Called on the runner's
/// loop only; read after the run has returned, or through wait_for.
class TallyConsumer final : public Consumer {
public:
    explicit TallyConsumer(std::size_t calls) : ok(calls), errors(calls), last_error(calls), job(calls) {}

    asio::awaitable<void> send(JobResult r) override {
        if (in_send_.exchange(true)) concurrent_sends = true;
        const auto seq = seq_of(r);
        if (r.is_ok()) {
            ++ok.at(seq);
        } else {
            ++errors.at(seq);
            last_error.at(seq) = r.error();
        }
        job.at(seq) = r.job_id();
        if (keep) kept.push_back(r);
        in_send_ = false;
        {
            std::lock_guard lock(mutex_);
            ++total_;
        }
        cv_.notify_all();
        co_return;
    }
    std::size_t total() const {
        std::lock_guard lock(mutex_);
        return total_;
    }
    bool wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return total_ >= n; });
    }

    std::vector<std::uint32_t> ok, errors;
    std::vector<JobError> last_error;
    std::vector<JobId> job;
    bool keep = false;
    std::vector<JobResult> kept;
    bool concurrent_sends = false;

private:
    std::atomic<bool> in_send_{false};
    mutable std::mutex mutex_;
    mutable std::condition_variable cv_;
    std::size_t total_ = 0;
};

/// Blocks until `a` reaches at least `n` (the writer must notify).
template <class T> void wait_at_least(const std::atomic<T>& a, T n) {
    for (T v = a.load(); v < n; v = a.load()) a.wait(v);
}
inline void wait_true(const std::atomic<bool>& a) {
    while (!a.load()) a.wait(false);
}

/// A flag that one thread sets and another waits for.
class Latch {
public:
    void open() {
        {
            std::lock_guard lock(m_);
            open_ = true;
        }
        cv_.notify_all();
    }
    bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        std::unique_lock lock(m_);
        return cv_.wait_for(lock, timeout, [&] { return open_; });
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = false;
};

}  // namespace blueprint::test
