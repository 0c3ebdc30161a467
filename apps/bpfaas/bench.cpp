// `bpfaas bench http`: closed-loop load on one HTTP function through the
// custom executor, for comparison with wrk against the same server.
#include "cli.hpp"

#include <blueprint/faas/custom.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

namespace bpfaas {
namespace {

using namespace blueprint;
using clock_type = std::chrono::steady_clock;

struct BenchArgs {
    std::string url;
    std::size_t concurrency = 16;
    double duration_s = 5;
    double warmup_s = 1;
    std::string format = "json";
    std::size_t payload_bytes = 64;
    std::string job = "0";
    std::size_t threads = 1;
};

struct Worker {
    std::vector<std::uint32_t> latencies_us;
    std::uint64_t errors = 0;
};

boost::asio::awaitable<void> drive(faas::custom::HttpFaasExecutor& executor, JobCall call, clock_type::time_point measure_from,
                      clock_type::time_point stop_at, Worker& worker) {
    while (clock_type::now() < stop_at) {
        auto t0 = clock_type::now();
        auto result = co_await executor.invoke(call);
        auto t1 = clock_type::now();
        if (t0 < measure_from) continue;
        if (!result || result->is_error() || result->body().size() != call.body().size()) ++worker.errors;
        worker.latencies_us.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
    }
}

int run_bench(const BenchArgs& a) {
    auto job = JobId::parse(a.job);
    if (!job) {
        std::fprintf(stderr, "bpfaas bench: --job is not a job id\n");
        return 2;
    }
    Bytes payload(a.payload_bytes);
    std::mt19937 rng(42);
    for (auto& b : payload) b = static_cast<std::uint8_t>(rng());

    faas::custom::HttpFaasExecutor executor(a.url);
    executor.with_wire_format(a.format == "binary" ? faas::custom::WireFormat::binary : faas::custom::WireFormat::json);

    boost::asio::io_context ioc(static_cast<int>(a.threads));
    std::vector<Worker> workers(a.concurrency);
    auto start = clock_type::now();
    auto measure_from = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(a.warmup_s));
    auto stop_at = measure_from + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(a.duration_s));
    for (auto& w : workers)
        boost::asio::co_spawn(ioc, drive(executor, JobCall(*job, payload), measure_from, stop_at, w), boost::asio::detached);
    std::vector<std::thread> extra;
    for (std::size_t i = 1; i < a.threads; ++i) extra.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : extra) t.join();

    std::vector<std::uint32_t> all;
    std::uint64_t errors = 0;
    for (auto& w : workers) {
        all.insert(all.end(), w.latencies_us.begin(), w.latencies_us.end());
        errors += w.errors;
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) -> std::uint32_t {
        if (all.empty()) return 0;
        return all[std::min(all.size() - 1, static_cast<std::size_t>(p * static_cast<double>(all.size())))];
    };
    std::printf("{\"requests_per_sec\":%.1f,\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u,\"errors\":%llu,"
                "\"requests\":%zu,\"concurrency\":%zu,\"format\":\"%s\",\"payload_bytes\":%zu}\n",
                static_cast<double>(all.size()) / a.duration_s, pct(0.5), pct(0.99), pct(0.999),
                static_cast<unsigned long long>(errors), all.size(), a.concurrency, a.format.c_str(), a.payload_bytes);
    return errors == 0 ? 0 : 1;
}

}  // namespace

Action add_bench(CLI::App& app) {
    auto* cmd = app.add_subcommand("bench", "Load-test a target and print one JSON line of figures");
    cmd->require_subcommand(1);
    auto* http = cmd->add_subcommand("http", "Closed-loop invocations of one HTTP function via the custom executor");
    auto a = std::make_shared<BenchArgs>();
    http->add_option("--url", a->url, "base URL of the function server")->required();
    http->add_option("--concurrency,-c", a->concurrency, "requests in flight")->capture_default_str()->check(CLI::Range(1, 10000));
    http->add_option("--duration", a->duration_s, "seconds measured")->capture_default_str()->check(CLI::PositiveNumber);
    http->add_option("--warmup", a->warmup_s, "seconds run before measuring")->capture_default_str();
    http->add_option("--format", a->format, "wire format")->capture_default_str()->check(CLI::IsMember({"json", "binary"}));
    http->add_option("--payload-bytes", a->payload_bytes, "size of the job arguments")->capture_default_str();
    http->add_option("--job", a->job, "job id (the echo job of the test function is 0)")->capture_default_str();
    http->add_option("--threads", a->threads, "event-loop threads")->capture_default_str()->check(CLI::Range(1, 64));
    return [a] { return run_bench(*a); };
}

}  // namespace bpfaas
