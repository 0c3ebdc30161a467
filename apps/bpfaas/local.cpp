// bpfaas local: the local FaaS platform (Lambda API + custom platform API).
#include "cli.hpp"

#include <blueprint/platform.hpp>

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace bpfaas {

Action add_local(CLI::App& app) {
    struct Args {
        std::string host = "127.0.0.1";
        unsigned port = 9000;
        std::string data_dir = ".bpfaas";
        std::string api_key_env;
        std::string aws_credentials;
        unsigned keep_alive = 300;
        std::string region = "us-east-1";
        unsigned max_instances = 64;
        bool no_memory_limit = false;
    };
    auto args = std::make_shared<Args>();
    auto* sub = app.add_subcommand(
        "local", "Run the local FaaS platform: the AWS Lambda API and the Blueprint platform API on one port");
    sub->add_option("--host", args->host, "Address to bind (keep it on loopback)")->capture_default_str();
    sub->add_option("--port", args->port, "Port to bind; 0 picks a free one")->capture_default_str()->check(
        CLI::Range(0u, 65535u));
    sub->add_option("--data-dir", args->data_dir, "Where functions are stored")->capture_default_str();
    sub->add_option("--api-key-env", args->api_key_env,
                    "Name of an environment variable holding the custom API's bearer key");
    sub->add_option("--aws-credentials", args->aws_credentials,
                    "ACCESS_KEY_ID:SECRET; when set, Lambda API requests must be SigV4-signed with it");
    sub->add_option("--keep-alive", args->keep_alive, "Seconds an idle instance stays warm")->capture_default_str();
    sub->add_option("--region", args->region, "Region in ARNs and SigV4 scopes")->capture_default_str();
    sub->add_option("--max-instances", args->max_instances, "Instances across all functions")->capture_default_str()
        ->check(CLI::Range(1u, 4096u));
    sub->add_flag("--no-memory-limit", args->no_memory_limit,
                  "Do not apply MemorySize with setrlimit(RLIMIT_AS) to instances");

    return [args]() -> int {
        blueprint::platform::LocalPlatformOptions options;
        options.host = args->host;
        options.port = static_cast<unsigned short>(args->port);
        options.data_dir = args->data_dir;
        options.keep_alive = std::chrono::seconds(args->keep_alive);
        options.region = args->region;
        options.max_instances = args->max_instances;
        options.apply_memory_limit = !args->no_memory_limit;
        options.log = spdlog_sink();
        if (!args->api_key_env.empty()) {
            const char* key = std::getenv(args->api_key_env.c_str());
            if (!key || !*key) {
                std::cerr << "bpfaas local: --api-key-env " << args->api_key_env << ": the variable is not set\n";
                return 2;
            }
            options.api_key = key;
        }
        if (!args->aws_credentials.empty()) options.aws_credentials = args->aws_credentials;

        // A peer that goes away mid-write is an error to handle, not a reason to die.
        std::signal(SIGPIPE, SIG_IGN);
        blueprint::platform::LocalPlatform platform(std::move(options));
        auto port = platform.start();
        if (!port) {
            std::cerr << "bpfaas local: " << port.error().message << "\n";
            return 1;
        }
        // Tests and scripts read the bound port from this line.
        std::fprintf(stderr, "listening on %s:%u\n", args->host.c_str(), static_cast<unsigned>(*port));
        std::fflush(stderr);
        return platform.run_until_signalled();
    };
}

}  // namespace bpfaas
