// The provider registry behind the lifecycle verbs (deploy, invoke, health,
// warm, undeploy, list). Each verb is ONE subcommand taking --provider;
// every provider adds its own options to each verb (in an option group named
// after it) and runs the verb when chosen. So providers never register
// clashing subcommands: adding GCP or Azure is one entry in providers()
// (providers.cpp). `invoke --provider custom` stays in invoke.cpp.
#pragma once

#include "cli.hpp"

#include <blueprint/faas/config.hpp>
#include <blueprint/faas/executor.hpp>
#include <blueprint/job.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bpfaas {

/// What the generic part of a verb parsed.
struct VerbArgs {
    /// "deploy", "invoke", "health", "warm", "undeploy", "list".
    std::string verb;
    blueprint::JobId job;
    /// deploy: the function binary (or a zip from `bpfaas package`).
    std::string binary;
    /// warm: how many instances.
    std::size_t instances = 1;
    /// deploy: memory, timeout, env, max_concurrency, keep_warm; invoke: timeout.
    blueprint::faas::FaasConfig config;
    /// invoke: the job's arguments.
    blueprint::Bytes args;
};

struct ProviderCli {
    std::string name;
    /// Adds this provider's options to `cmd`, the subcommand of `verb`.
    std::function<void(CLI::App& cmd, std::string_view verb)> add_options;
    /// Runs `args.verb` and returns the exit code: 0 ok, 1 failure, 2 usage,
    /// 3 (health only) not healthy.
    std::function<int(const VerbArgs& args)> run;
};

/// String options a provider adds to each verb, in its own option group. An
/// option that another provider already added (e.g. --region) is shared,
/// never added twice. Only one verb is parsed per run.
class ProviderOptions {
public:
    void add(CLI::App& cmd, CLI::Option_group* group, std::string_view verb, const std::string& name,
             const std::string& help);
    /// The value given for `name` on `verb`'s command line, or empty.
    std::string value(std::string_view verb, const std::string& name) const;

private:
    std::map<std::string, std::map<std::string, CLI::Option*>, std::less<>> options_;
};

/// Every provider of the lifecycle verbs.
const std::vector<ProviderCli>& providers();
/// nullptr when `name` is not one of them.
const ProviderCli* find_provider(std::string_view name);
/// Their names, for CLI::IsMember.
std::vector<std::string> provider_names();

/// The AWS Lambda provider (aws.cpp).
ProviderCli aws_provider_cli();
/// The Azure Functions provider (azure.cpp).
ProviderCli azure_provider_cli();
/// The Google Cloud Functions provider (gcp.cpp).
ProviderCli gcp_provider_cli();

/// Prints "bpfaas VERB: <error>" to stderr (after closing any progress
/// line) and returns 1.
int fail_verb(const VerbArgs& v, const blueprint::faas::FaasError& e);

/// The function binary named on the command line, or the `bootstrap` inside
/// a zip from `bpfaas package`. nullopt after printing why not.
std::optional<blueprint::Bytes> read_function_binary(const VerbArgs& v);

/// Prints what was deployed as one JSON line on stdout; returns 0.
int print_deployment(const blueprint::faas::FaasDeployment& d);

/// invoke, health, warm and undeploy run the same on every provider's
/// executor: results on stdout, figures on stderr. Returns the exit code, or
/// nullopt when `v.verb` is not one of these.
std::optional<int> run_shared_verb(const VerbArgs& v, blueprint::faas::FaasExecutor& executor);

/// Writes deploy progress to stderr: plain lines when stderr is not a
/// terminal, one rewritten status line when it is.
void print_progress(std::string_view line);
/// Ends a run of print_progress lines (a newline on a terminal).
void end_progress();

}  // namespace bpfaas
