// Wire-format cost, pure CPU (docs/performance.md, docs/wire-format.md):
// Blueprint JSON against the binary framing, for 64 B, 4 KiB and 1 MiB of
// args / result. Each benchmark does what one side of one invocation does:
//
//   request encode  executor: JobCall -> body (+ headers for binary)
//   request decode  function: body (+ headers) -> JobCall
//   reply encode    function: JobResult -> body (+ headers)
//   reply decode    executor: body (+ headers) -> JobResult
//
// The binary side includes the one copy of the payload that the executor and
// the runtime make (into the request string, out of the response string), and
// the header work: the job id as text and back, and, in the *Metadata cases,
// base64 of the metadata JSON. Bytes/s is payload bytes, not wire bytes.
#include <blueprint/faas/wire.hpp>

#include <benchmark/benchmark.h>

#include <random>
#include <string>

namespace wire = blueprint::faas::wire;
using blueprint::Bytes;
using blueprint::JobCall;
using blueprint::JobId;
using blueprint::JobResult;
using blueprint::Metadata;
using blueprint::MetadataValue;

namespace {

Bytes random_bytes(std::size_t n) {
    Bytes out(n);
    std::mt19937 rng(42);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    return out;
}

Metadata sample_metadata() {
    Metadata m;
    m.insert("call_id", MetadataValue::from_u64(123456789));
    m.insert("trace", MetadataValue(std::string_view("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")));
    m.insert("token", MetadataValue(std::string_view("s3cr3t"), true));
    return m;
}

void set_bytes(benchmark::State& state) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// A binary request as the executor builds it: headers plus the body copy.
struct BinaryRequest {
    std::string job_id;
    std::string metadata;
    std::string body;
};

BinaryRequest encode_binary_request(const JobCall& call) {
    BinaryRequest out;
    out.job_id = call.job_id().to_string();
    if (!call.metadata().empty()) out.metadata = wire::base64_encode(wire::encode_metadata_json(call.metadata()));
    out.body.assign(call.body().begin(), call.body().end());
    return out;
}

JobCall decode_binary_request(const BinaryRequest& req) {
    auto id = JobId::parse(req.job_id);
    Metadata metadata;
    if (!req.metadata.empty()) {
        auto json = wire::base64_decode(req.metadata);
        if (json) {
            if (auto md = wire::decode_metadata_json(*json)) metadata = std::move(*md);
        }
    }
    return JobCall(id.value_or(JobId{}), Bytes(req.body.begin(), req.body.end()), std::move(metadata));
}

// ---- requests ---------------------------------------------------------------

void BM_RequestEncode_Json(benchmark::State& state) {
    const JobCall call(JobId(7), random_bytes(static_cast<std::size_t>(state.range(0))));
    for (auto _ : state) {
        auto body = wire::encode_request_json(call);
        benchmark::DoNotOptimize(body);
    }
    set_bytes(state);
}

void BM_RequestEncode_Binary(benchmark::State& state) {
    const JobCall call(JobId(7), random_bytes(static_cast<std::size_t>(state.range(0))));
    for (auto _ : state) {
        auto req = encode_binary_request(call);
        benchmark::DoNotOptimize(req);
    }
    set_bytes(state);
}

void BM_RequestDecode_Json(benchmark::State& state) {
    const auto body = wire::encode_request_json(JobCall(JobId(7), random_bytes(static_cast<std::size_t>(state.range(0)))));
    for (auto _ : state) {
        auto req = wire::decode_request_json(body);
        if (!req) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(req);
    }
    set_bytes(state);
}

void BM_RequestDecode_Binary(benchmark::State& state) {
    const auto req = encode_binary_request(JobCall(JobId(7), random_bytes(static_cast<std::size_t>(state.range(0)))));
    for (auto _ : state) {
        auto call = decode_binary_request(req);
        benchmark::DoNotOptimize(call);
    }
    set_bytes(state);
}

// ---- replies ----------------------------------------------------------------

void BM_ReplyEncode_Json(benchmark::State& state) {
    const auto result = JobResult::ok(random_bytes(static_cast<std::size_t>(state.range(0))));
    for (auto _ : state) {
        auto body = wire::encode_reply_json(wire::job_result_to_reply(result));
        benchmark::DoNotOptimize(body);
    }
    set_bytes(state);
}

void BM_ReplyEncode_Binary(benchmark::State& state) {
    const auto result = JobResult::ok(random_bytes(static_cast<std::size_t>(state.range(0))));
    for (auto _ : state) {
        // As the runtime does: X-Blueprint-Status: ok and the body copy.
        std::string status = "ok";
        std::string body(result.body().begin(), result.body().end());
        benchmark::DoNotOptimize(status);
        benchmark::DoNotOptimize(body);
    }
    set_bytes(state);
}

void BM_ReplyDecode_Json(benchmark::State& state) {
    wire::Reply reply;
    reply.result = random_bytes(static_cast<std::size_t>(state.range(0)));
    const auto body = wire::encode_reply_json(reply);
    for (auto _ : state) {
        auto r = wire::decode_reply_json(body);
        if (!r) state.SkipWithError("decode failed");
        auto result = wire::reply_to_job_result(std::move(*r));
        benchmark::DoNotOptimize(result);
    }
    set_bytes(state);
}

void BM_ReplyDecode_Binary(benchmark::State& state) {
    const auto raw = random_bytes(static_cast<std::size_t>(state.range(0)));
    const std::string body(raw.begin(), raw.end());
    const std::string status = "ok";
    for (auto _ : state) {
        // As the executor does: check the status header, copy the body out.
        wire::Reply r;
        if (status != "ok") state.SkipWithError("bad status");
        r.result.assign(body.begin(), body.end());
        auto result = wire::reply_to_job_result(std::move(r));
        benchmark::DoNotOptimize(result);
    }
    set_bytes(state);
}

// ---- with metadata (3 entries, one sensitive) -------------------------------

void BM_RequestRoundTripMetadata_Json(benchmark::State& state) {
    const JobCall call(JobId(7), random_bytes(static_cast<std::size_t>(state.range(0))), sample_metadata());
    for (auto _ : state) {
        auto body = wire::encode_request_json(call);
        auto req = wire::decode_request_json(body);
        if (!req || req->metadata.size() != 3) state.SkipWithError("round trip failed");
        benchmark::DoNotOptimize(req);
    }
    set_bytes(state);
}

void BM_RequestRoundTripMetadata_Binary(benchmark::State& state) {
    const JobCall call(JobId(7), random_bytes(static_cast<std::size_t>(state.range(0))), sample_metadata());
    for (auto _ : state) {
        auto req = encode_binary_request(call);
        auto back = decode_binary_request(req);
        if (back.metadata().size() != 3) state.SkipWithError("round trip failed");
        benchmark::DoNotOptimize(back);
    }
    set_bytes(state);
}

}  // namespace

#define WIRE_SIZES Arg(64)->Arg(4096)->Arg(1 << 20)
BENCHMARK(BM_RequestEncode_Json)->WIRE_SIZES;
BENCHMARK(BM_RequestEncode_Binary)->WIRE_SIZES;
BENCHMARK(BM_RequestDecode_Json)->WIRE_SIZES;
BENCHMARK(BM_RequestDecode_Binary)->WIRE_SIZES;
BENCHMARK(BM_ReplyEncode_Json)->WIRE_SIZES;
BENCHMARK(BM_ReplyEncode_Binary)->WIRE_SIZES;
BENCHMARK(BM_ReplyDecode_Json)->WIRE_SIZES;
BENCHMARK(BM_ReplyDecode_Binary)->WIRE_SIZES;
BENCHMARK(BM_RequestRoundTripMetadata_Json)->Arg(64);
BENCHMARK(BM_RequestRoundTripMetadata_Binary)->Arg(64);

BENCHMARK_MAIN();
