// SigV4 signing cost: a Lambda Invoke POST with a 1 KiB body (target: <= 5 us).
#include "../src/faas/aws/sigv4.hpp"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace sigv4 = blueprint::faas::aws::sigv4;

namespace {

blueprint::faas::aws::AwsCredentials creds() {
    blueprint::faas::aws::AwsCredentials c;
    c.access_key_id = "AKIDEXAMPLE";
    c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    c.session_token = "FwoGZXIvYXdzEJr//////////wEaDEXAMPLETOKEN";
    return c;
}

void BM_SignLambdaInvoke1KiB(benchmark::State& state) {
    const auto c = creds();
    const std::string body(static_cast<std::size_t>(state.range(0)), 'x');
    const std::vector<sigv4::Header> headers{{"Host", "lambda.us-east-1.amazonaws.com"},
                                             {"Content-Type", "application/json"},
                                             {"X-Amz-Invocation-Type", "RequestResponse"},
                                             {"X-Amz-Log-Type", "Tail"}};
    const sigv4::Request req{.method = "POST",
                             .target = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction"
                                       "%3Ablueprint-job-7/invocations",
                             .headers = headers,
                             .body = body};
    const sigv4::Context ctx{.region = "us-east-1", .service = "lambda", .time = std::chrono::system_clock::now()};
    for (auto _ : state) {
        auto s = sigv4::sign(req, c, ctx);
        benchmark::DoNotOptimize(s);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_SignLambdaInvoke1KiB)->Arg(1024)->Arg(64 * 1024);

void BM_DeriveSigningKey(benchmark::State& state) {
    for (auto _ : state) {
        auto k = sigv4::derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20240501", "us-east-1", "lambda");
        benchmark::DoNotOptimize(k);
    }
}
BENCHMARK(BM_DeriveSigningKey);

void BM_Sha256_1KiB(benchmark::State& state) {
    const std::string body(1024, 'x');
    for (auto _ : state) {
        auto h = sigv4::sha256_hex(body);
        benchmark::DoNotOptimize(h);
    }
}
BENCHMARK(BM_Sha256_1KiB);

}  // namespace

BENCHMARK_MAIN();
