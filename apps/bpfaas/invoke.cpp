// `bpfaas invoke`: run one job on a FaaS provider and print its result.
#include "cli.hpp"
#include "providers.hpp"

#include <blueprint/consumers.hpp>
#include <blueprint/faas/custom.hpp>

#include <fstream>
#include <iostream>
#include <iterator>

namespace bpfaas {
namespace {

using namespace blueprint;

std::optional<Bytes> parse_hex(std::string_view hex) {
    if (hex.starts_with("0x") || hex.starts_with("0X")) hex.remove_prefix(2);
    if (hex.size() % 2) return std::nullopt;
    Bytes out;
    out.reserve(hex.size() / 2);
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

struct InvokeArgs {
    std::string provider = "custom";
    std::string endpoint;
    bool platform = false;
    std::string job = "0";
    std::string args_hex;
    std::string args_file;
    std::string format = "json";
    std::uint32_t timeout_secs = 30;
    std::string bearer_env;
};

int run_invoke(const InvokeArgs& a) {
    auto job = JobId::parse(a.job);
    if (!job) {
        std::cerr << "bpfaas invoke: --job: '" << a.job << "' is not a job id (decimal, or hex with 0x)\n";
        return 2;
    }
    Bytes args;
    if (!a.args_file.empty()) {
        std::ifstream in(a.args_file, std::ios::binary);
        if (!in) {
            std::cerr << "bpfaas invoke: cannot read --args-file " << a.args_file << "\n";
            return 2;
        }
        args.assign(std::istreambuf_iterator<char>(in), {});
    } else if (!a.args_hex.empty()) {
        auto parsed = parse_hex(a.args_hex);
        if (!parsed) {
            std::cerr << "bpfaas invoke: --args-hex must be an even number of hex digits\n";
            return 2;
        }
        args = std::move(*parsed);
    }
    if (a.provider != "custom") {
        // Other providers live behind the registry (providers.hpp).
        const auto* provider = find_provider(a.provider);
        if (!provider) {
            std::cerr << "bpfaas invoke: provider '" << a.provider << "' is not available in this build\n";
            return 2;
        }
        VerbArgs v;
        v.verb = "invoke";
        v.job = *job;
        v.args = std::move(args);
        v.config.timeout_secs = a.timeout_secs;
        return provider->run(v);
    }
    if (a.endpoint.empty()) {
        std::cerr << "bpfaas invoke: --endpoint is required for --provider custom\n";
        return 2;
    }
    faas::FaasConfig config;
    config.timeout_secs = a.timeout_secs;
    auto executor = a.platform ? faas::custom::HttpFaasExecutor::platform(a.endpoint)
                               : faas::custom::HttpFaasExecutor(a.endpoint);
    executor.with_default_config(config).with_wire_format(a.format == "binary" ? faas::custom::WireFormat::binary
                                                                                : faas::custom::WireFormat::json);
    if (!a.bearer_env.empty()) {
        const char* token = std::getenv(a.bearer_env.c_str());
        if (!token) {
            std::cerr << "bpfaas invoke: environment variable " << a.bearer_env << " is not set\n";
            return 2;
        }
        executor.with_bearer_token(token);
    }
    auto result = run_async(executor.invoke(JobCall(*job, std::move(args))));
    if (!result) {
        std::cerr << "bpfaas invoke: " << result.error().to_string() << "\n";
        return 1;
    }
    result->set_job_id(*job);
    std::cout << job_result_to_json(*result) << "\n";
    return result->is_ok() ? 0 : 1;
}

}  // namespace

Action add_invoke(CLI::App& app) {
    auto* cmd = app.add_subcommand("invoke", "Invoke one job and print its result as a JSON line");
    auto a = std::make_shared<InvokeArgs>();
    auto names = provider_names();
    names.insert(names.begin(), "custom");
    cmd->add_option("--provider", a->provider, "custom, or a registered provider (providers.hpp)")
        ->capture_default_str()
        ->check(CLI::IsMember(names));
    cmd->add_option("--endpoint", a->endpoint, "base URL of the function (or of the platform with --platform); custom only");
    cmd->add_flag("--platform", a->platform, "speak the Blueprint custom FaaS platform API");
    cmd->add_option("--job", a->job, "job id: decimal, or hex with 0x")->required();
    auto* hex = cmd->add_option("--args-hex", a->args_hex, "job arguments as hex");
    cmd->add_option("--args-file", a->args_file, "file holding the job arguments")->excludes(hex);
    cmd->add_option("--format", a->format, "wire format")->capture_default_str()->check(CLI::IsMember({"json", "binary"}));
    cmd->add_option("--timeout", a->timeout_secs, "seconds before the call times out")->capture_default_str();
    cmd->add_option("--bearer-token-env", a->bearer_env, "name of an environment variable holding a bearer token");
    for (const auto& p : providers()) p.add_options(*cmd, "invoke");
    return [a] { return run_invoke(*a); };
}

}  // namespace bpfaas
