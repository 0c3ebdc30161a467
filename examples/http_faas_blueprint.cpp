// A blueprint with mixed local and HTTP-delegated jobs, like the Rust
// original's example of the same name.
//
//   job 0: echo, runs locally through the router
//   job 1: square, delegated to an HTTP function at {url}/job/1
//   job 2: square, delegated to an explicit endpoint ({url}/api/functions/2/invoke)
//
// Start a function server, then run the blueprint against it:
//
//   build/examples/square --port 8080 &
//   build/examples/http_faas_blueprint http://127.0.0.1:8080
//
// Every result is printed as one JSON line on stdout.
#include <blueprint/faas/custom.hpp>
#include <blueprint/runner.hpp>

#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    using namespace blueprint;
    const std::string url = argc > 1 ? argv[1] : "http://127.0.0.1:8080";

    Router router;
    router.route(0, [](JobCall call) { return JobResult::ok(call.body()); });

    faas::FaasConfig config;
    config.timeout_secs = 30;  // the deadline of every delegated call
    auto http = faas::custom::HttpFaasExecutor(url)
                    .with_default_config(config)
                    .with_job_endpoint(2, url + "/api/functions/2/invoke");

    std::vector<JobCall> calls;
    for (std::uint64_t n = 1; n <= 3; ++n) {
        Metadata metadata;
        metadata.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(n));
        calls.emplace_back(JobId(0), to_bytes("hello " + std::to_string(n)), metadata);
        calls.emplace_back(JobId(1), MetadataValue::from_u64(n).bytes(), metadata);
        calls.emplace_back(JobId(2), MetadataValue::from_u64(n * 100).bytes(), metadata);
    }

    auto stats = BlueprintRunner::builder()
                     .router(router)
                     .producer(VectorProducer(std::move(calls)))
                     .consumer(std::make_shared<JsonLinesConsumer>("-"))
                     .with_faas_executor(1, http)
                     .with_faas_executor(2, http)
                     .run();
    if (!stats) {
        std::cerr << "http_faas_blueprint: " << stats.error().to_string() << "\n";
        return 1;
    }
    std::fprintf(stderr, "%llu calls, %llu results, %llu errors, %llu delegated\n",
                 static_cast<unsigned long long>(stats->calls_received), static_cast<unsigned long long>(stats->results),
                 static_cast<unsigned long long>(stats->error_results),
                 static_cast<unsigned long long>(stats->calls_delegated));
    return stats->error_results == 0 ? 0 : 1;
}
