// stdin/stdout mode: the custom platform API's execution model (§10): the
// platform spawns the binary, writes one Blueprint JSON request to stdin and
// reads one reply from stdout.
#include "function/modes.hpp"

#include <blueprint/faas/wire.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <unistd.h>

namespace blueprint::function::detail {
namespace wire = blueprint::faas::wire;

namespace {

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Reads stdin to EOF, at most `limit` bytes; nullopt when there was more.
std::optional<std::string> read_stdin(std::size_t limit, std::string& error) {
    std::string data;
    char buf[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0) return data;
        if (n < 0) {
            if (errno == EINTR) continue;
            error = std::string("cannot read stdin: ") + std::strerror(errno);
            return std::nullopt;
        }
        if (data.size() + static_cast<std::size_t>(n) > limit) {
            error = "the request on stdin is larger than the limit of " + std::to_string(limit) + " bytes";
            return std::nullopt;
        }
        data.append(buf, static_cast<std::size_t>(n));
    }
}

int bad_input(std::string_view message) {
    std::fprintf(stderr, "blueprint::function (stdio): %.*s\n", static_cast<int>(message.size()), message.data());
    wire::Reply reply;
    reply.success = false;
    reply.error = std::string(message);
    reply.error_type = "BadRequest";
    write_all(STDOUT_FILENO, wire::encode_reply_json(reply) + "\n");
    return 2;
}

}  // namespace

int run_stdio(const Handler& handler, const ServeOptions& options) {
    std::string error;
    auto input = read_stdin(options.max_body_bytes, error);
    if (!input) return bad_input(error);

    auto request = wire::decode_request_json(*input);
    if (!request) return bad_input(request.error().message);

    if (request->warmup) {
        write_all(STDOUT_FILENO, "{\"warmed\":true,\"result\":[]}\n");
        return 0;
    }

    InvocationContext context;
    context.mode = "stdio";
    const JobResult result =
        call_handler(handler, JobCall(request->job_id, std::move(request->args), std::move(request->metadata)), context);
    const wire::Reply reply = wire::job_result_to_reply(result);
    if (!write_all(STDOUT_FILENO, wire::encode_reply_json(reply) + "\n")) {
        std::fprintf(stderr, "blueprint::function (stdio): cannot write the reply: %s\n", std::strerror(errno));
        return 2;
    }
    return reply.success ? 0 : 1;
}

}  // namespace blueprint::function::detail
