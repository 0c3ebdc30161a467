// `bpfaas demo`: a blueprint with one local job and one delegated job.
//
// Job 0 squares a number locally through the router. Job 1 does the same in
// the example function binary (examples/functions/square.cpp), which the
// demo starts as an HTTP function server and reaches through the custom
// HTTP FaaS executor. One call sends bad input to show an error result
// flowing to the consumer while the runner keeps going.
#include "cli.hpp"
#include "platform/process.hpp"

#include <blueprint/faas/custom.hpp>
#include <blueprint/runner.hpp>

#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>

namespace bpfaas {
namespace {

using namespace blueprint;
using clock_type = std::chrono::steady_clock;
constexpr std::string_view sequence_key = "X-DEMO-SEQ";

Bytes encode_u64(std::uint64_t v) { return MetadataValue::from_u64(v).bytes(); }

// A big-endian number of 1-8 bytes, as examples/functions/square.cpp reads it.
std::optional<std::uint64_t> decode_u64(const Bytes& b) {
    auto v = MetadataValue(b).to_u64();
    return v ? std::optional(*v) : std::nullopt;
}

JobResult square_locally(JobCall call) {
    auto n = decode_u64(call.body());
    if (!n) return JobResult::error(job_errc::handler_failed, "expected a big-endian u64 of 1-8 bytes");
    if (*n > 0xFFFFFFFFull) return JobResult::error(job_errc::handler_failed, "square overflows u64");
    return JobResult::ok(encode_u64(*n * *n));
}

/// Yields the demo's calls and notes when each left, for the latency column.
class TimedProducer final : public Producer {
public:
    TimedProducer(std::vector<JobCall> calls, std::map<std::uint64_t, clock_type::time_point>& sent, std::mutex& m)
        : inner_(std::move(calls)), sent_(sent), mutex_(m) {}
    awaitable<std::optional<JobCall>> next() override {
        auto call = co_await inner_.next();
        if (call) {
            auto seq = call->metadata().get(sequence_key)->to_u64().value();
            std::lock_guard lock(mutex_);
            sent_[seq] = clock_type::now();
        }
        co_return call;
    }

private:
    VectorProducer inner_;
    std::map<std::uint64_t, clock_type::time_point>& sent_;
    std::mutex& mutex_;
};

struct Row {
    std::string where;
    std::size_t calls = 0, ok = 0, errors = 0;
    std::vector<double> latencies_ms;
};

/// Prints each result as it arrives and keeps the numbers for the table.
class PrintingConsumer final : public Consumer {
public:
    PrintingConsumer(std::map<std::uint64_t, clock_type::time_point>& sent, std::mutex& m, std::map<std::uint64_t, Row>& rows,
                     std::map<std::uint64_t, std::uint64_t>& inputs)
        : sent_(sent), mutex_(m), rows_(rows), inputs_(inputs) {}

    awaitable<void> send(JobResult result) override {
        auto seq = result.metadata().get(sequence_key)->to_u64().value();
        double ms;
        {
            std::lock_guard lock(mutex_);
            ms = std::chrono::duration<double, std::milli>(clock_type::now() - sent_.at(seq)).count();
        }
        auto job = result.job_id().to_u64().value();
        auto& row = rows_[job];
        ++row.calls;
        row.latencies_ms.push_back(ms);
        std::string input = inputs_.contains(seq) ? std::to_string(inputs_.at(seq)) : "<bad input>";
        if (result.is_ok()) {
            ++row.ok;
            std::printf("  job %llu  call %-2llu  square(%s) = %llu   [%s, %.2f ms]\n", (unsigned long long)job,
                        (unsigned long long)seq, input.c_str(), (unsigned long long)*decode_u64(result.body()),
                        row.where.c_str(), ms);
        } else {
            ++row.errors;
            std::printf("  job %llu  call %-2llu  error: %s (%s)   [%s, %.2f ms]\n", (unsigned long long)job,
                        (unsigned long long)seq, result.error().message.c_str(), result.error().code.message().c_str(),
                        row.where.c_str(), ms);
        }
        std::fflush(stdout);
        co_return;
    }

private:
    std::map<std::uint64_t, clock_type::time_point>& sent_;
    std::mutex& mutex_;
    std::map<std::uint64_t, Row>& rows_;
    std::map<std::uint64_t, std::uint64_t>& inputs_;
};

std::string default_function_path() {
    namespace fs = std::filesystem;
    fs::path exe = platform::current_executable_path();
    // Build tree: build/apps/bpfaas/bpfaas -> build/examples/square.
    for (auto candidate : {exe.parent_path() / "../../examples/square", exe.parent_path() / "square"})
        if (fs::exists(candidate)) return fs::weakly_canonical(candidate).string();
    return {};
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

int run_demo(std::string function_path, std::size_t calls_per_job) {
    if (function_path.empty()) function_path = default_function_path();
    if (function_path.empty() || !std::filesystem::exists(function_path)) {
        std::cerr << "bpfaas demo: the example function binary was not found; build the project first or pass --function PATH\n";
        return 1;
    }

    std::printf("blueprint-faas demo\n");
    std::printf("  starting function server: %s --port 0\n", function_path.c_str());
    platform::ProcessOptions options{.argv = {function_path, "--port", "0"},
                                     .unset_env = {"PORT", "AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT"},
                                     .pipe_stderr = true};
    auto function = platform::ChildProcess::spawn(options);
    if (!function) {
        std::cerr << "bpfaas demo: " << function.error().message << "\n";
        return 1;
    }
    auto line = function->wait_for_stderr("listening on", std::chrono::seconds(15));
    auto port = line ? platform::parse_listening_port(*line) : std::nullopt;
    if (!port) {
        std::cerr << "bpfaas demo: the function server did not report its port\n";
        return 1;
    }
    std::string url = "http://127.0.0.1:" + std::to_string(*port);
    std::printf("  function server listening at %s\n\n", url.c_str());

    faas::FaasConfig config;
    config.timeout_secs = 10;
    auto http = faas::custom::HttpFaasExecutor(url).with_default_config(config);

    std::map<std::uint64_t, clock_type::time_point> sent;
    std::map<std::uint64_t, std::uint64_t> inputs;
    std::map<std::uint64_t, Row> rows;
    rows[0].where = "local router";
    rows[1].where = "custom-http " + url;
    std::mutex mutex;

    std::vector<JobCall> calls;
    std::uint64_t seq = 0;
    for (std::uint64_t i = 1; i <= calls_per_job; ++i)
        for (std::uint64_t job : {0ull, 1ull}) {
            Metadata md;
            md.insert(std::string(sequence_key), MetadataValue::from_u64(seq));
            md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(seq));
            std::uint64_t n = i * 10 + job;
            inputs[seq] = n;
            calls.emplace_back(JobId(job), encode_u64(n), std::move(md));
            ++seq;
        }
    {
        // A malformed call: the function answers with an error result.
        Metadata md;
        md.insert(std::string(sequence_key), MetadataValue::from_u64(seq));
        calls.emplace_back(JobId(1), to_bytes("not a number"), std::move(md));
    }

    Router router;
    router.route(0, square_locally);

    std::printf("  results:\n");
    auto stats = BlueprintRunner::builder(RunnerConfig{.log = spdlog_sink()})
                     .router(router)
                     .producer(std::make_shared<TimedProducer>(std::move(calls), sent, mutex))
                     .consumer(std::make_shared<PrintingConsumer>(sent, mutex, rows, inputs))
                     .with_faas_executor(1, http)
                     .run();
    function->signal(SIGTERM);
    function->wait(std::chrono::seconds(5));
    if (!stats) {
        std::cerr << "bpfaas demo: runner failed: " << stats.error().to_string() << "\n";
        return 1;
    }

    std::printf("\n  %-4s %-40s %6s %4s %7s %9s %9s\n", "job", "ran on", "calls", "ok", "errors", "p50 ms", "max ms");
    for (auto& [job, row] : rows)
        std::printf("  %-4llu %-40s %6zu %4zu %7zu %9.2f %9.2f\n", (unsigned long long)job, row.where.c_str(), row.calls,
                    row.ok, row.errors, percentile(row.latencies_ms, 0.5), percentile(row.latencies_ms, 1.0));
    std::printf("\n  %llu calls, %llu results (%llu errors, all delivered), %llu delegated\n",
                (unsigned long long)stats->calls_received, (unsigned long long)stats->results,
                (unsigned long long)stats->error_results, (unsigned long long)stats->calls_delegated);
    // The one malformed call is expected to fail; anything else is a real failure.
    return stats->error_results == 1 && stats->results == stats->calls_received ? 0 : 1;
}

}  // namespace

Action add_demo(CLI::App& app) {
    auto* cmd = app.add_subcommand("demo", "Run the demo blueprint: job 0 locally, job 1 on an HTTP function");
    auto function_path = std::make_shared<std::string>();
    auto calls = std::make_shared<std::size_t>(4);
    cmd->add_option("--function", *function_path, "function binary to serve job 1 (default: the built examples/square)");
    cmd->add_option("--calls", *calls, "calls per job")->capture_default_str()->check(CLI::Range(1, 100000));
    return [=] { return run_demo(*function_path, *calls); };
}

}  // namespace bpfaas
