// Consumers: where job results go.
#pragma once

#include <blueprint/job.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

namespace blueprint {

/// A sink of job results.
///
/// The runner delivers every result to every consumer, and never calls one
/// consumer's `send` concurrently with itself: calls are serialised on the
/// runner's loop, in completion order. A thrown exception is logged and
/// counted; the result still goes to the other consumers.
class Consumer {
public:
    virtual ~Consumer() = default;
    virtual boost::asio::awaitable<void> send(JobResult result) = 0;
    virtual std::string name() const { return "consumer"; }
};

/// Keeps every result. Thread-safe to read while the runner runs.
class CollectingConsumer final : public Consumer {
public:
    boost::asio::awaitable<void> send(JobResult result) override;
    std::string name() const override { return "collecting"; }

    std::vector<JobResult> results() const;
    std::size_t size() const;
    /// Blocks the calling thread until at least `n` results arrived or the
    /// timeout passed; returns whether they arrived.
    bool wait_for(std::size_t n, std::chrono::milliseconds timeout) const;

private:
    struct State;
    std::shared_ptr<State> state_ = make_state();
    static std::shared_ptr<State> make_state();
};

/// Writes one JSON object per result and flushes after each:
/// `{"job_id":"7","ok":true,"result":[..],"metadata":{...}}` or
/// `{"job_id":"7","ok":false,"error":{"code":"faas.timeout","message":"..."}}`.
/// Sensitive metadata values are written as "<redacted>".
class JsonLinesConsumer final : public Consumer {
public:
    /// Writes to `path` (appending); "-" means stdout.
    explicit JsonLinesConsumer(std::filesystem::path path);
    /// Writes to a stream that must outlive the consumer.
    explicit JsonLinesConsumer(std::ostream& out);
    ~JsonLinesConsumer() override;
    boost::asio::awaitable<void> send(JobResult result) override;
    std::string name() const override { return "json-lines"; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The JSON-lines form of one result (see JsonLinesConsumer).
std::string job_result_to_json(const JobResult& result);

}  // namespace blueprint
