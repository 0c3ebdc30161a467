// Producers: where job calls come from.
#pragma once

#include <blueprint/job.hpp>
#include <blueprint/log.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace blueprint {

/// A source of job calls.
///
/// The runner calls `next` from one coroutine at a time per producer, and
/// only when it has room for another job (backpressure). `std::nullopt`
/// means the producer is finished. A thrown exception is a producer error,
/// handled by `RunnerConfig::on_producer_error`. Cancellation: the runner
/// cancels a pending `next` at shutdown (per-operation terminal cancellation);
/// producers that wait must honour it.
class Producer {
public:
    virtual ~Producer() = default;
    virtual boost::asio::awaitable<std::optional<JobCall>> next() = 0;
    /// For logs.
    virtual std::string name() const { return "producer"; }
};

/// Yields the given calls in order, then ends.
class VectorProducer final : public Producer {
public:
    explicit VectorProducer(std::vector<JobCall> calls);
    boost::asio::awaitable<std::optional<JobCall>> next() override;
    std::string name() const override { return "vector"; }

private:
    std::vector<JobCall> calls_;
    std::size_t next_ = 0;
};

/// A thread-safe in-memory channel. `send` from any thread; the runner
/// drains it through `producer()`. `close()` ends the producer once the
/// queued calls are taken.
class JobChannel {
public:
    /// `capacity` bounds the queue: `try_send` fails and `send` blocks when full.
    explicit JobChannel(std::size_t capacity = 1024);
    ~JobChannel();

    /// Queues a call; false when full or closed.
    bool try_send(JobCall call);
    /// Queues a call, blocking the calling thread while full. False when closed.
    /// Must not be called from the runner's own threads.
    bool send(JobCall call);
    void close();
    bool is_closed() const;

    std::shared_ptr<Producer> producer();

private:
    struct State;
    std::shared_ptr<State> state_;
};

/// Reads one job call per line. A line is the Blueprint JSON request
/// `{"job_id":7,"args":[1,2]}`, optionally with `"metadata":{"key":[bytes]|"text"}`;
/// `job_id` may be a number or a hex string "0x..." for full-width ids.
/// Blank lines and lines starting with '#' are skipped. A malformed line is
/// reported to the log sink with its line number and skipped; nothing else
/// is dropped. Lines longer than `max_line_bytes` are refused the same way.
class JsonLinesProducer final : public Producer {
public:
    /// Reads `path`; "-" means stdin.
    explicit JsonLinesProducer(std::filesystem::path path, LogSink log = stderr_log_sink(),
                               std::size_t max_line_bytes = 16 * 1024 * 1024);
    /// Reads an already open stream, which must outlive the producer.
    explicit JsonLinesProducer(std::istream& in, LogSink log = stderr_log_sink(),
                               std::size_t max_line_bytes = 16 * 1024 * 1024);
    ~JsonLinesProducer() override;
    boost::asio::awaitable<std::optional<JobCall>> next() override;
    std::string name() const override;

    /// Lines skipped as malformed so far.
    std::size_t malformed_lines() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Produces `JobCall(job_id, body)` every `period`, `count` times (0 for
/// ever). The first call comes after one period.
class IntervalProducer final : public Producer {
public:
    IntervalProducer(std::chrono::milliseconds period, JobId job_id, Bytes body = {}, std::size_t count = 0);
    boost::asio::awaitable<std::optional<JobCall>> next() override;
    std::string name() const override { return "interval"; }

private:
    std::chrono::milliseconds period_;
    JobId job_id_;
    Bytes body_;
    std::size_t count_;
    std::size_t produced_ = 0;
    std::optional<std::chrono::steady_clock::time_point> next_at_;
};

/// Parses one JSON-lines request line (the format of JsonLinesProducer).
std::expected<JobCall, Error> parse_job_call_json(std::string_view line);

}  // namespace blueprint
