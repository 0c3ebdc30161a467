// An outside project built against the installed blueprint_faas package.
// Job 0 runs locally; job 1 is delegated to an HTTP function that is not
// there, which must come back as an infrastructure error result.
#include <blueprint/faas/custom.hpp>
#include <blueprint/runner.hpp>

#include <iostream>

int main() {
    using namespace blueprint;
    Router router;
    router.route(0, [](JobCall call) { return JobResult::ok(call.body()); });

    faas::FaasConfig config;
    config.timeout_secs = 5;
    auto consumer = std::make_shared<CollectingConsumer>();
    auto stats = BlueprintRunner::builder(RunnerConfig{.handle_signals = false})
                     .router(router)
                     .producer(VectorProducer({JobCall(0, to_bytes("hello")), JobCall(1, to_bytes("x"))}))
                     .consumer(consumer)
                     // Port 1 on loopback: nothing listens there.
                     .with_faas_executor(1, faas::custom::HttpFaasExecutor("http://127.0.0.1:1").with_default_config(config))
                     .run();
    if (!stats) {
        std::cerr << "run failed: " << stats.error().to_string() << "\n";
        return 1;
    }
    bool local_ok = false, delegated_failed = false;
    for (const auto& r : consumer->results()) {
        if (r.job_id() == JobId(0) && r.is_ok() && to_string(r.body()) == "hello") local_ok = true;
        if (r.job_id() == JobId(1) && r.is_error() && r.error().code == faas::faas_errc::infrastructure) delegated_failed = true;
    }
    std::cout << "local ok: " << local_ok << ", delegated error: " << delegated_failed << "\n";
    return local_ok && delegated_failed ? 0 : 1;
}
