// The lifecycle verbs (deploy, health, warm, undeploy, list) over the
// provider registry; see providers.hpp.
#include "providers.hpp"

#include <cstdio>
#include <iostream>
#include <memory>

#include <unistd.h>

namespace bpfaas {

const std::vector<ProviderCli>& providers() {
    static const std::vector<ProviderCli> all{aws_provider_cli(), azure_provider_cli(), gcp_provider_cli()};
    return all;
}

const ProviderCli* find_provider(std::string_view name) {
    for (const auto& p : providers())
        if (p.name == name) return &p;
    return nullptr;
}

std::vector<std::string> provider_names() {
    std::vector<std::string> out;
    for (const auto& p : providers()) out.push_back(p.name);
    return out;
}

namespace {
bool progress_open = false;
}

void print_progress(std::string_view line) {
    static const bool tty = ::isatty(STDERR_FILENO) == 1;
    if (tty) {
        std::fprintf(stderr, "\r\033[K%.*s", static_cast<int>(line.size()), line.data());
        progress_open = true;
    } else {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    }
    std::fflush(stderr);
}

void end_progress() {
    if (progress_open) std::fputc('\n', stderr);
    progress_open = false;
}

namespace {

struct Raw {
    std::string provider;
    std::string job = "0";
    std::string binary;
    std::size_t instances = 1;
    std::uint32_t memory_mb = 512;
    std::uint32_t timeout_secs = 300;
    std::vector<std::string> env;
    std::uint32_t max_concurrency = 0;
    std::uint32_t keep_warm = 0;
};

Action add_verb(CLI::App& app, const std::string& verb, const std::string& help) {
    auto* cmd = app.add_subcommand(verb, help);
    auto raw = std::make_shared<Raw>();
    cmd->add_option("--provider", raw->provider, "FaaS provider")->required()->check(CLI::IsMember(provider_names()));
    if (verb != "list") cmd->add_option("--job", raw->job, "job id: decimal, or hex with 0x")->required();
    if (verb == "deploy") {
        cmd->add_option("binary", raw->binary, "function binary (blueprint::function::serve), or a zip from bpfaas package")
            ->required()
            ->check(CLI::ExistingFile);
        cmd->add_option("--memory", raw->memory_mb, "memory in MB")->capture_default_str();
        cmd->add_option("--timeout", raw->timeout_secs, "function timeout in seconds")->capture_default_str();
        cmd->add_option("--env", raw->env, "environment variable NAME=VALUE (repeatable)");
        cmd->add_option("--max-concurrency", raw->max_concurrency, "reserved concurrency (0: provider default)");
        cmd->add_option("--keep-warm", raw->keep_warm, "instances to warm after deploying");
    }
    if (verb == "warm")
        cmd->add_option("--instances", raw->instances, "instances to warm")->capture_default_str()->check(CLI::Range(1, 1000));
    for (const auto& p : providers()) p.add_options(*cmd, verb);

    return [raw, verb]() -> int {
        VerbArgs a;
        a.verb = verb;
        auto job = blueprint::JobId::parse(raw->job);
        if (!job) {
            std::cerr << "bpfaas " << verb << ": --job: '" << raw->job << "' is not a job id\n";
            return 2;
        }
        a.job = *job;
        a.binary = raw->binary;
        a.instances = raw->instances;
        a.config.memory_mb = raw->memory_mb;
        a.config.timeout_secs = raw->timeout_secs;
        a.config.keep_warm = raw->keep_warm;
        if (raw->max_concurrency) a.config.max_concurrency = raw->max_concurrency;
        for (const auto& kv : raw->env) {
            auto eq = kv.find('=');
            if (eq == std::string::npos || eq == 0) {
                std::cerr << "bpfaas " << verb << ": --env wants NAME=VALUE, got '" << kv.substr(0, 40) << "'\n";
                return 2;
            }
            a.config.env_vars[kv.substr(0, eq)] = kv.substr(eq + 1);
        }
        const auto* p = find_provider(raw->provider);
        if (!p) return 2;
        return p->run(a);
    };
}

}  // namespace

Action add_deploy(CLI::App& app) {
    return add_verb(app, "deploy", "Package a function binary, create or update the job's function, wait until it is ready");
}
Action add_health(CLI::App& app) {
    return add_verb(app, "health", "Whether the job's function is deployed and ready (exit 0 healthy, 3 not, 1 error)");
}
Action add_warm(CLI::App& app) { return add_verb(app, "warm", "Start and warm instances of the job's function"); }
Action add_undeploy(CLI::App& app) { return add_verb(app, "undeploy", "Delete the job's function (missing counts as done)"); }
Action add_list(CLI::App& app) { return add_verb(app, "list", "List the deployed job functions, one JSON line each"); }

}  // namespace bpfaas
