// The lifecycle verbs (deploy, health, warm, undeploy, list) over the
// provider registry; see providers.hpp.
#include "providers.hpp"

#include <iterator>
#include <fstream>
#include <boost/json.hpp>
#include <blueprint/faas/packaging.hpp>
#include <blueprint/consumers.hpp>
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

void ProviderOptions::add(CLI::App& cmd, CLI::Option_group* group, std::string_view verb, const std::string& name,
                          const std::string& help) {
    CLI::Option* existing = cmd.get_option_no_throw(name);
    options_[std::string(verb)][name] = existing ? existing : group->add_option(name, help);
}

std::string ProviderOptions::value(std::string_view verb, const std::string& name) const {
    auto per_verb = options_.find(verb);
    if (per_verb == options_.end()) return {};
    auto it = per_verb->second.find(name);
    if (it == per_verb->second.end() || !it->second || it->second->count() == 0) return {};
    return it->second->as<std::string>();
}

int fail_verb(const VerbArgs& v, const blueprint::faas::FaasError& e) {
    end_progress();
    std::cerr << "bpfaas " << v.verb << ": " << e.to_string() << "\n";
    return 1;
}

std::optional<blueprint::Bytes> read_function_binary(const VerbArgs& v) {
    std::ifstream in(v.binary, std::ios::binary);
    if (!in) {
        std::cerr << "bpfaas " << v.verb << ": cannot read " << v.binary << "\n";
        return std::nullopt;
    }
    blueprint::Bytes bytes(std::istreambuf_iterator<char>(in), {});
    if (bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4) {
        auto entries = blueprint::faas::packaging::read_zip_entries(bytes);
        if (!entries) {
            std::cerr << "bpfaas " << v.verb << ": " << v.binary << ": " << entries.error().to_string() << "\n";
            return std::nullopt;
        }
        for (auto& e : *entries)
            if (e.name == "bootstrap") return std::move(e.bytes);
        std::cerr << "bpfaas " << v.verb << ": " << v.binary << " is a zip without a bootstrap\n";
        return std::nullopt;
    }
    return bytes;
}

int print_deployment(const blueprint::faas::FaasDeployment& d) {
    end_progress();
    boost::json::object o;
    o["function_id"] = d.function_id;
    o["job_id"] = d.job_id.to_string();
    o["endpoint"] = d.endpoint;
    o["memory_mb"] = d.memory_mb;
    o["timeout_secs"] = d.timeout_secs;
    std::cout << boost::json::serialize(o) << "\n";
    return 0;
}

std::optional<int> run_shared_verb(const VerbArgs& v, blueprint::faas::FaasExecutor& ex) {
    using blueprint::JobCall;
    if (v.verb == "invoke") {
        auto out = run_async(ex.invoke_with_metrics(JobCall(v.job, v.args)));
        if (!out) return fail_verb(v, out.error());
        out->result.set_job_id(v.job);
        std::cout << blueprint::job_result_to_json(out->result) << "\n";
        // Only what the provider reported: absent figures are not printed.
        const auto& m = out->metrics;
        std::string line = "total " + std::to_string(m.total_duration.count() / 1000) + " ms";
        if (m.execution_duration) line += ", execution " + std::to_string(m.execution_duration->count() / 1000.0) + " ms";
        if (m.billed_duration) line += ", billed " + std::to_string(m.billed_duration->count() / 1000) + " ms";
        if (m.memory_used_mb) line += ", memory " + std::to_string(*m.memory_used_mb) + " MB";
        if (m.cold_start) line += *m.cold_start ? ", cold start" : ", warm";
        std::cerr << line << "\n";
        return out->result.is_ok() ? 0 : 1;
    }
    if (v.verb == "health") {
        auto h = run_async(ex.health_check(v.job));
        if (!h) return fail_verb(v, h.error());
        std::cout << (*h ? "healthy" : "not healthy") << "\n";
        return *h ? 0 : 3;
    }
    if (v.verb == "warm") {
        auto w = run_async(ex.warm(v.job, v.instances));
        if (!w) return fail_verb(v, w.error());
        std::cerr << "warmed " << v.instances << " instance(s)\n";
        return 0;
    }
    if (v.verb == "undeploy") {
        auto u = run_async(ex.undeploy_job(v.job));
        if (!u) return fail_verb(v, u.error());
        end_progress();
        std::cerr << "undeployed job " << v.job.to_string() << "\n";
        return 0;
    }
    return std::nullopt;
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
