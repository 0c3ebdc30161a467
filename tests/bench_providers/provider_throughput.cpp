// provider_throughput: invocations per second through a provider's path
// against its local stand-in, beside the same fixture binary called
// directly over HTTP. A measurement, not a test: it asserts nothing about
// speed and fails only when calls fail or the stand-in cannot start.
//
//   provider_throughput azure [--calls 2000] [--concurrency 1,16] [--rounds 3]
//     AzureFunctionExecutor -> FakeAzure's site front -> AzureTestHost (the
//     Functions host stand-in) -> the custom handler `bootstrap`;
//     direct: custom::HttpFaasExecutor -> that same handler's port.
//   provider_throughput gcp [--calls 2000] [--concurrency 1,16] [--rounds 3]
//     CloudFunctionExecutor (ID token) -> FakeGcp's function URL front ->
//     the real Functions Framework (node) running the uploaded shim -> the
//     fixture as its bootstrap; needs scripts/setup-npm.sh.
//     direct: custom::HttpFaasExecutor -> test_function in HTTP mode.
//
// Prints one JSON line per concurrency level on stdout (the best of the
// rounds for each path, and provider / direct); progress on stderr.
#include "common/azure_test_host.hpp"
#include "common/fake_azure.hpp"
#include "common/fake_gcp.hpp"
#include "common/process.hpp"

#include <blueprint/faas/azure.hpp>
#include <blueprint/faas/custom.hpp>
#include <blueprint/faas/gcp.hpp>
#include <blueprint/faas/packaging.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
namespace fs = std::filesystem;
using namespace blueprint;
using namespace blueprint::faas;
using namespace std::chrono_literals;

struct Settings {
    std::string provider;
    int calls = 2000;
    std::vector<int> concurrency{1, 16};
    /// Each figure is the best of this many rounds, provider and direct
    /// alternating, so that a burst of load from elsewhere hits both alike.
    int rounds = 3;
};

/// A payload of the size the old gtest measurements used.
const Bytes payload = to_bytes("payload-01234567");

/// Runs `aw` to completion on a fresh io_context; rethrows its exception.
template <class T> T run(net::awaitable<T> aw) {
    net::io_context ioc;
    auto done = net::co_spawn(ioc, std::move(aw), net::use_future);
    ioc.run();
    return done.get();
}

struct Rate {
    double calls_per_s = 0;
    int failures = 0;
};

/// `calls` invocations of job 0 by `width` coroutines sharing one counter,
/// after an untimed warm-up that opens the connections.
Rate measure(FaasExecutor& executor, int calls, int width) {
    auto burst = [&](int n) {
        net::io_context ioc;
        int next = 0, failures = 0;
        auto worker = [&]() -> net::awaitable<void> {
            while (next++ < n) {
                auto r = co_await executor.invoke(JobCall(0, payload));
                if (!r || !r->is_ok()) ++failures;
            }
        };
        for (int w = 0; w < width; ++w) net::co_spawn(ioc, worker(), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
        const auto start = std::chrono::steady_clock::now();
        ioc.run();
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        return Rate{n / took.count(), failures};
    };
    burst(std::max(width, 20));
    return burst(calls);
}

int report(const Settings& settings, const std::string& provider_path, FaasExecutor& via_provider, FaasExecutor& direct) {
    int failures = 0;
    for (int width : settings.concurrency) {
        double best_p = 0, best_d = 0;
        int failed = 0;
        for (int round = 0; round < settings.rounds; ++round) {
            const Rate p = measure(via_provider, settings.calls, width);
            const Rate d = measure(direct, settings.calls, width);
            best_p = std::max(best_p, p.calls_per_s);
            best_d = std::max(best_d, d.calls_per_s);
            failed += p.failures + d.failures;
        }
        failures += failed;
        std::printf("{\"provider\":\"%s\",\"provider_path\":\"%s\",\"calls\":%d,\"concurrency\":%d,\"rounds\":%d,"
                    "\"provider_calls_per_s\":%.0f,\"direct_calls_per_s\":%.0f,\"ratio\":%.3f,\"failures\":%d}\n",
                    settings.provider.c_str(), provider_path.c_str(), settings.calls, width, settings.rounds, best_p, best_d,
                    best_p / best_d, failed);
        std::fflush(stdout);
    }
    return failures == 0 ? 0 : 1;
}

std::string fixture_path() { return test::build_path("tests/test_function"); }

Bytes fixture_binary() {
    auto b = packaging::read_binary(fixture_path(), 1ull << 30);
    if (!b) throw std::runtime_error("cannot read " + fixture_path() + ": " + b.error().to_string());
    return std::move(*b);
}

template <class T> void check(const std::expected<T, FaasError>& r, const char* what) {
    if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().to_string());
}

int bench_azure(const Settings& settings) {
    test::FakeAzure fake;
    azure::AzureOptions o;
    o.subscription_id = fake.options().subscription;
    o.resource_group = "rg-bench";
    o.app_name = "bp-app-bench";
    o.region = "westeurope";
    o.credential = azure::ClientSecretCredential{fake.options().tenant, fake.options().client_id, fake.options().client_secret};
    o.storage_connection_string = "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=bench";
    o.endpoints.authority = fake.authority();
    o.endpoints.arm = fake.arm();
    o.endpoints.scm_url_template = fake.scm_template();
    o.endpoints.site_url_template = fake.site_template();
    o.client.use_env_proxy = false;
    o.poll_initial = 5ms;
    o.poll_max = 20ms;
    auto exec = azure::AzureFunctionExecutor::create(o);
    check(exec, "AzureFunctionExecutor");
    std::fprintf(stderr, "deploying job 0 to the fake Azure\n");
    check(run(exec->deploy_job(0, fixture_binary(), {})), "deploy");

    // Direct: the same package run by a second host stand-in, its handler called on its own port.
    auto zip = packaging::package_azure(fixture_path(), std::vector<JobId>{0});
    if (!zip) throw std::runtime_error("package_azure: " + zip.error().to_string());
    auto host = test::AzureTestHost::from_zip(*zip, {});
    if (!host) throw std::runtime_error("AzureTestHost: " + host.error());
    custom::HttpFaasExecutor direct("http://127.0.0.1:1");
    direct.with_wire_format(custom::WireFormat::json);  // the provider path sends JSON too
    direct.with_job_endpoint(0, "http://127.0.0.1:" + std::to_string((*host)->handler_port()) + "/api/job0");
    return report(settings, "AzureFunctionExecutor -> fake site -> host stand-in -> custom handler", *exec, direct);
}

int bench_gcp(const Settings& settings) {
    if (auto missing = test::functions_framework_missing()) throw std::runtime_error(*missing);
    // The fake serves on its own thread; the measurements run on theirs.
    net::io_context fake_ioc;
    auto guard = net::make_work_guard(fake_ioc);
    std::optional<test::FakeGcp> fake(std::in_place, fake_ioc);
    std::thread fake_thread([&] { fake_ioc.run(); });
    auto stop_fake = [&] {
        net::post(fake_ioc, [&] { fake->stop(); });
        guard.reset();
        fake_thread.join();  // the posted stop ran before run() returned
    };

    int rc = 1;
    try {
        gcp::CloudFunctionOptions o;
        o.project = "test-project";  // the project the fake serves
        o.region = "us-central1";
        o.credentials.key_file = fake->key_file().string();
        o.credentials.allow_metadata_server = false;
        o.endpoints.api_base = fake->api_base();
        o.endpoints.token_uri = fake->token_uri();
        o.poll_initial = 20ms;
        o.poll_max = 200ms;
        auto exec = gcp::CloudFunctionExecutor::create(std::move(o));
        check(exec, "CloudFunctionExecutor");
        std::fprintf(stderr, "deploying job 0 to the fake Google Cloud (Functions Framework)\n");
        check(run(exec->deploy_job(0, fixture_binary(), {})), "deploy");
        check(run(exec->warm(0, 1)), "warm");

        // Direct: the fixture in HTTP mode on a port it picks and reports.
        test::ProcessOptions po;
        po.env = {{"PORT", "0"}, {"HOST", "127.0.0.1"}};
        po.unset_env = {"AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT"};
        po.pipe_stdin = po.pipe_stdout = false;
        auto fn = test::ChildProcess::spawn(fixture_path(), {}, po);
        auto line = fn.wait_for_stderr("listening on", 30s);
        auto port = line ? platform::parse_listening_port(*line) : std::nullopt;
        if (!port) throw std::runtime_error("test_function did not report its port: " + fn.stderr_seen());
        custom::HttpFaasExecutor direct("http://127.0.0.1:1");
        direct.with_wire_format(custom::WireFormat::json);  // the provider path sends JSON too
        direct.with_job_endpoint(0, "http://127.0.0.1:" + std::to_string(*port) + "/");
        rc = report(settings, "CloudFunctionExecutor -> fake function URL -> Functions Framework shim -> bootstrap", *exec,
                    direct);
    } catch (...) {
        stop_fake();
        throw;
    }
    stop_fake();
    return rc;
}

std::vector<int> parse_list(std::string_view text) {
    std::vector<int> out;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const auto item = text.substr(0, comma);
        int v = 0;
        auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
        if (ec != std::errc{} || end != item.data() + item.size() || v <= 0)
            throw std::invalid_argument("not a positive number: " + std::string(item));
        out.push_back(v);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    }
    if (out.empty()) throw std::invalid_argument("empty list");
    return out;
}

constexpr const char* usage = "usage: provider_throughput azure|gcp [--calls N] [--concurrency 1,16] [--rounds 3]\n";

}  // namespace

int main(int argc, char** argv) {
    Settings settings;
    try {
        if (argc < 2) throw std::invalid_argument("which provider?");
        settings.provider = argv[1];
        for (int i = 2; i < argc; ++i) {
            const std::string_view flag = argv[i];
            if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
            if (flag == "--calls") settings.calls = parse_list(argv[++i]).front();
            else if (flag == "--concurrency") settings.concurrency = parse_list(argv[++i]);
            else if (flag == "--rounds") settings.rounds = parse_list(argv[++i]).front();
            else throw std::invalid_argument("unknown option " + std::string(flag));
        }
        if (settings.provider != "azure" && settings.provider != "gcp") throw std::invalid_argument("unknown provider");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n%s", e.what(), usage);
        return 2;
    }
    try {
        return settings.provider == "azure" ? bench_azure(settings) : bench_gcp(settings);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "provider_throughput %s: %s\n", settings.provider.c_str(), e.what());
        return 1;
    }
}
