// Example function: squares a number. Runs unchanged as a Lambda bootstrap,
// an HTTP server (PORT or --port), an Azure custom handler, or on stdin/stdout.
//
// Input: the args are a big-endian unsigned integer of 1-8 bytes (a u64, as
// the Blueprint SDK encodes numbers). Output: its square as 8 bytes
// big-endian. Bad input or a square beyond u64 is an error result that says
// what was wrong.
//
//   $ printf '{"job_id":0,"args":[0,0,0,0,0,0,0,7]}' | ./square
//   {"result":[0,0,0,0,0,0,0,49]}
#include <blueprint/function.hpp>

#include <string>

namespace {

blueprint::JobResult invalid(std::string message, std::string type) {
    return blueprint::JobResult::error(blueprint::make_error_code(blueprint::job_errc::handler_failed),
                                       std::move(message), std::move(type));
}

blueprint::JobResult square(blueprint::JobCall call) {
    const auto& args = call.body();
    if (args.empty() || args.size() > 8)
        return invalid("square: expected a big-endian u64 of 1-8 bytes, got " + std::to_string(args.size()) + " bytes",
                       "InvalidInput");
    std::uint64_t value = 0;
    for (auto b : args) value = (value << 8) | b;
    // 2^32 - 1 is the largest value whose square fits in a u64.
    if (value > 0xFFFFFFFFULL)
        return invalid("square: " + std::to_string(value) + " squared overflows u64", "Overflow");
    const std::uint64_t squared = value * value;
    blueprint::Bytes out(8);
    for (int i = 0; i < 8; ++i) out[7 - i] = static_cast<std::uint8_t>(squared >> (8 * i));
    return blueprint::JobResult::ok(std::move(out));
}

}  // namespace

int main(int argc, char** argv) {
    return blueprint::function::serve(std::function<blueprint::JobResult(blueprint::JobCall)>(square), argc, argv);
}
