// Warm-invoke throughput of aws::LambdaExecutor through the local platform
// (`bpfaas local`, SigV4 verification on, function as Lambda instances)
// against custom::HttpFaasExecutor calling the SAME function binary in HTTP
// mode: closed loop, `--concurrency` calls in flight, Blueprint JSON echo
// (job 0 of tests/test_function) with `--payload` bytes of args.
//
//   build/bench/bench_lambda --bpfaas build/apps/bpfaas/bpfaas
//       --function build/tests/test_function [--concurrency 16] [--seconds 5] [--payload 64]
//   (one command line)
//
// Prints one line per executor (calls/s, p50, p99) and the ratio. The
// Lambda path pays SigV4 signing, the platform's hop and the Runtime API
// round trip per call; the target is >= 0.7x of the direct HTTP path.
// Not a Google Benchmark: it drives two real processes, so it has its own main.
#include "bench_child.hpp"

#include <blueprint/faas/aws.hpp>
#include <blueprint/faas/custom.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <unistd.h>


namespace {

using bench::Child;
using namespace blueprint;
using namespace std::chrono;
namespace asio = boost::asio;
namespace fs = std::filesystem;


struct Figures {
    double rps = 0;
    double p50_us = 0, p99_us = 0;
    std::size_t errors = 0;
    std::size_t calls = 0;
};

/// `concurrency` workers call `exec` back to back; the first `warmup` is not counted.
Figures closed_loop(faas::FaasExecutor& exec, std::size_t concurrency, seconds warmup, seconds measure, std::size_t payload) {
    asio::io_context ioc;
    std::vector<double> lat;
    std::size_t errors = 0;
    const auto start = steady_clock::now();
    const auto measure_from = start + warmup;
    const auto stop_at = measure_from + measure;
    for (std::size_t w = 0; w < concurrency; ++w) {
        auto worker = [&]() -> asio::awaitable<void> {
            Bytes args(payload, 'x');
            while (steady_clock::now() < stop_at) {
                JobCall call(0, args);
                const auto t0 = steady_clock::now();
                auto r = co_await exec.invoke(std::move(call));
                const auto t1 = steady_clock::now();
                if (t0 < measure_from || t1 > stop_at) continue;
                if (!r || !r->is_ok() || r->body() != args) {
                    if (errors++ == 0) std::cerr << "error: " << (r ? (r->is_ok() ? "wrong body" : r->error().message) : r.error().to_string()) << "\n";
                    continue;
                }
                lat.push_back(duration<double, std::micro>(t1 - t0).count());
            }
        };
        asio::co_spawn(ioc, worker, asio::detached);
    }
    ioc.run();
    Figures f;
    f.errors = errors;
    f.calls = lat.size();
    f.rps = static_cast<double>(lat.size()) / duration<double>(measure).count();
    std::sort(lat.begin(), lat.end());
    if (!lat.empty()) {
        f.p50_us = lat[lat.size() / 2];
        f.p99_us = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
    }
    return f;
}

void print(const char* name, const Figures& f) {
    std::printf("%-34s %9.0f calls/s   p50 %7.0f us   p99 %7.0f us   (%zu calls, %zu errors)\n", name, f.rps, f.p50_us,
                f.p99_us, f.calls, f.errors);
}

}  // namespace

int main(int argc, char** argv) {
    std::string bpfaas, function;
    std::size_t concurrency = 16, payload = 64;
    long secs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view k = argv[i];
        if (k == "--bpfaas") bpfaas = argv[i + 1];
        else if (k == "--function") function = argv[i + 1];
        else if (k == "--concurrency") concurrency = std::stoul(argv[i + 1]);
        else if (k == "--seconds") secs = std::stol(argv[i + 1]);
        else if (k == "--payload") payload = std::stoul(argv[i + 1]);
        else {
            std::cerr << "unknown option " << k << "\n";
            return 2;
        }
    }
    if (bpfaas.empty() || function.empty()) {
        std::cerr << "usage: bench_lambda --bpfaas PATH --function PATH [--concurrency 16] [--seconds 5] [--payload 64]\n";
        return 2;
    }
    char tmpl[] = "/tmp/bench-lambda-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    const fs::path dir = tmpl;

    faas::http::ClientOptions client;
    client.use_env_proxy = false;

    Figures lambda_f, http_f;
    {
        Child platform({bpfaas, "local", "--port", "0", "--data-dir", (dir / "data").string(), "--aws-credentials",
                        "AKIDBENCH:benchsecret", "--no-memory-limit", "--max-instances", std::to_string(concurrency * 2)},
                       {}, dir / "platform.log");
        faas::aws::LambdaOptions o;
        o.region = "us-east-1";
        o.role_arn = "arn:aws:iam::123456789012:role/bench";
        o.endpoint_url = "http://127.0.0.1:" + std::to_string(platform.port());
        o.credentials = faas::aws::StaticCredentials{"AKIDBENCH", "benchsecret"};
        o.use_imds = false;
        o.http = client;
        o.poll_initial = 20ms;
        auto lambda = faas::aws::LambdaExecutor::create(o);
        if (!lambda) {
            std::cerr << lambda.error().to_string() << "\n";
            return 1;
        }
        std::ifstream in(function, std::ios::binary);
        Bytes binary(std::istreambuf_iterator<char>(in), {});
        asio::io_context ioc;
        std::optional<faas::Result<faas::FaasDeployment>> deployed;
        std::optional<faas::Result<void>> warmed;
        auto setup = [&]() -> asio::awaitable<void> {
            faas::FaasConfig config;
            config.timeout_secs = 60;
            deployed = co_await (*lambda)->deploy_job(0, std::move(binary), config);
            if (*deployed) warmed = co_await (*lambda)->warm(0, concurrency);
        };
        asio::co_spawn(ioc, setup, asio::detached);
        ioc.run();
        if (!deployed || !*deployed || !warmed || !*warmed) {
            std::cerr << "deploy/warm failed: "
                      << (deployed && !*deployed ? deployed->error().to_string()
                                                 : warmed && !*warmed ? warmed->error().to_string() : "?")
                      << "\n";
            return 1;
        }
        lambda_f = closed_loop(**lambda, concurrency, 1s, seconds(secs), payload);
    }
    {
        Child fn({function}, {"PORT=0"}, dir / "function.log");
        faas::custom::HttpFaasExecutor http("http://127.0.0.1:" + std::to_string(fn.port()), client);
        // Same wire format as the Lambda path (its events are JSON).
        http.with_wire_format(faas::custom::WireFormat::json);
        http_f = closed_loop(http, concurrency, 1s, seconds(secs), payload);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);

    std::printf("warm invokes, c=%zu, %zu B args, %ld s measured, %u cores\n", concurrency, payload, secs,
                std::thread::hardware_concurrency());
    print("LambdaExecutor via bpfaas local", lambda_f);
    print("HttpFaasExecutor direct (HTTP)", http_f);
    const double ratio = http_f.rps > 0 ? lambda_f.rps / http_f.rps : 0;
    std::printf("ratio lambda/http: %.2fx (target >= 0.70x)\n", ratio);
    return lambda_f.errors || http_f.errors ? 1 : 0;
}
