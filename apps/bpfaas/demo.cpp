// `bpfaas demo`: one blueprint with a local job and delegated jobs.
//
// Default (`--mode platform`): the demo starts the local FaaS platform
// in-process (the same LocalPlatform `bpfaas local` runs) on 127.0.0.1 port 0
// with a temporary data directory, deploys the example function
// (examples/functions/square.cpp) twice through the platform's two APIs, and
// runs the blueprint:
//   job 0  squares locally through the router;
//   job 1  runs on the function deployed with the custom platform API
//          (custom::HttpFaasExecutor::platform);
//   job 2  runs on the function deployed with the AWS Lambda API
//          (aws::LambdaExecutor, SigV4-signed; the platform verifies it).
// `--mode http` is the older, smaller demo: the function binary runs as a
// plain HTTP function server and job 1 is POSTed to it directly.
//
// In both modes one malformed call per delegated job shows an error result
// flowing to the consumer while the runner keeps going. Every result is
// checked against the expected square (or the expected error), and in
// platform mode the platform's own /metrics must count every invocation:
// the exit code is 0 only when all of that holds.
#include "cli.hpp"
#include "platform/process.hpp"

#include <blueprint/faas/aws.hpp>
#include <blueprint/faas/custom.hpp>
#include <blueprint/faas/http_client.hpp>
#include <blueprint/platform.hpp>
#include <blueprint/runner.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>

namespace bpfaas {
namespace {

using namespace blueprint;
namespace fs = std::filesystem;
namespace custom = blueprint::faas::custom;
namespace aws = blueprint::faas::aws;
using clock_type = std::chrono::steady_clock;
constexpr std::string_view sequence_key = "X-DEMO-SEQ";
// Both the local handler and examples/square say this on bad input; seeing
// it proves the error came from the function, not from the transport.
constexpr std::string_view bad_input_marker = "big-endian";

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

/// One delegated job of the blueprint.
struct Delegated {
    JobId job;
    std::string where;
    std::shared_ptr<faas::FaasExecutor> executor;
};

/// What each call is expected to give: a square, or (nullopt) the function's
/// bad-input error.
struct Expectation {
    std::optional<std::uint64_t> input;
};

struct Row {
    std::string where;
    std::size_t calls = 0, ok = 0, errors = 0;
    std::vector<double> latencies_ms;
};

/// Shared between the producer, the consumer and the report.
struct Ledger {
    std::mutex mutex;
    std::map<std::uint64_t, clock_type::time_point> sent;
    std::map<std::uint64_t, Expectation> expected;
    std::map<std::uint64_t, Row> rows;
    std::size_t unexpected = 0;
};

/// Yields the demo's calls and notes when each left, for the latency column.
class TimedProducer final : public Producer {
public:
    TimedProducer(std::vector<JobCall> calls, Ledger& ledger) : inner_(std::move(calls)), ledger_(ledger) {}
    awaitable<std::optional<JobCall>> next() override {
        auto call = co_await inner_.next();
        if (call) {
            auto seq = call->metadata().get(sequence_key)->to_u64().value();
            std::lock_guard lock(ledger_.mutex);
            ledger_.sent[seq] = clock_type::now();
        }
        co_return call;
    }

private:
    VectorProducer inner_;
    Ledger& ledger_;
};

/// Prints each result as it arrives, checks it, and keeps the numbers for the table.
class CheckingConsumer final : public Consumer {
public:
    explicit CheckingConsumer(Ledger& ledger) : ledger_(ledger) {}

    awaitable<void> send(JobResult result) override {
        auto seq = result.metadata().get(sequence_key)->to_u64().value();
        auto job = result.job_id().to_u64().value();
        std::lock_guard lock(ledger_.mutex);
        const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - ledger_.sent.at(seq)).count();
        const auto& expect = ledger_.expected.at(seq);
        auto& row = ledger_.rows[job];
        ++row.calls;
        row.latencies_ms.push_back(ms);
        const std::string input = expect.input ? std::to_string(*expect.input) : "<bad input>";
        bool as_expected;
        if (result.is_ok()) {
            ++row.ok;
            auto value = decode_u64(result.body());
            as_expected = expect.input && value && *value == *expect.input * *expect.input;
            std::printf("  job %llu  call %-2llu  square(%s) = %s   [%s, %.2f ms]%s\n", (unsigned long long)job,
                        (unsigned long long)seq, input.c_str(),
                        value ? std::to_string(*value).c_str() : "<not a u64>", row.where.c_str(), ms,
                        as_expected ? "" : "   UNEXPECTED");
        } else {
            ++row.errors;
            as_expected = !expect.input && result.error().message.find(bad_input_marker) != std::string::npos;
            std::printf("  job %llu  call %-2llu  square(%s): error: %s (%s)   [%s, %.2f ms]%s\n",
                        (unsigned long long)job, (unsigned long long)seq, input.c_str(),
                        result.error().message.c_str(), result.error().code.message().c_str(), row.where.c_str(), ms,
                        as_expected ? " (expected)" : "   UNEXPECTED");
        }
        if (!as_expected) ++ledger_.unexpected;
        std::fflush(stdout);
        co_return;
    }

private:
    Ledger& ledger_;
};

std::string default_function_path() {
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

void say(const char* format, const std::string& arg = {}) {
    std::printf(format, arg.c_str());
    std::fflush(stdout);
}

/// Runs job 0 locally and each delegated job on its executor; prints the
/// results and the table. True when every call gave its expected result.
bool run_blueprint(const std::vector<Delegated>& delegated, std::size_t calls_per_job) {
    Ledger ledger;
    ledger.rows[0].where = "local router";
    for (const auto& d : delegated) ledger.rows[d.job.to_u64().value()].where = d.where;

    std::vector<JobCall> calls;
    std::uint64_t seq = 0;
    auto add_call = [&](std::uint64_t job, Bytes body, std::optional<std::uint64_t> input) {
        Metadata md;
        md.insert(std::string(sequence_key), MetadataValue::from_u64(seq));
        md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(seq));
        ledger.expected[seq] = Expectation{input};
        calls.emplace_back(JobId(job), std::move(body), std::move(md));
        ++seq;
    };
    for (std::uint64_t i = 1; i <= calls_per_job; ++i)
        for (const auto& [job, row] : ledger.rows) add_call(job, encode_u64(i * 10 + job), i * 10 + job);
    // Malformed calls: each delegated function answers with an error result.
    for (const auto& d : delegated) add_call(d.job.to_u64().value(), to_bytes("not a number"), std::nullopt);
    const auto total_calls = calls.size();

    Router router;
    router.route(0, square_locally);
    RunnerConfig runner_config;
    runner_config.log = spdlog_sink();
    auto builder = BlueprintRunner::builder(std::move(runner_config));
    builder.router(router)
        .producer(std::make_shared<TimedProducer>(std::move(calls), ledger))
        .consumer(std::make_shared<CheckingConsumer>(ledger));
    for (const auto& d : delegated) builder.with_faas_executor(d.job, d.executor);

    say("\n  results:\n");
    auto stats = builder.run();
    if (!stats) {
        std::cerr << "bpfaas demo: runner failed: " << stats.error().to_string() << "\n";
        return false;
    }

    std::printf("\n  %-4s %-44s %6s %4s %7s %9s %9s\n", "job", "ran on", "calls", "ok", "errors", "p50 ms", "max ms");
    for (auto& [job, row] : ledger.rows)
        std::printf("  %-4llu %-44s %6zu %4zu %7zu %9.2f %9.2f\n", (unsigned long long)job, row.where.c_str(),
                    row.calls, row.ok, row.errors, percentile(row.latencies_ms, 0.5),
                    percentile(row.latencies_ms, 1.0));
    std::printf("\n  %llu calls, %llu results (%llu errors, all delivered), %llu delegated; %zu unexpected\n",
                (unsigned long long)stats->calls_received, (unsigned long long)stats->results,
                (unsigned long long)stats->error_results, (unsigned long long)stats->calls_delegated,
                ledger.unexpected);
    std::fflush(stdout);
    return ledger.unexpected == 0 && stats->calls_received == total_calls && stats->results == total_calls &&
           stats->error_results == delegated.size();
}

// ---- --mode http: the function as a plain HTTP function server -----------------------

int run_http_demo(const std::string& function_path, std::size_t calls_per_job) {
    std::printf("blueprint-faas demo (mode: http)\n");
    std::printf("  starting function server: %s --port 0\n", function_path.c_str());
    std::fflush(stdout);
    platform::ProcessOptions options;
    options.argv = {function_path, "--port", "0"};
    options.unset_env = {"PORT", "AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT"};
    options.pipe_stderr = true;
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
    std::printf("  function server listening at %s\n", url.c_str());

    faas::FaasConfig config;
    config.timeout_secs = 10;
    faas::http::ClientOptions client;
    client.use_env_proxy = false;  // 127.0.0.1 must never go through a proxy
    auto http = std::make_shared<custom::HttpFaasExecutor>(
        custom::HttpFaasExecutor(url, client).with_default_config(config));
    bool ok = run_blueprint({{JobId(1), "HTTP function server " + url, http}}, calls_per_job);
    function->signal(SIGTERM);
    function->wait(std::chrono::seconds(5));
    return ok ? 0 : 1;
}

// ---- --mode platform: the local platform, both of its APIs ----------------------------

/// A fresh directory under the system temp dir, removed on destruction.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "bpfaas-demo-XXXXXX").string();
        if (::mkdtemp(pattern.data())) path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        if (!path.empty()) fs::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

std::optional<Bytes> read_binary(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

awaitable<void> pause(std::chrono::milliseconds d) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, d);
    co_await timer.async_wait(boost::asio::use_awaitable);
}

/// One call with the provider's metrics, so the cold start of the first
/// instance is reported by the platform itself rather than guessed.
awaitable<bool> warm_up(faas::FaasExecutor& executor, JobId job, std::string_view api) {
    auto out = co_await executor.invoke_with_metrics(JobCall(job, encode_u64(3)));
    if (!out) {
        std::printf("  warm-up of job %s failed: %s\n", job.to_string().c_str(), out.error().to_string().c_str());
        co_return false;
    }
    auto value = out->result.is_ok() ? decode_u64(out->result.body()) : std::nullopt;
    const auto& m = out->metrics;
    std::string cold = m.cold_start ? (*m.cold_start ? "yes" : "no") : "not reported";
    std::printf("  warm-up: job %s via the %s: square(3) = %s, cold start: %s, %.2f ms round trip\n",
                job.to_string().c_str(), std::string(api).c_str(),
                value ? std::to_string(*value).c_str() : ("error: " + out->result.error().message).c_str(),
                cold.c_str(), static_cast<double>(m.total_duration.count()) / 1000.0);
    std::fflush(stdout);
    co_return value == 9u;
}

struct Deployed {
    std::shared_ptr<custom::HttpFaasExecutor> platform_api;
    std::shared_ptr<aws::LambdaExecutor> lambda;
};

awaitable<std::optional<Deployed>> deploy_both(std::string url, Bytes binary, faas::FaasConfig config) {
    faas::http::ClientOptions client;
    client.use_env_proxy = false;  // 127.0.0.1 must never go through a proxy
    client.request_timeout = std::chrono::seconds(30);

    // Job 1: the custom platform API. deploy_job zips the raw binary as
    // `bootstrap` and PUTs it to /api/functions/1.
    auto custom_exec = std::make_shared<custom::HttpFaasExecutor>(custom::HttpFaasExecutor::platform(url, client));
    say("  deploying job 1 via the custom platform API (PUT %s)...\n", url + "/api/functions/1");
    auto d1 = co_await custom_exec->deploy_job(JobId(1), binary, config);
    if (!d1) {
        std::printf("  deploy of job 1 failed: %s\n", d1.error().to_string().c_str());
        co_return std::nullopt;
    }
    say("  waiting until job 1 is healthy...\n");
    bool healthy = false;
    for (int i = 0; i < 100 && !healthy; ++i) {
        auto h = co_await custom_exec->health_check(JobId(1));
        if (!h) {
            std::printf("  health of job 1: %s\n", h.error().to_string().c_str());
            co_return std::nullopt;
        }
        healthy = *h;
        if (!healthy) co_await pause(std::chrono::milliseconds(50));
    }
    if (!healthy) {
        std::printf("  job 1 did not become healthy\n");
        co_return std::nullopt;
    }
    say("  job 1 deployed as function \"%s\"\n", d1->function_id);

    // Job 2: the AWS Lambda API of the same platform, SigV4-signed with the
    // dummy key the platform was started with.
    aws::LambdaOptions lo;
    lo.region = "us-east-1";
    lo.endpoint_url = url;
    lo.role_arn = "arn:aws:iam::000000000000:role/bpfaas-demo";
    lo.function_prefix = "bpfaas-demo";
    lo.credentials = aws::StaticCredentials{"DEMOACCESSKEY", "demo-secret"};
    lo.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };  // ignore AWS_* of the shell
    lo.use_imds = false;
    lo.http = client;
    lo.default_config = config;
    lo.api_timeout = std::chrono::seconds(30);
    lo.deploy_wait = std::chrono::seconds(30);
    lo.poll_initial = std::chrono::milliseconds(50);
    lo.poll_max = std::chrono::milliseconds(500);
    lo.progress = [](std::string_view line) {
        std::printf("    lambda: %.*s\n", static_cast<int>(line.size()), line.data());
        std::fflush(stdout);
    };
    auto lambda = aws::LambdaExecutor::create(std::move(lo));
    if (!lambda) {
        std::printf("  Lambda executor: %s\n", lambda.error().to_string().c_str());
        co_return std::nullopt;
    }
    auto name = (*lambda)->function_name(JobId(2));
    say("  deploying job 2 via the Lambda API (CreateFunction %s)...\n", name ? *name : std::string("?"));
    say("  waiting until Active...\n");
    auto d2 = co_await (*lambda)->deploy_job(JobId(2), std::move(binary), config);
    if (!d2) {
        std::printf("  deploy of job 2 failed: %s\n", d2.error().to_string().c_str());
        co_return std::nullopt;
    }
    auto active = co_await (*lambda)->health_check(JobId(2));
    if (!active || !*active) {
        std::printf("  job 2 is not Active after its deploy\n");
        co_return std::nullopt;
    }
    say("  job 2 deployed as %s (State Active, LastUpdateStatus Successful)\n", d2->endpoint);

    if (!co_await warm_up(*custom_exec, JobId(1), "custom platform API")) co_return std::nullopt;
    if (!co_await warm_up(**lambda, JobId(2), "Lambda API")) co_return std::nullopt;
    co_return Deployed{std::move(custom_exec), std::move(*lambda)};
}

/// `name{function="fn"} value` from Prometheus text, or -1.
long long metric_value(const std::string& text, const std::string& name, const std::string& function) {
    const std::string key = name + "{function=\"" + function + "\"} ";
    auto at = text.find(key);
    if (at == std::string::npos) return -1;
    return std::atoll(text.c_str() + at + key.size());
}

awaitable<std::optional<std::string>> fetch_metrics(std::string url) {
    faas::http::ClientOptions client;
    client.use_env_proxy = false;
    faas::http::HttpClient http(client);
    faas::http::Request req;
    req.method = "GET";
    req.url = url + "/metrics";
    auto resp = co_await http.send(std::move(req));
    if (!resp || resp->status != 200) co_return std::nullopt;
    co_return std::move(resp->body);
}

int run_platform_demo(const std::string& function_path, std::size_t calls_per_job) {
    std::printf("blueprint-faas demo (mode: platform)\n");
    auto binary = read_binary(function_path);
    if (!binary || binary->empty()) {
        std::cerr << "bpfaas demo: cannot read " << function_path << "\n";
        return 1;
    }
    TempDir data;
    if (data.path.empty()) {
        std::cerr << "bpfaas demo: cannot create a temporary data directory\n";
        return 1;
    }
    // A peer that goes away mid-write is an error to handle, not a reason to die.
    std::signal(SIGPIPE, SIG_IGN);

    say("  starting local platform (in-process, 127.0.0.1 port 0, data dir %s)...\n", data.path.string());
    platform::LocalPlatformOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.data_dir = data.path;
    options.aws_credentials = "DEMOACCESSKEY:demo-secret";
    options.keep_alive = std::chrono::seconds(60);
    options.log = spdlog_sink();
    int code = 1;
    {
        platform::LocalPlatform local(std::move(options));
        auto port = local.start();
        if (!port) {
            std::cerr << "bpfaas demo: the local platform did not start: " << port.error().message << "\n";
            return 1;
        }
        const std::string url = "http://127.0.0.1:" + std::to_string(*port);
        say("  local platform listening at %s (Lambda API, SigV4 verified; custom platform API)\n", url);

        faas::FaasConfig config;
        config.memory_mb = 256;
        config.timeout_secs = 10;
        auto deployed = run_async(deploy_both(url, std::move(*binary), config));
        if (!deployed) {
            std::cerr << "bpfaas demo: deploying the example function failed (see above)\n";
            local.stop();
            return 1;
        }
        std::printf("  the runner's calls below may start more instances when they overlap; the platform's\n"
                    "  /metrics after the table counts every invocation and cold start\n");
        const bool ok = run_blueprint({{JobId(1), "custom platform API " + url, deployed->platform_api},
                                       {JobId(2), "Lambda API " + url, deployed->lambda}},
                                      calls_per_job);

        // The platform's own count: every call of the run plus the warm-up
        // must have run there, or the delegation did not really happen.
        const long long expected = static_cast<long long>(calls_per_job) + 2;  // + bad input + warm-up
        auto text = run_async(fetch_metrics(url));
        bool counted = text.has_value();
        std::printf("\n  the platform's /metrics (each function: %zu calls + 1 bad input + 1 warm-up = %lld expected):\n",
                    calls_per_job, expected);
        if (text) {
            for (const auto& fn : {std::string("1"), *deployed->lambda->function_name(JobId(2))}) {
                auto n = metric_value(*text, "bpfaas_invocations_total", fn);
                std::printf("    function %-20s invocations %lld, errors %lld, cold starts %lld\n", fn.c_str(), n,
                            metric_value(*text, "bpfaas_invocation_errors_total", fn),
                            metric_value(*text, "bpfaas_cold_starts_total", fn));
                counted = counted && n == expected;
            }
        } else {
            std::printf("    GET %s/metrics failed\n", url.c_str());
        }
        say("  stopping local platform and removing %s\n", data.path.string());
        local.stop();
        code = ok && counted ? 0 : 1;
    }
    return code;
}

}  // namespace

Action add_demo(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "demo", "Run the demo blueprint: job 0 locally, jobs 1 and 2 on the local platform (or --mode http)");
    auto function_path = std::make_shared<std::string>();
    auto calls = std::make_shared<std::size_t>(4);
    auto mode = std::make_shared<std::string>("platform");
    cmd->add_option("--mode", *mode,
                    "platform: start the local platform in-process and deploy through its custom and Lambda APIs; "
                    "http: run the function as a plain HTTP server")
        ->capture_default_str()
        ->check(CLI::IsMember({"platform", "http"}));
    cmd->add_option("--function", *function_path, "function binary for the delegated jobs (default: the built examples/square)");
    cmd->add_option("--calls", *calls, "calls per job")->capture_default_str()->check(CLI::Range(1, 100000));
    return [=] {
        std::string path = function_path->empty() ? default_function_path() : *function_path;
        if (path.empty() || !fs::exists(path)) {
            std::cerr << "bpfaas demo: the example function binary was not found; build the project first or pass "
                         "--function PATH\n";
            return 1;
        }
        return *mode == "http" ? run_http_demo(path, *calls) : run_platform_demo(path, *calls);
    };
}

}  // namespace bpfaas
