// blueprint::function::serve: picks the mode from the environment and the
// command line (ARCHITECTURE.md §5, function.hpp).
#include <blueprint/function.hpp>

#include "function/modes.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace blueprint::function {
namespace detail {

JobResult call_handler(const Handler& handler, JobCall call, const InvocationContext& context) noexcept {
    // The firewall (STYLE.md habit 6): a handler's throw is the job's failure,
    // never the server's. The reply says "HandlerException" whatever was thrown.
    try {
        return handler(std::move(call), context);
    } catch (const std::exception& e) {
        return JobResult::error(make_error_code(job_errc::handler_exception), e.what(), "HandlerException");
    } catch (...) {
        return JobResult::error(make_error_code(job_errc::handler_exception), "the handler threw a non-standard exception",
                                "HandlerException");
    }
}

}  // namespace detail

namespace {

std::optional<unsigned short> parse_port(std::string_view text) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty() || value > 65535) return std::nullopt;
    return static_cast<unsigned short>(value);
}

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return (v && *v) ? v : nullptr;
}

struct CommandLine {
    std::optional<std::string> port;
    std::optional<std::string> host;
};

// Only --port and --host are ours; anything else belongs to the program.
CommandLine parse_command_line(int argc, char** argv) {
    CommandLine cl;
    if (!argv) return cl;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i] ? argv[i] : "";
        for (auto [flag, slot] : {std::pair{std::string_view("--port"), &cl.port}, std::pair{std::string_view("--host"), &cl.host}}) {
            if (arg == flag && i + 1 < argc) {
                *slot = argv[++i];
                break;
            }
            if (arg.size() > flag.size() + 1 && arg.starts_with(flag) && arg[flag.size()] == '=') {
                *slot = std::string(arg.substr(flag.size() + 1));
                break;
            }
        }
    }
    return cl;
}

}  // namespace

int serve(Handler handler, int argc, char** argv, ServeOptions options) {
    try {
        if (!handler) {
            std::fprintf(stderr, "blueprint::function::serve: no handler given\n");
            return 2;
        }
        const CommandLine cl = parse_command_line(argc, argv);
        if (cl.host) options.host = *cl.host;

        if (const char* api = env("AWS_LAMBDA_RUNTIME_API")) return detail::run_lambda(handler, options, api);
        if (const char* port = env("FUNCTIONS_CUSTOMHANDLER_PORT")) return detail::run_azure(handler, options, port);

        // HTTP: ServeOptions::port wins, then --port, then PORT.
        std::optional<unsigned short> port = options.port;
        if (!port) {
            const char* source = cl.port ? "--port" : "PORT";
            const std::optional<std::string> text = cl.port ? cl.port : env("PORT") ? std::optional<std::string>(env("PORT")) : std::nullopt;
            if (text) {
                port = parse_port(*text);
                if (!port) {
                    std::fprintf(stderr, "blueprint::function::serve: %s must be a port number 0-65535, got '%s'\n", source,
                                 text->c_str());
                    return 2;
                }
            }
        }
        if (port) return detail::run_http(handler, options, *port, "http");

        return detail::run_stdio(handler, options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "blueprint::function::serve: %s\n", e.what());
        return 2;
    } catch (...) {
        std::fprintf(stderr, "blueprint::function::serve: unknown failure\n");
        return 2;
    }
}

int serve(std::function<JobResult(JobCall)> handler, int argc, char** argv, ServeOptions options) {
    if (!handler) return serve(Handler{}, argc, argv, std::move(options));
    return serve(Handler([h = std::move(handler)](JobCall call, const InvocationContext&) { return h(std::move(call)); }),
                 argc, argv, std::move(options));
}

}  // namespace blueprint::function
